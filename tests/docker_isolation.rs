//! The isolation battery: from inside a bottle's agent, as a hostile agent
//! would, everything it might reach besides its sidecars is tried, under
//! runc and under gVisor (runsc). Every target is the test's own: a TCP and
//! UDP listener on the host (at every host address), a second bottle with a
//! listener in its agent, an "outside" upstream, a metadata server at
//! 169.254.169.254. The probes that should get through (the agent to its
//! sidecars, a container of the test's own to each target) are run too, so
//! a refusal means something.
//!
//! The probes are bash, curl and perl (all in the default image), batched in
//! one script per container (tests/isolation/probe.sh) that prints
//! one line per probe; a failure lists every probe that got through.

mod isolation;
mod support;

use bot_bottle::backend::names;
use std::collections::BTreeSet;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use isolation::attacks::{agent_probes, bottle_b_probes, teeth_probes};
use isolation::host::{HostListener, listening};
use isolation::probes::{
    Expect, Probes, Results, allowed_path, decode_b64, leaks, marker_id, parse_results, shorten,
};
use isolation::report::Report;
use serde_json::Value;
use support::docker::{Env, container_ips, docker_ok};
use support::needs::require_docker;
use support::unique;
use support::upstream::UPSTREAM_IMAGE;

const UPSTREAM_PY: &str = include_str!("isolation/upstream.py");

/// The names the upstream's certificate is for: the routes' hosts.
const NAMES: &[&str] = &["cred.test", "open.test", "meta.test"];
const METADATA_IP: &str = "169.254.169.254";
/// The listener in the other bottle's agent.
const CATCH_PORT: u16 = 9998;
/// The upstream's (and the metadata server's) catch-all TCP and UDP port.
const UPSTREAM_CATCH: u16 = 9999;
const PROXY_PORT: u16 = 3128;
const MCP_PORT: u16 = 8765;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runtime {
    Runc,
    Runsc,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Runsc => "runsc",
        }
    }
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn isolation_under_runc() {
    require_docker();
    battery(Runtime::Runc);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(
    all(skip_gvisor, not(skip_docker)),
    ignore = "BOT_BOTTLE_SKIP_GVISOR=1"
)]
fn isolation_under_runsc() {
    require_docker();
    let runtimes = docker_ok(&["info", "--format", "{{json .Runtimes}}"]);
    let runtimes: Value = serde_json::from_str(&runtimes).unwrap_or_default();
    assert!(
        runtimes.get("runsc").is_some(),
        "gVisor's runsc is not registered with the docker engine: run scripts/setup --gvisor \
         (scripts/test does), or set BOT_BOTTLE_SKIP_GVISOR=1 to skip"
    );
    battery(Runtime::Runsc);
}

fn battery(runtime: Runtime) {
    let clock = Instant::now();
    let phase = |what: &str| {
        eprintln!(
            "[isolation {} {:5.1}s] {what}",
            runtime.name(),
            clock.elapsed().as_secs_f64()
        );
    };
    let env = Env::new();
    let listener = HostListener::start();
    let world = World::build(&env, runtime, listener.port);
    phase("bottles, upstream, metadata server and probe container are up");

    let mut report = Report::new(&world.token, &world.canary);
    // What is there answers: from the other bottle's own agent, and from
    // the test's probe container.
    let in_b = bottle_b_probes();
    in_b.judge(&world.exec_agent(&env, &world.b, &in_b), &mut report);
    let teeth = teeth_probes(&world);
    teeth.judge(&world.exec_teeth(&teeth), &mut report);
    phase("the probes reach what is there");

    let agent = agent_probes(&world);
    agent.judge(&world.exec_agent(&env, &world.a, &agent), &mut report);
    phase(&format!("{} probes from the agent", agent.expect.len()));

    // Datagrams are judged where they land.
    std::thread::sleep(Duration::from_millis(300));
    let host_records = listener.stop();
    judge_records(
        "the host listener",
        &world.run,
        &host_records,
        &["teeth-host-tcp", "teeth-host-udp", "teeth-host-curl"],
        &mut report,
    );
    let (_, b_log, _) = env.run(&["exec", &world.b, "--", "cat", "/tmp/bbcatch.log"]);
    let b_records: Vec<String> = b_log.lines().map(str::to_owned).collect();
    judge_records(
        "the listener in the other bottle's agent",
        &world.run,
        &b_records,
        &["teeth-b-tcp", "teeth-b-udp"],
        &mut report,
    );
    judge_records(
        "the upstream's catch-all port",
        &world.run,
        &read_lines(&world.up_log.join("catch.jsonl")),
        &["teeth-up-tcp", "teeth-up-udp"],
        &mut report,
    );
    judge_records(
        "the metadata server",
        &world.run,
        &[
            read_lines(&world.meta_log.join("requests.jsonl")),
            read_lines(&world.meta_log.join("catch.jsonl")),
        ]
        .concat(),
        &["teeth-meta"],
        &mut report,
    );
    judge_upstream(&world, &agent, &mut report);
    judge_sidecars(&world, &mut report);
    phase("judged");
    report.finish(
        runtime,
        agent.expect.len() + teeth.expect.len() + in_b.expect.len(),
    );
}

// ---------------------------------------------------------------------------
// The world: two bottles, an upstream, a metadata server, a probe container.

struct World {
    runtime: Runtime,
    run: String,
    token: String,
    /// The listener's port on the host.
    port: u16,
    /// Bottle A runs the battery (its routes lead to the upstream); B is
    /// another bottle, with a listener in its agent.
    a: String,
    b: String,
    upstream: String,
    teeth: String,
    up_log: PathBuf,
    meta_log: PathBuf,
    /// Every network the test and its bottles made: (name, subnet, gateway).
    networks: Vec<(String, String, Option<String>)>,
    /// A fake key of a well-known shape, for the DLP probes.
    key: String,
    /// What the agent sends to be echoed back (see `Report::canary`).
    canary: String,
}

impl World {
    fn build(env: &Env, runtime: Runtime, port: u16) -> World {
        support::upstream::upstream_image();
        let certs = env.dir.path().join("upstream-certs");
        let ca = support::upstream::upstream_certs(&certs, NAMES);
        std::fs::write(env.proj().join("test-ca.pem"), ca).unwrap();
        std::fs::write(certs.join("upstream.py"), UPSTREAM_PY).unwrap();
        let up_log = env.dir.path().join("upstream-log");
        let meta_log = env.dir.path().join("metadata-log");

        // The outside: an upstream on a network of its own, and a metadata
        // server at 169.254.169.254 on an internal network that gives the
        // host no address (the host's own route to a metadata service stays
        // as it is).
        let up_net = unique("bbtest-iso-up");
        let meta_net = unique("bbtest-iso-meta");
        let teeth_net = unique("bbtest-iso-teeth");
        network_create(env, &up_net, &[]);
        network_create(
            env,
            &meta_net,
            &[
                "--internal",
                "--subnet",
                "169.254.169.0/24",
                "-o",
                "com.docker.network.bridge.inhibit_ipv4=true",
            ],
        );
        network_create(env, &teeth_net, &[]);
        let upstream = unique("bbtest-iso-upstream");
        start_server(env, &upstream, &up_net, &[], &certs, &up_log);
        let metadata = unique("bbtest-iso-metadata");
        start_server(
            env,
            &metadata,
            &meta_net,
            &["--ip", METADATA_IP, "--network-alias", "meta.test"],
            &certs,
            &meta_log,
        );

        // A's routes: a credentialed one with a path allowlist, an open one
        // for the DLP probes, and one whose host resolves to the metadata
        // server, without allow_private_addresses. Its pids limit is high:
        // under gVisor every process of the agent costs several host tasks
        // (40 short-lived commands at once take ~900), and the sandbox dies at the limit.
        env.write(
            "proj/bot-bottle.json",
            r#"{
              "agents": {"iso": {"provider": "shell", "bottle": "iso"}},
              "bottles": {"iso": {"extends": "default", "limits": {"pids": 8192}, "egress": {
                "routes": [
                  {"host": "cred.test", "path_allowlist": ["/ok/"], "allow_private_addresses": true,
                   "auth": {"scheme": "bearer", "token_env": "BB_ISO_TOKEN"}},
                  {"host": "open.test", "allow_private_addresses": true},
                  {"host": "meta.test"}],
                "trust_upstream_ca": ["test-ca.pem"]}}}
            }"#,
        );
        env.trust();
        let token = format!("bbiso{}", random_hex(16));
        // A's runtime is forced; B's is bot-bottle's own choice, which must
        // be gVisor wherever runsc is registered.
        let chosen = ("BOT_BOTTLE_RUNTIME", Some(runtime.name()));
        let a = env.start_detached_with(&["iso"], &[("BB_ISO_TOKEN", Some(&token)), chosen]);
        let b = match runtime {
            Runtime::Runc => env.start_detached_with(&["shell"], &[chosen]),
            Runtime::Runsc => env.start_detached_with(&["shell"], &[("BOT_BOTTLE_RUNTIME", None)]),
        };
        for slug in [&a, &b] {
            let agent = names::container(slug, "agent");
            let used = docker_ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", &agent]);
            assert_eq!(used, runtime.name(), "{agent} runs under {used}");
        }
        let outside = names::network(&a, "outside");
        docker_ok(&[
            "network",
            "connect",
            "--alias",
            "cred.test",
            "--alias",
            "open.test",
            &outside,
            &upstream,
        ]);
        docker_ok(&[
            "network",
            "connect",
            &meta_net,
            &names::container(&a, "egress"),
        ]);

        // The probe container: the agent's image under the same runtime, as
        // root with docker's default capabilities, on a normal network, the
        // metadata network and A's outside network.
        let image = docker_ok(&[
            "inspect",
            "--format",
            "{{.Config.Image}}",
            &names::container(&a, "agent"),
        ]);
        let teeth = unique("bbtest-iso-probe");
        let mut create = vec![
            "create",
            "--name",
            &teeth,
            "--network",
            &teeth_net,
            "--user",
            "0",
            "--init",
            "--label",
            "dev.bot-bottle.test=1",
            "--entrypoint",
            "sleep",
        ];
        if runtime == Runtime::Runsc {
            create.extend(["--runtime", "runsc"]);
        }
        create.extend([image.as_str(), "1800"]);
        docker_ok(&create);
        env.track_container(&teeth);
        docker_ok(&["network", "connect", &meta_net, &teeth]);
        docker_ok(&["network", "connect", &outside, &teeth]);
        docker_ok(&["start", &teeth]);

        let networks = [
            names::network(&a, "internal"),
            names::network(&a, "outside"),
            names::network(&b, "internal"),
            names::network(&b, "outside"),
            up_net,
            teeth_net,
            meta_net,
        ]
        .into_iter()
        .map(|net| {
            let (subnet, gateway) = network_ipam(&net);
            (net, subnet, gateway)
        })
        .collect();
        wait_for(&up_log.join("ready"), "the upstream");
        wait_for(&meta_log.join("ready"), "the metadata server");
        World {
            runtime,
            run: unique("iso"),
            token,
            port,
            a,
            b,
            upstream,
            teeth,
            up_log,
            meta_log,
            networks,
            key: format!("sk-ant-api03-{}", random_alnum(40)),
            canary: format!("bbcanary{}", random_hex(12)),
        }
    }

    fn network(&self, part: &str) -> &(String, String, Option<String>) {
        self.networks
            .iter()
            .find(|(n, _, _)| n.contains(part))
            .unwrap_or_else(|| panic!("no network {part}"))
    }

    fn ip_on(&self, container: &str, network: &str) -> String {
        container_ips(container)
            .into_iter()
            .find(|(n, _)| n == network)
            .map(|(_, ip)| ip)
            .unwrap_or_else(|| panic!("{container} is not on {network}"))
    }

    /// Runs probes in a bottle's agent, through `bot-bottle exec`.
    fn exec_agent(&self, env: &Env, slug: &str, probes: &Probes) -> Results {
        let script = probes.script(&self.run);
        let out = output_within(env.cmd(&["exec", slug, "--", "bash", "-c", &script]), slug);
        parse_results(&out)
    }

    /// Runs probes in the test's probe container.
    fn exec_teeth(&self, probes: &Probes) -> Results {
        let script = probes.script(&self.run);
        let mut cmd = std::process::Command::new("docker");
        cmd.args(["exec", &self.teeth, "bash", "-c", &script]);
        parse_results(&output_within(cmd, &self.teeth))
    }
}

/// Runs a probe script; its stdout. Every probe has its own timeout; this
/// one catches a script that hangs all the same.
fn output_within(mut cmd: std::process::Command, place: &str) -> String {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the probe script in {place} did not finish in 4 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "the probe script failed in {place} ({status}): {err}\n{out}"
    );
    out
}

fn network_create(env: &Env, name: &str, extra: &[&str]) {
    let mut args = vec!["network", "create", "--label", "dev.bot-bottle.test=1"];
    args.extend_from_slice(extra);
    args.push(name);
    docker_ok(&args);
    env.track_network(name);
}

/// (subnet, gateway) of a network's first IPv4 pool.
fn network_ipam(network: &str) -> (String, Option<String>) {
    let config = docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{json .IPAM.Config}}",
        network,
    ]);
    let config: Value = serde_json::from_str(&config).unwrap();
    let pool = config
        .as_array()
        .and_then(|pools| {
            pools
                .iter()
                .find(|p| p["Subnet"].as_str().is_some_and(|s| s.contains('.')))
        })
        .unwrap_or_else(|| panic!("{network} has no IPv4 subnet: {config}"));
    (
        pool["Subnet"].as_str().unwrap().to_owned(),
        pool["Gateway"].as_str().map(str::to_owned),
    )
}

fn broadcast_of(subnet: &str) -> String {
    let (ip, len) = subnet.split_once('/').unwrap();
    let ip: Ipv4Addr = ip.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let host_bits = u32::MAX.checked_shr(len).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) | host_bits).to_string()
}

/// The upstream (or metadata) server: tests/fixtures/isolation/upstream.py.
fn start_server(env: &Env, name: &str, network: &str, extra: &[&str], certs: &Path, log: &Path) {
    std::fs::create_dir_all(log).unwrap();
    let certs_mount = format!("{}:/certs:ro", certs.display());
    let log_mount = format!("{}:/log", log.display());
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--label",
        "dev.bot-bottle.test=1",
        "-v",
        &certs_mount,
        "-v",
        &log_mount,
    ];
    args.extend_from_slice(extra);
    args.extend([UPSTREAM_IMAGE, "python3", "/certs/upstream.py"]);
    docker_ok(&args);
    env.track_container(name);
}

fn wait_for(path: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    bytes
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

fn random_alnum(n: usize) -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes(n)
        .iter()
        .map(|b| SET[*b as usize % SET.len()] as char)
        .collect()
}

// ---------------------------------------------------------------------------
// The listeners and logs.

/// Records of a listener: every one must come from a probe with teeth
/// (an id starting with "teeth"); each of `teeth` must be there.
fn judge_records(what: &str, run: &str, records: &[String], teeth: &[&str], report: &mut Report) {
    let mut found = BTreeSet::new();
    for record in records {
        match marker_id(record, run) {
            Some(id) if id.starts_with("teeth") => {
                found.insert(id);
            }
            Some(id) => report.breach(format!("{id}: reached {what}: {}", shorten(record))),
            None => report.breach(format!(
                "{what} got something no probe marked: {}",
                shorten(record)
            )),
        }
    }
    for id in teeth {
        if !found.contains(*id) {
            report.toothless(format!("{id}: {what} did not get it"));
        }
    }
}

/// What the upstream saw: nothing a refused probe sent, the token only on
/// the credentialed route within its allowlist, and the probes that must
/// get through.
fn judge_upstream(world: &World, agent: &Probes, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for line in read_lines(&world.up_log.join("requests.jsonl")) {
        let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let path = r["path"].as_str().unwrap_or("");
        let method = r["method"].as_str().unwrap_or("");
        let port = r["port"].as_u64().unwrap_or(0);
        let header = |name: &str| {
            r["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|h| h[0] == name)
                .filter_map(|h| h[1].as_str())
                .collect::<Vec<_>>()
        };
        let host = header("host")
            .first()
            .map(|h| h.to_ascii_lowercase())
            .unwrap_or_default();
        let host = host.split(':').next().unwrap_or("").to_owned();
        let body = decode_b64(r["body"].as_str().filter(|b| !b.is_empty()).unwrap_or("-"));
        let with_token = line.contains(&world.token) || leaks(&body, &world.token).is_some();
        let id = marker_id(path, &world.run);
        let seen_as = format!("{method} {path} (port {port}, Host {host})");
        if let Some(id) = &id {
            seen.insert(id.clone());
            if let Some((expect, what)) = agent.expect.get(id.as_str())
                && *expect == Expect::Blocked
            {
                report.breach(format!("{id}: {what}: the upstream saw {seen_as}"));
            }
        }
        let label = id.clone().unwrap_or_else(|| "upstream".into());
        if with_token && (port != 443 || host != "cred.test" || !allowed_path(path)) {
            report.breach(format!("{label}: the token went out with {seen_as}"));
        }
        if host == "cred.test" && !allowed_path(path) {
            report.breach(format!(
                "{label}: the upstream saw a path outside the allowlist of cred.test: {seen_as}"
            ));
        }
        if id.as_deref() == Some("cred-ok")
            && !header("authorization").contains(&format!("Bearer {}", world.token).as_str())
        {
            report.toothless(format!(
                "cred-ok: the upstream did not get the token: {seen_as}"
            ));
        }
    }
    for (id, (expect, what)) in &agent.expect {
        if *expect == Expect::Reached
            && (id.starts_with("cred-") || id.starts_with("dlp-"))
            && !seen.contains(id)
        {
            report.toothless(format!("{id}: {what}: the upstream never saw it"));
        }
    }
}

/// The sidecars listen on their one port each, and the egress's proxy
/// does not answer the host at its outside address.
fn judge_sidecars(world: &World, report: &mut Report) {
    for (role, port) in [("egress", PROXY_PORT), ("supervise", MCP_PORT)] {
        let container = names::container(&world.a, role);
        let pid = docker_ok(&["inspect", "--format", "{{.State.Pid}}", &container]);
        let (tcp, udp) = listening(&pid);
        let extra: Vec<&(String, u16)> = tcp.iter().filter(|(_, p)| *p != port).collect();
        if !extra.is_empty() {
            report.breach(format!(
                "{container} listens on more than port {port}: {extra:?}"
            ));
        }
        if !tcp.iter().any(|(_, p)| *p == port) {
            report.broken(format!(
                "{container} does not listen on {port} (reading /proc/{pid}/net failed?)"
            ));
        }
        if !udp.is_empty() {
            report.breach(format!("{container} has UDP sockets: {udp:?}"));
        }
    }
    let outside = names::network(&world.a, "outside");
    let egress = names::container(&world.a, "egress");
    let ip: IpAddr = world.ip_on(&egress, &outside).parse().unwrap();
    if TcpStream::connect_timeout(&SocketAddr::new(ip, PROXY_PORT), Duration::from_secs(2)).is_ok()
    {
        report.breach(format!(
            "the host reaches the egress proxy at its outside address {ip}:{PROXY_PORT}"
        ));
    }
}
