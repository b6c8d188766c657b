//! The `n` flow, pure: pick an agent, its bottles (in order), a label (a
//! free one), a color, a directory to copy in, a backend, read the
//! preflight, launch. The choices are `start`'s (see `launch::choose`).
//!
//! In a directory whose manifest is not trusted, `n` first shows what
//! trusting it would use (`bot-bottle trust`'s summary) and asks: `y`
//! trusts it, once all of it has been on screen for a second; any other
//! key goes on without it. It is asked once per dashboard.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

use super::{AgentChoice, App, Effect, Modal, NewAgent};
use std::path::Path;

use crate::dashboard::text::{slice, wrap};
use crate::launch::choose::{self, Choices};
use crate::manifest::Summary;
use crate::picker::{Chooser, Item, MultiPicker, Outcome, Picker, Prompt};
use crate::text::inert;

/// `y` in the trust step counts only this long (ms) after it is shown.
const TRUST_DWELL_MS: u64 = 1_000;

/// The trust step: a project's manifest that is not trusted, in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustStep {
    pub summary: Summary,
    /// When it was shown (ms since the dashboard started).
    pub since: u64,
    /// The first row on screen.
    pub scroll: usize,
    /// Every row has been on screen.
    pub seen_all: bool,
}

impl TrustStep {
    /// Where the step is drawn in a frame of `area`: all of it but the
    /// status line, which says why a key did nothing.
    pub(crate) fn rect(area: Rect) -> Rect {
        let width = area.width.saturating_sub(2).max(20).min(area.width);
        let height = area.height.saturating_sub(1);
        Rect::new(area.x + (area.width - width) / 2, area.y, width, height)
    }

    /// Its rows, wrapped (and made inert) for a frame of `size`, and how
    /// many are on screen at once: the box's inside, less its key line.
    pub(crate) fn rows(&self, size: (u16, u16)) -> (Vec<String>, usize) {
        let rect = TrustStep::rect(Rect::new(0, 0, size.0, size.1));
        let width = rect.width.saturating_sub(2) as usize;
        let visible = (rect.height.saturating_sub(3) as usize).max(1);
        let rows = self
            .summary
            .render()
            .lines()
            .map(inert)
            .flat_map(|line| {
                wrap(&line, width)
                    .iter()
                    .map(|r| slice(&line, r))
                    .collect::<Vec<_>>()
            })
            .collect();
        (rows, visible)
    }

    /// Moves by `delta` rows, within what there is; notes when every row
    /// has been on screen.
    fn scroll_by(&mut self, delta: isize, size: (u16, u16)) {
        let (rows, visible) = self.rows(size);
        let last = rows.len().saturating_sub(visible);
        self.scroll = self.scroll.saturating_add_signed(delta).min(last);
        if self.scroll + visible >= rows.len() {
            self.seen_all = true;
        }
    }
}

impl App {
    /// `n`: the trust step first, when this directory's manifest is not
    /// trusted and it was not asked yet; then the agent picker.
    pub(super) fn new_agent(&mut self) -> Vec<Effect> {
        match self.untrusted.take() {
            Some(summary) => {
                let mut step = TrustStep {
                    summary: *summary,
                    since: self.now,
                    scroll: 0,
                    seen_all: false,
                };
                step.scroll_by(0, self.size);
                self.keep(Modal::Trust(Box::new(step)))
            }
            None => self.keep(Modal::PickAgent(self.agent_picker())),
        }
    }

    /// A key in the trust step: `y` trusts what is shown (once all of it
    /// has been on screen for a second), scrolling keys scroll, anything
    /// else goes on without it.
    pub(super) fn trust_key(&mut self, mut step: Box<TrustStep>, key: KeyEvent) -> Vec<Effect> {
        let page = step.rows(self.size).1 as isize;
        let delta = match key.code {
            KeyCode::Char('j') | KeyCode::Down => 1,
            KeyCode::Char('k') | KeyCode::Up => -1,
            KeyCode::Char(' ') | KeyCode::PageDown => page,
            KeyCode::Char('b') | KeyCode::PageUp => -page,
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                if !step.seen_all {
                    self.status = Some("read all of it first: j/k, space/b scroll".into());
                    return self.keep(Modal::Trust(step));
                }
                if self.now < step.since + TRUST_DWELL_MS {
                    self.status = Some("read it first: y trusts it a second after it shows".into());
                    return self.keep(Modal::Trust(step));
                }
                self.status = Some(format!("trusting {}…", step.summary.shown));
                return vec![Effect::Trust(Box::new(step.summary))];
            }
            _ => {
                self.status = Some(format!(
                    "going on without {}: its agents and bottles are not used",
                    step.summary.shown
                ));
                return self.keep(Modal::PickAgent(self.agent_picker()));
            }
        };
        step.scroll_by(delta, self.size);
        self.keep(Modal::Trust(step))
    }

    /// The manifests were read again (after the trust step): what `n`
    /// offers now; `pick` goes on to the agent (or asks again, when the
    /// project changed since it was shown).
    pub(super) fn offer(
        &mut self,
        choices: Vec<AgentChoice>,
        bottles: Vec<String>,
        untrusted: Option<Box<Summary>>,
        status: String,
        pick: bool,
    ) -> Vec<Effect> {
        self.choices = choices;
        self.bottle_names = bottles;
        self.untrusted = untrusted;
        self.status = Some(status);
        if pick && self.modal.is_none() {
            return self.new_agent();
        }
        Vec::new()
    }

    pub(super) fn agent_picker(&self) -> Picker {
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

    /// A key while one of the `n` flow's modals is open. Each step
    /// passes what is chosen so far to the next; Esc anywhere drops it.
    pub(super) fn new_agent_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Effect> {
        match modal {
            Modal::PickAgent(picker) => self.flow_step(
                (),
                picker,
                key,
                |(), picker| Modal::PickAgent(picker),
                |app, (), agent| {
                    let picker = app.bottle_picker(&agent);
                    let request = NewAgent {
                        agent,
                        ..NewAgent::default()
                    };
                    app.keep(Modal::PickBottle { request, picker })
                },
            ),
            Modal::PickBottle { request, picker } => self.flow_step(
                request,
                picker,
                key,
                |request, picker| Modal::PickBottle { request, picker },
                |app, mut request, bottles| {
                    request.bottles = bottles;
                    let prompt = Prompt::new("label", &request.agent);
                    app.keep(Modal::Label { request, prompt })
                },
            ),
            Modal::Label { request, prompt } => self.flow_step(
                request,
                prompt,
                key,
                |request, prompt| Modal::Label { request, prompt },
                Self::label_chosen,
            ),
            Modal::PickColor { request, picker } => self.flow_step(
                request,
                picker,
                key,
                |request, picker| Modal::PickColor { request, picker },
                |app, mut request, color| {
                    request.color = color;
                    let prompt = Prompt::new("copy a directory in", &app.cwd).with_help(CWD_HELP);
                    app.keep(Modal::Cwd { request, prompt })
                },
            ),
            Modal::Cwd { request, prompt } => self.flow_step(
                request,
                prompt,
                key,
                |request, prompt| Modal::Cwd { request, prompt },
                |app, mut request, dir| {
                    request.cwd = (!dir.is_empty()).then_some(dir);
                    app.pick_backend(request)
                },
            ),
            Modal::PickBackend { request, picker } => self.flow_step(
                request,
                picker,
                key,
                |request, picker| Modal::PickBackend { request, picker },
                |_, mut request, backend| {
                    request.backend = backend;
                    vec![Effect::Preflight(request)]
                },
            ),
            Modal::Preflight { request, text } => self.preflight_key(request, text, key),
            other => self.keep(other),
        }
    }

    /// One step of the flow takes `key`: while its chooser is open the
    /// modal stays (`reopen` puts it back together with what is chosen so
    /// far); Esc drops the flow; a choice goes on to `next`.
    fn flow_step<R, C: Chooser>(
        &mut self,
        request: R,
        mut chooser: C,
        key: KeyEvent,
        reopen: impl FnOnce(R, C) -> Modal,
        next: impl FnOnce(&mut Self, R, C::Chosen) -> Vec<Effect>,
    ) -> Vec<Effect> {
        match chooser.key(key) {
            Outcome::Pending => self.keep(reopen(request, chooser)),
            Outcome::Cancelled => Vec::new(),
            Outcome::Chosen(chosen) => next(self, request, chosen),
        }
    }

    /// The label step's answer: one that is taken or malformed asks again
    /// (offering a free one); a good one goes on to the colour.
    fn label_chosen(&mut self, mut request: NewAgent, label: String) -> Vec<Effect> {
        let running = self.agents.iter().map(|a| a.label.as_str());
        if let Some(problem) = choose::label_problem(&label, running.clone()) {
            let offer = match label.is_empty() {
                true => request.agent.clone(),
                false => choose::free_label(&label, running),
            };
            let prompt = Prompt::new("label", &offer).with_message(&problem);
            return self.keep(Modal::Label { request, prompt });
        }
        request.label = label;
        let picker = self.color_picker(&request);
        self.keep(Modal::PickColor { request, picker })
    }

    /// A key on the preflight: y starts the agent, n or Esc does not.
    fn preflight_key(&mut self, request: NewAgent, text: String, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.status = Some(format!("starting {}…", request.label));
                vec![Effect::Launch(request)]
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.status = Some("not started".into());
                Vec::new()
            }
            _ => self.keep(Modal::Preflight { request, text }),
        }
    }

    fn keep(&mut self, modal: Modal) -> Vec<Effect> {
        self.modal = Some(modal);
        Vec::new()
    }

    fn choice(&self, agent: &str) -> Option<&AgentChoice> {
        self.choices.iter().find(|c| c.name == agent)
    }

    /// Every bottle, the agent's own chosen already (or `default`, as
    /// `start` without `--bottle`).
    fn bottle_picker(&self, agent: &str) -> MultiPicker {
        let own = self
            .choice(agent)
            .map(|c| c.bottles.clone())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| vec!["default".to_owned()]);
        let items = self
            .bottle_names
            .iter()
            .map(|b| Item {
                name: b.clone(),
                detail: match own.contains(b) {
                    true => format!("{agent}'s own"),
                    false => String::new(),
                },
            })
            .collect();
        MultiPicker::new("bottles", items, &own)
    }

    /// The colors, the one `start` would give first.
    fn color_picker(&self, request: &NewAgent) -> Picker {
        let own = self.choice(&request.agent).and_then(|c| c.color.clone());
        let default = choose::default_color(own.as_deref(), &request.label);
        let items = choose::color_choices(&default)
            .into_iter()
            .map(|c| Item {
                detail: match (c == default, own.is_some()) {
                    (true, true) => format!("{}'s own", request.agent),
                    (true, false) => "the default for this label".into(),
                    (false, _) => String::new(),
                },
                name: c,
            })
            .collect();
        Picker::new("color", items)
    }

    /// The backend choice is skipped when there is only one.
    fn pick_backend(&mut self, mut request: NewAgent) -> Vec<Effect> {
        if self.backends.len() <= 1 {
            request.backend = self
                .backends
                .first()
                .cloned()
                .unwrap_or_else(|| "docker".into());
            return vec![Effect::Preflight(request)];
        }
        let items = self
            .backends
            .iter()
            .map(|b| Item {
                name: b.clone(),
                detail: match b.as_str() {
                    "docker" => "the agent in a container".into(),
                    "smolmachines" => "the agent in a microVM (smolvm)".into(),
                    _ => String::new(),
                },
            })
            .collect();
        let picker = Picker::new("backend", items);
        self.keep(Modal::PickBackend { request, picker })
    }
}

impl NewAgent {
    /// What was chosen, as `start`'s flags would give it (`here`: the
    /// dashboard's directory, which a relative one is taken from).
    pub(crate) fn choices(&self, here: &Path) -> Choices {
        Choices {
            bottles: self.bottles.clone(),
            label: Some(self.label.clone()),
            color: Some(self.color.clone()),
            copy: self.cwd.as_deref().and_then(|d| choose::copy_dir(d, here)),
        }
    }
}

const CWD_HELP: &str = "empty copies nothing · Ctrl-U clear · Esc cancel";
