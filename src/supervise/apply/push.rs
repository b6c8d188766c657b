//! Deciding a push the git gate held. The gate does the work (moves the
//! ref, lands, forwards, answers and archives the proposal in its own
//! queue); the host asks it through a `Decide`, passing what the operator
//! was shown (the gate refuses anything else) and, once it has done it,
//! records the decision in the bottle's audit log. A gate that fails
//! leaves the proposal pending and the log untouched.

use super::ApplyError;
use crate::backend::sidecars::Decide;
use crate::contract::audit::decision;
use crate::gitgate::Shown;
use crate::proposal::audit::{self, Entry};
use crate::proposal::{GitPush, Proposal};
use crate::state::Home;
use crate::text::inert;

/// What the audit log keeps of a held push: its commits, diffstat and
/// protected diff, as the operator read them.
pub(crate) fn audit_diff(push: &GitPush) -> String {
    let mut diff = String::new();
    for commit in &push.commits {
        diff.push_str(commit);
        diff.push('\n');
    }
    for line in push.diffstat.lines().chain(push.protected_diff.lines()) {
        diff.push_str(line);
        diff.push('\n');
    }
    diff
}

/// Asks the gate to apply the decision; returns what it printed (inert,
/// line by line), after auditing it.
pub(crate) fn decide(
    home: &Home,
    proposal: &Proposal,
    push: &GitPush,
    approve: bool,
    reason: Option<&str>,
    gate: &dyn Decide,
) -> Result<String, ApplyError> {
    let shown = approve.then(|| Shown::of(push));
    let printed = gate.decide(&proposal.slug, &proposal.id, shown.as_ref())?;
    let note: String = printed.lines().map(inert).collect::<Vec<_>>().join("\n");
    let decision = if approve {
        decision::APPROVED
    } else {
        decision::REJECTED
    };
    let why = if approve {
        Some(proposal.justification.clone())
    } else {
        reason.map(str::to_owned)
    };
    audit::append(
        home,
        &proposal.slug,
        &Entry::decision(proposal, decision, why, audit_diff(push)),
    )?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use super::super::tests::approving;
    use super::super::{
        Applied, ApplyError, Approval, approve_with, digest, locate, pending, reject_with,
    };
    use super::*;
    use crate::backend::sidecars::GateError;
    use crate::error::UserError;
    use crate::exec::Sink;
    use crate::proposal::Request;
    use crate::proposal::queue::Queue;

    /// A gate that records what it was asked and answers as told.
    struct FakeGate {
        calls: RefCell<Vec<(String, String, Option<Shown>)>>,
        answer: Result<String, String>,
    }

    impl FakeGate {
        fn answering(answer: Result<&str, &str>) -> FakeGate {
            FakeGate {
                calls: RefCell::new(Vec::new()),
                answer: answer.map(str::to_owned).map_err(str::to_owned),
            }
        }
    }

    impl Decide for FakeGate {
        fn decide(
            &self,
            slug: &str,
            id: &str,
            approve: Option<&Shown>,
        ) -> Result<String, GateError> {
            self.calls
                .borrow_mut()
                .push((slug.to_owned(), id.to_owned(), approve.cloned()));
            self.answer.clone().map_err(|reason| match reason.as_str() {
                "down" => GateError::NotRunning {
                    slug: slug.to_owned(),
                },
                _ => GateError::Refused {
                    slug: slug.to_owned(),
                    reason,
                },
            })
        }
    }

    /// A push of bottle `dev-aaaaa` submitted to the queue in `dir`, as
    /// `why`.
    fn submit_push(dir: &Path, why: &str) -> (Queue, Proposal) {
        let queue = Queue::new(dir);
        let p = queue
            .submit(
                "dev-aaaaa",
                Request::GitPush(GitPush::held_example()),
                why.into(),
            )
            .unwrap();
        (queue, p)
    }

    /// A home whose bottle has one push held in its gate's queue.
    fn home_with_held() -> (tempfile::TempDir, Home, Queue, Proposal) {
        let (dir, home) = Home::temp();
        let (queue, p) = submit_push(&home.bottle("dev-aaaaa").gate_dir(), "held: protected path");
        (dir, home, queue, p)
    }

    /// The digest of proposal `id` as the listing shows it now.
    fn read(home: &Home, id: &str) -> String {
        let listed = pending(home).unwrap();
        digest(listed.iter().find(|p| p.proposal.id == id).unwrap())
    }

    #[test]
    fn approving_asks_the_gate_for_what_was_shown_and_audits() {
        let (_dir, home, _queue, p) = home_with_held();
        let listed = pending(&home).unwrap();
        assert_eq!(listed.len(), 1, "the gate's queue is listed");
        assert_eq!(listed[0].proposal.request.tool(), "git-push");
        let gate = FakeGate::answering(Ok(
            "landed as bot-bottle/dev-aaaaa/feature\nforwarded to upstream up\x1b[2J\n",
        ));
        let shown = read(&home, &p.id);
        let (proposal, applied) =
            approve_with(&home, &p.id, &approving(&shown), &Sink::Stderr, &gate).unwrap();
        assert_eq!(proposal.id, p.id);
        assert_eq!(
            gate.calls.borrow().as_slice(),
            [(
                "dev-aaaaa".to_owned(),
                p.id.clone(),
                Some(Shown {
                    git_ref: "refs/heads/feature".into(),
                    old: "0".repeat(40),
                    new: "b".repeat(40),
                    land: true,
                    forward: vec!["up".into()],
                })
            )]
        );
        assert_eq!(
            applied,
            Applied::Git {
                note: "landed as bot-bottle/dev-aaaaa/feature\nforwarded to upstream up\\u{1b}[2J"
                    .into()
            }
        );
        let log = audit::read(&home, "dev-aaaaa");
        assert_eq!(log.len(), 1);
        assert_eq!(
            (
                log[0].tool.as_str(),
                log[0].decision.as_str(),
                log[0].proposal.as_deref()
            ),
            ("git-push", "approved", Some(p.id.as_str()))
        );
        assert_eq!(
            log[0].diff,
            "bbbbbbb fix the ci\n .github/workflows/ci.yml | 2 +-\n 1 file changed\n-on: push\n+on: [push, pull_request]\n",
            "the audit keeps the protected diff read"
        );
    }

    /// A digest of what was read before, or none: the gate is not asked.
    #[test]
    fn a_push_not_read_as_it_is_is_not_sent_to_the_gate() {
        let (_dir, home, _queue, p) = home_with_held();
        let gate = FakeGate::answering(Ok("landed"));
        let listed = pending(&home).unwrap();
        let mut earlier = listed[0].clone();
        let Request::GitPush(push) = &mut earlier.proposal.request else {
            panic!("not a push")
        };
        push.new = "c".repeat(40);
        let stale = digest(&earlier);
        for (approval, want) in [
            (Approval::default(), "was not shown to you"),
            (approving(&stale), "changed since you read it"),
        ] {
            let err = approve_with(&home, &p.id, &approval, &Sink::Stderr, &gate).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        assert!(gate.calls.borrow().is_empty(), "the gate was not asked");
        assert!(locate(&home, &p.id).is_ok(), "still pending");
    }

    #[test]
    fn rejecting_asks_the_gate_and_audits_the_reason() {
        let (_dir, home, _queue, p) = home_with_held();
        let gate = FakeGate::answering(Ok("dropped the held push of feature"));
        let rejected = reject_with(&home, &p.id, Some("not the CI"), &gate).unwrap();
        assert_eq!(rejected.id, p.id);
        assert_eq!(
            gate.calls.borrow().as_slice(),
            [("dev-aaaaa".to_owned(), p.id.clone(), None)]
        );
        let log = audit::read(&home, "dev-aaaaa");
        assert_eq!(log[0].decision, "rejected");
        assert_eq!(log[0].reason.as_deref(), Some("not the CI"));
    }

    #[test]
    fn a_failing_gate_leaves_it_pending_and_writes_nothing() {
        for answer in ["down", "refs/heads/feature moved"] {
            let (_dir, home, queue, p) = home_with_held();
            let gate = FakeGate::answering(Err(answer));
            let shown = read(&home, &p.id);
            let err =
                approve_with(&home, &p.id, &approving(&shown), &Sink::Stderr, &gate).unwrap_err();
            if answer == "down" {
                assert_eq!(
                    err.to_string(),
                    "the git gate of bottle 'dev-aaaaa' is not running: resume the bottle first"
                );
                assert_eq!(err.hint().unwrap(), "bot-bottle resume dev-aaaaa");
            } else {
                assert!(err.to_string().contains("moved"), "{err}");
            }
            assert!(reject_with(&home, &p.id, None, &gate).is_err());
            assert!(locate(&home, &p.id).is_ok(), "still pending");
            assert!(queue.response(&p.id).is_none(), "no answer written");
            assert!(
                audit::read(&home, "dev-aaaaa").is_empty(),
                "nothing audited"
            );
        }
    }

    #[test]
    fn a_push_in_the_supervise_queue_is_not_listed_or_decided() {
        let (_dir, home) = Home::temp();
        let (_queue, p) = submit_push(&home.bottle("dev-aaaaa").supervise_dir(), "forged");
        assert!(pending(&home).unwrap().is_empty());
        let gate = FakeGate::answering(Ok("landed"));
        assert!(matches!(
            approve_with(&home, &p.id, &approving("0123"), &Sink::Stderr, &gate),
            Err(ApplyError::NotFound(_))
        ));
        assert!(gate.calls.borrow().is_empty());
    }
}
