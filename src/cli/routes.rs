//! `bot-bottle routes edit SLUG`: the live routes in $EDITOR; the result is
//! checked, applied with a reload, and audited as an operator edit.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::state::{Home, Slug};
use crate::supervise::apply;

#[derive(Debug, Subcommand)]
pub(super) enum RoutesCommand {
    /// Edit a running bottle's routes.
    Edit {
        /// The bottle's identity.
        #[arg(value_parser = Slug::parse_arg, add = super::completions::running())]
        slug: Slug,
    },
}

pub(super) fn run(cmd: RoutesCommand) -> Result<ExitCode, Failure> {
    let RoutesCommand::Edit { slug } = cmd;
    let home = Home::from_env()?;
    match apply::edit_routes_in_editor(&home, &slug)? {
        None => eprintln!("bot-bottle: no change"),
        Some(diff) => {
            eprint!("{diff}");
            eprintln!("bot-bottle: routes of {slug} updated and reloaded");
        }
    }
    Ok(ExitCode::SUCCESS)
}
