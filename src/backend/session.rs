//! Running things in a bottle's agent, in the words every backend shares:
//! how a command is connected to the caller, what its exit code is, and
//! what a transcript snapshot came to and how far it may go.

/// What of a host folder `copy_in` copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    /// All of it, but the top-level entries named.
    AllBut(&'a [&'a str]),
    /// The paths named, relative to the folder, in a list file: each
    /// ended by a NUL, none read as an option of tar's (a repository's
    /// file may be named `--checkpoint-action=…`).
    Listed(&'a std::path::Path),
}

impl Selection<'_> {
    /// What `tar -c -C FOLDER` is given to archive this selection.
    pub fn tar_args(&self) -> Vec<String> {
        match self {
            Selection::AllBut(exclude) => exclude
                .iter()
                .map(|name| format!("--exclude=./{name}"))
                .chain([".".to_owned()])
                .collect(),
            Selection::Listed(list) => vec![
                "--null".into(),
                "--verbatim-files-from".into(),
                "--files-from".into(),
                list.display().to_string(),
            ],
        }
    }
}

/// How a command is connected to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// stdin passed through; a terminal too when there is one.
    Interactive { tty: bool },
    /// No stdin.
    Detached,
}

/// How long the seal's probes (`AgentRuntime::probe`) may take in all:
/// they give themselves 3 seconds; the rest is the engine's.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How `exec` (docker's, smolvm's) is connected: `-i` for stdin, `-t` and
/// the caller's `TERM` for a terminal.
pub fn io_flags(io: Io, term: Option<&str>) -> Vec<String> {
    let mut flags = Vec::new();
    if let Io::Interactive { tty } = io {
        flags.push("-i".into());
        if tty {
            flags.push("-t".into());
            if let Some(term) = term {
                flags.extend(["-e".into(), format!("TERM={term}")]);
            }
        }
    }
    flags
}

/// The exit code of a finished command: 128 + the signal when it was
/// killed.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// A transcript snapshot is at most this large, and takes at most this long:
/// the agent controls what is in its home.
pub const SNAPSHOT_LIMIT: u64 = 256 << 20;
pub const SNAPSHOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `SNAPSHOT_LIMIT`, or a lower one in bytes from
/// `BOT_BOTTLE_SNAPSHOT_LIMIT` (tests lower it; a higher one is ignored).
pub fn snapshot_limit() -> u64 {
    lowered("BOT_BOTTLE_SNAPSHOT_LIMIT").map_or(SNAPSHOT_LIMIT, |n| n.min(SNAPSHOT_LIMIT))
}

/// `SNAPSHOT_TIMEOUT`, or a lower one in seconds from
/// `BOT_BOTTLE_SNAPSHOT_TIMEOUT` (tests lower it; a higher one is ignored).
pub fn snapshot_timeout() -> std::time::Duration {
    lowered("BOT_BOTTLE_SNAPSHOT_TIMEOUT").map_or(SNAPSHOT_TIMEOUT, |n| {
        std::time::Duration::from_secs(n).min(SNAPSHOT_TIMEOUT)
    })
}

fn lowered(var: &str) -> Option<u64> {
    std::env::var(var).ok()?.trim().parse().ok()
}

/// What a snapshot of the agent's folder came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    Saved {
        bytes: u64,
    },
    /// The folder does not exist.
    Absent,
    /// Larger than the limit: cut off, nothing kept.
    TooLarge {
        limit: u64,
    },
    /// Slower than the timeout: cut off, nothing kept.
    TimedOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_is_what_tar_archives() {
        let list = std::path::Path::new("/s/copy.list");
        let cases: [(Selection, &[&str]); 3] = [
            (Selection::AllBut(&[]), &["."]),
            (
                Selection::AllBut(&[".git", "x y"]),
                &["--exclude=./.git", "--exclude=./x y", "."],
            ),
            (
                Selection::Listed(list),
                &[
                    "--null",
                    "--verbatim-files-from",
                    "--files-from",
                    "/s/copy.list",
                ],
            ),
        ];
        for (selection, want) in cases {
            assert_eq!(selection.tar_args(), want, "{selection:?}");
        }
    }
}
