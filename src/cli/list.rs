//! `bot-bottle list active [--json]`.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::backend::docker::enumerate::{self, ActiveBottle};
use crate::state::Home;

#[derive(Debug, Subcommand)]
pub enum ListCommand {
    /// The running bottles: backend, identity, agent, start time, sidecars up.
    Active {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ListCommand) -> Result<ExitCode, Failure> {
    let ListCommand::Active { json } = cmd;
    let home = Home::from_env()?;
    let bottles = enumerate::active(&home)?;
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
            enumerate::services_text(b),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}
