//! The services of a bottle: their names (compose service, container
//! role, host name on the bottle's network, and folder in the bottle's
//! state folder are all the same word) and the ports the sidecars serve.

use std::net::{Ipv4Addr, SocketAddr};

/// The agent's service.
pub const AGENT: &str = "agent";
/// The egress proxy sidecar.
pub const EGRESS: &str = "egress";
/// The supervise sidecar: the agent's MCP tools to ask for capability.
pub const SUPERVISE: &str = "supervise";
/// The git gate sidecar.
pub const GIT_GATE: &str = "git-gate";

/// The port egress serves its proxy on.
pub const PROXY_PORT: u16 = 3128;
/// The port supervise serves MCP on.
pub const MCP_PORT: u16 = 8765;
/// The path supervise serves MCP at.
pub const MCP_PATH: &str = "/mcp";
/// The port the git gate serves git on.
pub const GATE_PORT: u16 = 8418;

/// The host the seal's probe asks egress for (`verify`): under `.invalid`,
/// so no route can name it and no resolver answers it. Egress refuses it
/// like any host without a route, but names no tool for it, so learning
/// mode does not learn it.
pub const PROBE_HOST: &str = "seal-probe.bot-bottle.invalid";

/// A sidecar of a bottle: its service name and the port it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// `EGRESS`, on `PROXY_PORT`.
    Egress,
    /// `SUPERVISE`, on `MCP_PORT`.
    Supervise,
    /// `GIT_GATE`, on `GATE_PORT`.
    GitGate,
}

impl Sidecar {
    /// Every sidecar, in the compose document's order.
    pub const ALL: [Sidecar; 3] = [Sidecar::Egress, Sidecar::Supervise, Sidecar::GitGate];

    /// Its service name.
    pub fn name(self) -> &'static str {
        match self {
            Sidecar::Egress => EGRESS,
            Sidecar::Supervise => SUPERVISE,
            Sidecar::GitGate => GIT_GATE,
        }
    }

    /// The port it serves, in its container.
    pub fn port(self) -> u16 {
        match self {
            Sidecar::Egress => PROXY_PORT,
            Sidecar::Supervise => MCP_PORT,
            Sidecar::GitGate => GATE_PORT,
        }
    }
}

/// What a sidecar listens on by default in its container: every address,
/// on its port.
pub fn listen_any(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}

/// The compose project of bottle `slug`: `bot-bottle-<slug>`.
pub fn project(slug: &str) -> String {
    format!("bot-bottle-{slug}")
}

/// The container of a bottle's service: `bot-bottle-<slug>-<service>`.
pub fn container(slug: &str, service: &str) -> String {
    format!("{}-{service}", project(slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(project("a-1"), "bot-bottle-a-1");
        assert_eq!(container("a-1", "agent"), "bot-bottle-a-1-agent");
        assert_eq!(listen_any(8765).to_string(), "0.0.0.0:8765");
    }
}
