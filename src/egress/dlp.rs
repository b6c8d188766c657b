//! DLP: secrets that must not leave the bottle, found in URLs, headers and
//! bodies before anything goes upstream.
//!
//! Two kinds of secret: well-known token shapes (API keys of the big
//! providers, private key blocks, JWTs), matched by one regex set; and the
//! bottle's own injected tokens, matched literally in every encoding an
//! agent could use to smuggle them: raw, base64 (both alphabets, at any
//! byte offset), hex and percent-encoding. A body too large to buffer is
//! scanned as it streams, with a window that carries a match across
//! chunks.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use regex::bytes::RegexSet;

use super::policy::percent_decode;

/// What was found; never the secret itself, so it can be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The pattern's name, or "injected-secret".
    pub kind: &'static str,
    /// How it was written: "raw", "base64", "hex" or "url".
    pub encoding: &'static str,
}

/// Known token shapes, most specific first: the first that matches names
/// the finding.
const PATTERNS: &[(&str, &str)] = &[
    ("anthropic-api-key", r"\bsk-ant-[A-Za-z0-9_\-]{32,}"),
    (
        "openai-api-key",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}",
    ),
    (
        "github-token",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b",
    ),
    ("github-token", r"\bgithub_pat_[A-Za-z0-9_]{60,}"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("slack-token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("slack-token", r"\bxapp-[0-9]-[A-Za-z0-9\-]{10,}"),
    ("aws-access-key-id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("private-key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    ),
];

/// Secrets shorter than this are not looked for: too many false hits.
const MIN_SECRET: usize = 8;
/// Bytes of a stream kept to find a match that spans chunks.
const WINDOW: usize = 8 * 1024;

pub struct Scanner {
    patterns: RegexSet,
    /// Encodings whose letters must match exactly (raw, base64).
    exact: Option<(AhoCorasick, Vec<&'static str>)>,
    /// Encodings made of hex digits, in either case (hex, percent).
    caseless: Option<(AhoCorasick, Vec<&'static str>)>,
}

impl Scanner {
    pub fn new(secrets: &[String]) -> Scanner {
        let mut exact: Vec<(Vec<u8>, &'static str)> = Vec::new();
        let mut caseless: Vec<(Vec<u8>, &'static str)> = Vec::new();
        for secret in secrets
            .iter()
            .map(String::as_bytes)
            .filter(|s| s.len() >= MIN_SECRET)
        {
            exact.push((secret.to_vec(), "raw"));
            for form in base64_forms(secret) {
                exact.push((form.into_bytes(), "base64"));
            }
            caseless.push((hex(secret).into_bytes(), "hex"));
            caseless.push((percent_all(secret).into_bytes(), "url"));
            caseless.push((percent_reserved(secret).into_bytes(), "url"));
        }
        Scanner {
            // The patterns are constants; a failure to build them is caught
            // by the tests, and would only disable pattern matching.
            patterns: RegexSet::new(PATTERNS.iter().map(|(_, p)| *p))
                .unwrap_or_else(|_| RegexSet::empty()),
            exact: automaton(exact, false),
            caseless: automaton(caseless, true),
        }
    }

    /// Scans one whole value: a header, a buffered body.
    pub fn scan(&self, haystack: &[u8]) -> Option<Finding> {
        if let Some(i) = self.patterns.matches(haystack).iter().next() {
            return Some(Finding {
                kind: PATTERNS[i].0,
                encoding: "raw",
            });
        }
        self.scan_own(haystack)
    }

    /// Looks for the bottle's own secrets only (not the known token
    /// shapes): what an upstream's response must never hand back.
    pub fn scan_own(&self, haystack: &[u8]) -> Option<Finding> {
        for (ac, encodings) in [&self.exact, &self.caseless].into_iter().flatten() {
            if let Some(m) = ac.find(haystack) {
                return Some(Finding {
                    kind: "injected-secret",
                    encoding: encodings[m.pattern().as_usize()],
                });
            }
        }
        None
    }

    /// Whether the bottle has secrets of its own to look for.
    pub fn has_own(&self) -> bool {
        self.exact.is_some() || self.caseless.is_some()
    }

    /// Scans a URL as sent, then percent-decoded.
    pub fn scan_url(&self, url: &str) -> Option<Finding> {
        self.scan(url.as_bytes()).or_else(|| {
            let decoded = percent_decode(url.as_bytes());
            (decoded != url.as_bytes())
                .then(|| self.scan(&decoded))
                .flatten()
                .map(|f| Finding {
                    encoding: "url",
                    ..f
                })
        })
    }

    /// A scan of a body that arrives in chunks.
    pub fn stream(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            own_only: false,
            tail: Vec::new(),
        }
    }

    /// A chunked scan for the bottle's own secrets only, as `scan_own`.
    pub fn stream_own(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            own_only: true,
            tail: Vec::new(),
        }
    }
}

fn automaton(
    patterns: Vec<(Vec<u8>, &'static str)>,
    caseless: bool,
) -> Option<(AhoCorasick, Vec<&'static str>)> {
    if patterns.is_empty() {
        return None;
    }
    let (needles, encodings): (Vec<Vec<u8>>, Vec<&'static str>) = patterns.into_iter().unzip();
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(caseless)
        .match_kind(MatchKind::LeftmostFirst)
        .build(&needles)
        .ok()
        .map(|ac| (ac, encodings))
}

pub struct StreamScan<'a> {
    scanner: &'a Scanner,
    own_only: bool,
    tail: Vec<u8>,
}

impl StreamScan<'_> {
    /// Scans a chunk together with the end of the previous ones.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<Finding> {
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(chunk);
        let found = if self.own_only {
            self.scanner.scan_own(&buf)
        } else {
            self.scanner.scan(&buf)
        };
        let keep = buf.len().saturating_sub(WINDOW);
        buf.drain(..keep);
        self.tail = buf;
        found
    }
}

/// The base64 text of `secret` as it appears inside a longer encoded
/// string, at each of the three byte offsets, in both alphabets: only the
/// characters every one of its bits comes from the secret.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        let (start, end) = ((8 * offset).div_ceil(6), 8 * (offset + secret.len()) / 6);
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&padded);
            if let Some(part) = encoded.get(start..end).filter(|p| p.len() >= MIN_SECRET)
                && !forms.iter().any(|f| f == part)
            {
                forms.push(part.to_owned());
            }
        }
    }
    forms
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every byte as `%xx`.
fn percent_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}

/// Only the bytes a URL encoder must encode as `%xx`; the rest as they are.
fn percent_reserved(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Token/with+chars=";

    fn scanner() -> Scanner {
        Scanner::new(&[SECRET.to_owned(), "short".to_owned()])
    }

    fn kind(s: &Scanner, text: &str) -> Option<(&'static str, &'static str)> {
        s.scan(text.as_bytes()).map(|f| (f.kind, f.encoding))
    }

    #[test]
    fn patterns_compile() {
        assert_eq!(
            RegexSet::new(PATTERNS.iter().map(|(_, p)| *p))
                .unwrap()
                .len(),
            PATTERNS.len()
        );
    }

    #[test]
    fn known_patterns() {
        let s = Scanner::new(&[]);
        let long = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
        let positives = [
            (format!("x-api-key: sk-ant-api03-{long}"), "anthropic-api-key"),
            (format!("Bearer sk-proj-{long}"), "openai-api-key"),
            (format!("sk-{long}"), "openai-api-key"),
            (format!("token ghp_{}", "a".repeat(36)), "github-token"),
            (format!("github_pat_{}", "B".repeat(70)), "github-token"),
            (format!("glpat-{}", "x".repeat(20)), "gitlab-token"),
            (format!("xoxb-1234567890-{}", "a".repeat(12)), "slack-token"),
            (format!("xapp-1-{}", "A".repeat(12)), "slack-token"),
            (format!("key=AKIA{}", "QWERTYUIOPASDFGH"), "aws-access-key-id"),
            (format!("ASIA{}", "ZXCVBNMLKJHGFDSA"), "aws-access-key-id"),
            (format!("AIza{}", "c".repeat(35)), "google-api-key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE".to_owned(), "private-key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(), "private-key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----".to_owned(), "private-key"),
            ("-----BEGIN PRIVATE KEY-----".to_owned(), "private-key"),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N".to_owned(),
                "jwt",
            ),
        ];
        for (text, want) in positives {
            assert_eq!(kind(&s, &text), Some((want, "raw")), "{text}");
        }
        let negatives = [
            "risk-management-and-task-tracking-framework-version-two".to_owned(),
            "bot-bottle-placeholder-anthropic-api-key".to_owned(),
            "550e8400-e29b-41d4-a716-446655440000".to_owned(),
            "commit 3b15623a9f1c2e4d5b6a7c8d9e0f1a2b3c4d5e6f".to_owned(),
            "SGVsbG8sIHdvcmxkISBUaGlzIGlzIHBsYWluIHRleHQu".to_owned(),
            format!("ghp_{}", "a".repeat(20)),
            "AKIA-not-a-key".to_owned(),
            "-----BEGIN CERTIFICATE-----".to_owned(),
            "-----BEGIN PUBLIC KEY-----".to_owned(),
            "eyJhbGciOiJIUzI1NiJ9 is a header alone".to_owned(),
        ];
        for text in negatives {
            assert_eq!(kind(&s, &text), None, "{text}");
        }
    }

    #[test]
    fn injected_secret_in_every_encoding() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let s = scanner();
        let b = SECRET.as_bytes();
        let cases = vec![
            (format!("q={SECRET}"), "raw"),
            (STANDARD.encode(b), "base64"),
            (URL_SAFE.encode(b), "base64"),
            (STANDARD.encode(format!("x{SECRET}")), "base64"),
            (STANDARD.encode(format!("xy{SECRET}")), "base64"),
            (STANDARD.encode(format!("xyz{SECRET}tail")), "base64"),
            (
                format!("Basic {}", STANDARD.encode(format!("user:{SECRET}"))),
                "base64",
            ),
            (URL_SAFE.encode(format!("ab{SECRET}")), "base64"),
            (hex(b), "hex"),
            (hex(b).to_uppercase(), "hex"),
            (percent_all(b), "url"),
            (percent_all(b).to_uppercase(), "url"),
            (format!("?t={}", percent_reserved(b)), "url"),
        ];
        for (text, encoding) in cases {
            assert_eq!(
                kind(&s, &text),
                Some(("injected-secret", encoding)),
                "{text}"
            );
        }
        assert_eq!(
            kind(&s, "this is short and fine"),
            None,
            "short secrets are ignored"
        );
        assert_eq!(
            kind(&s, "s3cr3t-Token/with"),
            None,
            "a prefix is not the secret"
        );
    }

    #[test]
    fn urls_are_scanned_decoded() {
        let s = Scanner::new(&[]);
        let key = format!("sk-ant-api03-{}", "Z".repeat(40));
        let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let f = s.scan_url(&format!("/v1/x?k={encoded}")).unwrap();
        assert_eq!((f.kind, f.encoding), ("anthropic-api-key", "url"));
        assert_eq!(s.scan_url("/v1/messages?beta=true"), None);
    }

    #[test]
    fn streams_find_secrets_across_chunks() {
        let s = scanner();
        let body = format!("{}{SECRET}{}", "a".repeat(20_000), "b".repeat(100));
        for size in [1, 3, 7, 1000, 4096, 20_005] {
            let mut scan = s.stream();
            let found = body
                .as_bytes()
                .chunks(size)
                .filter_map(|c| scan.feed(c))
                .next();
            assert_eq!(
                found.map(|f| f.kind),
                Some("injected-secret"),
                "chunks of {size}"
            );
        }
        let mut scan = s.stream();
        assert!(scan.feed(&vec![b'x'; 3 * WINDOW]).is_none());
        assert!(
            scan.feed(SECRET.as_bytes()).is_some(),
            "after more than a window of clean bytes"
        );
    }

    #[test]
    fn a_large_clean_body_passes() {
        let s = scanner();
        let body: Vec<u8> = (0..4 * 1024 * 1024)
            .map(|i| b"abcdefghij klmnop\n"[i % 18])
            .collect();
        let mut scan = s.stream();
        assert!(body.chunks(64 * 1024).all(|c| scan.feed(c).is_none()));
        assert_eq!(s.scan(&body), None);
    }
}
