//! bot-bottle: run AI coding agents in sandboxed bottles.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bot_bottle::cli::Cli::parse();
    match bot_bottle::cli::run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}
