//! What a backend is given to bring a bottle up, and what bring-up can
//! fail with. The launch sequence (`launch::lifecycle`) hands a backend a
//! `Context` (where to report, whether the operator interrupted) and the
//! `Prepared` bottle and the `SidecarImage`; a backend's `launch_checks` and `up` answer with a
//! `BringUpError`, which the launch's own error wraps.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::docker::compose::ComposeError;
use super::docker::images::ImageError;
use super::docker::seal::SealError;
use super::docker::subnets::SubnetError;
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

/// Why a backend's checks or its bring-up of a bottle failed.
#[derive(Debug, thiserror::Error)]
pub enum BringUpError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Subnet(#[from] SubnetError),
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
            BringUpError::Image(e) => Explain::By(e),
            BringUpError::Exec(e) => Explain::By(e),
            BringUpError::Compose(e) => Explain::By(e),
            BringUpError::Subnet(e) => Explain::By(e),
            BringUpError::Interrupted => Explain::interrupted(),
            BringUpError::Seal(_) => Explain::runtime(
                "bring-up runs a short container on the host network with NET_ADMIN and a writable /proc/sys (it sets the bottle's bridge to drop broadcasts): the engine must allow that",
            ),
            BringUpError::Failed { .. } => {
                Explain::runtime("the services' last log lines are above")
            }
            BringUpError::Unmountable { .. } => Explain::usage(
                "set BOT_BOTTLE_HOME to a folder whose path has no ':', or start with --backend docker",
            ),
        }
    }
}
