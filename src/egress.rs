//! The egress sidecar: the bottle's only way out. A forward proxy that
//! intercepts TLS with the bottle's CA, lets through only what a route
//! allows, adds the route's credential (which the agent never sees),
//! refuses requests that carry secrets, and keeps the credential from
//! coming back in an answer.

pub mod address;
pub mod agent_body;
pub mod ca;
pub mod client_key;
pub mod config;
pub mod decisions;
pub mod decode;
pub mod dlp;
pub mod forward;
pub mod listen;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod request_body;
pub mod resolver;
pub mod response;
pub mod scan_body;
pub mod server_tools;
pub mod upstream;
