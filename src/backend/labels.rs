//! The labels bot-bottle puts on what it makes for a bottle (containers,
//! networks, machines), so one query per kind finds all of its own.

/// The bottle's identity.
pub const LABEL_SLUG: &str = "dev.bot-bottle.slug";
/// The agent the bottle runs.
pub const LABEL_AGENT: &str = "dev.bot-bottle.agent";
/// Its part in the bottle: a service's name (`agent`, `egress`…), or
/// `seal` for the short-lived container that seals its bridge.
pub const LABEL_ROLE: &str = "dev.bot-bottle.role";
