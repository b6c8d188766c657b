//! `bot-bottle stop SLUG`: take a bottle down and settle its state as after
//! a clean exit (kept only when marked for resume).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;

use super::Failure;
use crate::backend::docker::session;
use crate::exec::Sink;
use crate::launch::LaunchError;
use crate::launch::lifecycle::{self, Context, Settled};
use crate::provider::Provider;
use crate::state::{Home, Slug};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The bottle's identity.
    #[arg(value_parser = Slug::parse_arg)]
    slug: Slug,
}

pub fn run(args: StopArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let meta = home.read_metadata(&args.slug).ok();
    if meta.is_none() && !session::is_running(&args.slug)? {
        return Err(LaunchError::NotRunning(args.slug.into_string()).into());
    }
    let ctx = Context {
        home: &home,
        sink: &Sink::Stderr,
        interrupted: &AtomicBool::new(false),
    };
    let provider = meta.map_or(Provider::Shell, |m| m.provider);
    match lifecycle::take_down(&ctx, &args.slug, provider)? {
        Settled::Preserved => eprintln!(
            "bot-bottle: stopped {}; its state is kept: bot-bottle resume {}",
            args.slug, args.slug
        ),
        Settled::Removed | Settled::Gone => eprintln!("bot-bottle: stopped {}", args.slug),
    }
    Ok(ExitCode::SUCCESS)
}
