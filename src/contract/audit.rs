//! The words of the audit log (`proposal::audit`): who acted, and what
//! was decided. The host, the supervise sidecar and the git gate all
//! write it; the dashboard and `list` read it.

/// Who asked or acted (an entry's `actor`).
pub mod actor {
    /// The agent: a proposal, or a push through the git gate.
    pub const AGENT: &str = "agent";
    /// A suggestion learning mode made from denied requests.
    pub const DENIED: &str = "denied";
    /// The operator: an edit of their own.
    pub const OPERATOR: &str = "operator";
}

/// What was decided (an entry's `decision`).
pub mod decision {
    /// The operator approved a proposal.
    pub const APPROVED: &str = "approved";
    /// The operator rejected a proposal.
    pub const REJECTED: &str = "rejected";
    /// The operator edited the routes, or an asked proposal was narrowed.
    pub const EDITED: &str = "edited";
    /// The git gate landed a push in the operator's repository.
    pub const LANDED: &str = "landed";
    /// The git gate forwarded a push to a remote.
    pub const FORWARDED: &str = "forwarded";
    /// The git gate held a push for the operator.
    pub const HELD: &str = "held";
    /// The git gate refused a push.
    pub const REFUSED: &str = "refused";
}
