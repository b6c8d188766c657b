//! Bottles on the real docker engine: launch, list, exec, stop, isolation,
//! crash and resume, cleanup, concurrent starts. Each test removes what it
//! made, even when it fails (see `support::docker::Env`).

mod support;

use bot_bottle::backend::names;
use support::docker::{Env, agent_paused as paused, docker, docker_ok, leftovers, resume_hint};
use support::needs::require_docker;
use support::unique;

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn detached_launch_list_exec_and_stop_leave_nothing() {
    let env = Env::new();
    std::fs::write(env.proj().join("notes.txt"), "copied, not mounted\n").unwrap();
    let slug = env.start_detached(&["shell", "--cwd"]);
    assert!(
        slug.starts_with("shell-") && slug.len() == "shell-".len() + 5,
        "{slug}"
    );

    let row = env.row(&slug);
    assert_eq!(row["backend"], "docker");
    assert_eq!(row["agent"], "shell");
    assert_eq!(row["services"], serde_json::json!(["egress", "supervise"]));
    let (_, table, _) = env.run(&["list", "active"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains(&slug) && l.contains("egress,supervise")),
        "{table}"
    );

    // The agent: not root, no capabilities, no new privileges; the workdir
    // is a copy it owns. (find, not stat: Debian's runsc of 2022 answers
    // coreutils' statx with EINVAL.)
    let (code, out) = env.sh(
        &slug,
        "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; cat notes.txt; find notes.txt -printf '%U\\n'; touch mine",
    );
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    // gVisor's /proc (runsc 2022) has no NoNewPrivs line: there, the
    // engine's record of the flag is what can be checked.
    let agent = names::container(&slug, "agent");
    if out.contains("NoNewPrivs:") {
        assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    } else {
        let runtime = docker_ok(&["inspect", "--format", "{{.HostConfig.Runtime}}", &agent]);
        assert_eq!(
            runtime, "runsc",
            "no NoNewPrivs in /proc/self/status: {out}"
        );
        let opts = docker_ok(&[
            "inspect",
            "--format",
            "{{json .HostConfig.SecurityOpt}}",
            &agent,
        ]);
        assert!(opts.contains("no-new-privileges:true"), "{opts}");
    }
    assert!(out.contains("copied, not mounted"), "{out}");
    assert_eq!(lines.last(), Some(&"1000"));
    let mounts = docker_ok(&["inspect", "--format", "{{json .Mounts}}", &agent]);
    assert!(
        !mounts.contains(&env.proj().display().to_string()),
        "the host tree is mounted: {mounts}"
    );

    // exec returns the command's exit code.
    assert_eq!(env.sh(&slug, "exit 7").0, 7);

    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(leftovers(&slug), (0, 0));
    assert!(!env.bottle(&slug).root().exists());
    let (code, _, err) = env.run(&["exec", &slug, "--", "true"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn the_agent_reaches_nothing_but_its_sidecars() {
    let env = Env::new();
    // An "outside" host of the test's own, on another network, listening.
    let network = unique("bbtest-outside");
    let target = unique("bbtest-target");
    docker_ok(&[
        "network",
        "create",
        "--label",
        "dev.bot-bottle.test=1",
        &network,
    ]);
    env.track_network(&network);
    let slug = env.start_detached(&["shell"]);
    let sidecar = env.serve_outside(
        &slug,
        &target,
        &["--network", &network],
        "target",
        "0.0.0.0:8080",
    );
    let ip = docker_ok(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &target,
    ]);
    assert!(!ip.is_empty());
    // The target answers on its own network (so a refusal below means something).
    let probe = docker(&[
        "run",
        "--rm",
        "--network",
        &network,
        "--entrypoint",
        "/bot-bottle",
        &sidecar,
        "sidecar",
        "probe",
        &format!("{ip}:8080"),
    ]);
    assert!(
        probe.status.success(),
        "the target does not answer on its own network"
    );

    let checks = [
        format!("curl -sS -m 3 --noproxy '*' http://{ip}:8080/ && echo REACHED"),
        format!(
            "curl -sS -m 3 http://{ip}:8080/ -o /dev/null -w '%{{http_code}}' | grep -q 200 && echo REACHED"
        ),
        format!("getent hosts {target} && echo RESOLVED"),
        format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/8080' 2>/dev/null && echo REACHED"),
    ];
    for check in &checks {
        let (_, out) = env.sh(&slug, check);
        assert!(
            !out.contains("REACHED") && !out.contains("RESOLVED"),
            "{check}: {out}"
        );
    }
    // Through the proxy, a raw IP is refused.
    let (_, out) = env.sh(&slug, &format!("curl -sS -m 5 https://{ip}/ 2>&1; true"));
    assert!(out.contains("403") || out.contains("CONNECT"), "{out}");

    // Only egress joins a network that leads out; the agent's DNS forwards nowhere.
    let networks = |service: &str| {
        docker_ok(&[
            "inspect",
            "--format",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            &names::container(&slug, service),
        ])
    };
    assert_eq!(networks("agent"), names::network(&slug, "internal"));
    assert!(networks("egress").contains("_outside"));
    assert!(!networks("supervise").contains("_outside"));
    let internal = docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Internal}}",
        &names::network(&slug, "internal"),
    ]);
    assert_eq!(internal, "true");
    let dns = docker_ok(&[
        "inspect",
        "--format",
        "{{json .HostConfig.Dns}}",
        &names::container(&slug, "agent"),
    ]);
    assert_eq!(dns, "[\"127.0.0.1\"]");
    env.run(&["stop", &slug]);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_crashed_session_keeps_its_state_and_resume_relaunches_it() {
    let env = Env::new();
    let (code, _, err) = env.run(&["start", "shell", "--yes", "--", "-c", "exit 3"]);
    assert_eq!(code, 3, "{err}");
    let slug = resume_hint(&err)
        .unwrap_or_else(|| panic!("no resume hint: {err}"))
        .to_owned();
    env.track(&slug);
    let state = env.bottle(&slug);
    assert!(state.preserve().exists(), "state not kept");
    assert!(!state.egress_tokens().exists(), "kept state holds tokens");
    assert_eq!(leftovers(&slug), (0, 0));

    let (code, out, err) = env.run(&["resume", &slug, "--yes", "--detach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), slug);
    let (_, list, _) = env.run(&["list", "active", "--json"]);
    assert!(list.contains(&format!("\"slug\": \"{slug}\"")), "{list}");
    assert_eq!(env.sh(&slug, "hostname").1.trim(), slug);
    let (code, _, err) = env.run(&["resume", &slug, "--yes"]);
    assert_eq!(code, 2, "resuming a running bottle: {err}");
    env.stop_leaving_nothing(&slug);

    let (code, _, err) = env.run(&["resume", "shell-zzzzz"]);
    assert_eq!(code, 2);
    assert!(err.contains("no state for bottle 'shell-zzzzz'"), "{err}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn cleanup_removes_what_its_home_made_and_nothing_of_another_homes() {
    let env = Env::new();
    // Another home on the same engine (a team's build box, CI beside an
    // operator's bottles): its bottle runs through the whole test.
    let other_home = env.dir.path().join("other-home");
    let in_other = |args: &[&str]| {
        let out = env
            .cmd(args)
            .env("BOT_BOTTLE_HOME", &other_home)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, theirs, err) = in_other(&["start", "shell", "--yes", "--detach"]);
    let theirs = theirs.trim().to_owned();
    // Taken down at the end by its compose project (`Env`'s drop), not
    // through a home.
    if !theirs.is_empty() && !theirs.contains('\n') {
        env.track(&theirs);
    }
    assert_eq!(code, 0, "{err}");
    let their_id = std::fs::read_to_string(other_home.join("home-id")).unwrap();
    let their_id = their_id.trim();

    let slug = env.start_detached(&["shell"]);
    let our_id = std::fs::read_to_string(env.home().join("home-id")).unwrap();
    let our_id = our_id.trim().to_owned();
    assert_ne!(our_id, their_id);
    let ours = format!("label=dev.bot-bottle.home={our_id}");
    let stray_net = unique("bbtest-stray-net");
    let stray_ctr = unique("bbtest-stray-ctr");
    let older_ctr = unique("bbtest-older-ctr");
    let loose_ctr = unique("bbtest-loose-ctr");
    docker_ok(&[
        "network",
        "create",
        "--label",
        "dev.bot-bottle.slug=stray-aaaaa",
        "--label",
        &format!("dev.bot-bottle.home={our_id}"),
        &stray_net,
    ]);
    env.track_network(&stray_net);
    // This home's stray; one from before bottles carried their home, whose
    // state this home has; and one of those whose state it has not.
    for (name, slug, home) in [
        (&stray_ctr, "stray-aaaaa", Some(our_id.as_str())),
        (&older_ctr, "older-ddddd", None),
        (&loose_ctr, "loose-eeeee", None),
    ] {
        let mut args = vec![
            "create".to_owned(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("dev.bot-bottle.slug={slug}"),
            "--label".into(),
            "dev.bot-bottle.role=agent".into(),
        ];
        if let Some(home) = home {
            args.extend(["--label".into(), format!("dev.bot-bottle.home={home}")]);
        }
        args.extend(["debian:bookworm-slim".into(), "true".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker_ok(&args);
        env.track_container(name);
    }
    std::fs::create_dir_all(env.bottle("older-ddddd").root()).unwrap();
    std::fs::create_dir_all(env.bottle("old-bbbbb").root()).unwrap();
    std::fs::create_dir_all(env.bottle("kept-ccccc").root()).unwrap();
    std::fs::write(env.bottle("kept-ccccc").preserve(), "").unwrap();

    // Each home lists its own; --all-homes shows the other's, with its home.
    let (code, out, err) = env.run(&["list", "active", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&slug) && !out.contains(&theirs), "{out}");
    let (code, out, err) = env.run(&["list", "active", "--json", "--all-homes"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = |s: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["slug"] == s)
            .cloned()
    };
    assert_eq!(row(&theirs).unwrap()["other_home"], their_id, "{out}");
    assert!(row(&slug).unwrap().get("other_home").is_none(), "{out}");
    let (code, out, _) = in_other(&["list", "active"]);
    assert_eq!(code, 0);
    assert!(out.contains(&theirs) && !out.contains(&slug), "{out}");
    // Seen, not changed.
    for verb in [
        &["stop", theirs.as_str()][..],
        &["exec", theirs.as_str(), "--", "true"],
    ] {
        let (code, _, err) = env.run(verb);
        assert_eq!(code, 2, "{verb:?}: {err}");
        assert!(err.contains("belongs to another bot-bottle home"), "{err}");
    }

    let (code, _, err) = env.run(&["cleanup"]);
    assert_eq!(
        code, 2,
        "cleanup without a terminal must ask for --yes: {err}"
    );
    let (code, _, err) = env.run(&["cleanup", "--yes"]);
    assert_eq!(code, 0, "{err}");
    for made in [&slug, &stray_ctr, &stray_net, &older_ctr] {
        assert!(err.contains(made.as_str()), "{made} not in the plan: {err}");
    }
    for not_ours in [&theirs, &loose_ctr] {
        assert!(
            !err.contains(not_ours.as_str()),
            "{not_ours} in the plan: {err}"
        );
    }
    assert_eq!(
        docker_ok(&["ps", "--all", "--quiet", "--filter", &ours]),
        ""
    );
    assert_eq!(
        docker_ok(&["network", "ls", "--quiet", "--filter", &ours]),
        ""
    );
    let exists = |name: &str| {
        !docker_ok(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("name=^{name}$"),
        ])
        .is_empty()
    };
    assert!(
        !exists(&older_ctr),
        "an older bottle with this home's state is its"
    );
    assert!(
        exists(&loose_ctr),
        "an older bottle without this home's state is left"
    );
    let (code, out, _) = in_other(&["list", "active", "--json"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&theirs),
        "the other home's bottle was taken down: {out}"
    );
    assert!(!env.bottle("old-bbbbb").root().exists());
    assert!(!env.bottle(&slug).root().exists());
    assert!(
        env.bottle("kept-ccccc").root().exists(),
        "a state kept for resume was removed"
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn freeze_pauses_the_agent_and_closes_egress_and_thaw_undoes_both() {
    let env = Env::new();
    let a = env.start_detached(&["shell"]);
    let b = env.start_detached(&["shell"]);
    // Through the bottle's own proxy, to a name no route has (and nobody
    // owns: egress answers it itself, frozen or not).
    let probe = "curl -sS -m 10 http://nothing.bot-bottle.test/";
    let (_, out) = env.sh(&a, probe);
    assert!(
        out.contains("no route for nothing.bot-bottle.test"),
        "{out}"
    );

    let (code, _, err) = env.run(&["freeze", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("froze {a}")), "{err}");
    assert!(paused(&a) && !paused(&b));
    assert_eq!(env.row(&a)["frozen"], true, "listed, and as frozen");
    assert_eq!(env.row(&b)["frozen"], false);
    let (_, table, _) = env.run(&["list", "active"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains(&a) && l.contains("FROZEN egress,supervise")),
        "{table}"
    );
    for verb in ["exec", "attach"] {
        let mut args = vec![verb, a.as_str()];
        if verb == "exec" {
            args.extend(["--", "true"]);
        }
        let (code, _, err) = env.run(&args);
        assert_eq!(code, 2, "{verb}: {err}");
        assert!(err.contains("is frozen") && err.contains("thaw"), "{err}");
    }
    // Egress refuses on its own, whatever the agent's state: unpaused
    // behind bot-bottle's back, the agent still sends nothing.
    docker_ok(&["unpause", &names::container(&a, "agent")]);
    let (_, out, _) = env.run(&["exec", &a, "--", "sh", "-c", probe]);
    assert!(out.is_empty(), "exec is refused while frozen: {out}");
    let (code, out) = exec_in_agent(&a, probe);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the operator froze this bottle"), "{out}");
    // Freezing what is frozen already is no error.
    let (code, _, err) = env.run(&["freeze", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(paused(&a));

    let (code, _, err) = env.run(&["thaw", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(!paused(&a));
    assert_eq!(env.row(&a)["frozen"], false);
    let (_, out) = env.sh(&a, probe);
    assert!(out.contains("no route for"), "egress serves again: {out}");

    // --all: every bottle of this home at once; a frozen one stops cleanly.
    let (code, _, err) = env.run(&["freeze", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert!(paused(&a) && paused(&b));
    env.stop_leaving_nothing(&b);
    let (code, _, err) = env.run(&["thaw", "--all"]);
    assert_eq!(code, 0, "{err}");
    assert!(!paused(&a));
    let (code, _, err) = env.run(&["freeze", "no-such-bottle"]);
    assert_eq!(code, 2, "{err}");
    env.stop_leaving_nothing(&a);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_bottle_the_engine_stopped_is_listed_so_and_resume_brings_it_back() {
    let env = Env::new();
    let slug = env.start_detached(&["shell"]);
    // As after the engine or the machine restarted: every container of
    // the bottle stopped, its state folder untouched.
    let ids = docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dev.bot-bottle.slug={slug}"),
    ]);
    let mut stop = vec!["stop", "-t", "1"];
    stop.extend(ids.lines());
    docker_ok(&stop);

    let row = env.row(&slug);
    assert_eq!(row["stopped"], true, "{row}");
    let (_, table, _) = env.run(&["list", "active"]);
    assert!(
        table.lines().any(|l| l.contains(&slug)
            && l.contains(&format!("STOPPED by the engine (bot-bottle resume {slug})"))),
        "{table}"
    );
    let (code, _, err) = env.run(&["exec", &slug, "--", "true"]);
    assert_eq!(code, 2, "not running: {err}");
    let (code, _, err) = env.run(&["freeze", "--all"]);
    assert_eq!(code, 0, "a stopped bottle is no bottle to freeze: {err}");

    let (code, out, err) = env.run(&["resume", &slug, "--yes", "--detach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), slug);
    let row = env.row(&slug);
    assert_eq!(row["stopped"], false, "{row}");
    assert_eq!(row["services"], serde_json::json!(["egress", "supervise"]));
    assert_eq!(env.sh(&slug, "exit 7").0, 7);
    env.stop_leaving_nothing(&slug);
}

/// `docker exec` in the agent as its user, past bot-bottle.
fn exec_in_agent(slug: &str, script: &str) -> (i32, String) {
    let out = docker(&[
        "exec",
        "-u",
        "1000",
        &names::container(slug, "agent"),
        "sh",
        "-c",
        script,
    ]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn two_concurrent_starts_get_distinct_identities() {
    let env = Env::new();
    let spawn = || {
        env.cmd(&["start", "shell", "--yes", "--detach"])
            .stderr(std::process::Stdio::null())
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout).trim().to_owned(),
        String::from_utf8_lossy(&b.stdout).trim().to_owned(),
    );
    env.track(&a);
    env.track(&b);
    assert!(!a.is_empty() && !b.is_empty());
    assert_ne!(a, b);
    let (_, list, _) = env.run(&["list", "active", "--json"]);
    assert!(list.contains(&a) && list.contains(&b), "{list}");
    env.run(&["stop", &a]);
    env.run(&["stop", &b]);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_launch_that_fails_midway_leaves_nothing() {
    let env = Env::new();
    env.write(
        "proj/bot-bottle.json",
        r#"{"agents": {"broken": {"provider": "shell", "bottle": "broken"}},
            "bottles": {"broken": {"image": "bot-bottle-test-no-such-image:1"}}}"#,
    );
    env.trust();
    let (code, out, err) = env.run(&["start", "broken", "--yes", "--detach"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("did not come up"), "{err}");
    assert_nothing_left_of(&env, "broken");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn ctrl_c_during_bring_up_leaves_nothing() {
    require_docker();
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let mut child = env
        .cmd(&[
            "start",
            "shell",
            "--yes",
            "--detach",
            "--label",
            "interrupted",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let midway = line.contains("Container") && line.contains("Creat");
        seen.push(line);
        if midway {
            // As Ctrl-C would: SIGINT while compose is bringing it up.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{seen:?}");
    assert!(out.stdout.is_empty());
    let filter = "label=dev.bot-bottle.agent=shell";
    let left: Vec<String> =
        docker_ok(&["ps", "--all", "--format", "{{.Names}}", "--filter", filter])
            .lines()
            .filter(|n| n.contains("interrupted-"))
            .map(String::from)
            .collect();
    assert!(left.is_empty(), "containers left: {left:?}");
    let nets = docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets.lines().any(|n| n.contains("bot-bottle-interrupted-")),
        "{nets}"
    );
    env.assert_no_state();
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_failed_image_build_leaves_no_container() {
    let env = Env::new();
    let marker = unique("bbtest-failed-step");
    env.trust_agent_image(
        "broken",
        "shell",
        &format!("FROM debian:bookworm-slim\nRUN echo {marker} && false\n"),
    );
    let (code, _, err) = env.run(&["start", "broken", "--yes", "--detach"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("docker build"), "{err}");
    let commands = docker_ok(&["ps", "--all", "--no-trunc", "--format", "{{.Command}}"]);
    assert!(
        !commands.contains(&marker),
        "the failed step's container is left: {commands}"
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_cli_image_that_can_get_no_cli_fails_in_one_line_and_leaves_nothing() {
    let env = Env::new();
    // A Dockerfile of its own (so an image of this content never exists)
    // that asks for Claude Code, on a host where npm and pip both fail.
    let marker = unique("bbtest-cli");
    env.trust_agent_image(
        "nocli",
        "claude",
        &format!("# bot-bottle-cli: claude\nFROM debian:bookworm-slim\nCOPY cli/ /usr/local/bin/\nRUN echo {marker}\n"),
    );
    let fail = env.dir.path().join("fail");
    support::fake::script(&fail, "#!/bin/sh\necho \"no network here\" >&2\nexit 1\n");
    let child = env
        .cmd(&["start", "nocli", "--yes", "--detach"])
        .env("BOT_BOTTLE_NPM", &fail)
        .env("BOT_BOTTLE_PYTHON", &fail)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cli_dir = std::env::temp_dir().join(format!("bot-bottle-cli-{}-0", child.id()));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("cannot get Claude Code"))
        .unwrap_or_else(|| panic!("no line says what was tried: {err}"));
    assert!(
        line.contains("npm: `npm view @anthropic-ai/claude-code@2.1.332` failed: no network here")
            && line.contains("PyPI: `pip download claude-agent-sdk==0.2.189` failed"),
        "{line}"
    );
    assert_nothing_left_of(&env, "nocli");
    assert!(!cli_dir.exists(), "{} is left", cli_dir.display());
}

/// No container, network or state of a bottle of `agent` is left.
fn assert_nothing_left_of(env: &Env, agent: &str) {
    let filter = format!("label=dev.bot-bottle.agent={agent}");
    assert_eq!(
        docker_ok(&["ps", "--all", "--quiet", "--filter", &filter]),
        ""
    );
    assert_eq!(
        docker_ok(&["network", "ls", "--quiet", "--filter", &filter]),
        ""
    );
    env.assert_no_state();
}

/// `events --json` as a child, killed on drop; its lines read as they come.
struct Events {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Events {
    fn start(env: &Env) -> Events {
        let mut child = env
            .cmd(&["events", "--json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Events { child, lines }
    }

    /// Waits (up to 30 s) for an event named `name` of bottle `slug`.
    #[track_caller]
    fn expect(&self, name: &str, slug: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(event) => {
                    if event["event"] == name && event["slug"] == slug {
                        assert!(event["time"].is_string(), "{event}");
                        return event;
                    }
                    seen.push(event);
                }
                Err(_) => break,
            }
        }
        panic!("no {name} event for {slug}; saw {seen:?}");
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn events_stream_what_happens_to_a_bottle() {
    require_docker();
    let env = Env::new();
    let events = Events::start(&env);
    let slug = env.start_detached(&["shell"]);
    let up = events.expect("bottle_up", &slug);
    assert_eq!(up["agent"], "shell", "{up}");
    events.expect("verified", &slug);
    let (_, out) = env.sh(&slug, "curl -sS -m 10 http://nothing.bot-bottle.test/x");
    assert!(out.contains("no route for"), "{out}");
    let denied = events.expect("denied", &slug);
    assert_eq!(
        denied["url"], "http://nothing.bot-bottle.test/x",
        "{denied}"
    );
    assert!(
        denied["reason"].as_str().unwrap().contains("no route"),
        "{denied}"
    );
    let (code, _, err) = env.run(&["verify", &slug]);
    assert_eq!(code, 0, "{err}");
    let checked = events.expect("verified", &slug);
    assert_eq!(checked["sealed"], true, "{checked}");
    for (verb, event) in [("freeze", "frozen"), ("thaw", "thawed")] {
        let (code, _, err) = env.run(&[verb, &slug]);
        assert_eq!(code, 0, "{err}");
        events.expect(event, &slug);
    }
    env.stop_leaving_nothing(&slug);
    events.expect("bottle_down", &slug);
}
