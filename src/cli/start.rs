//! `bot-bottle start`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;

use super::Failure;
use crate::backend::BackendKind;
use crate::backend::docker::engine;
use crate::backend::docker::plan::Runtime;
use crate::launch::{self, HostFacts, StartRequest};
use crate::manifest::{self, Manifest, Sources};
use crate::picker;
use crate::state::Home;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The agent to launch; with none, a picker (on a terminal).
    agent: Option<String>,
    /// A bottle to run in; repeat to compose several, in order.
    #[arg(long = "bottle", value_name = "BOTTLE")]
    bottles: Vec<String>,
    /// Where to run the bottle [default: $BOT_BOTTLE_BACKEND, else docker].
    #[arg(long, value_name = "NAME")]
    backend: Option<String>,
    /// A label for the bottle; its identity starts with it [default: the agent].
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// Copy this directory into the agent's workdir (it is not mounted).
    #[arg(long)]
    cwd: bool,
    /// Print the preflight and exit; writes nothing (also BOT_BOTTLE_DRY_RUN=1).
    #[arg(long)]
    dry_run: bool,
    /// Arguments appended to the agent's command.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

pub fn run(args: StartArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::runtime(format!("cannot read the current directory: {e}"), None))?;
    let manifest = load_manifest(&home, &cwd)?;
    let backend = BackendKind::select(
        args.backend.as_deref(),
        std::env::var("BOT_BOTTLE_BACKEND").ok().as_deref(),
    )?;
    let dry_run = args.dry_run || std::env::var("BOT_BOTTLE_DRY_RUN").is_ok_and(|v| v == "1");

    let agent = match args.agent {
        Some(agent) => agent,
        None => match pick_agent(&manifest)? {
            Some(agent) => agent,
            None => return Ok(ExitCode::SUCCESS),
        },
    };

    let runtime = match engine::detect_runtime() {
        Ok(runtime) => runtime,
        Err(e) if dry_run => {
            eprintln!(
                "bot-bottle: warning: cannot ask the docker engine for its runtimes ({e}); showing runc"
            );
            Runtime::Runc
        }
        Err(e) => return Err(e.into()),
    };
    let host = HostFacts {
        env_set: std::env::vars_os()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, _)| k.into_string().ok())
            .collect::<BTreeSet<_>>(),
        user: host_user(),
        runtime,
        sidecar_image: format!("bot-bottle-sidecar:{}", env!("CARGO_PKG_VERSION")),
        now: SystemTime::now(),
    };
    let request = StartRequest {
        agent,
        bottles: args.bottles,
        backend,
        label: args.label,
        copy_cwd: args.cwd,
        cwd,
        extra_args: args.args,
        identity: None,
    };
    let prepared = launch::prepare(&manifest, &home, &request, &host)?;

    if dry_run {
        print!("{}", launch::preflight_text(&prepared));
        eprintln!("bot-bottle: dry run: nothing was started or written");
        return Ok(ExitCode::SUCCESS);
    }
    Err(Failure::usage(
        "launching needs the docker backend, which this build cannot drive yet",
        Some("use --dry-run to see the plan".into()),
    ))
}

pub fn load_manifest(home: &Home, cwd: &std::path::Path) -> Result<Manifest, Failure> {
    let sources = Sources {
        home: home.root.clone(),
        cwd: cwd.to_path_buf(),
        user_home: std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from),
    };
    Ok(manifest::load(&sources)?)
}

fn pick_agent(manifest: &Manifest) -> Result<Option<String>, Failure> {
    if !picker::available() {
        return Err(Failure::usage(
            "no agent named, and no terminal to pick one on",
            Some(format!(
                "name one: bot-bottle start {}",
                manifest.agent_names().join("|")
            )),
        ));
    }
    let items = manifest
        .agents
        .values()
        .map(|a| picker::Item {
            name: a.name.clone(),
            detail: a.description.clone().unwrap_or_default(),
        })
        .collect();
    picker::run(picker::Picker::new("agent", items))
        .map_err(|e| Failure::runtime(format!("the agent picker failed: {e}"), None))
}

fn host_user() -> (u32, u32) {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}
