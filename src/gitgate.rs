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
//!                                         too large, a secret in any commit
//!   update       (per ref, objects in)    hold: a protected path → proposal
//!   post-receive (refs updated)           land in the operator's repository,
//!                                         forward upstream or propose it
//! ```
//!
//! The sidecar's state folder (`state/<slug>/git-gate/`, `/state` inside):
//!
//! ```text
//! gate.json        GateConfig, written by the plan
//! tokens.json      {slot: value}: remote credentials and every secret of
//!                  the bottle, for the DLP scan; removed at teardown
//! ssh/             keys of `ssh` entries and known_hosts; removed at teardown
//! upstream-ca.pem  extra CAs for HTTPS remotes (optional)
//! repo.git/        the bare repository (made by the sidecar)
//! landed.json      Landed: what reached the operator's repository
//! queue/ responses/ archive/   git-push proposals (supervise's Queue layout)
//! ```
//!
//! Mounted beside it: the operator's git directory at `/operator` (its
//! `objects` and `refs` writable, the rest read-only: a gate never writes
//! the operator's config or hooks), and the bottle's audit log at
//! `/audit.jsonl`.

pub mod operator;

use std::path::Path;

mod decide;
mod deliver;
mod git;
mod hooks;
pub mod paths;
pub mod policy;
pub mod repo;
mod scan;
pub mod server;
mod upstream;

pub use decide::{Shown, decide, decide_in};
pub use git::GateError;
pub use hooks::{AUDIT_VAR, GateEnv, OPERATOR_VAR, STATE_VAR, run_hook, run_hook_in};

use serde::{Deserialize, Serialize};

/// The port the gate serves git on, on the bottle's internal network.
pub const GATE_PORT: u16 = 8418;
/// The compose service, container role and host name of the gate.
pub const SERVICE: &str = "git-gate";
/// The repository's path in URLs and in the state folder.
pub const REPO: &str = "repo.git";
/// The state folder's config file.
pub const CONFIG_FILE: &str = "gate.json";
/// The state folder's credentials and scan secrets.
pub const TOKENS_FILE: &str = "tokens.json";
/// The state folder's ssh keys and known_hosts.
pub const SSH_DIR: &str = "ssh";
/// Extra CA certificates (PEM) the gate trusts for HTTPS remotes, beside
/// the system's: the bottle's `egress.trust_upstream_ca`.
pub const UPSTREAM_CA_FILE: &str = "upstream-ca.pem";
/// What landed, written by the gate, read by `list active` and the dashboard.
pub const LANDED_FILE: &str = "landed.json";
/// The push policy in words (`policy_text`), in the supervise sidecar's
/// state folder, for its `git-push-policy` tool.
pub const POLICY_FILE: &str = "git-policy.md";
/// Where the operator's git directory is mounted in the gate.
pub const OPERATOR_MOUNT: &str = "/operator";
/// Where the bottle's audit log is mounted in the gate.
pub const AUDIT_MOUNT: &str = "/audit.jsonl";
/// Held pushes (protected paths) keep their objects under this hidden ref.
pub const HELD_REFS: &str = "refs/bot-bottle/held/";
/// The default size limit of one push, in bytes.
pub const DEFAULT_MAX_PUSH: u64 = 64 << 20;

/// Paths a push may not change without the operator's approval: CI
/// definitions, git's own config files and whatever runs on the operator's
/// machine when they open the tree. A pattern without `/` matches a file
/// or folder name at any depth; a path is protected when it or one of its
/// folders matches. Matching ignores case. The bottle's own manifest files
/// and Dockerfiles are added by the plan.
pub const DEFAULT_PROTECTED: &[&str] = &[
    ".git*",
    ".ci",
    ".circleci",
    ".buildkite",
    ".woodpecker",
    ".woodpecker.yml",
    ".drone.yml",
    ".travis.yml",
    "Jenkinsfile",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".pre-commit-config.yaml",
    ".envrc",
    ".vscode",
    ".devcontainer",
    ".bot-bottle",
    "bot-bottle.json",
];

/// The URL the agent's `origin` points at.
pub fn agent_url() -> String {
    format!("http://{SERVICE}:{GATE_PORT}/{REPO}")
}

/// The branch prefix pushes land under in the operator's repository.
pub fn land_prefix(slug: &str) -> String {
    format!("bot-bottle/{slug}/")
}

/// `gate.json`: everything the gate decides by. Written by the plan from
/// the manifest; the gate never changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateConfig {
    pub slug: String,
    /// An operator repository is mounted at `/operator`.
    pub operator: bool,
    /// The operator's checked-out branch, the clone's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Patterns as in `DEFAULT_PROTECTED`, already expanded.
    pub protected_paths: Vec<String>,
    pub allow: Allow,
    /// Bytes one push may bring.
    pub max_push_bytes: u64,
    pub remotes: Vec<RemoteConfig>,
}

/// What the manifest allows beyond fast-forwards of branches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allow {
    pub force_push: bool,
    pub delete: bool,
    pub tags: bool,
}

/// An upstream the gate forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteConfig {
    pub name: String,
    pub url: String,
    /// Branch patterns (`*` within a name component, `**` across) pushed
    /// on without asking; any other branch is a proposal.
    pub branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RemoteAuth>,
}

/// How the gate authenticates to a remote. Secrets are named, never held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RemoteAuth {
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
    pub branches: Vec<LandedBranch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandedBranch {
    /// The agent's branch name (`feature`).
    pub branch: String,
    /// The operator's branch (`bot-bottle/<slug>/feature`).
    pub landed_as: String,
    pub commit: String,
    pub at: String,
    /// Remotes it was forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded: Vec<String>,
}

/// Reads a bottle's `landed.json`: the sidecar writes it, so it is read
/// bounded and a bad one reads as nothing landed.
pub fn read_landed(gate_dir: &Path) -> Landed {
    crate::state::read_bounded(&gate_dir.join(LANDED_FILE), 1 << 20)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The push policy in words, for the agent (`git-push-policy`) and the
/// prompt. Pure.
pub fn policy_text(config: &GateConfig) -> String {
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
        "- A push larger than {} MiB is refused.\n",
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
