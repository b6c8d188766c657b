//! The dashboard's vocabulary: what it learns (`Msg`), what it asks the
//! runtime to do (`Effect`), what it shows (`AgentRow`, `Modal`) and
//! what `n` asks for (`NewAgent`). Data only; the logic is in `App`.

use ratatui::crossterm::event::KeyEvent;

use super::launch::TrustStep;
use crate::backend::Landed;
use crate::dashboard::detail::Detail;
use crate::launch::freeze::Switch;
use crate::launch::steps::Steps;
use crate::manifest::Summary;
use crate::picker::{MultiPicker, Picker, Prompt};
use crate::supervise::apply::Pending;
use crate::verify::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Focus {
    Proposals,
    Agents,
}

/// A running bottle, as the agents pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentRow {
    pub backend: String,
    pub slug: String,
    pub label: String,
    pub color: String,
    pub agent: String,
    pub started_at: String,
    /// Sidecars up; empty while only the agent is.
    pub services: Vec<String>,
    /// The branches its git gate landed (inert).
    pub landed: Vec<Landed>,
    /// The operator froze it (`f`, `bot-bottle freeze`).
    pub frozen: bool,
    /// It sleeps: idle past `idle_after`, its agent paused until wanted.
    pub asleep: bool,
    /// The tokens its model APIs reported (`12.3k in · 4.5k out`).
    pub tokens: Option<String>,
    /// Its agent stopped without `stop` (the engine restarted): `R`
    /// resumes it.
    pub stopped: bool,
    /// The last check of its seal; none before one.
    pub seal: Option<Report>,
    /// Another home made it: this dashboard neither checks nor schedules
    /// its seal.
    pub other_home: bool,
}

/// What came of a check of a bottle's seal (`Effect::Verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Every probe met its refusal; this many ran.
    Sealed { probes: usize },
    /// A probe got through: the bottle is frozen (or freezing it failed);
    /// the error's text says which probe and what became of the bottle.
    Unsealed(String),
    /// The check did not run (the bottle is not running, is frozen…).
    Failed(String),
}

/// An agent definition the `n` picker offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentChoice {
    pub name: String,
    pub description: String,
    /// Its default bottles.
    pub bottles: Vec<String>,
    /// Its own color, if it names one.
    pub color: Option<String>,
}

/// What `n` asks for, once chosen: the steps' (`launch::steps`), the same
/// as `start` on a terminal.
pub(crate) use crate::launch::steps::Chosen as NewAgent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Modal {
    /// A proposal in full; `a` here is the only way to approve.
    Detail(Box<Detail>),
    /// The reason for a rejection.
    Reason {
        id: String,
        input: String,
    },
    /// After `a` in a detail read in full: approving waits for `y`, typed
    /// once the question has been on screen `CONFIRM_MS` (since `since`);
    /// any other key goes back to the detail.
    Confirm {
        detail: Box<Detail>,
        since: u64,
    },
    /// After `a` on a proposal that sends an existing credential to more
    /// paths: the operator types "yes".
    Widen {
        detail: Box<Detail>,
        input: String,
    },
    /// The host variable holding a new route's credential; starts empty.
    TokenEnv {
        detail: Box<Detail>,
        /// The operator confirmed widening first.
        widen: bool,
        input: String,
    },
    /// `n` in a directory whose manifest is not trusted: what trusting it
    /// would use, and `y` to trust it (see `launch`).
    Trust(Box<TrustStep>),
    PickAgent(Picker),
    /// The `n` flow after the agent: each step shows what `launch::steps`
    /// asks, and carries the steps so far.
    PickBottle {
        request: Steps,
        picker: MultiPicker,
    },
    Label {
        request: Steps,
        prompt: Prompt,
    },
    PickColor {
        request: Steps,
        picker: Picker,
    },
    Cwd {
        request: Steps,
        prompt: Prompt,
    },
    PickBackend {
        request: Steps,
        picker: Picker,
    },
    Preflight {
        request: NewAgent,
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    Key(KeyEvent),
    /// A bracketed paste: a tmux binding's request (`bot-bottle:Y:ID`, see
    /// `parse_binding`); anything else pasted is ignored.
    Paste(String),
    /// The time, in milliseconds since the dashboard started.
    Tick(u64),
    /// The size of the frame the dashboard is drawn in.
    Resize {
        width: u16,
        height: u16,
    },
    Bottles(Vec<AgentRow>),
    /// The pending proposals, oldest first, with what approving grants.
    Proposals(Vec<Pending>),
    /// The session pane of this bottle printed something.
    Output(String),
    Status(String),
    /// What `n` offers, read again after the trust step; `pick` goes on
    /// to the agent.
    Offer {
        choices: Vec<AgentChoice>,
        bottles: Vec<String>,
        /// The directory's manifest, when it is (still) not trusted.
        untrusted: Option<Box<Summary>>,
        status: String,
        pick: bool,
    },
    /// A plan for `n`, to confirm.
    Preflight {
        request: NewAgent,
        text: String,
    },
    /// A bottle this dashboard started is up; its session is on the right.
    Started(String),
    /// A bottle this dashboard stopped is gone.
    Stopped(String),
    /// The operator saved an edit of proposal `old`: it was withdrawn for
    /// the new proposal `new`, which is shown to be read.
    Modified {
        old: String,
        new: String,
    },
    /// The focus jump of an alert is done: keys reach the dashboard now.
    Focused,
    /// A check of this bottle's seal ended.
    Verified {
        slug: String,
        outcome: Checked,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Put the bottle's session in the right pane; `focus` moves the user there.
    Show {
        slug: String,
        focus: bool,
    },
    /// Close the right pane (no agent left to show).
    CloseRight,
    /// Approve what the operator read: `digest` is the digest of the
    /// detail on screen (`apply::digest`), and approving is refused if the
    /// proposal now shows anything else.
    Approve {
        id: String,
        token_env: Option<String>,
        /// The operator confirmed sending an existing credential to more
        /// paths (never without the preview saying so).
        widen_credential: bool,
        digest: String,
    },
    /// Let the operator edit the request; what they save is shown again.
    Modify {
        id: String,
    },
    Reject {
        id: String,
        reason: Option<String>,
    },
    /// Edit a running bottle's routes in $EDITOR, as `bot-bottle routes
    /// edit` does (checked, reloaded, rolled back, audited); the outcome
    /// comes back as a status.
    EditRoutes {
        slug: String,
    },
    /// Show this text (a proposal's detail, inert) in $PAGER. Reading it
    /// there approves nothing: the detail still needs every row on screen.
    View {
        id: String,
        text: String,
    },
    /// Trust the directory's manifest, if it is still what was shown;
    /// then read the manifests again (`Msg::Offer`).
    Trust(Box<Summary>),
    /// Plan a new agent and come back with its preflight.
    Preflight(NewAgent),
    /// Launch it, the bring-up log in the right pane.
    Launch(NewAgent),
    /// Take a bottle down, the teardown log in the right pane.
    Stop {
        slug: String,
    },
    /// The kill switch: freeze (or thaw) these bottles at once.
    Switch {
        slugs: Vec<String>,
        to: Switch,
    },
    /// These bottles were idle past `idle_after`: their agents paused.
    Sleep {
        slugs: Vec<String>,
    },
    /// This sleeping bottle is wanted (selected): its agent resumed.
    Wake {
        slug: String,
    },
    /// Bring a bottle the engine stopped back up (as `bot-bottle resume`),
    /// its bring-up log in the right pane, then its session.
    Resume {
        slug: String,
    },
    /// Check this bottle's seal now (`launch::verify::check`: a failure
    /// freezes it); the outcome comes back as `Msg::Verified`.
    Verify {
        slug: String,
    },
    Bell,
    /// Bring the user to the dashboard pane, from wherever they are.
    FocusDashboard,
    /// For the tmux status line: the pending count, and the id `prefix Y`
    /// and `prefix N` act on (the oldest pending).
    SetPending {
        count: usize,
        next: Option<String>,
    },
    Quit,
}
