//! Learning mode: requests egress denied become proposals the operator
//! can approve, marked as coming from denials and not from the agent.
//!
//! The decision log is the agent's to fill (it chooses the URLs and how
//! many), so what it says is checked as an agent's tool call is:
//!
//! - only denials that a route could lift count (no route for the host, a
//!   path outside the allowlist); raw IPs, odd ports, user info, clipped
//!   URLs and paths that are not plain (see `egress::path`) are dropped;
//! - every suggestion passes `proposal::parse`, the checks of an agent's
//!   `egress-block`, and is approved through the same code, so it grants
//!   exactly what its preview shows;
//! - bounded: the tail of the log is read, so many hosts and so many paths
//!   per host are looked at, a suggestion lists at most `MAX_PATHS`
//!   prefixes and a bottle has at most `MAX_PENDING` suggestions waiting.
//!
//! One suggestion per host: the paths seen, grouped by their folder
//! (`/simple/requests/x.whl` → `/simple/requests/`). Nothing comes back
//! that the routes allow now, that the operator rejected for that host
//! (a suggestion or an agent's proposal), or that an agent's pending
//! proposal asks for already. A waiting suggestion grows with new paths:
//! the grown one is a new suggestion, and the one before is withdrawn
//! (never changed under its id, so approving what was read means just
//! that); the same denials again change nothing. A waiting one the routes
//! come to allow in full (the agent's own ask was approved) is withdrawn.
//!
//! `sync` is the driver: it reads a bottle's log, routes and queues, and
//! writes the suggestions queue (`state/<slug>/suggestions/`, which no
//! sidecar mounts). The dashboard runs it when the state folder changes,
//! `bot-bottle proposals` when it lists.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::apply::{queues, read_routes};
use crate::egress::config::EgressConfig;
use crate::egress::path;
use crate::manifest::validate_host;
use crate::proposal::queue::Queue;
use crate::proposal::{self, EGRESS_BLOCK, Origin, Proposal, Request};
use crate::state::{BottleLock, Home};

/// Suggestions a bottle may have waiting; more hosts wait their turn.
pub(crate) const MAX_PENDING: usize = 8;
/// Path prefixes one suggestion lists at most.
pub(crate) const MAX_PATHS: usize = 8;
/// Hosts and distinct paths per host looked at in one pass.
const MAX_HOSTS: usize = 64;
const MAX_PATHS_SEEN: usize = 64;
/// The end of the decision log that is read.
const TAIL: u64 = 256 * 1024;
/// A path longer than this is dropped (the agent's `egress-block` limit).
const MAX_PATH: usize = 256;
/// Why a suggestion was withdrawn: more paths were denied, or the routes
/// allow what it asks.
const GROWN: &str = "egress denied more paths: a new suggestion asks for them too";
const ALLOWED: &str = "the routes allow what it asked for now";

/// One denied request a route could allow: its host and canonical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    pub(crate) host: String,
    pub(crate) path: String,
}

/// A line of the decision log, if it is a denial a route could lift.
pub(crate) fn denied(line: &str) -> Option<Denied> {
    let entry: Map<String, Value> = serde_json::from_str(line).ok()?;
    let tool = entry.get("tool")?.as_str()?;
    if entry.get("action")?.as_str()? != "deny"
        || ![proposal::EGRESS_BLOCK, proposal::PIPELOCK_BLOCK].contains(&tool)
    {
        return None;
    }
    from_url(entry.get("url")?.as_str()?)
}

/// `https://host/path` (the log keeps no query) → host and canonical path.
fn from_url(url: &str) -> Option<Denied> {
    let (rest, default_port) = match url.split_once("://")? {
        ("https", rest) => (rest, "443"),
        ("http", rest) => (rest, "80"),
        _ => return None,
    };
    // The log marks a clipped field with an ellipsis: not the real URL.
    if url.ends_with('…') || url.contains(['?', '#', '@']) {
        return None;
    }
    let (authority, raw_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => host,
        Some(_) => return None,
        None => authority,
    };
    let host = validate_host(host).ok()?;
    let path = path::canonical(raw_path).ok()?;
    let plain = path.len() <= MAX_PATH && path.bytes().all(|b| b.is_ascii_graphic());
    plain.then_some(Denied { host, path })
}

/// The folder a path is in, as an allowlist prefix: `/a/b/c` → `/a/b/`;
/// a folder (`/a/b/`) and a path of one segment (`/a`) stay themselves,
/// so `/` alone is every path.
pub(crate) fn group(path: &str) -> String {
    if path.ends_with('/') {
        return path.to_owned();
    }
    match path.rfind('/') {
        Some(0) | None => path.to_owned(),
        Some(i) => path[..=i].to_owned(),
    }
}

/// Prefixes for `paths`: their folders, without one another's sub-paths,
/// at most `MAX_PATHS` (their first segments when there are more, then
/// the first of those in order; the rest come once these are decided).
pub(crate) fn prefixes<'a>(paths: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let grouped: BTreeSet<String> = paths.into_iter().map(|p| group(p)).collect();
    let mut out = minimal(grouped);
    if out.len() > MAX_PATHS {
        out = minimal(out.iter().map(|p| first_segment(p)));
    }
    out.truncate(MAX_PATHS);
    out
}

/// `/a/b/c` → `/a/`; `/a` stays.
fn first_segment(prefix: &str) -> String {
    match prefix[1..].find('/') {
        Some(i) => prefix[..i + 2].to_owned(),
        None => prefix.to_owned(),
    }
}

/// The prefixes no other one of them covers, sorted.
fn minimal(set: impl IntoIterator<Item = String>) -> Vec<String> {
    let all: BTreeSet<String> = set.into_iter().collect();
    all.iter()
        .filter(|p| !all.iter().any(|q| q != *p && p.starts_with(q.as_str())))
        .cloned()
        .collect()
}

/// A host and paths a request asks for: `(host, paths)`, paths empty for
/// every path; None for requests that are not routes.
fn route_of(request: &Request) -> Option<(&str, &[String])> {
    match request {
        Request::EgressBlock {
            host,
            path_allowlist,
            ..
        } => Some((host, path_allowlist)),
        Request::PipelockBlock { host, .. } => Some((host, &[])),
        _ => None,
    }
}

/// Whether `asked` (a route request) covers `host` and `path`.
fn covers(asked: &Request, host: &str, path: &str) -> bool {
    route_of(asked).is_some_and(|(h, paths)| {
        h.eq_ignore_ascii_case(host) && (paths.is_empty() || path::allowed(path, paths))
    })
}

/// What a bottle has now, against which denials are weighed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    /// The live routes.
    pub(crate) routes: &'a EgressConfig,
    /// Requests the operator rejected (suggestions and agents' proposals).
    pub(crate) rejected: &'a [Request],
    /// Proposals waiting: the agent's and the suggestions.
    pub(crate) pending: &'a [Proposal],
}

/// What `sync` writes to the suggestions queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    New {
        request: Request,
        justification: String,
    },
    /// A waiting suggestion, grown by new paths.
    Grow {
        id: String,
        request: Request,
        justification: String,
    },
    /// A waiting suggestion the routes now allow in full (the operator
    /// approved the agent's own ask, or edited the routes): nothing to
    /// decide any more.
    Withdraw { id: String },
}

/// The suggestions `denials` call for, given what is `known`.
pub(crate) fn suggest(denials: &[Denied], known: &Known) -> Vec<Action> {
    let stale = |p: &Proposal| {
        route_of(&p.request).is_some_and(|(h, paths)| {
            !paths.is_empty() && paths.iter().all(|path| allowed(known.routes, h, path))
        })
    };
    let waiting = |p: &&Proposal| p.source == Origin::Denied && !stale(p);
    let mut room = MAX_PENDING.saturating_sub(known.pending.iter().filter(waiting).count());
    let mut out: Vec<Action> = known
        .pending
        .iter()
        .filter(|p| p.source == Origin::Denied && stale(p))
        .map(|p| Action::Withdraw { id: p.id.clone() })
        .collect();
    for (host, paths, count) in by_host(denials) {
        let open = open_paths(known, &host, &paths);
        if open.is_empty() {
            continue;
        }
        let existing = known
            .pending
            .iter()
            .filter(waiting)
            .find(|p| route_of(&p.request).is_some_and(|(h, _)| h.eq_ignore_ascii_case(&host)));
        let justification = justification(&host, count);
        match existing {
            Some(p) => {
                let (_, before) = route_of(&p.request).unwrap_or((&host, &[]));
                if open.iter().all(|path| path::allowed(path, before)) || before.is_empty() {
                    continue;
                }
                let paths = prefixes(before.iter().chain(open.iter().copied()));
                if let Some(request) = checked(&host, &paths, &justification)
                    && request != p.request
                {
                    out.push(Action::Grow {
                        id: p.id.clone(),
                        request,
                        justification,
                    });
                }
            }
            None if room > 0 => {
                if let Some(request) = checked(&host, &prefixes(open), &justification) {
                    room -= 1;
                    out.push(Action::New {
                        request,
                        justification,
                    });
                }
            }
            None => {}
        }
    }
    out
}

/// The hosts `denials` name (at most `MAX_HOSTS`, in the order first
/// met), each with its distinct paths (at most `MAX_PATHS_SEEN`) and how
/// many denials it had.
fn by_host(denials: &[Denied]) -> Vec<(String, BTreeSet<String>, usize)> {
    let mut hosts: Vec<(String, BTreeSet<String>, usize)> = Vec::new();
    for d in denials {
        let i = match hosts.iter().position(|(h, ..)| *h == d.host) {
            Some(i) => i,
            None if hosts.len() < MAX_HOSTS => {
                hosts.push((d.host.clone(), BTreeSet::new(), 0));
                hosts.len() - 1
            }
            None => continue,
        };
        let (_, paths, count) = &mut hosts[i];
        *count += 1;
        if paths.len() < MAX_PATHS_SEEN {
            paths.insert(d.path.clone());
        }
    }
    hosts
}

/// The denied `paths` of `host` still worth a suggestion: not let
/// through by the routes, not covered by a rejection or by a proposal of
/// the agent's own that waits.
fn open_paths<'p>(known: &Known, host: &str, paths: &'p BTreeSet<String>) -> Vec<&'p String> {
    paths
        .iter()
        .filter(|p| !allowed(known.routes, host, p))
        .filter(|p| !known.rejected.iter().any(|r| covers(r, host, p)))
        .filter(|p| {
            !known
                .pending
                .iter()
                .filter(|q| q.source == Origin::Agent)
                .any(|q| covers(&q.request, host, p))
        })
        .collect()
}

/// Why a suggestion made from `count` denials to `host` is there.
fn justification(host: &str, count: usize) -> String {
    format!(
        "Learning mode: egress denied {count} request{} to {host}{}. Made from the decision log, not from a tool call: the agent did not ask for this route.",
        if count == 1 { "" } else { "s" },
        if count == 1 {
            ""
        } else {
            " (in the recent log)"
        },
    )
}

/// Whether the routes let `path` on `host` through, as egress decides.
fn allowed(routes: &EgressConfig, host: &str, path: &str) -> bool {
    routes.routes.iter().any(|r| {
        r.host.eq_ignore_ascii_case(host)
            && (r.path_allowlist.is_empty() || path::allowed(path, &r.path_allowlist))
    })
}

/// The suggestion as an agent's `egress-block` would be, through the
/// same checks.
fn checked(host: &str, paths: &[String], justification: &str) -> Option<Request> {
    let args = json!({
        "host": host,
        "path_allowlist": paths,
        "justification": justification,
    });
    let args = args.as_object()?;
    proposal::parse(EGRESS_BLOCK, args).ok().map(|(r, _)| r)
}

/// Why a bottle's suggestions could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SuggestError {
    #[error("learning mode: {0}")]
    Apply(#[from] super::apply::ApplyError),
    #[error("learning mode: {0}")]
    Queue(#[from] crate::proposal::queue::QueueError),
}

/// Brings every bottle's suggestions up to date with its decision log.
/// A bottle whose state cannot be read is skipped.
pub(crate) fn sync_all(home: &Home) {
    for slug in home.list_state().unwrap_or_default() {
        let _ = sync(home, &slug);
    }
}

/// Brings a bottle's suggestions up to date with its decision log.
pub(crate) fn sync(home: &Home, slug: &str) -> Result<(), SuggestError> {
    // A spent token budget is asked about too (not a denial a route lifts).
    super::budget::sync(home, slug)?;
    let dir = home.bottle(slug);
    let Some(log) = tail(&dir.egress_decisions()) else {
        return Ok(());
    };
    let denials: Vec<Denied> = log.lines().filter_map(denied).collect();
    if denials.is_empty() {
        return Ok(());
    }
    let plan = |home: &Home| -> Result<Option<(Vec<Action>, Queue)>, SuggestError> {
        let (routes, _) = read_routes(home, slug)?;
        let mut rejected = Vec::new();
        let mut pending = Vec::new();
        let mut own = None;
        for (source, queue) in queues::queues(home, slug) {
            for d in queue.decided() {
                if d.response.decision == proposal::Decision::Rejected {
                    rejected.push(d.proposal.request);
                }
            }
            for p in queue.pending().unwrap_or_default() {
                pending.extend(queues::admit(source, slug, p));
            }
            if source == queues::Source::Denied {
                own = Some(queue);
            }
        }
        let own = own.unwrap_or_else(|| Queue::new(&dir.suggestions_dir()));
        let known = Known {
            routes: &routes,
            rejected: &rejected,
            pending: &pending,
        };
        let actions = suggest(&denials, &known);
        Ok((!actions.is_empty()).then_some((actions, own)))
    };
    let Some((_lock, (actions, queue))) = planned_under_lock(home, slug, plan)? else {
        return Ok(());
    };
    for action in actions {
        match action {
            Action::New {
                request,
                justification,
            } => {
                queue.submit_as(slug, request, justification, Origin::Denied, MAX_PENDING)?;
            }
            Action::Grow {
                id,
                request,
                justification,
            } => {
                // A new suggestion; the one the operator may have read is
                // withdrawn, never changed under its id.
                queue.supersede(&id, request, justification, GROWN)?;
                queue.archive(&id)?;
            }
            Action::Withdraw { id } => {
                queue.withdraw(&id, ALLOWED)?;
                let _ = queue.archive(&id);
            }
        }
    }
    Ok(())
}

/// What `plan` finds to do for bottle `slug`, planned again under the
/// bottle's lock (which approvals hold) when it finds anything, with the
/// lock; None when there is nothing to do, or the lock is held (an
/// approval, a rebuild: the next change tries again).
pub(super) fn planned_under_lock<T>(
    home: &Home,
    slug: &str,
    plan: impl Fn(&Home) -> Result<Option<T>, SuggestError>,
) -> Result<Option<(BottleLock, T)>, SuggestError> {
    if plan(home)?.is_none() {
        return Ok(None);
    }
    let Some(lock) = home
        .try_lock_bottle(slug)
        .map_err(super::apply::ApplyError::from)?
    else {
        return Ok(None);
    };
    Ok(plan(home)?.map(|planned| (lock, planned)))
}

/// The last `TAIL` bytes of the log, whole lines only; None when there is
/// none. A link in its place is not followed.
fn tail(path: &Path) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(TAIL).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = match start {
        0 => &text[..],
        _ => text.split_once('\n').map_or("", |(_, rest)| rest),
    };
    Some(text.to_owned())
}

#[cfg(test)]
mod tests;
