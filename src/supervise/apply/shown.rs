//! Approving exactly what was shown. `digest` fingerprints everything the
//! operator is shown of a pending proposal (who asks, why, the request,
//! and every line of what approving grants, computed from the live
//! state); an approval carries the digest of what its operator read, and
//! `approve` recomputes it under the bottle's lock and refuses when they
//! differ. The dashboard passes the digest of its detail view; `bot-bottle
//! proposals` records the digests it printed (`record`), which `bot-bottle
//! approve` then uses (`last_shown`).
//!
//! The record is `Home::shown_file`: the operator's own, private
//! (0600), written atomically under a lock, and bounded (only proposals
//! still pending are kept, at most `MAX_RECORDS`).

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Pending;
use crate::proposal::{Origin, Request};
use crate::state::{Home, StateError, lock_file, read_bounded, write_atomic};

/// Hex characters of a digest: short enough to read and type, long
/// enough that no change goes unnoticed by chance.
pub const DIGEST_LEN: usize = 16;
const MAX_RECORDS: usize = 4096;
const MAX_BYTES: u64 = 1 << 20;

/// Everything the operator is shown of a proposal, in a fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    id: &'a str,
    slug: &'a str,
    source: Origin,
    created_at: &'a str,
    replaces: Option<&'a str>,
    justification: &'a str,
    request: &'a Request,
    grants: &'a [String],
    widens_credential: bool,
    needs_token: bool,
}

/// The digest of what the operator is shown of `p`: `DIGEST_LEN` hex
/// characters of a SHA-256 over a canonical encoding of it.
pub fn digest(p: &Pending) -> String {
    let shown = Canonical {
        id: &p.proposal.id,
        slug: &p.proposal.slug,
        source: p.proposal.source,
        created_at: &p.proposal.created_at,
        replaces: p.proposal.replaces.as_deref(),
        justification: &p.proposal.justification,
        request: &p.proposal.request,
        grants: &p.preview.lines,
        widens_credential: p.preview.widens_credential,
        needs_token: p.preview.needs_token,
    };
    // Plain data: encoding it cannot fail, and the text is its identity.
    let bytes = serde_json::to_vec(&shown).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..DIGEST_LEN]
        .to_owned()
}

/// Records that `listed` (every pending proposal) was shown, as it is now:
/// each id's digest replaces the one shown before; ids no longer pending
/// are forgotten.
pub fn record(home: &Home, listed: &[Pending]) -> Result<(), StateError> {
    home.create()?;
    let _lock = lock_file(&home.shown_lock())?;
    let mut shown = read(home);
    shown.retain(|id, _| listed.iter().any(|p| &p.proposal.id == id));
    for p in listed.iter().take(MAX_RECORDS) {
        shown.insert(p.proposal.id.clone(), digest(p));
    }
    let text = serde_json::to_vec_pretty(&shown).unwrap_or_default();
    write_atomic(&home.shown_file(), &text, 0o600)
}

/// The digest last shown for proposal `id`, if it was shown.
pub fn last_shown(home: &Home, id: &str) -> Option<String> {
    read(home).remove(id)
}

fn read(home: &Home) -> BTreeMap<String, String> {
    read_bounded(&home.shown_file(), MAX_BYTES)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::{GitPush, Proposal};
    use crate::supervise::preview::Preview;

    fn pending() -> Pending {
        Pending {
            proposal: Proposal {
                id: "m1-abcd".into(),
                slug: "dev-aaaaa".into(),
                created_at: "2026-12-03T04:00:00.000Z".into(),
                justification: "to run the tests".into(),
                request: Request::EgressBlock {
                    host: "pypi.org".into(),
                    path_allowlist: vec!["/simple/".into()],
                    auth: None,
                },
                source: Origin::Agent,
                replaces: None,
            },
            preview: Preview {
                lines: vec!["a new route to pypi.org, /simple/".into()],
                ..Preview::default()
            },
        }
    }

    fn push(new: &str, diff: &str) -> Request {
        Request::GitPush(GitPush {
            git_ref: "refs/heads/ci".into(),
            old: "0".repeat(40),
            new: new.into(),
            land: true,
            forward: vec![],
            reasons: vec![],
            diffstat: String::new(),
            commits: vec![],
            protected_diff: diff.into(),
        })
    }

    /// Each part of what is shown changes the digest.
    #[test]
    fn every_part_shown_is_in_the_digest() {
        let base = digest(&pending());
        assert_eq!(base.len(), DIGEST_LEN);
        assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(digest(&pending()), base, "the same shown, the same digest");
        type Change = fn(&mut Pending);
        let changes: Vec<(&str, Change)> = vec![
            ("id", |p| p.proposal.id = "m1-abce".into()),
            ("bottle", |p| p.proposal.slug = "dev-bbbbb".into()),
            ("source", |p| p.proposal.source = Origin::Denied),
            ("asked at", |p| p.proposal.created_at = "later".into()),
            ("replaces", |p| p.proposal.replaces = Some("m0-aaaa".into())),
            ("why", |p| p.proposal.justification.push('!')),
            ("paths", |p| {
                p.proposal.request = Request::EgressBlock {
                    host: "pypi.org".into(),
                    path_allowlist: vec![],
                    auth: None,
                }
            }),
            ("grants", |p| p.preview.lines.push("and more".into())),
            ("a grant line", |p| p.preview.lines[0].push('/')),
            ("widens", |p| p.preview.widens_credential = true),
            ("token", |p| p.preview.needs_token = true),
            ("a held push's commit", |p| {
                p.proposal.request = push(&"b".repeat(40), "+x")
            }),
        ];
        for (what, change) in changes {
            let mut p = pending();
            change(&mut p);
            assert_ne!(digest(&p), base, "{what}");
        }
        let mut a = pending();
        a.proposal.request = push(&"b".repeat(40), "+x");
        let mut b = a.clone();
        b.proposal.request = push(&"c".repeat(40), "+x");
        let mut c = a.clone();
        c.proposal.request = push(&"b".repeat(40), "+y");
        assert_ne!(digest(&a), digest(&b), "another commit");
        assert_ne!(digest(&a), digest(&c), "another protected diff");
    }

    #[test]
    fn the_record_keeps_what_is_pending_privately() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().join("home"),
        };
        assert_eq!(last_shown(&home, "m1-abcd"), None, "never shown");
        let mut other = pending();
        other.proposal.id = "m2-abcd".into();
        record(&home, &[pending(), other.clone()]).unwrap();
        assert_eq!(last_shown(&home, "m1-abcd"), Some(digest(&pending())));
        let mode = std::fs::metadata(home.shown_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Listed again, changed: the new digest; gone: forgotten.
        other.preview.lines.push("more".into());
        record(&home, std::slice::from_ref(&other)).unwrap();
        assert_eq!(last_shown(&home, "m2-abcd"), Some(digest(&other)));
        assert_eq!(last_shown(&home, "m1-abcd"), None);
        // A broken record is no record.
        std::fs::write(home.shown_file(), "{not json").unwrap();
        assert_eq!(last_shown(&home, "m2-abcd"), None);
        record(&home, &[other.clone()]).unwrap();
        assert_eq!(last_shown(&home, "m2-abcd"), Some(digest(&other)));
    }
}
