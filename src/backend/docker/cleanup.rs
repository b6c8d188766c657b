//! docker's part of `cleanup`: every labelled compose project, container
//! and network, as one plan (pure), then removed step by step, each step
//! best-effort. State folders are planned across backends
//! (`backend::orphans`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::compose;
use super::enumerate::{Container, Network};
use crate::backend::{BackendKind, CleanupPart};
use crate::exec::{DOCKER, Sink};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupPlan {
    /// Compose projects to take down, by slug, with whether they run.
    pub projects: Vec<(String, bool)>,
    /// Labelled containers compose does not own.
    pub containers: Vec<String>,
    /// Labelled networks no project above takes down.
    pub networks: Vec<String>,
}

impl CleanupPart for CleanupPlan {
    fn backend(&self) -> BackendKind {
        BackendKind::Docker
    }

    fn is_empty(&self) -> bool {
        self.projects.is_empty() && self.containers.is_empty() && self.networks.is_empty()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let mut section = |title: &str, items: Vec<String>| {
            if !items.is_empty() {
                let _ = writeln!(out, "  {title}: {}", items.join(", "));
            }
        };
        let projects = self
            .projects
            .iter()
            .map(|(slug, running)| {
                if *running {
                    format!("{slug} (running)")
                } else {
                    slug.clone()
                }
            })
            .collect();
        section("bottles (compose projects)", projects);
        section("stray containers", self.containers.clone());
        section("stray networks", self.networks.clone());
        out
    }

    fn execute(&self, sink: &Sink) -> Vec<String> {
        execute(self, sink)
    }
}

/// Plans the removal of every labelled container and network.
pub fn plan(containers: &[Container], networks: &[Network]) -> CleanupPlan {
    let mut projects: Vec<(String, bool)> = Vec::new();
    let mut stray_containers = Vec::new();
    for c in containers {
        match &c.project {
            Some(_) => match projects.iter_mut().find(|(s, _)| *s == c.slug) {
                Some(entry) => entry.1 |= c.running,
                None => projects.push((c.slug.clone(), c.running)),
            },
            None => stray_containers.push(c.name.clone()),
        }
    }
    projects.sort();
    let taken_down: BTreeSet<&str> = projects.iter().map(|(s, _)| s.as_str()).collect();
    let stray_networks = networks
        .iter()
        .filter(|n| n.project.is_none() || !taken_down.contains(n.slug.as_str()))
        .map(|n| n.name.clone())
        .collect();
    CleanupPlan {
        projects,
        containers: stray_containers,
        networks: stray_networks,
    }
}

/// Carries out a plan; returns what failed, one line each.
pub fn execute(plan: &CleanupPlan, sink: &Sink) -> Vec<String> {
    let mut failed = Vec::new();
    for (slug, _) in &plan.projects {
        if let Err(e) = compose::down(slug, sink) {
            failed.push(format!("bottle {slug}: {e}"));
        }
    }
    for name in &plan.containers {
        if let Err(e) = DOCKER.output(&mut DOCKER.command(["rm", "--force", "--volumes", name])) {
            failed.push(format!("container {name}: {e}"));
        }
    }
    for name in &plan.networks {
        if let Err(e) = DOCKER.output(&mut DOCKER.command(["network", "rm", name])) {
            failed.push(format!("network {name}: {e}"));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::services as names;

    fn container(name: &str, slug: &str, project: bool, running: bool) -> Container {
        Container {
            name: name.into(),
            slug: slug.into(),
            role: "agent".into(),
            agent: "shell".into(),
            project: project.then(|| names::project(slug)),
            home: None,
            running,
            stopped: !running,
            up: running,
            created: String::new(),
        }
    }

    #[test]
    fn plan_covers_projects_and_strays() {
        let containers = [
            container(&names::container("a", "agent"), "a", true, true),
            container(&names::container("a", "egress"), "a", true, false),
            container(&names::container("b", "agent"), "b", true, false),
            container("manual", "c", false, true),
        ];
        let networks = [
            Network {
                name: "bot-bottle-a_internal".into(),
                slug: "a".into(),
                project: Some(names::project("a")),
                home: None,
            },
            Network {
                name: "bot-bottle-z_internal".into(),
                slug: "z".into(),
                project: Some(names::project("z")),
                home: None,
            },
            Network {
                name: "loose".into(),
                slug: "y".into(),
                project: None,
                home: None,
            },
        ];
        let plan = plan(&containers, &networks);
        assert_eq!(
            plan.projects,
            [("a".to_owned(), true), ("b".to_owned(), false)]
        );
        assert_eq!(plan.containers, ["manual"]);
        assert_eq!(plan.networks, ["bot-bottle-z_internal", "loose"]);
        insta::assert_snapshot!(plan.render(), @r"
          bottles (compose projects): a (running), b
          stray containers: manual
          stray networks: bot-bottle-z_internal, loose
        ");
        assert!(super::plan(&[], &[]).is_empty());
    }
}
