//! The operator's side, on the host; the CLI and the dashboard share it.
//! Finding proposals across bottles, approving (which applies the change),
//! rejecting, and editing a bottle's routes. A failed apply changes
//! nothing and leaves the proposal pending.
//!
//! `queues` is where a bottle's proposals wait (supervise's and the git
//! gate's), `routes` changes a bottle's routes, `push` decides the pushes
//! the gate held, `shown` binds an approval to what its operator read,
//! `image` checks and applies a new Dockerfile.

pub(crate) mod image;
mod push;
pub(crate) mod queues;
mod routes;
pub(crate) mod shown;

use routes::add_route;
pub(crate) use routes::{edit_routes_in_editor, read_routes};

use super::merge::Asked;
use super::preview::{self, Current, Preview};
use crate::backend::sidecars::{Decide, GateError, OfBottle};
use crate::contract::audit::decision;
use crate::egress::config::EgressConfig;
use crate::error::{Explain, UserError};
use crate::exec::Sink;
use crate::launch::LaunchError;
use crate::proposal::audit::{self, Entry};
use crate::proposal::queue::{Queue, QueueError, check_id};
use crate::proposal::{Decision, Origin, Proposal, Request, Response};
use crate::state::{Home, StateError};
pub(crate) use shown::digest;

/// Approving, rejecting or editing a proposal failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// No pending proposal has this id.
    #[error("no pending proposal '{0}'")]
    NotFound(String),
    #[error(
        "proposal {id} asks for a {scheme} credential for {host}: name the host variable that holds it"
    )]
    /// An egress proposal with a credential needs the host variable that holds it.
    NeedsToken {
        /// The proposal.
        id: String,
        /// The route's host.
        host: String,
        /// The credential's scheme.
        scheme: String,
    },
    #[error(
        "proposal {id} would send the credential of {host} to more paths ({paths}): confirm that you mean it"
    )]
    /// Approving would send a credential to more paths; the operator must confirm.
    WidensCredential {
        /// The proposal.
        id: String,
        /// The route's host.
        host: String,
        /// The paths it would reach.
        paths: String,
    },
    /// The named host variable is not set.
    #[error("${0} is not set on this host")]
    TokenUnset(String),
    /// The running egress did not take the new routes.
    #[error(
        "the routes of bottle '{slug}' could not be reloaded ({}); nothing was changed",
        routes::reload_reason(.source)
    )]
    Reload {
        /// The bottle.
        slug: String,
        /// What went wrong.
        #[source]
        source: crate::exec::ExecError,
    },
    /// The proposal or the edit is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A proposed Dockerfile cannot be built.
    #[error("the Dockerfile proposed in {id} cannot be built here: {reason}")]
    Dockerfile {
        /// The proposal.
        id: String,
        /// Why not.
        reason: String,
    },
    /// The proposal changed since the operator read it.
    #[error("proposal {0} changed since you read it: run `bot-bottle proposals` again")]
    Changed(String),
    /// The operator did not read the proposal first.
    #[error("proposal {0} was not shown to you: run `bot-bottle proposals` first")]
    Unread(String),
    /// The bottle's state is unreadable.
    #[error(transparent)]
    State(#[from] StateError),
    /// Rebuilding the bottle failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// A held push cannot be edited.
    #[error("proposal {0} is a held push: it cannot be edited, only approved or rejected")]
    HeldPush(String),
    /// A budget proposal cannot be edited.
    #[error("proposal {id} asks for a budget: it cannot be edited, only approved or rejected")]
    FixedBudget {
        /// The proposal.
        id: String,
        /// Its bottle.
        slug: String,
    },
    /// The git gate refused or is down.
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The editor failed.
    #[error(transparent)]
    Editor(crate::exec::ExecError),
}

impl UserError for ApplyError {
    /// A proposal that cannot be approved as asked is the operator's to
    /// fix (2); a bottle that cannot be reached failed at run time (1).
    fn explain(&self) -> Explain<'_> {
        match self {
            ApplyError::NotFound(_) => Explain::usage("see `bot-bottle proposals`"),
            ApplyError::NeedsToken { id, host, .. } => Explain::usage(format!(
                "bot-bottle approve {id} --token-env NAME, NAME being the host variable that holds the credential meant for {host}"
            )),
            ApplyError::WidensCredential { id, .. } => Explain::usage(format!(
                "see what it grants with `bot-bottle proposals`, then: bot-bottle approve {id} --widen-credential"
            )),
            ApplyError::TokenUnset(name) => Explain::usage(format!(
                "export {name} in this shell, or name another variable"
            )),
            ApplyError::Reload { .. } => {
                Explain::runtime("is the bottle running? see `bot-bottle list active`")
            }
            ApplyError::Invalid(_) => Explain::usage("fix the routes and save again"),
            ApplyError::Changed(id) | ApplyError::Unread(id) => Explain::usage(format!(
                "nothing was approved; read what approving {id} grants now, then approve it again"
            )),
            ApplyError::Dockerfile { id, .. } => Explain::usage(format!(
                "reject it, saying why: bot-bottle reject {id} --reason '...'"
            )),
            ApplyError::State(e) => Explain::By(e),
            ApplyError::Launch(e) => Explain::By(e),
            ApplyError::HeldPush(id) => Explain::usage(format!(
                "bot-bottle approve {id}, or: bot-bottle reject {id} --reason '...'"
            )),
            ApplyError::FixedBudget { slug, .. } => Explain::usage(format!(
                "another amount: token_budget or spend.budget in `bot-bottle routes edit {slug}`"
            )),
            ApplyError::Gate(e) => Explain::By(e),
            ApplyError::Editor(e) => Explain::By(e),
        }
    }
}

impl From<QueueError> for ApplyError {
    fn from(e: QueueError) -> ApplyError {
        ApplyError::State(StateError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

/// A pending proposal and the queue it is in.
pub(crate) struct Located {
    pub(crate) queue: Queue,
    pub(crate) proposal: Proposal,
}

/// A pending proposal, with what approving it would grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub(crate) proposal: Proposal,
    pub(crate) preview: Preview,
}

/// Every pending proposal, in every bottle and each of its queues (see
/// `queues`), oldest first. A proposal's bottle is the one whose queue
/// holds it, whatever the file says.
pub(crate) fn pending(home: &Home) -> Result<Vec<Pending>, ApplyError> {
    let mut all = Vec::new();
    for slug in home.list_state()? {
        for (source, queue) in queues::queues(home, &slug) {
            for proposal in queue.pending().unwrap_or_default() {
                if let Some(proposal) = queues::admit(source, &slug, proposal) {
                    let preview = preview_of(home, &proposal);
                    all.push(Pending { proposal, preview });
                }
            }
        }
    }
    all.sort_by(|a, b| {
        let key = |p: &Pending| (p.proposal.created_at.clone(), p.proposal.id.clone());
        key(a).cmp(&key(b))
    });
    Ok(all)
}

/// What approving `proposal` would grant now; a bottle whose routes cannot
/// be read previews against no routes.
pub(crate) fn preview_of(home: &Home, proposal: &Proposal) -> Preview {
    preview_and_bases(home, proposal).0
}

/// `preview_of`, with the images a new Dockerfile reads as resolved for
/// it: approving pins exactly those, not what a second look might find.
fn preview_and_bases(home: &Home, proposal: &Proposal) -> (Preview, Option<image::Bases>) {
    let routes = read_routes(home, &proposal.slug)
        .map(|(config, _)| config)
        .unwrap_or_else(|_| EgressConfig {
            listen: 0,
            routes: Vec::new(),
            trust_upstream_ca: Vec::new(),
            token_budget: None,
            spend: None,
        });
    let dockerfile =
        std::fs::read_to_string(home.bottle(&proposal.slug).agent_dockerfile()).unwrap_or_default();
    let bases = match &proposal.request {
        Request::CapabilityBlock { dockerfile } => {
            Some(image::bases(home, &proposal.slug, dockerfile))
        }
        _ => None,
    };
    let preview = preview::preview(
        &proposal.request,
        &Current {
            slug: &proposal.slug,
            routes: &routes,
            dockerfile: &dockerfile,
            bases: bases.as_ref(),
        },
    );
    (preview, bases)
}

pub(crate) fn locate(home: &Home, id: &str) -> Result<Located, ApplyError> {
    check_id(id).map_err(|_| ApplyError::NotFound(id.to_owned()))?;
    for slug in home.list_state()? {
        for (source, q) in queues::queues(home, &slug) {
            let found = q.find(id).filter(|_| q.response(id).is_none());
            if let Some(proposal) = found.and_then(|p| queues::admit(source, &slug, p)) {
                return Ok(Located { queue: q, proposal });
            }
        }
    }
    Err(ApplyError::NotFound(id.to_owned()))
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The routes changed and egress reloaded; the note says how.
    Routes { note: String },
    /// The bottle was taken down to be rebuilt by this command.
    Rebuild { resume: String },
    /// The git gate applied it (landed, forwarded); the note is what it
    /// printed.
    Git { note: String },
}

/// The operator's answer to what an approval needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Approval<'a> {
    /// The host variable holding the credential a new route asks for.
    pub(crate) token_env: Option<&'a str>,
    /// The operator saw that an existing credential goes to more paths,
    /// and means it.
    pub(crate) widen_credential: bool,
    /// The digest (`shown::digest`) of what the operator read; approving
    /// is refused when the proposal no longer shows just that, and
    /// without one.
    pub(crate) digest: Option<&'a str>,
}

/// Approves a proposal and applies it.
pub(crate) fn approve(
    home: &Home,
    id: &str,
    approval: &Approval,
    sink: &Sink,
) -> Result<(Proposal, Applied), ApplyError> {
    approve_with(home, id, approval, sink, &OfBottle { home })
}

/// `approve`, held pushes decided through `gate`.
pub(crate) fn approve_with(
    home: &Home,
    id: &str,
    approval: &Approval,
    sink: &Sink,
    gate: &dyn Decide,
) -> Result<(Proposal, Applied), ApplyError> {
    let _lock = home.lock_bottle(&locate(home, id)?.proposal.slug)?;
    // Again under the lock: someone may have decided it meanwhile, and
    // what approving grants is what it grants now.
    let Located { queue, proposal } = locate(home, id)?;
    let (preview, bases) = preview_and_bases(home, &proposal);
    let now = digest(&Pending {
        proposal: proposal.clone(),
        preview,
    });
    match approval.digest {
        None => return Err(ApplyError::Unread(proposal.id)),
        Some(shown) if !shown.trim().eq_ignore_ascii_case(&now) => {
            return Err(ApplyError::Changed(proposal.id));
        }
        Some(_) => {}
    }
    let asked = match &proposal.request {
        Request::EgressBlock {
            host,
            path_allowlist,
            auth,
        } => Asked {
            host,
            paths: path_allowlist,
            scheme: auth.as_ref().map(|a| a.scheme.as_str()),
        },
        Request::PipelockBlock { host, .. } => Asked {
            host,
            paths: &[],
            scheme: None,
        },
        Request::CapabilityBlock { dockerfile } => {
            let bases = bases.unwrap_or_else(|| Err("its images were not looked up".into()));
            let applied = image::rebuild(home, &proposal, dockerfile, bases, &queue, sink)?;
            return Ok((proposal, applied));
        }
        Request::GitPush(held) => {
            let note = push::decide(home, &proposal, held, true, None, gate)?;
            return Ok((proposal, Applied::Git { note }));
        }
        Request::Budget { tokens, spend } => {
            let note = routes::raise_budget(home, &proposal, *tokens, *spend)?;
            queue.respond(&Response {
                note: Some(note.clone()),
                ..Response::new(&proposal.id, Decision::Approved)
            })?;
            return Ok((proposal, Applied::Routes { note }));
        }
    };
    let note = add_route(home, &proposal, &asked, approval)?;
    queue.respond(&Response {
        note: Some(note.clone()),
        ..Response::new(&proposal.id, Decision::Approved)
    })?;
    settle_suggestion(&queue, &proposal)?;
    Ok((proposal, Applied::Routes { note }))
}

/// The request of a pending proposal, as the operator edits it.
pub(crate) fn request_text(home: &Home, id: &str) -> Result<String, ApplyError> {
    let Located { proposal, .. } = locate(home, id)?;
    unmodifiable(&proposal)?;
    let mut text = serde_json::to_string_pretty(&proposal.request).unwrap_or_default();
    text.push('\n');
    Ok(text)
}

/// The operator's edit of a pending proposal's request, checked as the
/// agent's input is (the tool stays the same), becomes a new proposal; the
/// one edited is withdrawn for it (a waiting tool call is told, and
/// follows). Returns the new proposal (the same one when nothing changed).
pub(crate) fn modify(home: &Home, id: &str, edited: &str) -> Result<Proposal, ApplyError> {
    let _lock = home.lock_bottle(&locate(home, id)?.proposal.slug)?;
    let Located { queue, proposal } = locate(home, id)?;
    unmodifiable(&proposal)?;
    let request: Request = serde_json::from_str(edited)
        .map_err(|e| ApplyError::Invalid(format!("the edited request: {e}")))?;
    if request.tool() != proposal.request.tool() {
        return Err(ApplyError::Invalid(format!(
            "keep the tool: {}",
            proposal.request.tool()
        )));
    }
    let mut args = match serde_json::to_value(&request) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    args.remove("tool");
    if let Request::PipelockBlock { .. } = &request {
        args.remove("host");
    }
    args.insert(
        "justification".into(),
        proposal.justification.clone().into(),
    );
    let (checked, _) = crate::proposal::parse(request.tool(), &args)
        .map_err(|e| ApplyError::Invalid(e.to_string()))?;
    if checked == proposal.request {
        return Ok(proposal);
    }
    let new = queue.supersede(
        &proposal.id,
        checked,
        proposal.justification.clone(),
        "the operator edited it",
    )?;
    settle_suggestion(&queue, &proposal)?;
    let new = queues::admit(queue_source(&proposal), &proposal.slug, new)
        .ok_or_else(|| ApplyError::NotFound(id.to_owned()))?;
    Ok(new)
}

/// The queue a located proposal came from (held pushes are never edited).
fn queue_source(proposal: &Proposal) -> queues::Source {
    match proposal.source {
        Origin::Denied => queues::Source::Denied,
        Origin::Agent => queues::Source::Supervise,
    }
}

/// A held push is what the agent pushed: approve it or reject it. A
/// budget is approved or rejected too (another amount: `routes edit`).
fn unmodifiable(proposal: &Proposal) -> Result<(), ApplyError> {
    match proposal.request {
        Request::GitPush(_) => Err(ApplyError::HeldPush(proposal.id.clone())),
        Request::Budget { .. } => Err(ApplyError::FixedBudget {
            id: proposal.id.clone(),
            slug: proposal.slug.clone(),
        }),
        _ => Ok(()),
    }
}

/// Rejects a proposal; the reason reaches the agent (for a held push, the
/// gate drops it and the reason goes to the audit log).
pub fn reject(home: &Home, id: &str, reason: Option<&str>) -> Result<Proposal, ApplyError> {
    reject_with(home, id, reason, &OfBottle { home })
}

/// `reject`, held pushes decided through `gate`.
pub(crate) fn reject_with(
    home: &Home,
    id: &str,
    reason: Option<&str>,
    gate: &dyn Decide,
) -> Result<Proposal, ApplyError> {
    let _lock = home.lock_bottle(&locate(home, id)?.proposal.slug)?;
    let Located { queue, proposal } = locate(home, id)?;
    if let Request::GitPush(held) = &proposal.request {
        push::decide(home, &proposal, held, false, reason, gate)?;
        return Ok(proposal);
    }
    queue.respond(&Response {
        reason: reason.map(str::to_owned),
        ..Response::new(&proposal.id, Decision::Rejected)
    })?;
    settle_suggestion(&queue, &proposal)?;
    let entry = Entry::decision(
        &proposal,
        decision::REJECTED,
        reason.map(str::to_owned),
        String::new(),
    );
    audit::append(home, &proposal.slug, &entry)?;
    Ok(proposal)
}

/// A decided suggestion (learning mode) has no tool call waiting to take
/// its answer: it goes to the archive at once, where learning mode finds
/// what was rejected.
fn settle_suggestion(queue: &Queue, proposal: &Proposal) -> Result<(), ApplyError> {
    if proposal.source == Origin::Denied {
        queue.archive(&proposal.id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::routes::tests::config;
    use super::*;
    use crate::supervise::merge;

    /// The operator's edit is checked as the agent's input is, and is a
    /// new proposal: the edited one is withdrawn for it, never rewritten.
    #[test]
    fn an_edit_is_checked_and_becomes_a_new_proposal() {
        let (_dir, home) = Home::temp();
        let (queue, p) = submit(&home, egress_block("api.github.com", &["/"]), "why");
        assert_eq!(pending(&home).unwrap().len(), 1);
        let text = request_text(&home, &p.id).unwrap();
        assert_eq!(
            modify(&home, &p.id, &text).unwrap(),
            p,
            "no change, no new proposal"
        );
        let edited = text.replace("\"/\"", "\"/repos/acme/\"");
        let modified = modify(&home, &p.id, &edited).unwrap();
        assert_ne!(modified.id, p.id, "a new id");
        assert_eq!(modified.replaces.as_deref(), Some(p.id.as_str()));
        assert_eq!(
            modified.request.summary(),
            "route api.github.com /repos/acme/"
        );
        assert_eq!(modified.justification, "why");
        assert_eq!(queue.find(&p.id).unwrap(), p, "the old one as it was");
        let withdrawn = queue.response(&p.id).unwrap();
        assert_eq!(withdrawn.decision, Decision::Withdrawn);
        assert_eq!(withdrawn.replaced_by.as_deref(), Some(modified.id.as_str()));
        let listed = pending(&home).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].proposal, modified);
        assert!(matches!(
            approve(&home, &p.id, &Approval::default(), &Sink::Stderr),
            Err(ApplyError::NotFound(_))
        ));

        let bad_host = text.replace("api.github.com", "https://x");
        assert!(matches!(
            modify(&home, &modified.id, &bad_host),
            Err(ApplyError::Invalid(_))
        ));
        let other_tool = r#"{"tool": "capability-block", "dockerfile": "FROM x"}"#;
        assert!(
            modify(&home, &modified.id, other_tool)
                .unwrap_err()
                .to_string()
                .contains("keep the tool")
        );
        assert!(matches!(
            modify(&home, "nope-0000", &text),
            Err(ApplyError::NotFound(_))
        ));
        assert_eq!(
            pending(&home).unwrap().len(),
            1,
            "refused edits add nothing"
        );
    }

    /// `approve` applies only what was read: without a digest, or with
    /// the digest of what the proposal showed before, nothing changes.
    #[test]
    fn approving_needs_the_digest_of_what_it_shows_now() {
        let (_dir, home) = home_with_routes();
        let (queue, p) = submit(&home, egress_block("example.org", &["/simple/"]), "pip");
        let read = digest(&pending(&home).unwrap()[0]);
        let unread = approve(&home, &p.id, &Approval::default(), &Sink::Stderr).unwrap_err();
        assert_eq!(
            unread.to_string(),
            format!(
                "proposal {} was not shown to you: run `bot-bottle proposals` first",
                p.id
            )
        );
        // The routes change meanwhile: it grants something else now.
        let mut routes = config();
        routes.routes.push(crate::egress::config::RouteConfig {
            host: "example.org".into(),
            path_allowlist: vec!["/other/".into()],
            ..Default::default()
        });
        std::fs::write(
            home.bottle("dev-aaaaa").egress_routes(),
            merge::pretty(&routes),
        )
        .unwrap();
        let changed = approve(&home, &p.id, &approving(&read), &Sink::Stderr).unwrap_err();
        assert_eq!(
            changed.to_string(),
            format!(
                "proposal {} changed since you read it: run `bot-bottle proposals` again",
                p.id
            )
        );
        assert!(changed.hint().unwrap().starts_with("nothing was approved"));
        assert_eq!(read_routes(&home, "dev-aaaaa").unwrap().0, routes);
        assert!(queue.response(&p.id).is_none(), "still pending");
    }

    /// Gives bottle `slug` of `home` the live routes `config()`.
    pub(super) fn write_routes(home: &Home, slug: &str) {
        let bottle = home.bottle(slug);
        std::fs::create_dir_all(bottle.egress_dir()).unwrap();
        std::fs::write(bottle.egress_routes(), merge::pretty(&config())).unwrap();
        std::fs::write(bottle.egress_tokens(), r#"{"t0": "x"}"#).unwrap();
    }

    /// What an operator who read `digest` approves with.
    pub(super) fn approving(digest: &str) -> Approval<'_> {
        Approval {
            digest: Some(digest),
            ..Approval::default()
        }
    }

    fn egress_block(host: &str, paths: &[&str]) -> Request {
        Request::EgressBlock {
            host: host.into(),
            path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
            auth: None,
        }
    }

    /// `asked` with `why`, as bottle dev-aaaaa's sidecar queues it.
    fn submit(home: &Home, asked: Request, why: &str) -> (Queue, Proposal) {
        let queue = Queue::new(&home.bottle("dev-aaaaa").supervise_dir());
        let p = queue.submit("dev-aaaaa", asked, why.into()).unwrap();
        (queue, p)
    }

    /// A home with one bottle whose live routes are `config()`.
    fn home_with_routes() -> (tempfile::TempDir, Home) {
        let (dir, home) = Home::temp();
        write_routes(&home, "dev-aaaaa");
        (dir, home)
    }

    #[test]
    fn widening_a_credential_needs_the_operator_to_say_so() {
        let (_dir, home) = home_with_routes();
        let asked = Request::PipelockBlock {
            failed_url: "https://api.anthropic.com/v1/files".into(),
            host: "api.anthropic.com".into(),
        };
        let (_queue, p) = submit(&home, asked, "why");
        let listed = pending(&home).unwrap();
        assert!(listed[0].preview.widens_credential);
        let read = digest(&listed[0]);
        let err = approve(&home, &p.id, &approving(&read), &Sink::Stderr).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "proposal {} would send the credential of api.anthropic.com to more paths (every path): confirm that you mean it",
                p.id
            )
        );
        assert!(err.hint().unwrap().contains("--widen-credential"));
        let stale = digest(&Pending {
            preview: Preview::default(),
            ..listed[0].clone()
        });
        let approval = Approval {
            widen_credential: true,
            digest: Some(&stale),
            ..Approval::default()
        };
        assert!(
            matches!(
                approve(&home, &p.id, &approval, &Sink::Stderr),
                Err(ApplyError::Changed(_))
            ),
            "what was shown is not what it grants now"
        );
        assert_eq!(
            read_routes(&home, "dev-aaaaa").unwrap().0,
            config(),
            "nothing changed"
        );
        assert!(locate(&home, &p.id).is_ok(), "still pending");
    }

    #[test]
    fn a_proposal_belongs_to_the_bottle_whose_queue_holds_it() {
        let (_dir, home) = home_with_routes();
        let queue = Queue::new(&home.bottle("dev-aaaaa").supervise_dir());
        let asked = egress_block("pypi.org", &[]);
        // A sidecar that lies about its bottle in the file it writes.
        let p = queue.submit("victim-bbbbb", asked, "why".into()).unwrap();
        let listed = pending(&home).unwrap();
        assert_eq!(listed[0].proposal.slug, "dev-aaaaa");
        assert_eq!(locate(&home, &p.id).unwrap().proposal.slug, "dev-aaaaa");
    }
}
