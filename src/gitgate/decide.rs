//! The operator's decision on a git-push proposal, applied inside the gate
//! (`bot-bottle sidecar git-decide`, run by the host with `docker exec`).

use std::io::Write;

use super::HELD_REFS;
use super::deliver::{self, Audit};
use super::git::{GateError, Git};
use super::hooks::{GateEnv, line};
use super::policy::{branch_of, tag_of};
use super::read_landed;
use crate::supervise::audit::Entry;
use crate::supervise::proposal::{Decision, Request, Response};
use crate::supervise::queue::{check_id, now};

/// Applies the decision on proposal `id`, with the folders from the
/// `BOT_BOTTLE_GATE_*` variables.
pub fn decide(id: &str, approve: bool, out: &mut dyn Write) -> Result<(), GateError> {
    decide_in(&GateEnv::from_env()?, id, approve, out)
}

/// Approve: a held push updates its branch (if it has not moved since),
/// lands and goes upstream; a forward proposal goes to its remotes.
/// Reject: the held commits are dropped. Either way the answer goes to the
/// queue and the proposal to the archive.
pub fn decide_in(
    env: &GateEnv,
    id: &str,
    approve: bool,
    out: &mut dyn Write,
) -> Result<(), GateError> {
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
    let hex = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit());
    let sane = (branch_of(&push.git_ref).is_some() || tag_of(&push.git_ref).is_some())
        && hex(&push.old)
        && hex(&push.new);
    if approve && !sane {
        return Err(fail(
            "its ref or commits are not what the gate writes; reject it".into(),
        ));
    }
    let config = env.config()?;
    let gate = Git::at(&env.repo());
    let held = format!("{HELD_REFS}{id}");
    let branch = branch_of(&push.git_ref).unwrap_or(&push.git_ref).to_owned();
    let mut note = Vec::<u8>::new();
    if approve && push.land {
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
            &config,
            &push.git_ref,
            &push.old,
            &push.new,
            Some(id),
            &mut note,
        )?;
    } else if approve {
        let reached = deliver::send(
            env,
            &config,
            &push.forward,
            &branch,
            &push.new,
            Some(id),
            &mut note,
        );
        if reached.is_empty() {
            out.write_all(&note).ok();
            return Err(fail(format!("{branch} reached no remote; see above")));
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
    } else {
        if push.land && gate.ref_value(&held)?.is_some() {
            gate.run(["update-ref", "-d", &held])?;
        }
        line(
            &mut note,
            &if push.land {
                format!(
                    "{branch}: rejected; the held commits are dropped and the branch stays as it was"
                )
            } else {
                format!("{branch}: rejected; it is not forwarded upstream")
            },
        );
    }
    out.write_all(&note).ok();
    let decision = if approve {
        Decision::Approved
    } else {
        Decision::Rejected
    };
    queue.respond(&Response {
        id: id.to_owned(),
        decision,
        reason: None,
        decided_at: now(),
        note: Some(String::from_utf8_lossy(&note).trim().to_owned()).filter(|n| !n.is_empty()),
    })?;
    queue.archive(id)?;
    let word = if approve { "approved" } else { "rejected" };
    Audit::from_entry(Entry::decision(
        &proposal,
        word,
        None,
        push.diffstat.clone(),
    ))
    .write(env, out);
    Ok(())
}
