//! `bot-bottle image bootstrap`.

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::backend::docker::images::{self, BASE_IMAGE};
use crate::exec::Sink;

#[derive(Debug, Subcommand)]
pub(super) enum ImageCommand {
    /// Make the base image from Debian packages (debootstrap, then docker
    /// import), for hosts without a registry. Quick when it is there.
    Bootstrap,
}

pub(super) fn run(cmd: ImageCommand) -> Result<ExitCode, Failure> {
    let ImageCommand::Bootstrap = cmd;
    let built = images::bootstrap(&Sink::Stderr)?;
    if built {
        eprintln!("bot-bottle: made {BASE_IMAGE} from Debian packages");
    } else {
        eprintln!("bot-bottle: {BASE_IMAGE} is already there");
    }
    Ok(ExitCode::SUCCESS)
}
