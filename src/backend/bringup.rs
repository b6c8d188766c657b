//! What a backend is given to bring a bottle up, and what bring-up can
//! fail with. The launch sequence (`launch::lifecycle`) hands a backend a
//! `Context` (where to report, whether the operator interrupted) and the
//! `Prepared` bottle and the `SidecarImage`; a backend's `launch_checks` and `up` answer with a
//! `BringUpError`, which the launch's own error wraps.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Backend, BackendKind};
use crate::contract::command;
use crate::contract::paths::READY_FILE;
use crate::contract::services::{AGENT, Sidecar};
use crate::error::{Explain, UserError};
use crate::exec::{ExecError, Sink};
use crate::plan::BottlePlan;
use crate::state::{Home, Metadata, StateError};

/// Where bring-up and teardown report, and how they learn of Ctrl-C.
pub struct Context<'a> {
    pub home: &'a Home,
    pub sink: &'a Sink,
    /// Set by a signal handler; checked between steps.
    pub interrupted: &'a AtomicBool,
}

impl Context<'_> {
    /// `Interrupted` once the operator interrupted; checked between steps.
    pub fn check(&self) -> Result<(), BringUpError> {
        if self.interrupted.load(Ordering::SeqCst) {
            Err(BringUpError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// The static binary that goes into the sidecar image, and the image's
/// tag: what a backend's checks found, and what its sidecars run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarImage {
    pub binary: PathBuf,
    pub tag: String,
}

/// A bottle planned for launch: its identity, its metadata, its plan, and
/// the backend that runs it. Nothing of it is written yet.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub backend: BackendKind,
    pub slug: String,
    pub metadata: Metadata,
    pub plan: BottlePlan,
}

impl Prepared {
    /// The backend that runs this bottle.
    pub fn backend(&self) -> &'static dyn Backend {
        self.backend.backend()
    }
}

/// How to tell each service is ready, as a command run in its container
/// that waits (up to 30 s) until it is.
pub fn readiness() -> [(&'static str, Vec<String>); 3] {
    let probe = |sidecar: Sidecar| (sidecar.name(), command::probe(sidecar.port(), Some(30)));
    let ready = format!(
        "i=0; until [ -e {READY_FILE} ]; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.05; done"
    );
    [
        probe(Sidecar::Egress),
        probe(Sidecar::Supervise),
        (AGENT, vec!["sh".into(), "-c".into(), ready]),
    ]
}

/// An error a user sees that is also a `std::error::Error` and can cross
/// threads: what `EngineFailure` holds.
pub trait UserFailure: UserError + std::error::Error + Send + Sync + 'static {}

impl<E: UserError + std::error::Error + Send + Sync + 'static> UserFailure for E {}

/// An error of what a backend runs on (an engine's compose, images,
/// networks, bridges), held without naming its type, so the
/// backend-neutral `BringUpError` names no backend's; its message, hint,
/// exit kind and source stay its own. A backend turns its errors into
/// `BringUpError` with `From` impls beside them.
#[derive(Debug)]
pub struct EngineFailure(Box<dyn UserFailure>);

impl EngineFailure {
    /// Holds `e`.
    pub fn new(e: impl UserFailure) -> EngineFailure {
        EngineFailure(Box::new(e))
    }
}

impl fmt::Display for EngineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EngineFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl UserError for EngineFailure {
    fn explain(&self) -> Explain<'_> {
        Explain::By(&*self.0)
    }
}

/// Why a backend's checks or its bring-up of a bottle failed.
#[derive(Debug, thiserror::Error)]
pub enum BringUpError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// What the backend runs on failed (docker's compose, images,
    /// networks, bridge): that error, as it is.
    #[error(transparent)]
    Engine(#[from] EngineFailure),
    #[error("interrupted; the bottle was taken down")]
    Interrupted,
    #[error("bottle '{slug}' did not come up: {reason}")]
    Failed { slug: String, reason: String },
    /// A folder the backend mounts has a path its mounts cannot name.
    #[error("{path}: smolvm cannot mount a folder whose path holds ':'")]
    Unmountable { path: PathBuf },
}

impl UserError for BringUpError {
    /// What to do about it, when the message does not say.
    fn explain(&self) -> Explain<'_> {
        match self {
            BringUpError::State(e) => Explain::By(e),
            BringUpError::Exec(e) => Explain::By(e),
            BringUpError::Engine(e) => Explain::By(e),
            BringUpError::Interrupted => Explain::interrupted(),
            BringUpError::Failed { .. } => {
                Explain::runtime("the services' last log lines are above")
            }
            BringUpError::Unmountable { .. } => Explain::usage(
                "set BOT_BOTTLE_HOME to a folder whose path has no ':', or start with --backend docker",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitKind;

    #[derive(Debug, thiserror::Error)]
    #[error("the engine broke")]
    struct Broke(#[source] std::io::Error);

    impl UserError for Broke {
        fn explain(&self) -> Explain<'_> {
            Explain::usage("mend it")
        }
    }

    #[test]
    fn an_engine_failure_keeps_its_message_hint_kind_and_source() {
        let e = BringUpError::from(EngineFailure::new(Broke(std::io::Error::other("worn"))));
        assert_eq!(e.to_string(), "the engine broke");
        assert_eq!(e.hint().as_deref(), Some("mend it"));
        assert_eq!(e.kind(), ExitKind::Usage);
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("worn"));
    }
}
