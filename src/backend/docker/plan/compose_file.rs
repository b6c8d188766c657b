//! The compose document of a bottle: its services (agent, egress,
//! supervise, and git-gate when there is a gate), their networks,
//! labels, health checks and limits. Pure.

use serde_json::{Value, json};

use super::resources::{EGRESS_RESOURCES, Resources, SUPERVISE_RESOURCES};
use super::{HEALTH_INTERVAL, INHIBIT_IPV4, MCP_PORT, PROXY_PORT, PlanInput, Runtime};
use crate::backend::docker::seal;
use crate::backend::labels::{LABEL_AGENT, LABEL_ROLE, LABEL_SLUG};
use crate::backend::layout::{
    AGENT_CONFIG_DIR, AGENT_USER, READY_FILE, SIDECAR_STATE_DIR, WORKDIR,
};
use crate::backend::names;
use crate::gitgate::SERVICE;
use crate::state::BottleDir;
use crate::state::bottle_dir::AGENT;

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
    let sidecar = |role: &str, networks: Value, port: u16| {
        let mut command = vec!["sidecar", role, "--state", SIDECAR_STATE_DIR];
        if role == "supervise" {
            command.extend(["--slug", input.slug]);
        }
        json!({
            "image": input.sidecar_image,
            "container_name": names::container(input.slug, role),
            "pull_policy": "never",
            "command": command,
            "user": sidecar_user,
            "read_only": true,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "networks": networks,
            "volumes": [format!("{}:{SIDECAR_STATE_DIR}", state(role))],
            "labels": labels(input, role),
            "healthcheck": {
                "test": ["CMD", "/bot-bottle", "sidecar", "probe", format!("127.0.0.1:{port}")],
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
        "command": ["sh", format!("{AGENT_CONFIG_DIR}/start.sh")],
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
        "labels": labels(input, "agent"),
        "healthcheck": {
            "test": ["CMD", "test", "-e", READY_FILE],
            "interval": HEALTH_INTERVAL,
            "timeout": "5s",
            "retries": 3,
        },
        "depends_on": {
            "egress": {"condition": "service_started"},
            "supervise": {"condition": "service_started"},
        },
    });
    if input.engine.runtime == Runtime::Runsc {
        agent["runtime"] = json!("runsc");
    }
    limits.apply_agent(&mut agent, input.engine.runtime);
    let mut egress = sidecar("egress", json!(["internal", "outside"]), PROXY_PORT);
    EGRESS_RESOURCES.within(input.engine).apply(&mut egress);
    let mut supervise = sidecar("supervise", json!(["internal"]), MCP_PORT);
    SUPERVISE_RESOURCES
        .within(input.engine)
        .apply(&mut supervise);
    let mut services = json!({
        "agent": agent,
        "egress": egress,
        "supervise": supervise,
    });
    if let Some(gate) = &input.git_gate {
        services[SERVICE] = super::git_gate::service(input, gate);
        services["agent"]["depends_on"][SERVICE] = json!({"condition": "service_started"});
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
