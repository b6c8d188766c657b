//! How each kind of error reaches the user: the exit code of
//! representative variants, nested ones included.

use std::path::PathBuf;

use super::Failure;
use crate::backend::bringup::BringUpError;
use crate::backend::docker::compose::ComposeError;
use crate::backend::docker::engine::EngineError;
use crate::backend::docker::images::ImageError;
use crate::backend::docker::seal::SealError;
use crate::backend::docker::subnets::SubnetError;
use crate::backend::files::FilesError;
use crate::backend::sidecars::GateError;
use crate::backend::{BackendError, BackendKind};
use crate::dashboard::runtime::DashboardError;
use crate::error::UserError;
use crate::exec::ExecError;
use crate::gitgate::operator::OperatorError;
use crate::launch::LaunchError;
use crate::launch::trust::TrustError;
use crate::manifest::ManifestError;
use crate::plan::PlanError;
use crate::state::StateError;
use crate::supervise::apply::ApplyError;
use crate::tmux::client::ClientError;
use crate::tmux::session::SessionError;

fn bad_slug() -> StateError {
    StateError::BadSlug("x".into())
}

fn state_io() -> StateError {
    StateError::Io {
        path: PathBuf::from("/p"),
        source: std::io::Error::other("denied"),
    }
}

fn spawn() -> ExecError {
    ExecError::Spawn {
        program: "docker".into(),
        source: std::io::Error::other("denied"),
    }
}

fn manifest() -> ManifestError {
    ManifestError::UnclosedFrontmatter { file: "f".into() }
}

#[test]
fn every_error_exits_with_its_code() {
    let slug = || "dev-aaaaa".to_owned();
    let table: Vec<(&str, Failure, u8)> = vec![
        ("state no home", StateError::NoHome.into(), 2),
        ("state bad slug", bad_slug().into(), 2),
        (
            "state no state",
            StateError::NoState {
                slug: slug(),
                dir: PathBuf::from("/s"),
            }
            .into(),
            2,
        ),
        ("state io", state_io().into(), 1),
        (
            "state bad metadata",
            StateError::BadMetadata {
                path: PathBuf::from("/m"),
                source: serde_json::from_str::<u8>("").unwrap_err(),
            }
            .into(),
            1,
        ),
        ("manifest", manifest().into(), 2),
        (
            "manifest read",
            ManifestError::Read {
                file: "f".into(),
                reason: "gone".into(),
            }
            .into(),
            2,
        ),
        ("launch state", LaunchError::State(bad_slug()).into(), 2),
        ("launch state io", LaunchError::State(state_io()).into(), 1),
        (
            "launch bring-up state",
            LaunchError::BringUp(BringUpError::State(bad_slug())).into(),
            2,
        ),
        (
            "launch bring-up state io",
            LaunchError::BringUp(BringUpError::State(state_io())).into(),
            1,
        ),
        (
            "launch backend",
            LaunchError::Backend(BackendError::Unknown {
                name: "k8s".into(),
                from: "--backend",
            })
            .into(),
            2,
        ),
        (
            "launch bad pool",
            LaunchError::BringUp(SubnetError::BadPool("x".into()).into()).into(),
            2,
        ),
        (
            "launch pool too small",
            LaunchError::BringUp(SubnetError::PoolTooSmall("x".into()).into()).into(),
            2,
        ),
        (
            "launch subnet io",
            LaunchError::BringUp(
                SubnetError::Io {
                    path: "/n".into(),
                    source: state_io(),
                }
                .into(),
            )
            .into(),
            1,
        ),
        (
            "launch subnet exec",
            LaunchError::BringUp(SubnetError::Exec(spawn()).into()).into(),
            1,
        ),
        (
            "launch manifest",
            LaunchError::Manifest(manifest()).into(),
            2,
        ),
        (
            "launch plan",
            LaunchError::Plan(PlanError::NoImage {
                bottles: "default".into(),
            })
            .into(),
            2,
        ),
        (
            "launch own dockerfile",
            LaunchError::OwnDockerfile {
                path: PathBuf::from("/d"),
                reason: "bad".into(),
            }
            .into(),
            2,
        ),
        (
            "launch bad color",
            LaunchError::BadColor("x".into()).into(),
            2,
        ),
        (
            "launch no cwd",
            LaunchError::NoCwd(PathBuf::from("/c")).into(),
            2,
        ),
        (
            "launch bad runtime",
            LaunchError::Engine(EngineError::BadRuntime("x".into())).into(),
            2,
        ),
        (
            "launch no runsc",
            LaunchError::Engine(EngineError::NoRunsc).into(),
            2,
        ),
        (
            "launch engine exec",
            LaunchError::Engine(EngineError::Exec(spawn())).into(),
            1,
        ),
        (
            "launch not running",
            LaunchError::NotRunning(slug()).into(),
            2,
        ),
        (
            "launch already running",
            LaunchError::AlreadyRunning(slug()).into(),
            2,
        ),
        (
            "launch interrupted",
            LaunchError::BringUp(BringUpError::Interrupted).into(),
            130,
        ),
        (
            "launch bring-up failed",
            LaunchError::BringUp(BringUpError::Failed {
                slug: slug(),
                reason: "unhealthy".into(),
            })
            .into(),
            1,
        ),
        (
            "launch compose missing",
            LaunchError::BringUp(ComposeError::Missing("x".into()).into()).into(),
            1,
        ),
        (
            "launch seal",
            LaunchError::BringUp(SealError::Name("x".into()).into()).into(),
            1,
        ),
        (
            "launch bring-up image",
            LaunchError::BringUp(ImageError::NeedRoot.into()).into(),
            1,
        ),
        (
            "launch bring-up exec",
            LaunchError::BringUp(BringUpError::Exec(spawn())).into(),
            1,
        ),
        (
            "launch image",
            LaunchError::Image(ImageError::NeedRoot).into(),
            1,
        ),
        ("launch exec", LaunchError::Exec(spawn()).into(), 1),
        (
            "launch files state",
            LaunchError::Files(FilesError::State(bad_slug())).into(),
            1,
        ),
        (
            "launch operator",
            LaunchError::Operator(OperatorError::BadGitFile {
                path: PathBuf::from("/g"),
            })
            .into(),
            1,
        ),
        (
            "apply not found",
            ApplyError::NotFound("1".into()).into(),
            2,
        ),
        (
            "apply needs token",
            ApplyError::NeedsToken {
                id: "1".into(),
                host: "h".into(),
                scheme: "bearer".into(),
            }
            .into(),
            2,
        ),
        (
            "apply widens credential",
            ApplyError::WidensCredential {
                id: "1".into(),
                host: "h".into(),
                paths: "/".into(),
            }
            .into(),
            2,
        ),
        (
            "apply token unset",
            ApplyError::TokenUnset("T".into()).into(),
            2,
        ),
        (
            "apply reload",
            ApplyError::Reload {
                slug: slug(),
                source: spawn(),
            }
            .into(),
            1,
        ),
        ("apply invalid", ApplyError::Invalid("x".into()).into(), 2),
        (
            "apply dockerfile",
            ApplyError::Dockerfile {
                id: "1".into(),
                reason: "x".into(),
            }
            .into(),
            2,
        ),
        ("apply changed", ApplyError::Changed("1".into()).into(), 2),
        ("apply unread", ApplyError::Unread("1".into()).into(), 2),
        (
            "apply state",
            ApplyError::State(StateError::NoHome).into(),
            2,
        ),
        ("apply state io", ApplyError::State(state_io()).into(), 1),
        (
            "apply launch",
            ApplyError::Launch(LaunchError::NotRunning(slug())).into(),
            2,
        ),
        (
            "apply launch interrupted",
            ApplyError::Launch(LaunchError::BringUp(BringUpError::Interrupted)).into(),
            130,
        ),
        (
            "apply held push",
            ApplyError::HeldPush("1".into()).into(),
            2,
        ),
        (
            "apply gate",
            ApplyError::Gate(GateError::NotRunning { slug: slug() }).into(),
            1,
        ),
        ("apply editor", ApplyError::Editor(spawn()).into(), 1),
        (
            "backend unavailable",
            BackendError::Unavailable {
                backend: BackendKind::Docker,
                reason: "no docker".into(),
                fix: "install it".into(),
            }
            .into(),
            2,
        ),
        (
            "backend none",
            BackendError::NoneAvailable {
                reason: "no docker".into(),
                fix: "install it".into(),
            }
            .into(),
            2,
        ),
        (
            "engine bad runtime",
            EngineError::BadRuntime("x".into()).into(),
            2,
        ),
        ("engine no runsc", EngineError::NoRunsc.into(), 2),
        ("engine exec", EngineError::Exec(spawn()).into(), 1),
        ("exec spawn", spawn().into(), 1),
        (
            "exec not found",
            ExecError::NotFound {
                program: "docker".into(),
                hint: "install it",
            }
            .into(),
            1,
        ),
        ("session exec", SessionError::Exec(spawn()).into(), 1),
        ("session state", SessionError::State(bad_slug()).into(), 1),
        ("dashboard not in tmux", DashboardError::NotInTmux.into(), 2),
        (
            "dashboard terminal",
            DashboardError::Terminal(std::io::Error::other("gone")).into(),
            1,
        ),
        (
            "dashboard tmux",
            DashboardError::Tmux(ClientError::Disconnected).into(),
            1,
        ),
        ("trust manifest", TrustError::Manifest(manifest()).into(), 2),
        ("trust state", TrustError::State(bad_slug()).into(), 2),
        ("trust state io", TrustError::State(state_io()).into(), 1),
        (
            "trust changed",
            TrustError::Changed {
                shown: "x".into(),
                dir: PathBuf::from("/d"),
            }
            .into(),
            2,
        ),
        (
            "trust nothing",
            TrustError::Nothing(PathBuf::from("/d")).into(),
            2,
        ),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(_, failure, code)| failure.code != *code)
        .map(|(name, failure, code)| format!("{name}: {} (want {code})", failure.code))
        .collect();
    assert!(wrong.is_empty(), "wrong exit codes: {wrong:#?}");
}

#[test]
fn a_failure_keeps_the_message_and_hint_of_its_error() {
    let e = LaunchError::BringUp(SubnetError::BadPool("x".into()).into());
    let (message, hint) = (e.to_string(), e.hint());
    let failure = Failure::from(e);
    assert_eq!(failure.message, message);
    assert_eq!(failure.hint, hint);
    assert!(failure.hint.is_some());
    let e = ApplyError::State(bad_slug());
    let (message, hint) = (e.to_string(), e.hint());
    let failure = Failure::from(e);
    assert_eq!(failure.message, message);
    assert_eq!(failure.hint, hint);
    assert!(failure.hint.is_some());
}
