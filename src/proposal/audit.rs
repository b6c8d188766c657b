//! The audit log: `audit/<slug>.jsonl` under `$BOT_BOTTLE_HOME`, one line
//! per decision or operator edit, with a diff of what changed. It outlives
//! the bottle (`cleanup` leaves it).

use std::fs::OpenOptions;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::Proposal;
use super::queue::now;
use crate::state::{Home, StateError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) time: String,
    /// Who asked: one of `contract::audit::actor`.
    pub(crate) actor: String,
    /// The tool, or "routes-edit".
    pub(crate) tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) proposal: Option<String>,
    /// What was decided: one of `contract::audit::decision`.
    pub(crate) decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// A unified diff of the routes (or the Dockerfile) before and after.
    pub(crate) diff: String,
}

impl Entry {
    /// The operator's decision on an agent's proposal.
    pub(crate) fn decision(
        proposal: &Proposal,
        decision: &str,
        reason: Option<String>,
        diff: String,
    ) -> Entry {
        Entry {
            time: now(),
            actor: proposal.source.name().into(),
            tool: proposal.request.tool().into(),
            proposal: Some(proposal.id.clone()),
            decision: decision.into(),
            reason,
            diff,
        }
    }
}

pub(crate) fn append(home: &Home, slug: &str, entry: &Entry) -> Result<(), StateError> {
    let path = home.audit_log(slug);
    let io = |e: std::io::Error| StateError::Io {
        path: path.clone(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut line = serde_json::to_string(entry).map_err(|e| io(std::io::Error::other(e)))?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)
}

#[cfg(test)]
pub(crate) fn read(home: &Home, slug: &str) -> Vec<Entry> {
    std::fs::read_to_string(home.audit_log(slug))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
