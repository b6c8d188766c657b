//! The contract between the host and a bottle's containers, each name
//! spelled once: the services of a bottle and their ports
//! (`services`), where things are inside the containers (`paths`), and
//! the sidecars' command lines (`command`). Both sides use it: the
//! backends that write a bottle's plan and run its sidecars, and the
//! sidecars (`bot-bottle sidecar …`) that read what the plan wrote. The
//! git gate's environment (`gate`), the auth schemes (`auth`), the audit
//! log's actors and decisions
//! (`audit`) and the tmux options the dashboard sets for the session's
//! configuration (`tmux`) are here too.
//!
//! It names no other module of the crate, so every module may name it.

pub mod audit;
pub mod auth;
pub mod command;
pub mod gate;
pub mod paths;
pub mod services;
pub mod tmux;
