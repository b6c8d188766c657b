//! `bot-bottle doctor`: gathers the facts `doctor` checks, through the
//! modules that own them, and prints one line per check. Exit 1 when
//! something bottles need is missing.

use std::process::ExitCode;

use super::Failure;
use crate::backend::BackendKind;
use crate::backend::docker::images::{self, BASE_IMAGE};
use crate::backend::docker::{compose, docker_available, engine, subnets};
use crate::doctor::{self, Fact, Facts, PoolUse, Problem};
use crate::error::UserError;
use crate::exec::{ExecError, RUNSC, SMOLVM, TMUX};
use crate::state::Home;

pub(super) fn run() -> Result<ExitCode, Failure> {
    let facts = gather();
    let lines = doctor::check(&facts);
    print!("{}", doctor::render(&lines, crate::colour::stdout()));
    Ok(if doctor::healthy(&lines) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gather() -> Facts {
    let engine = engine_version();
    let asked = |f: &dyn Fn() -> Fact<bool>| match &engine {
        Ok(_) => f(),
        Err(_) => Err(Problem::new("the docker engine does not answer", None)),
    };
    Facts {
        compose: compose::check().map_err(|e| Problem::new(e.to_string(), e.hint())),
        tmux: tmux_version(),
        base_image: asked(&|| images::exists(BASE_IMAGE).map_err(exec_problem)),
        runsc: RUNSC.find().ok(),
        runsc_registered: asked(&|| {
            engine::runsc_registered().map_err(|e| Problem::new(e.to_string(), e.hint()))
        }),
        smolvm: match BackendKind::Smolmachines.backend().available() {
            Ok(()) => SMOLVM.find().map_err(exec_problem),
            Err(u) => Err(Problem::new(u.reason, Some(u.fix))),
        },
        pool: match &engine {
            Ok(_) => pool_use(),
            Err(_) => subnets::pool(std::env::var(subnets::POOL_ENV).ok().as_deref())
                .map_err(subnet_problem)
                .and_then(|_| {
                    Err(Problem::new(
                        "not counted: the docker engine does not answer",
                        None,
                    ))
                }),
        },
        binary: images::sidecar_image()
            .map(|i| i.binary)
            .map_err(|e| Problem::new(e.to_string(), e.hint())),
        engine,
    }
}

fn exec_problem(e: ExecError) -> Problem {
    Problem::new(e.to_string(), e.hint())
}

fn subnet_problem(e: subnets::SubnetError) -> Problem {
    Problem::new(e.to_string(), e.hint())
}

/// The engine's version: docker is there and its engine answers.
fn engine_version() -> Fact<String> {
    docker_available().map_err(|u| Problem::new(u.reason, Some(u.fix)))?;
    engine::server_version()
        .map_err(|e| Problem::new(format!("the engine does not answer: {e}"), e.hint()))
}

fn tmux_version() -> Fact<String> {
    TMUX.find().map_err(exec_problem)?;
    let out = TMUX
        .output(&mut TMUX.command(["-V"]))
        .map_err(exec_problem)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// How many of the pool's networks are free: what the engine's networks
/// and the bottles' compose files do not hold.
fn pool_use() -> Fact<PoolUse> {
    let pool =
        subnets::pool(std::env::var(subnets::POOL_ENV).ok().as_deref()).map_err(subnet_problem)?;
    let home = Home::from_env().map_err(|e| Problem::new(e.to_string(), e.hint()))?;
    let used = subnets::in_use(&home, None).map_err(subnet_problem)?;
    Ok(PoolUse {
        pool,
        free: subnets::free(pool, &used, usize::MAX).len(),
        total: subnets::capacity(pool),
    })
}
