//! `bot-bottle approve ID [--digest D] [--token-env NAME] [--widen-credential]`
//! and `bot-bottle reject ID [--reason TEXT]`: the operator's answer; the
//! agent's tool call returns it. Approving applies exactly what `bot-bottle
//! proposals` last showed for the proposal (its digest; or the one given
//! with `--digest`), and nothing when the proposal shows anything else now.
//! A held push is decided by the bottle's git gate, which must be running;
//! approving one prints what the gate did (landed, forwarded).

use std::process::ExitCode;

use clap::Args;

use super::Failure;
use crate::exec::Sink;
use crate::state::Home;
use crate::supervise::apply::{self, Applied, Approval};

#[derive(Debug, Args)]
pub(super) struct ApproveArgs {
    /// The proposal's id, as `bot-bottle proposals` shows it.
    id: String,
    /// The digest of what you read (`bot-bottle proposals` shows it), for
    /// scripts; without it, the one `proposals` last showed for this id.
    #[arg(long, value_name = "D")]
    digest: Option<String>,
    /// The host variable holding the credential a new route asks for.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// Confirm that a route's credential may go to the new paths asked for.
    #[arg(long)]
    widen_credential: bool,
}

#[derive(Debug, Args)]
pub(super) struct RejectArgs {
    /// The proposal's id.
    id: String,
    /// Why; the agent reads it.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub(super) fn approve(args: ApproveArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let shown = args
        .digest
        .or_else(|| apply::shown::last_shown(&home, &args.id));
    let approval = Approval {
        token_env: args.token_env.as_deref(),
        widen_credential: args.widen_credential,
        digest: shown.as_deref(),
    };
    let (proposal, applied) = apply::approve(&home, &args.id, &approval, &Sink::Stderr)?;
    match applied {
        Applied::Routes { note } => eprintln!(
            "bot-bottle: approved {} for {}: {note}",
            proposal.id, proposal.slug
        ),
        Applied::Rebuild { resume } => {
            eprintln!(
                "bot-bottle: approved {}; {} was taken down to be rebuilt:",
                proposal.id, proposal.slug
            );
            println!("{resume}");
        }
        Applied::Git { note } => {
            eprintln!(
                "bot-bottle: approved {} for {}; the git gate says:",
                proposal.id, proposal.slug
            );
            for line in note.lines() {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn reject(args: RejectArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let proposal = apply::reject(&home, &args.id, args.reason.as_deref())?;
    eprintln!("bot-bottle: rejected {} for {}", proposal.id, proposal.slug);
    Ok(ExitCode::SUCCESS)
}
