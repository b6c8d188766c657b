//! The decision log: one JSON line per request the proxy allowed or
//! refused, in `decisions.jsonl` of its state folder. It never holds a
//! secret or a query string.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub time: String,
    /// "allow" or "deny".
    pub action: &'static str,
    pub method: String,
    /// scheme://host/path, without the query.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The MCP tool the denial pointed the agent at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Decision {
    pub fn new(action: &'static str, method: &str, url: &str) -> Decision {
        Decision {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            action,
            method: method.to_owned(),
            url: url.split('?').next().unwrap_or(url).to_owned(),
            reason: None,
            tool: None,
            status: None,
        }
    }
}

pub struct Log {
    file: Option<Mutex<File>>,
}

impl Log {
    /// Appends to `path`; if it cannot be opened, decisions go to stderr.
    pub fn open(path: &Path) -> Log {
        let file = OpenOptions::new().create(true).append(true).open(path).ok();
        if file.is_none() {
            eprintln!(
                "egress: cannot open {}; logging decisions to stderr",
                path.display()
            );
        }
        Log {
            file: file.map(Mutex::new),
        }
    }

    pub fn record(&self, decision: &Decision) {
        let Ok(mut line) = serde_json::to_string(decision) else {
            return;
        };
        line.push('\n');
        match &self.file {
            Some(file) => {
                if let Ok(mut f) = file.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => eprint!("{line}"),
        }
    }
}
