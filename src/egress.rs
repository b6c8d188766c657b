//! The egress sidecar: the bottle's only way out. A forward proxy that
//! intercepts TLS with the bottle's CA, lets through only what a route
//! allows, adds the route's credential (which the agent never sees), and
//! refuses requests that carry secrets.

pub mod ca;
pub mod config;
pub mod decisions;
pub mod dlp;
pub mod forward;
pub mod policy;
pub mod proxy;
pub mod upstream;
