//! capability-block on the host. The images a proposed Dockerfile reads
//! are checked against what the bottle may read (its own images and the
//! operator's `capability.base_images`, as its launch recorded them) and
//! resolved to this engine's image ids, which the preview shows; approving
//! pins each of those ids, writes the Dockerfile reading exactly them as
//! the bottle's own, and takes the bottle down for `resume` to rebuild. No
//! image is ever pulled: one the engine does not have is refused.

use super::{Applied, ApplyError};
use crate::backend::bringup::Context;
use crate::backend::sidecars::OfBottle;
use crate::contract::audit::decision;
use crate::dockerfile::images::{self, Allowed, Named, Resolved};
use crate::exec::Sink;
use crate::launch::service;
use crate::proposal::audit::{self, Entry};
use crate::proposal::queue::Queue;
use crate::proposal::{Decision, Proposal, Response};
use crate::state::{Home, read_bounded, write_atomic};
use crate::supervise::merge;

/// The list is a few names; a larger file is not read.
const MAX_ALLOWED: u64 = 64 * 1024;

/// The images a Dockerfile reads, each with its id on this engine; the
/// error says why the bottle may not build it.
pub(crate) type Bases = Result<Vec<Resolved>, String>;

/// `Bases` of `dockerfile` for bottle `slug`.
pub(crate) fn bases(home: &Home, slug: &str, dockerfile: &str) -> Bases {
    let named = images::check(dockerfile, &allowed(home, slug)?)?;
    named
        .into_iter()
        .map(|named| {
            let id = (OfBottle { home })
                .image_id(slug, &named.entry)
                .map_err(|e| e.to_string())?;
            Ok(Resolved { named, id })
        })
        .collect()
}

/// What the bottle may read, as its launch recorded it where no sidecar
/// writes.
fn allowed(home: &Home, slug: &str) -> Result<Allowed, String> {
    let path = home.bottle(slug).base_images();
    let bytes = read_bounded(&path, MAX_ALLOWED).map_err(|e| {
        format!("the images this bottle may build from are not recorded ({e}): stop it and resume it, and it records them")
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The approved Dockerfile becomes the bottle's own, its images pinned by
/// the ids the operator was shown (`bases`, resolved for the preview the
/// approval was checked against); its state is kept, and it is taken
/// down: `resume` rebuilds it.
pub(super) fn rebuild(
    home: &Home,
    proposal: &Proposal,
    dockerfile: &str,
    bases: Bases,
    queue: &Queue,
    sink: &Sink,
) -> Result<Applied, ApplyError> {
    let slug = &proposal.slug;
    let refused = |reason: String| ApplyError::Dockerfile {
        id: proposal.id.clone(),
        reason,
    };
    // Checked where it was asked for; checked again here, where it counts.
    crate::dockerfile::check(dockerfile).map_err(refused)?;
    let mut named: Vec<Named> = Vec::new();
    let mut ids = Vec::new();
    for base in bases.map_err(refused)? {
        let Some(id) = base.id else {
            let n = &base.named;
            return Err(refused(format!(
                "line {}: {} {} is not on this engine, and it is never pulled: pull or build it yourself first",
                n.line, n.how, n.reference
            )));
        };
        (OfBottle { home })
            .pin_image(slug, &id)
            .map_err(|e| refused(e.to_string()))?;
        named.push(base.named);
        ids.push(id);
    }
    let pinned = images::pin(dockerfile, &named, &ids);
    let dir = home.bottle(slug);
    let before = std::fs::read_to_string(dir.agent_dockerfile()).unwrap_or_default();
    write_atomic(&dir.own_dockerfile(), pinned.as_bytes(), 0o644)?;
    home.mark_preserved(slug)?;
    let resume = format!("bot-bottle resume {slug}");
    let response = Response {
        note: Some(format!(
            "this bottle is being taken down; `{resume}` rebuilds it from your Dockerfile"
        )),
        ..Response::new(&proposal.id, Decision::Approved)
    };
    queue.respond(&response)?;
    queue.archive(&proposal.id)?;
    let (why, diff) = (
        Some(proposal.justification.clone()),
        merge::diff(&before, &pinned, "Dockerfile"),
    );
    audit::append(
        home,
        slug,
        &Entry::decision(proposal, decision::APPROVED, why, diff),
    )?;
    let ctx = Context {
        home,
        sink,
        interrupted: &std::sync::atomic::AtomicBool::new(false),
    };
    service::stop(&ctx, slug)?;
    Ok(Applied::Rebuild { resume })
}
