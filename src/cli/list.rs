//! `bot-bottle list active [--json]`: the running bottles, each with the
//! branches its git gate landed in the operator's repository.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::backend::{self, ActiveBottle, active};
use crate::state::Home;

#[derive(Debug, Subcommand)]
pub(super) enum ListCommand {
    /// The running bottles: backend, identity, agent, start time, sidecars
    /// up, and the branches each one landed.
    Active {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(cmd: ListCommand) -> Result<ExitCode, Failure> {
    let ListCommand::Active { json } = cmd;
    let home = Home::from_env()?;
    let bottles = backend::enumerate_all(&home)?;
    if json {
        let text = serde_json::to_string_pretty(&bottles)
            .map_err(|e| Failure::runtime(e.to_string(), None))?;
        println!("{text}");
    } else if bottles.is_empty() {
        eprintln!("bot-bottle: no bottles are running");
    } else {
        print!("{}", table(&bottles));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(bottles: &[ActiveBottle]) -> String {
    let mut rows = vec![
        ["BACKEND", "SLUG", "AGENT", "STARTED", "SERVICES"]
            .map(String::from)
            .to_vec(),
    ];
    for b in bottles {
        rows.push(vec![
            b.backend.clone(),
            b.slug.clone(),
            b.agent.clone(),
            b.started_at.clone(),
            active::services_text(b),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let line = |r: &Vec<String>| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        format!("{}\n", cells.join("  ").trim_end())
    };
    let mut out = line(&rows[0]);
    for (row, b) in rows[1..].iter().zip(bottles) {
        out.push_str(&line(row));
        for landed in &b.landed {
            out.push_str(&format!("    landed: {}\n", landed.text()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Landed;

    fn bottle(slug: &str, landed: Vec<Landed>) -> ActiveBottle {
        ActiveBottle {
            backend: "docker".into(),
            slug: slug.into(),
            agent: "shell".into(),
            started_at: "2026-12-03T04:00:00Z".into(),
            services: vec!["egress".into(), "git-gate".into()],
            landed,
            label: slug.into(),
            color: "cyan".into(),
        }
    }

    fn feature() -> Landed {
        Landed {
            branch: "feature".into(),
            landed_as: "bot-bottle/dev-aaaaa/feature".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            forwarded: vec!["up".into()],
        }
    }

    #[test]
    fn the_table_shows_landed_branches_under_their_bottle() {
        let text = table(&[bottle("dev-aaaaa", vec![feature()]), bottle("b-1", vec![])]);
        assert_eq!(
            text,
            "\
BACKEND  SLUG       AGENT  STARTED               SERVICES
docker   dev-aaaaa  shell  2026-12-03T04:00:00Z  egress,git-gate
    landed: feature → bot-bottle/dev-aaaaa/feature @0123456 (→ up)
docker   b-1        shell  2026-12-03T04:00:00Z  egress,git-gate
"
        );
    }

    #[test]
    fn json_has_the_landed_branches() {
        let (_dir, home) = Home::temp();
        let gate = home.bottle("dev-aaaaa").gate_dir();
        std::fs::create_dir_all(&gate).unwrap();
        let landed = crate::gitgate::Landed {
            branches: vec![crate::gitgate::LandedBranch {
                branch: "feature".into(),
                landed_as: "bot-bottle/dev-aaaaa/feature".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                at: "2026-12-03T04:00:00Z".into(),
                forwarded: vec!["up".into()],
            }],
        };
        std::fs::write(
            gate.join(crate::gitgate::LANDED_FILE),
            serde_json::to_vec(&landed).unwrap(),
        )
        .unwrap();
        let read = crate::backend::active::landed(&home, "dev-aaaaa");
        assert_eq!(read, [feature()]);
        let json = serde_json::to_value([bottle("dev-aaaaa", read)]).unwrap();
        assert_eq!(
            json[0]["landed"],
            serde_json::json!([{"branch": "feature", "landed_as": "bot-bottle/dev-aaaaa/feature",
                "commit": "0123456789abcdef0123456789abcdef01234567", "forwarded": ["up"]}])
        );
        assert!(json[0].get("label").is_none());
    }
}
