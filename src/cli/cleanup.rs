//! `bot-bottle cleanup [--yes]`: one plan for everything bot-bottle left
//! (bottles, stray containers and networks, state no bottle will resume),
//! one question, then each step best-effort and a summary of what failed.

use std::process::ExitCode;

use clap::Args;

use super::{Failure, confirm};
use crate::backend::docker::{cleanup, enumerate};
use crate::exec::Sink;
use crate::state::Home;

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Remove without asking.
    #[arg(long, short = 'y')]
    yes: bool,
}

pub fn run(args: CleanupArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let containers = enumerate::containers()?;
    let networks = enumerate::networks()?;
    let state = home.list_state()?;
    let plan = cleanup::plan(&containers, &networks, &state, |slug| {
        home.is_preserved(slug)
    });
    if plan.is_empty() {
        eprintln!("bot-bottle: nothing to clean up");
        if !plan.preserved.is_empty() {
            eprint!("{}", plan.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("bot-bottle: cleanup plan");
    eprint!("{}", plan.render());
    if !args.yes && !confirm("remove all of the above?")? {
        eprintln!("bot-bottle: nothing removed");
        return Ok(ExitCode::SUCCESS);
    }
    let failed = cleanup::execute(&plan, &home, &Sink::Stderr);
    if failed.is_empty() {
        eprintln!("bot-bottle: cleaned up");
        Ok(ExitCode::SUCCESS)
    } else {
        for line in &failed {
            eprintln!("bot-bottle: failed: {line}");
        }
        Err(Failure::runtime(
            format!("{} cleanup step(s) failed", failed.len()),
            None,
        ))
    }
}
