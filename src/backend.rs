//! Backends: where bottles run. Each one is a `Backend`: the launch
//! sequence (`launch::lifecycle`), the CLI verbs and the dashboard drive a
//! bottle only through it, so docker and smolmachines look the same to
//! them.
//!
//! | backend | the agent runs in | the sidecars run in |
//! | --- | --- | --- |
//! | docker | a container on the bottle's internal network | containers of the same compose project |
//! | smolmachines | a microVM (`smolvm machine`) whose egress reaches only the sidecars | a compose project of the sidecars (the bundle) |
//!
//! Selection: `--backend`, else `BOT_BOTTLE_BACKEND`, else the first one
//! available here. A named backend that is not available is an error that
//! says why and how to get it.
//!
//! What the trait speaks, shared by every backend: `bringup` (the context,
//! the prepared bottle, the sidecar image, and `BringUpError`), `session`
//! (how a command is connected, transcript snapshots), `files` (a bottle's
//! files, planned and written), `labels`, `names` (docker's networks;
//! where things are inside a bottle is `contract`), `active` (a running
//! bottle as the views show it) and `sidecars` (what the host's approvals act through). Nothing here
//! names `launch`, which drives it.

pub(crate) mod active;
pub(crate) mod bringup;
pub(crate) mod docker;
pub(crate) mod files;
pub(crate) mod labels;
pub mod names;
pub(crate) mod orphans;
pub(crate) mod session;
pub(crate) mod sidecars;
pub(crate) mod smolvm;

use std::fmt;
use std::path::Path;

pub(crate) use active::{ActiveBottle, Landed};

use bringup::{BringUpError, Context, Prepared, SidecarImage};

use crate::error::{Explain, UserError};
use crate::exec::{ExecError, Program, Sink};
use crate::state::{Home, StateError};
pub(crate) use labels::Homes;
use session::{CopyWatch, Io, Selection, Snapshot};
use sidecars::Sidecars;

/// The kinds of backend bot-bottle can run a bottle on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BackendKind {
    /// Containers on a docker engine.
    Docker,
    /// A microVM by smolvm for the agent; its sidecars on docker.
    Smolmachines,
}

impl BackendKind {
    /// Every backend, in the order they are preferred.
    pub const ALL: [BackendKind; 2] = [BackendKind::Docker, BackendKind::Smolmachines];

    /// The backend a name (as `--backend` takes it) names.
    pub fn parse(name: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its name, as `--backend` takes it and the metadata records it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Smolmachines => "smolmachines",
        }
    }

    /// This backend, if it is available here; else why not and how to get it.
    pub(crate) fn require(self) -> Result<&'static dyn Backend, BackendError> {
        let backend = self.backend();
        backend
            .available()
            .map(|()| backend)
            .map_err(|u| BackendError::Unavailable {
                backend: self,
                reason: u.reason,
                fix: u.fix,
            })
    }

    /// The backend itself.
    pub(crate) fn backend(self) -> &'static dyn Backend {
        match self {
            BackendKind::Docker => &docker::Docker,
            BackendKind::Smolmachines => &smolvm::Smolmachines,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no backend, or not the one named, can be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// A name that is no backend's.
    #[error("unknown backend '{name}' (from {from})")]
    Unknown {
        /// The name given.
        name: String,
        /// Where it was given: `--backend` or `BOT_BOTTLE_BACKEND`.
        from: &'static str,
    },
    /// The backend named cannot run here.
    #[error("backend '{backend}' is not available here: {reason}; {fix}")]
    Unavailable {
        /// The backend named.
        backend: BackendKind,
        /// Why not.
        reason: String,
        /// What gets it.
        fix: String,
    },
    /// None can run here.
    #[error("no backend is available here: {reason}; {fix}")]
    NoneAvailable {
        /// Why the first one cannot.
        reason: String,
        /// What gets it.
        fix: String,
    },
}

impl UserError for BackendError {
    /// Which backend to use is the user's choice, or the machine's setup;
    /// the fix is mostly in the message itself.
    fn explain(&self) -> Explain<'_> {
        match self {
            BackendError::Unknown { .. } => Explain::usage(format!(
                "known backends: {}",
                BackendKind::ALL.map(BackendKind::name).join(", ")
            )),
            BackendError::Unavailable { .. } | BackendError::NoneAvailable { .. } => {
                Explain::usage(None)
            }
        }
    }
}

/// Why a backend cannot be used here, and what gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unavailable {
    pub reason: String,
    pub fix: String,
}

/// Why the running bottles cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The home's identity cannot be read or made.
    #[error(transparent)]
    State(#[from] StateError),
    /// The engine cannot be asked.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl UserError for ListError {
    fn explain(&self) -> Explain<'_> {
        match self {
            ListError::State(e) => Explain::By(e),
            ListError::Exec(e) => Explain::By(e),
        }
    }
}

/// Where a bottle runs: everything a bottle's life needs from it. Every
/// method that names a bottle takes its identity; what a backend keeps on
/// the host lives in the bottle's state folder (`state::BottleDir`).
pub(crate) trait Backend: Send + Sync {
    /// Whether this host can run bottles here; finds programs, runs none.
    fn available(&self) -> Result<(), Unavailable>;

    /// What a launch checks before planning (tools, the sidecar image).
    fn launch_checks(&self) -> Result<SidecarImage, BringUpError>;

    /// Lines the preflight adds for this backend.
    fn preflight_lines(&self, prepared: &Prepared) -> Vec<(String, String)>;

    /// Builds what the bottle runs (its state is written): images, then the
    /// sidecars and the agent, until the agent is ready for a session.
    fn up(
        &self,
        ctx: &Context,
        prepared: &Prepared,
        sidecar: &SidecarImage,
    ) -> Result<(), BringUpError>;

    /// Takes everything of the bottle down; its state folder stays.
    fn down(&self, slug: &str, sink: &Sink) -> Result<(), ExecError>;

    /// The last lines its parts logged, for a failed bring-up.
    fn logs(&self, slug: &str) -> String;

    fn is_running(&self, slug: &str) -> Result<bool, ExecError>;

    /// Every running bottle of this backend that `homes` sees, with one
    /// query.
    fn enumerate(&self, home: &Home, homes: &Homes) -> Result<Vec<ActiveBottle>, ExecError>;

    /// What `cleanup` would remove of this backend: what `home` owns (not
    /// the state folders, which `cleanup` plans across backends).
    fn cleanup_plan(&self, home: &Home, ours: &Homes) -> Result<Box<dyn CleanupPart>, ExecError>;

    /// A command whose output lines mean "the bottles changed", for the
    /// dashboard; `None` when the backend has no event stream.
    fn events_argv(&self) -> Option<(crate::exec::Program, Vec<String>)>;

    /// What runs its agents.
    fn agent(&self) -> &dyn AgentRuntime;

    /// What runs its sidecars, which the host's approvals act through.
    fn sidecars(&self) -> &dyn Sidecars;
}

/// What runs a bottle's agent (a container, a microVM): sessions and
/// commands in it, and files in and out of it. A backend is this and its
/// `Sidecars`; smolmachines pairs a microVM with docker's sidecars.
pub(crate) trait AgentRuntime: Send + Sync {
    /// The program, and its arguments, that run `argv` in the agent, as
    /// its user, in the workdir.
    fn exec_command(
        &self,
        slug: &str,
        argv: &[String],
        io: Io,
        term: Option<&str>,
    ) -> (Program, Vec<String>);

    /// Runs `argv` in the agent with the caller's terminal; its exit code.
    fn run(&self, slug: &str, argv: &[String], io: Io) -> Result<i32, ExecError> {
        let term = std::env::var("TERM").ok();
        let (program, args) = self.exec_command(slug, argv, io, term.as_deref());
        let mut cmd = program.command(args);
        if io == Io::Detached {
            cmd.stdin(std::process::Stdio::null());
        }
        Ok(session::exit_code(program.status(&mut cmd)?))
    }

    /// Runs `sh -c script` in the agent as its user; a failure carries
    /// what it printed on stderr.
    fn run_script(&self, slug: &str, script: &str) -> Result<(), ExecError>;

    /// Copies `what` of a host folder into the agent's `dest`, owned by
    /// the agent's user, reporting its progress and stopping when `watch`
    /// says so.
    fn copy_in(
        &self,
        slug: &str,
        from: &Path,
        dest: &str,
        what: &Selection,
        watch: &CopyWatch,
    ) -> Result<(), ExecError>;

    /// Saves the agent's `dir` as a tar file on the host, within `limit`.
    fn snapshot(&self, slug: &str, dir: &str, to: &Path, limit: u64)
    -> Result<Snapshot, ExecError>;

    /// Unpacks a snapshot into the agent's `into`.
    fn restore(&self, slug: &str, from: &Path, into: &str) -> Result<(), ExecError>;

    /// Pauses (or resumes) every process of the agents of `slugs` at once,
    /// memory kept; one already so is no error.
    fn set_paused(&self, slugs: &[&str], paused: bool) -> Result<(), ExecError>;

    /// Runs `bash -s` as root in the agent with `script` on its stdin
    /// (the seal's probes, `verify`: as root, so the agent's user cannot
    /// read them); what it printed. Bounded in time.
    fn probe(&self, slug: &str, script: &str) -> Result<String, ExecError>;
}

/// One backend's part of a cleanup plan.
pub(crate) trait CleanupPart {
    fn backend(&self) -> BackendKind;
    fn is_empty(&self) -> bool;
    /// Indented lines, one per kind of thing.
    fn render(&self) -> String;
    /// Carries it out, each step best-effort; what failed, one line each.
    fn execute(&self, sink: &Sink) -> Vec<String>;
}

/// The backends available here, in the order they are preferred.
pub(crate) fn available() -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|k| k.backend().available().is_ok())
        .collect()
}

/// `--backend`, else `BOT_BOTTLE_BACKEND`, else the first available; a
/// named backend must be available.
pub(crate) fn select(flag: Option<&str>, env: Option<&str>) -> Result<BackendKind, BackendError> {
    select_with(flag, env, |k| k.backend().available())
}

pub(crate) fn select_with(
    flag: Option<&str>,
    env: Option<&str>,
    available: impl Fn(BackendKind) -> Result<(), Unavailable>,
) -> Result<BackendKind, BackendError> {
    let named = match (flag, env.filter(|v| !v.is_empty())) {
        (Some(name), _) => Some((name, "--backend")),
        (None, Some(name)) => Some((name, "BOT_BOTTLE_BACKEND")),
        (None, None) => None,
    };
    if let Some((name, from)) = named {
        let kind = BackendKind::parse(name).ok_or_else(|| BackendError::Unknown {
            name: name.to_owned(),
            from,
        })?;
        return match available(kind) {
            Ok(()) => Ok(kind),
            Err(u) => Err(BackendError::Unavailable {
                backend: kind,
                reason: u.reason,
                fix: u.fix,
            }),
        };
    }
    let mut first_reason = None;
    for kind in BackendKind::ALL {
        match available(kind) {
            Ok(()) => return Ok(kind),
            Err(u) => {
                first_reason.get_or_insert(u);
            }
        }
    }
    let u = first_reason.unwrap_or(Unavailable {
        reason: "no backend is built in".into(),
        fix: String::new(),
    });
    Err(BackendError::NoneAvailable {
        reason: u.reason,
        fix: u.fix,
    })
}

/// Every running bottle of every available backend, sorted by start time:
/// this home's, and with `all_homes` the others' too. A backend that is not
/// installed here has none to show.
pub(crate) fn enumerate_all(home: &Home, all_homes: bool) -> Result<Vec<ActiveBottle>, ListError> {
    let homes = Homes {
        id: home.id()?,
        all: all_homes,
    };
    let mut bottles = Vec::new();
    for kind in available() {
        bottles.extend(kind.backend().enumerate(home, &homes)?);
    }
    bottles.sort_by(|a, b| (&a.started_at, &a.slug).cmp(&(&b.started_at, &b.slug)));
    Ok(bottles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_docker(k: BackendKind) -> Result<(), Unavailable> {
        match k {
            BackendKind::Docker => Ok(()),
            BackendKind::Smolmachines => Err(Unavailable {
                reason: "smolvm is not installed".into(),
                fix: "install smolvm".into(),
            }),
        }
    }

    #[test]
    fn flag_beats_env_beats_the_first_available() {
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Result<BackendKind, &'a str>,
        );
        let cases: &[Case] = &[
            (None, None, Ok(BackendKind::Docker)),
            (None, Some(""), Ok(BackendKind::Docker)),
            (Some("docker"), Some("nope"), Ok(BackendKind::Docker)),
            (
                None,
                Some("vm"),
                Err("unknown backend 'vm' (from BOT_BOTTLE_BACKEND)"),
            ),
            (
                Some("smolmachines"),
                None,
                Err(
                    "backend 'smolmachines' is not available here: smolvm is not installed; install smolvm",
                ),
            ),
            (
                None,
                Some("smolmachines"),
                Err(
                    "backend 'smolmachines' is not available here: smolvm is not installed; install smolvm",
                ),
            ),
        ];
        for (flag, env, want) in cases {
            let got = select_with(*flag, *env, only_docker).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(String::from), "{flag:?} {env:?}");
        }
    }

    #[test]
    fn with_none_available_the_first_reason_is_given() {
        let none = |_| {
            Err(Unavailable {
                reason: "docker is not installed".into(),
                fix: "install docker".into(),
            })
        };
        let err = select_with(None, None, none).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no backend is available here: docker is not installed; install docker"
        );
        assert_eq!(err.hint(), None);
    }

    #[test]
    fn each_backend_runs_a_session_as_the_agent_in_the_workdir() {
        let argv = vec!["bash".to_owned(), "-l".to_owned()];
        let tty = Io::Interactive { tty: true };
        let cases = [
            (
                BackendKind::Docker,
                tty,
                "docker exec -i -t -e TERM=xterm -u 1000:1000 -w /workspace bot-bottle-s-1-agent bash -l",
            ),
            (
                BackendKind::Smolmachines,
                tty,
                "smolvm machine exec --name bot-bottle-s-1 -i -t -e TERM=xterm -w /workspace -- runuser -u agent -- bash -l",
            ),
            (
                BackendKind::Docker,
                Io::Detached,
                "docker exec -u 1000:1000 -w /workspace bot-bottle-s-1-agent bash -l",
            ),
            (
                BackendKind::Smolmachines,
                Io::Detached,
                "smolvm machine exec --name bot-bottle-s-1 -w /workspace -- runuser -u agent -- bash -l",
            ),
        ];
        for (kind, io, want) in cases {
            let (program, args) =
                kind.backend()
                    .agent()
                    .exec_command("s-1", &argv, io, Some("xterm"));
            let got = [vec![program.path()], args].concat();
            assert_eq!(got.join(" "), want, "{kind}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(BackendKind::parse(kind.name()), Some(kind));
        }
    }
}
