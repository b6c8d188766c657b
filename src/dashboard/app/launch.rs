//! The `n` flow, pure: pick an agent, a bottle, a backend, read the
//! preflight, launch.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, DEFAULT_BOTTLES, Effect, Modal, NewAgent};
use crate::picker::{Item, Outcome, Picker};

impl App {
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

    /// A key while one of the `n` flow's modals is open.
    pub(super) fn new_agent_key(&mut self, modal: Modal, key: KeyEvent) -> Vec<Effect> {
        match modal {
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
            other => {
                self.modal = Some(other);
                Vec::new()
            }
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
                detail: match b.as_str() {
                    "docker" => "the agent in a container".into(),
                    "smolmachines" => "the agent in a microVM (smolvm)".into(),
                    _ => String::new(),
                },
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
