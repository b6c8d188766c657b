//! Running things in a bottle's agent container: sessions, commands, and
//! copying files in and out (the workdir, transcript snapshots).

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::backend::session::{
    CopyWatch, Io, PROBE_TIMEOUT, Progress, Selection, Snapshot, io_flags, snapshot_timeout,
};
use crate::contract::command;
use crate::contract::paths::{AGENT_USER, WORKDIR};
use crate::contract::services::{AGENT, EGRESS, GATE_PORT, GIT_GATE, container};
use crate::exec::{Capped, DOCKER, ExecError, TAR};

/// `docker exec` for `argv` in the agent container, as its user, in the
/// workdir.
pub fn exec_args(slug: &str, argv: &[String], io: Io, term: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = vec!["exec".into()];
    args.extend(io_flags(io, term));
    args.extend(["-u".into(), AGENT_USER.into(), "-w".into(), WORKDIR.into()]);
    args.push(container(slug, AGENT));
    args.extend(argv.iter().cloned());
    args
}

/// `bash -s` as root in the bottle's agent, `script` on its stdin; what
/// it printed (`AgentRuntime::probe`).
pub fn probe(slug: &str, script: &str) -> Result<String, ExecError> {
    let mut cmd = DOCKER.command(["exec", "-i", "-u", "0"]);
    cmd.arg(container(slug, AGENT)).args(["bash", "-s"]);
    let out = DOCKER.output_fed(&mut cmd, script.as_bytes().to_vec(), PROBE_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the bottle's agent container is running.
pub fn is_running(slug: &str) -> Result<bool, ExecError> {
    let mut cmd = DOCKER.command([
        "inspect",
        "--format",
        "{{.State.Running}}",
        &container(slug, AGENT),
    ]);
    match DOCKER.output(&mut cmd) {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).trim() == "true"),
        Err(ExecError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits (up to 30 s) until the bottle's git gate answers.
pub fn wait_for_gate(slug: &str) -> Result<(), ExecError> {
    let mut cmd = DOCKER.command(
        ["exec".to_owned(), container(slug, GIT_GATE)]
            .into_iter()
            .chain(command::probe(GATE_PORT, Some(30))),
    );
    DOCKER.output(&mut cmd).map(|_| ())
}

/// Sends SIGHUP to the egress sidecars of `slugs`, with one docker call:
/// each reloads its routes (and whether it is frozen).
pub fn reload_egress(slugs: &[&str]) -> Result<(), ExecError> {
    if slugs.is_empty() {
        return Ok(());
    }
    let mut cmd = DOCKER.command(["kill", "--signal", "HUP"]);
    cmd.args(slugs.iter().map(|s| container(s, EGRESS)));
    DOCKER.output(&mut cmd).map(|_| ())
}

/// Pauses (or unpauses) the agent containers of `slugs`, with one
/// docker call (the engine does them at once). One already so is no error.
pub fn pause_agents(slugs: &[&str], paused: bool) -> Result<(), ExecError> {
    if slugs.is_empty() {
        return Ok(());
    }
    let mut cmd = DOCKER.command([if paused { "pause" } else { "unpause" }]);
    cmd.args(slugs.iter().map(|s| container(s, AGENT)));
    match DOCKER.output(&mut cmd) {
        Err(ExecError::Failed { stderr, .. }) if only_already(&stderr, paused) => Ok(()),
        result => result.map(|_| ()),
    }
}

/// Whether every complaint of `docker pause`/`unpause` is that a container
/// was so already.
fn only_already(stderr: &str, paused: bool) -> bool {
    let already = if paused {
        "is already paused"
    } else {
        "is not paused"
    };
    let mut lines = stderr.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| l.contains(already))
}

/// Copies `what` of a host folder into the agent's `dest`, owned by the
/// agent's user. Nothing is mounted. The host's tar stream passes through
/// this process (`pump`): counted for `watch`'s progress lines, and cut
/// off, both ends killed, once `watch` says stop or the agent's end goes
/// away (the bottle was taken down): no tar outlives its copy.
pub fn copy_in(
    slug: &str,
    from: &Path,
    dest: &str,
    what: &Selection,
    watch: &CopyWatch,
) -> Result<(), ExecError> {
    let mut tar_cmd = TAR.command(["-c".into(), "-C".into(), from.display().to_string()]);
    tar_cmd
        .args(what.tar_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut tar = TAR.spawn(&mut tar_cmd)?;
    let argv: Vec<String> = ["tar", "-x", "-C", dest].map(String::from).to_vec();
    let mut cmd = DOCKER.command(exec_args(slug, &argv, Io::Interactive { tty: false }, None));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut docker = match DOCKER.spawn(&mut cmd) {
        Ok(docker) => docker,
        Err(e) => {
            let _ = tar.kill();
            let _ = tar.wait();
            return Err(e);
        }
    };
    let stopped = AtomicBool::new(false);
    let (pumped, stderr) = {
        let (tar_out, agent_in, err) =
            (tar.stdout.take(), docker.stdin.take(), docker.stderr.take());
        let pids = [tar.id(), docker.id()];
        let done = AtomicBool::new(false);
        let stop = watch.stopped;
        std::thread::scope(|s| {
            // Kills only before both are reaped (below, after `done`).
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if stop() {
                        stopped.store(true, Ordering::SeqCst);
                        for pid in pids {
                            // SAFETY: kill(2) on a child not yet reaped.
                            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                        }
                        return;
                    }
                    std::thread::sleep(CopyWatch::POLL);
                }
            });
            let stderr = s.spawn(move || {
                let mut text = String::new();
                if let Some(mut err) = err {
                    let _ = err.read_to_string(&mut text);
                }
                text
            });
            let pumped = match (tar_out, agent_in) {
                (Some(mut tar_out), Some(mut agent_in)) => {
                    let _held = NoSigpipe::hold();
                    pump(&mut tar_out, &mut agent_in, watch)
                }
                _ => Pumped::ReadFailed(std::io::ErrorKind::BrokenPipe.into()),
            };
            // The tar stream's ends are closed: tar cannot block on a pipe
            // nobody reads, and the agent's tar sees the end.
            if !matches!(pumped, Pumped::All) {
                let _ = tar.kill();
            }
            let stderr = stderr.join().unwrap_or_default();
            done.store(true, Ordering::SeqCst);
            (pumped, stderr)
        })
    };
    let docker_status = docker.wait();
    let tar_status = tar.wait();
    let spawn_err = |program: &str, e| ExecError::Spawn {
        program: program.into(),
        source: e,
    };
    if stopped.load(Ordering::SeqCst) {
        return Err(ExecError::Failed {
            command: describe_copy(from),
            status: "stopped".into(),
            stderr: "the bottle was taken down, or bring-up was interrupted".into(),
        });
    }
    DOCKER.check(
        &cmd,
        docker_status.map_err(|e| spawn_err("docker", e))?,
        stderr.trim(),
    )?;
    match pumped {
        Pumped::All => {}
        Pumped::ReadFailed(e) => return Err(spawn_err("tar", e)),
        Pumped::WriteFailed(e) => {
            return Err(ExecError::Failed {
                command: describe_copy(from),
                status: "cut off".into(),
                stderr: format!("the agent's end stopped reading: {e}"),
            });
        }
    }
    TAR.check(
        &Command::new("tar"),
        tar_status.map_err(|e| spawn_err("tar", e))?,
        "could not read the folder to copy",
    )
}

fn describe_copy(from: &Path) -> String {
    format!("copying {} into the bottle", from.display())
}

/// SIGPIPE held off this thread while it lives: the CLI dies of it (see
/// `main`), and a copy whose agent went away is to fail with EPIPE and
/// say so. One raised meanwhile is discarded, not delivered.
struct NoSigpipe {
    old: libc::sigset_t,
}

impl NoSigpipe {
    fn hold() -> NoSigpipe {
        let set = sigpipe_set();
        // SAFETY: this thread's mask, from sets on the stack.
        unsafe {
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            NoSigpipe { old }
        }
    }
}

impl Drop for NoSigpipe {
    fn drop(&mut self) {
        let set = sigpipe_set();
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in `hold`; a SIGPIPE pending for this thread is taken
        // before the old mask is back.
        unsafe {
            while libc::sigtimedwait(&set, std::ptr::null_mut(), &now) == libc::SIGPIPE {}
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// A signal set of SIGPIPE alone.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
    }
}

/// How a stream's pumping ended.
#[derive(Debug)]
enum Pumped {
    /// All of it.
    All,
    ReadFailed(std::io::Error),
    /// The other end went away.
    WriteFailed(std::io::Error),
}

/// `from` into `to` until `from` ends, counted for `watch`'s progress lines.
fn pump(from: &mut impl Read, to: &mut impl Write, watch: &CopyWatch) -> Pumped {
    let mut progress = Progress::new(watch.total, Instant::now());
    let mut buf = vec![0u8; 256 << 10];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Pumped::All,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Pumped::ReadFailed(e),
        };
        if let Err(e) = to.write_all(&buf[..n]) {
            return Pumped::WriteFailed(e);
        }
        copied += n as u64;
        if let Some(line) = progress.update(copied, Instant::now()) {
            (watch.report)(&line);
        }
    }
}

/// Runs `sh -c script` in the agent container as its user, in the workdir;
/// a failure carries what it printed on stderr.
pub fn run_script(slug: &str, script: &str) -> Result<(), ExecError> {
    let argv: Vec<String> = vec!["sh".into(), "-c".into(), script.into()];
    let mut cmd = DOCKER.command(exec_args(slug, &argv, Io::Detached, None));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    finish(&mut cmd)
}

fn finish(cmd: &mut Command) -> Result<(), ExecError> {
    let out = DOCKER
        .spawn(cmd)?
        .wait_with_output()
        .map_err(|e| ExecError::Spawn {
            program: "docker".into(),
            source: e,
        })?;
    DOCKER.check(cmd, out.status, String::from_utf8_lossy(&out.stderr).trim())
}

/// Saves the agent's `dir` (a folder in its home) as a tar file on the
/// host, streamed, within `limit` bytes and `snapshot_timeout()`.
pub fn snapshot(slug: &str, dir: &str, to: &Path, limit: u64) -> Result<Snapshot, ExecError> {
    let (parent, name) = dir.rsplit_once('/').unwrap_or(("/", dir));
    let script = format!(
        "[ -d {0}/{1} ] || exit 3; tar -C {0} -c {1}",
        crate::text::shell_quote(parent),
        crate::text::shell_quote(name)
    );
    let argv: Vec<String> = vec!["sh".into(), "-c".into(), script];
    let mut cmd = DOCKER.command(exec_args(slug, &argv, Io::Detached, None));
    match DOCKER.stdout_to_file(&mut cmd, to, limit, snapshot_timeout()) {
        Ok(Capped::Written(bytes)) => Ok(Snapshot::Saved { bytes }),
        Ok(Capped::TooLarge) => Ok(Snapshot::TooLarge { limit }),
        Ok(Capped::TimedOut) => Ok(Snapshot::TimedOut),
        Err(ExecError::Failed { ref status, .. }) if status == "exit 3" => Ok(Snapshot::Absent),
        Err(e) => Err(e),
    }
}

/// Unpacks a snapshot into the agent's folder `into`.
pub fn restore(slug: &str, from: &Path, into: &str) -> Result<(), ExecError> {
    let file = fs::File::open(from).map_err(|e| ExecError::Spawn {
        program: from.display().to_string(),
        source: e,
    })?;
    let argv: Vec<String> = ["tar", "-x", "-C", into].map(String::from).to_vec();
    let mut cmd = DOCKER.command(exec_args(slug, &argv, Io::Interactive { tty: false }, None));
    cmd.stdin(file).stdout(Stdio::null()).stderr(Stdio::piped());
    finish(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pausing_what_is_paused_already_is_no_error() {
        let already = "Error response from daemon: Container 1f2e is already paused";
        let not = "Error response from daemon: Container 1f2e is not paused";
        let gone = "Error response from daemon: No such container: bb-x-agent";
        let cases = [
            (format!("{already}\n"), true, true),
            (format!("{already}\n{already}\n"), true, true),
            (format!("{already}\n{gone}\n"), true, false),
            (format!("{not}\n"), true, false),
            (format!("{not}\n"), false, true),
            (format!("{already}\n"), false, false),
            (String::new(), true, false),
        ];
        for (stderr, paused, want) in cases {
            assert_eq!(only_already(&stderr, paused), want, "{stderr:?} {paused}");
        }
    }

    /// A reader that gives its chunks one read at a time.
    struct Chunks(Vec<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let chunk = self.0.remove(0);
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    /// A writer whose reader goes away after `room` bytes.
    struct Closes {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Closes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.taken.len() + buf.len() > self.room {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.taken.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_stream_is_pumped_counted_and_cut_off() {
        let lines = std::sync::Mutex::new(Vec::new());
        let report = |line: &str| lines.lock().unwrap().push(line.to_owned());
        let never = || false;
        let watch = CopyWatch {
            total: 4096,
            report: &report,
            stopped: &never,
        };
        let chunks = || Chunks((0..4).map(|i| vec![i as u8; 1024]).collect());
        // (room on the other end, how it ends, bytes through)
        let cases = [
            (1 << 20, "All", 4096),
            (2048, "WriteFailed", 2048),
            (0, "WriteFailed", 0),
        ];
        for (room, want, through) in cases {
            let mut to = Closes {
                taken: Vec::new(),
                room,
            };
            let got = pump(&mut chunks(), &mut to, &watch);
            assert!(format!("{got:?}").starts_with(want), "{room}: {got:?}");
            assert_eq!(to.taken.len(), through);
        }
        // Each quarter is another tenth passed: a line, but at the end.
        let lines = lines.into_inner().unwrap();
        assert_eq!(
            lines[..3],
            [
                "bot-bottle: copied 1.0 KiB of 4.0 KiB (0 s)",
                "bot-bottle: copied 2.0 KiB of 4.0 KiB (0 s)",
                "bot-bottle: copied 3.0 KiB of 4.0 KiB (0 s)",
            ]
        );
    }

    #[test]
    fn exec_argv() {
        let argv = vec!["bash".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
        assert_eq!(
            exec_args("s-1", &argv, Io::Interactive { tty: true }, Some("xterm")).join(" "),
            "exec -i -t -e TERM=xterm -u 1000:1000 -w /workspace bot-bottle-s-1-agent bash -c exit 3"
        );
        assert_eq!(
            exec_args("s-1", &argv, Io::Interactive { tty: false }, Some("xterm")).join(" "),
            "exec -i -u 1000:1000 -w /workspace bot-bottle-s-1-agent bash -c exit 3"
        );
        assert_eq!(
            exec_args("s-1", &argv, Io::Detached, None).join(" "),
            "exec -u 1000:1000 -w /workspace bot-bottle-s-1-agent bash -c exit 3"
        );
    }
}
