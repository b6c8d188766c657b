//! A bottle's life, on whichever backend runs it: bring-up, sessions,
//! teardown. The sequence is here once; the backend does each step.
//!
//! ```text
//! bring_up:  write state → backend up (images, sidecars, agent; waits
//!            until ready) → copy cwd (with a git gate: the repository's
//!            files, then a clone of the gate's repository as its .git)
//!            → restore the transcript      (any failure: take it down)
//! session:   the backend's exec of the provider's argv
//! end:       snapshot the transcript if the state is kept → backend down
//!            → settle: exit 0 removes state/<slug>, else it is kept
//! ```

use std::sync::atomic::Ordering;

use super::LaunchError;
use crate::backend::Backend;
use crate::backend::bringup::{BringUpError, Context, Prepared, SidecarImage};
use crate::backend::files;
use crate::backend::session::{self, CopyWatch, Io, Selection, Snapshot};
use crate::contract::paths::WORKDIR;
use crate::plan::{GatePlan, WorkTree};
use crate::provider::{AGENT_HOME, Provider, SessionSpec};
use crate::state;
use crate::text::shell_quote;

/// What happened to a bottle's state at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Removed,
    /// Kept for `resume`.
    Preserved,
    /// Someone else (`stop`, `cleanup`) already took it down.
    Gone,
}

/// Brings the bottle up until its agent is ready for a session. On any
/// failure or interrupt, takes down what came up and removes the state
/// (a resumed bottle keeps its state, still marked for resume).
pub fn bring_up(
    ctx: &Context,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), LaunchError> {
    bring_up_on(ctx, prepared.backend(), prepared, sidecar)
}

/// `bring_up` on a given backend (a fake, in tests).
pub fn bring_up_on(
    ctx: &Context,
    backend: &dyn Backend,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), LaunchError> {
    let slug = &prepared.slug;
    let resuming = ctx.home.bottle_dir(slug).exists();
    let result = bring_up_steps(ctx, backend, prepared, sidecar);
    if let Err(e) = &result {
        let reason = if ctx.interrupted.load(Ordering::SeqCst) {
            "interrupted".to_owned()
        } else {
            e.to_string()
        };
        ctx.sink.line(&format!(
            "bot-bottle: bring-up of {slug} failed ({reason}); taking it down"
        ));
        if let Err(down) = backend.down(slug, ctx.sink) {
            ctx.sink.line(&format!("bot-bottle: warning: {down}"));
        }
        if resuming {
            files::remove_secrets(ctx.home, slug);
        } else {
            let _ = ctx.home.remove_bottle_state(slug);
        }
        if ctx.interrupted.load(Ordering::SeqCst) {
            return Err(BringUpError::Interrupted.into());
        }
    }
    result
}

fn bring_up_steps(
    ctx: &Context,
    backend: &dyn Backend,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), LaunchError> {
    let (slug, plan) = (&prepared.slug, &prepared.plan);
    files::write_state(ctx.home, &prepared.metadata, plan)?;
    // A resumed bottle runs: neither frozen nor asleep from before, and
    // its seal is checked anew.
    let bottle = ctx.home.bottle(slug);
    for marker in [
        bottle.egress_frozen(),
        bottle.asleep_marker(),
        bottle.seal_report(),
    ] {
        let _ = std::fs::remove_file(marker);
    }
    ctx.check()?;
    backend.up(ctx, prepared, sidecar)?;
    if let Some(cwd) = &plan.copy_cwd {
        let unsurveyed = WorkTree::Everything {
            bytes: 0,
            why: "not surveyed".into(),
        };
        let tree = plan.cwd_tree.as_ref().unwrap_or(&unsurveyed);
        let what = match &plan.cwd_tree {
            Some(tree) => format!(": {}", tree.summary()),
            None => String::new(),
        };
        ctx.sink.line(&format!(
            "bot-bottle: copying {} into {WORKDIR}{what}",
            cwd.display()
        ));
        copy_tree(ctx, backend, slug, cwd, tree, &[])?;
    }
    if let Some(gate) = &plan.git_gate {
        workspace_clone(ctx, backend, slug, gate)?;
    }
    let transcript = ctx.home.bottle(slug).transcript();
    if transcript.is_file() {
        backend.agent().restore(slug, &transcript, AGENT_HOME)?;
    }
    ctx.check()?;
    ctx.home.clear_preserved(slug)?;
    Ok(())
}

/// The workspace as a clone of the gate's repository: the operator's files
/// (their `.git` aside), then a clone's `.git` under them, so uncommitted
/// changes show as changes.
fn workspace_clone(
    ctx: &Context,
    backend: &dyn Backend,
    slug: &str,
    gate: &GatePlan,
) -> Result<(), LaunchError> {
    ctx.sink.line(&format!(
        "bot-bottle: copying {} into {WORKDIR}, a clone of it through the git gate: {}",
        gate.repo_top.display(),
        gate.work_tree.summary()
    ));
    copy_tree(
        ctx,
        backend,
        slug,
        &gate.repo_top,
        &gate.work_tree,
        &[".git"],
    )?;
    ctx.check()?;
    let failed = |step: &str, e: crate::exec::ExecError| {
        ctx.sink.line(&backend.logs(slug));
        LaunchError::from(BringUpError::Failed {
            slug: slug.to_owned(),
            reason: format!("{step}: {e}"),
        })
    };
    backend
        .sidecars()
        .wait_for_gate(slug)
        .map_err(|e| failed("the git gate did not answer", e))?;
    backend
        .agent()
        .run_script(slug, &clone_script(gate))
        .map_err(|e| failed("cloning the git gate's repository failed", e))
}

/// `tree` of the folder `top` into the workdir (all of it but the
/// top-level entries `all_but` names, when it is everything), its progress
/// in the log. Stopped at once when the bottle is taken down meanwhile
/// (`stop`, the dashboard: its state folder goes) or the operator
/// interrupts.
fn copy_tree(
    ctx: &Context,
    backend: &dyn Backend,
    slug: &str,
    top: &std::path::Path,
    tree: &WorkTree,
    all_but: &[&str],
) -> Result<(), LaunchError> {
    let state_dir = ctx.home.bottle_dir(slug);
    let interrupted = ctx.interrupted;
    let stopped = move || interrupted.load(Ordering::SeqCst) || !state_dir.exists();
    let report = |line: &str| ctx.sink.line(line);
    let watch = CopyWatch {
        total: tree.bytes(),
        report: &report,
        stopped: &stopped,
    };
    let copied = match tree {
        WorkTree::NotIgnored { files, .. } => {
            let list = ctx.home.bottle(slug).work_tree_list();
            state::write_atomic(&list, &super::work_tree::nul_ended(files), 0o600)?;
            let copied =
                backend
                    .agent()
                    .copy_in(slug, top, WORKDIR, &Selection::Listed(&list), &watch);
            let _ = std::fs::remove_file(&list);
            copied
        }
        WorkTree::Everything { .. } => {
            backend
                .agent()
                .copy_in(slug, top, WORKDIR, &Selection::AllBut(all_but), &watch)
        }
    };
    match copied {
        Ok(()) => Ok(()),
        Err(_) if ctx.interrupted.load(Ordering::SeqCst) => Err(BringUpError::Interrupted.into()),
        // `stop` takes the containers down first, its state folder last.
        Err(e) if stopped() || !backend.is_running(slug).unwrap_or(true) => {
            Err(BringUpError::Failed {
                slug: slug.to_owned(),
                reason: format!(
                    "it was taken down while {} was being copied in ({e})",
                    top.display()
                ),
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Clones the gate's repository beside the workspace and moves its `.git`
/// in, then sets the agent's git identity unless its image has one.
fn clone_script(gate: &GatePlan) -> String {
    let tmp = "/tmp/.bb-clone";
    format!(
        "set -e\n\
         rm -rf {tmp}\n\
         git clone --no-checkout -q {url} {tmp}\n\
         mv {tmp}/.git {WORKDIR}/.git\n\
         rmdir {tmp}\n\
         git -C {WORKDIR} reset -q\n\
         git -C {WORKDIR} config user.name >/dev/null || git -C {WORKDIR} config user.name {name}\n\
         git -C {WORKDIR} config user.email >/dev/null || git -C {WORKDIR} config user.email {email}\n",
        url = shell_quote(&crate::gitgate::agent_url()),
        name = shell_quote(&gate.user_name),
        email = shell_quote(&gate.user_email),
    )
}

/// Which argv a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Fresh,
    /// The provider's resume flag, falling back to a fresh start.
    Resume,
}

pub fn session_argv(provider: Provider, spec: &SessionSpec, start: Start) -> Vec<String> {
    match start {
        Start::Fresh => provider.fresh_argv(spec),
        Start::Resume => provider.resume_or_fresh_argv(spec),
    }
}

/// Runs an interactive session in the bottle; returns its exit code.
pub fn attach(
    backend: &dyn Backend,
    slug: &str,
    provider: Provider,
    spec: &SessionSpec,
    start: Start,
    tty: bool,
) -> Result<i32, LaunchError> {
    if !backend.is_running(slug)? {
        return Err(LaunchError::NotRunning(slug.to_owned()));
    }
    Ok(backend.agent().run(
        slug,
        &session_argv(provider, spec, start),
        Io::Interactive { tty },
    )?)
}

/// After a session ended with `code`: keep the state (and a transcript
/// snapshot) when it failed, take the bottle down, and settle the state.
pub fn end(
    ctx: &Context,
    backend: &dyn Backend,
    slug: &str,
    provider: Provider,
    code: i32,
) -> Result<Settled, LaunchError> {
    if ctx.home.existing_bottle_dir(slug).is_err() {
        return Ok(Settled::Gone);
    }
    if code != 0 {
        ctx.home.mark_preserved(slug)?;
    }
    take_down(ctx, backend, slug, provider)
}

/// Takes a bottle down and settles its state as after a clean exit: kept
/// only if something marked it for resume.
pub fn take_down(
    ctx: &Context,
    backend: &dyn Backend,
    slug: &str,
    provider: Provider,
) -> Result<Settled, LaunchError> {
    // A paused agent is resumed first: its transcript can then be saved,
    // and an engine may fail to stop a paused sandbox (gVisor's process
    // is left a zombie). A frozen bottle's egress stays closed meanwhile.
    let bottle = ctx.home.bottle(slug);
    if bottle.is_frozen() || bottle.is_asleep() {
        let _ = backend.agent().set_paused(&[slug], false);
    }
    if ctx.home.is_preserved(slug) {
        snapshot(ctx, backend, slug, provider);
    }
    backend.down(slug, ctx.sink)?;
    files::remove_secrets(ctx.home, slug);
    // A freeze or a sleep ends with the bottle: a resumed one runs.
    let _ = std::fs::remove_file(bottle.egress_frozen());
    let _ = std::fs::remove_file(bottle.asleep_marker());
    if ctx.home.is_preserved(slug) {
        Ok(Settled::Preserved)
    } else {
        ctx.home.remove_bottle_state(slug)?;
        Ok(Settled::Removed)
    }
}

/// Best effort: a bottle whose agent never wrote a transcript has none,
/// and one too large or too slow to copy is cut off and not kept.
fn snapshot(ctx: &Context, backend: &dyn Backend, slug: &str, provider: Provider) {
    let Some(dir) = provider.transcript_dir() else {
        return;
    };
    let to = ctx.home.bottle(slug).transcript();
    let warning = match backend
        .agent()
        .snapshot(slug, &dir, &to, session::snapshot_limit())
    {
        Ok(Snapshot::Saved { .. } | Snapshot::Absent) => return,
        Ok(Snapshot::TooLarge { limit }) => format!(
            "the transcript in {dir} is larger than {} MiB: cut off, not kept; `resume` starts a fresh session",
            limit >> 20
        ),
        Ok(Snapshot::TimedOut) => format!(
            "copying the transcript in {dir} took longer than {} s: cut off, not kept; `resume` starts a fresh session",
            session::snapshot_timeout().as_secs()
        ),
        Err(e) => format!("no transcript snapshot: {e}"),
    };
    ctx.sink.line(&format!("bot-bottle: warning: {warning}"));
}

#[cfg(test)]
mod tests;
