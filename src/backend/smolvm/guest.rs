//! Running things in a bottle's machine and moving files in and out of it:
//! `machine exec` and `machine cp` (binary-safe), never stdout pipes.

use std::path::{Path, PathBuf};

use super::argv::{self, As};
use crate::backend::docker::session::{Io, Snapshot};
use crate::exec::{ExecError, SMOLVM, Sink, TAR};
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

/// The agent's `dir` as a tar file on the host, unless it is larger than
/// `limit`: packed in the machine, measured, then copied out.
pub fn snapshot(name: &str, dir: &str, to: &Path, limit: u64) -> Result<Snapshot, ExecError> {
    let (parent, base) = dir.rsplit_once('/').unwrap_or(("/", dir));
    let guest = "/tmp/.bb-snapshot.tar";
    let script = format!(
        "[ -d {p}/{b} ] || exit 3; tar -C {p} -c -f {guest} {b}; wc -c < {guest}",
        p = shell_quote(parent),
        b = shell_quote(base)
    );
    let args = argv::exec(name, &sh(&script), Io::Detached, None, "/", As::Agent);
    let mut cmd = SMOLVM.command(args);
    cmd.stdin(std::process::Stdio::null());
    let size: u64 = match SMOLVM.output(&mut cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(u64::MAX),
        Err(ExecError::Failed { ref status, .. }) if status == "exit 3" => {
            return Ok(Snapshot::Absent);
        }
        Err(e) => return Err(e),
    };
    if size > limit {
        return Ok(Snapshot::TooLarge { limit });
    }
    run_quiet(&argv::copy_from(name, guest, to))?;
    Ok(Snapshot::Saved { bytes: size })
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
    fn unpacking_quotes_the_destination() {
        assert_eq!(
            unpack_script("/tmp/a.tar", "/home/agent/my dir"),
            "set -e\nmkdir -p '/home/agent/my dir'\ntar -x -f /tmp/a.tar -C '/home/agent/my dir'\nchown -R 1000:1000 '/home/agent/my dir'\nrm -f /tmp/a.tar\n"
        );
    }
}
