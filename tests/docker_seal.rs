//! The seal's check (`bot-bottle verify`) on the real engine, under runc
//! and under gVisor: a bottle is checked at bring-up and on demand, and a
//! seal weakened on purpose (the host given an address on the bottle's
//! internal bridge, with a listener of the test's own there) is reported,
//! names the probe that got through, and leaves the bottle frozen.

mod support;

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::docker::{Env, agent_paused, docker_ok};
use support::needs::require_docker;

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_weakened_seal_is_reported_and_the_bottle_frozen_under_runc() {
    require_docker();
    weakened("runc");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(
    all(skip_gvisor, not(skip_docker)),
    ignore = "BOT_BOTTLE_SKIP_GVISOR=1"
)]
fn a_weakened_seal_is_reported_and_the_bottle_frozen_under_runsc() {
    require_docker();
    weakened("runsc");
}

/// An address given to the host on a bridge; removed on drop.
struct HostAddress {
    cidr: String,
    bridge: String,
}

impl HostAddress {
    fn add(cidr: &str, bridge: &str) -> HostAddress {
        let status = Command::new("ip")
            .args(["addr", "add", cidr, "dev", bridge])
            .status()
            .expect("ip (iproute2) runs");
        assert!(status.success(), "ip addr add {cidr} dev {bridge}");
        HostAddress {
            cidr: cidr.to_owned(),
            bridge: bridge.to_owned(),
        }
    }
}

impl Drop for HostAddress {
    fn drop(&mut self) {
        // Gone with the bridge when the bottle stopped first.
        let _ = Command::new("ip")
            .args(["addr", "del", &self.cidr, "dev", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The bottle's internal network: its bridge, and its subnet's first
/// address (the agent's gateway) with the prefix length.
fn internal_bridge(slug: &str) -> (String, Ipv4Addr, u8) {
    let filter = format!("label=dev.bot-bottle.slug={slug}");
    let nets = docker_ok(&["network", "ls", "--quiet", "--filter", &filter]);
    for net in nets.lines() {
        let line = docker_ok(&[
            "network",
            "inspect",
            net,
            "--format",
            "{{.Internal}} {{index .Options \"com.docker.network.bridge.name\"}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        ]);
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["true", bridge, subnet] = words.as_slice() {
            let (base, prefix) = subnet.split_once('/').unwrap();
            let base: Ipv4Addr = base.parse().unwrap();
            let gateway = Ipv4Addr::from(u32::from(base) + 1);
            return ((*bridge).to_owned(), gateway, prefix.parse().unwrap());
        }
    }
    panic!("no internal network for {slug}: {nets}");
}

fn weakened(runtime: &str) {
    let env = Env::new();
    let slug = env.start_detached_with(&["shell"], &[("BOT_BOTTLE_RUNTIME", Some(runtime))]);
    let agent = bot_bottle::backend::names::container(&slug, "agent");
    let used = docker_ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", &agent]);
    assert_eq!(used, runtime);

    // Bring-up checked it before handing it over.
    let row = env.row(&slug);
    assert_eq!(row["seal"]["failed"], json!([]), "{row}");
    assert!(row["seal"]["probes"].as_u64().unwrap() >= 6, "{row}");
    let (code, out, err) = env.run(&["verify", &slug]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("{slug}: sealed ✓")), "{out}");
    let (_, table, _) = env.run(&["list", "active"]);
    assert!(table.contains("    seal: sealed ✓ "), "{table}");

    // The seal weakened: the host answers on the agent's gateway address.
    let (bridge, gateway, prefix) = internal_bridge(&slug);
    let _address = HostAddress::add(&format!("{gateway}/{prefix}"), &bridge);
    let (listener, port) = [443, 80]
        .iter()
        .find_map(|p| Some((TcpListener::bind((gateway, *p)).ok()?, *p)))
        .expect("port 443 or 80 free on the gateway address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut buf = [0u8; 64];
            let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(200)));
            let _ = conn.read(&mut buf);
            record
                .lock()
                .unwrap()
                .push(conn.peer_addr().map(|a| a.to_string()));
        }
    });

    let (code, out, err) = env.run(&["verify", &slug]);
    assert_eq!(code, 1, "{out}{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains(&format!(
            "{slug}: bottle '{slug}' failed its seal check: the engine host at the agent's gateways"
        )) && said.contains(&format!("connected to {gateway} port {port}"))
            && said.contains("it is frozen"),
        "{said}"
    );
    assert!(
        !seen.lock().unwrap().is_empty(),
        "the test's listener saw the probe"
    );
    assert!(agent_paused(&slug), "the agent is paused");
    let row = env.row(&slug);
    assert_eq!(row["frozen"], true, "{row}");
    let got = row["seal"]["failed"][0]["got"].as_str().unwrap_or_default();
    assert!(
        got.contains(&format!("connected to {gateway} port {port}")),
        "{row}"
    );
    let (_, table, _) = env.run(&["list", "active"]);
    assert!(table.contains("    seal: NOT SEALED "), "{table}");
    // Frozen, it is not checked again until thawed.
    let (code, _, err) = env.run(&["verify", &slug]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("thaw"), "{err}");
    env.stop_leaving_nothing(&slug);
}
