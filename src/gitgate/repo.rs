//! The gate's bare repository, `<state>/repo.git`: made (or reused, on a
//! restart) when the sidecar starts, and kept in step with the operator's
//! branches by `refresh`.
//!
//! It keeps its own objects: those of the branches it mirrors, fetched from
//! the operator's repository, and those the agent pushed. It never borrows
//! the operator's object store (`objects/info/alternates`): git would name
//! every ref tip of it in receive-pack's advertisement (`.have` lines), and
//! protocol v2 hands out any object a repository has to whoever names its
//! id, so the stash, remote-tracking branches, notes, `refs/original` and
//! other bottles' branches would all be the agent's to read.
//!
//! Its branches mirror the operator's (never their `bot-bottle/**` ones),
//! except the branches the agent pushed: those are the agent's from then on
//! (`landed.json`). `refs/bot-bottle/*` (held pushes) are hidden from
//! fetches and pushes alike.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{GateConfig, LandedError};
use crate::contract::gate::HOOK_BIN_VAR;
use crate::exec::{ExecError, GIT};

/// The hooks the gate installs; each runs `<bin> sidecar git-hook <name>`.
pub(crate) const HOOKS: &[&str] = &["pre-receive", "update", "post-receive"];
/// Overrides the program the hook scripts run (default: this binary), so
/// tests can stand a script in for the policy.
/// The operator's branches the gate never mirrors (the landed ones).
const LANDED_NAMESPACE: &str = "bot-bottle/";

/// Preparing or reading the gate's repository failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A git command failed.
    #[error("git failed on the gate's repository: {0}")]
    Git(#[from] ExecError),
    /// A file could not be read or written.
    #[error("{path}: {source} (check that the state folder is writable)")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The hook program is unknown.
    #[error("cannot tell which program the hooks should run: {0}; set {HOOK_BIN_VAR}")]
    HookBin(#[source] std::io::Error),
    /// The operator's branches could not be listed.
    #[error("the operator's branch list is unreadable: {0}")]
    RefList(String),
    /// `landed.json` is unreadable.
    #[error(transparent)]
    Landed(#[from] LandedError),
}

fn io_err(path: &Path, source: std::io::Error) -> RepoError {
    RepoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The program the hook scripts run: `HOOK_BIN_VAR` when set, else this
/// binary.
pub(crate) fn hook_bin() -> Result<PathBuf, RepoError> {
    match std::env::var_os(HOOK_BIN_VAR).filter(|v| !v.is_empty()) {
        Some(bin) => Ok(PathBuf::from(bin)),
        None => std::env::current_exe().map_err(RepoError::HookBin),
    }
}

/// A hook script: hands the hook to `bin`. The path is quoted for sh.
pub(crate) fn hook_script(bin: &Path, name: &str) -> String {
    let quoted = crate::text::shell_quote(&bin.to_string_lossy());
    format!("#!/bin/sh\nexec {quoted} sidecar git-hook {name} \"$@\"\n")
}

/// The config the gate's repository runs with, beside
/// `receive.maxInputSize` (the push limit).
pub(crate) const REPO_CONFIG: &[(&str, &str)] = &[
    ("http.receivepack", "true"),
    ("http.uploadpack", "true"),
    ("http.getanyfile", "false"),
    ("receive.fsckObjects", "true"),
    ("uploadpack.hideRefs", "refs/bot-bottle"),
    ("receive.hideRefs", "refs/bot-bottle"),
    // Protocol v0 serves only what the advertisement names (v2 serves any
    // object the repository has: which is why it has only the agent's).
    ("uploadpack.allowTipSHA1InWant", "false"),
    ("uploadpack.allowReachableSHA1InWant", "false"),
    ("uploadpack.allowAnySHA1InWant", "false"),
    // What comes in stays the pack it came as: a small pack of deltas is
    // never expanded into loose objects, so a push takes no more room than
    // it brought.
    ("transfer.unpackLimit", "1"),
    ("receive.unpackLimit", "1"),
    ("fetch.unpackLimit", "1"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("core.logAllRefUpdates", "false"),
];

/// The gate's repository, with the operator's git directory when mounted.
#[derive(Debug, Clone)]
pub struct GateRepo {
    state: PathBuf,
    operator: Option<PathBuf>,
}

impl GateRepo {
    /// The gate's repository in `state`, mirroring the operator's at `operator` when given.
    pub fn new(state: &Path, operator: Option<&Path>) -> GateRepo {
        GateRepo {
            state: state.to_path_buf(),
            operator: operator.map(Path::to_path_buf),
        }
    }

    /// `<state>/repo.git`.
    pub(crate) fn path(&self) -> PathBuf {
        self.state.join(super::REPO)
    }

    fn git(&self) -> std::process::Command {
        git_at(&self.path())
    }

    /// Makes the repository, or brings a kept one up to date: config,
    /// hooks (running `hook_bin`), HEAD, and its own objects. Safe to run
    /// on every start.
    pub fn prepare(&self, config: &GateConfig, hook_bin: &Path) -> Result<(), RepoError> {
        let repo = self.path();
        if !repo.join("HEAD").is_file() {
            let mut cmd = GIT.command(["init", "--quiet", "--bare"]);
            cmd.arg(&repo);
            GIT.output(&mut cmd)?;
        }
        for (key, value) in REPO_CONFIG {
            GIT.output(self.git().args(["config", key, value]))?;
        }
        let max_input = config.max_push_bytes.to_string();
        GIT.output(
            self.git()
                .args(["config", "receive.maxInputSize", &max_input]),
        )?;
        let hooks = repo.join("hooks");
        std::fs::create_dir_all(&hooks).map_err(|e| io_err(&hooks, e))?;
        for name in HOOKS {
            write_file(
                &hooks.join(name),
                hook_script(hook_bin, name).as_bytes(),
                true,
            )?;
        }
        if let Some(head) = &config.head {
            let target = format!("refs/heads/{head}");
            GIT.output(self.git().args(["symbolic-ref", "HEAD", &target]))?;
        }
        self.own_objects()
    }

    /// A gate made by an earlier version borrowed the operator's objects
    /// (`objects/info/alternates`): copies in what its refs reach, then
    /// stops borrowing.
    fn own_objects(&self) -> Result<(), RepoError> {
        let alternates = self.path().join("objects/info/alternates");
        if std::fs::symlink_metadata(&alternates).is_err() {
            return Ok(());
        }
        // Without `-l`, repack packs what the refs reach from the
        // alternates too.
        GIT.output(self.git().args(["repack", "-a", "-d", "-q"]))?;
        std::fs::remove_file(&alternates).map_err(|e| io_err(&alternates, e))
    }

    /// Mirrors the operator's branches into the gate, except the agent's own
    /// (`owned`, from `landed.json`): fetches their objects from the
    /// operator's repository, then moves the refs. Returns how many refs
    /// changed. Costs two ref listings when nothing changed. Without an
    /// operator repository there is nothing to mirror; with a `landed.json`
    /// that cannot be read, nothing is mirrored (it would take the agent's
    /// branches for the operator's).
    pub fn refresh(&self) -> Result<usize, RepoError> {
        let Some(operator) = &self.operator else {
            return Ok(0);
        };
        let theirs = branches(&GIT.output(git_at(operator).args(FOR_EACH_REF))?.stdout)?;
        let ours = branches(&GIT.output(self.git().args(FOR_EACH_REF))?.stdout)?;
        let owned: BTreeSet<String> = super::read_landed(&self.state)?
            .branches
            .into_iter()
            .map(|b| b.branch)
            .collect();
        let updates = refresh_updates(&theirs, &ours, &owned);
        if updates.is_empty() {
            return Ok(0);
        }
        self.fetch(operator, &wanted(&updates))?;
        let mut input = String::new();
        for u in &updates {
            input.push_str(&u.stdin_line());
        }
        let mut cmd = self.git();
        cmd.args(["update-ref", "--stdin"]);
        update_ref_stdin(&mut cmd, &input)?;
        Ok(updates.len())
    }

    /// Fetches `oids` and what they reach from the operator's repository:
    /// exactly the objects of the branches mirrored, by id (protocol v2
    /// serves an id even when its branch has moved on since it was read).
    fn fetch(&self, operator: &Path, oids: &[&str]) -> Result<(), RepoError> {
        if oids.is_empty() {
            return Ok(());
        }
        let mut cmd = self.git();
        cmd.args([
            "-c",
            "protocol.version=2",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--",
        ]);
        cmd.arg(operator);
        cmd.args(oids);
        GIT.output(&mut cmd)?;
        Ok(())
    }
}

/// git in a repository by its git directory (the operator's may belong to
/// another user).
fn git_at(dir: &Path) -> std::process::Command {
    let mut cmd = GIT.command(["-c", "safe.directory=*", "--git-dir"]);
    cmd.arg(dir);
    cmd
}

/// The commits a refresh sets branches to, each once.
fn wanted(updates: &[RefUpdate]) -> Vec<&str> {
    let mut oids: Vec<&str> = updates
        .iter()
        .filter_map(|u| match u {
            RefUpdate::Set { new, .. } => Some(new.as_str()),
            RefUpdate::Delete { .. } => None,
        })
        .collect();
    oids.sort_unstable();
    oids.dedup();
    oids
}

const FOR_EACH_REF: &[&str] = &[
    "for-each-ref",
    "--format=%(objectname) %(refname)",
    "refs/heads/",
];

/// `git update-ref --stdin`, fed `input`.
fn update_ref_stdin(cmd: &mut std::process::Command, input: &str) -> Result<(), RepoError> {
    let mut child = GIT.spawn(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| RepoError::RefList(format!("git update-ref: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RepoError::RefList(format!("git update-ref: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RepoError::Git(ExecError::Failed {
            command: "git update-ref --stdin".into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }))
    }
}

/// Writes a file whole (mode 0755 when `executable`), replacing it.
fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<(), RepoError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(path, e))
}

/// Parses `for-each-ref` output into branch → object id, leaving out the
/// `bot-bottle/**` branches. Pure.
pub(crate) fn branches(out: &[u8]) -> Result<BTreeMap<String, String>, RepoError> {
    let text = std::str::from_utf8(out).map_err(|e| RepoError::RefList(e.to_string()))?;
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (oid, name) = line
            .split_once(' ')
            .ok_or_else(|| RepoError::RefList(format!("unexpected line {line:?}")))?;
        let branch = name
            .strip_prefix("refs/heads/")
            .ok_or_else(|| RepoError::RefList(format!("not a branch: {name:?}")))?;
        if !oid.bytes().all(|b| b.is_ascii_hexdigit()) || oid.len() < 40 {
            return Err(RepoError::RefList(format!("not an object id: {oid:?}")));
        }
        if !branch.starts_with(LANDED_NAMESPACE) {
            map.insert(branch.to_owned(), oid.to_owned());
        }
    }
    Ok(map)
}

/// One change to the gate's branches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefUpdate {
    /// Set `branch` to `new`; `old` is its current value (None: create).
    Set {
        branch: String,
        new: String,
        old: Option<String>,
    },
    /// The operator deleted it.
    Delete { branch: String, old: String },
}

impl RefUpdate {
    /// Its `git update-ref --stdin` line, with the old value as a lease.
    fn stdin_line(&self) -> String {
        match self {
            RefUpdate::Set {
                branch,
                new,
                old: Some(old),
            } => format!("update refs/heads/{branch} {new} {old}\n"),
            RefUpdate::Set {
                branch,
                new,
                old: None,
            } => {
                // A zero old value of the object id's length: "must not exist".
                let zero = "0".repeat(new.len());
                format!("update refs/heads/{branch} {new} {zero}\n")
            }
            RefUpdate::Delete { branch, old } => format!("delete refs/heads/{branch} {old}\n"),
        }
    }
}

/// What makes the gate's branches (`ours`) mirror the operator's
/// (`theirs`), leaving the agent's (`owned`) alone. Pure.
pub(crate) fn refresh_updates(
    theirs: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
    owned: &BTreeSet<String>,
) -> Vec<RefUpdate> {
    let mut updates = Vec::new();
    for (branch, new) in theirs {
        if owned.contains(branch) || ours.get(branch) == Some(new) {
            continue;
        }
        updates.push(RefUpdate::Set {
            branch: branch.clone(),
            new: new.clone(),
            old: ours.get(branch).cloned(),
        });
    }
    for (branch, old) in ours {
        if !theirs.contains_key(branch) && !owned.contains(branch) {
            updates.push(RefUpdate::Delete {
                branch: branch.clone(),
                old: old.clone(),
            });
        }
    }
    updates
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn refs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(b, o)| ((*b).to_owned(), (*o).to_owned()))
            .collect()
    }

    fn set(branch: &str, new: &str, old: Option<&str>) -> RefUpdate {
        RefUpdate::Set {
            branch: branch.into(),
            new: new.into(),
            old: old.map(Into::into),
        }
    }

    #[test]
    fn refresh_updates_mirror_the_operator_but_not_the_agents_branches() {
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
            Vec<RefUpdate>,
        );
        let cases: Vec<Case> = vec![
            ("nothing", &[], &[], &[], vec![]),
            ("in step", &[("main", A)], &[("main", A)], &[], vec![]),
            ("new", &[("main", A)], &[], &[], vec![set("main", A, None)]),
            (
                "moved",
                &[("main", B)],
                &[("main", A)],
                &[],
                vec![set("main", B, Some(A))],
            ),
            (
                "deleted",
                &[],
                &[("old", A)],
                &[],
                vec![RefUpdate::Delete {
                    branch: "old".into(),
                    old: A.into(),
                }],
            ),
            (
                "owned moved",
                &[("feat", B)],
                &[("feat", A)],
                &["feat"],
                vec![],
            ),
            ("owned only ours", &[], &[("feat", A)], &["feat"], vec![]),
            ("owned only theirs", &[("feat", A)], &[], &["feat"], vec![]),
            (
                "mixed",
                &[("main", B), ("dev", A)],
                &[("main", A), ("feat", B), ("gone", A)],
                &["feat"],
                vec![
                    set("dev", A, None),
                    set("main", B, Some(A)),
                    RefUpdate::Delete {
                        branch: "gone".into(),
                        old: A.into(),
                    },
                ],
            ),
        ];
        for (name, theirs, ours, owned, want) in cases {
            let owned: BTreeSet<String> = owned.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(
                refresh_updates(&refs(theirs), &refs(ours), &owned),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn branches_parse_and_skip_the_landed_namespace() {
        let out = format!(
            "{A} refs/heads/main\n{B} refs/heads/bot-bottle/dev-aaaaa/feat\n{B} refs/heads/a/b\n"
        );
        assert_eq!(
            branches(out.as_bytes()).unwrap(),
            refs(&[("main", A), ("a/b", B)])
        );
        assert!(branches(b"zz refs/heads/main\n").is_err());
        assert!(branches(format!("{A} refs/tags/v1\n").as_bytes()).is_err());
        assert!(branches(b"").unwrap().is_empty());
    }

    #[test]
    fn update_lines_lease_on_the_old_value() {
        assert_eq!(
            set("main", B, Some(A)).stdin_line(),
            format!("update refs/heads/main {B} {A}\n")
        );
        assert_eq!(
            set("main", B, None).stdin_line(),
            format!("update refs/heads/main {B} {}\n", "0".repeat(40))
        );
        let del = RefUpdate::Delete {
            branch: "x".into(),
            old: A.into(),
        };
        assert_eq!(del.stdin_line(), format!("delete refs/heads/x {A}\n"));
    }

    #[test]
    fn hook_scripts_quote_the_program() {
        assert_eq!(
            hook_script(Path::new("/bot-bottle"), "update"),
            "#!/bin/sh\nexec /bot-bottle sidecar git-hook update \"$@\"\n"
        );
        assert!(hook_script(Path::new("/a'b $c"), "update").contains(r#"exec "/a'b "'$c' "#));
    }
}
