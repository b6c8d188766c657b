//! `bot-bottle proposals [--json]`: what agents are waiting for, across
//! bottles, each with what approving it would grant, in full.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use serde::Serialize;

use super::Failure;
use crate::state::Home;
use crate::supervise::apply;

#[derive(Debug, Args)]
pub struct ProposalsArgs {
    /// A JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    slug: String,
    tool: String,
    summary: String,
    justification: String,
    /// Seconds since it was asked.
    age: u64,
    created_at: String,
    /// What approving it grants, line by line.
    grants: Vec<String>,
    /// Approving needs `--widen-credential`.
    widens_credential: bool,
}

pub fn run(args: ProposalsArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let now = SystemTime::now();
    let rows: Vec<Row> = apply::pending(&home)?
        .into_iter()
        .map(
            |apply::Pending {
                 proposal: p,
                 preview,
             }| Row {
                age: humantime::parse_rfc3339(&p.created_at)
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .map_or(0, |d| d.as_secs()),
                summary: p.request.summary(),
                tool: p.request.tool().to_owned(),
                id: p.id,
                slug: p.slug,
                justification: p.justification,
                created_at: p.created_at,
                grants: preview.lines,
                widens_credential: preview.widens_credential,
            },
        )
        .collect();
    if args.json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::runtime(e.to_string(), None))?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("bot-bottle: no pending proposals");
    }
    for r in rows {
        let why: String = r
            .justification
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{}  {}  {}  {}  ({}s ago)\n    why: {why}",
            r.id, r.slug, r.tool, r.summary, r.age
        );
        for line in &r.grants {
            println!("    | {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
