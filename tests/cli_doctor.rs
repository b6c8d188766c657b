//! `bot-bottle doctor` for real on this machine (docker needed, unless
//! BOT_BOTTLE_SKIP_DOCKER=1), and without docker (a missing program), and
//! the pointer to it from a failed `start`.

mod support;

use std::process::{Command, Output};

const CHECKS: [&str; 8] = [
    "docker",
    "compose",
    "tmux",
    "base image",
    "runsc",
    "smolvm",
    "subnets",
    "binary",
];

/// The line of each check, in order; each starts with its status.
fn lines_of(out: &Output) -> Vec<(String, String, String)> {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), CHECKS.len(), "{text}");
    lines
        .iter()
        .zip(CHECKS)
        .map(|(line, check)| {
            let (status, rest) = line.split_once(' ').unwrap();
            assert!(
                ["ok", "missing", "warn"].contains(&status),
                "a status first: {line}"
            );
            let rest = rest.trim_start();
            assert!(rest.starts_with(check), "{check} in order: {text}");
            let found = rest[check.len()..].trim_start().to_owned();
            (status.to_owned(), check.to_owned(), found)
        })
        .collect()
}

fn status<'a>(lines: &'a [(String, String, String)], check: &str) -> (&'a str, &'a str) {
    let (s, _, found) = lines.iter().find(|(_, c, _)| c == check).unwrap();
    (s, found)
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn doctor_on_this_machine() {
    support::needs::require_docker();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(support::docker::bin())
        .arg("doctor")
        .env("BOT_BOTTLE_HOME", home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\x1b'), "no colour: {stdout}");
    let lines = lines_of(&out);

    let version = support::docker::docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(
        status(&lines, "docker"),
        ("ok", format!("engine {version} answers").as_str())
    );
    let compose = support::docker::docker_ok(&["compose", "version", "--short"]);
    let (s, found) = status(&lines, "compose");
    assert_eq!(s, "ok");
    assert!(found.contains(compose.trim_start_matches('v')), "{found}");

    let base = support::docker::docker(&["image", "inspect", "debian:bookworm-slim"]);
    let (s, found) = status(&lines, "base image");
    if base.status.success() {
        assert_eq!((s, found), ("ok", "debian:bookworm-slim is in the engine"));
    } else {
        assert_eq!(s, "missing");
        assert!(found.contains("fix: bot-bottle image bootstrap"), "{found}");
    }

    let runtimes = support::docker::docker_ok(&["info", "--format", "{{json .Runtimes}}"]);
    let (s, found) = status(&lines, "runsc");
    if runtimes.contains("\"runsc\"") {
        assert_eq!(s, "ok", "{found}");
        assert!(found.contains("registered with the engine"), "{found}");
    } else {
        assert_eq!(s, "warn", "{found}");
        assert!(found.contains("fix: "), "{found}");
    }

    let (s, found) = status(&lines, "subnets");
    assert_eq!(s, "ok", "{found}");
    assert!(
        found.contains("/28 networks free in 198.18.0.0/15"),
        "{found}"
    );
    let (s, found) = status(&lines, "binary");
    assert_eq!(s, "ok", "the static build: {found}");

    let tmux = Command::new("tmux").arg("-V").output().ok();
    if let Some(tmux) = tmux.filter(|o| o.status.success()) {
        let v = String::from_utf8_lossy(&tmux.stdout).trim().to_owned();
        assert_eq!(status(&lines, "tmux"), ("ok", v.as_str()));
    }

    let missing = lines.iter().any(|(s, _, _)| s == "missing");
    assert_eq!(
        out.status.code(),
        Some(if missing { 1 } else { 0 }),
        "exit 1 exactly when a required check is missing: {stdout}"
    );
}

#[test]
fn doctor_without_docker_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::cargo_bin("bot-bottle")
        .unwrap()
        .arg("doctor")
        .env("BOT_BOTTLE_HOME", dir.path().join("home"))
        .env("BOT_BOTTLE_DOCKER", dir.path().join("no-docker"))
        .env("BOT_BOTTLE_SMOLVM", dir.path().join("no-smolvm"))
        .env("BOT_BOTTLE_RUNSC", dir.path().join("no-runsc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = lines_of(&out);
    let (s, found) = status(&lines, "docker");
    assert_eq!(s, "missing");
    assert!(found.contains("was not found"), "{found}");
    assert!(found.contains("fix: install Docker Engine"), "{found}");
    let (s, found) = status(&lines, "compose");
    assert_eq!(s, "missing", "{found}");
    let (s, found) = status(&lines, "base image");
    assert_eq!(s, "missing");
    assert!(
        found.contains("the docker engine does not answer"),
        "{found}"
    );
    assert_eq!(status(&lines, "runsc").0, "warn");
    let (s, found) = status(&lines, "smolvm");
    assert_eq!(s, "warn");
    assert!(found.contains("fix: install smolvm"), "{found}");
    // The test binary is not static: the line says how to get one.
    let (s, found) = status(&lines, "binary");
    assert_eq!(s, "warn");
    assert!(found.contains("fix: build one with"), "{found}");
}

/// `start shell --yes` in a fresh home; its stderr and exit code.
fn start(dir: &std::path::Path, docker: &std::path::Path) -> (String, Option<i32>) {
    let out = assert_cmd::Command::cargo_bin("bot-bottle")
        .unwrap()
        .args(["start", "shell", "--yes"])
        .current_dir(dir)
        .env("HOME", dir)
        .env("BOT_BOTTLE_HOME", dir.join("home"))
        .env("BOT_BOTTLE_DOCKER", docker)
        .env("BOT_BOTTLE_SMOLVM", dir.join("no-smolvm"))
        .env_remove("BOT_BOTTLE_BACKEND")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

const DOCTOR_HINT: &str = "  hint: run `bot-bottle doctor` to check this machine";

#[test]
fn a_failed_start_points_at_doctor() {
    let dir = tempfile::tempdir().unwrap();
    // No docker: no backend.
    let (stderr, code) = start(dir.path(), &dir.path().join("no-docker"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("bot-bottle: error: no backend is available here"),
        "{stderr}"
    );
    assert!(stderr.lines().any(|l| l == DOCTOR_HINT), "{stderr}");
    // A docker whose engine does not answer (but for `info`): compose fails,
    // and its own hint comes first.
    let fake = dir.path().join("fake-docker");
    support::fake::script(
        &fake,
        "#!/bin/sh\ncase \"$1\" in info) echo '{\"runc\":{}}'; echo 2 ;; *) echo 'Cannot connect to the Docker daemon' >&2; exit 1 ;; esac\n",
    );
    let (stderr, code) = start(dir.path(), &fake);
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].contains("Docker Compose v2"), "{stderr}");
    assert!(lines[1].contains("scripts/setup"), "{stderr}");
    assert_eq!(lines[2], DOCTOR_HINT);
}

/// Kills the test's own tmux server, even when the test fails.
struct Server(String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn the_first_run_without_docker_points_at_doctor() {
    support::needs::require_tmux();
    let dir = tempfile::tempdir().unwrap();
    let server = Server(format!("bbdoctor-{}", std::process::id()));
    let open = || {
        let out = assert_cmd::Command::cargo_bin("bot-bottle")
            .unwrap()
            .arg("--detach")
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("BOT_BOTTLE_HOME", dir.path().join("home"))
            .env("BOT_BOTTLE_TMUX_SOCKET", &server.0)
            .env("BOT_BOTTLE_DOCKER", dir.path().join("no-docker"))
            .env("BOT_BOTTLE_SMOLVM", dir.path().join("no-smolvm"))
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = open();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(
        lines[0],
        "bot-bottle: no backend is available (docker is missing), so no bottle can start here yet: run `bot-bottle doctor` to check this machine",
        "{first}"
    );
    assert_eq!(lines.len(), 2, "one line more: {first}");
    let again = open();
    assert!(
        !again.contains("bot-bottle doctor"),
        "only on the first run: {again}"
    );
}
