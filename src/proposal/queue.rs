//! The proposal queue: files in a sidecar's state folder (supervise's, or
//! the git gate's for held pushes), shared by the sidecar (which submits
//! and waits) and the host (which answers).
//!
//! ```text
//! queue/<id>.json      a pending proposal, written atomically
//! responses/<id>.json  the operator's answer
//! archive/<id>.json    {proposal, response}, once the agent has it
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{Decision, Origin, Proposal, Request, Response};
use crate::state::{read_bounded, write_atomic};

const QUEUE: &str = "queue";
const RESPONSES: &str = "responses";
const ARCHIVE: &str = "archive";
/// Proposals a bottle may have queued and not yet archived; past this, the
/// agent is told to wait for the operator's answers.
pub(crate) const MAX_QUEUED: usize = 32;
/// The files of a queue folder read at most: a sidecar writes them, so
/// the host never reads an unbounded number or size of them.
const MAX_ENTRIES: usize = 256;
/// A proposal is at most a 64 KiB Dockerfile and a short justification,
/// or a held push with its protected diff (`MAX_PROTECTED_DIFF`, which
/// JSON's escapes can make a few times longer).
const MAX_FILE: u64 = 1024 * 1024;

/// Held while a proposal is submitted, so concurrent calls cannot all see
/// room for one more (the sidecar is the one process that submits).
static SUBMIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A queue file could not be read or written, or the queue cannot take
/// what was asked of it (then `source` says why in words).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct QueueError {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: std::io::Error,
}

fn io(path: &Path, source: std::io::Error) -> QueueError {
    QueueError {
        path: path.to_path_buf(),
        source,
    }
}

/// What the queue refuses, in words (an id that is not one, a full
/// queue, no such proposal).
fn refused(path: &Path, why: impl Into<String>) -> QueueError {
    io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, why.into()),
    )
}

/// Writing a queue file failed (`write_atomic`'s error, kept whole).
fn written(path: &Path, e: crate::state::StateError) -> QueueError {
    io(path, std::io::Error::other(e))
}

/// A decided proposal, as archived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archived {
    pub(crate) proposal: Proposal,
    /// The operator's answer.
    pub response: Response,
}

/// One bottle's queue.
#[derive(Debug, Clone)]
pub struct Queue {
    dir: PathBuf,
}

impl Queue {
    /// The queue in a supervise state folder.
    pub fn new(dir: &Path) -> Queue {
        Queue {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, kind: &str, id: &str) -> PathBuf {
        self.dir.join(kind).join(format!("{id}.json"))
    }

    /// Queues a request, unless the same request is already waiting: then
    /// that proposal is returned, so asking again waits for one decision.
    pub fn submit(
        &self,
        slug: &str,
        request: Request,
        justification: String,
    ) -> Result<Proposal, QueueError> {
        self.submit_as(slug, request, justification, Origin::Agent, MAX_QUEUED)
    }

    /// `submit`, for proposals from `source`, with at most `max` queued.
    pub(crate) fn submit_as(
        &self,
        slug: &str,
        request: Request,
        justification: String,
        source: Origin,
        max: usize,
    ) -> Result<Proposal, QueueError> {
        // Calls come in at once; counting and adding are one step.
        let _one_at_a_time = SUBMIT.lock().unwrap_or_else(|p| p.into_inner());
        let queued = self.all_queued()?;
        if let Some(existing) = queued.iter().find(|p| p.request == request) {
            return Ok(existing.clone());
        }
        if queued.len() >= max {
            return Err(refused(
                &self.dir.join(QUEUE),
                format!(
                    "{max} requests are already waiting for the operator; wait for their answers before asking again"
                ),
            ));
        }
        let proposal = Proposal {
            id: new_id(),
            slug: slug.to_owned(),
            created_at: now(),
            justification,
            request,
            source,
            replaces: None,
        };
        self.write(&proposal)?;
        Ok(proposal)
    }

    /// Withdraws a pending proposal nobody has to decide any more (a
    /// suggestion the routes came to allow): it is answered `withdrawn`,
    /// with `note` saying why. An answered one stays as it was.
    pub(crate) fn withdraw(&self, id: &str, note: &str) -> Result<(), QueueError> {
        let path = self.path(QUEUE, id);
        check_id(id).map_err(|e| refused(&path, e))?;
        if self.response(id).is_some() || self.find(id).is_none() {
            return Ok(());
        }
        self.respond(&Response {
            note: Some(note.to_owned()),
            ..Response::new(id, Decision::Withdrawn)
        })
    }

    /// A pending proposal changed: the change is queued as a new proposal
    /// (a new id, `replaces` naming the old one), then the old one is
    /// answered `withdrawn` with `replaced_by` and `note`, so a tool call
    /// waiting on it is told and can follow. A proposal never changes
    /// under its id: what the operator read under an id is what approving
    /// it does. When the same request already waits, that one is the
    /// replacement. Returns the new proposal.
    pub fn supersede(
        &self,
        id: &str,
        request: Request,
        justification: String,
        note: &str,
    ) -> Result<Proposal, QueueError> {
        let path = self.path(QUEUE, id);
        check_id(id).map_err(|e| refused(&path, e))?;
        let _one_at_a_time = SUBMIT.lock().unwrap_or_else(|p| p.into_inner());
        let old = self
            .find(id)
            .filter(|_| self.response(id).is_none())
            .ok_or_else(|| refused(&path, "no pending proposal by that id to replace"))?;
        let waiting = self
            .all_queued()?
            .into_iter()
            .find(|p| p.id != id && p.request == request && self.response(&p.id).is_none());
        let new = match waiting {
            Some(p) => p,
            None => {
                let proposal = Proposal {
                    id: new_id(),
                    slug: old.slug.clone(),
                    created_at: now(),
                    justification,
                    request,
                    source: old.source,
                    replaces: Some(old.id.clone()),
                };
                self.write(&proposal)?;
                proposal
            }
        };
        self.respond(&Response {
            note: Some(note.to_owned()),
            replaced_by: Some(new.id.clone()),
            ..Response::new(id, Decision::Withdrawn)
        })?;
        Ok(new)
    }

    fn write(&self, proposal: &Proposal) -> Result<(), QueueError> {
        let path = self.path(QUEUE, &proposal.id);
        check_id(&proposal.id).map_err(|e| refused(&path, e))?;
        let text = serde_json::to_vec_pretty(proposal).map_err(|e| io(&path, e.into()))?;
        write_atomic(&path, &text, 0o644).map_err(|e| written(&path, e))
    }

    /// Every queued proposal, answered or not, oldest first.
    fn all_queued(&self) -> Result<Vec<Proposal>, QueueError> {
        let dir = self.dir.join(QUEUE);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut out: Vec<Proposal> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .take(MAX_ENTRIES)
            .filter_map(|p| read_json(&p))
            .collect();
        out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(out)
    }

    /// The proposals still waiting for the operator.
    pub fn pending(&self) -> Result<Vec<Proposal>, QueueError> {
        Ok(self
            .all_queued()?
            .into_iter()
            .filter(|p| !self.path(RESPONSES, &p.id).exists())
            .collect())
    }

    pub(crate) fn find(&self, id: &str) -> Option<Proposal> {
        check_id(id).ok()?;
        read_json(&self.path(QUEUE, id))
    }

    /// The answer to proposal `id`, once decided.
    pub fn response(&self, id: &str) -> Option<Response> {
        check_id(id).ok()?;
        read_json(&self.path(RESPONSES, id))
    }

    /// Records the operator's answer (the waiting tool call picks it up).
    pub(crate) fn respond(&self, response: &Response) -> Result<(), QueueError> {
        let path = self.path(RESPONSES, &response.id);
        check_id(&response.id).map_err(|e| refused(&path, e))?;
        let text = serde_json::to_vec_pretty(response).map_err(|e| io(&path, e.into()))?;
        write_atomic(&path, &text, 0o644).map_err(|e| written(&path, e))
    }

    /// Moves an answered proposal to the archive.
    pub(crate) fn archive(&self, id: &str) -> Result<(), QueueError> {
        let (Some(proposal), Some(response)) = (self.find(id), self.response(id)) else {
            return Err(refused(
                &self.path(QUEUE, id),
                "no answered proposal by that id",
            ));
        };
        let path = self.path(ARCHIVE, id);
        let text = serde_json::to_vec_pretty(&Archived { proposal, response })
            .map_err(|e| io(&path, e.into()))?;
        write_atomic(&path, &text, 0o644).map_err(|e| written(&path, e))?;
        for kind in [QUEUE, RESPONSES] {
            let _ = fs::remove_file(self.path(kind, id));
        }
        Ok(())
    }

    /// Proposal `id` and its answer, once archived.
    pub fn archived(&self, id: &str) -> Option<Archived> {
        check_id(id).ok()?;
        read_json(&self.path(ARCHIVE, id))
    }

    /// Decided proposals: answered ones still queued, then the archive
    /// (at most a bounded number of its files).
    pub(crate) fn decided(&self) -> Vec<Archived> {
        let mut out: Vec<Archived> = self
            .all_queued()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|proposal| {
                let response = self.response(&proposal.id)?;
                Some(Archived { proposal, response })
            })
            .collect();
        if let Ok(entries) = fs::read_dir(self.dir.join(ARCHIVE)) {
            out.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .take(MAX_ENTRIES)
                    .filter_map(|p| read_json::<Archived>(&p)),
            );
        }
        out
    }
}

/// A queue file, if it is a regular file of sane size that parses.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&read_bounded(path, MAX_FILE).ok()?).ok()
}

/// A fresh proposal id: the time in base36, then 8 random characters
/// (41 bits: ids made in the same millisecond, as calls at once are, do
/// not collide; 4 did, about once in a hundred runs of 200 ids).
pub(crate) fn new_id() -> String {
    const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut time = Vec::new();
    while millis > 0 {
        time.push(BASE36[(millis % 36) as usize]);
        millis /= 36;
    }
    time.reverse();
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| BASE36[rng.random_range(0..BASE36.len())] as char)
        .collect();
    format!("{}-{suffix}", String::from_utf8_lossy(&time))
}

/// Ids are used in paths: refuse anything but the shape `new_id` makes.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("'{id}' is not a proposal id"))
    }
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue in a temporary folder, which lives as long as the folder
    /// returned with it.
    fn temp_queue() -> (tempfile::TempDir, Queue) {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::new(dir.path());
        (dir, q)
    }

    fn request(host: &str) -> Request {
        Request::PipelockBlock {
            failed_url: format!("https://{host}/"),
            host: host.into(),
        }
    }

    #[test]
    fn submit_dedupe_respond_archive() {
        let (_dir, q) = temp_queue();
        let a = q.submit("s-1", request("a.com"), "why".into()).unwrap();
        let again = q
            .submit("s-1", request("a.com"), "why again".into())
            .unwrap();
        assert_eq!(a.id, again.id, "the same request waits for one decision");
        let b = q.submit("s-1", request("b.com"), "why".into()).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(q.pending().unwrap().len(), 2);

        let response = Response {
            id: a.id.clone(),
            decision: Decision::Approved,
            reason: None,
            decided_at: now(),
            note: Some("a.com added".into()),
            replaced_by: None,
        };
        q.respond(&response).unwrap();
        assert_eq!(q.pending().unwrap(), std::slice::from_ref(&b));
        assert_eq!(q.response(&a.id), Some(response.clone()));
        q.archive(&a.id).unwrap();
        assert!(q.find(&a.id).is_none() && q.response(&a.id).is_none());
        assert_eq!(q.archived(&a.id).unwrap().response, response);
        let rejected = Response {
            id: b.id.clone(),
            decision: Decision::Rejected,
            ..response.clone()
        };
        let decided = |q: &Queue| -> Vec<String> {
            let mut ids: Vec<String> = q.decided().into_iter().map(|d| d.proposal.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(decided(&q), std::slice::from_ref(&a.id), "the archive");
        q.respond(&rejected).unwrap();
        let mut both = vec![a.id.clone(), b.id.clone()];
        both.sort();
        assert_eq!(decided(&q), both, "answered, not yet archived, counts");
        std::fs::remove_file(q.path(RESPONSES, &b.id)).unwrap();
        assert!(
            q.archive(&b.id).is_err(),
            "unanswered proposals stay queued"
        );
        assert!(q.find("../../etc/passwd").is_none());
    }

    #[test]
    fn a_queue_is_bounded_and_reads_only_sane_files() {
        let (dir, q) = temp_queue();
        for i in 0..MAX_QUEUED {
            q.submit("s-1", request(&format!("h{i}.com")), "why".into())
                .unwrap();
        }
        let err = q
            .submit("s-1", request("one-more.com"), "why".into())
            .unwrap_err();
        assert!(err.source.to_string().contains("already waiting"), "{err}");
        let first = &q.pending().unwrap()[0];
        assert_eq!(
            q.submit("s-1", first.request.clone(), "again".into())
                .unwrap()
                .id,
            first.id,
            "asking again for a queued request still waits for it"
        );

        // Files a sidecar could plant: a link, a huge file.
        let queue = dir.path().join(QUEUE);
        std::os::unix::fs::symlink("/dev/zero", queue.join("zzz-link.json")).unwrap();
        std::fs::write(
            queue.join("zzz-big.json"),
            vec![b' '; MAX_FILE as usize + 1],
        )
        .unwrap();
        assert_eq!(q.pending().unwrap().len(), MAX_QUEUED);
        assert!(q.find("zzz-link").is_none() && q.find("zzz-big").is_none());
    }

    #[test]
    fn the_bound_holds_for_calls_at_once() {
        let (_dir, q) = temp_queue();
        let accepted = std::thread::scope(|s| {
            let calls: Vec<_> = (0..MAX_QUEUED + 16)
                .map(|i| {
                    let q = &q;
                    s.spawn(move || q.submit("s-1", request(&format!("c{i}.com")), "why".into()))
                })
                .collect();
            calls
                .into_iter()
                .map(|c| c.join().is_ok_and(|r| r.is_ok()))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(accepted, MAX_QUEUED);
        assert_eq!(q.pending().unwrap().len(), MAX_QUEUED);
    }

    /// A change is a new proposal: what was read under an id stays what
    /// approving that id would do.
    #[test]
    fn a_changed_proposal_is_a_new_one_and_the_old_is_withdrawn() {
        let (_dir, q) = temp_queue();
        let a = q.submit("s-1", request("a.com"), "why".into()).unwrap();
        let grown = q
            .supersede(&a.id, request("b.com"), "why, now".into(), "edited")
            .unwrap();
        assert_ne!(grown.id, a.id, "a new id");
        assert_eq!(grown.replaces.as_deref(), Some(a.id.as_str()));
        assert_eq!((grown.slug.as_str(), grown.source), ("s-1", Origin::Agent));
        assert_eq!(q.find(&a.id).unwrap(), a, "the old one is as it was");
        let answer = q.response(&a.id).unwrap();
        assert_eq!(answer.decision, Decision::Withdrawn);
        assert_eq!(answer.replaced_by.as_deref(), Some(grown.id.as_str()));
        assert_eq!(answer.note.as_deref(), Some("edited"));
        assert_eq!(q.pending().unwrap(), std::slice::from_ref(&grown));

        // A withdrawn or decided one cannot be replaced again.
        assert!(
            q.supersede(&a.id, request("c.com"), "x".into(), "x")
                .is_err()
        );
        // The same request waiting already: that one replaces it.
        let c = q.submit("s-1", request("c.com"), "why".into()).unwrap();
        let same = q
            .supersede(&grown.id, request("c.com"), "x".into(), "x")
            .unwrap();
        assert_eq!(same.id, c.id);
        assert_eq!(q.pending().unwrap(), std::slice::from_ref(&c));

        // Withdrawn with nothing in its place; an answered one stays.
        q.withdraw(&c.id, "the routes allow it now").unwrap();
        let answer = q.response(&c.id).unwrap();
        assert_eq!(
            (answer.decision, answer.replaced_by),
            (Decision::Withdrawn, None)
        );
        q.withdraw(&c.id, "again").unwrap();
        assert_eq!(
            q.response(&c.id).unwrap().note.as_deref(),
            Some("the routes allow it now")
        );
        assert!(q.pending().unwrap().is_empty());
        assert!(q.withdraw("../x", "no").is_err());
    }

    #[test]
    fn ids_are_unique_and_safe() {
        let ids: std::collections::BTreeSet<String> = (0..200).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 200);
        assert!(ids.iter().all(|id| check_id(id).is_ok()));
    }
}
