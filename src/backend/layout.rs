//! Where things are inside a bottle, whichever backend runs it: the
//! agent's workdir, user and config folder, a sidecar's state folder, and
//! the file that says the agent is set up.

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
