//! The state folders `cleanup` removes, planned across backends (pure):
//! every backend available here is taken down whole, so a folder goes
//! unless it is marked for resume, or its bottle ran on a backend this host
//! cannot see (a live bottle there keeps its state).

use std::fmt::Write as _;

use super::BackendKind;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatePlan {
    /// Removed.
    pub remove: Vec<String>,
    /// Kept because they are marked for resume.
    pub preserved: Vec<String>,
    /// Kept because their backend is not available here, with its name.
    pub unseen: Vec<(String, String)>,
}

/// What is known of one state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub slug: String,
    pub preserved: bool,
    /// The backend its metadata names; `None` when it has none (a
    /// half-written folder), which nothing can resume.
    pub backend: Option<String>,
}

pub fn plan(folders: &[Folder], available: &[BackendKind]) -> StatePlan {
    let mut out = StatePlan::default();
    for f in folders {
        let seen = f.backend.as_deref().is_none_or(|name| {
            BackendKind::parse(name).is_some_and(|kind| available.contains(&kind))
        });
        match (seen, f.preserved) {
            (false, _) => out
                .unseen
                .push((f.slug.clone(), f.backend.clone().unwrap_or_default())),
            (true, true) => out.preserved.push(f.slug.clone()),
            (true, false) => out.remove.push(f.slug.clone()),
        }
    }
    out
}

impl StatePlan {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.remove.is_empty() {
            let _ = writeln!(out, "  state folders: {}", self.remove.join(", "));
        }
        if !self.preserved.is_empty() {
            let _ = writeln!(out, "  kept for resume: {}", self.preserved.join(", "));
        }
        if !self.unseen.is_empty() {
            let kept: Vec<String> = self
                .unseen
                .iter()
                .map(|(slug, backend)| format!("{slug} ({backend})"))
                .collect();
            let _ = writeln!(
                out,
                "  kept, their backend is not available here: {}",
                kept.join(", ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(slug: &str, preserved: bool, backend: Option<&str>) -> Folder {
        Folder {
            slug: slug.into(),
            preserved,
            backend: backend.map(String::from),
        }
    }

    #[test]
    fn live_bottles_of_unseen_backends_keep_their_state() {
        let folders = [
            folder("a", false, Some("docker")),
            folder("keep", true, Some("docker")),
            folder("vm", false, Some("smolmachines")),
            folder("vm-kept", true, Some("smolmachines")),
            folder("half", false, None),
            folder("future", false, Some("k8s")),
        ];
        let docker_only = plan(&folders, &[BackendKind::Docker]);
        assert_eq!(docker_only.remove, ["a", "half"]);
        assert_eq!(docker_only.preserved, ["keep"]);
        assert_eq!(
            docker_only.unseen,
            [
                ("vm".to_owned(), "smolmachines".to_owned()),
                ("vm-kept".to_owned(), "smolmachines".to_owned()),
                ("future".to_owned(), "k8s".to_owned()),
            ]
        );
        insta::assert_snapshot!(docker_only.render(), @r"
          state folders: a, half
          kept for resume: keep
          kept, their backend is not available here: vm (smolmachines), vm-kept (smolmachines), future (k8s)
        ");

        let both = plan(&folders, &BackendKind::ALL);
        assert_eq!(both.remove, ["a", "vm", "half"]);
        assert_eq!(both.preserved, ["keep", "vm-kept"]);
        assert!(plan(&[], &BackendKind::ALL).is_empty());
    }
}
