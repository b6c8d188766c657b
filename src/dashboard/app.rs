//! The dashboard's state and logic, pure: `update(Msg) -> Vec<Effect>`.
//! Everything it learns arrives as a message (keys, listings, tmux
//! output, results of effects); everything it wants done leaves as an
//! effect, which the runtime carries out.

use std::collections::{BTreeMap, BTreeSet};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::picker::{Item, Outcome, Picker};
use crate::supervise::proposal::{Proposal, Request};

/// How long a new proposal stays highlighted, and an agent counts as busy
/// after its last output, in milliseconds.
pub const HIGHLIGHT_MS: u64 = 5_000;
pub const BUSY_MS: u64 = 1_500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Proposals,
    Agents,
}

/// A running bottle, as the agents pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub backend: String,
    pub slug: String,
    pub label: String,
    pub color: String,
    pub agent: String,
    pub started_at: String,
    /// Sidecars up; empty while only the agent is.
    pub services: Vec<String>,
}

/// An agent definition the `n` picker offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentChoice {
    pub name: String,
    pub description: String,
    /// Its default bottles.
    pub bottles: Vec<String>,
}

/// What `n` asks for, once chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    pub agent: String,
    /// Empty: the agent's own selection.
    pub bottles: Vec<String>,
    pub backend: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    /// A proposal in full.
    Detail {
        id: String,
    },
    /// The reason for a rejection.
    Reason {
        id: String,
        input: String,
    },
    /// The host variable holding a new route's credential.
    TokenEnv {
        id: String,
        input: String,
    },
    PickAgent(Picker),
    PickBottle {
        agent: String,
        picker: Picker,
    },
    PickBackend {
        agent: String,
        bottles: Vec<String>,
        picker: Picker,
    },
    Preflight {
        request: NewAgent,
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Key(KeyEvent),
    /// The time, in milliseconds since the dashboard started.
    Tick(u64),
    Bottles(Vec<AgentRow>),
    Proposals(Vec<Proposal>),
    /// The session pane of this bottle printed something.
    Output(String),
    Status(String),
    /// A plan for `n`, to confirm.
    Preflight {
        request: NewAgent,
        text: String,
    },
    /// A bottle this dashboard started is up; its session is on the right.
    Started(String),
    /// A bottle this dashboard stopped is gone.
    Stopped(String),
    /// The operator saved an edit of this proposal; approve it now.
    Modified(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Put the bottle's session in the right pane; `focus` moves the user there.
    Show {
        slug: String,
        focus: bool,
    },
    /// Close the right pane (no agent left to show).
    CloseRight,
    Approve {
        id: String,
        token_env: Option<String>,
    },
    /// Let the operator edit the request, then approve what they saved.
    Modify {
        id: String,
    },
    Reject {
        id: String,
        reason: Option<String>,
    },
    /// Plan a new agent and come back with its preflight.
    Preflight(NewAgent),
    /// Launch it, the bring-up log in the right pane.
    Launch(NewAgent),
    /// Take a bottle down, the teardown log in the right pane.
    Stop {
        slug: String,
    },
    Bell,
    /// Bring the user to the dashboard pane, from wherever they are.
    FocusDashboard,
    /// The pending count, for the tmux status line.
    SetPending(usize),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub focus: Focus,
    pub agents: Vec<AgentRow>,
    pub agent_sel: usize,
    pub proposals: Vec<Proposal>,
    pub proposal_sel: usize,
    /// Shown until the next key.
    pub status: Option<String>,
    pub modal: Option<Modal>,
    /// The bottle whose session is in the right pane.
    pub right: Option<String>,
    /// Bottles this dashboard started (and may stop).
    pub owned: BTreeSet<String>,
    /// Last output time of each bottle's session.
    pub activity: BTreeMap<String, u64>,
    /// When each proposal was first seen; None for those there at start.
    pub arrivals: BTreeMap<String, Option<u64>>,
    /// The proposals label says "(new!)" until then.
    pub alert_until: u64,
    pub now: u64,
    /// What `n` offers.
    pub choices: Vec<AgentChoice>,
    pub bottle_names: Vec<String>,
    pub backends: Vec<String>,
    proposals_loaded: bool,
    /// A bottle to select once the listing shows it (one just started).
    select_when_listed: Option<String>,
}

impl App {
    pub fn new(choices: Vec<AgentChoice>, bottle_names: Vec<String>, backends: Vec<String>) -> App {
        App {
            focus: Focus::Agents,
            agents: Vec::new(),
            agent_sel: 0,
            proposals: Vec::new(),
            proposal_sel: 0,
            status: None,
            modal: None,
            right: None,
            owned: BTreeSet::new(),
            activity: BTreeMap::new(),
            arrivals: BTreeMap::new(),
            alert_until: 0,
            now: 0,
            choices,
            bottle_names,
            backends,
            proposals_loaded: false,
            select_when_listed: None,
        }
    }

    pub fn selected_agent(&self) -> Option<&AgentRow> {
        self.agents.get(self.agent_sel)
    }

    pub fn selected_proposal(&self) -> Option<&Proposal> {
        self.proposals.get(self.proposal_sel)
    }

    pub fn proposal(&self, id: &str) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.id == id)
    }

    pub fn is_busy(&self, slug: &str) -> bool {
        self.activity
            .get(slug)
            .is_some_and(|t| self.now.saturating_sub(*t) < BUSY_MS)
    }

    pub fn is_fresh(&self, id: &str) -> bool {
        self.arrivals
            .get(id)
            .copied()
            .flatten()
            .is_some_and(|t| self.now.saturating_sub(t) < HIGHLIGHT_MS)
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => {
                self.status = None;
                self.key(key)
            }
            Msg::Key(_) => Vec::new(),
            Msg::Tick(now) => {
                self.now = now;
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
            Msg::Preflight { request, text } => {
                self.modal = Some(Modal::Preflight { request, text });
                Vec::new()
            }
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
            Msg::Modified(id) => {
                if let Some(i) = self.proposals.iter().position(|p| p.id == id) {
                    self.proposal_sel = i;
                    self.focus = Focus::Proposals;
                    return self.approve();
                }
                Vec::new()
            }
        }
    }

    fn bottles(&mut self, rows: Vec<AgentRow>) -> Vec<Effect> {
        let listed = |slug: &String| rows.iter().any(|r| &r.slug == slug);
        let wanted = self.select_when_listed.take_if(|s| listed(s));
        let selected = wanted.or_else(|| self.selected_agent().map(|a| a.slug.clone()));
        self.agents = rows;
        self.agent_sel = selected
            .and_then(|s| self.agents.iter().position(|a| a.slug == s))
            .unwrap_or_else(|| self.agent_sel.min(self.agents.len().saturating_sub(1)));
        Vec::new()
    }

    /// New arrivals ring the bell, bring the user here, and put the cursor
    /// on the newest one (not for those already there at start).
    fn proposals(&mut self, list: Vec<Proposal>) -> Vec<Effect> {
        let fresh: Vec<&Proposal> = list
            .iter()
            .filter(|p| !self.arrivals.contains_key(&p.id))
            .collect();
        let newest = fresh
            .iter()
            .max_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)))
            .map(|p| p.id.clone());
        let seen = self.proposals_loaded.then_some(self.now);
        for p in &fresh {
            self.arrivals.insert(p.id.clone(), seen);
        }
        let count_changed = list.len() != self.proposals.len() || !self.proposals_loaded;
        let selected = self.selected_proposal().map(|p| p.id.clone());
        self.proposals = list;
        self.arrivals
            .retain(|id, _| self.proposals.iter().any(|p| &p.id == id));
        self.proposal_sel = selected
            .and_then(|id| self.proposals.iter().position(|p| p.id == id))
            .unwrap_or_else(|| {
                self.proposal_sel
                    .min(self.proposals.len().saturating_sub(1))
            });
        let mut effects = Vec::new();
        if count_changed {
            effects.push(Effect::SetPending(self.proposals.len()));
        }
        if let (true, Some(id)) = (self.proposals_loaded, newest) {
            self.focus = Focus::Proposals;
            self.proposal_sel = self.proposals.iter().position(|p| p.id == id).unwrap_or(0);
            self.alert_until = self.now + HIGHLIGHT_MS;
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
            // The tmux bindings send these, from any pane.
            KeyCode::Char('P') => {
                self.focus = Focus::Proposals;
                if !self.proposals.is_empty() {
                    self.proposal_sel = (self.proposal_sel + 1) % self.proposals.len();
                }
                Vec::new()
            }
            KeyCode::Char('A') => self.approve(),
            KeyCode::Char('R') => self.ask_reason(),
            KeyCode::Char('J') => self.cycle(1),
            KeyCode::Char('K') => self.cycle(-1),
            KeyCode::Char('n') => {
                self.modal = Some(Modal::PickAgent(self.agent_picker()));
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

    fn proposals_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(id) = self.selected_proposal().map(|p| p.id.clone()) else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Enter => {
                self.modal = Some(Modal::Detail { id });
                Vec::new()
            }
            KeyCode::Char('a') => self.approve(),
            KeyCode::Char('m') => vec![Effect::Modify { id }],
            KeyCode::Char('r') => self.ask_reason(),
            _ => Vec::new(),
        }
    }

    /// Approves the selected proposal; a new route with a credential first
    /// asks which host variable holds it.
    fn approve(&mut self) -> Vec<Effect> {
        let Some(p) = self.selected_proposal() else {
            return Vec::new();
        };
        let id = p.id.clone();
        if let Request::EgressBlock {
            auth: Some(auth), ..
        } = &p.request
        {
            self.modal = Some(Modal::TokenEnv {
                id,
                input: auth.token_ref.clone().unwrap_or_default(),
            });
            return Vec::new();
        }
        vec![Effect::Approve {
            id,
            token_env: None,
        }]
    }

    fn ask_reason(&mut self) -> Vec<Effect> {
        if let Some(id) = self.selected_proposal().map(|p| p.id.clone()) {
            self.focus = Focus::Proposals;
            self.modal = Some(Modal::Reason {
                id,
                input: String::new(),
            });
        }
        Vec::new()
    }

    fn agent_picker(&self) -> Picker {
        let items = self
            .choices
            .iter()
            .map(|c| {
                let running = self.agents.iter().filter(|a| a.agent == c.name).count();
                let detail = if running > 0 {
                    format!("{} ({running} running)", c.description)
                } else {
                    c.description.clone()
                };
                Item {
                    name: c.name.clone(),
                    detail,
                }
            })
            .collect();
        Picker::new("new agent", items)
    }

    fn modal_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Effect> {
        match modal {
            Modal::Detail { id } => match key.code {
                KeyCode::Char('a') => self.approve(),
                KeyCode::Char('m') => vec![Effect::Modify { id }],
                KeyCode::Char('r') => self.ask_reason(),
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Vec::new(),
                _ => {
                    self.modal = Some(Modal::Detail { id });
                    Vec::new()
                }
            },
            Modal::Reason { id, input } => match edit_line(input, key) {
                Line::Editing(input) => {
                    self.modal = Some(Modal::Reason { id, input });
                    Vec::new()
                }
                Line::Done(reason) => vec![Effect::Reject {
                    id,
                    reason: (!reason.trim().is_empty()).then(|| reason.trim().to_owned()),
                }],
                Line::Cancelled => Vec::new(),
            },
            Modal::TokenEnv { id, input } => match edit_line(input, key) {
                Line::Editing(input) => {
                    self.modal = Some(Modal::TokenEnv { id, input });
                    Vec::new()
                }
                Line::Done(name) if name.trim().is_empty() => {
                    self.status = Some(
                        "a route with a credential needs the name of the variable holding it"
                            .into(),
                    );
                    Vec::new()
                }
                Line::Done(name) => vec![Effect::Approve {
                    id,
                    token_env: Some(name.trim().to_owned()),
                }],
                Line::Cancelled => Vec::new(),
            },
            Modal::PickAgent(mut picker) => match picker.key(key) {
                Outcome::Pending => {
                    self.modal = Some(Modal::PickAgent(picker));
                    Vec::new()
                }
                Outcome::Cancelled => Vec::new(),
                Outcome::Chosen(agent) => {
                    self.modal = Some(Modal::PickBottle {
                        picker: self.bottle_picker(&agent),
                        agent,
                    });
                    Vec::new()
                }
            },
            Modal::PickBottle { agent, mut picker } => match picker.key(key) {
                Outcome::Pending => {
                    self.modal = Some(Modal::PickBottle { agent, picker });
                    Vec::new()
                }
                Outcome::Cancelled => Vec::new(),
                Outcome::Chosen(choice) => {
                    let bottles = if choice == DEFAULT_BOTTLES {
                        Vec::new()
                    } else {
                        vec![choice]
                    };
                    self.pick_backend(agent, bottles)
                }
            },
            Modal::PickBackend {
                agent,
                bottles,
                mut picker,
            } => match picker.key(key) {
                Outcome::Pending => {
                    self.modal = Some(Modal::PickBackend {
                        agent,
                        bottles,
                        picker,
                    });
                    Vec::new()
                }
                Outcome::Cancelled => Vec::new(),
                Outcome::Chosen(backend) => vec![Effect::Preflight(NewAgent {
                    agent,
                    bottles,
                    backend,
                })],
            },
            Modal::Preflight { request, text } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.status = Some(format!("starting {}…", request.agent));
                    vec![Effect::Launch(request)]
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.status = Some("not started".into());
                    Vec::new()
                }
                _ => {
                    self.modal = Some(Modal::Preflight { request, text });
                    Vec::new()
                }
            },
        }
    }

    fn bottle_picker(&self, agent: &str) -> Picker {
        let defaults = self
            .choices
            .iter()
            .find(|c| c.name == agent)
            .map(|c| c.bottles.clone())
            .unwrap_or_default();
        let default_text = if defaults.is_empty() {
            "default".to_owned()
        } else {
            defaults.join(" + ")
        };
        let mut items = vec![Item {
            name: DEFAULT_BOTTLES.into(),
            detail: format!("the agent's own: {default_text}"),
        }];
        items.extend(self.bottle_names.iter().map(|b| Item {
            name: b.clone(),
            detail: String::new(),
        }));
        Picker::new("bottle", items)
    }

    /// The backend choice is skipped when there is only one.
    fn pick_backend(&mut self, agent: String, bottles: Vec<String>) -> Vec<Effect> {
        if self.backends.len() <= 1 {
            let backend = self
                .backends
                .first()
                .cloned()
                .unwrap_or_else(|| "docker".into());
            return vec![Effect::Preflight(NewAgent {
                agent,
                bottles,
                backend,
            })];
        }
        let items = self
            .backends
            .iter()
            .map(|b| Item {
                name: b.clone(),
                detail: String::new(),
            })
            .collect();
        self.modal = Some(Modal::PickBackend {
            agent,
            bottles,
            picker: Picker::new("backend", items),
        });
        Vec::new()
    }
}

/// The bottle choice that means "the agent's own selection".
pub const DEFAULT_BOTTLES: &str = "(agent's own)";

enum Line {
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
mod tests {
    use super::*;
    use crate::supervise::proposal::AuthRequest;

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn code(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn row(slug: &str) -> AgentRow {
        AgentRow {
            backend: "docker".into(),
            slug: slug.into(),
            label: slug.into(),
            color: "cyan".into(),
            agent: "shell".into(),
            started_at: "2026-11-25T10:00:00Z".into(),
            services: vec!["egress".into(), "supervise".into()],
        }
    }

    fn proposal(id: &str, created: &str, request: Request) -> Proposal {
        Proposal {
            id: id.into(),
            slug: "a-1".into(),
            created_at: created.into(),
            justification: "because".into(),
            request,
        }
    }

    fn pipelock(id: &str, created: &str) -> Proposal {
        proposal(
            id,
            created,
            Request::PipelockBlock {
                failed_url: "https://pypi.org/simple/".into(),
                host: "pypi.org".into(),
            },
        )
    }

    fn app() -> App {
        let mut app = App::new(
            vec![AgentChoice {
                name: "shell".into(),
                description: "a shell".into(),
                bottles: vec!["default".into()],
            }],
            vec!["default".into(), "github".into()],
            vec!["docker".into()],
        );
        app.update(Msg::Bottles(vec![row("a-1"), row("b-2"), row("c-3")]));
        app.update(Msg::Proposals(vec![]));
        app
    }

    #[test]
    fn navigation_and_enter() {
        let mut a = app();
        assert_eq!(a.focus, Focus::Agents);
        a.update(key('j'));
        a.update(key('j'));
        a.update(key('j'));
        assert_eq!(a.agent_sel, 2, "clamped at the end");
        assert_eq!(
            a.update(code(KeyCode::Enter)),
            [Effect::Show {
                slug: "c-3".into(),
                focus: true
            }]
        );
        assert_eq!(a.right.as_deref(), Some("c-3"));
        a.update(code(KeyCode::Tab));
        assert_eq!(a.focus, Focus::Proposals);
        assert_eq!(a.update(key('q')), [Effect::Quit]);
        assert_eq!(
            a.update(key('J')),
            [Effect::Show {
                slug: "a-1".into(),
                focus: true
            }],
            "J cycles, wrapping"
        );
    }

    #[test]
    fn a_new_proposal_alerts_once_and_takes_the_cursor() {
        let mut a = App::new(vec![], vec![], vec![]);
        // Present at start: counted, no alert.
        assert_eq!(
            a.update(Msg::Proposals(vec![pipelock("p1", "1")])),
            [Effect::SetPending(1)]
        );
        a.update(Msg::Tick(1000));
        let effects = a.update(Msg::Proposals(vec![
            pipelock("p1", "1"),
            pipelock("p3", "3"),
            pipelock("p2", "2"),
        ]));
        assert_eq!(
            effects,
            [Effect::SetPending(3), Effect::Bell, Effect::FocusDashboard]
        );
        assert_eq!(a.focus, Focus::Proposals);
        assert_eq!(
            a.selected_proposal().unwrap().id,
            "p3",
            "the newest arrival"
        );
        assert!(a.is_fresh("p3") && !a.is_fresh("p1"));
        a.update(Msg::Tick(1000 + HIGHLIGHT_MS));
        assert!(!a.is_fresh("p3"));
        assert_eq!(
            a.update(Msg::Proposals(vec![pipelock("p1", "1")])),
            [Effect::SetPending(1)],
            "going away is quiet"
        );
    }

    #[test]
    fn proposal_keys() {
        let mut a = app();
        let with_auth = proposal(
            "p2",
            "2",
            Request::EgressBlock {
                host: "api.github.com".into(),
                path_allowlist: vec![],
                auth: Some(AuthRequest {
                    scheme: "bearer".into(),
                    token_ref: Some("GITHUB_TOKEN".into()),
                }),
            },
        );
        a.update(Msg::Proposals(vec![pipelock("p1", "1"), with_auth]));
        assert_eq!(a.selected_proposal().unwrap().id, "p2");
        assert_eq!(a.update(key('a')), []);
        assert!(matches!(&a.modal, Some(Modal::TokenEnv { input, .. }) if input == "GITHUB_TOKEN"));
        assert_eq!(
            a.update(code(KeyCode::Enter)),
            [Effect::Approve {
                id: "p2".into(),
                token_env: Some("GITHUB_TOKEN".into())
            }]
        );
        a.update(key('k'));
        assert_eq!(
            a.update(key('a')),
            [Effect::Approve {
                id: "p1".into(),
                token_env: None
            }]
        );
        a.update(key('r'));
        for c in "no need".chars() {
            a.update(key(c));
        }
        assert_eq!(
            a.update(code(KeyCode::Enter)),
            [Effect::Reject {
                id: "p1".into(),
                reason: Some("no need".into())
            }]
        );
        assert_eq!(a.update(key('m')), [Effect::Modify { id: "p1".into() }]);
        a.update(code(KeyCode::Enter));
        assert_eq!(a.modal, Some(Modal::Detail { id: "p1".into() }));
        a.update(code(KeyCode::Esc));
        assert_eq!(a.modal, None);
    }

    #[test]
    fn new_agent_flow() {
        let mut a = app();
        a.update(key('n'));
        assert!(matches!(a.modal, Some(Modal::PickAgent(_))));
        a.update(code(KeyCode::Enter));
        assert!(matches!(a.modal, Some(Modal::PickBottle { .. })));
        a.update(key('g'));
        a.update(key('i'));
        let effects = a.update(code(KeyCode::Enter));
        let request = NewAgent {
            agent: "shell".into(),
            bottles: vec!["github".into()],
            backend: "docker".into(),
        };
        assert_eq!(
            effects,
            [Effect::Preflight(request.clone())],
            "one backend: no backend choice"
        );
        a.update(Msg::Preflight {
            request: request.clone(),
            text: "plan".into(),
        });
        assert_eq!(a.update(key('y')), [Effect::Launch(request)]);
        a.update(Msg::Started("d-4".into()));
        assert!(a.owned.contains("d-4"));
        assert_eq!(a.right.as_deref(), Some("d-4"));
        a.update(Msg::Bottles(vec![row("a-1"), row("d-4")]));
        assert_eq!(
            a.selected_agent().unwrap().slug,
            "d-4",
            "the new agent is selected once listed"
        );
    }

    #[test]
    fn stop_slides_to_the_next_agent_and_closes_the_pane_at_the_end() {
        let mut a = app();
        a.update(key('x'));
        assert!(
            a.status.as_deref().unwrap().contains("bot-bottle stop a-1"),
            "not owned"
        );
        a.owned.insert("a-1".into());
        a.owned.insert("b-2".into());
        a.owned.insert("c-3".into());
        assert_eq!(a.update(key('x')), [Effect::Stop { slug: "a-1".into() }]);
        assert_eq!(
            a.update(Msg::Stopped("a-1".into())),
            [Effect::Show {
                slug: "b-2".into(),
                focus: false
            }]
        );
        a.update(key('j'));
        a.update(Msg::Stopped("c-3".into()));
        assert_eq!(
            a.selected_agent().unwrap().slug,
            "b-2",
            "the last row stopped: the new last"
        );
        assert_eq!(a.update(Msg::Stopped("b-2".into())), [Effect::CloseRight]);
        assert_eq!(a.right, None);
    }

    #[test]
    fn status_stays_until_a_key_and_busy_follows_output() {
        let mut a = app();
        a.update(Msg::Status("approved".into()));
        a.update(Msg::Tick(10_000));
        a.update(Msg::Bottles(vec![row("a-1")]));
        assert_eq!(a.status.as_deref(), Some("approved"));
        a.update(key('j'));
        assert_eq!(a.status, None);
        a.update(Msg::Output("a-1".into()));
        assert!(a.is_busy("a-1"));
        a.update(Msg::Tick(10_000 + BUSY_MS));
        assert!(!a.is_busy("a-1"));
    }
}
