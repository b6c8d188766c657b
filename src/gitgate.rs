//! The git gate: the one git remote a bottle's agent can reach.
//!
//! A sidecar (`bot-bottle sidecar git-gate`) serves git's smart HTTP
//! protocol from a bare repository in the bottle's state folder, through
//! `git http-backend`. The agent's `/workspace` is a clone of it (`origin`).
//! Every push is checked while git still holds its objects in quarantine;
//! what passes lands in the operator's repository as the branch
//! `bot-bottle/<slug>/<branch>` and, for branches a remote allows, goes on
//! upstream with the gate's own credentials. The agent holds none.
//!
//! ```text
//! agent ──push──► http server ──CGI──► git http-backend ──► receive-pack
//!                                        hooks (this binary):
//!   pre-receive  (objects in quarantine)  refuse: deletion, tag, non-ff,
//!                                         too large, too many refs or
//!                                         branches, a secret in any commit
//!   update       (per ref, objects in)    hold: a protected path → proposal
//!   post-receive (refs updated)           land in the operator's repository,
//!                                         forward upstream (every commit the
//!                                         remote lacks scanned) or propose it
//! ```
//!
//! The server counts a request body as git will read it (decoded, under
//! the push limit) before git sees it; the repository keeps its own
//! objects (`repo`), so the agent reads only the branches it mirrors.
//!
//! The sidecar's state folder (`state/<slug>/git-gate/`, `/state` inside;
//! the names the plan writes are `state::bottle_dir::gate_files`):
//!
//! ```text
//! gate.json        GateConfig, written by the plan
//! tokens.json      {slot: value}: remote credentials and every secret of
//!                  the bottle, for the DLP scan; removed at teardown
//! ssh/             keys of `ssh` entries and known_hosts; removed at teardown
//! upstream-ca.pem  extra CAs for HTTPS remotes (optional)
//! repo.git/        the bare repository (made by the sidecar): the objects
//!                  of the operator's branches and of the agent's pushes
//! landed.json      Landed: what reached the operator's repository
//! queue/ responses/ archive/   git-push proposals (`proposal::queue`'s layout)
//! ```
//!
//! Mounted beside it: the operator's git directory at `/operator` (its
//! `objects` and `refs` writable, the rest read-only: a gate never writes
//! the operator's config or hooks), and the bottle's audit log at
//! `/audit.jsonl`.

pub mod operator;

use std::path::{Path, PathBuf};

mod decide;
mod deliver;
mod git;
mod hooks;
pub(crate) mod paths;
pub(crate) mod policy;
pub mod repo;
mod scan;
pub mod server;
mod upstream;

/// The gate's environment, also by its old path (the hook tests set it).
pub use decide::{Shown, decide_in};
pub use hooks::GateEnv;
pub(crate) use hooks::run_hook;

use serde::{Deserialize, Serialize};

use crate::contract::services::{GATE_PORT, GIT_GATE};

/// The repository's path in URLs and in the state folder.
pub(crate) const REPO: &str = "repo.git";
/// What landed, written by the gate, read by `list active` and the dashboard.
pub const LANDED_FILE: &str = "landed.json";
/// Held pushes (protected paths) keep their objects under this hidden ref.
pub(crate) const HELD_REFS: &str = "refs/bot-bottle/held/";
/// The default size limit of one push, in bytes.
pub(crate) const DEFAULT_MAX_PUSH: u64 = 64 << 20;

/// Refs one push may name.
pub(crate) const MAX_PUSH_REFS: usize = 32;
/// Branches (landed or held) and tags a bottle may have in its gate.
pub(crate) const MAX_BRANCHES: usize = 128;
/// The longest ref name a push may use, in bytes.
pub(crate) const MAX_REF_NAME: usize = 255;
/// `landed.json` is read at most this large: more than `MAX_BRANCHES`
/// entries of the longest names can fill (see the test).
pub(crate) const MAX_LANDED_BYTES: u64 = 4 << 20;

/// The URL the agent's `origin` points at.
pub(crate) fn agent_url() -> String {
    format!("http://{GIT_GATE}:{GATE_PORT}/{REPO}")
}

/// The branch prefix pushes land under in the operator's repository.
pub(crate) fn land_prefix(slug: &str) -> String {
    format!("bot-bottle/{slug}/")
}

/// `gate.json`: everything the gate decides by. Written by the plan from
/// the manifest; the gate never changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateConfig {
    /// The bottle's slug.
    pub slug: String,
    /// An operator repository is mounted at `/operator`.
    pub operator: bool,
    /// The operator's checked-out branch, the clone's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Patterns as in `manifest::DEFAULT_PROTECTED`, already expanded.
    pub protected_paths: Vec<String>,
    /// What pushes may do besides fast-forward a branch.
    pub allow: Allow,
    /// Bytes one push may bring.
    pub max_push_bytes: u64,
    /// Where approved pushes are forwarded.
    pub remotes: Vec<RemoteConfig>,
}

/// What the manifest allows beyond fast-forwards of branches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allow {
    pub(crate) force_push: bool,
    pub(crate) delete: bool,
    pub(crate) tags: bool,
}

/// An upstream the gate forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    pub(crate) name: String,
    pub(crate) url: String,
    /// Branch patterns (`*` within a name component, `**` across) pushed
    /// on without asking; any other branch is a proposal.
    pub(crate) branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth: Option<RemoteAuth>,
}

/// How the gate authenticates to a remote. Secrets are named, never held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum RemoteAuth {
    /// An ssh key in `ssh/` (a file name there).
    Ssh { key: String },
    /// `Authorization: Basic`, the slot's value being `user:password`.
    Basic { slot: String },
    /// `Authorization: Bearer`.
    Bearer { slot: String },
}

/// `landed.json`: the branches a bottle brought home.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landed {
    /// One entry a landed branch.
    pub branches: Vec<LandedBranch>,
}

/// A branch that landed in the operator's repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandedBranch {
    /// The agent's branch name (`feature`).
    pub branch: String,
    /// The operator's branch (`bot-bottle/<slug>/feature`).
    pub landed_as: String,
    /// The commit that landed.
    pub commit: String,
    /// When (RFC 3339).
    pub at: String,
    /// Remotes it was forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded: Vec<String>,
}

/// `landed.json` cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LandedError {
    #[error(
        "{path}: {source}; the gate keeps there which branches are the agent's, so nothing lands and the operator's branches are not mirrored until it reads again: restore or repair the file, or stop the bottle"
    )]
    /// The file is there but cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not what the gate writes: {source}; the gate keeps there which branches are the agent's, so nothing lands and the operator's branches are not mirrored until it reads again: restore or repair the file, or stop the bottle"
    )]
    /// The file was read but does not parse.
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a bottle's `landed.json` (none: nothing landed). The gate decides
/// by it which branches are the agent's, so a file that cannot be read is
/// an error, never "nothing landed". Read bounded: the sidecar writes it.
pub(crate) fn read_landed(gate_dir: &Path) -> Result<Landed, LandedError> {
    let path = gate_dir.join(LANDED_FILE);
    match crate::state::read_bounded(&path, MAX_LANDED_BYTES) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| LandedError::Malformed { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Landed::default()),
        Err(source) => Err(LandedError::Unreadable { path, source }),
    }
}

/// The push policy in words, for the agent (`git-push-policy`) and the
/// prompt. Pure.
pub(crate) fn policy_text(config: &GateConfig) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Your /workspace is a git clone; its `origin` ({}) is the bot-bottle git gate, the only git remote you can reach.\n",
        agent_url()
    ));
    s.push_str(&format!(
        "- A push to any branch B lands, after checks, as `{}B` in the operator's repository; their own branches are never changed. Push early and often.\n",
        land_prefix(&config.slug)
    ));
    s.push_str(
        "- `git fetch origin` brings the operator's branches (except the ones you pushed).\n",
    );
    let refused = [
        (!config.allow.delete, "deleting a branch"),
        (!config.allow.tags, "pushing tags"),
        (
            !config.allow.force_push,
            "non-fast-forward pushes (force-push, rewritten history)",
        ),
    ];
    let refused: Vec<&str> = refused
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
    if !refused.is_empty() {
        s.push_str(&format!("- Refused: {}.\n", refused.join("; ")));
    }
    s.push_str(&format!(
        "- A push larger than {} MiB is refused, and so is one naming more than {MAX_PUSH_REFS} refs; the bottle may have at most {MAX_BRANCHES} branches and tags (landed or held).\n",
        config.max_push_bytes >> 20
    ));
    s.push_str("- Every commit of a push is scanned for secrets (API keys, private keys, tokens, this bottle's credentials): one hit refuses the whole push, naming the commit and file; remove it from every commit (rewrite them locally), then push again.\n");
    s.push_str(&format!(
        "- A push that changes a protected path waits for the operator's approval as a proposal instead of landing; you need not push it again. Protected: {}.\n",
        config.protected_paths.join(", ")
    ));
    if config.remotes.is_empty() {
        s.push_str("- Nothing is pushed upstream: the operator takes it from there.\n");
    }
    if !config.remotes.is_empty() {
        s.push_str("- Before a branch goes upstream, every commit the remote does not have yet is scanned the same way, the operator's included: a hit keeps the branch home, and the push's output names the commit.\n");
    }
    for remote in &config.remotes {
        let branches = if remote.branches.is_empty() {
            "no branch".to_owned()
        } else {
            remote.branches.join(", ")
        };
        s.push_str(&format!(
            "- Upstream `{}`: pushes to {branches} go on to it once they land; any other branch lands here and waits for the operator to approve forwarding it.\n",
            remote.name
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GateConfig {
        GateConfig {
            slug: "dev-abcde".into(),
            operator: true,
            head: Some("main".into()),
            protected_paths: vec![".git*".into()],
            allow: Allow::default(),
            max_push_bytes: DEFAULT_MAX_PUSH,
            remotes: vec![],
        }
    }

    #[test]
    fn policy_text_names_the_landing_branch_and_the_refusals() {
        let text = policy_text(&config());
        assert!(text.contains("`bot-bottle/dev-abcde/B`"), "{text}");
        assert!(text.contains("Refused: deleting a branch; pushing tags; non-fast-forward"));
        assert!(text.contains("Nothing is pushed upstream"));
        let mut c = config();
        c.allow = Allow {
            force_push: true,
            delete: true,
            tags: true,
        };
        c.remotes.push(RemoteConfig {
            name: "up".into(),
            url: "https://example.test/r.git".into(),
            branches: vec!["agent/*".into()],
            auth: None,
        });
        let text = policy_text(&c);
        assert!(!text.contains("Refused"), "{text}");
        assert!(text.contains("Upstream `up`: pushes to agent/*"), "{text}");
    }

    #[test]
    fn landed_json_reads_strictly() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_landed(dir.path()).unwrap(), Landed::default());
        let path = dir.path().join(LANDED_FILE);
        let landed = Landed {
            branches: vec![LandedBranch {
                branch: "feature".into(),
                landed_as: "bot-bottle/dev-abcde/feature".into(),
                commit: "a".repeat(40),
                at: "2026-01-01T00:00:00Z".into(),
                forwarded: vec![],
            }],
        };
        std::fs::write(&path, serde_json::to_vec(&landed).unwrap()).unwrap();
        assert_eq!(read_landed(dir.path()).unwrap(), landed);
        let too_large = format!(
            "{}{}",
            serde_json::to_string(&landed).unwrap(),
            " ".repeat(MAX_LANDED_BYTES as usize)
        );
        for bad in ["{not json", "[]", too_large.as_str()] {
            std::fs::write(&path, bad).unwrap();
            let e = read_landed(dir.path()).unwrap_err().to_string();
            assert!(
                e.contains("landed.json") && e.contains("stop the bottle"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_landed_bound_holds_more_than_the_caps_can_fill() {
        // The longest ref name, of a character JSON doubles; a long
        // identity; many remotes with long names.
        let branch = "\"".repeat(MAX_REF_NAME - "refs/heads/".len());
        let slug = format!("{}-abcde", "x".repeat(58));
        let full = Landed {
            branches: (0..MAX_BRANCHES)
                .map(|_| LandedBranch {
                    branch: branch.clone(),
                    landed_as: format!("{}{branch}", land_prefix(&slug)),
                    commit: "f".repeat(64),
                    at: "2026-12-31T23:59:59.999999999Z".into(),
                    forwarded: (0..16).map(|i| format!("{i:0>64}")).collect(),
                })
                .collect(),
        };
        let size = serde_json::to_vec_pretty(&full).unwrap().len() as u64;
        assert!(size * 2 < MAX_LANDED_BYTES, "{size}");
    }

    #[test]
    fn config_round_trips_as_json() {
        let mut c = config();
        c.remotes.push(RemoteConfig {
            name: "up".into(),
            url: "ssh://git@example.test/r.git".into(),
            branches: vec![],
            auth: Some(RemoteAuth::Ssh { key: "id_0".into() }),
        });
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""kind":"ssh""#), "{text}");
        assert_eq!(serde_json::from_str::<GateConfig>(&text).unwrap(), c);
    }
}
