//! The compose document of a bottle: its services (agent, egress,
//! supervise, and git-gate when there is a gate), their networks,
//! labels, health checks and limits. Pure.

use serde_json::{Value, json};

use super::resources::{EGRESS_RESOURCES, Resources, SUPERVISE_RESOURCES};
use super::{HEALTH_INTERVAL, INHIBIT_IPV4, PlanInput, Runtime};
use crate::backend::docker::seal;
use crate::backend::labels::{LABEL_AGENT, LABEL_ROLE, LABEL_SLUG};
use crate::contract::command;
use crate::contract::paths::{
    AGENT_CONFIG_DIR, AGENT_USER, READY_FILE, SIDECAR_STATE_DIR, WORKDIR, agent_file, agent_files,
};
use crate::contract::services::{self as names, AGENT, EGRESS, GIT_GATE, SUPERVISE, Sidecar};
use crate::state::BottleDir;

pub(super) fn labels(input: &PlanInput, role: &str) -> Value {
    json!({
        LABEL_SLUG: input.slug,
        LABEL_AGENT: input.agent.name,
        LABEL_ROLE: role,
    })
}

/// The compose document, `$` escaped for compose.
pub(super) fn compose(
    input: &PlanInput,
    image: &str,
    env: &[(String, String)],
    limits: &Resources,
) -> Value {
    escape_interpolation(document(input, image, env, limits))
}

fn document(input: &PlanInput, image: &str, env: &[(String, String)], limits: &Resources) -> Value {
    let dir = BottleDir::new(input.state_dir.to_path_buf());
    let state = |service: &str| dir.service(service).display().to_string();
    let sidecar_user = format!("{}:{}", input.host_user.0, input.host_user.1);
    let sidecar = |sidecar: Sidecar, networks: Value| {
        let role = sidecar.name();
        json!({
            "image": input.sidecar_image,
            "container_name": names::container(input.slug, role),
            "pull_policy": "never",
            "command": command::serve(sidecar, input.slug),
            "user": sidecar_user,
            "read_only": true,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "networks": networks,
            "volumes": [format!("{}:{SIDECAR_STATE_DIR}", state(role))],
            "labels": labels(input, role),
            "healthcheck": {
                "test": ([vec!["CMD".to_owned()], command::probe(sidecar.port(), None)].concat()),
                "interval": HEALTH_INTERVAL,
                "timeout": "5s",
                "retries": 3,
            },
        })
    };
    let mut agent = json!({
        "image": image,
        "container_name": names::container(input.slug, AGENT),
        "pull_policy": "never",
        "hostname": input.slug,
        "user": AGENT_USER,
        "working_dir": WORKDIR,
        "init": true,
        "command": ["sh", agent_file(agent_files::START_SCRIPT)],
        "environment": env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        // Docker's DNS answers for the bottle's services and forwards every
        // other name here, where nothing answers; the agent gives up fast.
        "dns": ["127.0.0.1"],
        "dns_opt": ["timeout:1", "attempts:1"],
        "networks": ["internal"],
        "volumes": [
            format!("{}:{AGENT_CONFIG_DIR}:ro", dir.agent_dir().display()),
            format!(
                "{}:/etc/ssl/certs/ca-certificates.crt:ro",
                dir.agent_ca().display()
            ),
        ],
        "labels": labels(input, AGENT),
        "healthcheck": {
            "test": ["CMD", "test", "-e", READY_FILE],
            "interval": HEALTH_INTERVAL,
            "timeout": "5s",
            "retries": 3,
        },
        "depends_on": {
            EGRESS: {"condition": "service_started"},
            SUPERVISE: {"condition": "service_started"},
        },
    });
    if input.engine.runtime == Runtime::Runsc {
        agent["runtime"] = json!("runsc");
    }
    limits.apply_agent(&mut agent, input.engine.runtime);
    let mut egress = sidecar(Sidecar::Egress, json!(["internal", "outside"]));
    EGRESS_RESOURCES.within(input.engine).apply(&mut egress);
    let mut supervise = sidecar(Sidecar::Supervise, json!(["internal"]));
    SUPERVISE_RESOURCES
        .within(input.engine)
        .apply(&mut supervise);
    let mut services = json!({
        AGENT: agent,
        EGRESS: egress,
        SUPERVISE: supervise,
    });
    if let Some(gate) = &input.git_gate {
        services[GIT_GATE] = super::git_gate::service(input, gate);
        services[AGENT]["depends_on"][GIT_GATE] = json!({"condition": "service_started"});
    }
    json!({
        "name": names::project(input.slug),
        "services": services,
        "networks": {
            "internal": {
                "internal": true,
                "driver_opts": {
                    INHIBIT_IPV4: "true",
                    seal::BRIDGE_NAME_OPT: seal::bridge_name(input.slug),
                },
                "labels": labels(input, "internal"),
            },
            "outside": {"labels": labels(input, "outside")},
        },
    })
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
