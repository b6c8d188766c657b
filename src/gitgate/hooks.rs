//! The hooks of the gate's repository: `pre-receive` refuses, `update`
//! holds, `post-receive` delivers. Each is `bot-bottle sidecar git-hook
//! <name>`; what it writes reaches the agent as `remote:` lines.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::deliver::{self, Audit};
use super::git::{GateError, Git, new_range};
use super::policy::{self, Object, RefUpdate, Verdict, is_zero};
use super::scan::{self, Outcome};
use super::{GateConfig, MAX_BRANCHES, MAX_PUSH_REFS, REPO, paths, read_landed};
use crate::contract::audit::decision;
use crate::contract::gate::{AUDIT_VAR, OPERATOR_VAR, STATE_VAR};
use crate::egress::dlp::Scanner;
use crate::proposal::queue::Queue;
use crate::proposal::{GitPush, MAX_PROTECTED_DIFF, Request};
use crate::state::bottle_dir::gate_files::{CONFIG_FILE, TOKENS_FILE};

/// The gate's folders, as the server passes them to the hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateEnv {
    /// The gate's state folder.
    pub state: PathBuf,
    /// The operator's git directory, when mounted.
    pub operator: Option<PathBuf>,
    /// The bottle's audit log, when mounted.
    pub audit: Option<PathBuf>,
}

/// Lines a push names at most, so a huge push makes a short answer.
const MAX_LINES: usize = 10;

impl GateEnv {
    pub(crate) fn from_env() -> Result<GateEnv, GateError> {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Ok(GateEnv {
            state: var(STATE_VAR).ok_or_else(|| {
                GateError::Usage(format!(
                    "{STATE_VAR} is not set: the gate's server sets it for its hooks"
                ))
            })?,
            operator: var(OPERATOR_VAR),
            audit: var(AUDIT_VAR),
        })
    }

    pub(crate) fn repo(&self) -> PathBuf {
        self.state.join(REPO)
    }

    pub(crate) fn queue(&self) -> Queue {
        Queue::new(&self.state)
    }

    pub(crate) fn config(&self) -> Result<GateConfig, GateError> {
        let path = self.state.join(CONFIG_FILE);
        let bytes =
            crate::state::read_bounded(&path, 1 << 20).map_err(|e| GateError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| GateError::BadState { path, source })
    }

    /// `tokens.json`; none is no tokens.
    pub(crate) fn tokens(&self) -> Result<BTreeMap<String, String>, GateError> {
        let path = self.state.join(TOKENS_FILE);
        match crate::state::read_bounded(&path, 1 << 20) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| GateError::BadState { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(GateError::io(&path, e)),
        }
    }

    /// The DLP scanner, knowing the bottle's own secrets.
    pub(crate) fn scanner(&self) -> Result<Scanner, GateError> {
        let secrets: Vec<String> = self.tokens()?.into_values().collect();
        Ok(Scanner::new(&secrets))
    }

    /// Refs held for the operator: ref → proposal id.
    pub(crate) fn held(&self) -> Result<BTreeMap<String, String>, GateError> {
        Ok(self
            .queue()
            .pending()?
            .into_iter()
            .filter_map(|p| match p.request {
                Request::GitPush(push) if push.land => Some((push.git_ref, p.id)),
                _ => None,
            })
            .collect())
    }
}

/// Runs one hook; `Ok(false)` refuses (the hook exits non-zero).
pub(crate) fn run_hook(
    name: &str,
    args: &[String],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<bool, GateError> {
    run_hook_in(&GateEnv::from_env()?, name, args, stdin, out)
}

/// `run_hook` with the folders given.
fn run_hook_in(
    env: &GateEnv,
    name: &str,
    args: &[String],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<bool, GateError> {
    match name {
        "pre-receive" => pre_receive(env, &read_updates(stdin)?, out),
        "update" => match args {
            [name, old, new] => update(env, name, old, new, out),
            _ => Err(GateError::Usage(
                "the update hook takes <ref> <old> <new>".into(),
            )),
        },
        "post-receive" => {
            let config = env.config()?;
            for (old, new, name) in read_updates(stdin)? {
                if let Err(e) = deliver::deliver(env, &config, &name, &old, &new, None, out) {
                    line(out, &format!("{name}: delivering it failed: {e}"));
                }
            }
            Ok(true)
        }
        other => Err(GateError::Usage(format!(
            "no hook named {other:?}: pre-receive, update and post-receive are the gate's"
        ))),
    }
}

pub(crate) fn line(out: &mut dyn Write, text: &str) {
    let _ = writeln!(out, "{text}");
}

/// `<old> <new> <ref>` lines.
fn read_updates(stdin: &mut dyn Read) -> Result<Vec<(String, String, String)>, GateError> {
    let mut text = String::new();
    stdin
        .take(16 << 20)
        .read_to_string(&mut text)
        .map_err(|e| GateError::Git(format!("hook input: {e}")))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((
                words.next()?.to_owned(),
                words.next()?.to_owned(),
                words.next()?.to_owned(),
            ))
        })
        .collect())
}

fn pre_receive(
    env: &GateEnv,
    updates: &[(String, String, String)],
    out: &mut dyn Write,
) -> Result<bool, GateError> {
    let config = env.config()?;
    let git = Git::hook();
    let held = env.held()?;
    if updates.len() > MAX_PUSH_REFS {
        let why = format!(
            "the push names {} refs; a push may name at most {MAX_PUSH_REFS}: push them in parts",
            updates.len()
        );
        return Ok(refuse(env, &[why], out));
    }
    let mut refusals = Vec::new();
    for (old, new, name) in updates {
        let object = if is_zero(new) {
            None
        } else {
            Some(Object::from_type(&git.run(["cat-file", "-t", new])?))
        };
        let fast_forward = !is_zero(old)
            && !is_zero(new)
            && object == Some(Object::Commit)
            && git.test(["merge-base", "--is-ancestor", old, new])?;
        let update = RefUpdate {
            name: name.clone(),
            old: old.clone(),
            new: new.clone(),
            fast_forward,
            object,
        };
        let pending = held.get(name).map(String::as_str);
        if let Verdict::Refuse(why) = policy::verdict(&update, config.allow, pending) {
            refusals.push(why);
        }
    }
    if refusals.is_empty()
        && let Some(why) = over_the_cap(env, &git, &held, updates)?
    {
        refusals.push(why);
    }
    if refusals.is_empty() {
        let size = quarantine_size();
        if size > config.max_push_bytes {
            refusals.push(format!(
                "the push brings {} MiB, more than this bottle's limit of {} MiB; push fewer or smaller commits (large files do not belong in git)",
                size >> 20,
                config.max_push_bytes >> 20
            ));
        }
    }
    if refusals.is_empty()
        && let Some(why) = scan_push(env, &config, &git, updates)?
    {
        refusals.push(why);
    }
    if refusals.is_empty() {
        return Ok(true);
    }
    Ok(refuse(env, &refusals, out))
}

/// Says why a push is refused, and audits it; false (the hook's answer).
fn refuse(env: &GateEnv, refusals: &[String], out: &mut dyn Write) -> bool {
    line(
        out,
        "bot-bottle git gate: push refused, nothing was updated:",
    );
    for why in refusals.iter().take(MAX_LINES) {
        line(out, &format!("  - {why}"));
        Audit::new(decision::REFUSED, why.clone()).write(env, out);
    }
    false
}

/// Refuses a push that would give the bottle more than `MAX_BRANCHES`
/// branches and tags: the landed and held ones, the gate's tags (all the
/// agent's), and those it creates. A `landed.json` that cannot be read
/// refuses it too: it would pass for "nothing landed".
fn over_the_cap(
    env: &GateEnv,
    git: &Git,
    held: &BTreeMap<String, String>,
    updates: &[(String, String, String)],
) -> Result<Option<String>, GateError> {
    let landed = match read_landed(&env.state) {
        Ok(landed) => landed,
        Err(e) => return Ok(Some(e.to_string())),
    };
    let mut owned: BTreeSet<String> = landed
        .branches
        .into_iter()
        .map(|b| format!("refs/heads/{}", b.branch))
        .collect();
    owned.extend(held.keys().cloned());
    let tags = git.run(["for-each-ref", "--format=%(refname)", "refs/tags/"])?;
    owned.extend(tags.lines().map(str::to_owned));
    let mut added = 0;
    for (_, new, name) in updates {
        if is_zero(new) {
            owned.remove(name);
        } else if !owned.contains(name) {
            added += 1;
        }
    }
    if added == 0 || owned.len() + added <= MAX_BRANCHES {
        return Ok(None);
    }
    Ok(Some(format!(
        "this bottle has {} branches and tags (landed or held), and may have at most {MAX_BRANCHES}: push to one of those instead of a new one",
        owned.len()
    )))
}

/// The DLP scan of every commit the push brings (message, added lines,
/// new files) with the bottle's secrets; the refusal, if any.
fn scan_push(
    env: &GateEnv,
    config: &GateConfig,
    git: &Git,
    updates: &[(String, String, String)],
) -> Result<Option<String>, GateError> {
    let mut commits = Vec::new();
    let mut seen = HashSet::new();
    let mut too_many = false;
    for (old, new, name) in updates.iter().filter(|(_, new, _)| !is_zero(new)) {
        match scan::range_commits(git, &new_range(name, old, new), "")? {
            Some(range) => {
                for c in range {
                    if seen.insert(c.clone()) {
                        commits.push(c);
                    }
                }
            }
            None => too_many = true,
        }
        too_many |= commits.len() > scan::MAX_COMMITS;
        if too_many {
            break;
        }
    }
    let budget = scan::budget(config.max_push_bytes);
    let outcome = if too_many {
        Outcome::TooMany
    } else {
        scan::scan_commits(git, &commits, &env.scanner()?, budget)?
    };
    Ok(match outcome {
        Outcome::Clean => None,
        Outcome::Found(hit) => Some(hit.message()),
        Outcome::TooLarge { budget } => Some(format!(
            "the push is too large to scan for secrets (more than {} MiB of new content); push it in smaller parts",
            budget >> 20
        )),
        Outcome::TooMany => Some(format!(
            "the push brings more than {} new commits, more than the gate scans for secrets at once; push it in parts",
            scan::MAX_COMMITS
        )),
    })
}

/// Bytes under `$GIT_QUARANTINE_PATH`: what the push brings.
fn quarantine_size() -> u64 {
    std::env::var_os("GIT_QUARANTINE_PATH").map_or(0, |p| tree_size(Path::new(&p)))
}

fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The `update` hook for one ref: a push that changes protected paths is
/// held for the operator (false: the ref is not updated now).
fn update(
    env: &GateEnv,
    name: &str,
    old: &str,
    new: &str,
    out: &mut dyn Write,
) -> Result<bool, GateError> {
    if is_zero(new) {
        return Ok(true);
    }
    let config = env.config()?;
    let git = Git::hook();
    let range = new_range(name, old, new);
    let touched = protected_touched(&git, &config.protected_paths, &range)?;
    if touched.is_empty() {
        return Ok(true);
    }
    let short = name.strip_prefix("refs/heads/").unwrap_or(name);
    let protected_diff = match protected_diff(&git, name, old, new, &touched)? {
        Ok(diff) => diff,
        Err(why) => {
            line(
                out,
                &format!("bot-bottle git gate: {short} is refused, nothing was updated: {why}"),
            );
            Audit::new(decision::REFUSED, format!("{short}: {why}")).write(env, out);
            return Ok(false);
        }
    };
    let forward = policy::branch_of(name)
        .map(|b| deliver::matching_remotes(&config, b))
        .unwrap_or_default();
    let push = GitPush {
        git_ref: name.to_owned(),
        old: old.to_owned(),
        new: new.to_owned(),
        land: true,
        forward,
        reasons: protected_reasons(&touched),
        diffstat: deliver::diffstat(&git, name, old, new)?,
        commits: git.commit_lines(&range)?,
        protected_diff,
    };
    hold(env, &config, &git, push, short, out)?;
    Ok(false)
}

/// The protected paths the commits of `range` change, each with the
/// pattern that protects it, in the order first met.
fn protected_touched(
    git: &Git,
    patterns: &[String],
    range: &[String],
) -> Result<Vec<(String, String)>, GateError> {
    let mut args = vec!["rev-list".to_owned(), "--reverse".into()];
    args.extend(range.iter().cloned());
    let mut touched: Vec<(String, String)> = Vec::new();
    for commit in git.run(args)?.lines() {
        let files = git.run([
            "diff-tree",
            "-r",
            "-z",
            "--no-renames",
            "--name-only",
            "--root",
            "-c",
            "--no-commit-id",
            commit,
        ])?;
        for path in files.split('\0').filter(|p| !p.is_empty()) {
            if let Some(pattern) = paths::protected_by(patterns, path)
                && !touched.iter().any(|(p, _)| p == path)
            {
                touched.push((path.to_owned(), pattern.to_owned()));
            }
        }
    }
    Ok(touched)
}

/// Why a push that changes the `touched` protected paths waits, a line a
/// path (at most `MAX_LINES`).
fn protected_reasons(touched: &[(String, String)]) -> Vec<String> {
    touched
        .iter()
        .take(MAX_LINES)
        .map(|(path, pattern)| {
            format!(
                "changes protected path {} (pattern {pattern})",
                super::git::printable(path)
            )
        })
        .collect()
}

/// Holds `push` (of branch `short`) for the operator: a proposal in the queue, its commits
/// kept under a held ref, a line to the pusher and one to the audit log.
fn hold(
    env: &GateEnv,
    config: &GateConfig,
    git: &Git,
    push: GitPush,
    short: &str,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let reasons = push.reasons.join(", ");
    let new = push.new.clone();
    let diff = format!("{}\n{}", push.diffstat, push.protected_diff);
    let proposal = env.queue().submit(
        &config.slug,
        Request::GitPush(push),
        "the push changes protected paths".into(),
    )?;
    git.run([
        "update-ref",
        &format!("{}{}", super::HELD_REFS, proposal.id),
        &new,
    ])?;
    line(
        out,
        &format!(
            "bot-bottle git gate: {short} is held for the operator as proposal {}: it {reasons}. It lands when approved; do not push it again.",
            proposal.id,
        ),
    );
    Audit::new(decision::HELD, format!("{short}: {reasons}"))
        .proposal(&proposal.id)
        .diff(diff)
        .write(env, out);
    Ok(())
}

/// Protected files one push may change at most: each is read in full.
const MAX_PROTECTED_FILES: usize = 256;

/// What the operator reads before a push that changes protected paths
/// lands: the whole `git diff` of its range limited to those paths
/// (`Ok(Ok)`), or why it cannot be reviewed and is refused (`Ok(Err)`):
/// too many files, a diff longer than `MAX_PROTECTED_DIFF`, or a binary
/// file (its bytes cannot be read as text). The repository's attributes
/// and diff drivers are not used; paths are taken literally.
fn protected_diff(
    git: &Git,
    name: &str,
    old: &str,
    new: &str,
    touched: &[(String, String)],
) -> Result<Result<String, String>, GateError> {
    if touched.len() > MAX_PROTECTED_FILES {
        return Ok(Err(format!(
            "it changes {} protected files, more than the {MAX_PROTECTED_FILES} the operator can review at once; push them in smaller parts",
            touched.len()
        )));
    }
    let base = deliver::range_base(git, name, old, new)?;
    let diff = |extra: &[&str]| -> Result<String, GateError> {
        let mut args: Vec<String> = [
            "--literal-pathspecs",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.extend([base.clone(), new.to_owned(), "--".into()]);
        args.extend(touched.iter().map(|(path, _)| path.clone()));
        git.run(args)
    };
    // `-\t-\tpath` is a file git cannot show as text.
    let numstat = diff(&["--numstat", "-z"])?;
    let binary: Vec<&str> = numstat
        .split('\0')
        .filter_map(|entry| entry.strip_prefix("-\t-\t"))
        .collect();
    if let Some(path) = binary.first() {
        return Ok(Err(format!(
            "it changes the binary file {} under a protected path: the operator cannot review it as text; change it outside the bottle",
            super::git::printable(path)
        )));
    }
    let text = diff(&[])?;
    if text.len() > MAX_PROTECTED_DIFF {
        return Ok(Err(format!(
            "its changes to protected paths are {} KiB, more than the {} KiB the operator can review; push them in smaller parts",
            text.len() >> 10,
            MAX_PROTECTED_DIFF >> 10
        )));
    }
    Ok(Ok(text))
}
