//! A bottle's identity, checked once where it enters the program.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::{StateError, slugify};
use crate::error::UserError;

/// A bottle identity such as `shell-k3x9q`: lower-case letters, digits and
/// dashes, not starting with a dash, at most 64 characters. Identities are
/// used in paths and docker names, so nothing else gets one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub(crate) struct Slug(String);

impl Slug {
    /// The identity `text` spells, or `StateError::BadSlug`.
    pub(crate) fn parse(text: &str) -> Result<Slug, StateError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !text.starts_with('-');
        if ok {
            Ok(Slug(text.to_owned()))
        } else {
            Err(StateError::BadSlug(text.to_owned()))
        }
    }

    /// A fresh identity: `<slug of label>-<5 random base36 characters>`.
    pub(crate) fn mint(label: &str) -> Slug {
        use rand::RngExt;
        const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| BASE36[rng.random_range(0..BASE36.len())] as char)
            .collect();
        Slug(format!("{}-{suffix}", slugify(label)))
    }

    /// For clap's `value_parser`: the error with its hint, so a bad
    /// identity is refused at parse time (exit 2) with both.
    pub(crate) fn parse_arg(text: &str) -> Result<Slug, String> {
        Slug::parse(text).map_err(|e| match e.hint() {
            Some(hint) => format!("{e}\n  hint: {hint}"),
            None => e.to_string(),
        })
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Slug {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for Slug {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = StateError;
    fn try_from(text: String) -> Result<Slug, StateError> {
        Slug::parse(&text)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl std::str::FromStr for Slug {
    type Err = StateError;
    fn from_str(text: &str) -> Result<Slug, StateError> {
        Slug::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mint_and_serde() {
        let a = Slug::mint("Shell");
        assert!(
            a.starts_with("shell-") && a.len() == "shell-".len() + 5,
            "{a}"
        );
        assert_eq!(Slug::parse(a.as_str()).unwrap(), a);
        for bad in ["", "../etc", "Shell-x", "-x", "a b", &"a".repeat(65)] {
            assert!(
                matches!(Slug::parse(bad), Err(StateError::BadSlug(_))),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
        assert_eq!(serde_json::from_str::<Slug>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Slug>("\"../x\"").is_err());
        let err = Slug::parse_arg("X").unwrap_err();
        assert!(
            err.contains("'X' is not a bottle identity") && err.contains("hint:"),
            "{err}"
        );
    }
}
