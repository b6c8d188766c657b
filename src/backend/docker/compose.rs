//! Docker Compose v2 (`docker compose`), one project per bottle.

use std::path::Path;

use crate::backend::bringup::readiness;
use crate::contract::services::{AGENT, Sidecar, container, project};
use crate::error::{Explain, UserError};
use crate::exec::{DOCKER, ExecError, Sink};

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("Docker Compose v2 (`docker compose`) is missing: {0}")]
    Missing(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl UserError for ComposeError {
    fn explain(&self) -> Explain<'_> {
        match self {
            ComposeError::Missing(_) => Explain::runtime(
                "run scripts/setup (it installs Debian trixie's docker-compose as the plugin), or install docker-compose-plugin from Docker's repository",
            ),
            ComposeError::Exec(e) => Explain::By(e),
        }
    }
}

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

/// Makes the project's networks and containers, and starts nothing: what
/// runs in a container (an image's ENTRYPOINT first) waits for `up`.
pub fn create(slug: &str, file: &Path, sink: &Sink) -> Result<(), ExecError> {
    let mut cmd = DOCKER.command(["compose", "--progress", "plain", "-p", &project(slug), "-f"]);
    cmd.arg(file).args(["up", "--no-start"]);
    DOCKER.run_to(&mut cmd, sink)
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
        source: std::io::Error::other("a readiness probe stopped"),
    }
}

/// Stops and removes the bottle's containers, networks and volumes. Needs
/// no compose file: compose finds the project by its labels.
///
/// Then, once none of the project's containers is left, removes the
/// networks compose left: one another container still uses (compose skips
/// it), or one the engine refuses to remove though its containers are gone
/// ("has active endpoints": a stale endpoint, a race in Docker 20.10,
/// moby#42119). Each is force-disconnected from every endpoint and
/// removed, a few times with a pause.
pub fn down(slug: &str, sink: &Sink) -> Result<(), ExecError> {
    let project = project(slug);
    let mut cmd = DOCKER.command(["compose", "--progress", "plain", "-p", &project]);
    cmd.args(["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
    let compose = DOCKER.run_to(&mut cmd, sink);
    match (compose, remove_left_networks(slug, &project, sink)) {
        (_, Ok(true)) => Ok(()),
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(false)) => Ok(()),
    }
}

/// Removes the project's networks compose left, once none of its
/// containers is left: true when there were some and they are gone.
fn remove_left_networks(slug: &str, project: &str, sink: &Sink) -> Result<bool, ExecError> {
    if !listed(&["ps", "--all", "--quiet"], project)?.is_empty() {
        return Ok(false);
    }
    let networks = || listed(&["network", "ls", "--format", "{{.Name}}"], project);
    let stuck = networks()?;
    if stuck.is_empty() {
        return Ok(false);
    }
    if !remove_all(networks, |n| remove_network(slug, n), std::thread::sleep)? {
        return Err(ExecError::Failed {
            command: format!("docker network rm {}", stuck.join(" ")),
            status: "still in use".into(),
            stderr: "the engine keeps endpoints on the bottle's networks after force-disconnecting them: see `docker network inspect`, and restart the engine if they name no container".into(),
        });
    }
    sink.line(&format!(
        "bot-bottle: removed {} (still attached after compose down)",
        stuck.join(", ")
    ));
    Ok(true)
}

/// The pauses between tries at removing what is left.
const PAUSES_MS: [u64; 4] = [200, 500, 1000, 2000];

/// Removes what `left` lists until it lists nothing (true) or the tries run
/// out (false).
fn remove_all(
    mut left: impl FnMut() -> Result<Vec<String>, ExecError>,
    mut remove: impl FnMut(&str),
    mut pause: impl FnMut(std::time::Duration),
) -> Result<bool, ExecError> {
    for ms in PAUSES_MS {
        let names = left()?;
        if names.is_empty() {
            return Ok(true);
        }
        names.iter().for_each(|n| remove(n));
        pause(std::time::Duration::from_millis(ms));
    }
    Ok(left()?.is_empty())
}

/// The names (or ids) a `docker … --filter label=<project>` listing prints.
fn listed(args: &[&str], project: &str) -> Result<Vec<String>, ExecError> {
    let mut cmd = DOCKER.command(args);
    cmd.args([
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    let out = DOCKER.output(&mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Force-disconnects every endpoint on `network`: those the engine lists
/// and, by name, the bottle's own services' (a stale endpoint has no
/// container left to list), then removes it. Failures are left to the
/// caller's next look at what is left.
fn remove_network(slug: &str, network: &str) {
    let mut inspect = DOCKER.command(["network", "inspect", network, "--format"]);
    inspect.arg("{{range .Containers}}{{.Name}} {{end}}");
    let listed = DOCKER
        .output(&mut inspect)
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let own = [AGENT]
        .into_iter()
        .chain(Sidecar::ALL.map(Sidecar::name))
        .map(|s| container(slug, s));
    let mut names: Vec<String> = listed.split_whitespace().map(str::to_owned).collect();
    for name in own {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        let mut cmd = DOCKER.command(["network", "disconnect", "--force", network, name]);
        let _ = DOCKER.output(&mut cmd);
    }
    let _ = DOCKER.output(&mut DOCKER.command(["network", "rm", network]));
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::remove_all;

    /// `left` answers from a script of listings; returns whether all was
    /// removed, what was removed and the pauses taken.
    fn run(listings: &[&[&str]]) -> (bool, Vec<String>, Vec<Duration>) {
        let calls = RefCell::new(0);
        let mut removed = Vec::new();
        let mut pauses = Vec::new();
        let done = remove_all(
            || {
                let mut i = calls.borrow_mut();
                let names = listings[(*i).min(listings.len() - 1)];
                *i += 1;
                Ok(names.iter().map(|s| s.to_string()).collect())
            },
            |n| removed.push(n.to_owned()),
            |d| pauses.push(d),
        )
        .unwrap();
        (done, removed, pauses)
    }

    #[test]
    fn stale_networks_are_removed_until_none_is_left() {
        let cases: &[(&[&[&str]], bool, usize, usize)] = &[
            // nothing left: no removal, no pause
            (&[&[]], true, 0, 0),
            // gone after one try
            (&[&["n_outside"], &[]], true, 1, 1),
            // one of two stays for a while
            (&[&["a", "b"], &["b"], &["b"], &[]], true, 4, 3),
            // never goes: every pause taken, then false
            (&[&["stuck"]], false, 4, 4),
        ];
        for (listings, done, removals, pauses) in cases {
            let (d, r, p) = run(listings);
            assert_eq!(
                (d, r.len(), p.len()),
                (*done, *removals, *pauses),
                "{listings:?}"
            );
        }
    }
}
