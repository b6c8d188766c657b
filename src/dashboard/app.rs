//! The dashboard's state and logic, pure: `update(Msg) -> Vec<Effect>`.
//! Everything it learns arrives as a message (keys, listings, tmux
//! output, results of effects); everything it wants done leaves as an
//! effect, which the runtime carries out. How a proposal is reviewed and
//! decided (the detail, the prompts, the tmux bindings, the guard after an
//! alert) is in `review`; the vocabulary (messages, effects, modals,
//! rows) in `messages`.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::detail::DWELL_MS;
use crate::proposal::Proposal;
use crate::proposal::queue::check_id;
use crate::supervise::apply::Pending;

mod launch;
mod messages;
mod pausing;
mod review;
mod sealing;

pub(crate) use launch::TrustStep;
pub(crate) use messages::{AgentChoice, AgentRow, Checked, Effect, Focus, Modal, Msg, NewAgent};
pub(crate) use review::CONFIRM_MS;

/// How long a new proposal stays highlighted, and an agent counts as busy
/// after its last output, in milliseconds.
const HIGHLIGHT_MS: u64 = 5_000;
const BUSY_MS: u64 = 1_500;
/// After an alert moves focus here, keys are ignored until the keyboard
/// has been quiet this long (milliseconds): what the operator was typing
/// elsewhere decides nothing.
pub(crate) const GUARD_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct App {
    pub focus: Focus,
    pub agents: Vec<AgentRow>,
    pub agent_sel: usize,
    pub proposals: Vec<Pending>,
    pub proposal_sel: usize,
    /// The frame size (width, height), as the runtime draws it.
    pub size: (u16, u16),
    /// Keys before this time are ignored (an alert moved focus here).
    pub guard_until: u64,
    /// Shown until the next key.
    pub status: Option<String>,
    /// `?`: the footer shows the keys, until the next key.
    pub help: bool,
    pub modal: Option<Modal>,
    /// The bottle whose session is in the right pane.
    pub right: Option<String>,
    /// Bottles this dashboard started (and may stop).
    pub owned: BTreeSet<String>,
    /// Last output time of each bottle's session (or request through its
    /// egress).
    pub activity: BTreeMap<String, u64>,
    /// When each listed bottle was first listed here.
    pub listed_at: BTreeMap<String, u64>,
    /// The home manifest's `idle_after`, in ms: an agent idle this long
    /// (no output, no request, no proposal waiting) is put to sleep.
    pub idle_after: Option<u64>,
    /// How often (ms) each running agent's seal is checked; none: never
    /// on a schedule (the runtime sets `verify::EVERY`).
    pub verify_every: Option<u64>,
    /// The wall clock when `now` was 0, in seconds since the epoch: what
    /// a seal report's age is counted from.
    pub epoch: u64,
    /// The bottles whose seal is being checked, each `true` when the
    /// operator asked (`s`): at most one check in flight per bottle.
    verifying: BTreeMap<String, bool>,
    /// When each bottle's last check of its seal started here.
    tried_at: BTreeMap<String, u64>,
    /// When each proposal was first seen; None for those there at start.
    pub arrivals: BTreeMap<String, Option<u64>>,
    /// The proposals label says "(new!)" until then.
    pub alert_until: u64,
    pub now: u64,
    /// What `n` offers.
    pub choices: Vec<AgentChoice>,
    pub bottle_names: Vec<String>,
    pub backends: Vec<String>,
    /// The directory the dashboard was opened in: what `n` offers to copy.
    pub cwd: String,
    /// Its manifest, not trusted: `n` asks about it first (once).
    pub untrusted: Option<Box<crate::manifest::Summary>>,
    proposals_loaded: bool,
    /// What the tmux status line was last told.
    published: Option<(usize, Option<String>)>,
    /// A bottle to select once the listing shows it (one just started).
    select_when_listed: Option<String>,
    /// A proposal whose detail opens once the listing shows it (the
    /// operator's own edit): its arrival is no alert.
    open_when_listed: Option<String>,
}

impl App {
    pub(crate) fn new(
        choices: Vec<AgentChoice>,
        bottle_names: Vec<String>,
        backends: Vec<String>,
    ) -> App {
        App {
            focus: Focus::Agents,
            agents: Vec::new(),
            agent_sel: 0,
            proposals: Vec::new(),
            proposal_sel: 0,
            size: (0, 0),
            guard_until: 0,
            status: None,
            help: false,
            modal: None,
            right: None,
            owned: BTreeSet::new(),
            activity: BTreeMap::new(),
            listed_at: BTreeMap::new(),
            idle_after: None,
            verify_every: None,
            epoch: 0,
            verifying: BTreeMap::new(),
            tried_at: BTreeMap::new(),
            arrivals: BTreeMap::new(),
            alert_until: 0,
            now: 0,
            choices,
            bottle_names,
            backends,
            cwd: String::new(),
            untrusted: None,
            proposals_loaded: false,
            published: None,
            select_when_listed: None,
            open_when_listed: None,
        }
    }

    pub(crate) fn selected_agent(&self) -> Option<&AgentRow> {
        self.agents.get(self.agent_sel)
    }

    fn selected_proposal(&self) -> Option<&Proposal> {
        self.proposals.get(self.proposal_sel).map(|p| &p.proposal)
    }

    pub(crate) fn pending(&self, id: &str) -> Option<&Pending> {
        self.proposals.iter().find(|p| p.proposal.id == id)
    }

    /// The proposal `prefix Y` and `prefix N` act on: the oldest pending.
    pub(crate) fn next_proposal(&self) -> Option<&str> {
        self.proposals
            .first()
            .map(|p| p.proposal.id.as_str())
            .filter(|id| check_id(id).is_ok())
    }

    /// Shows `modal` (opens it, or leaves it open): nothing else to do.
    fn keep(&mut self, modal: Modal) -> Vec<Effect> {
        self.modal = Some(modal);
        Vec::new()
    }

    /// Whether keys are being ignored after an alert.
    pub(crate) fn guarded(&self) -> bool {
        self.now < self.guard_until
    }

    pub(crate) fn is_busy(&self, slug: &str) -> bool {
        self.activity
            .get(slug)
            .is_some_and(|t| self.now.saturating_sub(*t) < BUSY_MS)
    }

    /// When (ms since start) what is drawn next changes with time alone:
    /// a guard, an alert, a highlight or a busy mark ending, an agent
    /// falling asleep, its seal's check falling due or the check's age
    /// shown changing, or an open detail's dwell. `None` when nothing on
    /// screen depends on the clock: the dashboard then sleeps until
    /// something happens.
    pub(crate) fn next_change(&self) -> Option<u64> {
        let now = self.now;
        let detail = match &self.modal {
            Some(
                Modal::Detail(d)
                | Modal::Widen { detail: d, .. }
                | Modal::TokenEnv { detail: d, .. },
            ) => Some(d.since + DWELL_MS),
            Some(Modal::Confirm { since, .. }) => Some(since + CONFIRM_MS),
            _ => None,
        };
        [self.guard_until, self.alert_until]
            .into_iter()
            .chain(self.activity.values().map(|t| t + BUSY_MS))
            .chain(self.agents.iter().filter_map(|a| self.falls_asleep_at(a)))
            .chain(self.agents.iter().filter_map(|a| self.seal_due_at(a)))
            .chain(
                self.agents
                    .iter()
                    .filter_map(|a| self.seal_age_changes_at(a)),
            )
            .chain(self.arrivals.values().flatten().map(|t| t + HIGHLIGHT_MS))
            .chain(detail)
            .filter(|t| *t > now)
            .min()
    }

    pub(crate) fn is_fresh(&self, id: &str) -> bool {
        self.arrivals
            .get(id)
            .copied()
            .flatten()
            .is_some_and(|t| self.now.saturating_sub(t) < HIGHLIGHT_MS)
    }

    pub(crate) fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => {
                if self.swallow() {
                    return Vec::new();
                }
                self.status = None;
                self.help = false;
                let before = self.selected_agent().map(|a| a.slug.clone());
                let mut effects = self.key(key);
                // Selected (moved onto, or shown): a sleeping agent wakes.
                let moved = self.selected_agent().map(|a| &a.slug) != before.as_ref();
                let shown = effects.iter().any(|e| matches!(e, Effect::Show { .. }));
                if self.focus == Focus::Agents && self.modal.is_none() && (moved || shown) {
                    effects.extend(self.wake_selected());
                }
                effects
            }
            Msg::Key(_) => Vec::new(),
            Msg::Paste(text) => {
                if self.swallow() {
                    return Vec::new();
                }
                self.status = None;
                self.paste(&text)
            }
            Msg::Tick(now) => {
                self.now = now;
                // Those falling asleep now are not checked.
                let mut effects = self.sleepers();
                effects.extend(self.due_checks());
                effects
            }
            Msg::Resize { width, height } => {
                self.size = (width, height);
                self.fit_detail();
                Vec::new()
            }
            Msg::Focused => {
                self.guard_until = self.guard_until.max(self.now + GUARD_MS);
                Vec::new()
            }
            Msg::Bottles(rows) => self.bottles(rows),
            Msg::Proposals(list) => self.proposals(list),
            Msg::Output(slug) => {
                self.activity.insert(slug, self.now);
                Vec::new()
            }
            Msg::Status(text) => {
                self.status = Some(text);
                Vec::new()
            }
            Msg::Offer {
                choices,
                bottles,
                untrusted,
                status,
                pick,
            } => self.offer(choices, bottles, untrusted, status, pick),
            Msg::Preflight { request, text } => self.keep(Modal::Preflight { request, text }),
            Msg::Started(slug) => {
                self.status = Some(format!("{slug} is up"));
                self.owned.insert(slug.clone());
                self.focus = Focus::Agents;
                match self.agents.iter().position(|a| a.slug == slug) {
                    Some(i) => self.agent_sel = i,
                    None => self.select_when_listed = Some(slug.clone()),
                }
                self.right = Some(slug);
                Vec::new()
            }
            Msg::Stopped(slug) => self.stopped(&slug),
            Msg::Verified { slug, outcome } => self.verified(slug, outcome),
            Msg::Modified { old, new } => {
                self.status = Some(if old == new {
                    format!("{old}: the edit changed nothing")
                } else {
                    format!(
                        "edited {old}: it is now proposal {new}; read what it grants, then a approves"
                    )
                });
                if !self.open_detail(&new) {
                    self.open_when_listed = Some(new);
                }
                Vec::new()
            }
        }
    }

    fn bottles(&mut self, rows: Vec<AgentRow>) -> Vec<Effect> {
        let listed = |slug: &String| rows.iter().any(|r| &r.slug == slug);
        let wanted = self.select_when_listed.take_if(|s| listed(s));
        let selected = wanted.or_else(|| self.selected_agent().map(|a| a.slug.clone()));
        let now = self.now;
        self.listed_at.retain(|slug, _| listed(slug));
        self.tried_at.retain(|slug, _| listed(slug));
        for r in &rows {
            self.listed_at.entry(r.slug.clone()).or_insert(now);
            // Woken elsewhere (an exec, an attach): awake as of now.
            let slept = self.agents.iter().any(|a| a.slug == r.slug && a.asleep);
            if slept && !r.asleep {
                self.activity.insert(r.slug.clone(), now);
            }
        }
        self.agents = rows;
        self.agent_sel = selected
            .and_then(|s| self.agents.iter().position(|a| a.slug == s))
            .unwrap_or_else(|| self.agent_sel.min(self.agents.len().saturating_sub(1)));
        Vec::new()
    }

    /// New arrivals ring the bell, bring the user here, and put the cursor
    /// on the newest one (not for those already there at start); keys are
    /// then ignored for a moment. An open detail follows its proposal.
    fn proposals(&mut self, list: Vec<Pending>) -> Vec<Effect> {
        let fresh: Vec<&Proposal> = list
            .iter()
            .map(|p| &p.proposal)
            .filter(|p| !self.arrivals.contains_key(&p.id))
            .filter(|p| self.open_when_listed.as_ref() != Some(&p.id))
            .collect();
        let newest = fresh
            .iter()
            .max_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)))
            .map(|p| p.id.clone());
        let seen = self.proposals_loaded.then_some(self.now);
        for p in &fresh {
            self.arrivals.insert(p.id.clone(), seen);
        }
        let selected = self.selected_proposal().map(|p| p.id.clone());
        self.proposals = list;
        self.arrivals
            .retain(|id, _| self.proposals.iter().any(|p| &p.proposal.id == id));
        let position = |app: &App, id: &str| app.proposals.iter().position(|p| p.proposal.id == id);
        self.proposal_sel = selected
            .and_then(|id| position(self, &id))
            .unwrap_or_else(|| {
                self.proposal_sel
                    .min(self.proposals.len().saturating_sub(1))
            });
        self.follow_modal();
        if let Some(id) = self.open_when_listed.take() {
            if self.pending(&id).is_some() {
                self.arrivals.insert(id.clone(), None);
                self.open_detail(&id);
            } else {
                self.open_when_listed = Some(id);
            }
        }
        let mut effects = Vec::new();
        let published = (
            self.proposals.len(),
            self.next_proposal().map(str::to_owned),
        );
        if self.published.as_ref() != Some(&published) {
            let (count, next) = published.clone();
            self.published = Some(published);
            effects.push(Effect::SetPending { count, next });
        }
        if let (true, Some(id)) = (self.proposals_loaded, newest) {
            self.focus = Focus::Proposals;
            self.proposal_sel = position(self, &id).unwrap_or(0);
            self.alert_until = self.now + HIGHLIGHT_MS;
            self.guard_until = self.now + GUARD_MS;
            effects.extend([Effect::Bell, Effect::FocusDashboard]);
        }
        self.proposals_loaded = true;
        effects
    }

    /// After `x`: the selection slides to the agent that took the stopped
    /// one's place, which goes to the right pane; none left closes it.
    fn stopped(&mut self, slug: &str) -> Vec<Effect> {
        self.owned.remove(slug);
        self.status = Some(format!("{slug} stopped"));
        let index = self.agents.iter().position(|a| a.slug == slug);
        self.agents.retain(|a| a.slug != slug);
        if let Some(i) = index {
            self.agent_sel = i.min(self.agents.len().saturating_sub(1));
        }
        match self.selected_agent() {
            Some(next) => {
                let slug = next.slug.clone();
                self.right = Some(slug.clone());
                vec![Effect::Show { slug, focus: false }]
            }
            None => {
                self.right = None;
                vec![Effect::CloseRight]
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(modal) = self.modal.take() {
            return self.modal_key(modal, key);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => vec![Effect::Quit],
            KeyCode::Char('q') => vec![Effect::Quit],
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Agents => Focus::Proposals,
                    Focus::Proposals => Focus::Agents,
                };
                Vec::new()
            }
            KeyCode::Char('j') | KeyCode::Down => self.step(1),
            KeyCode::Char('k') | KeyCode::Up => self.step(-1),
            KeyCode::Char('P') => self.next_in_list(),
            KeyCode::Char('J') => self.cycle(1),
            KeyCode::Char('K') => self.cycle(-1),
            KeyCode::Char('n') => self.new_agent(),
            KeyCode::Char('?') => {
                self.help = true;
                Vec::new()
            }
            _ => match self.focus {
                Focus::Agents => self.agents_key(key),
                Focus::Proposals => self.proposals_key(key),
            },
        }
    }

    fn step(&mut self, delta: isize) -> Vec<Effect> {
        let (sel, len) = match self.focus {
            Focus::Agents => (&mut self.agent_sel, self.agents.len()),
            Focus::Proposals => (&mut self.proposal_sel, self.proposals.len()),
        };
        if len > 0 {
            *sel = (*sel as isize + delta).clamp(0, len as isize - 1) as usize;
        }
        Vec::new()
    }

    /// The cursor to the next proposal (`prefix P`).
    fn next_in_list(&mut self) -> Vec<Effect> {
        self.focus = Focus::Proposals;
        if !self.proposals.is_empty() {
            self.proposal_sel = (self.proposal_sel + 1) % self.proposals.len();
        }
        Vec::new()
    }

    /// The next (or previous) agent, shown on the right and focused.
    fn cycle(&mut self, delta: isize) -> Vec<Effect> {
        if self.agents.is_empty() {
            return Vec::new();
        }
        let len = self.agents.len() as isize;
        self.agent_sel = (self.agent_sel as isize + delta).rem_euclid(len) as usize;
        self.show_selected(true)
    }

    fn show_selected(&mut self, focus: bool) -> Vec<Effect> {
        let Some(slug) = self.selected_agent().map(|a| a.slug.clone()) else {
            return Vec::new();
        };
        self.right = Some(slug.clone());
        vec![Effect::Show { slug, focus }]
    }

    fn agents_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Enter => self.show_selected(true),
            KeyCode::Char('e') => match self.selected_agent().map(|a| a.slug.clone()) {
                Some(slug) => {
                    self.status = Some(format!("editing the routes of {slug}…"));
                    vec![Effect::EditRoutes { slug }]
                }
                None => {
                    self.status = Some("no agent selected; n starts one".into());
                    Vec::new()
                }
            },
            KeyCode::Char('f') => self.switch_selected(),
            KeyCode::Char('s') => self.verify_selected(),
            KeyCode::Char('R') => match self.selected_agent() {
                Some(a) if a.stopped => {
                    let slug = a.slug.clone();
                    self.status = Some(format!("resuming {slug}…"));
                    self.owned.insert(slug.clone());
                    vec![Effect::Resume { slug }]
                }
                Some(a) => {
                    self.status = Some(format!("{} is running; R resumes a stopped one", a.slug));
                    Vec::new()
                }
                None => Vec::new(),
            },
            KeyCode::Char('F') => self.freeze_all(),
            KeyCode::Char('x') => {
                let Some(slug) = self.selected_agent().map(|a| a.slug.clone()) else {
                    return Vec::new();
                };
                if self.owned.contains(&slug) {
                    self.status = Some(format!("stopping {slug}…"));
                    vec![Effect::Stop { slug }]
                } else {
                    self.status = Some(format!(
                        "{slug} was not started here; stop it with: bot-bottle stop {slug}"
                    ));
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    fn modal_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Effect> {
        match modal {
            Modal::Detail(detail) => self.detail_key(detail, key),
            Modal::Reason { id, input } => self.reason_key(id, input, key),
            Modal::Confirm { detail, since } => self.confirm_key(detail, since, key),
            Modal::Widen { detail, input } => self.widen_key(detail, input, key),
            Modal::TokenEnv {
                detail,
                widen,
                input,
            } => self.token_key(detail, widen, input, key),
            Modal::Trust(step) => self.trust_key(step, key),
            modal @ (Modal::PickAgent(_)
            | Modal::PickBottle { .. }
            | Modal::Label { .. }
            | Modal::PickColor { .. }
            | Modal::Cwd { .. }
            | Modal::PickBackend { .. }
            | Modal::Preflight { .. }) => self.new_agent_key(modal, key),
        }
    }
}

pub(crate) enum Line {
    Editing(String),
    Done(String),
    Cancelled,
}

fn edit_line(mut input: String, key: KeyEvent) -> Line {
    match key.code {
        KeyCode::Enter => Line::Done(input),
        KeyCode::Esc => Line::Cancelled,
        KeyCode::Backspace => {
            input.pop();
            Line::Editing(input)
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) && input.len() < 500 => {
            input.push(c);
            Line::Editing(input)
        }
        _ => Line::Editing(input),
    }
}

#[cfg(test)]
mod tests;
