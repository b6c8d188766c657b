//! `bot-bottle verify SLUG…|--all`: checks each bottle's seal from inside
//! its agent, now (see `launch::verify`). A bottle that fails is frozen.

use std::process::ExitCode;
use std::time::Instant;

use super::Failure;
use super::freeze::SwitchArgs;
use crate::launch::freeze;
use crate::launch::verify::{self, CheckError};
use crate::state::Home;

/// `args`: the bottles named, or `--all` of this home's running ones
/// (frozen ones are left as they are).
pub(super) fn run(args: SwitchArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let slugs: Vec<String> = match args.all {
        true => freeze::all(&home)?
            .into_values()
            .flatten()
            .filter(|s| {
                let frozen = home.bottle(s).is_frozen();
                if frozen {
                    eprintln!("bot-bottle: {s}: frozen, not checked");
                }
                !frozen
            })
            .collect(),
        false => {
            let slugs: Vec<String> = args.slugs.iter().map(|s| s.to_string()).collect();
            // Each must be this home's and running: said before any probe.
            freeze::named(&home, &slugs)?;
            for slug in &slugs {
                freeze::refuse_frozen(&home, slug)?;
            }
            slugs
        }
    };
    if slugs.is_empty() {
        eprintln!("bot-bottle: no bottle of this home is running; nothing to verify");
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let results: Vec<(String, Result<crate::verify::Report, CheckError>)> =
        std::thread::scope(|s| {
            let handles: Vec<_> = slugs
                .iter()
                .map(|slug| {
                    let home = &home;
                    s.spawn(move || (slug.clone(), verify::check(home, slug)))
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
    let took = started.elapsed().as_millis();
    let mut first_error = None;
    for (slug, result) in results {
        match result {
            Ok(report) => println!(
                "{slug}: sealed ✓ ({} probes from inside the agent, {took} ms)",
                report.probes
            ),
            Err(e) => {
                println!("{slug}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => Err(e.into()),
    }
}
