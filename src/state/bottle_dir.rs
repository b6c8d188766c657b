//! The one description of a bottle's state folder, `state/<slug>/`:
//!
//! ```text
//! metadata.json          what `resume` needs to relaunch the bottle
//! routes.json            the live routes, and which host variable fills
//!                        each token slot (kept by the host, where no
//!                        sidecar can write; `resume` uses it)
//! .preserve              keep this state after teardown
//! .lock                  held while the operator's side changes the bottle
//! compose.json           the compose project's document, written by the
//!                        backend at bring-up (for smolmachines, its
//!                        sidecars alone)
//! Dockerfile             the bottle's own Dockerfile, once a proposal
//!                        changed it (built instead of the manifest's),
//!                        its images pinned by id
//! base-images.json       the images an agent's Dockerfile may read (kept
//!                        by the host: approvals check against it)
//! transcript.tar         the agent's session files, kept for `resume`
//! work-tree.list         the working tree's files copied into the
//!                        workspace at bring-up, each ended by a NUL
//! smolvm-env/            a smolmachines bottle's variables that carry
//!                        its key, one file each (smolvm --secret-file)
//!                                                              (secret)
//! agent/                 mounted read-only into the agent
//!   Dockerfile           the image's current Dockerfile
//!   ca.pem               the bottle's CA, trusted by the agent
//! egress/                the egress sidecar's state folder
//!   ca.pem ca.key        the bottle's CA                       (key: secret)
//!   routes.json          the policy egress enforces
//!   tokens.json          the route credentials                 (secret)
//!   upstream-ca/         extra upstream CAs
//!   client-key           the bottle key, on smolmachines       (secret)
//!   dns-hosts.json       the sidecars' names and addresses, which a
//!                        smolmachines bottle's resolver answers
//! supervise/             the supervise sidecar's folder and proposal queue
//!   routes.json          what `list-egress-routes` shows
//!   base-images.json     the images a capability-block may read
//!   git-policy.md        the push policy in words
//!   decisions.jsonl      what egress allowed and denied (the agent
//!                        chooses the URLs in it)
//!   client-key           the bottle key, on smolmachines       (secret)
//! suggestions/           proposals made on the host from denied
//!                        requests (learning mode); no sidecar mounts it
//! git-gate/              the git gate's folder and held-push queue
//!   gate.json            its config
//!   tokens.json          remote credentials and scan secrets   (secret)
//!   ssh/                 ssh keys and known_hosts              (secret)
//!   upstream-ca.pem      extra CAs for HTTPS remotes
//!   landed.json          what landed in the operator's repository
//!   client-key           the bottle key, on smolmachines       (secret)
//! ```
//!
//! Every path is spelled here and nowhere else: writers and readers ask a
//! `BottleDir` for it. `BottleDir::relative()` gives the same paths
//! relative to the folder, for the plan, which names its files so.
//! The secret ones are listed by `secrets()`, which teardown removes.

use std::path::{Path, PathBuf};

use crate::contract::paths::agent_files;
use crate::contract::services::{AGENT, EGRESS, GIT_GATE, SUPERVISE};
use crate::dockerfile::images;
use crate::egress::config as egress;

/// The host's own queue of suggestions (not a service).
pub(crate) const SUGGESTIONS: &str = "suggestions";

/// The compose document's name.
const COMPOSE_FILE: &str = "compose.json";
/// Present while the bottle sleeps (idle: its agent paused by the
/// dashboard until it is selected, attached or exec'd into).
const ASLEEP_FILE: &str = "asleep";
/// Written each time `attach` or `exec` uses the bottle: the dashboard
/// counts it as activity.
pub(crate) const USED_FILE: &str = "used";
/// The last check of the bottle's seal (`verify::Report`, JSON).
const SEAL_FILE: &str = "seal.json";

/// Files of the supervise sidecar's folder that it reads by these names.
pub(crate) mod supervise_files {
    /// The live routes, a copy without secrets that the host keeps
    /// current, for the `list-egress-routes` tool.
    pub(crate) const ROUTES_VIEW: &str = "routes.json";
    /// The push policy in words (`gitgate::policy_text`), for the
    /// `git-push-policy` tool.
    pub(crate) const POLICY_FILE: &str = "git-policy.md";
}

/// Files of the git gate's folder (`/state` in its container) that the gate
/// reads by these names.
pub mod gate_files {
    /// The config file, `gitgate::GateConfig`, written by the plan.
    pub const CONFIG_FILE: &str = "gate.json";
    /// The credentials and scan secrets.
    pub(crate) const TOKENS_FILE: &str = "tokens.json";
    /// The ssh keys and known_hosts.
    pub(crate) const SSH_DIR: &str = "ssh";
    /// Extra CA certificates (PEM) the gate trusts for HTTPS remotes,
    /// beside the system's: the bottle's `egress.trust_upstream_ca`.
    pub(crate) const UPSTREAM_CA_FILE: &str = "upstream-ca.pem";
}

/// `state/<slug>/`, or the same layout relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BottleDir {
    root: PathBuf,
}

impl BottleDir {
    /// The layout at `root`, a bottle's state folder.
    pub fn new(root: PathBuf) -> BottleDir {
        BottleDir { root }
    }

    /// The layout relative to the state folder: `egress/tokens.json`, ...
    pub(crate) fn relative() -> BottleDir {
        BottleDir {
            root: PathBuf::new(),
        }
    }

    /// The state folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// What `resume` needs to relaunch the bottle (`state::Metadata`).
    pub fn metadata(&self) -> PathBuf {
        self.at("metadata.json")
    }

    /// The host's record of the live routes (`state::LiveRoutes`).
    pub(crate) fn live_routes(&self) -> PathBuf {
        self.at("routes.json")
    }

    /// There when the state is kept after teardown.
    pub fn preserve(&self) -> PathBuf {
        self.at(".preserve")
    }

    /// Held while the operator's side changes the bottle.
    pub fn lock(&self) -> PathBuf {
        self.at(".lock")
    }

    /// The compose project's document.
    pub fn compose_file(&self) -> PathBuf {
        self.at(COMPOSE_FILE)
    }

    /// The bottle's own Dockerfile, once an approved proposal changed it.
    pub fn own_dockerfile(&self) -> PathBuf {
        self.at("Dockerfile")
    }

    /// The images an agent's Dockerfile may read
    /// (`dockerfile::images::Allowed`), as the launch recorded them.
    pub(crate) fn base_images(&self) -> PathBuf {
        self.at(images::ALLOWED_FILE)
    }

    /// The agent's session files, kept for `resume`.
    pub fn transcript(&self) -> PathBuf {
        self.at("transcript.tar")
    }

    /// The working tree's files copied into the workspace at bring-up.
    pub fn work_tree_list(&self) -> PathBuf {
        self.at("work-tree.list")
    }

    /// A smolmachines bottle's variables that carry its key: one file a
    /// variable, named after it, which smolvm reads at each exec.
    pub(crate) fn smolvm_env(&self) -> PathBuf {
        self.at("smolvm-env")
    }

    /// The bottle key a sidecar requires (smolmachines), in its folder.
    pub(crate) fn client_key(&self, service: &str) -> PathBuf {
        self.service(service)
            .join(crate::contract::paths::CLIENT_KEY_FILE)
    }

    /// The names a smolmachines bottle's resolver answers.
    pub(crate) fn egress_dns_hosts(&self) -> PathBuf {
        self.egress_dir().join(crate::contract::paths::HOSTS_FILE)
    }

    /// A service's folder, bind-mounted into its container.
    pub(crate) fn service(&self, name: &str) -> PathBuf {
        self.at(name)
    }

    pub(crate) fn agent_dir(&self) -> PathBuf {
        self.service(AGENT)
    }

    /// The image's current Dockerfile, which the agent reads.
    pub fn agent_dockerfile(&self) -> PathBuf {
        self.agent_dir().join(agent_files::DOCKERFILE)
    }

    pub(crate) fn agent_ca(&self) -> PathBuf {
        self.agent_dir().join(agent_files::CA)
    }

    /// The egress sidecar's folder.
    pub fn egress_dir(&self) -> PathBuf {
        self.service(EGRESS)
    }

    /// The bottle's CA certificate.
    pub fn egress_ca(&self) -> PathBuf {
        self.egress_dir().join(egress::CA_CERT_FILE)
    }

    /// The bottle's CA key (secret).
    pub fn egress_ca_key(&self) -> PathBuf {
        self.egress_dir().join(egress::CA_KEY_FILE)
    }

    /// The policy the egress sidecar enforces.
    pub fn egress_routes(&self) -> PathBuf {
        self.egress_dir().join(egress::ROUTES_FILE)
    }

    /// The route credentials, `{slot: value}`.
    pub fn egress_tokens(&self) -> PathBuf {
        self.egress_dir().join(egress::TOKENS_FILE)
    }

    /// The decision log egress writes.
    pub fn egress_decisions(&self) -> PathBuf {
        self.egress_dir().join(egress::DECISIONS_FILE)
    }

    /// Present while the operator has the bottle frozen: its egress
    /// refuses everything (see `launch::freeze`).
    pub fn egress_frozen(&self) -> PathBuf {
        self.egress_dir().join(egress::FROZEN_FILE)
    }

    /// The token usage egress counted, by model (`egress::usage`).
    pub(crate) fn egress_usage(&self) -> PathBuf {
        self.egress_dir().join(egress::USAGE_FILE)
    }

    /// Whether the operator has the bottle frozen.
    pub fn is_frozen(&self) -> bool {
        self.egress_frozen().symlink_metadata().is_ok()
    }

    /// Present while the bottle sleeps (see `launch::freeze::sleep`).
    pub fn asleep_marker(&self) -> PathBuf {
        self.at(ASLEEP_FILE)
    }

    /// Written when `attach` or `exec` uses the bottle (see `USED_FILE`).
    pub(crate) fn used_marker(&self) -> PathBuf {
        self.at(USED_FILE)
    }

    /// The last check of the bottle's seal (see `launch::verify`).
    pub fn seal_report(&self) -> PathBuf {
        self.at(SEAL_FILE)
    }

    /// Whether the bottle sleeps.
    pub fn is_asleep(&self) -> bool {
        self.asleep_marker().symlink_metadata().is_ok()
    }

    /// The queue of proposals made from denied requests; only the host
    /// writes it.
    pub fn suggestions_dir(&self) -> PathBuf {
        self.at(SUGGESTIONS)
    }

    /// The `i`th extra upstream CA egress trusts.
    pub(crate) fn egress_upstream_ca(&self, i: usize) -> PathBuf {
        self.egress_dir()
            .join("upstream-ca")
            .join(format!("{i}.pem"))
    }

    /// The supervise sidecar's folder, also its proposal queue.
    pub fn supervise_dir(&self) -> PathBuf {
        self.service(SUPERVISE)
    }

    /// What supervise's `list-egress-routes` shows.
    pub(crate) fn routes_view(&self) -> PathBuf {
        self.supervise_dir().join(supervise_files::ROUTES_VIEW)
    }

    /// The same list, for supervise to check a capability-block with.
    pub(crate) fn supervise_base_images(&self) -> PathBuf {
        self.supervise_dir().join(images::ALLOWED_FILE)
    }

    pub(crate) fn git_policy(&self) -> PathBuf {
        self.supervise_dir().join(supervise_files::POLICY_FILE)
    }

    /// The git gate's folder, also its held-push queue.
    pub(crate) fn gate_dir(&self) -> PathBuf {
        self.service(GIT_GATE)
    }

    pub(crate) fn gate_config(&self) -> PathBuf {
        self.gate_dir().join(gate_files::CONFIG_FILE)
    }

    pub(crate) fn gate_tokens(&self) -> PathBuf {
        self.gate_dir().join(gate_files::TOKENS_FILE)
    }

    pub(crate) fn gate_ssh(&self) -> PathBuf {
        self.gate_dir().join(gate_files::SSH_DIR)
    }

    pub(crate) fn gate_upstream_ca(&self) -> PathBuf {
        self.gate_dir().join(gate_files::UPSTREAM_CA_FILE)
    }

    /// Everything that may hold a secret, files and folders: removed
    /// whenever the bottle is down, even when its state is kept.
    pub(crate) fn secrets(&self) -> [PathBuf; 8] {
        [
            self.egress_tokens(),
            self.egress_ca_key(),
            self.gate_tokens(),
            self.gate_ssh(),
            self.client_key(EGRESS),
            self.client_key(SUPERVISE),
            self.client_key(GIT_GATE),
            self.smolvm_env(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_rooted_agree() {
        let rel = BottleDir::relative();
        let dir = BottleDir::new("/h/state/a-1".into());
        assert_eq!(rel.egress_tokens(), Path::new("egress/tokens.json"));
        assert_eq!(rel.gate_ssh(), Path::new("git-gate/ssh"));
        assert_eq!(rel.live_routes(), Path::new("routes.json"));
        assert_eq!(
            dir.egress_tokens(),
            Path::new("/h/state/a-1/egress/tokens.json")
        );
        for (r, a) in rel.secrets().iter().zip(dir.secrets()) {
            assert_eq!(dir.root().join(r), a);
        }
    }
}
