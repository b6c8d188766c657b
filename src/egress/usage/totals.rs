//! The running totals of a bottle's token usage, in `usage.json` of
//! egress's state folder:
//!
//! ```json
//! {"models": {"<model>": {"requests": 1, "input": 0, "output": 0,
//!   "cache_read": 0, "cache_write": 0}}, "updated_at": "<rfc3339>"}
//! ```
//!
//! Egress loads it at start (a restarted egress keeps counting), adds each
//! answer's usage as it ends, and writes it atomically (aside, then
//! renamed), at most every `WRITE_INTERVAL`. Bounded: at most
//! `MODEL_LIMIT` models are kept by name, the rest count under
//! `OTHER_MODEL`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Usage, model_name};
use crate::egress::config::USAGE_FILE;

/// Models kept by name; the others count under `OTHER_MODEL`.
pub(crate) const MODEL_LIMIT: usize = 64;
/// Where the models past `MODEL_LIMIT` are counted.
pub(crate) const OTHER_MODEL: &str = "other";
/// The largest `usage.json` read.
pub(crate) const USAGE_FILE_LIMIT: u64 = 1024 * 1024;
/// The least time between two writes of `usage.json`.
const WRITE_INTERVAL: Duration = Duration::from_millis(250);

/// What `usage.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsageTotals {
    /// The sums per model, by the model's name.
    #[serde(default)]
    pub(crate) models: BTreeMap<String, ModelTotals>,
    /// When egress last wrote the file (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) updated_at: Option<String>,
}

/// The sums for one model: answers that reported usage, and their tokens
/// (see `Usage` for what each count means).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ModelTotals {
    /// Answers that reported usage.
    #[serde(default)]
    pub(crate) requests: u64,
    /// Input tokens not served from or written to the cache.
    #[serde(default)]
    pub(crate) input: u64,
    /// Output tokens.
    #[serde(default)]
    pub(crate) output: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub(crate) cache_read: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub(crate) cache_write: u64,
}

impl ModelTotals {
    fn add(&mut self, other: &ModelTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
    }
}

impl From<&Usage> for ModelTotals {
    fn from(u: &Usage) -> ModelTotals {
        ModelTotals {
            requests: 1,
            input: u.input,
            output: u.output,
            cache_read: u.cache_read,
            cache_write: u.cache_write,
        }
    }
}

/// `usage.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the JSON expected.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

impl UsageTotals {
    /// The totals in `path` (`usage.json` of egress's state folder); None
    /// when egress has written none yet. Read without following a link,
    /// at most `USAGE_FILE_LIMIT` bytes.
    pub(crate) fn read(path: &Path) -> Result<Option<UsageTotals>, UsageError> {
        let path = path.to_owned();
        let bytes = match crate::fileio::read_bounded(&path, USAGE_FILE_LIMIT) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(UsageError::Read { path, source }),
        };
        let read: UsageTotals =
            serde_json::from_slice(&bytes).map_err(|source| UsageError::Parse { path, source })?;
        // Kept to the same bounds as counted ones.
        let mut totals = UsageTotals {
            updated_at: read.updated_at,
            ..UsageTotals::default()
        };
        for (model, sums) in &read.models {
            totals.add(model, sums);
        }
        Ok(Some(totals))
    }

    /// Every token counted (input, cached or not, and output), over every
    /// model: what a token budget is measured against.
    pub(crate) fn tokens(&self) -> u64 {
        self.models.values().fold(0u64, |sum, m| {
            sum.saturating_add(m.input)
                .saturating_add(m.output)
                .saturating_add(m.cache_read)
                .saturating_add(m.cache_write)
        })
    }

    /// Adds `sums` for `model` (its name made safe to keep), or for
    /// `OTHER_MODEL` when `MODEL_LIMIT` other models are already kept.
    pub(crate) fn add(&mut self, model: &str, sums: &ModelTotals) {
        let name = model_name(model);
        let named = self.models.len() - usize::from(self.models.contains_key(OTHER_MODEL));
        let key = if self.models.contains_key(&name) || named < MODEL_LIMIT {
            name
        } else {
            OTHER_MODEL.to_owned()
        };
        self.models.entry(key).or_default().add(sums);
    }
}

/// The totals egress keeps, and their file: each answer's usage is added
/// as it ends; the file is written soon after, coalesced.
pub(crate) struct Tally {
    path: PathBuf,
    state: Mutex<State>,
    /// Held while writing, so that writes land in the order of their
    /// snapshots.
    writing: Mutex<()>,
}

struct State {
    totals: UsageTotals,
    /// Changed since the last write.
    dirty: bool,
    /// A write is on its way.
    scheduled: bool,
    last_write: Option<Instant>,
}

impl Tally {
    /// The tally of egress's state folder `dir`, from its `usage.json`
    /// when there is one (one that cannot be read is said on stderr, and
    /// counting starts over).
    pub(crate) fn open(dir: &Path) -> Arc<Tally> {
        let path = dir.join(USAGE_FILE);
        let totals = match UsageTotals::read(&path) {
            Ok(totals) => totals.unwrap_or_default(),
            Err(e) => {
                eprintln!("egress: cannot read the usage totals, counting from zero: {e}");
                UsageTotals::default()
            }
        };
        Arc::new(Tally {
            path,
            state: Mutex::new(State {
                totals,
                dirty: false,
                scheduled: false,
                last_write: None,
            }),
            writing: Mutex::new(()),
        })
    }

    /// Adds one answer's usage; the file is written within
    /// `WRITE_INTERVAL` (at once without a tokio runtime).
    pub(crate) fn record(self: &Arc<Self>, usage: &Usage) {
        let delay = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.totals.add(&usage.model, &ModelTotals::from(usage));
            state.dirty = true;
            if state.scheduled {
                return;
            }
            state.scheduled = true;
            state.last_write.map_or(Duration::ZERO, |t| {
                WRITE_INTERVAL.saturating_sub(t.elapsed())
            })
        };
        let me = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = tokio::task::spawn_blocking(move || me.flush()).await;
                });
            }
            Err(_) => me.flush(),
        }
    }

    /// Writes the file now if anything changed since it was last written.
    pub(crate) fn flush(&self) {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.scheduled = false;
            if !state.dirty {
                return;
            }
            state.dirty = false;
            state.last_write = Some(Instant::now());
            state.totals.updated_at =
                Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
            state.totals.clone()
        };
        let written = serde_json::to_vec_pretty(&snapshot)
            .map_err(|e| e.to_string())
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                write_aside(&self.path, &bytes).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            eprintln!("egress: cannot write the usage totals: {e}");
        }
    }

    /// Every token counted so far (see `UsageTotals::tokens`).
    pub(crate) fn tokens(&self) -> u64 {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.totals.tokens()
    }

    /// What the tokens counted so far cost at `prices`, in US dollars
    /// (a model with no price counts as 0).
    pub(crate) fn cost(&self, prices: &super::price::Prices) -> f64 {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        prices.cost(&state.totals).0
    }

    /// The totals so far.
    #[cfg(test)]
    pub(crate) fn totals(&self) -> UsageTotals {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.totals.clone()
    }
}

/// Writes `bytes` to `path` whole or not at all: aside in its folder (a
/// folder of egress's own, which nothing else writes), then renamed.
fn write_aside(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let aside = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&aside, bytes)?;
    std::fs::rename(&aside, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&aside);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(model: &str, input: u64) -> Usage {
        Usage {
            model: model.into(),
            input,
            output: 2,
            cache_read: 3,
            cache_write: 4,
        }
    }

    #[test]
    fn sums_per_model_and_bounds_the_names() {
        let mut t = UsageTotals::default();
        for i in 0..MODEL_LIMIT + 5 {
            let u = usage(&format!("m{i}"), 1);
            t.add(&u.model, &ModelTotals::from(&u));
        }
        let u = usage("m0", 10);
        t.add(&u.model, &ModelTotals::from(&u));
        assert_eq!(t.models.len(), MODEL_LIMIT + 1);
        assert_eq!(t.models["m0"].requests, 2);
        assert_eq!(t.models["m0"].input, 11);
        assert_eq!(t.models[OTHER_MODEL].requests, 5);
        assert_eq!(t.models[OTHER_MODEL].cache_write, 20);
        let long = format!("{}\u{1b}[31m", "x".repeat(300));
        let mut t = UsageTotals::default();
        t.add(&long, &ModelTotals::default());
        let name = t.models.keys().next().unwrap();
        assert_eq!(name.len(), 128);
        assert!(!name.contains('\u{1b}'));
    }

    #[test]
    fn the_file_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(USAGE_FILE);
        assert_eq!(UsageTotals::read(&file).unwrap(), None);
        let tally = Tally::open(dir.path());
        tally.record(&usage("claude", 5));
        tally.record(&usage("claude", 5));
        tally.flush();
        let read = UsageTotals::read(&file).unwrap().unwrap();
        assert_eq!(read.models, tally.totals().models);
        assert!(read.updated_at.is_some());
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(USAGE_FILE)).unwrap()).unwrap();
        assert_eq!(
            json["models"]["claude"],
            serde_json::json!({"requests": 2, "input": 10, "output": 4, "cache_read": 6, "cache_write": 8})
        );

        let again = Tally::open(dir.path());
        again.record(&usage("gpt", 1));
        let sums = again.totals();
        assert_eq!(sums.models["claude"].requests, 2);
        assert_eq!(sums.models["gpt"].requests, 1);

        std::fs::write(&file, "not json").unwrap();
        assert!(UsageTotals::read(&file).is_err());
        assert_eq!(Tally::open(dir.path()).totals(), UsageTotals::default());
    }

    #[tokio::test]
    async fn writes_are_coalesced() {
        let dir = tempfile::tempdir().unwrap();
        let tally = Tally::open(dir.path());
        for _ in 0..100 {
            tally.record(&usage("m", 1));
        }
        let path = dir.path().join(USAGE_FILE);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(t)) = UsageTotals::read(&path)
                && t.models["m"].requests == 100
            {
                break;
            }
            assert!(Instant::now() < deadline, "{path:?} never had the 100");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
