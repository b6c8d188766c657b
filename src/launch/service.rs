//! The one launch sequence the CLI (`start`, `resume`, `stop`) and the
//! dashboard (`n`, `x`) share. They differ only in how they ask (a prompt,
//! a modal) and where the log goes (stderr, a pane): both are the caller's.
//!
//! ```text
//! plan:      backend available? → its checks (unless a dry run) → host
//!            facts → prepare (writes nothing)
//! bring_up:  lifecycle::bring_up on the plan's backend → the seal checked
//!            from inside the agent (failed: the bottle is left frozen and
//!            the session is not handed over)
//! stop:      the bottle's backend from its metadata (or whichever runs
//!            it) → lifecycle::take_down
//! ```

use std::path::Path;

use super::lifecycle::{self, Settled};
use super::verify::{self, CheckError};
use super::{HostFacts, LaunchError, StartRequest};
use crate::backend::bringup::{BringUpError, Context, Prepared, SidecarImage};
use crate::backend::{BackendError, BackendKind, Homes};
use crate::manifest::Manifest;
use crate::provider::Provider;
use crate::state::Home;
use crate::verify::Window;

/// A launch, planned: what the preflight shows and bring-up needs.
#[derive(Debug, Clone)]
pub struct Planned {
    pub prepared: Prepared,
    /// `None` in a dry run, which builds and checks nothing.
    pub sidecar: Option<SidecarImage>,
    /// Said before the preflight (e.g. the engine could not be asked).
    pub warnings: Vec<String>,
}

/// From a request to a plan: the backend must be available, its checks
/// pass (skipped in a dry run), and the bottle is planned. Writes nothing.
pub fn plan(
    manifest: &Manifest,
    home: &Home,
    request: &StartRequest,
    dry_run: bool,
) -> Result<Planned, LaunchError> {
    let backend = request.backend.require()?;
    let sidecar = match dry_run {
        true => None,
        false => Some(backend.launch_checks()?),
    };
    let (host, warning): (HostFacts, _) = super::host_facts(sidecar.as_ref())?;
    let prepared = super::prepare(manifest, home, request, &host)?;
    Ok(Planned {
        prepared,
        sidecar,
        warnings: warning.into_iter().collect(),
    })
}

/// Brings a planned bottle up (see `lifecycle::bring_up`), then checks
/// its seal before the session is handed over. A bottle that fails is
/// left frozen; one whose check could not tell, even a second time, is
/// taken down.
pub fn bring_up(ctx: &Context, planned: &Planned) -> Result<(), LaunchError> {
    let sidecar = planned
        .sidecar
        .as_ref()
        .ok_or_else(|| BringUpError::Failed {
            slug: planned.prepared.slug.clone(),
            reason: "a dry run's plan cannot be launched".into(),
        })?;
    let seal = |e| LaunchError::Seal(Box::new(e));
    // What the probes aim at: a bad value is said before anything starts.
    let targets = verify::here().map_err(|e| seal(e.into()))?;
    lifecycle::bring_up(ctx, &planned.prepared, sidecar)?;
    let prepared = &planned.prepared;
    let slug = &prepared.slug;
    if std::env::var(crate::verify::SKIP_VAR).is_ok_and(|v| v == "1") {
        ctx.sink.line(&format!(
            "bot-bottle: warning: {}=1: {slug}'s seal is not checked",
            crate::verify::SKIP_VAR
        ));
        return Ok(());
    }
    ctx.sink.line(&format!(
        "bot-bottle: checking {slug}'s seal from inside its agent"
    ));
    let check = |window| {
        verify::check_on(
            ctx.home,
            prepared.backend,
            prepared.backend(),
            slug,
            targets.clone(),
            window,
        )
    };
    let result = match check(Window::BringUp) {
        Err(e @ CheckError::Unchecked { .. }) => {
            ctx.sink.line(&format!("bot-bottle: {e}; trying once more"));
            check(Window::Later)
        }
        other => other,
    };
    match result {
        Ok(_) => Ok(()),
        Err(e @ CheckError::Unchecked { .. }) => {
            ctx.sink.line(&format!("bot-bottle: {e}; taking it down"));
            let provider = prepared.metadata.provider;
            if let Err(down) = lifecycle::take_down(ctx, prepared.backend(), slug, provider) {
                ctx.sink.line(&format!("bot-bottle: warning: {down}"));
            }
            Err(seal(e))
        }
        Err(e) => Err(seal(e)),
    }
}

/// What `resume` relaunches: the kept bottle's agent, bottles, label,
/// backend and directory (`here` when that directory is gone).
pub fn resume_request(home: &Home, slug: &str, here: &Path) -> Result<StartRequest, LaunchError> {
    let meta = home.read_metadata(slug)?;
    let backend = BackendKind::parse(&meta.backend).ok_or_else(|| BackendError::Unknown {
        name: meta.backend.clone(),
        from: "the bottle's metadata",
    })?;
    if backend.backend().available().is_ok() && backend.backend().is_running(slug)? {
        return Err(LaunchError::AlreadyRunning(slug.to_owned()));
    }
    let cwd = if meta.cwd.is_dir() {
        meta.cwd.clone()
    } else {
        here.to_path_buf()
    };
    Ok(StartRequest {
        agent: meta.agent,
        bottles: meta.bottles,
        backend,
        label: Some(meta.label),
        color: Some(meta.color),
        copy_cwd: meta.copy_cwd,
        include_ignored: meta.include_ignored,
        cwd,
        extra_args: Vec::new(),
        identity: Some(slug.to_owned()),
    })
}

/// The backend a bottle runs on: its metadata's, else the first available
/// backend that runs it; `None` when nothing runs it and it has no state.
/// A bottle another home made is refused: a home acts on its own alone.
pub fn backend_of(home: &Home, slug: &str) -> Result<Option<BackendKind>, LaunchError> {
    if let Ok(meta) = home.read_metadata(slug) {
        let kind = BackendKind::parse(&meta.backend).ok_or_else(|| BackendError::Unknown {
            name: meta.backend.clone(),
            from: "the bottle's metadata",
        })?;
        return Ok(Some(kind));
    }
    let ours = Homes {
        id: home.id()?,
        all: false,
    };
    for kind in crate::backend::available() {
        let backend = kind.backend();
        if backend.is_running(slug)? {
            return match backend
                .enumerate(home, &ours)?
                .iter()
                .any(|b| b.slug == slug)
            {
                true => Ok(Some(kind)),
                false => Err(LaunchError::OtherHome(slug.to_owned())),
            };
        }
    }
    Ok(None)
}

/// Takes a bottle down and settles its state (see `lifecycle::take_down`).
pub fn stop(ctx: &Context, slug: &str) -> Result<Settled, LaunchError> {
    let backend = backend_of(ctx.home, slug)?
        .ok_or_else(|| LaunchError::NotRunning(slug.to_owned()))?
        .backend();
    let provider = ctx
        .home
        .read_metadata(slug)
        .map_or(Provider::Shell, |m| m.provider);
    lifecycle::take_down(ctx, backend, slug, provider)
}
