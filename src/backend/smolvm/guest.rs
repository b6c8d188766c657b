//! Running things in a bottle's machine and moving files in and out of it:
//! `machine exec`, and `machine cp` (binary-safe) into it; out of it, the
//! transcript is streamed by `machine exec --stream` and counted here.

use std::path::Path;

use super::argv::{self, As};
use crate::backend::session::{CopyWatch, Io, Selection, Snapshot};
use crate::exec::{Capped, ExecError, SMOLVM, Sink, TAR};
use crate::state::scratch::Scratch;
use crate::text::shell_quote;

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

/// Unpacks `archive` (in the private folder `dir`) into `dest`, owned by
/// the agent, then removes the folder. The archive's owners and modes are
/// not kept (`--no-same-owner`, `--no-same-permissions`): nothing it holds
/// becomes root's, or setuid.
fn unpack_script(dir: &str, archive: &str, dest: &str) -> String {
    format!(
        "set -e
mkdir -p {d}
tar --no-same-owner --no-same-permissions -x -f {a} -C {d}
chown -R 1000:1000 {d}
rm -rf {dir}
",
        a = shell_quote(archive),
        d = shell_quote(dest),
        dir = shell_quote(dir),
    )
}

/// A folder for a copy into the machine that only root may enter, with a
/// name no one can guess (`mktemp -d`, as root): the agent can neither
/// plant a link where the copy lands nor swap the archive before root
/// unpacks it. A fixed name in /tmp (an approved image may hold a link
/// there) would have root write, and unpack, where the agent chose.
fn private_dir(name: &str) -> Result<String, ExecError> {
    let args = argv::exec(
        name,
        &sh("mktemp -d /tmp/.bb-copy.XXXXXXXXXX"),
        Io::Detached,
        None,
        "/",
        As::Root,
    );
    let mut cmd = SMOLVM.command(args);
    cmd.stdin(std::process::Stdio::null());
    let out = SMOLVM.output(&mut cmd)?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    checked_dir(&dir).ok_or_else(|| ExecError::Failed {
        command: "smolvm machine exec mktemp".into(),
        status: "unexpected output".into(),
        stderr: format!("mktemp printed {:?}, not a folder under /tmp", clip(&dir)),
    })
}

/// What `mktemp -d /tmp/.bb-copy.XXXXXXXXXX` prints, and nothing else.
fn checked_dir(dir: &str) -> Option<String> {
    let rest = dir.strip_prefix("/tmp/.bb-copy.")?;
    let ok = rest.len() == 10 && rest.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| dir.to_owned())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A host archive into the machine's `dest`: copied into a folder of
/// root's (`private_dir`), unpacked there as root for the agent.
fn send_archive(name: &str, archive: &Path, dest: &str) -> Result<(), ExecError> {
    let dir = private_dir(name)?;
    let guest = format!("{dir}/archive.tar");
    run_quiet(&argv::copy_to(name, archive, &guest))?;
    root(name, &unpack_script(&dir, &guest, dest))
}

/// `what` of a host folder into `dest`: packed on the host (in a private
/// scratch folder), copied, unpacked as root. `watch` is asked between
/// the steps (smolvm's copy is one step: no progress lines).
pub fn copy_in(
    name: &str,
    from: &Path,
    dest: &str,
    what: &Selection,
    watch: &CopyWatch,
) -> Result<(), ExecError> {
    let scratch = Scratch::new("copy").map_err(|e| ExecError::Failed {
        command: "a scratch folder for the copy".into(),
        status: "failed".into(),
        stderr: e.to_string(),
    })?;
    let local = scratch.path().join("copy.tar");
    let mut tar = TAR.command(
        ["-c", "-f", &local.display().to_string()]
            .map(String::from)
            .into_iter()
            .chain(["-C".into(), from.display().to_string()])
            .chain(what.tar_args()),
    );
    TAR.output(&mut tar)?;
    if (watch.stopped)() {
        return Err(ExecError::Failed {
            command: format!("copying {} into the machine", from.display()),
            status: "stopped".into(),
            stderr: "the bottle was taken down, or bring-up was interrupted".into(),
        });
    }
    send_archive(name, &local, dest)
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
    send_archive(name, from, into)
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
    fn unpacking_quotes_and_keeps_no_owner_or_mode() {
        assert_eq!(
            unpack_script(
                "/tmp/.bb-copy.AbC123xyz0",
                "/tmp/.bb-copy.AbC123xyz0/archive.tar",
                "/home/agent/my dir"
            ),
            "set -e\nmkdir -p '/home/agent/my dir'\ntar --no-same-owner --no-same-permissions -x -f /tmp/.bb-copy.AbC123xyz0/archive.tar -C '/home/agent/my dir'\nchown -R 1000:1000 '/home/agent/my dir'\nrm -rf /tmp/.bb-copy.AbC123xyz0\n"
        );
    }

    #[test]
    fn only_what_mktemp_makes_is_taken_for_the_private_folder() {
        let cases = [
            ("/tmp/.bb-copy.AbC123xyz0", true),
            ("/tmp/.bb-copy.AbC123xyz", false),
            ("/tmp/.bb-copy.AbC123xyz0/..", false),
            ("/tmp/.bb-copy.AbC12 xyz0", false),
            ("/etc/.bb-copy.AbC123xyz0", false),
            ("", false),
        ];
        for (dir, ok) in cases {
            assert_eq!(checked_dir(dir).is_some(), ok, "{dir:?}");
        }
    }
}
