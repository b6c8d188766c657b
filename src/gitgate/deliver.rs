//! Delivering an accepted ref: landing it in the operator's repository as
//! `bot-bottle/<slug>/<branch>`, recording it in `landed.json` and the
//! audit log, and sending it upstream (or proposing to).

use std::io::Write;

use super::git::{GateError, Git, new_range};
use super::hooks::{GateEnv, line};
use super::policy::{branch_of, is_zero, tag_of};
use super::{GateConfig, LANDED_FILE, LandedBranch, land_prefix, paths, read_landed, upstream};
use crate::contract::audit::{actor, decision};
use crate::proposal::audit::Entry;
use crate::proposal::queue::now;
use crate::proposal::{GitPush, Request};

/// One audit line of the gate (tool `git-push`).
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    entry: Entry,
}

impl Audit {
    /// `decision`: one of `contract::audit::decision`.
    pub(crate) fn new(decision: &str, reason: String) -> Audit {
        Audit {
            entry: Entry {
                time: now(),
                actor: actor::AGENT.into(),
                tool: crate::proposal::GIT_PUSH.into(),
                proposal: None,
                decision: decision.into(),
                reason: Some(reason),
                diff: String::new(),
            },
        }
    }

    pub(crate) fn proposal(mut self, id: &str) -> Audit {
        self.entry.proposal = Some(id.to_owned());
        self
    }

    pub(crate) fn diff(mut self, diff: String) -> Audit {
        self.entry.diff = diff;
        self
    }

    pub(crate) fn from_entry(entry: Entry) -> Audit {
        Audit { entry }
    }

    /// Appends it to the bottle's audit log, when one is mounted; a
    /// failure is said, not fatal.
    pub(crate) fn write(&self, env: &GateEnv, out: &mut dyn Write) {
        let Some(path) = &env.audit else { return };
        let result = (|| -> std::io::Result<()> {
            let mut text = serde_json::to_string(&self.entry).map_err(std::io::Error::other)?;
            text.push('\n');
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            file.write_all(text.as_bytes())
        })();
        if let Err(e) = result {
            line(out, &format!("(the audit log could not be written: {e})"));
        }
    }
}

/// The remotes a branch goes to without asking.
pub(crate) fn matching_remotes(config: &GateConfig, branch: &str) -> Vec<String> {
    config
        .remotes
        .iter()
        .filter(|r| paths::branch_matches(&r.branches, branch))
        .map(|r| r.name.clone())
        .collect()
}

/// `git diff --stat` of what a push of `name` brings.
pub(crate) fn diffstat(git: &Git, name: &str, old: &str, new: &str) -> Result<String, GateError> {
    let base = range_base(git, name, old, new)?;
    let stat = git.run(["diff", "--no-color", "--stat=100", &base, new])?;
    Ok(super::git::printable_lines(&stat))
}

/// What a push of `name` from `old` to `new` is compared with: `old`, or
/// for a new ref the parent of the oldest commit it brings (the empty tree
/// when that is a root).
pub(crate) fn range_base(git: &Git, name: &str, old: &str, new: &str) -> Result<String, GateError> {
    if !is_zero(old) {
        return Ok(old.to_owned());
    }
    let mut args = vec!["rev-list".to_owned(), "--reverse".into()];
    args.extend(new_range(name, old, new));
    let oldest = git.run(args)?.lines().next().map(str::to_owned);
    match oldest {
        Some(c) => match git.run(["rev-parse", "--verify", "--quiet", &format!("{c}^")]) {
            Ok(parent) => Ok(parent),
            Err(_) => git.empty_tree(),
        },
        None => Ok(new.to_owned()),
    }
}

/// Delivers one accepted ref (post-receive, or an approval): lands it,
/// records it, forwards it.
pub(crate) fn deliver(
    env: &GateEnv,
    config: &GateConfig,
    name: &str,
    old: &str,
    new: &str,
    proposal: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let to = Delivery {
        env,
        operator: env.operator.as_deref().filter(|_| config.operator),
        proposal,
    };
    if let Some(t) = tag_of(name) {
        return to.tag(&config.slug, t, new, out);
    }
    let Some(branch) = branch_of(name) else {
        return Ok(());
    };
    let landed_as = format!("{}{branch}", land_prefix(&config.slug));
    if is_zero(new) {
        return to.delete_branch(branch, &landed_as, out);
    }
    let diff = diffstat(&Git::at(&env.repo()), name, old, new).unwrap_or_default();
    let landed_as = to.land_branch(branch, landed_as, new, &diff, out)?;
    let pushed = Pushed {
        name,
        branch,
        old,
        new,
        diff: &diff,
    };
    let forwarded = forward(env, config, pushed, out)?;
    let mut landed = read_landed(&env.state)?;
    landed.branches.retain(|b| b.branch != branch);
    landed.branches.push(LandedBranch {
        branch: branch.to_owned(),
        landed_as,
        commit: new.to_owned(),
        at: now(),
        forwarded,
    });
    write_landed(env, &landed)
}

/// Where one ref is delivered.
struct Delivery<'a> {
    env: &'a GateEnv,
    /// The operator's repository, when one is mounted and landing is on.
    operator: Option<&'a std::path::Path>,
    /// The proposal whose approval delivers it, if any.
    proposal: Option<&'a str>,
}

impl Delivery<'_> {
    /// Writes `audit`, tagged with the proposal.
    fn audit(&self, audit: Audit, out: &mut dyn Write) {
        match self.proposal {
            Some(id) => audit.proposal(id),
            None => audit,
        }
        .write(self.env, out);
    }

    /// Tag `t`: landed in (or, deleted, removed from) the operator's
    /// repository under the bottle's prefix; never forwarded.
    fn tag(&self, slug: &str, t: &str, new: &str, out: &mut dyn Write) -> Result<(), GateError> {
        let target = format!("refs/tags/{}{t}", land_prefix(slug));
        match self.operator {
            Some(op) if is_zero(new) => {
                Git::at(op).run(["update-ref", "-d", &target])?;
                line(
                    out,
                    &format!("tag {t}: removed {target} from the operator's repository"),
                );
            }
            Some(op) => {
                land(op, &self.env.repo(), new, &target)?;
                line(
                    out,
                    &format!("tag {t}: landed as {target} (tags are never forwarded upstream)"),
                );
            }
            None => line(out, &format!("tag {t}: kept in the gate")),
        }
        self.audit(
            Audit::new(decision::LANDED, format!("tag {t} as {target}")),
            out,
        );
        Ok(())
    }

    /// A deleted branch: its landed copy removed, its record dropped;
    /// nothing is deleted upstream.
    fn delete_branch(
        &self,
        branch: &str,
        landed_as: &str,
        out: &mut dyn Write,
    ) -> Result<(), GateError> {
        if let Some(op) = self.operator {
            Git::at(op).run(["update-ref", "-d", &format!("refs/heads/{landed_as}")])?;
        }
        let mut landed = read_landed(&self.env.state)?;
        landed.branches.retain(|b| b.branch != branch);
        write_landed(self.env, &landed)?;
        line(
            out,
            &format!("{branch}: deleted here; {landed_as} removed (nothing is deleted upstream)"),
        );
        self.audit(
            Audit::new(decision::LANDED, format!("deleted {branch} ({landed_as})")),
            out,
        );
        Ok(())
    }

    /// Lands `branch` at `new` as `landed_as` in the operator's
    /// repository, if one is mounted; returns what it landed as (empty:
    /// kept in the gate only).
    fn land_branch(
        &self,
        branch: &str,
        landed_as: String,
        new: &str,
        diff: &str,
        out: &mut dyn Write,
    ) -> Result<String, GateError> {
        let Some(op) = self.operator else {
            line(
                out,
                &format!("{branch}: kept in the gate (no operator repository is mounted)"),
            );
            return Ok(String::new());
        };
        land(
            op,
            &self.env.repo(),
            new,
            &format!("refs/heads/{landed_as}"),
        )?;
        line(
            out,
            &format!("{branch}: landed as {landed_as} in the operator's repository"),
        );
        self.audit(
            Audit::new(
                decision::LANDED,
                format!("{branch} as {landed_as} at {new}"),
            )
            .diff(diff.to_owned()),
            out,
        );
        Ok(landed_as)
    }
}

/// Fetches `new` from the gate into the operator's repository as `target`,
/// with none of the operator's hooks, reflogs or housekeeping, kept as the
/// pack it comes as (never expanded into loose objects).
fn land(
    operator: &std::path::Path,
    repo: &std::path::Path,
    new: &str,
    target: &str,
) -> Result<(), GateError> {
    let mut args: Vec<String> = [
        "core.hooksPath=/dev/null",
        "core.logAllRefUpdates=false",
        "gc.auto=0",
        "maintenance.auto=false",
        "fetch.writeCommitGraph=false",
        "fetch.recurseSubmodules=false",
        "fetch.unpackLimit=1",
        "transfer.unpackLimit=1",
        "protocol.version=2",
    ]
    .iter()
    .flat_map(|c| ["-c".to_owned(), (*c).to_owned()])
    .collect();
    args.extend([
        "fetch".into(),
        "--quiet".into(),
        "--no-write-fetch-head".into(),
        "--no-tags".into(),
        repo.display().to_string(),
        format!("+{new}:{target}"),
    ]);
    Git::at(operator).run(args).map(|_| ())
}

pub(crate) fn write_landed(env: &GateEnv, landed: &super::Landed) -> Result<(), GateError> {
    let path = env.state.join(LANDED_FILE);
    let text = serde_json::to_vec_pretty(landed).map_err(|source| GateError::Encode {
        path: path.clone(),
        source,
    })?;
    crate::state::write_atomic(&path, &text, 0o644).map_err(|e| GateError::state(&path, e))
}

/// Sends a landed branch to the remotes whose patterns match it; when there
/// are remotes and none matches, proposes forwarding it. Returns the
/// remotes it reached.
fn forward(
    env: &GateEnv,
    config: &GateConfig,
    pushed: Pushed,
    out: &mut dyn Write,
) -> Result<Vec<String>, GateError> {
    if config.remotes.is_empty() {
        return Ok(Vec::new());
    }
    let matching = matching_remotes(config, pushed.branch);
    if matching.is_empty() {
        propose_forward(env, config, pushed, out)?;
        return Ok(Vec::new());
    }
    Ok(send(
        env,
        config,
        &matching,
        pushed.branch,
        pushed.new,
        None,
        out,
    ))
}

/// A branch pushed to the gate, on its way upstream.
#[derive(Debug, Clone, Copy)]
struct Pushed<'a> {
    /// The full ref: `refs/heads/<branch>`.
    name: &'a str,
    branch: &'a str,
    old: &'a str,
    new: &'a str,
    /// `git diff --stat` of what the push brings.
    diff: &'a str,
}

/// Proposes forwarding `branch` (which no remote takes without asking)
/// to every remote: a new proposal, or one that replaces the proposal
/// already waiting for this ref.
fn propose_forward(
    env: &GateEnv,
    config: &GateConfig,
    pushed: Pushed,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let Pushed {
        name,
        branch,
        old,
        new,
        diff,
    } = pushed;
    let names: Vec<String> = config.remotes.iter().map(|r| r.name.clone()).collect();
    let push = GitPush {
        git_ref: name.to_owned(),
        old: old.to_owned(),
        new: new.to_owned(),
        land: false,
        forward: names.clone(),
        reasons: unmatched_reasons(config, branch),
        diffstat: diff.to_owned(),
        commits: Git::at(&env.repo())
            .commit_lines(&new_range(name, old, new))
            .unwrap_or_default(),
        protected_diff: String::new(),
    };
    let queue = env.queue();
    let waiting = queue.pending()?.into_iter().find_map(|p| match p.request {
        Request::GitPush(g) if !g.land && g.git_ref == name => Some((p.id, p.justification, g.old)),
        _ => None,
    });
    let id = match waiting {
        // Pushed again while its forwarding waits: a new proposal from
        // where the waiting one started, and that one is withdrawn (the
        // operator may have read it; it never changes under its id).
        Some((waiting, justification, since)) => {
            let gate = Git::at(&env.repo());
            let push = GitPush {
                diffstat: diffstat(&gate, name, &since, new)
                    .unwrap_or_else(|_| push.diffstat.clone()),
                commits: gate
                    .commit_lines(&new_range(name, &since, new))
                    .unwrap_or_else(|_| push.commits.clone()),
                old: since,
                ..push
            };
            let note = format!("{branch} was pushed again: a new proposal forwards {new}");
            let replaced =
                queue.supersede(&waiting, Request::GitPush(push), justification, &note)?;
            queue.archive(&waiting)?;
            replaced.id
        }
        None => {
            queue
                .submit(
                    &config.slug,
                    Request::GitPush(push),
                    format!("forward {branch} upstream"),
                )?
                .id
        }
    };
    line(
        out,
        &format!(
            "{branch}: forwarding it to {} waits for the operator as proposal {id}",
            names.join(", ")
        ),
    );
    Audit::new(
        decision::HELD,
        format!("forwarding {branch} to {}", names.join(", ")),
    )
    .proposal(&id)
    .diff(diff.to_owned())
    .write(env, out);
    Ok(())
}

/// Why forwarding `branch` waits: a line for each remote, none of whose
/// branch patterns match it.
fn unmatched_reasons(config: &GateConfig, branch: &str) -> Vec<String> {
    config
        .remotes
        .iter()
        .map(|r| {
            format!(
                "branch '{branch}' is not among remote '{}''s branches",
                r.name
            )
        })
        .collect()
}

/// Pushes `new` as `branch` to each named remote; returns those reached.
pub(crate) fn send(
    env: &GateEnv,
    config: &GateConfig,
    remotes: &[String],
    branch: &str,
    new: &str,
    proposal: Option<&str>,
    out: &mut dyn Write,
) -> Vec<String> {
    let mut reached = Vec::new();
    for name in remotes {
        let Some(remote) = config.remotes.iter().find(|r| &r.name == name) else {
            line(
                out,
                &format!("{branch}: no remote named {name} in gate.json; not forwarded there"),
            );
            continue;
        };
        let audit = match upstream::push(env, config, remote, branch, new, out) {
            Ok(()) => {
                line(
                    out,
                    &format!("{branch}: forwarded to upstream {name} as {branch}"),
                );
                reached.push(name.clone());
                Audit::new(decision::FORWARDED, format!("{branch} to {name} at {new}"))
            }
            Err(GateError::Refused(why)) => {
                line(
                    out,
                    &format!("{branch}: not forwarded to upstream {name}: {why}"),
                );
                Audit::new(
                    decision::REFUSED,
                    format!("not forwarding {branch} to {name}: {why}"),
                )
            }
            Err(e) => {
                line(
                    out,
                    &format!("{branch}: forwarding to upstream {name} failed: {e}"),
                );
                Audit::new(
                    decision::REFUSED,
                    format!("forwarding {branch} to {name} failed: {e}"),
                )
            }
        };
        match proposal {
            Some(id) => audit.proposal(id),
            None => audit,
        }
        .write(env, out);
    }
    reached
}
