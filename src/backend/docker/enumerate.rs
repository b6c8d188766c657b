//! What bot-bottle has on the engine: its containers and networks, found by
//! label with one docker call each, however many bottles run.

use std::collections::BTreeMap;

use crate::backend::labels::{LABEL_AGENT, LABEL_ROLE, LABEL_SLUG};
use crate::exec::{DOCKER, ExecError};
use crate::state::{Home, Metadata};

use crate::backend::active::{ActiveBottle, landed};

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
    pub running: bool,
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
    let format = ["{{.Name}}", &label(LABEL_SLUG), &label(COMPOSE_PROJECT)].join(SEP);
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
            let [name, state, status, slug, role, agent, project, created] = f.as_slice() else {
                return None;
            };
            let running = *state == "running";
            let healthy = !status.contains("(unhealthy)");
            Some(Container {
                name: (*name).to_owned(),
                slug: (*slug).to_owned(),
                role: (*role).to_owned(),
                agent: (*agent).to_owned(),
                project: field(project),
                running,
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
            let [name, slug, project] = f.as_slice() else {
                return None;
            };
            Some(Network {
                name: (*name).to_owned(),
                slug: (*slug).to_owned(),
                project: field(project),
            })
        })
        .filter(|n| !n.slug.is_empty())
        .collect()
}

/// Every running bottle: one docker call, then each one's metadata and
/// landed branches.
pub fn active(home: &Home) -> Result<Vec<ActiveBottle>, ExecError> {
    let mut bottles = active_bottles(&containers()?, |slug| home.read_metadata(slug).ok());
    for b in &mut bottles {
        b.landed = landed(home, &b.slug);
    }
    Ok(bottles)
}

/// The bottles with a running container, sorted by start time; agent and
/// start time come from their metadata when it is there.
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
    let mut by_slug: BTreeMap<&str, Vec<&Container>> = BTreeMap::new();
    for c in containers
        .iter()
        .filter(|c| c.running && docker.contains(c.slug.as_str()))
    {
        by_slug.entry(&c.slug).or_default().push(c);
    }
    let mut bottles: Vec<ActiveBottle> = by_slug
        .into_iter()
        .map(|(slug, cs)| {
            let meta = metadata(slug);
            let mut services: Vec<String> = cs
                .iter()
                .filter(|c| c.up && c.role != "agent")
                .map(|c| c.role.clone())
                .collect();
            services.sort();
            let first = cs.first().copied();
            ActiveBottle::new(
                meta.as_ref().map_or("docker", |m| m.backend.as_str()),
                slug,
                meta.as_ref(),
                (
                    first.map(|c| c.agent.as_str()),
                    first.map(|c| c.created.as_str()),
                ),
                services,
            )
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
bot-bottle-a-1-agent\trunning\tUp 3 minutes (healthy)\ta-1\tagent\tshell\tbot-bottle-a-1\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-a-1-egress\trunning\tUp 3 minutes (healthy)\ta-1\tegress\tshell\tbot-bottle-a-1\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-a-1-supervise\trunning\tUp 3 minutes (unhealthy)\ta-1\tsupervise\tshell\tbot-bottle-a-1\t2026-11-25 10:00:00 +0000 UTC
bot-bottle-b-2-agent\trunning\tUp 1 second\tb-2\tagent\tcodex\tbot-bottle-b-2\t2026-11-25 09:00:00 +0000 UTC
bot-bottle-c-3-agent\texited\tExited (0)\tc-3\tagent\tshell\tbot-bottle-c-3\t2026-11-25 08:00:00 +0000 UTC
stray\trunning\tUp\td-4\tegress\tshell\t\t2026-11-25 07:00:00 +0000 UTC
garbage line
";

    #[test]
    fn parse_and_group() {
        let cs = parse_containers(PS);
        assert_eq!(cs.len(), 6);
        assert_eq!(cs[5].project, None);
        let meta = |slug: &str| {
            (slug == "a-1").then(|| Metadata {
                agent: "shell".into(),
                bottles: vec![],
                cwd: "/".into(),
                copy_cwd: false,
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
    }

    #[test]
    fn networks() {
        let ns =
            parse_networks("bot-bottle-a-1_internal\ta-1\tbot-bottle-a-1\nloose\tb-2\t\n\nx\t\t\n");
        assert_eq!(ns.len(), 2);
        assert_eq!(ns[1].project, None);
    }
}
