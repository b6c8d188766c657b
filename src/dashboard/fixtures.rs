//! Agents and proposals the app's and the renderer's tests both show.

use super::app::AgentRow;
use crate::proposal::{GitPush, Request};
use crate::supervise::preview::Preview;

/// A docker bottle of the `shell` agent with `services` up.
pub(crate) fn row(slug: &str, services: &[&str]) -> AgentRow {
    AgentRow {
        backend: "docker".into(),
        slug: slug.into(),
        label: slug.into(),
        color: "cyan".into(),
        agent: "shell".into(),
        started_at: "2026-11-25T10:04:05Z".into(),
        services: services.iter().map(|s| s.to_string()).collect(),
        landed: vec![],
        frozen: false,
        asleep: false,
        tokens: None,
        stopped: false,
        seal: None,
        other_home: false,
    }
}

/// A request that widens a route carrying a credential to every path, and
/// the preview that warns of it.
pub(crate) fn widening() -> (Request, Preview) {
    let request = Request::EgressBlock {
        host: "api.github.com".into(),
        path_allowlist: vec!["/".into()],
        auth: None,
    };
    let preview = Preview {
        lines: vec![
            "widens the route to api.github.com:".into(),
            "WARNING: the route to api.github.com carries a credential that the proxy adds; approving also sends it to /".into(),
        ],
        widens_credential: true,
        ..Default::default()
    };
    (request, preview)
}

/// A push the git gate held: it changes a protected path.
pub(crate) fn held_push() -> GitPush {
    GitPush {
        git_ref: "refs/heads/feature".into(),
        old: "a".repeat(40),
        new: "b".repeat(40),
        land: true,
        forward: vec![],
        reasons: vec!["changes protected path .github/workflows/ci.yml".into()],
        diffstat: " .github/workflows/ci.yml | 2 +-".into(),
        commits: vec!["bbbbbbb fix the ci".into()],
        protected_diff: String::new(),
    }
}
