//! Running git for the gate's hooks and decisions, and the errors of the
//! push path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::exec::{ExecError, GIT};
use crate::proposal::queue::QueueError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a state file failed (`write_atomic`'s error, kept whole).
    #[error("{path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: StateError,
    },
    /// A state file could not be encoded.
    #[error("{path}: {source}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A file the plan writes does not parse.
    #[error("{path}: {source}; the plan writes this file: relaunch the bottle to rewrite it")]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A file the plan writes parses, but says something the gate cannot
    /// use (`reason`, in words).
    #[error("{path}: {reason}; the plan writes this file: relaunch the bottle to rewrite it")]
    Misconfigured { path: PathBuf, reason: String },
    #[error("git said something unexpected: {0}")]
    Git(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("proposal {id}: {reason}")]
    Decide { id: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Landed(#[from] super::LandedError),
    /// A refusal, in words the agent (or the operator) can act on.
    #[error("{0}")]
    Refused(String),
}

impl GateError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> GateError {
        GateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// `write_atomic` (or another state helper) failed on `path`.
    pub(crate) fn state(path: &Path, source: StateError) -> GateError {
        GateError::State {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Variables git sets for a hook that would point another repository's
/// commands at this one (or at its quarantine).
const REPO_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_PUSH_OPTION_COUNT",
    "GIT_PROTOCOL",
];

/// git in one repository.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    /// `None`: the repository (and quarantine) git gave this hook.
    dir: Option<PathBuf>,
    /// Another object store git may read, for this process only.
    borrowed: Option<PathBuf>,
}

impl Git {
    /// The repository a hook runs in, quarantined objects included.
    pub(crate) fn hook() -> Git {
        Git {
            dir: None,
            borrowed: None,
        }
    }

    /// A repository by its git directory, nothing inherited.
    pub(crate) fn at(dir: &Path) -> Git {
        Git {
            dir: Some(dir.to_path_buf()),
            borrowed: None,
        }
    }

    /// This repository reading `objects` (another repository's object
    /// store) too, in the commands this runs and nowhere else: the
    /// repository itself never borrows.
    pub(crate) fn reading(&self, objects: &Path) -> Git {
        Git {
            borrowed: Some(objects.to_path_buf()),
            ..self.clone()
        }
    }

    pub(crate) fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = GIT.command(Vec::<String>::new());
        if let Some(dir) = &self.dir {
            for var in REPO_VARS {
                cmd.env_remove(var);
            }
            cmd.arg(format!("--git-dir={}", dir.display()));
        }
        if let Some(objects) = &self.borrowed {
            cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", objects);
        }
        // The operator's repository may belong to another user.
        cmd.args(["-c", "safe.directory=*"]);
        cmd.args(args);
        cmd.env("GIT_TERMINAL_PROMPT", "0");
        cmd
    }

    /// stdout, trailing newline off; a non-zero exit is an error.
    pub(crate) fn run<I, S>(&self, args: I) -> Result<String, GateError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = GIT.output(&mut self.command(args))?;
        Ok(stdout_text(&out.stdout))
    }

    /// `run` with `input` on git's stdin.
    pub(crate) fn run_with_input<I, S>(&self, args: I, input: &str) -> Result<String, GateError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = GIT.spawn(&mut cmd)?;
        let stdin = child.stdin.take();
        let input = input.to_owned();
        // Written beside the reading, so a large output cannot stall it.
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        let out = child
            .wait_with_output()
            .map_err(|e| GateError::Git(format!("git: {e}")))?;
        let _ = writer.join();
        GIT.check(&cmd, out.status, &String::from_utf8_lossy(&out.stderr))?;
        Ok(stdout_text(&out.stdout))
    }

    /// Exit 0 → true, 1 → false (`merge-base --is-ancestor`,
    /// `show-ref --verify --quiet`); anything else is an error.
    pub(crate) fn test<I, S>(&self, args: I) -> Result<bool, GateError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = GIT.status(&mut cmd)?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => GIT
                .check(&cmd, status, "unexpected exit")
                .map(|()| false)
                .map_err(GateError::from),
        }
    }

    /// The value of a ref, if it exists.
    pub(crate) fn ref_value(&self, name: &str) -> Result<Option<String>, GateError> {
        if !self.test(["show-ref", "--verify", "--quiet", name])? {
            return Ok(None);
        }
        Ok(Some(self.run([
            "rev-parse",
            "--verify",
            "--quiet",
            name,
        ])?))
    }

    /// The empty tree's id in this repository's hash.
    pub(crate) fn empty_tree(&self) -> Result<String, GateError> {
        self.run(["hash-object", "-t", "tree", "--stdin"])
    }

    /// `<short sha> <subject>` of the commits of `range` (rev-list
    /// arguments), oldest first.
    pub(crate) fn commit_lines(&self, range: &[String]) -> Result<Vec<String>, GateError> {
        let mut args = vec![
            "log".to_owned(),
            "--reverse".into(),
            "--format=%h %s".into(),
        ];
        args.extend(range.iter().cloned());
        let text = self.run(args)?;
        let mut lines: Vec<String> = text.lines().take(MAX_LIST).map(printable).collect();
        let total = text.lines().count();
        if total > MAX_LIST {
            lines.push(format!("… and {} more", total - MAX_LIST));
        }
        Ok(lines)
    }
}

/// Git's stdout as text, trailing newlines off.
fn stdout_text(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .trim_end_matches('\n')
        .to_owned()
}

/// Entries of a list shown to the operator (commits, diffstat lines): a
/// proposal file must stay small.
pub(crate) const MAX_LIST: usize = 200;

/// Text the agent controls (paths, subjects) made safe to show on a
/// terminal: control characters (escape sequences, newlines) replaced.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// `printable` line by line, at most `MAX_LIST` lines.
pub(crate) fn printable_lines(text: &str) -> String {
    let total = text.lines().count();
    let mut out: Vec<String> = text.lines().take(MAX_LIST).map(printable).collect();
    if total > MAX_LIST {
        out.push(format!("… and {} more lines", total - MAX_LIST));
    }
    out.join("\n")
}

/// The rev-list arguments of what a push of `name` from `old` to `new`
/// brings: `new` and its history that neither `old` nor any other ref of
/// the gate's repository has. The same before and after the ref is
/// updated. Hidden refs (held pushes) do not count: what they hold was
/// not let through.
pub(crate) fn new_range(name: &str, old: &str, new: &str) -> Vec<String> {
    let mut args = vec![new.to_owned()];
    if !super::policy::is_zero(old) {
        args.push(format!("^{old}"));
    }
    args.extend([
        "--not".to_owned(),
        format!("--exclude={name}"),
        "--exclude=refs/bot-bottle/*".into(),
        "--all".into(),
    ]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_text_is_made_printable_and_short() {
        assert_eq!(printable("a\x1b[31mb\nc"), "a\u{fffd}[31mb\u{fffd}c");
        assert_eq!(printable("ünï 日本"), "ünï 日本");
        let long: String = (0..MAX_LIST + 5).map(|i| format!("{i}\n")).collect();
        let short = printable_lines(&long);
        assert_eq!(short.lines().count(), MAX_LIST + 1);
        assert!(short.ends_with("… and 5 more lines"), "{short}");
    }

    #[test]
    fn ranges_exclude_the_ref_and_hidden_refs() {
        let z = "0".repeat(40);
        let range = new_range("refs/heads/x", &z, "abc");
        assert_eq!(range[0], "abc");
        assert!(range.contains(&"--exclude=refs/heads/x".to_owned()));
        assert!(range.contains(&"--exclude=refs/bot-bottle/*".to_owned()));
        assert!(!range.iter().any(|a| a.starts_with('^')));
        let range = new_range("refs/heads/x", "def", "abc");
        assert_eq!(range[1], "^def");
    }
}
