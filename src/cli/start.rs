//! `bot-bottle start`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::{Failure, confirm, exit_code, has_tty, home_and_cwd, interrupt_flag, load_manifest};
use crate::backend;
use crate::backend::bringup::Context;
use crate::exec::Sink;
use crate::launch::choose::Choices;
use crate::launch::lifecycle::{self, Settled, Start};
use crate::launch::service::{self, Planned};
use crate::launch::steps::{Answer, Ask, Offer, Steps};
use crate::launch::{self, StartRequest};
use crate::manifest::Manifest;
use crate::picker;
use crate::state::Home;

#[derive(Debug, Args)]
pub(super) struct StartArgs {
    /// The agent to launch; with none, a picker (on a terminal).
    #[arg(add = super::completions::agents())]
    agent: Option<String>,
    /// A bottle to run in; repeat to compose several, in order.
    #[arg(long = "bottle", value_name = "BOTTLE")]
    bottles: Vec<String>,
    /// Where to run the bottle: docker or smolmachines [default:
    /// $BOT_BOTTLE_BACKEND, else the first available].
    #[arg(long, value_name = "NAME")]
    backend: Option<String>,
    /// A label for the bottle; its identity starts with it [default: the agent].
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// A color for it in the dashboard [default: the agent's, else one
    /// derived from the label].
    #[arg(long, value_name = "COLOR")]
    color: Option<String>,
    /// Copy this directory (or DIR, with --cwd=DIR) into the agent's
    /// workdir (it is not mounted).
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "."
    )]
    cwd: Option<PathBuf>,
    /// With --cwd in a git repository: copy the files git ignores too
    /// (build outputs, caches); without it they are left out.
    #[arg(long, requires = "cwd")]
    cwd_include_ignored: bool,
    /// Print the preflight and exit; writes nothing (also BOT_BOTTLE_DRY_RUN=1).
    #[arg(long)]
    dry_run: bool,
    /// Launch without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Leave the bottle running and print its identity, instead of attaching.
    #[arg(long)]
    detach: bool,
    /// Arguments appended to the agent's command.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

pub(super) fn run(args: StartArgs) -> Result<ExitCode, Failure> {
    let (home, cwd) = home_and_cwd()?;
    let backend = backend::select(
        args.backend.as_deref(),
        std::env::var("BOT_BOTTLE_BACKEND").ok().as_deref(),
    )
    .map_err(|e| match e {
        // No backend at all: the machine lacks what bottles need. A named
        // one that is not available says its fix in its one line.
        backend::BackendError::NoneAvailable { .. } => doctor_hint(e.into()),
        e => Failure::from(e),
    })?;
    let manifest = load_manifest(&home, &cwd)?;
    let dry_run = args.dry_run || std::env::var("BOT_BOTTLE_DRY_RUN").is_ok_and(|v| v == "1");

    let agent = match args.agent.clone() {
        Some(agent) => agent,
        None => match pick_agent(&manifest, &home)? {
            Some(agent) => agent,
            None => return Ok(ExitCode::SUCCESS),
        },
    };
    // On a terminal, with nothing composed by flags, the same steps as
    // the dashboard's `n`: bottles, label, color, a directory to copy.
    let composed = !args.bottles.is_empty()
        || args.label.is_some()
        || args.color.is_some()
        || args.cwd.is_some();
    let chosen = if composed || args.yes || args.detach || !has_tty() || !picker::available() {
        flagged(&args, &cwd)
    } else {
        match ask(&manifest, &home, &agent, &cwd)? {
            Some(chosen) => chosen,
            None => {
                eprintln!("bot-bottle: cancelled; nothing was started");
                return Ok(ExitCode::SUCCESS);
            }
        }
    };
    let mut request = chosen.request(agent, backend, cwd, args.args);
    request.include_ignored = args.cwd_include_ignored;
    // Bad input is the manifest's or the command's; a failure at run time
    // may be the machine's.
    let planned = plan(&manifest, &home, &request, dry_run).map_err(|f| match f.code {
        1 => doctor_hint(f),
        _ => f,
    })?;
    if dry_run {
        print!("{}", launch::preflight_text(&planned.prepared));
        eprintln!("bot-bottle: dry run: nothing was started or written");
        return Ok(ExitCode::SUCCESS);
    }
    launch(
        &home,
        &planned,
        &Options {
            yes: args.yes,
            detach: args.detach,
            start: Start::Fresh,
        },
    )
    .map_err(doctor_hint)
}

/// Points a failed start at `bot-bottle doctor`, as one more hint line
/// (not for an interrupt, which is no failure of the machine).
fn doctor_hint(mut failure: Failure) -> Failure {
    const DOCTOR: &str = "run `bot-bottle doctor` to check this machine";
    if failure.code != 130 {
        failure.hint = Some(match failure.hint.take() {
            Some(hint) => format!("{hint}\n  hint: {DOCTOR}"),
            None => DOCTOR.into(),
        });
    }
    failure
}

/// Plans the launch (see `launch::service::plan`); warnings go to stderr.
pub(super) fn plan(
    manifest: &Manifest,
    home: &Home,
    request: &StartRequest,
    dry_run: bool,
) -> Result<Planned, Failure> {
    let planned = service::plan(manifest, home, request, dry_run)?;
    for warning in &planned.warnings {
        eprintln!("bot-bottle: warning: {warning}");
    }
    Ok(planned)
}

pub(super) struct Options {
    pub yes: bool,
    pub detach: bool,
    pub start: Start,
}

/// Shows the preflight, asks, brings the bottle up, and either prints its
/// identity (`--detach`) or attaches and settles it when the session ends.
pub(super) fn launch(home: &Home, planned: &Planned, opts: &Options) -> Result<ExitCode, Failure> {
    let prepared = &planned.prepared;
    eprint!("{}", launch::preflight_text(prepared));
    if !opts.yes && !confirm("launch this agent?")? {
        eprintln!("bot-bottle: aborted; nothing was started");
        return Ok(ExitCode::SUCCESS);
    }
    let interrupted = interrupt_flag()?;
    let ctx = Context {
        home,
        sink: &Sink::Stderr,
        interrupted: &interrupted,
    };
    let slug = &prepared.slug;
    service::bring_up(&ctx, planned)?;
    if opts.detach {
        println!("{slug}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("bot-bottle: attaching to {slug}; the bottle is removed when the session ends");
    let provider = prepared.metadata.provider;
    let backend = prepared.backend();
    let code = match lifecycle::attach(
        backend,
        slug,
        provider,
        &prepared.plan.session,
        opts.start,
        has_tty(),
    ) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bot-bottle: error: {e}");
            1
        }
    };
    match lifecycle::end(&ctx, backend, slug, provider, code)? {
        Settled::Removed => {
            eprintln!("bot-bottle: session ended (exit {code}); bottle {slug} removed")
        }
        Settled::Preserved => {
            eprintln!(
                "bot-bottle: session ended (exit {code}); state kept. To resume this bottle:"
            );
            eprintln!("bot-bottle resume {slug}");
        }
        Settled::Gone => {
            eprintln!("bot-bottle: session ended (exit {code}); bottle {slug} was already stopped")
        }
    }
    Ok(exit_code(code))
}

fn pick_agent(manifest: &Manifest, home: &Home) -> Result<Option<String>, Failure> {
    if !picker::available() {
        return Err(Failure::usage(
            "no agent named, and no terminal to pick one on",
            Some(format!(
                "name one: bot-bottle start {}",
                manifest.agent_names().join("|")
            )),
        ));
    }
    // How many of each run (best effort: without docker, no counts).
    let running = backend::enumerate_all(home, false).unwrap_or_default();
    let items = manifest
        .agents
        .values()
        .map(|a| {
            let mut detail = a.description.clone().unwrap_or_default();
            let n = running.iter().filter(|b| b.agent == a.name).count();
            if n > 0 {
                detail.push_str(&format!(" ({n} running)"));
            }
            picker::Item {
                name: a.name.clone(),
                detail,
            }
        })
        .collect();
    picker::run(picker::Picker::new("agent", items))
        .map_err(|e| Failure::runtime(format!("the agent picker failed: {e}"), None))
}

/// What the flags chose; `--cwd` alone is `here`.
fn flagged(args: &StartArgs, here: &Path) -> Choices {
    Choices {
        bottles: args.bottles.clone(),
        label: args.label.clone(),
        color: args.color.clone(),
        copy: args.cwd.as_ref().map(|d| match d == Path::new(".") {
            true => here.to_path_buf(),
            false => here.join(d),
        }),
    }
}

/// The dashboard's `n` steps on the terminal (`launch::steps`): bottles
/// in order, a label no running bottle uses, a color, a directory to copy
/// in. `None` when the operator cancels.
fn ask(
    manifest: &Manifest,
    home: &Home,
    agent: &str,
    here: &Path,
) -> Result<Option<Choices>, Failure> {
    let failed =
        |e: std::io::Error| Failure::runtime(format!("the launch prompts failed: {e}"), None);
    let own = manifest.agent(agent)?;
    // Best effort: without docker, nothing is known to run.
    let running = backend::enumerate_all(home, false)
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.label)
        .collect();
    let mut steps = Steps::new(Offer {
        agent: agent.to_owned(),
        agent_color: own.color.clone(),
        own: launch::selected_bottles(own, &[]),
        bottles: manifest.bottles.keys().cloned().collect(),
        running,
        // Chosen already, by --backend or the machine.
        backends: Vec::new(),
        here: here.display().to_string(),
    });
    while let Some(ask) = steps.ask() {
        let answer = match ask {
            Ask::Bottles { items, chosen } => {
                picker::run(picker::MultiPicker::new("bottles", items, &chosen))
                    .map_err(failed)?
                    .map(Answer::Many)
            }
            Ask::Label { offer, problem } => {
                let prompt = picker::Prompt::new("label", &offer);
                let prompt = match problem {
                    Some(problem) => prompt.with_message(&problem),
                    None => prompt,
                };
                picker::run(prompt).map_err(failed)?.map(Answer::One)
            }
            Ask::Color { items } => picker::run(picker::Picker::new("color", items))
                .map_err(failed)?
                .map(Answer::One),
            Ask::Copy { offer } => {
                let prompt = picker::Prompt::new("copy a directory in", &offer)
                    .with_help("empty copies nothing · Ctrl-U clear · Esc cancel");
                picker::run(prompt).map_err(failed)?.map(Answer::One)
            }
            Ask::Backend { items } => picker::run(picker::Picker::new("backend", items))
                .map_err(failed)?
                .map(Answer::One),
        };
        match answer {
            Some(answer) => steps.answer(answer),
            None => return Ok(None),
        }
    }
    Ok(Some(steps.chosen().choices(here)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::dashboard::app::NewAgent;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: StartArgs,
    }

    fn flags(args: &[&str]) -> Choices {
        let cli =
            Cli::try_parse_from(std::iter::once("start").chain(args.iter().copied())).unwrap();
        flagged(&cli.args, Path::new("/proj"))
    }

    /// What the dashboard's `n` chose is what these flags give.
    #[test]
    fn the_dashboards_choices_are_starts_flags() {
        let here = Path::new("/proj");
        let new = |cwd: Option<&str>| NewAgent {
            agent: "shell".into(),
            bottles: vec!["extra".into(), "default".into()],
            label: "Fix bug".into(),
            color: "pink".into(),
            cwd: cwd.map(str::to_owned),
            backend: "docker".into(),
        };
        let composed = [
            "shell", "--bottle", "extra", "--bottle", "default", "--label", "Fix bug", "--color",
            "pink",
        ];
        // (what the dashboard's directory step had, the --cwd flag)
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (None, None),
            (Some("/proj"), Some("--cwd")),
            (Some("sub"), Some("--cwd=sub")),
            (Some("/elsewhere"), Some("--cwd=/elsewhere")),
        ];
        for (typed, flag) in cases {
            let mut args = composed.to_vec();
            args.extend(*flag);
            assert_eq!(new(*typed).choices(here), flags(&args), "{flag:?}");
        }
        let request = new(Some("sub")).choices(here).request(
            "shell".into(),
            crate::backend::BackendKind::Docker,
            here.to_path_buf(),
            vec![],
        );
        assert_eq!(request.cwd, Path::new("/proj/sub"));
        assert!(request.copy_cwd);
        assert_eq!(request.bottles, ["extra", "default"]);
    }
}
