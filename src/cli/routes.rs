//! `bot-bottle routes edit SLUG`: the live routes in $EDITOR; the result is
//! checked, applied with a reload, and audited as an operator edit.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::exec;
use crate::state::{Home, Slug};
use crate::supervise::apply;

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Edit a running bottle's routes.
    Edit {
        /// The bottle's identity.
        #[arg(value_parser = Slug::parse_arg, add = super::completions::running())]
        slug: Slug,
    },
}

pub fn run(cmd: RoutesCommand) -> Result<ExitCode, Failure> {
    let RoutesCommand::Edit { slug } = cmd;
    let home = Home::from_env()?;
    let (_, text) = apply::routes_text(&home, &slug)?;
    let dir = tempfile_dir()?;
    let path = dir.join("routes.json");
    std::fs::write(&path, &text)
        .map_err(|e| Failure::runtime(format!("{}: {e}", path.display()), None))?;
    let result = (|| {
        exec::edit(&path)?;
        let edited = std::fs::read_to_string(&path)
            .map_err(|e| Failure::runtime(format!("{}: {e}", path.display()), None))?;
        Ok::<_, Failure>(apply::edit_routes(&home, &slug, &edited)?)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    match result? {
        None => eprintln!("bot-bottle: no change"),
        Some(diff) => {
            eprint!("{diff}");
            eprintln!("bot-bottle: routes of {slug} updated and reloaded");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> Result<std::path::PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("bot-bottle-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::runtime(format!("{}: {e}", dir.display()), None))?;
    Ok(dir)
}
