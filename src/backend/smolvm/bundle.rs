//! What a smolmachines bottle is made of, from docker's plan (pure): the
//! bundle (the sidecars' compose project, without the agent), the agent's
//! environment, and the script that readies the machine.

use serde_json::Value;

/// The sidecars' compose document: docker's plan without its agent. The
/// internal network keeps the host's address on its bridge, since the
/// machine reaches the sidecars through the host.
pub fn compose(plan: &Value) -> Value {
    let mut doc = plan.clone();
    if let Some(services) = doc["services"].as_object_mut() {
        services.shift_remove("agent");
    }
    if let Some(opts) = doc["networks"]["internal"]["driver_opts"].as_object_mut() {
        opts.shift_remove("com.docker.network.bridge.inhibit_ipv4");
    }
    doc
}

/// The services of the bundle, in the compose document's order.
pub fn services(bundle: &Value) -> Vec<String> {
    bundle["services"]
        .as_object()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default()
}

/// The agent's environment as docker's plan gives it to the container
/// (compose's `$$` back to `$`).
pub fn agent_env(plan: &Value) -> Vec<(String, String)> {
    plan["services"]["agent"]["environment"]
        .as_object()
        .map(|env| {
            env.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").replace("$$", "$")))
                .collect()
        })
        .unwrap_or_default()
}

/// Run as root in the machine once it is up: the sidecars by name (there
/// is no docker DNS in a microVM), the bottle's CA as the system's, and a
/// workdir the agent owns.
pub fn setup_script(hosts: &[(String, String)], config_dir: &str, workdir: &str) -> String {
    let mut s = String::from("set -e\n");
    for (name, ip) in hosts {
        let line = crate::provider::shell_quote(&format!("{ip} {name}"));
        s.push_str(&format!("echo {line} >> /etc/hosts\n"));
    }
    s.push_str(&format!(
        "cp {config_dir}/ca.pem /etc/ssl/certs/ca-certificates.crt\n\
         mkdir -p {workdir}\n\
         chown 1000:1000 {workdir}\n"
    ));
    s
}

/// Whether a string is an IPv4 address (a sidecar's, from docker).
pub fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> Value {
        json!({
            "name": "bot-bottle-dev-abcde",
            "services": {
                "agent": {"environment": {"HTTPS_PROXY": "http://egress:3128", "PS1": "$$ "}},
                "egress": {"image": "s"},
                "supervise": {"image": "s"},
            },
            "networks": {"internal": {"internal": true, "driver_opts": {
                "com.docker.network.bridge.inhibit_ipv4": "true",
                "com.docker.network.bridge.name": "bb-x",
            }}},
        })
    }

    #[test]
    fn the_bundle_is_the_plan_without_its_agent() {
        let b = compose(&plan());
        assert_eq!(services(&b), ["egress", "supervise"]);
        assert_eq!(
            b["networks"]["internal"]["driver_opts"],
            json!({"com.docker.network.bridge.name": "bb-x"})
        );
        assert_eq!(b["networks"]["internal"]["internal"], true);
    }

    #[test]
    fn the_agents_env_is_unescaped() {
        assert_eq!(
            agent_env(&plan()),
            [
                ("HTTPS_PROXY".to_owned(), "http://egress:3128".to_owned()),
                ("PS1".to_owned(), "$ ".to_owned()),
            ]
        );
    }

    #[test]
    fn setup_names_the_sidecars() {
        let s = setup_script(
            &[("egress".into(), "172.20.0.2".into())],
            "/etc/bot-bottle",
            "/workspace",
        );
        assert_eq!(
            s,
            "set -e\necho '172.20.0.2 egress' >> /etc/hosts\ncp /etc/bot-bottle/ca.pem /etc/ssl/certs/ca-certificates.crt\nmkdir -p /workspace\nchown 1000:1000 /workspace\n"
        );
        assert!(is_ipv4("10.0.0.1") && !is_ipv4("10.0.0.1'; rm -rf /"));
    }
}
