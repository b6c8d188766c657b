//! Where a bottle's proposals wait: the one place that knows its queues.
//!
//! ```text
//! state/<slug>/supervise/   the agent's tool calls (egress, image)
//! state/<slug>/git-gate/    pushes the git gate held for the operator
//! state/<slug>/suggestions/ routes made on the host from denied requests
//! ```
//!
//! The first two are written by sidecars, so what is read from them is
//! untrusted: each queue admits only its own kind of proposal, an id that
//! is not a proposal id is skipped, and the text of a held push is made
//! inert (the gate copies commit subjects and file names, which the agent
//! chose). A proposal's source is the queue's: a sidecar cannot pass its
//! proposal off as one made from denials.

use std::path::{Component, Path};

use crate::gitgate;
use crate::proposal::queue::{Queue, check_id};
use crate::proposal::{GitPush, Origin, Proposal, Request};
use crate::state::Home;
use crate::state::bottle_dir::SUGGESTIONS;
use crate::text::inert;

/// The supervise sidecar's state folder, in a bottle's.
use crate::contract::services::{GIT_GATE, SUPERVISE};

/// Which sidecar's queue a proposal waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The supervise sidecar: the agent's tool calls.
    Supervise,
    /// The git gate: held pushes.
    Gate,
    /// The host's suggestions from denied requests (learning mode).
    Denied,
}

impl Source {
    pub(crate) const ALL: [Source; 3] = [Source::Supervise, Source::Gate, Source::Denied];

    /// The queue's folder in a bottle's state folder.
    pub(crate) fn folder(self) -> &'static str {
        match self {
            Source::Supervise => SUPERVISE,
            Source::Gate => GIT_GATE,
            Source::Denied => SUGGESTIONS,
        }
    }

    /// Whether a proposal of this kind may come from this queue: git
    /// pushes from the gate only, routes and budgets from the host's own
    /// queue (made from denials) only, everything else from supervise
    /// only.
    pub(crate) fn admits(self, request: &Request) -> bool {
        match self {
            Source::Supervise => !matches!(request, Request::GitPush(_) | Request::Budget { .. }),
            Source::Gate => matches!(request, Request::GitPush(_)),
            Source::Denied => {
                matches!(
                    request,
                    Request::EgressBlock { .. } | Request::Budget { .. }
                )
            }
        }
    }

    /// Who the proposals of this queue come from.
    pub(crate) fn origin(self) -> Origin {
        match self {
            Source::Denied => Origin::Denied,
            Source::Supervise | Source::Gate => Origin::Agent,
        }
    }
}

/// A bottle's queues, supervise's first.
pub(crate) fn queues(home: &Home, slug: &str) -> Vec<(Source, Queue)> {
    Source::ALL
        .iter()
        .map(|s| (*s, Queue::new(&home.bottle(slug).service(s.folder()))))
        .collect()
}

/// A proposal read from `source`'s queue of bottle `slug`, as the host
/// may use it: None when that queue may not hold it. Its bottle is the
/// one whose queue holds it, whatever the file says.
pub(crate) fn admit(source: Source, slug: &str, mut proposal: Proposal) -> Option<Proposal> {
    if !source.admits(&proposal.request) || check_id(&proposal.id).is_err() {
        return None;
    }
    proposal.slug = slug.to_owned();
    proposal.source = source.origin();
    proposal.replaces = proposal.replaces.filter(|id| check_id(id).is_ok());
    if let Request::GitPush(push) = &mut proposal.request {
        proposal.justification = multiline(&proposal.justification);
        proposal.created_at = inert(&proposal.created_at);
        clean_push(push);
    }
    Some(proposal)
}

/// Every string of a held push, inert (the diffstat and the protected
/// diff keep their lines).
fn clean_push(push: &mut GitPush) {
    for s in [&mut push.git_ref, &mut push.old, &mut push.new] {
        *s = inert(s);
    }
    for list in [&mut push.forward, &mut push.reasons, &mut push.commits] {
        for s in list.iter_mut() {
            *s = inert(s);
        }
    }
    push.diffstat = multiline(&push.diffstat);
    push.protected_diff = multiline(&push.protected_diff);
}

/// Inert line by line, the line breaks (`\n`) kept: a carriage return is
/// shown, never acted on.
fn multiline(text: &str) -> String {
    text.split('\n').map(inert).collect::<Vec<_>>().join("\n")
}

/// Whether a change at `path` (under the state root `root`) is only git's
/// own churn in a gate's repository: the dashboard need not list the
/// proposals again for it.
pub(crate) fn is_repository_churn(root: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(root) else {
        return false;
    };
    let parts: Vec<&std::ffi::OsStr> = rest
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    parts.len() > 2 && parts[1] == GIT_GATE && parts[2] == gitgate::REPO
}

/// The bottle whose state folder holds `path` (under the state root
/// `root`).
pub(crate) fn bottle_of(root: &Path, path: &Path) -> Option<String> {
    match path.strip_prefix(root).ok()?.components().next()? {
        Component::Normal(slug) => slug.to_str().map(str::to_owned),
        _ => None,
    }
}

/// Whether `path` (under the state root `root`) is a gate's `landed.json`
/// (or the temporary file it is written through).
pub(crate) fn is_landed(root: &Path, path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix(root) else {
        return false;
    };
    let parts: Vec<&std::ffi::OsStr> = rest.iter().collect();
    parts.len() == 3
        && parts[1] == GIT_GATE
        && parts[2]
            .to_str()
            .is_some_and(|name| name.contains(gitgate::LANDED_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(request: Request) -> Proposal {
        Proposal {
            id: "m1-abcd".into(),
            slug: "liar-zzzzz".into(),
            created_at: "2026-12-03T04:00:00.000Z".into(),
            justification: "held".into(),
            request,
            source: Origin::Denied,
            replaces: None,
        }
    }

    #[test]
    fn a_path_names_its_bottle() {
        let root = Path::new("/h/state");
        for (path, slug) in [
            (
                "/h/state/shell-aaaaa/egress/decisions.jsonl",
                Some("shell-aaaaa"),
            ),
            ("/h/state/shell-aaaaa", Some("shell-aaaaa")),
            ("/h/state", None),
            ("/h/other/shell-aaaaa/x", None),
        ] {
            assert_eq!(bottle_of(root, Path::new(path)).as_deref(), slug, "{path}");
        }
    }

    #[test]
    fn each_queue_admits_its_own_kind() {
        let route = Request::PipelockBlock {
            failed_url: "https://pypi.org/".into(),
            host: "pypi.org".into(),
        };
        let git = Request::GitPush(GitPush::held_example());
        let egress = Request::EgressBlock {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()],
            auth: None,
        };
        let cases = [
            (Source::Supervise, route.clone(), true),
            (Source::Gate, route.clone(), false),
            (Source::Denied, route, false),
            (Source::Supervise, egress.clone(), true),
            (Source::Denied, egress, true),
            (Source::Supervise, git.clone(), false),
            (Source::Denied, git.clone(), false),
            (Source::Gate, git, true),
        ];
        for (source, request, want) in cases {
            let got = admit(source, "dev-aaaaa", proposal(request.clone()));
            assert_eq!(got.is_some(), want, "{source:?} {request:?}");
            if let Some(p) = got {
                assert_eq!(p.slug, "dev-aaaaa", "the queue's bottle, not the file's");
                let origin = match source {
                    Source::Denied => Origin::Denied,
                    _ => Origin::Agent,
                };
                assert_eq!(p.source, origin, "the queue's source, not the file's");
            }
        }
        let mut bad_id = proposal(Request::GitPush(GitPush::held_example()));
        bad_id.id = "../../x".into();
        assert!(admit(Source::Gate, "dev-aaaaa", bad_id).is_none());
    }

    #[test]
    fn a_held_push_is_made_inert() {
        let mut p = GitPush::held_example();
        p.commits = vec!["abc1234 \x1b]52;c;aGk=\x07 subject\u{202e}".into()];
        p.reasons = vec!["path \x1b[2J".into()];
        p.git_ref = "refs/heads/\x1b[31mx".into();
        p.diffstat = " a\x1b[2J | 1 +\n 1 file changed\r".into();
        p.protected_diff = "+run: curl x\r\n+\x1b]52;c;aGk=\x07\n\u{202e}+ok\n".into();
        let admitted = admit(Source::Gate, "dev-aaaaa", proposal(Request::GitPush(p))).unwrap();
        let Request::GitPush(p) = &admitted.request else {
            panic!("kind changed")
        };
        assert_eq!(
            p.commits,
            ["abc1234 \\u{1b}]52;c;aGk=\\u{7} subject\\u{202e}"]
        );
        assert_eq!(p.reasons, ["path \\u{1b}[2J"]);
        assert_eq!(p.git_ref, "refs/heads/\\u{1b}[31mx");
        assert_eq!(p.diffstat, " a\\u{1b}[2J | 1 +\n 1 file changed\\u{d}");
        assert_eq!(
            p.protected_diff, "+run: curl x\\u{d}\n+\\u{1b}]52;c;aGk=\\u{7}\n\\u{202e}+ok\n",
            "line by line, every line kept, a carriage return shown"
        );
        let all = serde_json::to_string(&admitted).unwrap();
        assert!(!all.contains('\u{1b}'), "{all}");
    }

    #[test]
    fn repository_churn_is_told_from_queue_changes() {
        let root = Path::new("/h/state");
        let cases = [
            ("/h/state/a-1/git-gate/repo.git/objects/ab/cd", true),
            ("/h/state/a-1/git-gate/repo.git", true),
            ("/h/state/a-1/git-gate/queue/m1-abcd.json", false),
            ("/h/state/a-1/supervise/queue/m1-abcd.json", false),
            ("/h/state/a-1/egress/routes.json", false),
            ("/h/state/a-1", false),
            ("/elsewhere/a-1/git-gate/repo.git/x", false),
        ];
        for (path, want) in cases {
            assert_eq!(is_repository_churn(root, Path::new(path)), want, "{path}");
        }
        let landed = [
            ("/h/state/a-1/git-gate/landed.json", true),
            ("/h/state/a-1/git-gate/.landed.json.tmp", true),
            ("/h/state/a-1/git-gate/queue/landed.json", false),
            ("/h/state/a-1/supervise/landed.json", false),
        ];
        for (path, want) in landed {
            assert_eq!(is_landed(root, Path::new(path)), want, "{path}");
        }
    }
}
