//! The choices of a launch, pure: what `start`'s flags or the interactive
//! steps (`steps`) chose, as one start request; the rules the steps ask
//! by (a free label, the default color, a directory to copy in).

use std::path::{Path, PathBuf};

use super::StartRequest;
use crate::backend::BackendKind;
use crate::manifest::COLORS;
use crate::state::slugify;

/// What a launch was given, by flags (`start --bottle --label --color
/// --cwd`) or by the steps (on the terminal, in the dashboard): one way
/// to a start request, whichever asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choices {
    /// In order; empty: the agent's own.
    pub bottles: Vec<String>,
    pub label: Option<String>,
    pub color: Option<String>,
    /// The directory to copy in.
    pub copy: Option<PathBuf>,
}

impl Choices {
    /// The request; `here` is where the launch was asked from.
    pub fn request(
        self,
        agent: String,
        backend: BackendKind,
        here: PathBuf,
        extra_args: Vec<String>,
    ) -> StartRequest {
        StartRequest {
            agent,
            bottles: self.bottles,
            backend,
            label: self.label,
            color: self.color,
            copy_cwd: self.copy.is_some(),
            include_ignored: false,
            cwd: self.copy.unwrap_or(here),
            extra_args,
            identity: None,
        }
    }
}

/// Why a label cannot be used, to say when asking again; `None` when it
/// can. A label is taken when a running bottle's label makes the same
/// identity prefix (`Fix bug` and `fix-bug` collide).
pub fn label_problem<'a>(
    label: &str,
    running: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if label.trim().is_empty() {
        return Some("a label is needed (the identity starts with it)".into());
    }
    let mine = slugify(label);
    running
        .into_iter()
        .any(|r| slugify(r) == mine)
        .then(|| format!("\"{label}\" is already in use"))
}

/// The label to offer instead of a taken one: `label-2`, `label-3`, … the
/// first no running bottle uses.
pub fn free_label<'a>(label: &str, running: impl IntoIterator<Item = &'a str> + Clone) -> String {
    let base = label.trim();
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|l| label_problem(l, running.clone()).is_none())
        .unwrap_or_else(|| base.to_owned())
}

/// The color a launch gets when none is chosen: the agent's, else one
/// derived from the label (as `start` without `--color`).
pub fn default_color(agent_color: Option<&str>, label: &str) -> String {
    agent_color.map_or_else(|| super::color_for(label).to_owned(), str::to_owned)
}

/// The colors offered, the default first.
pub fn color_choices(default: &str) -> Vec<String> {
    std::iter::once(default)
        .chain(COLORS.iter().copied().filter(|c| *c != default))
        .map(str::to_owned)
        .collect()
}

/// The directory to copy in, from what was typed: nothing means none; a
/// relative path is taken from `here`.
pub fn copy_dir(typed: &str, here: &Path) -> Option<PathBuf> {
    let typed = typed.trim();
    if typed.is_empty() {
        return None;
    }
    Some(here.join(typed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let running = ["shell", "Fix bug", "shell-2"];
        // (label, a problem?)
        let cases: &[(&str, Option<&str>)] = &[
            ("review", None),
            ("shell", Some("\"shell\" is already in use")),
            ("SHELL", Some("already in use")),
            ("fix-bug", Some("already in use")),
            ("shell-3", None),
            ("", Some("a label is needed")),
            ("   ", Some("a label is needed")),
        ];
        for (label, want) in cases {
            let got = label_problem(label, running);
            match want {
                None => assert_eq!(got, None, "{label}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "{label}: {got:?}"
                ),
            }
        }
        assert_eq!(free_label("shell", running), "shell-3");
        assert_eq!(free_label("review", running), "review-2");
    }

    #[test]
    fn colors() {
        assert_eq!(default_color(Some("red"), "x"), "red");
        assert_eq!(default_color(None, "x"), crate::launch::color_for("x"));
        let offered = color_choices("pink");
        assert_eq!(offered[0], "pink");
        assert_eq!(offered.len(), COLORS.len(), "no duplicate");
        let hex = color_choices("#102030");
        assert_eq!(hex[0], "#102030");
        assert_eq!(hex.len(), COLORS.len() + 1);
    }

    #[test]
    fn directories() {
        let here = Path::new("/proj");
        assert_eq!(copy_dir("", here), None);
        assert_eq!(copy_dir("  ", here), None);
        assert_eq!(copy_dir("/src/x", here), Some(PathBuf::from("/src/x")));
        assert_eq!(copy_dir("sub", here), Some(PathBuf::from("/proj/sub")));
    }
}
