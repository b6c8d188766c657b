//! The dashboard's effects carried out: panes shown and closed, proposals
//! approved and rejected, a launch's preflight and bring-up, a stop, and
//! the editor and pager the terminal is handed to.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::Shared;
use crate::backend::BackendKind;
use crate::backend::bringup::Context;
use crate::dashboard::app::{Checked, Effect, Msg, NewAgent};
use crate::error::{self, UserError};
use crate::exec::{self, ExecError, Sink};
use crate::launch::LaunchError;
use crate::launch::freeze::{self, FreezeError, Switch};
use crate::launch::service::{self, Planned};
use crate::launch::verify::CheckError;
use crate::manifest::{self, ManifestError, Sources};
use crate::state::scratch::Scratch;
use crate::state::{Home, StateError};
use crate::supervise::apply::{self, Applied, ApplyError};
use crate::tmux::client::ClientError;
use crate::tmux::control::PaneId;
use crate::verify::Report;

/// Why an effect failed, kept typed until the status line shows it: its
/// `Display` is the one place an effect's error becomes text.
#[derive(Debug, thiserror::Error)]
pub(super) enum EffectError {
    #[error(transparent)]
    Tmux(#[from] ClientError),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// An approval that failed also says what to do about it.
    #[error("{}", error::one_line(.0))]
    Approve(ApplyError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("{}", error::one_line(.0))]
    Switch(#[from] FreezeError),
    #[error("{slug} did not come up: {source}")]
    NotUp {
        slug: String,
        source: Box<LaunchError>,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("unknown backend {0}")]
    UnknownBackend(String),
    #[error("no plan to launch; press n again")]
    NoPlan,
    #[error("the plan changed; press n again")]
    PlanChanged,
}

pub(super) async fn carry_out(shared: &Shared, effect: Effect) {
    let result: Result<(), EffectError> = match effect {
        Effect::Show { slug, focus } => {
            let command = shared.attach_command(&slug);
            shared
                .panes
                .lock()
                .await
                .show(&slug, focus, &command)
                .await
                .map(|_| ())
                .map_err(EffectError::from)
        }
        Effect::CloseRight => shared
            .panes
            .lock()
            .await
            .close_right()
            .await
            .map_err(EffectError::from),
        Effect::FocusDashboard => {
            let moved = shared.panes.lock().await.focus_dashboard().await;
            if moved.is_ok() {
                shared.send(Msg::Focused);
            }
            moved.map_err(EffectError::from)
        }
        Effect::SetPending { count, next } => shared
            .panes
            .lock()
            .await
            .set_pending(count, next.as_deref())
            .await
            .map_err(EffectError::from),
        Effect::Approve {
            id,
            token_env,
            widen_credential,
            digest,
        } => approve(shared, id, token_env, widen_credential, digest).await,
        Effect::Reject { id, reason } => {
            let home = shared.home.clone();
            let done =
                tokio::task::spawn_blocking(move || apply::reject(&home, &id, reason.as_deref()))
                    .await;
            match done {
                Ok(Ok(p)) => {
                    shared.send(Msg::Status(format!("rejected {} for {}", p.id, p.slug)));
                    Ok(())
                }
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            }
        }
        Effect::Trust(summary) => super::trust(shared, *summary).await,
        Effect::Preflight(request) => preflight(shared, request).await,
        Effect::Launch(request) => launch(shared, request).await,
        Effect::Stop { slug } => stop(shared, slug).await,
        Effect::Switch { slugs, to } => switch(shared, slugs, to).await,
        Effect::Sleep { slugs } => sleep(shared, slugs).await,
        Effect::Wake { slug } => wake(shared, slug).await,
        Effect::Resume { slug } => resume(shared, slug).await,
        Effect::Verify { slug } => {
            verify(shared, slug).await;
            Ok(())
        }
        Effect::Bell
        | Effect::Quit
        | Effect::Modify { .. }
        | Effect::EditRoutes { .. }
        | Effect::View { .. } => Ok(()),
    };
    if let Err(e) = result {
        shared.send(Msg::Status(format!("error: {e}")));
    }
}

/// Approves what the operator read: if proposal `id` would now show
/// anything but what `digest` is the digest of (the routes changed
/// meanwhile), nothing is approved and the detail shows it anew.
async fn approve(
    shared: &Shared,
    id: String,
    token_env: Option<String>,
    widen_credential: bool,
    digest: String,
) -> Result<(), EffectError> {
    let home = shared.home.clone();
    let sink = Sink::File(shared.log_path("apply", "last"));
    let done = tokio::task::spawn_blocking(move || {
        let approval = apply::Approval {
            token_env: token_env.as_deref(),
            widen_credential,
            digest: Some(&digest),
        };
        apply::approve(&home, &id, &approval, &sink)
    })
    .await?;
    match done {
        Ok((p, Applied::Routes { note })) => {
            shared.send(Msg::Status(format!("approved {}: {note}", p.id)))
        }
        Ok((p, Applied::Rebuild { resume })) => shared.send(Msg::Status(format!(
            "approved {}; {} is down, rebuild it with: {resume}",
            p.id, p.slug
        ))),
        Ok((p, Applied::Git { note })) => shared.send(Msg::Status(format!(
            "approved {}: {}",
            p.id,
            note.lines().collect::<Vec<_>>().join("; ")
        ))),
        Err(e) => return Err(EffectError::Approve(e)),
    }
    Ok(())
}

/// Edits a proposal's request in $EDITOR (the terminal is ours meanwhile);
/// returns the id of the new proposal the edit became.
pub(super) fn modify(home: &Home, id: &str) -> Result<String, EffectError> {
    modify_with(home, id, exec::edit)
}

/// `modify`, the file handed to `editor`.
fn modify_with(
    home: &Home,
    id: &str,
    editor: impl FnOnce(&Path) -> Result<(), ExecError>,
) -> Result<String, EffectError> {
    let text = apply::request_text(home, id)?;
    // A folder of its own, not a name in /tmp someone else could make first.
    let scratch = Scratch::new("proposal")?;
    let path = scratch.write("request.json", text.as_bytes())?;
    let edited = editor(&path)
        .map_err(EffectError::from)
        .and_then(|()| Ok(std::fs::read_to_string(&path)?));
    drop(scratch);
    Ok(apply::modify(home, id, &edited?)?.id)
}

/// `e`: the bottle's routes in $EDITOR, the same path as `bot-bottle
/// routes edit` (the terminal is the editor's meanwhile); says what came
/// of it.
pub(super) fn edit_routes(home: &Home, slug: &str) -> String {
    match apply::edit_routes_in_editor(home, slug) {
        Ok(None) => format!("routes of {slug}: no change"),
        Ok(Some(diff)) => {
            let count = |sign: char| {
                diff.lines()
                    .filter(|l| l.starts_with(sign) && !l.starts_with(&sign.to_string().repeat(3)))
                    .count()
            };
            format!(
                "routes of {slug} reloaded (+{} -{} lines, audited)",
                count('+'),
                count('-')
            )
        }
        Err(e) => {
            let hint = e.hint().map(|h| format!("; {h}")).unwrap_or_default();
            format!("routes of {slug} not changed: {e}{hint}")
        }
    }
}

/// `v` in the detail: its text in $PAGER (the terminal is the pager's
/// meanwhile).
pub(super) fn view(id: &str, text: &str) -> Result<(), EffectError> {
    view_with(id, text, exec::page)
}

/// `view`, the file handed to `pager`.
fn view_with(
    id: &str,
    text: &str,
    pager: impl FnOnce(&Path) -> Result<(), ExecError>,
) -> Result<(), EffectError> {
    let scratch = Scratch::new("proposal")?;
    let path = scratch.write(&format!("{id}.txt"), text.as_bytes())?;
    Ok(pager(&path)?)
}

async fn preflight(shared: &Shared, request: NewAgent) -> Result<(), EffectError> {
    let (home, cwd) = (shared.home.clone(), shared.cwd.clone());
    let wanted = request.clone();
    let planned = tokio::task::spawn_blocking(move || -> Result<Planned, EffectError> {
        let backend = BackendKind::parse(&wanted.backend)
            .ok_or_else(|| EffectError::UnknownBackend(wanted.backend.clone()))?;
        let manifest = manifest::load(&Sources::new(&home.root, &cwd))?;
        // As `start AGENT --bottle .. --label .. --color .. --cwd=DIR`.
        let req = wanted
            .choices(&cwd)
            .request(wanted.agent, backend, cwd, Vec::new());
        Ok(service::plan(&manifest, &home, &req, false)?)
    })
    .await??;
    let text = crate::launch::preflight_text(&planned.prepared);
    *shared.planned.lock().await = Some((request.clone(), planned));
    shared.send(Msg::Preflight { request, text });
    Ok(())
}

/// Brings a bottle up with its log in the right pane, which then becomes
/// the agent's session.
async fn launch(shared: &Shared, request: NewAgent) -> Result<(), EffectError> {
    let Some((planned_for, planned)) = shared.planned.lock().await.take() else {
        return Err(EffectError::NoPlan);
    };
    if planned_for != request {
        return Err(EffectError::PlanChanged);
    }
    bring_up_in_pane(shared, planned).await
}

/// `R`: a bottle the engine stopped, planned as `bot-bottle resume` plans
/// it and brought up with its log in the right pane, which then becomes
/// its session.
async fn resume(shared: &Shared, slug: String) -> Result<(), EffectError> {
    let (home, here) = (shared.home.clone(), shared.cwd.clone());
    let planned = tokio::task::spawn_blocking(move || -> Result<Planned, EffectError> {
        let request = service::resume_request(&home, &slug, &here)?;
        let manifest = manifest::load(&Sources::new(&home.root, &request.cwd))?;
        Ok(service::plan(&manifest, &home, &request, false)?)
    })
    .await??;
    bring_up_in_pane(shared, planned).await
}

/// Brings a planned bottle up with its log in the right pane, which then
/// becomes the agent's session.
async fn bring_up_in_pane(shared: &Shared, planned: Planned) -> Result<(), EffectError> {
    let slug = planned.prepared.slug.clone();
    let (pane, up) = in_log_pane(shared, &slug, "bringup", move |ctx| {
        service::bring_up(ctx, &planned).inspect_err(|e| {
            ctx.sink.line(&format!("bot-bottle: error: {e}"));
        })
    })
    .await?;
    up.map_err(|source| EffectError::NotUp {
        slug: slug.clone(),
        source: Box::new(source),
    })?;
    let command = shared.attach_command(&slug);
    let mut panes = shared.panes.lock().await;
    panes.log_becomes_session(pane, &slug, &command).await?;
    panes.select(pane).await?;
    let _ = shared.relist.send(());
    shared.send(Msg::Started(slug));
    Ok(())
}

/// Takes a bottle down with its log in the right pane.
async fn stop(shared: &Shared, slug: String) -> Result<(), EffectError> {
    let target = slug.clone();
    let (_, down) = in_log_pane(shared, &slug, "teardown", move |ctx| {
        service::stop(ctx, &target)
    })
    .await?;
    down?;
    shared.panes.lock().await.forget(&slug).await?;
    let _ = shared.relist.send(());
    shared.send(Msg::Stopped(slug));
    Ok(())
}

/// `f`, `F`: the kill switch on these bottles; the listing then shows
/// them as they are.
async fn switch(shared: &Shared, slugs: Vec<String>, to: Switch) -> Result<(), EffectError> {
    let home = shared.home.clone();
    let started = std::time::Instant::now();
    let names = slugs.join(", ");
    let done = tokio::task::spawn_blocking(move || -> Result<(), FreezeError> {
        let groups = freeze::named(&home, &slugs)?;
        freeze::switch(&home, &groups, to)
    })
    .await?;
    let _ = shared.relist.send(());
    done?;
    let took = started.elapsed().as_millis();
    shared.send(Msg::Status(match to {
        Switch::Freeze => format!("froze {names} in {took} ms: f thaws"),
        Switch::Thaw => format!("thawed {names}"),
    }));
    Ok(())
}

/// Idle bottles put to sleep; the listing then shows them asleep.
async fn sleep(shared: &Shared, slugs: Vec<String>) -> Result<(), EffectError> {
    let home = shared.home.clone();
    let done = tokio::task::spawn_blocking(move || freeze::sleep(&home, &slugs)).await?;
    let _ = shared.relist.send(());
    Ok(done?)
}

/// A sleeping bottle selected: woken, and how long that took said.
async fn wake(shared: &Shared, slug: String) -> Result<(), EffectError> {
    let home = shared.home.clone();
    let started = std::time::Instant::now();
    let target = slug.clone();
    let woke = tokio::task::spawn_blocking(move || freeze::wake(&home, &target)).await??;
    let _ = shared.relist.send(());
    if woke {
        let took = started.elapsed().as_millis();
        shared.send(Msg::Status(format!("woke {slug} in {took} ms")));
    }
    Ok(())
}

/// `s`, or the schedule: the bottle's seal checked off the async threads
/// (a failure freezes it); what came of it always comes back, so the app
/// knows the check is over; the listing then shows the new seal.
async fn verify(shared: &Shared, slug: String) {
    let home = shared.home.clone();
    let target = slug.clone();
    let done =
        tokio::task::spawn_blocking(move || checked(crate::launch::verify::check(&home, &target)))
            .await;
    let _ = shared.relist.send(());
    let outcome = done.unwrap_or_else(|e| Checked::Failed(e.to_string()));
    shared.send(Msg::Verified { slug, outcome });
}

/// What the app is told of a check's result: a probe that got through
/// (frozen or not) is told apart from a check that did not run.
fn checked(result: Result<Report, CheckError>) -> Checked {
    match result {
        Ok(report) if report.sealed() => Checked::Sealed {
            probes: report.probes,
        },
        // `check` never returns a failed report as Ok; if it did, it is
        // still a failure.
        Ok(report) => Checked::Unsealed(report.summary(report.checked_at)),
        Err(e @ (CheckError::Unsealed { .. } | CheckError::UnsealedNotFrozen { .. })) => {
            Checked::Unsealed(e.to_string())
        }
        Err(e) => Checked::Failed(e.to_string()),
    }
}

/// Runs `work` off the async threads with its output in a fresh log
/// (`what`: bringup, teardown) that the bottle's right pane follows;
/// returns that pane and what `work` returned.
async fn in_log_pane<T: Send + 'static>(
    shared: &Shared,
    slug: &str,
    what: &str,
    work: impl FnOnce(&Context) -> Result<T, LaunchError> + Send + 'static,
) -> Result<(PaneId, Result<T, LaunchError>), EffectError> {
    let (log, tail) = shared.log(slug, what);
    let pane = shared.panes.lock().await.show_log(slug, &tail).await?;
    let home = shared.home.clone();
    let done = tokio::task::spawn_blocking(move || {
        let interrupted = AtomicBool::new(false);
        let sink = Sink::File(log);
        let ctx = Context {
            home: &home,
            sink: &sink,
            interrupted: &interrupted,
        };
        work(&ctx)
    })
    .await?;
    Ok((pane, done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::Request;
    use crate::proposal::queue::Queue;
    use crate::state::scratch::planted::Planted;

    #[test]
    fn a_probe_that_got_through_is_told_apart_from_a_check_that_did_not_run() {
        let report = |failed: Vec<crate::verify::Failure>| Report {
            checked_at: 1_800_000_000,
            probes: 12,
            failed,
            unchecked: Vec::new(),
        };
        let through = vec![crate::verify::Failure {
            what: "a public address (1.1.1.1:443)".into(),
            got: "connected".into(),
        }];
        let unsealed = CheckError::Unsealed {
            slug: "b-2".into(),
            report: Box::new(report(through)),
        };
        let cases = [
            (Ok(report(vec![])), Checked::Sealed { probes: 12 }),
            (
                Err(unsealed),
                Checked::Unsealed(
                    "bottle 'b-2' failed its seal check: a public address (1.1.1.1:443): connected; it is frozen".into(),
                ),
            ),
            (
                Err(LaunchError::NotRunning("b-2".into()).into()),
                Checked::Failed("bottle 'b-2' is not running".into()),
            ),
        ];
        for (result, want) in cases {
            let shown = format!("{result:?}");
            assert_eq!(checked(result), want, "{shown}");
        }
    }

    #[test]
    fn a_failed_approval_says_its_hint_and_a_failed_rejection_does_not() {
        let missing = || ApplyError::NotFound("7".into());
        assert_eq!(
            EffectError::Approve(missing()).to_string(),
            "no pending proposal '7' (see `bot-bottle proposals`)"
        );
        assert_eq!(
            EffectError::from(missing()).to_string(),
            "no pending proposal '7'"
        );
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    /// What the editor or the pager was handed, seen while it had it.
    struct Handed {
        path: std::path::PathBuf,
        text: String,
        file_mode: u32,
        dir_mode: u32,
    }

    impl Handed {
        fn at(path: &Path) -> Handed {
            Handed {
                path: path.to_path_buf(),
                text: std::fs::read_to_string(path).unwrap(),
                file_mode: mode(path),
                dir_mode: mode(path.parent().unwrap()),
            }
        }

        /// A private file in a private folder, removed afterwards; the
        /// link planted where it used to be left the watched file alone.
        fn assert_private(&self, planted: &Planted, watched: &Path) {
            assert_eq!(
                std::fs::read_to_string(watched).unwrap(),
                "the operator's file"
            );
            assert!(planted.intact(watched));
            let modes = (self.file_mode, self.dir_mode);
            assert_eq!(modes, (0o600, 0o700), "{}", self.path.display());
            assert!(!self.path.exists(), "removed afterwards");
        }
    }

    #[test]
    fn the_editor_and_the_pager_get_private_files_and_planted_links_are_not_followed() {
        let (dir, home) = Home::temp();
        let slug = crate::state::Slug::mint("plant").into_string();
        let queue = Queue::new(&home.bottle(&slug).supervise_dir());
        let asked = Request::EgressBlock {
            host: "pypi.org".into(),
            path_allowlist: vec![],
            auth: None,
        };
        let p = queue.submit(&slug, asked, "why".into()).unwrap();
        let watched = dir.path().join("watched");
        std::fs::write(&watched, "the operator's file").unwrap();

        // Where `m` used to write the request.
        let planted = Planted::at(&format!("bot-bottle-proposal-{}.json", p.id), &watched);
        let mut handed = None;
        modify_with(&home, &p.id, |path| {
            handed = Some(Handed::at(path));
            Ok(())
        })
        .unwrap();
        handed.unwrap().assert_private(&planted, &watched);
        drop(planted);

        // Where `v` used to write the text for the pager.
        let planted = Planted::at(
            &format!("bot-bottle-proposal-{}-{}.txt", p.id, std::process::id()),
            &watched,
        );
        let mut handed = None;
        view_with(&p.id, "the proposal", |path| {
            handed = Some(Handed::at(path));
            Ok(())
        })
        .unwrap();
        let handed = handed.unwrap();
        assert_eq!(handed.text, "the proposal");
        handed.assert_private(&planted, &watched);
    }
}
