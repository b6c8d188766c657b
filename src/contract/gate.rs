//! The git gate's environment: what its server sets for the hooks of its
//! repository, and what `bot-bottle sidecar git-decide` also reads.

/// The gate's state folder.
pub const STATE_VAR: &str = "BOT_BOTTLE_GATE_STATE";
/// The operator's git directory, when mounted.
pub const OPERATOR_VAR: &str = "BOT_BOTTLE_GATE_OPERATOR";
/// The bottle's audit log, when mounted.
pub const AUDIT_VAR: &str = "BOT_BOTTLE_GATE_AUDIT";
/// The program the hook scripts run, when not the running binary.
pub const HOOK_BIN_VAR: &str = "BOT_BOTTLE_GATE_HOOK_BIN";
