//! What a smolmachines bottle is made of, from its plan (pure): the
//! machine the agent runs in, and the script that readies it. (Its
//! sidecars are docker's rendering of the plan without the agent:
//! `compose_file::render` with `AgentPlace::Elsewhere`.)

use std::path::{Path, PathBuf};

use super::argv::MachineSpec;
use super::machine_name;
use crate::backend::labels::{LABEL_AGENT, LABEL_HOME, LABEL_SLUG};
use crate::contract::paths::{AGENT_CONFIG_DIR, AGENT_USER, WORKDIR, agent_files};
use crate::contract::services::EGRESS;
use crate::plan::BottlePlan;

/// The network backend bot-bottle asks smolvm for: its egress policy
/// (`--allow-cidr`) is enforced there, and the guest's DNS goes only to
/// `--dns` (smolvm's TSI backend enforces neither; see the README).
pub const NET_BACKEND: &str = "virtio-net";

/// What the machine is made from.
pub struct MachineInput<'a> {
    pub slug: &'a str,
    /// The identity of the home that brings it up, on its labels.
    pub home_id: &'a str,
    pub agent: &'a str,
    pub plan: &'a BottlePlan,
    /// The bottle's `agent/` state folder: mounted read-only.
    pub agent_dir: &'a Path,
    pub image_tar: &'a Path,
    /// `(service, address)` of each sidecar: the only addresses allowed.
    pub sidecars: &'a [(String, String)],
    /// The agent's environment that may be in an argv (`keyed::agent_env`).
    pub env: &'a [(String, String)],
    /// `(variable, file)` of what carries the bottle key.
    pub secret_files: &'a [(String, PathBuf)],
}

/// The agent's machine: its environment as docker's plan gives the
/// container (placeholders, never a route's credential; what carries the
/// bottle key by file), its config folder, its limits, egress to the
/// sidecars' addresses alone, and egress's resolver as its only DNS.
pub fn machine_spec(input: &MachineInput) -> MachineSpec {
    let limits = &input.plan.agent.limits;
    MachineSpec {
        name: machine_name(input.slug),
        labels: vec![
            (LABEL_SLUG.into(), input.slug.into()),
            (LABEL_HOME.into(), input.home_id.into()),
            (LABEL_AGENT.into(), input.agent.into()),
        ],
        image_tar: input.image_tar.display().to_string(),
        // A microVM has whole CPUs: the agent's limit, rounded up.
        cpus: limits.cpus.ceil().clamp(1.0, 255.0) as u8,
        mem_mib: u32::try_from(limits.memory >> 20).unwrap_or(u32::MAX),
        allow_cidrs: input
            .sidecars
            .iter()
            .map(|(_, ip)| format!("{ip}/32"))
            .collect(),
        net_backend: NET_BACKEND.into(),
        dns: input
            .sidecars
            .iter()
            .find(|(service, _)| service == EGRESS)
            .map(|(_, ip)| ip.clone()),
        volumes: vec![(
            input.agent_dir.display().to_string(),
            AGENT_CONFIG_DIR.into(),
        )],
        env: input.env.to_vec(),
        secret_files: input
            .secret_files
            .iter()
            .map(|(name, path)| (name.clone(), path.display().to_string()))
            .collect(),
        workdir: WORKDIR.into(),
        command: vec!["sleep".into(), "infinity".into()],
    }
}

/// Run as root in the machine once it is up: the sidecars by name (there
/// is no docker DNS in a microVM), the bottle's CA as the system's, and a
/// workdir the agent owns.
pub fn setup_script(hosts: &[(String, String)], config_dir: &str, workdir: &str) -> String {
    let mut s = String::from("set -e\n");
    for (name, ip) in hosts {
        let line = crate::text::shell_quote(&format!("{ip} {name}"));
        s.push_str(&format!("echo {line} >> /etc/hosts\n"));
    }
    s.push_str(&format!(
        "cp {config_dir}/{} /etc/ssl/certs/ca-certificates.crt\n\
         mkdir -p {workdir}\n\
         chown {AGENT_USER} {workdir}\n",
        agent_files::CA
    ));
    s
}

/// Whether a string is an IPv4 address (a sidecar's, from docker).
pub fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::backend::docker::compose_file::{AgentPlace, Target, render};
    use crate::backend::docker::seal;
    use crate::contract::command;
    use crate::contract::services::Sidecar;
    use crate::plan::{PlanInput, testing};
    use crate::state::Home;
    use serde_json::json;

    #[test]
    fn the_bundle_is_the_plan_without_its_agent() {
        let dir = tempfile::tempdir().unwrap();
        let (_, plan) = shell_plan(dir.path(), "shell-abcde");
        let b = render(&plan, Target::test(AgentPlace::Elsewhere));
        let services: Vec<&String> = b["services"].as_object().unwrap().keys().collect();
        assert_eq!(services, ["egress", "supervise"]);
        // Each sidecar requires the bottle key; egress answers DNS too.
        let serve = |sidecar, extra: &[&str]| {
            let mut argv = command::serve(sidecar, "shell-abcde");
            argv.extend(extra.iter().map(|s| s.to_string()));
            json!(argv)
        };
        assert_eq!(
            b["services"]["egress"]["command"],
            serve(
                Sidecar::Egress,
                &[
                    "--client-key",
                    "/state/client-key",
                    "--dns-hosts",
                    "/state/dns-hosts.json"
                ]
            )
        );
        assert_eq!(
            b["services"]["egress"]["sysctls"],
            json!({"net.ipv4.ip_unprivileged_port_start": "53"})
        );
        assert_eq!(
            b["services"]["supervise"]["command"],
            serve(Sidecar::Supervise, &["--client-key", "/state/client-key"])
        );
        assert!(b["services"]["supervise"].get("sysctls").is_none());
        assert_eq!(
            b["networks"]["internal"]["driver_opts"],
            json!({"com.docker.network.bridge.name": seal::bridge_name("shell-abcde")})
        );
        assert_eq!(b["networks"]["internal"]["internal"], true);
    }

    #[test]
    fn the_agents_env_is_the_plans_not_compose_escaped() {
        let (agent, bottle) = (
            testing::agent(crate::provider::Provider::Shell),
            testing::full_bottle(),
        );
        let (env, names) = (BTreeSet::new(), ["x".to_owned()]);
        let plan = crate::plan::plan(&testing::input(&agent, &bottle, &env, &names)).unwrap();
        assert!(
            plan.agent
                .env
                .contains(&("PRICE".to_owned(), "$5".to_owned()))
        );
        let doc = render(&plan, Target::test(AgentPlace::Container));
        assert_eq!(doc["services"]["agent"]["environment"]["PRICE"], "$$5");
    }

    /// The embedded shell agent in the default bottle, planned for a home
    /// in `dir` as a launch plans it.
    fn shell_plan(dir: &Path, slug: &str) -> (Home, BottlePlan) {
        let home = Home {
            root: dir.join("home"),
        };
        let manifest = crate::manifest::load(&crate::manifest::Sources {
            home: home.root.clone(),
            cwd: dir.join("proj"),
            user_home: None,
        })
        .unwrap();
        let names = vec!["default".to_owned()];
        let bottle = crate::manifest::compose_bottles(&manifest, &names).unwrap();
        let env = BTreeSet::new();
        let agent = manifest.agent("shell").unwrap();
        let plan = crate::plan::plan(&PlanInput {
            slug,
            state_dir: &home.bottle_dir(slug),
            ..testing::input(agent, &bottle, &env, &names)
        })
        .unwrap();
        (home, plan)
    }

    #[test]
    fn the_machine_mounts_only_the_agents_folder_and_reaches_only_the_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let (home, plan) = shell_plan(dir.path(), "shell-abcde");
        let agent_dir = home.bottle("shell-abcde").agent_dir();
        let sidecars = [
            ("egress".to_owned(), "172.20.0.2".to_owned()),
            ("supervise".to_owned(), "172.20.0.3".to_owned()),
        ];
        let env = [("NO_PROXY".to_owned(), "supervise".to_owned())];
        let secret_files = [(
            "HTTPS_PROXY".to_owned(),
            PathBuf::from("/s/smolvm-env/HTTPS_PROXY"),
        )];
        let spec = machine_spec(&MachineInput {
            slug: "shell-abcde",
            home_id: "0123456789ab",
            agent: "shell",
            plan: &plan,
            agent_dir: &agent_dir,
            image_tar: Path::new("/cache/agent.tar"),
            sidecars: &sidecars,
            env: &env,
            secret_files: &secret_files,
        });
        assert_eq!(spec.name, "bot-bottle-shell-abcde");
        assert_eq!(spec.allow_cidrs, ["172.20.0.2/32", "172.20.0.3/32"]);
        // smolvm's backend that enforces the CIDRs, and egress's resolver
        // as the only one.
        assert_eq!(
            (spec.net_backend.as_str(), spec.dns.as_deref()),
            ("virtio-net", Some("172.20.0.2"))
        );
        assert_eq!(
            spec.volumes,
            [(
                agent_dir.display().to_string(),
                "/etc/bot-bottle".to_owned()
            )]
        );
        assert_eq!((spec.cpus, spec.mem_mib), (2, 4096), "the agent's limits");
        assert_eq!(spec.env, env);
        assert_eq!(
            spec.secret_files,
            [(
                "HTTPS_PROXY".to_owned(),
                "/s/smolvm-env/HTTPS_PROXY".to_owned()
            )]
        );
        assert!(
            spec.labels
                .contains(&(LABEL_SLUG.to_owned(), "shell-abcde".to_owned()))
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
