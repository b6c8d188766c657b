//! The decision log: one JSON line per request the proxy allowed or
//! refused, in `decisions.jsonl` of its state folder. It never holds a
//! secret or a query string.
//!
//! Bounded, since the agent decides how many requests there are and what
//! their URLs say: each field is clipped, and past a size the file is
//! renamed to `decisions.jsonl.1` (replacing the previous one) and a new
//! one started, so at most twice the limit is ever on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

/// The size at which the log is rotated.
pub(crate) const LOG_LIMIT: u64 = 8 * 1024 * 1024;
/// The longest URL and reason kept, in bytes.
const FIELD_LIMIT: usize = 512;
const METHOD_LIMIT: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Decision {
    pub(crate) time: String,
    /// "allow" or "deny".
    pub(crate) action: &'static str,
    pub(crate) method: String,
    /// scheme://host/path, without the query.
    pub(crate) url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The MCP tool the denial pointed the agent at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
}

impl Decision {
    pub(crate) fn new(action: &'static str, method: &str, url: &str) -> Decision {
        Decision {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            action,
            method: clip(method, METHOD_LIMIT),
            url: clip(url.split('?').next().unwrap_or(url), FIELD_LIMIT),
            reason: None,
            tool: None,
            status: None,
        }
    }

    /// Sets the reason, clipped.
    pub(crate) fn because(mut self, reason: &str) -> Decision {
        self.reason = Some(clip(reason, FIELD_LIMIT));
        self
    }
}

/// At most `limit` bytes of `text`, cut at a character boundary, with a
/// mark when cut.
pub(crate) fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(crate) struct Log {
    state: Mutex<State>,
}

struct State {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    limit: u64,
}

impl Log {
    /// Appends to `path`; if it cannot be opened, decisions go to stderr.
    pub(crate) fn open(path: &Path) -> Log {
        Log::with_limit(path, LOG_LIMIT)
    }

    /// As `open`, rotating at `limit` bytes.
    pub(crate) fn with_limit(path: &Path, limit: u64) -> Log {
        let file = append(path);
        if file.is_none() {
            eprintln!(
                "egress: cannot open {}; logging decisions to stderr",
                path.display()
            );
        }
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Log {
            state: Mutex::new(State {
                path: path.to_owned(),
                file,
                size,
                limit,
            }),
        }
    }

    pub(crate) fn record(&self, decision: &Decision) {
        let Ok(mut line) = serde_json::to_string(decision) else {
            return;
        };
        line.push('\n');
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.file.is_some() && state.size + line.len() as u64 > state.limit {
            state.rotate();
        }
        match &mut state.file {
            Some(f) => {
                if f.write_all(line.as_bytes()).is_ok() {
                    state.size += line.len() as u64;
                }
            }
            None => eprint!("{line}"),
        }
    }
}

impl State {
    fn rotate(&mut self) {
        self.file = None;
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        let _ = std::fs::rename(&self.path, PathBuf::from(old));
        self.file = append(&self.path);
        self.size = 0;
    }
}

fn append(path: &Path) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_clipped() {
        let long = format!("https://a.com/{}", "é".repeat(1000));
        let d = Decision::new("deny", &"X".repeat(100), &long).because(&"r".repeat(5000));
        assert!(d.url.len() <= FIELD_LIMIT + "…".len() && d.url.ends_with('…'));
        assert!(d.reason.unwrap().len() <= FIELD_LIMIT + "…".len());
        assert_eq!(d.method.len(), METHOD_LIMIT + "…".len());
        assert_eq!(clip("short", 10), "short");
        assert_eq!(
            Decision::new("allow", "GET", "https://a/b?t=1").url,
            "https://a/b"
        );
    }

    #[test]
    fn the_log_rotates_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let log = Log::with_limit(&path, 4096);
        for i in 0..1000 {
            log.record(&Decision::new("deny", "GET", &format!("https://a.com/{i}")));
        }
        let current = std::fs::metadata(&path).unwrap().len();
        let old = std::fs::metadata(dir.path().join("decisions.jsonl.1"))
            .unwrap()
            .len();
        assert!(current <= 4096 && old <= 4096, "{current} {old}");
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("https://a.com/999"), "{last}");
        assert!(
            last.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
        // A log reopened after a restart counts what is already there.
        drop(log);
        let log = Log::with_limit(&path, 4096);
        for i in 0..100 {
            log.record(&Decision::new("deny", "GET", &format!("https://b.com/{i}")));
        }
        assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
    }
}
