//! Running things in a bottle's machine and moving files in and out of it:
//! `machine exec`, and `machine cp` (binary-safe) into it; out of it, the
//! transcript is streamed by `machine exec --stream` and counted here.

use std::path::{Path, PathBuf};

use super::argv::{self, As};
use crate::backend::docker::session::{Io, Snapshot};
use crate::exec::{Capped, ExecError, SMOLVM, Sink, TAR};
use crate::provider::shell_quote;

pub fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// Runs smolvm with its output to the sink.
pub fn smolvm_to(args: &[String], sink: &Sink) -> Result<(), ExecError> {
    let mut cmd = SMOLVM.command(args);
    cmd.stdin(std::process::Stdio::null());
    SMOLVM.run_to(&mut cmd, sink)
}

/// Runs smolvm without a terminal; a failure carries its stderr.
pub fn run_quiet(args: &[String]) -> Result<(), ExecError> {
    let mut cmd = SMOLVM.command(args);
    cmd.stdin(std::process::Stdio::null());
    SMOLVM.output(&mut cmd).map(|_| ())
}

/// Unpacks the archive at `archive` into `dest`, owned by the agent.
fn unpack_script(archive: &str, dest: &str) -> String {
    format!(
        "set -e\nmkdir -p {d}\ntar -x -f {archive} -C {d}\nchown -R 1000:1000 {d}\nrm -f {archive}\n",
        d = shell_quote(dest)
    )
}

/// A host folder's contents into `dest`, leaving out the top-level
/// entries in `exclude`: packed on the host, copied, unpacked as root.
pub fn copy_in(name: &str, from: &Path, dest: &str, exclude: &[&str]) -> Result<(), ExecError> {
    let local = temp_path("bot-bottle-copy");
    let mut tar = TAR.command(
        exclude
            .iter()
            .map(|e| format!("--exclude=./{e}"))
            .chain(["-c".into(), "-f".into(), local.display().to_string()])
            .chain(["-C".into(), from.display().to_string(), ".".into()]),
    );
    let guest = "/tmp/.bb-copy.tar";
    let result = TAR
        .output(&mut tar)
        .and_then(|_| run_quiet(&argv::copy_to(name, &local, guest)))
        .and_then(|()| root(name, &unpack_script(guest, dest)));
    let _ = std::fs::remove_file(&local);
    result
}

/// The agent's `dir` as a tar file on the host, streamed out of the
/// machine (`machine exec --stream`) and counted by the host: past `limit`
/// bytes or `timeout`, smolvm is killed and nothing is kept. Nothing the
/// agent says about the size is believed (it controls its home and what
/// runs as it).
pub fn snapshot(
    name: &str,
    dir: &str,
    to: &Path,
    limit: u64,
    timeout: std::time::Duration,
) -> Result<Snapshot, ExecError> {
    let mut cmd = SMOLVM.command(argv::exec_streamed(name, &sh(&snapshot_script(dir)), "/"));
    match SMOLVM.stdout_to_file(&mut cmd, to, limit, timeout) {
        Ok(Capped::Written(bytes)) => Ok(Snapshot::Saved { bytes }),
        Ok(Capped::TooLarge) => Ok(Snapshot::TooLarge { limit }),
        Ok(Capped::TimedOut) => Ok(Snapshot::TimedOut),
        Err(ExecError::Failed { ref status, .. }) if status == "exit 3" => Ok(Snapshot::Absent),
        Err(e) => Err(e),
    }
}

/// Exits 3 when `dir` is not there, else writes it as a tar to stdout.
fn snapshot_script(dir: &str) -> String {
    let (parent, base) = dir.rsplit_once('/').unwrap_or(("/", dir));
    format!(
        "[ -d {p}/{b} ] || exit 3; exec tar -C {p} -c {b}",
        p = shell_quote(parent),
        b = shell_quote(base)
    )
}

/// A snapshot unpacked into the agent's `into`.
pub fn restore(name: &str, from: &Path, into: &str) -> Result<(), ExecError> {
    let guest = "/tmp/.bb-restore.tar";
    run_quiet(&argv::copy_to(name, from, guest))?;
    root(name, &unpack_script(guest, into))
}

/// `sh -c script` in the machine as root.
pub fn root(name: &str, script: &str) -> Result<(), ExecError> {
    run_quiet(&argv::exec(
        name,
        &sh(script),
        Io::Detached,
        None,
        "/",
        As::Root,
    ))
}

fn temp_path(prefix: &str) -> PathBuf {
    let n: u64 = rand::random();
    std::env::temp_dir().join(format!("{prefix}-{}-{n:x}.tar", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_streams_the_folder_and_says_when_it_is_absent() {
        assert_eq!(
            snapshot_script("/home/agent/.claude"),
            "[ -d /home/agent/.claude ] || exit 3; exec tar -C /home/agent -c .claude"
        );
        assert_eq!(
            snapshot_script("/home/agent/my dir"),
            "[ -d /home/agent/'my dir' ] || exit 3; exec tar -C /home/agent -c 'my dir'"
        );
    }

    #[test]
    fn unpacking_quotes_the_destination() {
        assert_eq!(
            unpack_script("/tmp/a.tar", "/home/agent/my dir"),
            "set -e\nmkdir -p '/home/agent/my dir'\ntar -x -f /tmp/a.tar -C '/home/agent/my dir'\nchown -R 1000:1000 '/home/agent/my dir'\nrm -f /tmp/a.tar\n"
        );
    }
}
