//! The one place external programs are run. Each program's path can be
//! overridden by a variable (`BOT_BOTTLE_DOCKER`, …) so tests can stand in
//! for it; `BOT_BOTTLE_TRACE=1` prints every command before it runs.

use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::{Explain, UserError};

/// An external program bot-bottle runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    pub(crate) name: &'static str,
    /// The variable that overrides the program's path.
    pub(crate) env: &'static str,
    /// What to do when it is missing.
    pub(crate) install_hint: &'static str,
}

impl Program {
    /// A program named `name`, its path overridden by `env`.
    pub(crate) const fn new(
        name: &'static str,
        env: &'static str,
        install_hint: &'static str,
    ) -> Program {
        Program {
            name,
            env,
            install_hint,
        }
    }
}

pub(crate) const DOCKER: Program = Program::new(
    "docker",
    "BOT_BOTTLE_DOCKER",
    "install Docker Engine (https://docs.docker.com/engine/install/) or run scripts/setup",
);

pub(crate) const DEBOOTSTRAP: Program = Program::new(
    "debootstrap",
    "BOT_BOTTLE_DEBOOTSTRAP",
    "install it: apt-get install debootstrap (scripts/setup does)",
);

pub(crate) const APT_GET: Program = Program::new(
    "apt-get",
    "BOT_BOTTLE_APT_GET",
    "run on a host with apt, or set BOT_BOTTLE_DEBIAN_MIRROR to a Debian mirror's URL",
);

pub(crate) const TMUX: Program = Program::new(
    "tmux",
    "BOT_BOTTLE_TMUX",
    "install tmux (apt-get install tmux; scripts/setup does)",
);

pub(crate) const NPM: Program = Program::new(
    "npm",
    "BOT_BOTTLE_NPM",
    "install it (apt-get install npm), or let PyPI provide the CLI",
);

pub(crate) const PYTHON: Program = Program::new(
    "python3",
    "BOT_BOTTLE_PYTHON",
    "install python3 and pip (apt-get install python3-pip; scripts/setup does)",
);

pub(crate) const GIT: Program = Program::new(
    "git",
    "BOT_BOTTLE_GIT",
    "install git (apt-get install git; the git-gate image has it)",
);

pub(crate) const SMOLVM: Program = Program::new(
    "smolvm",
    "BOT_BOTTLE_SMOLVM",
    "install smolvm: curl -sSL https://smolmachines.com/install.sh | bash (Linux with KVM, or macOS; see https://github.com/smol-machines/smolvm)",
);

pub(crate) const RUNSC: Program = Program::new(
    "runsc",
    "BOT_BOTTLE_RUNSC",
    "install gVisor and register it with the engine: BOT_BOTTLE_GVISOR=1 scripts/setup",
);

pub(crate) const TAR: Program = Program::new("tar", "BOT_BOTTLE_TAR", "install GNU tar");

/// Opens `path` in the user's editor (`$VISUAL`, `$EDITOR`, else vi) and
/// waits. The editor string may hold arguments, as for git.
pub(crate) fn edit(path: &std::path::Path) -> Result<(), ExecError> {
    run_user_program(&["VISUAL", "EDITOR"], "vi", "editor", path)
}

/// Shows `path` in the user's pager (`$PAGER`, else less) and waits.
pub(crate) fn page(path: &std::path::Path) -> Result<(), ExecError> {
    run_user_program(&["PAGER"], "less", "pager", path)
}

/// The program the first of `vars` that is set names (else `fallback`),
/// given `path`, through sh: the value may hold arguments.
fn run_user_program(
    vars: &[&str],
    fallback: &str,
    what: &str,
    path: &std::path::Path,
) -> Result<(), ExecError> {
    let program = vars
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| fallback.into());
    const SH: Program = Program::new(
        "sh",
        "BOT_BOTTLE_SH",
        "a POSIX shell is needed to start the editor or the pager",
    );
    let mut cmd = SH.command(["-c", &format!("{program} \"$1\""), what]);
    cmd.arg(path);
    let status = SH.status(&mut cmd)?;
    SH.check(&cmd, status, &format!("the {what} ({program}) failed"))
}

/// Where the progress output of long steps (builds, compose) goes: the
/// terminal's stderr, or a log file a tmux pane tails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// The terminal's stderr.
    Stderr,
    /// Appended to this file.
    File(std::path::PathBuf),
}

impl Sink {
    /// A handle for a child's stdout or stderr.
    pub(crate) fn stdio(&self) -> io::Result<Stdio> {
        match self {
            Sink::Stderr => Ok(Stdio::from(io::stderr())),
            Sink::File(path) => Ok(Stdio::from(append_to(path)?)),
        }
    }

    /// Writes one line of our own.
    pub(crate) fn line(&self, text: &str) {
        use std::io::Write;
        match self {
            Sink::Stderr => eprintln!("{text}"),
            Sink::File(path) => {
                if let Ok(mut f) = append_to(path) {
                    let _ = writeln!(f, "{text}");
                }
            }
        }
    }
}

/// `path` opened for appending, created if missing.
fn append_to(path: &std::path::Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// How a capped run ended (see `Program::stdout_to_file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capped {
    /// It finished; this many bytes are in the file.
    Written(u64),
    /// It wrote more than the limit; the file is gone.
    TooLarge,
    /// It ran past the timeout; the file is gone.
    TimedOut,
}

/// Running an external program failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program is not installed.
    #[error("{program} was not found")]
    NotFound {
        /// The program's name.
        program: String,
        /// How to install it.
        hint: &'static str,
    },
    /// The program could not be started.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program's name.
        program: String,
        /// Why not.
        #[source]
        source: io::Error,
    },
    /// The program ran and exited non-zero.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
}

impl UserError for ExecError {
    fn explain(&self) -> Explain<'_> {
        match self {
            ExecError::NotFound { hint, .. } => Explain::runtime(*hint),
            ExecError::Spawn { .. } | ExecError::Failed { .. } => Explain::runtime(None),
        }
    }
}

impl Program {
    /// The path to run: the override variable's value, else the name.
    pub(crate) fn path(&self) -> String {
        std::env::var(self.env)
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.name.to_owned())
    }

    /// Where the program is: the override variable's path, or the name
    /// looked up on `PATH`. Missing (or not executable) is
    /// `ExecError::NotFound`, whose hint says how to install it — so a
    /// caller can say so before running anything.
    pub(crate) fn find(&self) -> Result<PathBuf, ExecError> {
        locate(&self.path(), self.install_hint)
    }

    pub(crate) fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(self.path());
        cmd.args(args);
        cmd
    }

    /// Runs to completion with output captured; a non-zero exit is an error.
    pub(crate) fn output(&self, cmd: &mut Command) -> Result<Output, ExecError> {
        trace(cmd);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(ExecError::Failed {
                command: describe(cmd),
                status: describe_status(out.status),
                stderr: last_lines(&String::from_utf8_lossy(&out.stderr)),
            })
        }
    }

    /// Runs to completion with the caller's terminal; returns the status.
    pub(crate) fn status(&self, cmd: &mut Command) -> Result<ExitStatus, ExecError> {
        trace(cmd);
        cmd.status().map_err(|e| self.spawn_error(e))
    }

    /// Runs to completion with its output sent to `sink`; a non-zero exit
    /// is an error.
    pub(crate) fn run_to(&self, cmd: &mut Command, sink: &Sink) -> Result<(), ExecError> {
        let spawn = |e: io::Error| ExecError::Spawn {
            program: self.path(),
            source: e,
        };
        cmd.stdout(sink.stdio().map_err(spawn)?)
            .stderr(sink.stdio().map_err(spawn)?);
        let status = self.status(cmd)?;
        self.check(cmd, status, "see the output above")
    }

    /// The same command for tokio, for programs driven asynchronously.
    pub(crate) fn async_command<I, S>(&self, args: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = tokio::process::Command::new(self.path());
        cmd.args(args);
        cmd
    }

    /// Replaces this process with the command (returns only on failure).
    pub(crate) fn exec(&self, cmd: &mut Command) -> ExecError {
        use std::os::unix::process::CommandExt;
        trace(cmd);
        self.spawn_error(cmd.exec())
    }

    /// Starts it; the caller waits.
    pub(crate) fn spawn(&self, cmd: &mut Command) -> Result<std::process::Child, ExecError> {
        trace(cmd);
        cmd.spawn().map_err(|e| self.spawn_error(e))
    }

    /// Starts it with its stdout a pipe, handed back to be another
    /// program's stdin; the caller waits.
    pub(crate) fn spawn_piped(
        &self,
        cmd: &mut Command,
    ) -> Result<(std::process::Child, Stdio), ExecError> {
        let mut child = self.spawn(cmd.stdout(Stdio::piped()))?;
        let stdout = child
            .stdout
            .take()
            .map(Stdio::from)
            .unwrap_or_else(Stdio::null);
        Ok((child, stdout))
    }

    /// Runs to completion with its stdout streamed into `file` (created
    /// anew), never more than `limit` bytes and never longer than
    /// `timeout`: past either, the program is killed and the file removed.
    pub(crate) fn stdout_to_file(
        &self,
        cmd: &mut Command,
        file: &std::path::Path,
        limit: u64,
        timeout: std::time::Duration,
    ) -> Result<Capped, ExecError> {
        let io_err = |e: io::Error| ExecError::Spawn {
            program: file.display().to_string(),
            source: e,
        };
        let _ = std::fs::remove_file(file);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(file)
            .map_err(io_err)?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(cmd)?;
        let pid = child.id() as libc::pid_t;
        let watchdog = Watchdog::start(pid, timeout);
        let stderr_reader = read_stderr(child.stderr.take());
        let copied = match child.stdout.take() {
            Some(mut stdout) => copy_capped(&mut stdout, &mut out, limit, || kill(pid)),
            None => Copied::All(0),
        };
        let timed_out = watchdog.stop();
        let status = child.wait().map_err(|e| self.spawn_error(e))?;
        let stderr = stderr_reader.join().unwrap_or_default();
        let result = match (copied, timed_out) {
            (Copied::TooLarge, _) => Ok(Capped::TooLarge),
            (_, true) => Ok(Capped::TimedOut),
            (Copied::Failed(e), _) => Err(io_err(e)),
            (Copied::All(written), _) if status.success() => {
                out.sync_all().map_err(io_err)?;
                return Ok(Capped::Written(written));
            }
            (Copied::All(_), _) => Err(ExecError::Failed {
                command: describe(cmd),
                status: describe_status(status),
                stderr: last_lines(&stderr),
            }),
        };
        let _ = std::fs::remove_file(file);
        result
    }

    /// Runs to completion with `input` on its stdin and its output
    /// captured, never longer than `timeout` (past it, the program is
    /// killed: an error). A non-zero exit is an error.
    pub(crate) fn output_fed(
        &self,
        cmd: &mut Command,
        input: Vec<u8>,
        timeout: std::time::Duration,
    ) -> Result<Output, ExecError> {
        use io::{Read, Write};
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(cmd)?;
        let pid = child.id() as libc::pid_t;
        let watchdog = Watchdog::start(pid, timeout);
        if let Some(mut stdin) = child.stdin.take() {
            std::thread::spawn(move || stdin.write_all(&input));
        }
        let stderr_reader = read_stderr(child.stderr.take());
        let mut stdout = Vec::new();
        if let Some(out) = child.stdout.take() {
            let _ = out.take(1 << 20).read_to_end(&mut stdout);
        }
        // Its output ended: it exited (or was killed), not yet reaped.
        let timed_out = watchdog.stop();
        let status = child.wait().map_err(|e| self.spawn_error(e))?;
        let stderr = stderr_reader.join().unwrap_or_default();
        if timed_out {
            return Err(ExecError::Failed {
                command: describe(cmd),
                status: format!("killed after {} s", timeout.as_secs()),
                stderr: last_lines(&stderr),
            });
        }
        self.check(cmd, status, &last_lines(&stderr))?;
        Ok(Output {
            status,
            stdout,
            stderr: stderr.into_bytes(),
        })
    }

    /// An error for a non-zero status.
    pub(crate) fn check(
        &self,
        cmd: &Command,
        status: ExitStatus,
        detail: &str,
    ) -> Result<(), ExecError> {
        if status.success() {
            Ok(())
        } else {
            Err(ExecError::Failed {
                command: describe(cmd),
                status: describe_status(status),
                stderr: detail.to_owned(),
            })
        }
    }

    fn spawn_error(&self, e: io::Error) -> ExecError {
        if e.kind() == io::ErrorKind::NotFound {
            ExecError::NotFound {
                program: self.path(),
                hint: self.install_hint,
            }
        } else {
            ExecError::Spawn {
                program: self.path(),
                source: e,
            }
        }
    }
}

/// Kills our child `pid` with SIGKILL.
fn kill(pid: libc::pid_t) {
    // SAFETY: kill has no memory effects; the pid is our child, not yet
    // reaped (`stdout_to_file` waits only after stopping its watchdog).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// A thread reading the first 64 KiB of a child's stderr.
fn read_stderr(stderr: Option<std::process::ChildStderr>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        if let Some(e) = stderr {
            let _ = e.take(64 * 1024).read_to_string(&mut text);
        }
        text
    })
}

/// A thread that kills a child at its deadline unless stopped first.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: libc::pid_t, timeout: std::time::Duration) -> Self {
        let (done, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let fired = done_rx.recv_timeout(timeout).is_err();
            if fired {
                kill(pid);
            }
            fired
        });
        Watchdog { done, thread }
    }

    /// Tells it the program is done; whether it had fired already.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
}

/// How copying a capped stdout ended.
#[derive(Debug)]
enum Copied {
    /// All of it, this many bytes.
    All(u64),
    /// More than the limit: the copy stopped and `kill` ran.
    TooLarge,
    /// Reading or writing failed (`kill` ran for a failed write).
    Failed(io::Error),
}

/// Copies `from` into `to` until its end, never more than `limit` bytes
/// (past it, or when a write fails, calls `kill` and stops).
fn copy_capped(
    from: &mut impl io::Read,
    to: &mut impl io::Write,
    limit: u64,
    kill: impl Fn(),
) -> Copied {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written: u64 = 0;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Copied::All(written),
            Ok(n) if written + n as u64 > limit => {
                kill();
                return Copied::TooLarge;
            }
            Ok(n) => {
                if let Err(e) = to.write_all(&buf[..n]) {
                    kill();
                    return Copied::Failed(e);
                }
                written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Copied::Failed(e),
        }
    }
}

/// `path` looked up as the shell would: a bare name on `PATH`, a path
/// with a slash as it is; found only when it is an executable file.
fn locate(path: &str, hint: &'static str) -> Result<PathBuf, ExecError> {
    which::which(path).map_err(|_| ExecError::NotFound {
        program: path.to_owned(),
        hint,
    })
}

/// With `BOT_BOTTLE_TRACE=1`, a command about to run, after the seconds
/// since the first command traced (where a bring-up spends its time).
fn trace(cmd: &Command) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    if std::env::var_os("BOT_BOTTLE_TRACE").is_some_and(|v| v == "1") {
        let since = START.get_or_init(std::time::Instant::now).elapsed();
        eprintln!("+ [{:.3}] {}", since.as_secs_f64(), describe(cmd));
    }
}

fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    crate::text::shell_join(&words)
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "unknown status".into(),
    }
}

/// The end of a program's stderr, on one line, for an error message.
fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "(no error output)".into()
    } else {
        tail.join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Program = Program::new("sh", "BOT_BOTTLE_TEST_SH_UNSET", "");
    const MISSING: Program = Program::new(
        "bot-bottle-no-such-program",
        "BOT_BOTTLE_TEST_MISSING_UNSET",
        "install it",
    );

    #[test]
    fn output_success_failure_and_missing() {
        let out = SH.output(&mut SH.command(["-c", "echo hi"])).unwrap();
        assert_eq!(out.stdout, b"hi\n");

        let err = SH
            .output(&mut SH.command(["-c", "echo one >&2; echo two >&2; exit 4"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo one >&2; echo two >&2; exit 4'` failed (exit 4): one / two"
        );

        let err = MISSING.output(&mut MISSING.command(["x"])).unwrap_err();
        assert!(matches!(err, ExecError::NotFound { .. }));
        assert_eq!(err.hint().as_deref(), Some("install it"));
    }

    #[test]
    fn find_looks_on_the_path_and_at_the_override() {
        let sh = SH.find().unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());

        let err = MISSING.find().unwrap_err();
        assert_eq!(err.to_string(), "bot-bottle-no-such-program was not found");
        assert_eq!(err.hint().as_deref(), Some("install it"));

        // An override is a path: found when it is an executable file.
        assert_eq!(locate(&sh.display().to_string(), "").unwrap(), sh);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        for path in [plain.as_path(), dir.path(), &dir.path().join("absent")] {
            let err = locate(&path.display().to_string(), "h").unwrap_err();
            assert!(matches!(err, ExecError::NotFound { .. }), "{err}");
        }
    }

    #[test]
    fn copy_capped_stops_past_the_limit_and_kills() {
        for (input, limit, all, killed) in [
            (&b""[..], 0, Some(0), false),
            (b"12345", 5, Some(5), false),
            (b"12345", 4, None, true),
        ] {
            let killed_now = std::cell::Cell::new(false);
            let mut to = Vec::new();
            let copied = copy_capped(&mut &input[..], &mut to, limit, || killed_now.set(true));
            match copied {
                Copied::All(n) => assert_eq!((Some(n), to.as_slice()), (all, input)),
                Copied::TooLarge => assert_eq!(all, None),
                Copied::Failed(e) => panic!("{e}"),
            }
            assert_eq!(killed_now.get(), killed, "{input:?} {limit}");
        }
    }

    #[test]
    fn capped_output_is_cut_at_the_limit_and_the_deadline() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        let run = |script: &str, limit: u64, secs: u64| {
            SH.stdout_to_file(
                &mut SH.command(["-c", script]),
                &file,
                limit,
                Duration::from_secs(secs),
            )
        };
        assert_eq!(run("printf 12345", 5, 10).unwrap(), Capped::Written(5));
        assert_eq!(std::fs::read(&file).unwrap(), b"12345");

        let start = Instant::now();
        assert_eq!(run("yes", 1 << 20, 30).unwrap(), Capped::TooLarge);
        assert!(!file.exists(), "nothing cut is kept");
        assert!(start.elapsed() < Duration::from_secs(20));

        assert_eq!(
            run("printf ab; exec sleep 30", 100, 1).unwrap(),
            Capped::TimedOut
        );
        assert!(!file.exists());

        let err = run("echo oops >&2; exit 3", 100, 10).unwrap_err();
        assert!(
            err.to_string().contains("exit 3") && err.to_string().contains("oops"),
            "{err}"
        );
        assert!(!file.exists());
    }
}
