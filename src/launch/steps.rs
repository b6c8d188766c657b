//! The steps of an interactive launch, once, as a pure state machine:
//! after the agent, the bottles in order, a label no running bottle uses,
//! a color, a directory to copy in, and the backend when there is a choice.
//! `start` on a terminal and the dashboard's `n` both walk it: each shows
//! what `Steps::ask` says (a picker or prompt on the terminal, a modal in
//! the dashboard) and hands the answer to `Steps::answer`, until there is
//! nothing left to ask and `Steps::chosen` is the launch.

use std::path::Path;

use super::choose::{self, Choices};
use crate::backend::BackendKind;
use crate::picker::Item;

/// What the steps offer, as the caller knows it when they start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub agent: String,
    /// The agent's own color, if it names one.
    pub agent_color: Option<String>,
    /// The bottles `start` without `--bottle` would compose: chosen first.
    pub own: Vec<String>,
    /// Every bottle of the manifest.
    pub bottles: Vec<String>,
    /// The labels of the bottles running now.
    pub running: Vec<String>,
    /// The backends to choose from; with one, it is chosen without asking.
    pub backends: Vec<String>,
    /// The directory the launch was asked from, offered to copy in.
    pub here: String,
}

/// What the launch asks next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Bottles, in order; `chosen` are ticked at first.
    Bottles {
        items: Vec<Item>,
        chosen: Vec<String>,
    },
    /// A label: `offer` typed in already, `problem` with the last answer.
    Label {
        offer: String,
        problem: Option<String>,
    },
    /// A color, the default first.
    Color { items: Vec<Item> },
    /// A directory to copy in; empty copies nothing.
    Copy { offer: String },
    /// Where to run the bottle.
    Backend { items: Vec<Item> },
}

/// What the launch chose: what `start AGENT --bottle A --bottle B --label
/// L --color C --cwd=D --backend X` would launch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chosen {
    pub agent: String,
    /// In the order chosen; empty: the agent's own selection.
    pub bottles: Vec<String>,
    pub label: String,
    pub color: String,
    /// The directory to copy in, as typed (relative to where the launch
    /// was asked from); `None`: nothing is copied.
    pub cwd: Option<String>,
    pub backend: String,
}

impl Chosen {
    /// What was chosen, as `start`'s flags would give it (`here`: where
    /// the launch was asked from, which a relative directory is taken from).
    pub fn choices(&self, here: &Path) -> Choices {
        Choices {
            bottles: self.bottles.clone(),
            label: Some(self.label.clone()),
            color: Some(self.color.clone()),
            copy: self.cwd.as_deref().and_then(|d| choose::copy_dir(d, here)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Bottles,
    Label,
    Color,
    Copy,
    Backend,
    Done,
}

/// Where an interactive launch is, and what it chose so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    offer: Offer,
    chosen: Chosen,
    at: At,
    /// The label step's offer and the last answer's problem.
    label: (String, Option<String>),
}

impl Steps {
    /// The first step, for the agent chosen.
    pub fn new(offer: Offer) -> Steps {
        Steps {
            chosen: Chosen {
                agent: offer.agent.clone(),
                ..Chosen::default()
            },
            label: (offer.agent.clone(), None),
            offer,
            at: At::Bottles,
        }
    }

    /// What to ask now; `None` once everything is chosen.
    pub fn ask(&self) -> Option<Ask> {
        let offer = &self.offer;
        Some(match self.at {
            At::Bottles => Ask::Bottles {
                items: offer
                    .bottles
                    .iter()
                    .map(|b| item(b, own_detail(offer.own.contains(b), &offer.agent)))
                    .collect(),
                chosen: offer.own.clone(),
            },
            At::Label => Ask::Label {
                offer: self.label.0.clone(),
                problem: self.label.1.clone(),
            },
            At::Color => Ask::Color {
                items: self.colors(),
            },
            At::Copy => Ask::Copy {
                offer: offer.here.clone(),
            },
            At::Backend => Ask::Backend {
                items: offer
                    .backends
                    .iter()
                    .map(|b| item(b, backend_detail(b)))
                    .collect(),
            },
            At::Done => return None,
        })
    }

    /// The answer to what `ask` asked: the bottles ticked, or the one
    /// item or text chosen. A label that is taken or empty asks again,
    /// offering a free one.
    pub fn answer(&mut self, answer: Answer) {
        let text = match answer {
            Answer::Many(bottles) => {
                if self.at == At::Bottles {
                    self.chosen.bottles = bottles;
                    self.at = At::Label;
                }
                return;
            }
            Answer::One(text) => text,
        };
        match self.at {
            At::Label => {
                let running = self.offer.running.iter().map(String::as_str);
                match choose::label_problem(&text, running.clone()) {
                    Some(problem) => {
                        let offer = match text.is_empty() {
                            true => self.offer.agent.clone(),
                            false => choose::free_label(&text, running),
                        };
                        self.label = (offer, Some(problem));
                    }
                    None => {
                        self.chosen.label = text;
                        self.at = At::Color;
                    }
                }
            }
            At::Color => {
                self.chosen.color = text;
                self.at = At::Copy;
            }
            At::Copy => {
                self.chosen.cwd = (!text.is_empty()).then_some(text);
                self.at = match self.offer.backends.as_slice() {
                    [_, _, ..] => At::Backend,
                    one => {
                        self.chosen.backend = one.first().cloned().unwrap_or_default();
                        At::Done
                    }
                };
            }
            At::Backend => {
                self.chosen.backend = text;
                self.at = At::Done;
            }
            At::Bottles | At::Done => {}
        }
    }

    /// What was chosen (complete once `ask` is `None`).
    pub fn chosen(&self) -> &Chosen {
        &self.chosen
    }

    /// The colors, the one `start` would give first.
    fn colors(&self) -> Vec<Item> {
        let own = self.offer.agent_color.as_deref();
        let default = choose::default_color(own, &self.chosen.label);
        choose::color_choices(&default)
            .into_iter()
            .map(|c| {
                let detail = match (c == default, own.is_some()) {
                    (true, true) => format!("{}'s own", self.offer.agent),
                    (true, false) => "the default for this label".into(),
                    (false, _) => String::new(),
                };
                item(&c, detail)
            })
            .collect()
    }
}

/// An answer to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The bottles ticked, in order.
    Many(Vec<String>),
    /// The item chosen, or the text typed.
    One(String),
}

fn item(name: &str, detail: String) -> Item {
    Item {
        name: name.to_owned(),
        detail,
    }
}

fn own_detail(own: bool, agent: &str) -> String {
    match own {
        true => format!("{agent}'s own"),
        false => String::new(),
    }
}

fn backend_detail(backend: &str) -> String {
    match BackendKind::parse(backend) {
        Some(BackendKind::Docker) => "the agent in a container".into(),
        Some(BackendKind::Smolmachines) => "the agent in a microVM (smolvm)".into(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(backends: &[&str]) -> Offer {
        Offer {
            agent: "shell".into(),
            agent_color: None,
            own: vec!["default".into()],
            bottles: vec!["default".into(), "extra".into()],
            running: vec!["shell".into()],
            backends: backends.iter().map(|b| b.to_string()).collect(),
            here: "/proj".into(),
        }
    }

    fn one(text: &str) -> Answer {
        Answer::One(text.into())
    }

    #[test]
    fn every_step_in_order_then_the_launch() {
        let mut steps = Steps::new(offer(&["docker", "smolmachines"]));
        let Some(Ask::Bottles { items, chosen }) = steps.ask() else {
            panic!("bottles first: {:?}", steps.ask());
        };
        assert_eq!(chosen, ["default"]);
        assert_eq!(items[0].detail, "shell's own");
        assert_eq!(items[1].detail, "");
        steps.answer(Answer::Many(vec!["extra".into(), "default".into()]));
        assert_eq!(
            steps.ask(),
            Some(Ask::Label {
                offer: "shell".into(),
                problem: None
            })
        );
        // Taken: asked again, offering a free one; empty: the agent.
        steps.answer(one("shell"));
        assert_eq!(
            steps.ask(),
            Some(Ask::Label {
                offer: "shell-2".into(),
                problem: Some("\"shell\" is already in use".into())
            })
        );
        steps.answer(one(""));
        assert!(
            matches!(steps.ask(), Some(Ask::Label { offer, problem: Some(_) }) if offer == "shell")
        );
        steps.answer(one("Fix bug"));
        let Some(Ask::Color { items }) = steps.ask() else {
            panic!("then the color");
        };
        assert_eq!(items[0].name, crate::launch::color_for("Fix bug"));
        assert_eq!(items[0].detail, "the default for this label");
        steps.answer(one("pink"));
        assert_eq!(
            steps.ask(),
            Some(Ask::Copy {
                offer: "/proj".into()
            })
        );
        steps.answer(one("sub"));
        let Some(Ask::Backend { items }) = steps.ask() else {
            panic!("then the backend, with two");
        };
        assert_eq!(items[1].detail, "the agent in a microVM (smolvm)");
        steps.answer(one("smolmachines"));
        assert_eq!(steps.ask(), None);
        assert_eq!(
            steps.chosen(),
            &Chosen {
                agent: "shell".into(),
                bottles: vec!["extra".into(), "default".into()],
                label: "Fix bug".into(),
                color: "pink".into(),
                cwd: Some("sub".into()),
                backend: "smolmachines".into(),
            }
        );
    }

    #[test]
    fn one_backend_is_not_asked_and_an_empty_directory_copies_nothing() {
        for (backends, want) in [(&["docker"][..], "docker"), (&[][..], "")] {
            let mut steps = Steps::new(Offer {
                agent_color: Some("red".into()),
                ..offer(backends)
            });
            steps.answer(Answer::Many(vec!["default".into()]));
            steps.answer(one("review"));
            let Some(Ask::Color { items }) = steps.ask() else {
                panic!("the color");
            };
            assert_eq!(
                (items[0].name.as_str(), items[0].detail.as_str()),
                ("red", "shell's own")
            );
            steps.answer(one("red"));
            steps.answer(one(""));
            assert_eq!(steps.ask(), None, "{backends:?}");
            assert_eq!(steps.chosen().cwd, None);
            assert_eq!(steps.chosen().backend, want);
        }
    }

    #[test]
    fn an_answer_out_of_turn_changes_nothing() {
        let mut steps = Steps::new(offer(&["docker"]));
        let before = steps.clone();
        steps.answer(one("pink"));
        assert_eq!(steps, before, "text is no answer to the bottles");
        steps.answer(Answer::Many(vec![]));
        let at_label = steps.clone();
        steps.answer(Answer::Many(vec!["extra".into()]));
        assert_eq!(steps, at_label, "bottles are no answer to the label");
    }
}
