//! Running things in a bottle's agent container: sessions, commands, and
//! copying files in and out (the workdir, transcript snapshots).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::backend::session::{Io, PROBE_TIMEOUT, Selection, Snapshot, io_flags, snapshot_timeout};
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
/// agent's user. Nothing is mounted.
pub fn copy_in(slug: &str, from: &Path, dest: &str, what: &Selection) -> Result<(), ExecError> {
    let mut tar = TAR.command(["-c".into(), "-C".into(), from.display().to_string()]);
    tar.args(what.tar_args());
    let (mut tar, input) = TAR.spawn_piped(&mut tar)?;
    let argv: Vec<String> = ["tar", "-x", "-C", dest].map(String::from).to_vec();
    let mut cmd = DOCKER.command(exec_args(slug, &argv, Io::Interactive { tty: false }, None));
    cmd.stdin(input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let result = finish(&mut cmd);
    let tar_status = tar.wait();
    result?;
    match tar_status {
        Ok(status) => TAR.check(
            &Command::new("tar"),
            status,
            "could not read the folder to copy",
        ),
        Err(e) => Err(ExecError::Spawn {
            program: "tar".into(),
            source: e,
        }),
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
