//! A bottle's life on docker: bring-up, sessions, teardown.
//!
//! ```text
//! bring_up:  write state → images → compose up (wait healthy) → copy cwd
//!            → restore the transcript        (any failure: take it down)
//! session:   docker exec the provider's argv
//! end:       snapshot the transcript if the state is kept → compose down
//!            → settle: exit 0 removes state/<slug>, else it is kept
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use super::{LaunchError, Prepared};
use crate::backend::docker::images::{self, SidecarImage};
use crate::backend::docker::plan::WORKDIR;
use crate::backend::docker::seal::{self, Sealed};
use crate::backend::docker::session::{self, Io, Snapshot};
use crate::backend::docker::{compose, files};
use crate::exec::Sink;
use crate::provider::{AGENT_HOME, Provider, SessionSpec};
use crate::state::Home;

const TRANSCRIPT: &str = "transcript.tar";

/// Where bring-up and teardown report, and how they learn of Ctrl-C.
pub struct Context<'a> {
    pub home: &'a Home,
    pub sink: &'a Sink,
    /// Set by a signal handler; checked between steps.
    pub interrupted: &'a AtomicBool,
}

impl Context<'_> {
    fn check(&self) -> Result<(), LaunchError> {
        if self.interrupted.load(Ordering::SeqCst) {
            Err(LaunchError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// What happened to a bottle's state at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Removed,
    /// Kept for `resume`.
    Preserved,
    /// Someone else (`stop`, `cleanup`) already took it down.
    Gone,
}

/// Checks what a launch needs before anything is written.
pub fn preflight_checks() -> Result<SidecarImage, LaunchError> {
    compose::check()?;
    Ok(images::sidecar_image()?)
}

/// Brings the bottle up until its agent is ready for a session. On any
/// failure or interrupt, takes down what came up and removes the state
/// (a resumed bottle keeps its state, still marked for resume).
pub fn bring_up(
    ctx: &Context,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), LaunchError> {
    let slug = &prepared.slug;
    let resuming = ctx.home.bottle_dir(slug).exists();
    let result = bring_up_steps(ctx, prepared, sidecar);
    if let Err(e) = &result {
        let reason = if ctx.interrupted.load(Ordering::SeqCst) {
            "interrupted".to_owned()
        } else {
            e.to_string()
        };
        ctx.sink.line(&format!(
            "bot-bottle: bring-up of {slug} failed ({reason}); taking it down"
        ));
        if let Err(down) = compose::down(slug, ctx.sink) {
            ctx.sink.line(&format!("bot-bottle: warning: {down}"));
        }
        if resuming {
            files::remove_secrets(ctx.home, slug);
        } else {
            let _ = ctx.home.remove_bottle_state(slug);
        }
        if ctx.interrupted.load(Ordering::SeqCst) {
            return Err(LaunchError::Interrupted);
        }
    }
    result
}

fn bring_up_steps(
    ctx: &Context,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), LaunchError> {
    let (slug, plan) = (&prepared.slug, &prepared.plan);
    files::write_state(ctx.home, &prepared.metadata, plan)?;
    ctx.check()?;
    images::ensure_sidecar_image(sidecar, ctx.sink)?;
    ctx.check()?;
    images::ensure_agent_image(&plan.agent_image, ctx.sink)?;
    ctx.check()?;
    let compose_file = ctx.home.bottle_dir(slug).join(files::COMPOSE_FILE);
    if let Err(e) = compose::up(slug, &compose_file, ctx.sink) {
        ctx.check()?;
        ctx.sink.line(&compose::logs(slug));
        return Err(LaunchError::BringUp {
            slug: slug.clone(),
            reason: e.to_string(),
        });
    }
    match seal::seal(slug, &sidecar.tag)? {
        Sealed::Yes => {}
        Sealed::Loose { all } => ctx.sink.line(&format!(
            "bot-bottle: warning: this host's net.ipv4.conf.all.rp_filter is {}: UDP broadcasts from the bottle reach host services listening on every address; `sysctl -w net.ipv4.conf.all.rp_filter=1` stops that",
            all.trim()
        )),
    }
    ctx.check()?;
    if let Some(cwd) = &plan.copy_cwd {
        ctx.sink.line(&format!(
            "bot-bottle: copying {} into {WORKDIR}",
            cwd.display()
        ));
        session::copy_in(slug, cwd, WORKDIR)?;
    }
    let transcript = ctx.home.bottle_dir(slug).join(TRANSCRIPT);
    if transcript.is_file() {
        session::restore(slug, &transcript, AGENT_HOME)?;
    }
    ctx.check()?;
    ctx.home.clear_preserved(slug)?;
    Ok(())
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
    slug: &str,
    provider: Provider,
    spec: &SessionSpec,
    start: Start,
    tty: bool,
) -> Result<i32, LaunchError> {
    if !session::is_running(slug)? {
        return Err(LaunchError::NotRunning(slug.to_owned()));
    }
    Ok(session::run(
        slug,
        &session_argv(provider, spec, start),
        Io::Interactive { tty },
    )?)
}

/// After a session ended with `code`: keep the state (and a transcript
/// snapshot) when it failed, take the bottle down, and settle the state.
pub fn end(
    ctx: &Context,
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
    take_down(ctx, slug, provider)
}

/// Takes a bottle down and settles its state as after a clean exit: kept
/// only if something marked it for resume.
pub fn take_down(ctx: &Context, slug: &str, provider: Provider) -> Result<Settled, LaunchError> {
    if ctx.home.is_preserved(slug) {
        snapshot(ctx, slug, provider);
    }
    compose::down(slug, ctx.sink)?;
    files::remove_secrets(ctx.home, slug);
    if ctx.home.is_preserved(slug) {
        Ok(Settled::Preserved)
    } else {
        ctx.home.remove_bottle_state(slug)?;
        Ok(Settled::Removed)
    }
}

/// Best effort: a bottle whose agent never wrote a transcript has none,
/// and one too large or too slow to copy is cut off and not kept.
fn snapshot(ctx: &Context, slug: &str, provider: Provider) {
    let Some(dir) = provider.transcript_dir() else {
        return;
    };
    let to = ctx.home.bottle_dir(slug).join(TRANSCRIPT);
    let warning = match session::snapshot(slug, &dir, &to, session::SNAPSHOT_LIMIT) {
        Ok(Snapshot::Saved { .. } | Snapshot::Absent) => return,
        Ok(Snapshot::TooLarge { limit }) => format!(
            "the transcript in {dir} is larger than {} MiB: cut off, not kept; `resume` starts a fresh session",
            limit >> 20
        ),
        Ok(Snapshot::TimedOut) => format!(
            "copying the transcript in {dir} took longer than {} s: cut off, not kept; `resume` starts a fresh session",
            session::SNAPSHOT_TIMEOUT.as_secs()
        ),
        Err(e) => format!("no transcript snapshot: {e}"),
    };
    ctx.sink.line(&format!("bot-bottle: warning: {warning}"));
}
