//! `bot-bottle trust [DIR]`: show what a project's manifest makes
//! bot-bottle read, defines and reaches, and record its digest once the
//! operator says yes; `--revoke` forgets it (see `launch::trust`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Failure, confirm, home_and_cwd};
use crate::launch::trust;
use crate::manifest::Sources;
use crate::text::inert;

#[derive(Debug, Args)]
pub(super) struct TrustArgs {
    /// The project's folder [default: this directory].
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Trust it without asking (what it is trusted with is still shown).
    #[arg(long, short = 'y', conflicts_with = "revoke")]
    yes: bool,
    /// Forget it: its agents and bottles are not used until trusted again.
    #[arg(long)]
    revoke: bool,
}

pub(super) fn run(args: TrustArgs) -> Result<ExitCode, Failure> {
    let (home, here) = home_and_cwd()?;
    let dir = match args.dir {
        Some(dir) => here.join(dir),
        None => here,
    };
    if args.revoke {
        match trust::revoke(&home, &dir)? {
            true => eprintln!(
                "bot-bottle: {} is no longer trusted: its manifest's agents and bottles are not used",
                dir.display()
            ),
            false => eprintln!("bot-bottle: {} was not trusted", dir.display()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sources = Sources::new(&home.root, &dir);
    let summary = trust::summary(&sources)?;
    // Names in it are the repository's: shown inert.
    for line in summary.render().lines() {
        println!("{}", inert(line));
    }
    if trust::is_trusted(&home, &summary)? {
        eprintln!(
            "bot-bottle: {} in {} is trusted already, as it is",
            summary.shown,
            summary.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "cannot ask \"trust it?\": there is no terminal; nothing was trusted",
                Some("read the above, then pass --yes to trust it".into()),
            ));
        }
        if !confirm("trust it, and let its agents and bottles reach what it lists above?")? {
            eprintln!("bot-bottle: not trusted");
            return Ok(ExitCode::SUCCESS);
        }
    }
    trust::trust(&home, &sources, &summary)?;
    eprintln!(
        "bot-bottle: trusted {} in {}: its agents and bottles are used until a file of it changes",
        summary.shown,
        summary.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
