//! What bot-bottle has on the engine: its containers and networks, found by
//! label with one docker call each, however many bottles run.

use std::collections::BTreeMap;

use crate::backend::labels::{Homes, LABEL_AGENT, LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
use crate::exec::{DOCKER, ExecError};
use crate::state::{Home, Metadata};

use crate::backend::active::ActiveBottle;

const COMPOSE_PROJECT: &str = "com.docker.compose.project";

/// One labelled container, as `docker ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub slug: String,
    pub role: String,
    pub agent: String,
    /// The compose project, when compose made it.
    pub project: Option<String>,
    /// The home that made it; none on a bottle older than the label.
    pub home: Option<String>,
    pub running: bool,
    /// It ran and stopped (exited, dead): not one being made.
    pub stopped: bool,
    /// Running, and not unhealthy.
    pub up: bool,
    pub created: String,
}

/// One labelled network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub slug: String,
    pub project: Option<String>,
    /// The home that made it; none on a bottle older than the label.
    pub home: Option<String>,
}

const SEP: &str = "\t";

/// Every container bot-bottle labelled, running or not.
pub fn containers() -> Result<Vec<Container>, ExecError> {
    let format = [
        "{{.Names}}",
        "{{.State}}",
        "{{.Status}}",
        &label(LABEL_SLUG),
        &label(LABEL_ROLE),
        &label(LABEL_AGENT),
        &label(COMPOSE_PROJECT),
        &label(LABEL_HOME),
        "{{.CreatedAt}}",
    ]
    .join(SEP);
    let mut cmd = DOCKER.command([
        "ps",
        "--all",
        "--no-trunc",
        "--filter",
        &format!("label={LABEL_SLUG}"),
    ]);
    cmd.args(["--format", &format]);
    let out = DOCKER.output(&mut cmd)?;
    Ok(parse_containers(&String::from_utf8_lossy(&out.stdout)))
}

/// Every network bot-bottle labelled.
pub fn networks() -> Result<Vec<Network>, ExecError> {
    let format = [
        "{{.Name}}",
        &label(LABEL_SLUG),
        &label(COMPOSE_PROJECT),
        &label(LABEL_HOME),
    ]
    .join(SEP);
    let mut cmd = DOCKER.command(["network", "ls", "--filter", &format!("label={LABEL_SLUG}")]);
    cmd.args(["--format", &format]);
    let out = DOCKER.output(&mut cmd)?;
    Ok(parse_networks(&String::from_utf8_lossy(&out.stdout)))
}

fn label(name: &str) -> String {
    format!("{{{{.Label \"{name}\"}}}}")
}

fn field(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

pub fn parse_containers(text: &str) -> Vec<Container> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(SEP).collect();
            let [
                name,
                state,
                status,
                slug,
                role,
                agent,
                project,
                home,
                created,
            ] = f.as_slice()
            else {
                return None;
            };
            // A paused container (a frozen bottle's agent) still runs.
            let running = matches!(*state, "running" | "paused");
            let healthy = !status.contains("(unhealthy)");
            Some(Container {
                name: (*name).to_owned(),
                slug: (*slug).to_owned(),
                role: (*role).to_owned(),
                agent: (*agent).to_owned(),
                project: field(project),
                home: field(home),
                running,
                stopped: matches!(*state, "exited" | "dead"),
                up: running && healthy,
                created: (*created).to_owned(),
            })
        })
        .filter(|c| !c.slug.is_empty())
        .collect()
}

pub fn parse_networks(text: &str) -> Vec<Network> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(SEP).collect();
            let [name, slug, project, home] = f.as_slice() else {
                return None;
            };
            Some(Network {
                name: (*name).to_owned(),
                slug: (*slug).to_owned(),
                project: field(project),
                home: field(home),
            })
        })
        .filter(|n| !n.slug.is_empty())
        .collect()
}

/// The containers and networks `homes` sees: one docker call each.
pub fn seen(home: &Home, homes: &Homes) -> Result<(Vec<Container>, Vec<Network>), ExecError> {
    let networks = networks()?
        .into_iter()
        .filter(|n| homes.sees(n.home.as_deref(), || home.has_bottle(&n.slug)))
        .collect();
    Ok((seen_containers(home, homes)?, networks))
}

/// The containers `homes` sees: one docker call.
pub fn seen_containers(home: &Home, homes: &Homes) -> Result<Vec<Container>, ExecError> {
    Ok(containers()?
        .into_iter()
        .filter(|c| homes.sees(c.home.as_deref(), || home.has_bottle(&c.slug)))
        .collect())
}

/// Every running bottle `homes` sees: one docker call, then each one's
/// metadata and landed branches (another home's have neither here).
pub fn active(home: &Home, homes: &Homes) -> Result<Vec<ActiveBottle>, ExecError> {
    let containers = seen_containers(home, homes)?;
    let theirs = |slug: &str| {
        containers
            .iter()
            .find(|c| c.slug == slug)
            .filter(|c| !homes.owns(c.home.as_deref(), || home.has_bottle(slug)))
            .map(|c| c.home.clone().unwrap_or_default())
    };
    let mut bottles = active_bottles(&containers, |slug| match theirs(slug) {
        Some(_) => None,
        None => home.read_metadata(slug).ok(),
    });
    let prices = crate::backend::active::prices(home);
    for b in &mut bottles {
        b.other_home = theirs(&b.slug);
        if b.other_home.is_none() {
            b.read_state(home, &prices);
        }
    }
    Ok(bottles)
}

/// The bottles with a running container, and those of this home whose
/// agent the engine stopped (its restart, a crash: `stopped`), sorted by
/// start time; agent and start time come from their metadata when it is
/// there.
pub fn active_bottles(
    containers: &[Container],
    metadata: impl Fn(&str) -> Option<Metadata>,
) -> Vec<ActiveBottle> {
    // A docker bottle has an agent container, running or not; another
    // backend's sidecars (a smolmachines bundle) have none.
    let docker: std::collections::BTreeSet<&str> = containers
        .iter()
        .filter(|c| c.role == "agent")
        .map(|c| c.slug.as_str())
        .collect();
    let stopped_agent = |c: &Container| c.role == "agent" && c.stopped;
    let mut by_slug: BTreeMap<&str, Vec<&Container>> = BTreeMap::new();
    for c in containers
        .iter()
        .filter(|c| (c.running || stopped_agent(c)) && docker.contains(c.slug.as_str()))
    {
        by_slug.entry(&c.slug).or_default().push(c);
    }
    let mut bottles: Vec<ActiveBottle> = by_slug
        .into_iter()
        .filter_map(|(slug, cs)| {
            let meta = metadata(slug);
            // Nothing runs: listed only with the state to resume it.
            if !cs.iter().any(|c| c.running) && meta.is_none() {
                return None;
            }
            let stopped = cs.iter().any(|c| stopped_agent(c));
            let mut services: Vec<String> = cs
                .iter()
                .filter(|c| c.up && c.role != "agent")
                .map(|c| c.role.clone())
                .collect();
            services.sort();
            let first = cs.first().copied();
            let mut bottle = ActiveBottle::new(
                meta.as_ref().map_or("docker", |m| m.backend.as_str()),
                slug,
                meta.as_ref(),
                (
                    first.map(|c| c.agent.as_str()),
                    first.map(|c| c.created.as_str()),
                ),
                services,
            );
            bottle.stopped = stopped;
            Some(bottle)
        })
        .collect();
    bottles.sort_by(|a, b| (&a.started_at, &a.slug).cmp(&(&b.started_at, &b.slug)));
    bottles
}

/// `container`'s address on `network`, as the engine reports it (empty
/// when it has none there).
pub fn address_on(container: &str, network: &str) -> Result<String, ExecError> {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let got = DOCKER.output(&mut DOCKER.command(["inspect", "--format", &format, container]))?;
    Ok(String::from_utf8_lossy(&got.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::active::services_text;

    const PS: &str = "\
bot-bottle-a-1-agent\trunning\tUp 3 minutes (healthy)\ta-1\tagent\tshell\tbot-bottle-a-1\t0123456789ab\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-a-1-egress\trunning\tUp 3 minutes (healthy)\ta-1\tegress\tshell\tbot-bottle-a-1\t0123456789ab\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-a-1-supervise\trunning\tUp 3 minutes (unhealthy)\ta-1\tsupervise\tshell\tbot-bottle-a-1\t0123456789ab\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-b-2-agent\trunning\tUp 1 second\tb-2\tagent\tcodex\tbot-bottle-b-2\t\t2026-11-25 09:00:00 +0000 UTC
bot-bottle-c-3-agent\texited\tExited (0)\tc-3\tagent\tshell\tbot-bottle-c-3\tba9876543210\t2026-11-25 08:00:00 +0000 UTC
stray\trunning\tUp\td-4\tegress\tshell\t\t\t2026-11-25 07:00:00 +0000 UTC
garbage line
";

    #[test]
    fn parse_and_group() {
        let cs = parse_containers(PS);
        assert_eq!(cs.len(), 6);
        assert_eq!(cs[5].project, None);
        assert_eq!(cs[0].home.as_deref(), Some("0123456789ab"));
        assert_eq!(cs[3].home, None, "an older bottle has no home label");
        let meta = |slug: &str| {
            (slug == "a-1").then(|| Metadata {
                agent: "shell".into(),
                bottles: vec![],
                cwd: "/".into(),
                copy_cwd: false,
                include_ignored: false,
                label: "a".into(),
                color: "cyan".into(),
                backend: "docker".into(),
                started_at: "2026-11-25T10:00:00Z".into(),
                provider: crate::provider::Provider::Shell,
                session: Default::default(),
            })
        };
        let active = active_bottles(&cs, meta);
        let rows: Vec<String> = active
            .iter()
            .map(|b| {
                format!(
                    "{} {} {} {}",
                    b.slug,
                    b.agent,
                    b.started_at,
                    services_text(b)
                )
            })
            .collect();
        // d-4's lone sidecar is no docker bottle (a smolmachines bundle
        // looks so); `cleanup` shows it.
        assert_eq!(
            rows,
            [
                "b-2 codex 2026-11-25 09:00:00 +0000 UTC (starting)",
                "a-1 shell 2026-11-25T10:00:00Z egress",
            ]
        );
        // With its state here, the bottle whose agent the engine stopped
        // is listed so, to be resumed.
        let with_c3 = |slug: &str| match slug {
            "c-3" => meta("a-1").map(|m| Metadata {
                started_at: "2026-11-25T08:00:00Z".into(),
                ..m
            }),
            other => meta(other),
        };
        let active = active_bottles(&cs, with_c3);
        let c3 = active.iter().find(|b| b.slug == "c-3").unwrap();
        assert!(c3.stopped && c3.services.is_empty());
        assert_eq!(
            services_text(c3),
            "STOPPED by the engine (bot-bottle resume c-3)"
        );
        assert!(
            active
                .iter()
                .filter(|b| b.slug != "c-3")
                .all(|b| !b.stopped)
        );
    }

    #[test]
    fn networks() {
        let ns = parse_networks(
            "bot-bottle-a-1_internal\ta-1\tbot-bottle-a-1\t0123456789ab\nloose\tb-2\t\t\n\nx\t\t\t\n",
        );
        assert_eq!(ns.len(), 2);
        assert_eq!(ns[0].home.as_deref(), Some("0123456789ab"));
        assert_eq!(ns[1].project, None);
        assert_eq!(ns[1].home, None);
    }
}
