//! Where things are inside a bottle's containers, whichever backend runs
//! it: the agent's workdir, user and config folder, a sidecar's state
//! folder and the files in it that both sides name, the git gate's
//! mounts, and the file that says the agent is set up.

/// The bot-bottle binary inside the sidecar images (their entrypoint).
pub const BINARY: &str = "/bot-bottle";
/// Where the agent's state folder is mounted, read-only.
pub const AGENT_CONFIG_DIR: &str = "/etc/bot-bottle";
/// Where a sidecar's state folder is mounted.
pub const SIDECAR_STATE_DIR: &str = "/state";
/// The agent's working directory: its workspace.
pub const WORKDIR: &str = "/workspace";
/// Created by the agent once it is set up; its healthcheck.
pub const READY_FILE: &str = "/tmp/.bot-bottle-ready";
/// The agent's user; the embedded Dockerfiles create it.
pub const AGENT_USER: &str = "1000:1000";

/// Where the operator's git directory is mounted in the git gate.
pub const OPERATOR_MOUNT: &str = "/operator";
/// Where the bottle's audit log is mounted in the git gate.
pub const AUDIT_MOUNT: &str = "/audit.jsonl";

/// The bottle key's file, in each sidecar's state folder.
pub const CLIENT_KEY_FILE: &str = "client-key";
/// Egress's DNS answers, `{"name": "IPv4"}`, in its state folder.
pub const HOSTS_FILE: &str = "dns-hosts.json";
