//! Running things in a bottle's agent, in the words every backend shares:
//! how a command is connected to the caller, what its exit code is, and
//! what a transcript snapshot came to and how far it may go.

/// How a command is connected to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// stdin passed through; a terminal too when there is one.
    Interactive { tty: bool },
    /// No stdin.
    Detached,
}

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
