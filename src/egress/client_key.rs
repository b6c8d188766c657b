//! The bottle key: a per-bottle secret the sidecars require of their
//! clients when the plan sets one (on smolmachines, whose sidecars keep an
//! address on the host, so that no other process on the host can use them).
//!
//! The agent presents it as a credential: `Proxy-Authorization` to egress
//! (the user info of its proxy URL), `Authorization` to supervise and the
//! git gate, as `Basic` (any user name, the key as password) or `Bearer`.
//! It is compared in constant time, never logged, and read from a file
//! (the sidecar's state folder), never from a command line.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use http::HeaderValue;

use crate::contract::auth;

/// Random bytes in a key; it is written as twice as many hex digits.
const KEY_BYTES: usize = 32;

/// The user name put in URLs that carry the key (any name is accepted).
pub(crate) const KEY_USER: &str = "bottle";

/// The variable that holds the key in the agent's environment.
pub(crate) const KEY_ENV: &str = "BOT_BOTTLE_KEY";

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error(
        "cannot read the bottle key {path}: {source}; the bottle's state is incomplete, start it again"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a bottle key ({KEY_BYTES} random bytes in hex); the bottle's state is damaged, start it again"
    )]
    Malformed { path: PathBuf },
}

/// A key a sidecar requires. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey(String);

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(..)")
    }
}

impl ClientKey {
    /// A fresh key.
    pub fn generate() -> ClientKey {
        let bytes: [u8; KEY_BYTES] = rand::random();
        ClientKey(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key in `path` (surrounding whitespace ignored).
    pub(crate) fn read(path: &Path) -> Result<ClientKey, KeyError> {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(4 * KEY_BYTES as u64).read_to_string(&mut text))
            .map_err(|source| KeyError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        ClientKey::parse(text.trim()).ok_or_else(|| KeyError::Malformed {
            path: path.to_path_buf(),
        })
    }

    fn parse(text: &str) -> Option<ClientKey> {
        let ok = text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| ClientKey(text.to_ascii_lowercase()))
    }

    /// The key's text, for the files that hand it to the agent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` or `Proxy-Authorization` value carries
    /// the key: `Bearer KEY`, or `Basic` of `USER:KEY`.
    pub(crate) fn accepts(&self, value: Option<&HeaderValue>) -> bool {
        let Some(value) = value.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case(auth::BEARER) {
            return same(rest.as_bytes(), self.0.as_bytes());
        }
        if scheme.eq_ignore_ascii_case(auth::BASIC) {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            let password = match decoded.iter().position(|b| *b == b':') {
                Some(i) => &decoded[i + 1..],
                None => return false,
            };
            return same(password, self.0.as_bytes());
        }
        false
    }
}

/// Equal, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ClientKey {
        ClientKey::parse(&"ab".repeat(KEY_BYTES)).unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn what_carries_the_key() {
        let k = "ab".repeat(KEY_BYTES);
        let cases: Vec<(String, bool)> = vec![
            (format!("Bearer {k}"), true),
            (format!("bearer  {k} "), true),
            (basic(&format!("bottle:{k}")), true),
            (basic(&format!(":{k}")), true),
            (basic(&format!("anyone:{k}")), true),
            (format!("Bearer {}", k.to_uppercase()), false),
            (format!("Bearer {}", &k[1..]), false),
            (format!("Bearer {k}0"), false),
            (basic(&k), false),
            (basic(&format!("{k}:x")), false),
            (format!("Token {k}"), false),
            ("Basic !!!".into(), false),
            (k.clone(), false),
            (String::new(), false),
        ];
        for (value, want) in cases {
            let header = HeaderValue::from_str(&value).unwrap();
            assert_eq!(key().accepts(Some(&header)), want, "{value:?}");
        }
        assert!(!key().accepts(None));
    }

    #[test]
    fn keys_are_fresh_hex_and_never_shown() {
        let (a, b) = (ClientKey::generate(), ClientKey::generate());
        assert_ne!(a, b);
        assert!(ClientKey::parse(a.expose()).is_some());
        assert_eq!(format!("{a:?}"), "ClientKey(..)");
    }

    #[test]
    fn reading_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-key");
        std::fs::write(&path, format!("{}\n", key().expose())).unwrap();
        assert_eq!(ClientKey::read(&path).unwrap(), key());
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(
            ClientKey::read(&path),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            ClientKey::read(&dir.path().join("none")),
            Err(KeyError::Read { .. })
        ));
    }
}
