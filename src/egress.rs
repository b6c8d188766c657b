//! The egress sidecar: the bottle's only way out. A forward proxy that
//! intercepts TLS with the bottle's CA, lets through only what a route
//! allows, adds the route's credential (which the agent never sees),
//! refuses requests that carry secrets, and keeps the credential from
//! coming back in an answer.

pub(crate) mod address;
pub(crate) mod agent_body;
pub mod ca;
pub mod client_key;
pub mod config;
pub(crate) mod decisions;
pub(crate) mod decode;
pub mod dlp;
pub(crate) mod forward;
pub mod listen;
pub(crate) mod path;
pub mod policy;
pub mod proxy;
pub(crate) mod request_body;
pub(crate) mod resolver;
pub(crate) mod response;
pub(crate) mod scan_body;
pub(crate) mod server_tools;
pub mod upstream;
pub(crate) mod usage;
