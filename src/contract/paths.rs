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

/// The agent's files: in its folder of the bottle's state folder on the
/// host, and in `AGENT_CONFIG_DIR` in its container.
pub mod agent_files {
    /// What the agent's container runs: readies it, then the session.
    pub const START_SCRIPT: &str = "start.sh";
    /// The MCP configuration that points the agent at supervise.
    pub const MCP_CONFIG: &str = "mcp.json";
    /// The agent's prompt, when it has one.
    pub const PROMPT: &str = "prompt.md";
    /// The image's current Dockerfile, for a capability-block.
    pub const DOCKERFILE: &str = "Dockerfile";
    /// The bottle's CA certificate, which the agent trusts.
    pub const CA: &str = "ca.pem";
}

/// Where one of the agent's files (`agent_files`) is in its container.
pub fn agent_file(name: &str) -> String {
    format!("{AGENT_CONFIG_DIR}/{name}")
}
