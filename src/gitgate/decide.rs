//! The operator's decision on a git-push proposal, applied inside the gate
//! (`bot-bottle sidecar git-decide`, run by the host with `docker exec`).
//! An approval names what the operator was shown (`Shown`): the gate
//! applies it only when its own queue entry is exactly that, so the commit
//! landed or forwarded is the one that was shown.

use std::io::Write;

use super::HELD_REFS;
use super::deliver::{self, Audit};
use super::git::{GateError, Git};
use super::hooks::{GateEnv, line};
use super::policy::{branch_of, tag_of};
use super::{GateConfig, read_landed};
use crate::contract::audit::decision;
use crate::proposal::audit::Entry;
use crate::proposal::queue::check_id;
use crate::proposal::{Decision, GitPush, Request, Response};

/// What the operator was shown of a held push that decides what approving
/// it does: the ref, its value before, the commit, whether it lands, and
/// the remotes it goes to. These are the fields that survive the host
/// making the proposal inert unchanged (hex ids, refs as the gate writes
/// them), so they are compared, not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The ref pushed.
    pub git_ref: String,
    /// Its old commit.
    pub old: String,
    /// Its new commit.
    pub new: String,
    /// Whether it lands in the operator's repository.
    pub land: bool,
    /// The remotes it is forwarded to.
    pub forward: Vec<String>,
}

impl Shown {
    pub(crate) fn of(push: &GitPush) -> Shown {
        Shown {
            git_ref: push.git_ref.clone(),
            old: push.old.clone(),
            new: push.new.clone(),
            land: push.land,
            forward: push.forward.clone(),
        }
    }

    /// Where `push` differs from what was shown: None when it does not.
    fn differs(&self, push: &GitPush) -> Option<String> {
        let now = Shown::of(push);
        let field = if now.git_ref != self.git_ref {
            "its ref"
        } else if now.old != self.old {
            "its old value"
        } else if now.new != self.new {
            "its commit"
        } else if now.land != self.land {
            "whether it lands"
        } else if now.forward != self.forward {
            "its list of remotes"
        } else {
            return None;
        };
        Some(format!(
            "{field} is not what the operator was shown; nothing was landed or forwarded: list the proposals again"
        ))
    }
}

/// Approve (what was `shown`, which the queue entry must be): a held push
/// updates its branch (if it has not moved since), lands and goes
/// upstream; a forward proposal goes to its remotes. Reject: the held
/// commits are dropped. Either way the answer goes to the queue and the
/// proposal to the archive.
pub fn decide_in(
    env: &GateEnv,
    id: &str,
    shown: Option<&Shown>,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let approve = shown.is_some();
    let fail = |reason: String| GateError::Decide {
        id: id.to_owned(),
        reason,
    };
    check_id(id).map_err(fail)?;
    let queue = env.queue();
    let proposal = queue
        .find(id)
        .ok_or_else(|| fail("no such proposal waits in this gate".into()))?;
    if queue.response(id).is_some() {
        return Err(fail("it is decided already".into()));
    }
    let Request::GitPush(push) = &proposal.request else {
        return Err(fail("not a git-push proposal".into()));
    };
    decidable(push, shown).map_err(fail)?;
    let config = env.config()?;
    let mut note = Vec::<u8>::new();
    if approve && push.land {
        land(env, &config, push, id, &mut note)?;
    } else if approve {
        forward(env, &config, push, id, &mut note, out)?;
    } else {
        drop_held(env, push, id, &mut note)?;
    }
    out.write_all(&note).ok();
    let decision = if approve {
        Decision::Approved
    } else {
        Decision::Rejected
    };
    queue.respond(&Response {
        note: Some(String::from_utf8_lossy(&note).trim().to_owned()).filter(|n| !n.is_empty()),
        ..Response::new(id, decision)
    })?;
    queue.archive(id)?;
    let word = if approve {
        decision::APPROVED
    } else {
        decision::REJECTED
    };
    Audit::from_entry(Entry::decision(
        &proposal,
        word,
        None,
        push.diffstat.clone(),
    ))
    .write(env, out);
    Ok(())
}

/// Whether `push` may be decided as asked (`shown`: approve what was
/// shown; None: reject): an approval needs a ref and commits of the form
/// the gate writes, and the push to be what was shown. Err is why not.
fn decidable(push: &GitPush, shown: Option<&Shown>) -> Result<(), String> {
    let hex = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit());
    let sane = (branch_of(&push.git_ref).is_some() || tag_of(&push.git_ref).is_some())
        && hex(&push.old)
        && hex(&push.new);
    if shown.is_some() && !sane {
        return Err("its ref or commits are not what the gate writes; reject it".into());
    }
    match shown.and_then(|s| s.differs(push)) {
        Some(differs) => Err(differs),
        None => Ok(()),
    }
}

/// The ref held for proposal `id`, and the branch (or ref) `push` names.
fn held_and_branch<'p>(push: &'p GitPush, id: &str) -> (String, &'p str) {
    let held = format!("{HELD_REFS}{id}");
    (held, branch_of(&push.git_ref).unwrap_or(&push.git_ref))
}

/// Approves a held push: its ref moves to the held commits (if it has not
/// moved since), which land and go upstream.
fn land(
    env: &GateEnv,
    config: &GateConfig,
    push: &GitPush,
    id: &str,
    note: &mut Vec<u8>,
) -> Result<(), GateError> {
    let fail = |reason: String| GateError::Decide {
        id: id.to_owned(),
        reason,
    };
    let gate = Git::at(&env.repo());
    let (held, branch) = held_and_branch(push, id);
    match gate.ref_value(&held)? {
        Some(v) if v == push.new => {}
        _ => {
            return Err(fail(format!(
                "its held commits ({held}) are gone; reject it"
            )));
        }
    }
    gate.run(["update-ref", &push.git_ref, &push.new, &push.old])
        .map_err(|_| {
            fail(format!(
                "{branch} moved since the push was held; reject it and ask the agent to push again"
            ))
        })?;
    gate.run(["update-ref", "-d", &held])?;
    deliver::deliver(
        env,
        config,
        &push.git_ref,
        &push.old,
        &push.new,
        Some(id),
        note,
    )
}

/// Approves a forward proposal: the commit goes to its remotes, and the
/// ones it reached are recorded with the landed branch. Reaching none is
/// an error (the note, written to `out`, says why).
fn forward(
    env: &GateEnv,
    config: &GateConfig,
    push: &GitPush,
    id: &str,
    note: &mut Vec<u8>,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let (_, branch) = held_and_branch(push, id);
    let reached = deliver::send(
        env,
        config,
        &push.forward,
        branch,
        &push.new,
        Some(id),
        note,
    );
    if reached.is_empty() {
        out.write_all(note).ok();
        return Err(GateError::Decide {
            id: id.to_owned(),
            reason: format!("{branch} reached no remote; see above"),
        });
    }
    let mut landed = read_landed(&env.state)?;
    if let Some(b) = landed.branches.iter_mut().find(|b| b.branch == branch) {
        for r in reached {
            if !b.forwarded.contains(&r) {
                b.forwarded.push(r);
            }
        }
        deliver::write_landed(env, &landed)?;
    }
    Ok(())
}

/// Rejects: a held push's commits are dropped; either way the note says
/// what became of it.
fn drop_held(env: &GateEnv, push: &GitPush, id: &str, note: &mut Vec<u8>) -> Result<(), GateError> {
    let gate = Git::at(&env.repo());
    let (held, branch) = held_and_branch(push, id);
    if push.land && gate.ref_value(&held)?.is_some() {
        gate.run(["update-ref", "-d", &held])?;
    }
    line(
        note,
        &if push.land {
            format!(
                "{branch}: rejected; the held commits are dropped and the branch stays as it was"
            )
        } else {
            format!("{branch}: rejected; it is not forwarded upstream")
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(git_ref: &str, old: &str) -> GitPush {
        GitPush {
            git_ref: git_ref.into(),
            old: old.into(),
            new: "abc123".into(),
            land: true,
            forward: vec![],
            reasons: vec![],
            diffstat: String::new(),
            commits: vec![],
            protected_diff: String::new(),
        }
    }

    #[test]
    fn an_approval_needs_a_sane_push_that_is_what_was_shown() {
        let sane = push("refs/heads/main", "0000");
        let moved = Shown {
            new: "def456".into(),
            ..Shown::of(&sane)
        };
        let not_written = "its ref or commits are not what the gate writes; reject it";
        for (push, shown, want) in [
            (&sane, Some(&Shown::of(&sane)), None),
            (&sane, None, None),
            (&push("HEAD", "0000"), None, None),
            (
                &push("HEAD", "0000"),
                Some(&Shown::of(&sane)),
                Some(not_written),
            ),
            (
                &push("refs/tags/v1", "zz"),
                Some(&Shown::of(&sane)),
                Some(not_written),
            ),
            (
                &sane,
                Some(&moved),
                Some(
                    "its commit is not what the operator was shown; nothing was landed or forwarded: list the proposals again",
                ),
            ),
        ] {
            assert_eq!(decidable(push, shown).err().as_deref(), want, "{push:?}");
        }
    }
}
