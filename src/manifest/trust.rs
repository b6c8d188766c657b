//! A project's manifest is used only once the operator trusts that exact
//! content, as direnv's `allow` and mise's `trust` do. A project is the
//! directory bot-bottle runs from: its `bot-bottle.json` and `.bot-bottle/`,
//! written by whoever wrote the repository.
//!
//! Here, pure: the digest of every file a project makes bot-bottle read,
//! the record of trusted digests (`$BOT_BOTTLE_HOME/trusted.json`), what a
//! project defines and which of its parts reach the operator's secrets or
//! network (`reach`), and what a load found (`Project`): the line that says
//! a project is not used, the error for asking for what only such a project
//! defines, and the check that no part reaching secrets comes from it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::NotTrusted;
use super::{Bottle, ManifestError, Origin, Part, Place};

/// The record of trusted projects, in `$BOT_BOTTLE_HOME`. Named here, not
/// by `state::Home`: the two modules are one layer, and neither names the
/// other.
const TRUST_FILE: &str = "trusted.json";

/// The working directory's manifest, as a load found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Project {
    /// No `./bot-bottle.json` and no `./.bot-bottle/`.
    #[default]
    None,
    /// Trusted as it is: its agents and bottles are used.
    Trusted(Summary),
    /// Never trusted, or changed since it was (`changed`): nothing of it
    /// is used.
    Untrusted { summary: Summary, changed: bool },
    /// It could not be read or checked: nothing of it is used.
    Broken {
        /// `./bot-bottle.json` or `./.bot-bottle/`.
        shown: String,
        error: ManifestError,
    },
}

/// What a project makes bot-bottle read, defines and reaches: what
/// `bot-bottle trust` shows, and the digest it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The project's folder, resolved (the trust record's key).
    pub dir: PathBuf,
    /// How it is named in messages: `./bot-bottle.json`, else `./.bot-bottle/`.
    pub shown: String,
    /// Of `files`, paths and contents (see `digest`).
    pub digest: String,
    /// Every file it makes bot-bottle read: `./PATH` inside the folder,
    /// absolute outside it; sorted.
    pub files: Vec<String>,
    pub agents: Vec<Defined>,
    pub bottles: Vec<Defined>,
    /// What of it reaches the operator's secrets or network.
    pub reach: Vec<Reach>,
}

/// An agent or bottle a project defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defined {
    pub name: String,
    pub origin: Origin,
    /// The operator's or built-in definition of the same name it replaces.
    pub replaces: Option<Origin>,
    /// An agent's bottles (empty: `default`); what a bottle extends.
    pub uses: Vec<String>,
}

/// A part of a bottle that reaches the operator's secrets or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    pub place: Place,
    pub part: Part,
    /// As written in the file: `egress.routes[0].auth.token_env`.
    pub key: String,
    /// What it does: `sends $GITHUB_TOKEN to api.github.com`.
    pub what: String,
}

/// The parts of `bottle` that reach the operator's secrets or network: a
/// host variable sent somewhere (a route's or a remote's `token_env`), an
/// ssh key, a route to private addresses, an upstream CA. Keys are as the
/// bottle's own file writes them.
pub(crate) fn reach(bottle: &Bottle) -> Vec<Reach> {
    let place = Place::bottle(&bottle.origin, &bottle.name);
    let mut out = Vec::new();
    let mut add = |part: Part, key: String, what: String| {
        out.push(Reach {
            place: place.clone(),
            part,
            key,
            what,
        })
    };
    let vars = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    for (i, r) in bottle.egress.routes.iter().enumerate() {
        let part = Part::Route(r.host.clone());
        if let Some(auth) = &r.auth {
            add(
                part.clone(),
                format!("egress.routes[{i}].auth.token_env"),
                format!("sends {} to {}", vars(&auth.token_env), r.host),
            );
        }
        if r.allow_private_addresses == Some(true) {
            add(
                part,
                format!("egress.routes[{i}].allow_private_addresses"),
                format!(
                    "{} may be a loopback, private or link-local address (your own network)",
                    r.host
                ),
            );
        }
    }
    for (i, e) in bottle.ssh.iter().enumerate() {
        add(
            Part::Ssh(e.host.clone(), e.identity_file.clone()),
            format!("ssh[{i}].identity_file"),
            format!(
                "gives the git gate the key {} for {}",
                e.identity_file.display(),
                e.host
            ),
        );
    }
    for (i, r) in bottle.git.remotes.iter().enumerate() {
        if let Some(auth) = &r.auth {
            add(
                Part::Remote(r.name.clone()),
                format!("git.remotes[{i}].auth.token_env"),
                format!(
                    "sends {} to {} (remote {})",
                    vars(&auth.token_env),
                    r.host,
                    r.name
                ),
            );
        }
    }
    for (i, ca) in bottle.egress.trust_upstream_ca.iter().enumerate() {
        add(
            Part::Ca(ca.clone()),
            format!("egress.trust_upstream_ca[{i}]"),
            format!(
                "trusts {} to vouch for any upstream host (whoever holds its key could read what egress sends, credentials included)",
                ca.display()
            ),
        );
    }
    out
}

/// The digest of a project: sha256 over each file's path and contents,
/// in path order, each length-prefixed (so no two sets of files collide).
pub(super) fn digest(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash = Sha256::new();
    for (path, bytes) in sorted {
        hash.update((path.len() as u64).to_be_bytes());
        hash.update(path.as_bytes());
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The trusted projects: folder → digest of the content trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustStore {
    version: u32,
    projects: BTreeMap<String, String>,
}

impl TrustStore {
    /// The record in home folder `home`.
    pub(crate) fn path(home: &Path) -> PathBuf {
        home.join(TRUST_FILE)
    }

    /// The record in home folder `home`; an empty record when there is
    /// none.
    pub(crate) fn read(home: &Path) -> Result<TrustStore, ManifestError> {
        let path = TrustStore::path(home);
        match std::fs::read_to_string(&path) {
            Ok(text) => TrustStore::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustStore::default()),
            Err(e) => Err(ManifestError::Read {
                file: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    pub(crate) fn parse(text: &str, file: &str) -> Result<TrustStore, ManifestError> {
        serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
            file: file.to_owned(),
            format: "trust record",
            line: e.line(),
            column: e.column(),
            message: format!("{}; remove the file to trust projects afresh", short(&e)),
        })
    }

    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&TrustStore {
            version: 1,
            projects: self.projects.clone(),
        })
        .unwrap_or_default();
        text.push('\n');
        text
    }

    /// The digest trusted for `dir`, if any.
    pub(crate) fn get(&self, dir: &Path) -> Option<&str> {
        self.projects.get(&key(dir)).map(String::as_str)
    }

    pub(crate) fn trust(&mut self, dir: &Path, digest: &str) {
        self.projects.insert(key(dir), digest.to_owned());
    }

    /// Whether `dir` was trusted.
    pub(crate) fn revoke(&mut self, dir: &Path) -> bool {
        self.projects.remove(&key(dir)).is_some()
    }
}

fn key(dir: &Path) -> String {
    dir.display().to_string()
}

fn short(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `bot-bottle trust`, naming `dir` unless it is the current directory.
pub(super) fn trust_command(dir: &Path) -> String {
    let here = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok());
    match here.as_deref() == Some(dir) {
        true => "bot-bottle trust".into(),
        false => format!(
            "bot-bottle trust {}",
            crate::text::shell_quote(&dir.display().to_string())
        ),
    }
}

impl Summary {
    /// What `bot-bottle trust` shows, and the dashboard before it asks.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} in {} makes bot-bottle read:",
            self.shown,
            self.dir.display()
        );
        for file in &self.files {
            let _ = writeln!(out, "  {file}");
        }
        if self.agents.is_empty() && self.bottles.is_empty() {
            let _ = writeln!(out, "It defines no agent and no bottle.");
        } else {
            let _ = writeln!(out, "It defines:");
        }
        for (kind, defined) in [("agent", &self.agents), ("bottle", &self.bottles)] {
            for d in defined {
                let replaces = d
                    .replaces
                    .as_ref()
                    .map(|o| format!(" (replaces {})", o.described()))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {kind} {}{replaces}", d.name);
            }
        }
        if self.reach.is_empty() {
            let _ = writeln!(
                out,
                "Nothing in it reaches your secrets or network (no host variables, ssh keys, remote credentials, private addresses or CAs)."
            );
        } else {
            let _ = writeln!(out, "What reaches your secrets and network:");
            for r in &self.reach {
                let _ = writeln!(out, "  {}: {}: {}", r.place, r.key, r.what);
            }
        }
        let _ = writeln!(out, "digest {}", self.digest);
        out
    }

    fn defined(&self, kind: &str, name: &str) -> Option<&Defined> {
        let list = match kind {
            "agent" => &self.agents,
            _ => &self.bottles,
        };
        list.iter().find(|d| d.name == name)
    }

    /// The first part reaching secrets among the bottles `names` and what
    /// they extend in the project.
    fn first_reach(&self, names: &[String]) -> Option<&Reach> {
        let mut queue: Vec<String> = names.to_vec();
        let mut seen: Vec<String> = Vec::new();
        while let Some(name) = queue.pop() {
            if seen.contains(&name) {
                continue;
            }
            let Some(bottle) = self.defined("bottle", &name) else {
                continue;
            };
            if let Some(r) = self
                .reach
                .iter()
                .find(|r| r.place == Place::bottle(&bottle.origin, &name))
            {
                return Some(r);
            }
            queue.extend(bottle.uses.iter().cloned());
            seen.push(name);
        }
        None
    }
}

impl Project {
    pub(crate) fn is_trusted(&self) -> bool {
        matches!(self, Project::Trusted(_))
    }

    /// The line a CLI prints (and the dashboard's status shows) when a
    /// project is there and not used.
    pub fn note(&self) -> Option<String> {
        match self {
            Project::None | Project::Trusted(_) => None,
            Project::Untrusted { summary, changed } => Some(format!(
                "{} {}: its agents and bottles are not used; run `{}` after reading it",
                summary.shown,
                state(*changed),
                trust_command(&summary.dir)
            )),
            Project::Broken { error, .. } => Some(format!(
                "{error}; the project's agents and bottles are not used"
            )),
        }
    }

    /// The error for asking for the `kind` `name` (`agent` or `bottle`)
    /// that only this unused project could define; None when the project
    /// is used or does not define it.
    pub(crate) fn not_used(&self, kind: &'static str, name: &str) -> Option<ManifestError> {
        match self {
            Project::None | Project::Trusted(_) => None,
            Project::Broken { shown, error } => Some(ManifestError::ProjectBroken {
                kind,
                name: name.to_owned(),
                file: shown.clone(),
                source: Box::new(error.clone()),
            }),
            Project::Untrusted { summary, changed } => {
                let defined = summary.defined(kind, name)?;
                let bottles = match (kind, defined.uses.is_empty()) {
                    ("agent", true) => vec!["default".to_owned()],
                    ("agent", false) => defined.uses.clone(),
                    _ => vec![name.to_owned()],
                };
                let command = trust_command(&summary.dir);
                let not_trusted = match summary.first_reach(&bottles) {
                    Some(r) => NotTrusted {
                        place: r.place.clone(),
                        key: r.key.clone(),
                        what: r.what.clone(),
                        file: summary.shown.clone(),
                        changed: *changed,
                        command,
                    },
                    None => NotTrusted {
                        place: match kind {
                            "agent" => Place::agent(&defined.origin, name),
                            _ => Place::bottle(&defined.origin, name),
                        },
                        key: String::new(),
                        what: String::new(),
                        file: summary.shown.clone(),
                        changed: *changed,
                        command,
                    },
                };
                Some(ManifestError::NotTrusted(Box::new(not_trusted)))
            }
        }
    }

    /// Refuses a part of `bottle` that reaches the operator's secrets or
    /// network and came from a project that is not trusted. Loading uses
    /// no such project; this holds whatever a caller put together.
    pub(crate) fn check_parts(&self, bottle: &Bottle) -> Result<(), ManifestError> {
        if self.is_trusted() {
            return Ok(());
        }
        for r in reach(bottle) {
            let Some(origin) = bottle.provenance.project(&r.part) else {
                continue;
            };
            let (changed, command) = match self {
                Project::Untrusted { summary, changed } => (*changed, trust_command(&summary.dir)),
                _ => (false, "bot-bottle trust".to_owned()),
            };
            return Err(ManifestError::NotTrusted(Box::new(NotTrusted {
                place: Place::bottle(origin, &bottle.name),
                key: r.key,
                what: r.what,
                file: origin.to_string(),
                changed,
                command,
            })));
        }
        Ok(())
    }

    /// What the project's `kind` `name` replaced, when a trusted project
    /// defines it.
    pub fn replaces(&self, kind: &str, name: &str) -> Option<&Origin> {
        match self {
            Project::Trusted(summary) => summary.defined(kind, name)?.replaces.as_ref(),
            _ => None,
        }
    }
}

/// `is not trusted`, or `changed since you trusted it`.
pub(super) fn state(changed: bool) -> &'static str {
    match changed {
        true => "changed since you trusted it",
        false => "is not trusted",
    }
}

#[cfg(test)]
mod tests;
