//! Backends: where bottles run. Docker is the one there is; the choice is
//! still explicit (`--backend`, `BOT_BOTTLE_BACKEND`) so state and listings
//! name it, and another backend can join without changing them.

pub mod docker;
pub mod names;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Docker,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown backend '{name}' (from {from})")]
pub struct UnknownBackend {
    pub name: String,
    pub from: &'static str,
}

impl UnknownBackend {
    pub fn hint(&self) -> String {
        format!("known backends: {}", BackendKind::NAMES.join(", "))
    }
}

impl BackendKind {
    pub const NAMES: &'static [&'static str] = &["docker"];

    pub fn parse(name: &str) -> Option<BackendKind> {
        match name {
            "docker" => Some(BackendKind::Docker),
            _ => None,
        }
    }

    /// `--backend`, else `BOT_BOTTLE_BACKEND`, else docker.
    pub fn select(flag: Option<&str>, env: Option<&str>) -> Result<BackendKind, UnknownBackend> {
        let (name, from) = match (flag, env.filter(|v| !v.is_empty())) {
            (Some(name), _) => (name, "--backend"),
            (None, Some(name)) => (name, "BOT_BOTTLE_BACKEND"),
            (None, None) => return Ok(BackendKind::Docker),
        };
        BackendKind::parse(name).ok_or_else(|| UnknownBackend {
            name: name.to_owned(),
            from,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_default() {
        assert_eq!(BackendKind::select(None, None), Ok(BackendKind::Docker));
        assert_eq!(BackendKind::select(None, Some("")), Ok(BackendKind::Docker));
        assert_eq!(
            BackendKind::select(Some("docker"), Some("nope")),
            Ok(BackendKind::Docker)
        );
        assert_eq!(
            BackendKind::select(None, Some("vm")),
            Err(UnknownBackend {
                name: "vm".into(),
                from: "BOT_BOTTLE_BACKEND"
            })
        );
    }
}
