//! Reviewing and deciding a proposal, pure. Approving is a deliberate act:
//!
//! - after an alert moves focus here, keys are ignored until the keyboard
//!   has been quiet for `GUARD_MS`, so what the operator was typing
//!   elsewhere decides nothing;
//! - Enter or `v` in the list opens the detail, and `a` in the detail
//!   approves: no key both opens and approves, so typing `a`, a pause,
//!   `a` approves nothing (`a` in the list says how to read it); `a`
//!   asks only once every row of the detail has been on screen and it
//!   has been open `DWELL_MS`;
//! - `a` asks, and only `y` typed after the question has been on screen
//!   `CONFIRM_MS` approves (any other key goes back): typing that runs on
//!   — a command, Enter, a pause, a word starting with `a` — answers
//!   nothing;
//! - an approval carries the digest of the detail read, and is refused if
//!   the proposal shows anything else by then; a proposal withdrawn for a
//!   changed one closes its detail and says so (the new one is read
//!   afresh);
//! - widening where an existing credential goes needs "yes" typed; a new
//!   credential needs its host variable typed into an empty prompt;
//! - `prefix Y` / `prefix N` (tmux bindings) name the proposal the status
//!   line shows and open its detail / reason prompt, never approve.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Focus, GUARD_MS, Line, Modal, edit_line};
use crate::dashboard::detail::{Detail, Scroll};
use crate::proposal::Request;
use crate::proposal::queue::check_id;
use crate::supervise::apply::digest;

/// How long the approval question is on screen before `y` counts.
pub(crate) const CONFIRM_MS: u64 = 1_000;

/// What a tmux binding's paste starts with.
const BINDING_PREFIX: &str = "bot-bottle:";

/// A request from a tmux binding, delivered as a bracketed paste (which
/// no key typed can produce, and the dashboard pane's input only gets
/// from tmux and the operator's keyboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// `prefix Y`: open this proposal's detail (empty: none was pending).
    Open(String),
    /// `prefix N`: ask the reason to reject this one.
    Reject(String),
    /// `prefix P`: the cursor to the next proposal.
    NextProposal,
    /// `prefix J` / `prefix K`: show the next / previous agent.
    NextAgent,
    PreviousAgent,
}

/// `bot-bottle:Y:ID`, `bot-bottle:N:ID`, `bot-bottle:P`, `bot-bottle:J`,
/// `bot-bottle:K`; anything else is no binding.
pub(crate) fn parse_binding(text: &str) -> Option<Binding> {
    let rest = text.strip_prefix(BINDING_PREFIX)?;
    match rest.split_once(':') {
        Some(("Y", id)) => Some(Binding::Open(id.to_owned())),
        Some(("N", id)) => Some(Binding::Reject(id.to_owned())),
        None => match rest {
            "P" => Some(Binding::NextProposal),
            "J" => Some(Binding::NextAgent),
            "K" => Some(Binding::PreviousAgent),
            _ => None,
        },
        Some(_) => None,
    }
}

fn host(request: &Request) -> Option<&str> {
    match request {
        Request::EgressBlock { host, .. } | Request::PipelockBlock { host, .. } => Some(host),
        Request::CapabilityBlock { .. } | Request::GitPush(_) | Request::Budget { .. } => None,
    }
}

fn variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl App {
    /// Whether to ignore this key (or paste): focus was moved here by an
    /// alert less than `GUARD_MS` ago, or keys kept coming since. Each
    /// ignored key pushes the end back: the guard ends when the keyboard
    /// has been quiet for `GUARD_MS`.
    pub(super) fn swallow(&mut self) -> bool {
        if !self.guarded() {
            return false;
        }
        self.guard_until = self.now + GUARD_MS;
        self.status = Some(
            "a new proposal just arrived: keys are ignored until you pause for a second".into(),
        );
        true
    }

    /// A paste: a tmux binding's request, or ignored.
    pub(super) fn paste(&mut self, text: &str) -> Vec<Effect> {
        let Some(binding) = parse_binding(text) else {
            self.status = Some("pasting is ignored in the dashboard: type instead".into());
            return Vec::new();
        };
        let pending = |app: &mut App, id: &str| -> bool {
            if id.is_empty() {
                app.status = Some("no proposal is pending".into());
                false
            } else if check_id(id).is_err() {
                app.status = Some("that is not a proposal id".into());
                false
            } else if app.pending(id).is_none() {
                app.status = Some(format!("proposal {id} is no longer pending"));
                false
            } else {
                true
            }
        };
        match binding {
            Binding::Open(id) => {
                if pending(self, &id) {
                    self.open_detail(&id);
                }
                Vec::new()
            }
            Binding::Reject(id) => {
                if pending(self, &id) {
                    self.ask_reason(&id);
                }
                Vec::new()
            }
            Binding::NextProposal => self.next_in_list(),
            Binding::NextAgent => self.cycle(1),
            Binding::PreviousAgent => self.cycle(-1),
        }
    }

    /// Opens the detail of a pending proposal, the cursor on its row.
    pub(super) fn open_detail(&mut self, id: &str) -> bool {
        let Some(i) = self.proposals.iter().position(|p| p.proposal.id == id) else {
            return false;
        };
        self.focus = Focus::Proposals;
        self.proposal_sel = i;
        let shown = self.proposals[i].clone();
        self.modal = Some(Modal::Detail(Box::new(Detail::new(
            shown, self.now, self.size,
        ))));
        true
    }

    pub(super) fn ask_reason(&mut self, id: &str) {
        self.focus = Focus::Proposals;
        if let Some(i) = self.proposals.iter().position(|p| p.proposal.id == id) {
            self.proposal_sel = i;
        }
        self.modal = Some(Modal::Reason {
            id: id.to_owned(),
            input: String::new(),
        });
    }

    /// After a resize: what the detail shows now is seen.
    pub(super) fn fit_detail(&mut self) {
        let size = self.size;
        if let Some(
            Modal::Detail(d)
            | Modal::Confirm { detail: d, .. }
            | Modal::Widen { detail: d, .. }
            | Modal::TokenEnv { detail: d, .. },
        ) = &mut self.modal
        {
            d.fit(size);
        }
    }

    /// After a new listing: a modal about a proposal that is gone closes;
    /// one whose proposal (or what approving it grants) changed goes back
    /// to the detail, to be read again from the start of the dwell.
    pub(super) fn follow_modal(&mut self) {
        let Some(modal) = self.modal.take() else {
            return;
        };
        let id = match &modal {
            Modal::Detail(d)
            | Modal::Confirm { detail: d, .. }
            | Modal::Widen { detail: d, .. }
            | Modal::TokenEnv { detail: d, .. } => d.id().to_owned(),
            Modal::Reason { id, .. } => id.clone(),
            _ => {
                self.modal = Some(modal);
                return;
            }
        };
        let Some(current) = self.pending(&id).cloned() else {
            self.withdrawn(&id);
            return;
        };
        let (now, size) = (self.now, self.size);
        self.modal = Some(match modal {
            Modal::Detail(mut d)
            | Modal::Confirm { detail: mut d, .. }
            | Modal::Widen { detail: mut d, .. }
            | Modal::TokenEnv { detail: mut d, .. }
                if d.shown != current =>
            {
                d.replace(current, now, size);
                self.status = Some(format!("proposal {id} changed: read it again"));
                Modal::Detail(d)
            }
            other => other,
        });
    }

    /// The proposal of a closed detail is gone: decided elsewhere, or
    /// withdrawn for a changed one (a listed proposal `replaces` it), whose
    /// row the cursor goes to, to be read afresh.
    fn withdrawn(&mut self, id: &str) {
        let replacement = self
            .proposals
            .iter()
            .position(|p| p.proposal.replaces.as_deref() == Some(id));
        let Some(i) = replacement else {
            self.status = Some(format!("proposal {id} is no longer pending"));
            return;
        };
        self.focus = Focus::Proposals;
        self.proposal_sel = i;
        let new = self.proposals[i].proposal.id.clone();
        if self.open_when_listed.as_deref() != Some(new.as_str()) {
            self.status = Some(format!(
                "proposal {id} was withdrawn: it changed, and is now proposal {new}; Enter reads it"
            ));
        }
    }

    pub(super) fn proposals_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(id) = self.selected_proposal().map(|p| p.id.clone()) else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Enter | KeyCode::Char('v') => {
                self.open_detail(&id);
                Vec::new()
            }
            KeyCode::Char('a') => {
                self.status = Some(
                    "a approves from the proposal's detail: Enter (or v) opens it to be read"
                        .into(),
                );
                Vec::new()
            }
            KeyCode::Char('e') => {
                self.status =
                    Some("e edits the selected agent's routes: Tab to the agents first".into());
                Vec::new()
            }
            KeyCode::Char('m') => vec![Effect::Modify { id }],
            KeyCode::Char('r') => {
                self.ask_reason(&id);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn detail_key(&mut self, mut detail: Box<Detail>, key: KeyEvent) -> Vec<Effect> {
        let scroll = match key.code {
            KeyCode::Char('j') | KeyCode::Down => Some(Scroll::Down(1)),
            KeyCode::Char('k') | KeyCode::Up => Some(Scroll::Up(1)),
            KeyCode::Char(' ') | KeyCode::PageDown => Some(Scroll::PageDown),
            KeyCode::Char('b') | KeyCode::PageUp => Some(Scroll::PageUp),
            KeyCode::Char('g') | KeyCode::Home => Some(Scroll::Top),
            KeyCode::Char('G') | KeyCode::End => Some(Scroll::Bottom),
            _ => None,
        };
        if let Some(how) = scroll {
            detail.scroll(how, self.size);
            return self.keep(Modal::Detail(detail));
        }
        match key.code {
            KeyCode::Char('a') => self.approve(detail),
            KeyCode::Char('r') => {
                self.ask_reason(detail.id());
                Vec::new()
            }
            KeyCode::Char('m') => vec![Effect::Modify {
                id: detail.id().to_owned(),
            }],
            KeyCode::Char('v') => {
                let view = Effect::View {
                    id: detail.id().to_owned(),
                    text: detail.text(),
                };
                self.modal = Some(Modal::Detail(detail));
                vec![view]
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Vec::new(),
            _ => self.keep(Modal::Detail(detail)),
        }
    }

    /// `a` in the detail: asks to approve what has been read in full, for
    /// long enough.
    fn approve(&mut self, detail: Box<Detail>) -> Vec<Effect> {
        if let Some(missing) = detail.missing(self.now, self.size) {
            self.status = Some(missing.text());
            return self.keep(Modal::Detail(detail));
        }
        self.keep(Modal::Confirm {
            detail,
            since: self.now,
        })
    }

    /// The answer to "approve it?": `y`, once the question has been on
    /// screen `CONFIRM_MS`, goes on to what approving still needs; `y`
    /// sooner, or any other key, goes back to the detail.
    pub(super) fn confirm_key(
        &mut self,
        detail: Box<Detail>,
        since: u64,
        key: KeyEvent,
    ) -> Vec<Effect> {
        let answer = match key.code {
            KeyCode::Char('y') if self.now >= since + CONFIRM_MS => return self.confirmed(detail),
            KeyCode::Char('y') => "not approved: read the question, then y",
            _ => "not approved: a, then y, approves",
        };
        self.status = Some(answer.into());
        self.keep(Modal::Detail(detail))
    }

    /// Confirmed: a widening asks for "yes" first, then the token prompt or
    /// the approval.
    fn confirmed(&mut self, detail: Box<Detail>) -> Vec<Effect> {
        if detail.shown.preview.widens_credential {
            return self.keep(Modal::Widen {
                detail,
                input: String::new(),
            });
        }
        self.approved(detail, false)
    }

    /// Reviewed (and widening confirmed, if it widens): the token prompt if
    /// a new credential needs one, else the approval.
    fn approved(&mut self, detail: Box<Detail>, widen: bool) -> Vec<Effect> {
        if detail.shown.preview.needs_token {
            return self.keep(Modal::TokenEnv {
                detail,
                widen,
                input: String::new(),
            });
        }
        self.approval(&detail, None, widen)
    }

    fn approval(&mut self, detail: &Detail, token_env: Option<String>, widen: bool) -> Vec<Effect> {
        let id = detail.id().to_owned();
        self.status = Some(format!("approving {id}…"));
        vec![Effect::Approve {
            id,
            token_env,
            widen_credential: widen && detail.shown.preview.widens_credential,
            digest: digest(&detail.shown),
        }]
    }

    pub(super) fn reason_key(&mut self, id: String, input: String, key: KeyEvent) -> Vec<Effect> {
        match edit_line(input, key) {
            Line::Editing(input) => self.keep(Modal::Reason { id, input }),
            Line::Done(reason) => vec![Effect::Reject {
                id,
                reason: (!reason.trim().is_empty()).then(|| reason.trim().to_owned()),
            }],
            Line::Cancelled => Vec::new(),
        }
    }

    pub(super) fn widen_key(
        &mut self,
        detail: Box<Detail>,
        input: String,
        key: KeyEvent,
    ) -> Vec<Effect> {
        match edit_line(input, key) {
            Line::Editing(input) => self.keep(Modal::Widen { detail, input }),
            Line::Done(answer) if answer.trim() == "yes" => self.approved(detail, true),
            Line::Done(_) => {
                self.status =
                    Some("not approved: type yes, then Enter, to send the credential there".into());
                self.keep(Modal::Detail(detail))
            }
            Line::Cancelled => self.keep(Modal::Detail(detail)),
        }
    }

    pub(super) fn token_key(
        &mut self,
        detail: Box<Detail>,
        widen: bool,
        input: String,
        key: KeyEvent,
    ) -> Vec<Effect> {
        match edit_line(input, key) {
            Line::Editing(input) => self.keep(Modal::TokenEnv {
                detail,
                widen,
                input,
            }),
            Line::Done(name) => {
                let name = name.trim().to_owned();
                if variable_name(&name) {
                    return self.approval(&detail, Some(name), widen);
                }
                let to = host(&detail.shown.proposal.request).unwrap_or("the host");
                self.status = Some(if name.is_empty() {
                    format!("type the name of the host variable whose value is sent to {to}")
                } else {
                    format!("'{name}' is not a variable name")
                });
                self.keep(Modal::TokenEnv {
                    detail,
                    widen,
                    input: name,
                })
            }
            Line::Cancelled => self.keep(Modal::Detail(detail)),
        }
    }
}
