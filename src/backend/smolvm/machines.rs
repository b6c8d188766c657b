//! bot-bottle's machines, as `smolvm machine ls --json` shows them: one
//! call lists them all. Parsing and planning are pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{SMOLVM, argv};
use crate::backend::labels::{Homes, LABEL_HOME, LABEL_SLUG};
use crate::backend::{BackendKind, CleanupPart};
use crate::exec::{ExecError, Sink};
use crate::state::Home;

/// One machine bot-bottle made (it carries the slug label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub name: String,
    pub slug: String,
    /// The home that made it; none on a machine older than the label.
    pub home: Option<String>,
    pub running: bool,
    /// Unix seconds.
    pub created_at: u64,
}

/// The fields of smolvm's `machine_status_json` that bot-bottle reads;
/// the rest are ignored.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
    state: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    created_at: Option<u64>,
}

/// The machines labelled with a slug, from `ls --json`'s output.
pub fn parse(json: &str) -> Result<Vec<Machine>, String> {
    let listed: Vec<Listed> =
        serde_json::from_str(json.trim()).map_err(|e| format!("unreadable `ls --json`: {e}"))?;
    Ok(listed
        .into_iter()
        .filter_map(|m| {
            let slug = m.labels.get(LABEL_SLUG)?.clone();
            Some(Machine {
                running: m.state == "running",
                home: m.labels.get(LABEL_HOME).cloned(),
                name: m.name,
                slug,
                created_at: m.created_at.unwrap_or(0),
            })
        })
        .collect())
}

/// Every machine bot-bottle made, running or not.
pub fn list() -> Result<Vec<Machine>, ExecError> {
    let out = SMOLVM.output(&mut SMOLVM.command(argv::list()))?;
    parse(&String::from_utf8_lossy(&out.stdout)).map_err(|reason| ExecError::Spawn {
        program: "smolvm machine ls".into(),
        source: std::io::Error::other(reason),
    })
}

/// The machines `homes` sees: one call.
pub fn seen(home: &Home, homes: &Homes) -> Result<Vec<Machine>, ExecError> {
    Ok(list()?
        .into_iter()
        .filter(|m| homes.sees(m.home.as_deref(), || home.has_bottle(&m.slug)))
        .collect())
}

/// smolmachines' part of `cleanup`: its machines, stopped and deleted
/// before docker takes their sidecars down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineCleanup {
    pub machines: Vec<Machine>,
}

impl CleanupPart for MachineCleanup {
    fn backend(&self) -> BackendKind {
        BackendKind::Smolmachines
    }

    fn is_empty(&self) -> bool {
        self.machines.is_empty()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if !self.machines.is_empty() {
            let names: Vec<String> = self
                .machines
                .iter()
                .map(|m| match m.running {
                    true => format!("{} (running)", m.name),
                    false => m.name.clone(),
                })
                .collect();
            let _ = writeln!(out, "  smolvm machines: {}", names.join(", "));
        }
        out
    }

    fn execute(&self, _sink: &Sink) -> Vec<String> {
        let mut failed = Vec::new();
        for m in &self.machines {
            if m.running
                && let Err(e) = SMOLVM.output(&mut SMOLVM.command(argv::stop(&m.name)))
            {
                failed.push(format!("machine {}: {e}", m.name));
                continue;
            }
            if let Err(e) = SMOLVM.output(&mut SMOLVM.command(argv::delete(&m.name))) {
                failed.push(format!("machine {}: {e}", m.name));
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_json_in_smolvms_shape() {
        // As smolvm's `machine_status_json` prints it (fields trimmed to a
        // few of each kind; unknown ones are ignored).
        let json = r#"[
          {"name": "bot-bottle-dev-abcde", "state": "running", "cpus": 1, "memory_mib": 512,
           "pid": 4242, "mounts": 1, "ports": 0, "created_at": 1764000000,
           "image": "/h/cache/agent.tar", "ephemeral": false, "gpu": false,
           "labels": {"dev.bot-bottle.slug": "dev-abcde", "dev.bot-bottle.agent": "dev",
                      "dev.bot-bottle.home": "0123456789ab"},
           "restart_policy": "never", "health_cmd": null, "network": true},
          {"name": "bot-bottle-old-zzzzz", "state": "stopped", "labels": {"dev.bot-bottle.slug": "old-zzzzz"},
           "created_at": 1763000000},
          {"name": "someone-elses", "state": "running", "labels": {}},
          {"name": "unlabelled", "state": "running"}
        ]"#;
        assert_eq!(
            parse(json).unwrap(),
            [
                Machine {
                    name: "bot-bottle-dev-abcde".into(),
                    slug: "dev-abcde".into(),
                    home: Some("0123456789ab".into()),
                    running: true,
                    created_at: 1764000000,
                },
                Machine {
                    name: "bot-bottle-old-zzzzz".into(),
                    slug: "old-zzzzz".into(),
                    home: None,
                    running: false,
                    created_at: 1763000000,
                },
            ]
        );
        assert_eq!(parse("[]\n").unwrap(), []);
        assert!(parse("No machines found").is_err());
    }

    #[test]
    fn the_cleanup_section_names_each_machine() {
        let plan = MachineCleanup {
            machines: parse(
                r#"[{"name":"bot-bottle-a-1","state":"running","labels":{"dev.bot-bottle.slug":"a-1"}},
                    {"name":"bot-bottle-b-2","state":"stopped","labels":{"dev.bot-bottle.slug":"b-2"}}]"#,
            )
            .unwrap(),
        };
        assert_eq!(
            plan.render(),
            "  smolvm machines: bot-bottle-a-1 (running), bot-bottle-b-2\n"
        );
        assert!(MachineCleanup::default().is_empty());
    }
}
