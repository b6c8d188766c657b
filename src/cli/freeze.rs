//! `bot-bottle freeze SLUG…|--all` and `thaw`: the kill switch. Frozen, a
//! bottle's egress refuses everything and its agent's processes are
//! paused, memory kept; `thaw` undoes it (see `launch::freeze`).

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::Failure;
use crate::launch::freeze::{self, Switch};
use crate::state::{Home, Slug};

/// The bottles a verb acts on: named, or `--all` (`freeze`, `thaw`,
/// `verify`).
#[derive(Debug, Args)]
pub(super) struct SwitchArgs {
    /// The bottles' identities.
    #[arg(
        value_parser = Slug::parse_arg,
        add = super::completions::running(),
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub(super) slugs: Vec<Slug>,
    /// Every running bottle of this home.
    #[arg(long)]
    pub(super) all: bool,
}

pub(super) fn run(args: SwitchArgs, to: Switch) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let started = Instant::now();
    let groups = match args.all {
        true => freeze::all(&home)?,
        false => {
            let slugs: Vec<String> = args.slugs.iter().map(|s| s.to_string()).collect();
            freeze::named(&home, &slugs)?
        }
    };
    let slugs: Vec<&String> = groups.values().flatten().collect();
    if slugs.is_empty() {
        eprintln!(
            "bot-bottle: no bottle of this home is running; nothing to {}",
            to.verb()
        );
        return Ok(ExitCode::SUCCESS);
    }
    freeze::switch(&home, &groups, to)?;
    let names = slugs
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let took = started.elapsed().as_millis();
    match to {
        Switch::Freeze => eprintln!(
            "bot-bottle: froze {names} in {took} ms: egress refuses everything and the agent is paused (bot-bottle thaw {})",
            if args.all { "--all" } else { names.as_str() }
        ),
        Switch::Thaw => eprintln!("bot-bottle: thawed {names} in {took} ms"),
    }
    Ok(ExitCode::SUCCESS)
}
