//! The git gate end to end, against the real engine: a bottle started with
//! `--cwd` in a test repository, an agent that commits and pushes, and
//! what reaches the operator's repository and a test's own upstream.

mod support;

use bot_bottle::backend::names;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::docker::{Env, docker_ok, search_agent};
use support::unique;
use support::upstream::{run_upstream, upstream_certs, upstream_image};
use support::wait::wait_for;

const UPSTREAM_SERVER: &str = include_str!("gitgate/upstream.py");

/// Runs host git in `dir`; its output, trimmed; it must succeed.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = support::succeed(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir),
    );
    out.trim().to_owned()
}

/// Every ref of a repository and what it points at.
fn refs(dir: &Path) -> String {
    git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// A script run in the agent's /workspace; (exit code, stdout and stderr).
fn agent(env: &Env, slug: &str, script: &str) -> (i32, String) {
    env.sh(slug, &format!("cd /workspace && {{ {script} ; }} 2>&1"))
}

fn agent_ok(env: &Env, slug: &str, script: &str) -> String {
    let (code, out) = agent(env, slug, script);
    assert_eq!(code, 0, "{script}: {out}");
    out
}

/// The operator's repository: two commits on main, a CI definition, and
/// one uncommitted change the clone must show.
fn operator_repo(env: &Env) {
    let proj = env.proj();
    git(&proj, &["init", "-q", "-b", "main"]);
    git(&proj, &["config", "user.email", "op@example.test"]);
    git(&proj, &["config", "user.name", "Operator"]);
    env.write("proj/README.md", "hello\n");
    env.write("proj/.github/workflows/ci.yml", "on: push\n");
    git(&proj, &["add", "-A"]);
    git(&proj, &["commit", "-q", "-m", "first"]);
    env.write("proj/src/lib.rs", "pub fn f() {}\n");
    git(&proj, &["add", "-A"]);
    git(&proj, &["commit", "-q", "-m", "second"]);
    env.write("proj/README.md", "hello, uncommitted\n");
}

/// What of the operator's repository the agent must never get: a stash, a
/// remote-tracking branch, `refs/original`, another bottle's branch and
/// notes, each an object of its own (made without touching the working
/// tree). Returns (what, object id).
fn hidden_objects(proj: &Path) -> Vec<(&'static str, String)> {
    let stash = git(proj, &["stash", "create", "hidden"]);
    git(proj, &["stash", "store", "-m", "hidden", &stash]);
    let mut hidden = vec![("the stash", stash)];
    for (what, name) in [
        ("a remote-tracking branch", "refs/remotes/origin/wip"),
        ("refs/original", "refs/original/refs/heads/main"),
        (
            "another bottle's branch",
            "refs/heads/bot-bottle/other-zzzzz/x",
        ),
    ] {
        let commit = git(
            proj,
            &["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", what],
        );
        git(proj, &["update-ref", name, &commit]);
        hidden.push((what, commit));
    }
    git(proj, &["notes", "add", "-m", "not for the agent", "HEAD"]);
    hidden.push(("the notes", git(proj, &["rev-parse", "refs/notes/commits"])));
    hidden
}

fn pending_pushes(env: &Env) -> Vec<Value> {
    let (code, out, err) = env.run(&["proposals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let all: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|p| p.to_string().contains("git-push"))
        .cloned()
        .collect()
}

/// The id of the one pending git-push proposal for `branch`.
fn push_proposal(env: &Env, branch: &str) -> String {
    let found: Vec<Value> = pending_pushes(env)
        .into_iter()
        .filter(|p| p.to_string().contains(&format!("refs/heads/{branch}\"")))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0]["id"].as_str().unwrap().to_owned()
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn pushes_land_as_branches_and_the_checks_hold() {
    let env = Env::new();
    operator_repo(&env);
    let key_canary = unique("not-a-real-key");
    env.write(
        "keys/id_test",
        &format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{key_canary}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
    );
    env.write(
        "proj/bot-bottle.json",
        r#"{
          "agents": {"dev": {"provider": "shell", "bottle": "dev", "prompt": "work"}},
          "bottles": {"dev": {"extends": "default",
            "ssh": [{"host": "git.example.test", "identity_file": "KEY"}]}}
        }"#
        .replace(
            "KEY",
            &env.dir.path().join("keys/id_test").display().to_string(),
        )
        .as_str(),
    );
    env.trust();
    let proj = env.proj();
    let hidden = hidden_objects(&proj);
    let before = refs(&proj);
    let status_before = git(&proj, &["status", "--porcelain"]);
    let slug = env.start_detached(&["dev", "--cwd"]);
    let prefix = format!("bot-bottle/{slug}");

    // None of the operator's other refs and objects reaches the agent: not
    // by id (protocol v2 and v0), not named by an advertisement.
    let ids: Vec<&str> = hidden.iter().map(|(_, oid)| oid.as_str()).collect();
    let out = agent_ok(
        &env,
        &slug,
        &format!(
            "for oid in {}; do git fetch -q origin $oid 2>/dev/null && echo FETCHED $oid; \
             git -c protocol.version=0 fetch -q origin $oid 2>/dev/null && echo FETCHED $oid; \
             git cat-file -e $oid 2>/dev/null && echo HAS $oid; done; true",
            ids.join(" ")
        ),
    );
    assert!(!out.contains("FETCHED") && !out.contains("HAS"), "{out}");
    let out = agent_ok(
        &env,
        &slug,
        "git ls-remote origin; git -c protocol.version=0 ls-remote origin; \
         GIT_TRACE_PACKET=1 git push --dry-run origin HEAD:refs/heads/probe",
    );
    assert!(out.contains("refs/heads/main"), "{out}");
    for (what, oid) in &hidden {
        assert!(!out.contains(oid.as_str()), "{what} ({oid}) shown: {out}");
    }

    // The workspace is a clone of the gate, with history and the
    // operator's uncommitted change.
    let out = agent_ok(
        &env,
        &slug,
        "git remote get-url origin; git log --format=%s; git status --porcelain",
    );
    assert!(out.contains("http://git-gate:8418/repo.git"), "{out}");
    assert!(out.contains("second\nfirst"), "{out}");
    assert!(out.contains(" M README.md"), "{out}");

    // No private key and no gate credential in the agent.
    let agent_container = names::container(&slug, "agent");
    assert!(!search_agent(&agent_container, &key_canary).contains(&key_canary));

    // A push lands as bot-bottle/<slug>/<branch>, exactly those commits.
    let out = agent_ok(
        &env,
        &slug,
        "git checkout -q -b feature && echo one > one.txt && git add one.txt && git commit -q -m one \
         && echo two > two.txt && git add two.txt && git commit -q -m two && git push origin feature",
    );
    assert!(out.contains(&format!("{prefix}/feature")), "{out}");
    let head = agent_ok(&env, &slug, "git rev-parse HEAD")
        .trim()
        .to_owned();
    let landed = git(&proj, &["rev-parse", &format!("{prefix}/feature")]);
    assert_eq!(landed, head);
    let commits = git(
        &proj,
        &["log", "--format=%s", &format!("main..{prefix}/feature")],
    );
    assert_eq!(commits, "two\none");
    let after = refs(&proj);
    let added: Vec<&str> = after.lines().filter(|l| !before.contains(l)).collect();
    assert_eq!(added, [format!("refs/heads/{prefix}/feature {head}")]);
    assert!(before.lines().all(|l| after.contains(l)), "{after}");
    assert_eq!(git(&proj, &["status", "--porcelain"]), status_before);
    assert_eq!(git(&proj, &["branch", "--show-current"]), "main");

    // Refused, each with its reason: a force-push, a deletion, a tag.
    let (code, out) = agent(
        &env,
        &slug,
        "git commit -q --amend -m rewritten && git push -f origin feature",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.to_lowercase().contains("fast-forward"), "{out}");
    let (code, out) = agent(&env, &slug, "git push origin :feature");
    assert_ne!(code, 0, "{out}");
    assert!(out.to_lowercase().contains("delet"), "{out}");
    let (code, out) = agent(&env, &slug, "git tag v1 && git push origin v1");
    assert_ne!(code, 0, "{out}");
    assert!(out.to_lowercase().contains("tag"), "{out}");
    assert_eq!(
        git(&proj, &["rev-parse", &format!("{prefix}/feature")]),
        head
    );

    // A secret in any commit of the range refuses the push, naming that
    // commit and file, even when a later commit removes it.
    let secret = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
    let out = agent_ok(
        &env,
        &slug,
        &format!(
            "git checkout -q -b leak main && printf 'token = {secret}\\n' > config.ini && git add config.ini \
             && git commit -q -m 'add config' && git rev-parse --short HEAD \
             && git rm -q config.ini && git commit -q -m 'remove config'"
        ),
    );
    let leaked = out.trim();
    let (code, out) = agent(&env, &slug, "git push origin leak");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(leaked), "the commit is not named: {out}");
    assert!(out.contains("config.ini"), "the file is not named: {out}");
    assert!(
        !out.contains(&secret),
        "the refusal repeats the secret: {out}"
    );
    assert!(
        !git(&proj, &["branch", "--list", &format!("{prefix}/leak")]).contains("leak"),
        "a push with a secret landed"
    );

    // A protected path makes a proposal: nothing lands after reject, it
    // lands after approve.
    let out = agent_ok(
        &env,
        &slug,
        "git checkout -q -b ci main && echo 'on: [push, pull_request]' > .github/workflows/ci.yml \
         && git commit -q -am 'widen ci' && git push origin ci; true",
    );
    assert!(out.contains("proposal"), "{out}");
    let id = push_proposal(&env, "ci");
    let (code, _, err) = env.run(&["reject", &id, "--reason", "not now"]);
    assert_eq!(code, 0, "{err}");
    assert!(git(&proj, &["branch", "--list", &format!("{prefix}/ci")]).is_empty());
    let out = agent_ok(
        &env,
        &slug,
        "git checkout -q -b ci2 main && echo 'on: [push]' > .github/workflows/ci.yml \
         && git commit -q -am 'tweak ci' && git push origin ci2; git rev-parse HEAD",
    );
    let ci2 = out.lines().last().unwrap().trim().to_owned();
    let id = push_proposal(&env, "ci2");
    // What the operator reads: the whole diff of the protected path.
    let held = pending_pushes(&env);
    let diff = held[0]["protected_diff"].as_str().unwrap_or_default();
    assert!(
        diff.contains("+++ b/.github/workflows/ci.yml") && diff.contains("+on: [push]"),
        "{held:?}"
    );
    let (code, out, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(git(&proj, &["rev-parse", &format!("{prefix}/ci2")]), ci2);

    // The agent fetches the operator's new work through the gate.
    env.write("proj/later.txt", "later\n");
    git(&proj, &["add", "later.txt"]);
    git(&proj, &["commit", "-q", "-m", "operator later"]);
    let out = agent_ok(
        &env,
        &slug,
        "git fetch -q origin && git log -1 --format=%s origin/main",
    );
    assert_eq!(out.trim(), "operator later");

    // The landed branches are listed, and audited.
    let (code, out, err) = env.run(&["list", "active", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{prefix}/feature")), "{out}");
    assert_audited(&env, &slug, "landed");

    // The bottle goes; the landed branches stay.
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        git(&proj, &["rev-parse", &format!("{prefix}/feature")]),
        head
    );
    env.assert_no_state();
}

/// The bottle's audit log has a `git-push` entry that says `outcome`.
fn assert_audited(env: &Env, slug: &str, outcome: &str) {
    let audit = std::fs::read_to_string(env.home().join(format!("audit/{slug}.jsonl"))).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("git-push") && l.contains(outcome)),
        "{audit}"
    );
}

/// Starts the test's upstream: a bare repository served over HTTPS with
/// Basic auth. Returns (container, the bare repository on the host).
fn start_upstream(env: &Env, auth: &str) -> (String, std::path::PathBuf) {
    upstream_image();
    let certs = env.dir.path().join("upstream-certs");
    std::fs::write(
        env.proj().join("test-ca.pem"),
        upstream_certs(&certs, &["upstream.test"]),
    )
    .unwrap();
    std::fs::write(certs.join("upstream.py"), UPSTREAM_SERVER).unwrap();
    let srv = env.dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    git(&srv, &["init", "-q", "--bare", "up.git"]);
    git(&srv.join("up.git"), &["config", "http.receivepack", "true"]);
    let log = env.dir.path().join("upstream-log");
    std::fs::create_dir_all(&log).unwrap();
    let network = env.network("bbtest-gitup-net");
    let name = unique("bbtest-gitup");
    let user = format!("{}:{}", unsafe { libc::getuid() }, unsafe {
        libc::getgid()
    });
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, auth)
    );
    run_upstream(
        env,
        &name,
        &network,
        &[
            "--user",
            &user,
            "-e",
            "HOME=/tmp",
            "-e",
            &format!("EXPECTED_AUTH={expected}"),
            "-v",
            &format!("{}:/certs:ro", certs.display()),
            "-v",
            &format!("{}:/srv", srv.display()),
            "-v",
            &format!("{}:/log", log.display()),
        ],
        &["python3", "/certs/upstream.py"],
    );
    (name, srv.join("up.git"))
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn pushes_go_upstream_only_for_allowed_branches() {
    let env = Env::new();
    operator_repo(&env);
    let token = format!("x-access-token:{}", unique("gitup-secret"));
    let (upstream, up_repo) = start_upstream(&env, &token);
    env.write(
        "proj/bot-bottle.json",
        r#"{
          "agents": {"dev": {"provider": "shell", "bottle": "dev", "prompt": "work"}},
          "bottles": {"dev": {"extends": "default",
            "egress": {"trust_upstream_ca": ["test-ca.pem"]},
            "git": {"remotes": [{"name": "up", "url": "https://upstream.test:8443/up.git",
                                 "branches": ["agent/*"],
                                 "auth": {"scheme": "basic", "token_env": ["E2E_GIT_TOKEN"]}}]}}}
        }"#,
    );
    env.trust();
    let slug = env.start_detached_with(&["dev", "--cwd"], &[("E2E_GIT_TOKEN", Some(&token))]);
    docker_ok(&[
        "network",
        "connect",
        "--alias",
        "upstream.test",
        &names::network(&slug, "outside"),
        &upstream,
    ]);
    let agent_container = names::container(&slug, "agent");
    assert!(!search_agent(&agent_container, &token).contains(&token));

    // An allowed branch lands and goes on upstream, with the gate's
    // credential.
    let out = agent_ok(
        &env,
        &slug,
        "git checkout -q -b agent/x && echo x > x.txt && git add x.txt && git commit -q -m x \
         && git push origin agent/x && git rev-parse HEAD",
    );
    let x = out.lines().last().unwrap().trim().to_owned();
    assert!(out.contains("up"), "{out}");
    assert_eq!(git(&up_repo, &["rev-parse", "refs/heads/agent/x"]), x);
    assert_eq!(
        git(
            &env.proj(),
            &["rev-parse", &format!("bot-bottle/{slug}/agent/x")]
        ),
        x
    );

    // Any other branch lands home and waits for approval to go upstream.
    let out = agent_ok(
        &env,
        &slug,
        "git checkout -q -b other main && echo y > y.txt && git add y.txt && git commit -q -m y \
         && git push origin other && git rev-parse HEAD",
    );
    let other = out.lines().last().unwrap().trim().to_owned();
    assert_eq!(
        git(
            &env.proj(),
            &["rev-parse", &format!("bot-bottle/{slug}/other")]
        ),
        other
    );
    assert!(git(&up_repo, &["branch", "--list", "other"]).is_empty());
    let id = push_proposal(&env, "other");
    let (code, out, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for(
        "the approved branch upstream",
        Duration::from_secs(20),
        || !git(&up_repo, &["branch", "--list", "other"]).is_empty(),
    );
    assert_eq!(git(&up_repo, &["rev-parse", "refs/heads/other"]), other);

    // Only the gate spoke to the upstream, always with the credential.
    let seen = std::fs::read_to_string(env.dir.path().join("upstream-log/seen.jsonl")).unwrap();
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &token)
    );
    assert!(!seen.is_empty());
    for line in seen.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        assert_eq!(entry["auth"], expected.as_str(), "{line}");
    }
    assert!(
        !out.contains(&token),
        "the gate's output shows the credential"
    );
    assert_audited(&env, &slug, "forwarded");

    // The operator commits a token locally and does not push it; the agent
    // builds on it. The branch lands home, but does not go upstream: the
    // remote lacks the operator's commit, and it is scanned too.
    let secret = format!("ghp_{}", "Zq8vN3xLr5Kw2Yp7Tm4Hs6Jd9Fb1Gc0Xa2Ve");
    env.write("proj/deploy.env", &format!("TOKEN={secret}\n"));
    git(&env.proj(), &["add", "deploy.env"]);
    git(&env.proj(), &["commit", "-q", "-m", "local deploy config"]);
    let unpushed = git(&env.proj(), &["rev-parse", "HEAD"]);
    let out = agent_ok(
        &env,
        &slug,
        "git fetch -q origin && git checkout -q -b agent/leak origin/main && echo z > z.txt \
         && git add z.txt && git commit -q -m z && git push origin agent/leak",
    );
    assert!(
        out.contains(&format!("bot-bottle/{slug}/agent/leak")),
        "{out}"
    );
    assert!(out.contains("not forwarded"), "{out}");
    assert!(out.contains(&unpushed[..10]), "{out}");
    assert!(!out.contains(&secret), "{out}");
    assert!(git(&up_repo, &["branch", "--list", "agent/leak"]).is_empty());
    let has = Command::new("git")
        .args(["cat-file", "-e", &unpushed])
        .current_dir(&up_repo)
        .status()
        .unwrap();
    assert!(
        !has.success(),
        "the operator's unpushed commit went upstream"
    );
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
}

/// `--cwd` in a repository copies what git does not ignore (tracked,
/// changed, untracked), never what it ignores unless asked, and says so in
/// the preflight; a file named like one of tar's options is a file.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn the_workspace_gets_what_git_does_not_ignore() {
    let env = Env::new();
    operator_repo(&env);
    env.write("proj/.gitignore", "target/\n");
    env.write("proj/target/debug/big", &"x".repeat(1 << 20));
    env.write("proj/notes.txt", "untracked\n");
    // Read as an option, it would have tar delete what it archived.
    env.write("proj/--remove-files", "a file\n");

    let (code, out, err) = env.run(&["start", "shell", "--cwd", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let shown = format!("{out}{err}");
    assert!(
        shown.contains("files, leaving out 1.0 MiB that git ignores"),
        "{shown}"
    );

    let slug = env.start_detached(&["shell", "--cwd"]);
    let out = agent_ok(
        &env,
        &slug,
        "cat notes.txt ./--remove-files; git status --porcelain; \
         test -e target && echo HAS-TARGET; true",
    );
    assert!(out.contains("untracked\na file\n"), "{out}");
    assert!(
        out.contains(" M README.md") && out.contains("?? notes.txt"),
        "{out}"
    );
    assert!(
        !out.contains("HAS-TARGET"),
        "an ignored folder was copied: {out}"
    );
    for kept in ["README.md", "notes.txt", "src/lib.rs", "target/debug/big"] {
        assert!(
            env.proj().join(kept).is_file(),
            "{kept} left the operator's tree"
        );
    }
    env.stop_leaving_nothing(&slug);

    let slug = env.start_detached(&["shell", "--cwd", "--cwd-include-ignored"]);
    let out = agent_ok(
        &env,
        &slug,
        "wc -c < target/debug/big; git status --porcelain",
    );
    assert!(out.starts_with(&format!("{}\n", 1 << 20)), "{out}");
    assert!(
        !out.contains("target"),
        "ignored files show as ignored: {out}"
    );
    env.stop_leaving_nothing(&slug);
}
