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

/// What a copy into the agent reports as it goes, and when it gives up.
#[derive(Clone, Copy)]
pub struct CopyWatch<'a> {
    /// What the copy comes to (the survey's count; 0: not known).
    pub total: u64,
    /// Takes the progress lines (`Progress`).
    pub report: &'a dyn Fn(&str),
    /// True once the copy is to stop: the bottle was taken down, or the
    /// operator interrupted. Asked from another thread, every
    /// `CopyWatch::POLL`.
    pub stopped: &'a (dyn Fn() -> bool + Sync),
}

impl CopyWatch<'_> {
    pub const POLL: std::time::Duration = std::time::Duration::from_millis(250);
}

/// Decides when a copy says how far it is: every `Progress::EVERY`, or
/// each time another tenth of the total is through, whichever comes first.
#[derive(Debug, Clone)]
pub struct Progress {
    total: u64,
    started: std::time::Instant,
    last_time: std::time::Instant,
    last_tenth: u64,
}

impl Progress {
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(2);

    pub fn new(total: u64, now: std::time::Instant) -> Progress {
        Progress {
            total,
            started: now,
            last_time: now,
            last_tenth: 0,
        }
    }

    /// The line to print once `copied` bytes are through at `now`, if one
    /// is due. What is through may pass the total (the archive's headers):
    /// it is shown as the total.
    pub fn update(&mut self, copied: u64, now: std::time::Instant) -> Option<String> {
        let tenth = match self.total {
            0 => 0,
            total => (copied.min(total) as u128 * 10 / total as u128) as u64,
        };
        let due = now.duration_since(self.last_time) >= Progress::EVERY
            || (tenth > self.last_tenth && tenth < 10);
        if !due || copied == 0 {
            return None;
        }
        self.last_time = now;
        self.last_tenth = tenth;
        let size = crate::plan::size_text;
        Some(match self.total {
            0 => format!("bot-bottle: copied {}", size(copied)),
            total => format!(
                "bot-bottle: copied {} of {} ({} s)",
                size(copied.min(total)),
                size(total),
                now.duration_since(self.started).as_secs()
            ),
        })
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
    fn progress_is_told_every_two_seconds_or_tenth() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        const MIB: u64 = 1 << 20;
        // (ms since the start, bytes through, the line or none)
        let cases: &[(u64, u64, Option<&str>)] = &[
            (100, 0, None),
            (500, 5 * MIB, None),
            (900, 9 * MIB, None),
            (1000, 10 * MIB, Some("copied 10.0 MiB of 100.0 MiB (1 s)")),
            (1500, 19 * MIB, None),
            (2900, 19 * MIB, None),
            (3000, 19 * MIB, Some("copied 19.0 MiB of 100.0 MiB (3 s)")),
            (3100, 45 * MIB, Some("copied 45.0 MiB of 100.0 MiB (3 s)")),
            (3200, 49 * MIB, None),
            (9000, 99 * MIB, Some("copied 99.0 MiB of 100.0 MiB (9 s)")),
            // The archive's headers pass the total; the end is no tenth.
            (9100, 101 * MIB, None),
            (
                11200,
                101 * MIB,
                Some("copied 100.0 MiB of 100.0 MiB (11 s)"),
            ),
        ];
        let mut progress = Progress::new(100 * MIB, t0);
        for (ms, copied, want) in cases {
            let got = progress.update(*copied, at(*ms));
            let want = want.map(|w| format!("bot-bottle: {w}"));
            assert_eq!(got, want, "at {ms} ms, {copied} bytes");
        }
        // Not knowing the total, only the time counts.
        let mut progress = Progress::new(0, t0);
        assert_eq!(progress.update(5 * MIB, at(1000)), None);
        assert_eq!(
            progress.update(7 * MIB, at(2000)).as_deref(),
            Some("bot-bottle: copied 7.0 MiB")
        );
    }

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
