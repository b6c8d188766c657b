//! Docker Compose v2 (`docker compose`), one project per bottle.

use std::path::Path;

use super::plan::readiness;
use crate::exec::{DOCKER, ExecError, Sink};

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("Docker Compose v2 (`docker compose`) is missing: {0}")]
    Missing(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl ComposeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ComposeError::Missing(_) => Some(
                "run scripts/setup (it installs Debian trixie's docker-compose as the plugin), or install docker-compose-plugin from Docker's repository"
                    .into(),
            ),
            ComposeError::Exec(e) => e.hint(),
        }
    }
}

pub use crate::backend::names::{container, project};

/// Compose's version, or why it cannot be used. A missing docker is
/// `ExecError::NotFound`, with docker's install hint.
pub fn check() -> Result<String, ComposeError> {
    DOCKER.find()?;
    match DOCKER.output(&mut DOCKER.command(["compose", "version", "--short"])) {
        Ok(out) => {
            let version = String::from_utf8_lossy(&out.stdout)
                .trim()
                .trim_start_matches('v')
                .to_owned();
            if version.starts_with('1') {
                Err(ComposeError::Missing(format!(
                    "found version {version}, which is v1"
                )))
            } else {
                Ok(version)
            }
        }
        Err(ExecError::Failed { stderr, .. }) => Err(ComposeError::Missing(stderr)),
        Err(e) => Err(e.into()),
    }
}

/// Starts the bottle's services, then waits until every one is ready:
/// each readiness probe runs in its service's container, all at once.
pub fn up(slug: &str, file: &Path, sink: &Sink) -> Result<(), ExecError> {
    up_with(slug, file, sink, readiness().to_vec())
}

/// Starts the project's services and waits for the given probes, each
/// `(service, argv)`.
pub fn up_with(
    slug: &str,
    file: &Path,
    sink: &Sink,
    probes: Vec<(&str, Vec<String>)>,
) -> Result<(), ExecError> {
    let mut cmd = DOCKER.command(["compose", "--progress", "plain", "-p", &project(slug), "-f"]);
    cmd.arg(file).args(["up", "--detach"]);
    DOCKER.run_to(&mut cmd, sink)?;
    std::thread::scope(|scope| {
        let probes: Vec<_> = probes
            .into_iter()
            .map(|(service, argv)| {
                scope.spawn(move || {
                    let mut cmd = DOCKER.command(["exec", &container(slug, service)]);
                    cmd.args(&argv);
                    DOCKER.output(&mut cmd).map(|_| ())
                })
            })
            .collect();
        probes
            .into_iter()
            .try_for_each(|p| p.join().unwrap_or_else(|_| Err(not_ready())))
    })
}

fn not_ready() -> ExecError {
    ExecError::Spawn {
        program: "docker exec".into(),
        reason: "a readiness probe stopped".into(),
    }
}

/// Stops and removes the bottle's containers, networks and volumes. Needs
/// no compose file: compose finds the project by its labels.
pub fn down(slug: &str, sink: &Sink) -> Result<(), ExecError> {
    let mut cmd = DOCKER.command(["compose", "--progress", "plain", "-p", &project(slug)]);
    cmd.args(["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
    DOCKER.run_to(&mut cmd, sink)
}

/// The last lines each service logged, for a failed bring-up.
pub fn logs(slug: &str) -> String {
    let mut cmd = DOCKER.command([
        "compose",
        "-p",
        &project(slug),
        "logs",
        "--no-color",
        "--tail",
        "20",
    ]);
    match DOCKER.output(&mut cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => e.to_string(),
    }
}
