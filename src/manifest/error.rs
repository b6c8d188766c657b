//! Manifest errors: one line naming the file, the agent or bottle and the
//! key or value, and an optional hint saying what to do.

use std::fmt;

use super::Origin;
use crate::error::{Explain, UserError};

/// A file, and the agent or bottle in it an error is about, as shown:
/// `bot-bottle.json: bottle 'dev'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(String);

impl Place {
    pub fn file(origin: &Origin) -> Place {
        Place(origin.to_string())
    }

    pub fn agent(origin: &Origin, name: &str) -> Place {
        Place(format!("{origin}: agent '{name}'"))
    }

    pub fn bottle(origin: &Origin, name: &str) -> Place {
        Place(format!("{origin}: bottle '{name}'"))
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },

    #[error("{file}:{line}:{column}: invalid {format}: {message}")]
    Syntax {
        file: String,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{file}:1: the frontmatter opened by '---' is never closed")]
    UnclosedFrontmatter { file: String },

    #[error("{place}: unknown key '{key}'")]
    UnknownKey {
        place: Place,
        key: String,
        suggestion: Option<String>,
        valid: Vec<&'static str>,
    },

    #[error("{place}: '{key}' cannot be set: the runtime is chosen automatically")]
    RuntimeKey { place: Place, key: String },

    #[error("{place}: {}{message}", key_prefix(key))]
    Invalid {
        place: Place,
        key: String,
        message: String,
        hint: Option<String>,
    },

    #[error("unknown agent '{name}'")]
    UnknownAgent { name: String, known: Vec<String> },

    #[error("{place}: {key}: unknown bottle '{name}'")]
    UnknownBottle {
        place: Place,
        key: String,
        name: String,
        known: Vec<String>,
    },

    #[error("unknown bottle '{name}' in --bottle")]
    UnknownBottleFlag { name: String, known: Vec<String> },

    #[error("{place}: extends: cycle {chain}")]
    ExtendsCycle { place: Place, chain: String },

    #[error("{second}: {kind} '{name}' is also defined in {first}")]
    Duplicate {
        kind: &'static str,
        name: String,
        first: Origin,
        second: Origin,
    },

    #[error("bottles {bottles} name no image")]
    NoImage { bottles: String },

    /// A project's definition, or one of its parts that reaches the
    /// operator's secrets, asked for while the project is not trusted.
    #[error("{0}")]
    NotTrusted(Box<NotTrusted>),

    #[error("unknown {kind} '{name}' ({file} is not used: {source})")]
    ProjectBroken {
        kind: &'static str,
        name: String,
        file: String,
        /// Why the project could not be read or checked.
        #[source]
        source: Box<ManifestError>,
    },
}

impl UserError for ManifestError {
    /// A manifest error is always the operator's input to fix; the hint
    /// is a second line saying what to do, when the first does not.
    fn explain(&self) -> Explain<'_> {
        match self {
            ManifestError::UnknownKey {
                suggestion: Some(s),
                ..
            } => Explain::usage(format!("did you mean '{s}'?")),
            ManifestError::UnknownKey { valid, .. } => {
                Explain::usage(format!("valid keys here: {}", valid.join(", ")))
            }
            ManifestError::RuntimeKey { .. } => Explain::usage(
                "remove it: bottles run under gVisor (runsc) when the docker engine has it registered, runc otherwise",
            ),
            ManifestError::UnclosedFrontmatter { .. } => {
                Explain::usage("end the frontmatter with a line that holds only '---'")
            }
            ManifestError::Invalid { hint, .. } => Explain::usage(hint.clone()),
            ManifestError::UnknownAgent { name, known } => {
                Explain::usage(known_list("agents", name, known))
            }
            ManifestError::UnknownBottle { name, known, .. }
            | ManifestError::UnknownBottleFlag { name, known } => {
                Explain::usage(known_list("bottles", name, known))
            }
            ManifestError::Duplicate { .. } => Explain::usage("keep one of the two definitions"),
            ManifestError::NoImage { .. } => Explain::usage(
                "set 'image' or 'dockerfile' in one of them, or add --bottle default first",
            ),
            ManifestError::NotTrusted(n) => Explain::usage(n.hint()),
            ManifestError::ProjectBroken { .. } => {
                Explain::usage("fix it, then run `bot-bottle trust` to use it")
            }
            ManifestError::Read { .. }
            | ManifestError::Syntax { .. }
            | ManifestError::ExtendsCycle { .. } => Explain::usage(None),
        }
    }
}

/// `key: ` before a message about a key; nothing for a whole definition.
fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// What of a project that is not trusted was asked for: a whole
/// definition (`key` empty), or a part of it that reaches the operator's
/// secrets or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotTrusted {
    pub place: Place,
    /// As written: `egress.routes[0].auth.token_env`; empty for a whole
    /// definition.
    pub key: String,
    /// `sends $TOKEN to host`.
    pub what: String,
    /// `./bot-bottle.json`.
    pub file: String,
    /// Trusted once, changed since.
    pub changed: bool,
    /// `bot-bottle trust`, with the folder when it is not the current one.
    pub command: String,
}

impl fmt::Display for NotTrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = super::trust::state(self.changed);
        match self.key.is_empty() {
            true => write!(f, "{}: not used: {} {state}", self.place, self.file),
            false => write!(
                f,
                "{}: {}: {}, and {} {state}",
                self.place, self.key, self.what, self.file
            ),
        }
    }
}

impl NotTrusted {
    fn hint(&self) -> String {
        match self.key.is_empty() {
            true => format!("read {}, then run `{}` to use it", self.file, self.command),
            false => format!(
                "a project's manifest reaches your secrets and network only once you trust it: read {}, then run `{}`",
                self.file, self.command
            ),
        }
    }
}

/// "did you mean 'x'?" when a known name is close, else the list of names.
fn known_list(kind: &str, name: &str, known: &[String]) -> String {
    match closest(name, known.iter().map(String::as_str)) {
        Some(s) => format!("did you mean '{s}'?"),
        None if known.is_empty() => format!("no {kind} are defined"),
        None => format!("known {kind}: {}", known.join(", ")),
    }
}

/// The candidate nearest to `word`, if it is near enough to be a typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let keys = ["image", "dockerfile", "env", "egress", "ssh", "extends"];
        assert_eq!(closest("imgae", keys), Some("image"));
        assert_eq!(closest("dockerfil", keys), Some("dockerfile"));
        assert_eq!(closest("egres", keys), Some("egress"));
        assert_eq!(closest("volumes", keys), None);
    }

    #[test]
    fn place_names_file_and_subject() {
        let origin = Origin::File("bot-bottle.json".into());
        assert_eq!(
            Place::bottle(&origin, "dev").to_string(),
            "bot-bottle.json: bottle 'dev'"
        );
        assert_eq!(Place::file(&origin).to_string(), "bot-bottle.json");
    }
}
