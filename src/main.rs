//! bot-bottle: run AI coding agents in sandboxed bottles.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bot_bottle::cli::complete_from_env();
    let cli = bot_bottle::cli::Cli::parse();
    if cli.is_plain_command() {
        // Like other command-line tools: `bot-bottle list active | head`
        // ends quietly when head does. Servers keep ignoring SIGPIPE.
        // SAFETY: setting a signal's disposition before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match bot_bottle::cli::run(cli) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}
