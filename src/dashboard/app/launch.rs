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

use crate::backend::BackendKind;
use crate::dashboard::text::{slice, wrap};
use crate::launch::steps::{Answer, Ask, Offer, Steps};
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

    /// A key while one of the `n` flow's modals is open. Each step shows
    /// what `launch::steps` asks and passes the steps on; Esc anywhere
    /// drops them.
    pub(super) fn new_agent_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Effect> {
        use Modal::{Cwd, Label, PickAgent, PickBackend, PickBottle, PickColor};
        match modal {
            PickAgent(picker) => self.flow_step(
                (),
                picker,
                key,
                |(), p| PickAgent(p),
                |app, (), agent| {
                    let steps = Steps::new(app.steps_offer(agent));
                    app.next_step(steps)
                },
            ),
            PickBottle { request, picker } => {
                let reopen = |request, picker| PickBottle { request, picker };
                self.flow_step(request, picker, key, reopen, |app, mut steps, bottles| {
                    steps.answer(Answer::Many(bottles));
                    app.next_step(steps)
                })
            }
            Label { request, prompt } => {
                let reopen = |request, prompt| Label { request, prompt };
                self.flow_step(request, prompt, key, reopen, Self::answered)
            }
            PickColor { request, picker } => {
                let reopen = |request, picker| PickColor { request, picker };
                self.flow_step(request, picker, key, reopen, Self::answered)
            }
            Cwd { request, prompt } => {
                let reopen = |request, prompt| Cwd { request, prompt };
                self.flow_step(request, prompt, key, reopen, Self::answered)
            }
            PickBackend { request, picker } => {
                let reopen = |request, picker| PickBackend { request, picker };
                self.flow_step(request, picker, key, reopen, Self::answered)
            }
            Modal::Preflight { request, text } => self.preflight_key(request, text, key),
            other => self.keep(other),
        }
    }

    /// One step of the flow takes `key`: while its chooser is open the
    /// modal stays (`reopen` puts it back together with the steps so far);
    /// Esc drops the flow; a choice goes on to `next`.
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

    /// A step answered with one item or text.
    fn answered(&mut self, mut steps: Steps, answer: String) -> Vec<Effect> {
        steps.answer(Answer::One(answer));
        self.next_step(steps)
    }

    /// The modal of what the steps ask next; once nothing is left, the
    /// preflight of what they chose.
    fn next_step(&mut self, request: Steps) -> Vec<Effect> {
        let modal = match request.ask() {
            None => return vec![Effect::Preflight(request.chosen().clone())],
            Some(Ask::Bottles { items, chosen }) => Modal::PickBottle {
                picker: MultiPicker::new("bottles", items, &chosen),
                request,
            },
            Some(Ask::Label { offer, problem }) => {
                let prompt = Prompt::new("label", &offer);
                let prompt = match problem {
                    Some(problem) => prompt.with_message(&problem),
                    None => prompt,
                };
                Modal::Label { request, prompt }
            }
            Some(Ask::Color { items }) => Modal::PickColor {
                picker: Picker::new("color", items),
                request,
            },
            Some(Ask::Copy { offer }) => Modal::Cwd {
                prompt: Prompt::new("copy a directory in", &offer).with_help(CWD_HELP),
                request,
            },
            Some(Ask::Backend { items }) => Modal::PickBackend {
                picker: Picker::new("backend", items),
                request,
            },
        };
        self.keep(modal)
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

    /// What the steps offer for `agent`: its own bottles (or `default`,
    /// as `start` without `--bottle`), every bottle, the running labels,
    /// the backends (docker when none is known) and this directory.
    fn steps_offer(&self, agent: String) -> Offer {
        let choice = self.choices.iter().find(|c| c.name == agent);
        let own = choice
            .map(|c| c.bottles.clone())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| vec!["default".to_owned()]);
        let backends = match self.backends.is_empty() {
            true => vec![BackendKind::Docker.name().to_owned()],
            false => self.backends.clone(),
        };
        Offer {
            agent_color: choice.and_then(|c| c.color.clone()),
            own,
            bottles: self.bottle_names.clone(),
            running: self.agents.iter().map(|a| a.label.clone()).collect(),
            backends,
            here: self.cwd.clone(),
            agent,
        }
    }
}

const CWD_HELP: &str = "empty copies nothing · Ctrl-U clear · Esc cancel";
