//! `bot-bottle cleanup [--yes]`: one plan for everything bot-bottle left
//! (bottles, stray containers and networks, state no bottle will resume),
//! one question, then each step best-effort and a summary of what failed.

use std::process::ExitCode;

use clap::Args;

use super::{Failure, confirm};
use crate::backend::{self, CleanupPart, Homes, orphans};
use crate::exec::Sink;
use crate::state::Home;

#[derive(Debug, Args)]
pub(super) struct CleanupArgs {
    /// Remove without asking.
    #[arg(long, short = 'y')]
    yes: bool,
}

pub(super) fn run(args: CleanupArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let available = backend::available();
    // This home's alone: never a bottle another home made on this engine.
    let ours = Homes {
        id: home.id()?,
        all: false,
    };
    // Machines before the sidecars they reach: the later backends first.
    let mut parts: Vec<Box<dyn CleanupPart>> = Vec::new();
    for kind in available.iter().rev() {
        parts.push(kind.backend().cleanup_plan(&home, &ours)?);
    }
    let folders: Vec<orphans::Folder> = home
        .list_state()?
        .into_iter()
        .map(|slug| orphans::Folder {
            preserved: home.is_preserved(&slug),
            backend: home.read_metadata(&slug).ok().map(|m| m.backend),
            slug,
        })
        .collect();
    let state = orphans::plan(&folders, &available);
    let mut text = String::new();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        text.push_str(&format!("--- {} ---\n{}", part.backend(), part.render()));
    }
    if !state.render().is_empty() {
        text.push_str(&format!("--- state ---\n{}", state.render()));
    }
    if parts.iter().all(|p| p.is_empty()) && state.is_empty() {
        eprintln!("bot-bottle: nothing to clean up");
        eprint!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("bot-bottle: cleanup plan");
    eprint!("{text}");
    if !args.yes && !confirm("remove all of the above?")? {
        eprintln!("bot-bottle: nothing removed");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = Vec::new();
    for part in &parts {
        failed.extend(part.execute(&Sink::Stderr));
    }
    for slug in &state.remove {
        if let Err(e) = home.remove_bottle_state(slug) {
            failed.push(format!("state {slug}: {e}"));
        }
    }
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
