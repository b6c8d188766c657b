//! What the host asks of a running bottle's sidecars once the operator
//! decided: egress reloads its routes, the git gate decides a held push,
//! and the engine resolves and pins the images a capability-block reads.
//! Each backend answers for its own bottles (`Backend::sidecars`); the
//! host's approvals reach them through `OfBottle`, and never run a
//! backend's program themselves.

use crate::backend::BackendKind;
use crate::backend::docker::images::ImageError;
use crate::error::{Explain, UserError};
use crate::exec::ExecError;
use crate::gitgate::Shown;
use crate::state::Home;
use crate::verify::Neighbour;

/// Why a bottle's git gate did not decide a held push.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("the git gate of bottle '{slug}' is not running: resume the bottle first")]
    NotRunning { slug: String },
    #[error("the git gate of bottle '{slug}' refused: {reason}")]
    Refused { slug: String, reason: String },
    /// The engine's daemon answered instead of the gate: its words.
    #[error("the git gate of bottle '{slug}' could not be asked: {reason}")]
    Unreachable { slug: String, reason: String },
    /// The command that asks the gate failed to run.
    #[error("the git gate of bottle '{slug}' could not be asked: {source}")]
    Exec {
        slug: String,
        #[source]
        source: ExecError,
    },
}

impl UserError for GateError {
    /// What to do about it.
    fn explain(&self) -> Explain<'_> {
        match self {
            GateError::NotRunning { slug } => Explain::runtime(format!("bot-bottle resume {slug}")),
            GateError::Refused { .. } => {
                Explain::runtime("see `bot-bottle proposals`; reject it if it can no longer land")
            }
            GateError::Unreachable { .. } | GateError::Exec { .. } => {
                Explain::runtime("is docker running?")
            }
        }
    }
}

/// Applies the operator's decision on a held push in a bottle's gate
/// (`Some`: approve what was shown; `None`: reject); returns what the gate
/// printed.
pub trait Decide {
    /// Decides proposal `id`, held in bottle `slug`'s gate.
    fn decide(&self, slug: &str, id: &str, approve: Option<&Shown>) -> Result<String, GateError>;
}

/// The host's actions on a running bottle's sidecars, and on the engine
/// that builds its agent's image.
pub trait Sidecars: Decide + Send + Sync {
    /// Waits until bottle `slug`'s git gate answers.
    fn wait_for_gate(&self, slug: &str) -> Result<(), ExecError>;

    /// Tells the egress of each of `slugs` to reload its routes, tokens
    /// and whether it is frozen: one call for all of them.
    fn reload_egress(&self, slugs: &[&str]) -> Result<(), ExecError>;

    /// The id of the image `reference` names on the engine; `None` when
    /// the engine does not have it.
    fn image_id(&self, reference: &str) -> Result<Option<String>, ExecError>;

    /// Pins image `id` so an approved Dockerfile reads exactly it; an id
    /// the engine no longer has is an error, never pulled.
    fn pin_image(&self, id: &str) -> Result<String, ImageError>;

    /// Up to `most` running sidecars of bottles other than `slug` on the
    /// same engine, with their addresses (what the seal's probes aim at).
    fn neighbours(&self, slug: &str, most: usize) -> Result<Vec<Neighbour>, ExecError>;
}

/// The sidecars of whichever bottle an action names: those of the backend
/// its metadata names, else docker's (every backend runs its sidecars on
/// docker).
#[derive(Debug, Clone, Copy)]
pub struct OfBottle<'a> {
    pub home: &'a Home,
}

impl OfBottle<'_> {
    fn of(&self, slug: &str) -> &'static dyn Sidecars {
        self.home
            .read_metadata(slug)
            .ok()
            .and_then(|m| BackendKind::parse(&m.backend))
            .unwrap_or(BackendKind::Docker)
            .backend()
            .sidecars()
    }

    /// `Sidecars::reload_egress` of bottle `slug`'s backend.
    pub fn reload_egress(&self, slug: &str) -> Result<(), ExecError> {
        self.of(slug).reload_egress(&[slug])
    }

    /// `Sidecars::image_id` on the engine of bottle `slug`'s backend.
    pub fn image_id(&self, slug: &str, reference: &str) -> Result<Option<String>, ExecError> {
        self.of(slug).image_id(reference)
    }

    /// `Sidecars::pin_image` on the engine of bottle `slug`'s backend.
    pub fn pin_image(&self, slug: &str, id: &str) -> Result<String, ImageError> {
        self.of(slug).pin_image(id)
    }
}

impl Decide for OfBottle<'_> {
    fn decide(&self, slug: &str, id: &str, approve: Option<&Shown>) -> Result<String, GateError> {
        self.of(slug).decide(slug, id, approve)
    }
}
