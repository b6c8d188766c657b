//! A bottle's plan rendered as a compose document: its services (the
//! agent and each sidecar), their networks, labels, health checks and
//! limits. What bring-up decides (the networks' subnets) and where the
//! agent runs are inputs, so nothing is patched into a written file. Pure.

use serde_json::{Map, Value, json};

use super::seal;
use super::subnets::Net;
use crate::backend::labels::{LABEL_AGENT, LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
use crate::contract::command;
use crate::contract::paths::READY_FILE;
use crate::contract::services::{self as names, AGENT, EGRESS};
use crate::egress::resolver::DNS_PORT;
use crate::plan::{
    BottlePlan, GVISOR_TASKS_PER_PROCESS, Mount, Network, Resources, Runtime, SidecarSpec,
    format_bytes,
};

/// The internal network's bridge gets no IPv4 address on the host, so the
/// host answers nothing on it; its containers still reach each other.
pub const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

/// How often docker checks a running service's health. Each check is an
/// exec, which costs CPU, so it is rare; a bring-up does not wait for it
/// but probes readiness itself (`bringup::readiness`), which is what
/// Engine 25's `start_interval` would give.
const HEALTH_INTERVAL: &str = "30s";

/// Each container's log, kept by the engine, in two files of this size.
const LOG_MAX_SIZE: &str = "1m";

/// Where the agent of the document runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentPlace {
    /// A service of the same document, on the internal network alone.
    Container,
    /// Elsewhere (a microVM), reaching the sidecars through the host: the
    /// internal network keeps the host's address on its bridge, so each
    /// sidecar serves only clients with the bottle key, and egress also
    /// answers the machine's DNS for the sidecars' names (which takes the
    /// one privileged port its network namespace allows).
    Elsewhere,
}

/// Where and for whom a plan is rendered: decided at bring-up, not by the
/// plan.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Where the agent runs.
    pub place: AgentPlace,
    /// The identity of the home that brings it up, on every label.
    pub home_id: &'a str,
    /// The networks' subnets in order (none: the engine's choice).
    pub subnets: &'a [Net],
}

#[cfg(test)]
impl Target<'static> {
    /// For tests: the home `0123456789ab`, no subnets chosen.
    pub fn test(place: AgentPlace) -> Self {
        Target {
            place,
            home_id: "0123456789ab",
            subnets: &[],
        }
    }
}

/// The compose document of `plan` for `target`, `$` escaped for compose.
pub fn render(plan: &BottlePlan, target: Target) -> Value {
    escape_interpolation(document(plan, target))
}

fn document(plan: &BottlePlan, target: Target) -> Value {
    let Target {
        place,
        home_id,
        subnets,
    } = target;
    let mut services = Map::new();
    if place == AgentPlace::Container {
        services.insert(AGENT.into(), agent(plan, home_id));
    }
    for spec in &plan.sidecars {
        services.insert(
            spec.sidecar.name().into(),
            sidecar(plan, spec, place, home_id),
        );
    }
    let mut internal_opts = Map::new();
    if place == AgentPlace::Container {
        internal_opts.insert(INHIBIT_IPV4.into(), json!("true"));
    }
    internal_opts.insert(
        seal::BRIDGE_NAME_OPT.into(),
        json!(seal::bridge_name(&plan.slug)),
    );
    let mut networks = json!({
        "internal": {
            "internal": true,
            "driver_opts": internal_opts,
            "labels": labels(plan, home_id, "internal"),
        },
        "outside": {"labels": labels(plan, home_id, "outside")},
    });
    for (net, subnet) in Network::ALL.iter().zip(subnets) {
        networks[net.name()]["ipam"] = json!({"config": [{"subnet": subnet.to_string()}]});
    }
    json!({
        "name": names::project(&plan.slug),
        "services": services,
        "networks": networks,
    })
}

fn labels(plan: &BottlePlan, home_id: &str, role: &str) -> Value {
    json!({
        LABEL_SLUG: plan.slug,
        LABEL_HOME: home_id,
        LABEL_AGENT: plan.agent.name,
        LABEL_ROLE: role,
    })
}

fn agent(plan: &BottlePlan, home_id: &str) -> Value {
    let spec = &plan.agent;
    let mut depends_on = Map::new();
    for sidecar in &plan.sidecars {
        depends_on.insert(
            sidecar.sidecar.name().into(),
            json!({"condition": "service_started"}),
        );
    }
    let mut agent = json!({
        "image": spec.image.tag,
        "container_name": names::container(&plan.slug, AGENT),
        "pull_policy": "never",
        "hostname": spec.hostname,
        "user": spec.user,
        "working_dir": spec.workdir,
        "init": true,
        "command": spec.command,
        "environment": environment(&spec.env),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        // Docker's DNS answers for the bottle's services and forwards every
        // other name here, where nothing answers; the agent gives up fast.
        "dns": ["127.0.0.1"],
        "dns_opt": ["timeout:1", "attempts:1"],
        "networks": ["internal"],
        "volumes": spec.mounts.iter().map(mount).collect::<Vec<_>>(),
        "labels": labels(plan, home_id, AGENT),
        "healthcheck": {
            "test": ["CMD", "test", "-e", READY_FILE],
            "interval": HEALTH_INTERVAL,
            "timeout": "5s",
            "retries": 3,
        },
        "depends_on": depends_on,
    });
    if spec.runtime == Runtime::Runsc {
        agent["runtime"] = json!("runsc");
    }
    limit(&mut agent, &spec.limits);
    if spec.runtime == Runtime::Runsc {
        agent["pids_limit"] = json!(spec.limits.pids.saturating_mul(GVISOR_TASKS_PER_PROCESS));
    }
    agent
}

fn sidecar(plan: &BottlePlan, spec: &SidecarSpec, place: AgentPlace, home_id: &str) -> Value {
    let role = spec.sidecar.name();
    let mut command = spec.command.clone();
    if place == AgentPlace::Elsewhere {
        command.extend(command::keyed(spec.sidecar));
    }
    let mut service = json!({
        "image": spec.image,
        "container_name": names::container(&plan.slug, role),
        "pull_policy": "never",
        "command": command,
        "user": format!("{}:{}", spec.user.0, spec.user.1),
        "read_only": true,
    });
    if !spec.tmpfs.is_empty() {
        service["tmpfs"] = json!(spec.tmpfs);
    }
    if !spec.env.is_empty() {
        service["environment"] = environment(&spec.env);
    }
    service["cap_drop"] = json!(["ALL"]);
    service["security_opt"] = json!(["no-new-privileges:true"]);
    service["networks"] = json!(spec.networks.iter().map(|n| n.name()).collect::<Vec<_>>());
    service["volumes"] = json!(spec.mounts.iter().map(mount).collect::<Vec<_>>());
    service["labels"] = labels(plan, home_id, role);
    service["healthcheck"] = json!({
        "test": ([vec!["CMD".to_owned()], command::probe(spec.sidecar.port(), None)].concat()),
        "interval": HEALTH_INTERVAL,
        "timeout": "5s",
        "retries": 3,
    });
    limit(&mut service, &spec.resources);
    if place == AgentPlace::Elsewhere && role == EGRESS {
        service["sysctls"] = json!({
            "net.ipv4.ip_unprivileged_port_start": DNS_PORT.to_string(),
        });
    }
    service
}

fn environment(env: &[(String, String)]) -> Value {
    Value::Object(
        env.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A bind mount in compose's long syntax: a path may hold ':' (the home,
/// the operator's repository), which the short `src:dst:ro` would split;
/// and a source that is not there fails the bring-up instead of appearing
/// as an empty folder made by the engine.
fn mount(mount: &Mount) -> Value {
    json!({
        "type": "bind",
        "source": mount.source.display().to_string(),
        "target": mount.target,
        "read_only": mount.read_only,
    })
}

/// A container's memory (with no swap on top), processes and CPUs, and a
/// bounded log: what it prints is kept by the engine, on the host's disk.
fn limit(service: &mut Value, resources: &Resources) {
    let memory = format_bytes(resources.memory);
    service["mem_limit"] = json!(memory);
    service["memswap_limit"] = json!(memory);
    service["pids_limit"] = json!(resources.pids);
    service["cpus"] = json!(resources.cpus);
    service["logging"] = json!({
        "driver": "json-file",
        "options": {"max-size": LOG_MAX_SIZE, "max-file": "2"},
    });
}

/// Compose expands `$VAR` in the file; `$$` is a literal `$`.
fn escape_interpolation(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(items) => Value::Array(items.into_iter().map(escape_interpolation).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, escape_interpolation(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::plan::PlanInput;
    use crate::plan::testing::{agent, bottle, input};
    use crate::provider::Provider;

    /// A home whose path holds ':' (and ',', '=') is mounted whole, in
    /// every service: compose's short syntax would cut it at the ':'.
    #[test]
    fn every_mount_keeps_a_path_with_colons_whole() {
        let (agent, bottle) = (agent(Provider::Shell), bottle());
        let (env, names) = (BTreeSet::new(), ["default".to_owned()]);
        let state_dir = Path::new("/home/u/a:b,c=d/state/dev-abcde");
        let plan = crate::plan::plan(&PlanInput {
            state_dir,
            ..input(&agent, &bottle, &env, &names)
        })
        .unwrap();
        let doc = render(&plan, Target::test(AgentPlace::Container));
        let mut seen = 0;
        for (name, service) in doc["services"].as_object().unwrap() {
            for volume in service["volumes"].as_array().unwrap() {
                assert_eq!(volume["type"], "bind", "{name}: {volume}");
                let source = volume["source"].as_str().unwrap();
                assert!(
                    source.starts_with(state_dir.to_str().unwrap()),
                    "{name}: {volume}"
                );
                assert!(volume["target"].as_str().unwrap().starts_with('/'));
                assert!(volume["read_only"].is_boolean());
                seen += 1;
            }
        }
        assert!(seen >= 3, "{doc}");
    }
}
