//! The git gate's HTTP server against real git, on loopback, in-process.
//! The hooks are a script that accepts everything and notes its calls (the
//! push policy is tested on its own).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bot_bottle::gitgate::server::{Gate, Options};
use bot_bottle::gitgate::{Allow, GateConfig, LANDED_FILE, Landed, LandedBranch};

mod support;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    /// An operator repository with `main` (checked out) and `dev`.
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for dir in ["home", "state", "op"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let hook = root.join("hook.sh");
        support::fake::script(
            &hook,
            &format!(
                "#!/bin/sh\necho \"$3 state=$BOT_BOTTLE_GATE_STATE op=$BOT_BOTTLE_GATE_OPERATOR\" >> '{}'\ncat >/dev/null\nexit 0\n",
                root.join("hooks.log").display()
            ),
        );
        let f = Fixture { _tmp: tmp, root };
        let op = f.path("op");
        f.git(&op, &["init", "-q", "-b", "main"]);
        f.commit(&op, "a.txt", "one\n", "first");
        f.git(&op, &["checkout", "-q", "-b", "dev"]);
        f.commit(&op, "b.txt", "two\n", "second");
        f.git(&op, &["checkout", "-q", "main"]);
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn options(&self, max_push_bytes: u64) -> Options {
        Options {
            state: self.path("state"),
            operator: Some(self.path("op/.git")),
            audit: None,
            config: GateConfig {
                slug: "dev-aaaaa".into(),
                operator: true,
                head: Some("main".into()),
                protected_paths: vec![],
                allow: Allow::default(),
                max_push_bytes,
                remotes: vec![],
            },
            hook_bin: self.path("hook.sh"),
        }
    }

    fn run_git(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("HOME", self.path("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.test")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.test")
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .output()
            .unwrap()
    }

    /// Runs git; fails the test when it fails. Returns stdout, trimmed.
    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run_git(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs git with `input` on its stdin; fails the test when it fails.
    /// Returns stdout.
    fn git_with_input(&self, dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::process::Stdio;
        let mut child = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("HOME", self.path("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn commit(&self, dir: &Path, file: &str, content: &str, message: &str) -> String {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", file]);
        self.git(dir, &["commit", "-q", "-m", message]);
        self.git(dir, &["rev-parse", "HEAD"])
    }

    fn clone(&self, addr: SocketAddr, name: &str) -> PathBuf {
        let url = format!("http://{addr}/repo.git");
        self.git(&self.root, &["clone", "-q", &url, name]);
        self.path(name)
    }

    /// A ref of the gate's repository, if it exists.
    fn gate_ref(&self, name: &str) -> Option<String> {
        let gate = self.path("state/repo.git");
        let out = self.run_git(&gate, &["rev-parse", "--verify", "-q", name]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn land(&self, branch: &str, commit: &str) {
        let landed = Landed {
            branches: vec![LandedBranch {
                branch: branch.into(),
                landed_as: format!("bot-bottle/dev-aaaaa/{branch}"),
                commit: commit.into(),
                at: "2026-01-01T00:00:00Z".into(),
                forwarded: vec![],
            }],
        };
        std::fs::write(
            self.path("state").join(LANDED_FILE),
            serde_json::to_vec(&landed).unwrap(),
        )
        .unwrap();
    }
}

/// A gate served on its own runtime and thread; stops when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn start(opts: Options) -> Running {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let gate = Gate::bind(opts, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            addr_tx.send(gate.local_addr().unwrap()).unwrap();
            gate.serve(async {
                let _ = stop_rx.await;
            })
            .await;
        });
    });
    let addr = addr_rx.recv().expect("the gate did not start");
    Running {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One raw HTTP/1.1 request; returns the status code and the body.
fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    support::http::status_and_body(&response)
}

/// One HTTP/1.1 POST of `body` with `headers` (CRLF-terminated lines).
fn post(addr: SocketAddr, target: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: git-gate\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The gate may answer (and close) before it has read it all.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    support::http::status_and_body(&response)
}

/// One pkt-line of git's protocol.
fn pkt(line: &str) -> Vec<u8> {
    format!("{:04x}{line}", line.len() + 4).into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    raw(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: git-gate\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn a_clone_gets_the_operators_branches_and_pushes_and_fetches_work() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    let op = f.path("op");
    let main = f.git(&op, &["rev-parse", "main"]);
    let dev = f.git(&op, &["rev-parse", "dev"]);
    f.git(&op, &["branch", "bot-bottle/dev-aaaaa/old", "dev"]);

    let clone = f.clone(gate.addr, "clone");
    assert_eq!(f.git(&clone, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(f.git(&clone, &["rev-parse", "HEAD"]), main);
    assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), dev);
    assert_eq!(f.git(&clone, &["rev-list", "--count", "origin/dev"]), "2");
    let remote_branches = f.git(&clone, &["branch", "-r"]);
    assert!(!remote_branches.contains("bot-bottle"), "{remote_branches}");

    // A push of a new branch reaches the gate, through the hooks.
    f.git(&clone, &["checkout", "-q", "-b", "feature"]);
    let feature = f.commit(&clone, "c.txt", "three\n", "third");
    f.git(&clone, &["push", "-q", "origin", "feature"]);
    assert_eq!(f.gate_ref("refs/heads/feature").as_deref(), Some(&*feature));
    let log = std::fs::read_to_string(f.path("hooks.log")).unwrap();
    let state = f.path("state").display().to_string();
    let operator = f.path("op/.git").display().to_string();
    for hook in ["pre-receive", "update", "post-receive"] {
        let want = format!("{hook} state={state} op={operator}");
        assert!(log.contains(&want), "{want} not in {log}");
    }

    // The operator moves on; a fetch brings it.
    f.git(&op, &["checkout", "-q", "dev"]);
    let dev2 = f.commit(&op, "d.txt", "four\n", "fourth");
    f.git(&clone, &["fetch", "-q", "origin"]);
    assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), dev2);
}

#[test]
fn a_landed_branch_is_the_agents_and_refresh_leaves_it() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    let op = f.path("op");
    let clone = f.clone(gate.addr, "clone");
    f.git(&clone, &["checkout", "-q", "dev"]);
    let mine = f.commit(&clone, "mine.txt", "agent\n", "agent's");
    f.git(&clone, &["push", "-q", "origin", "dev"]);
    f.land("dev", &mine);

    f.git(&op, &["checkout", "-q", "dev"]);
    let theirs = f.commit(&op, "op.txt", "operator\n", "operator's");
    f.git(&op, &["checkout", "-q", "main"]);
    let main2 = f.commit(&op, "m.txt", "main\n", "main moves");
    f.git(&clone, &["fetch", "-q", "origin"]);
    assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), mine);
    assert_ne!(mine, theirs);
    assert_eq!(f.git(&clone, &["rev-parse", "origin/main"]), main2);

    // A branch the operator deletes goes; an unlanded pushed one would too,
    // but a landed one stays.
    f.git(&op, &["branch", "-q", "-D", "dev"]);
    f.git(&op, &["branch", "-q", "gone", "main"]);
    f.git(&clone, &["fetch", "-q", "--prune", "origin"]);
    assert_eq!(f.git(&clone, &["rev-parse", "origin/gone"]), main2);
    f.git(&op, &["branch", "-q", "-D", "gone"]);
    f.git(&clone, &["fetch", "-q", "--prune", "origin"]);
    let remote_branches = f.git(&clone, &["branch", "-r"]);
    assert!(
        !remote_branches.contains("origin/gone"),
        "{remote_branches}"
    );
    assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), mine);
}

#[test]
fn hidden_refs_are_neither_advertised_nor_pushable() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    let main = f.git(&f.path("op"), &["rev-parse", "main"]);
    let url = format!("http://{}/repo.git", gate.addr);
    // Once the gate has mirrored main, a held push of it.
    f.git(&f.root, &["ls-remote", &url]);
    let repo = f.path("state/repo.git");
    f.git(&repo, &["update-ref", "refs/bot-bottle/held/p1", &main]);
    let listed = f.git(&f.root, &["ls-remote", &url]);
    assert!(listed.contains("refs/heads/main"), "{listed}");
    assert!(!listed.contains("bot-bottle"), "{listed}");
    let listed = f.git(&f.root, &["-c", "protocol.version=0", "ls-remote", &url]);
    assert!(listed.contains("refs/heads/dev"), "{listed}");
    assert!(!listed.contains("bot-bottle"), "{listed}");

    let clone = f.clone(gate.addr, "clone");
    let out = f.run_git(&clone, &["push", "origin", "HEAD:refs/bot-bottle/held/p2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("hidden"), "{stderr}");
    assert_eq!(f.gate_ref("refs/bot-bottle/held/p2"), None);
}

#[test]
fn only_the_smart_http_routes_are_answered() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    for target in [
        "/repo.git/HEAD",
        "/repo.git/objects/info/packs",
        "/repo.git/config",
        "/repo.git/info/refs",
        "/other.git/info/refs?service=git-upload-pack",
        "/repo.git/info/refs?service=git-upload-archive",
    ] {
        let (status, body) = get(gate.addr, target);
        assert_eq!(status, 404, "{target}: {body}");
        assert!(body.contains("smart HTTP"), "{target}: {body}");
    }
    assert_eq!(get(gate.addr, "/repo.git/git-upload-pack").0, 405);
    let (status, _) = get(gate.addr, "/repo.git/info/refs?service=git-upload-pack");
    assert_eq!(status, 200);
    // A declared body over the cap is refused before git runs.
    let (status, body) = raw(
        gate.addr,
        "POST /repo.git/git-receive-pack HTTP/1.1\r\nHost: git-gate\r\nContent-Type: application/x-git-receive-pack-request\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit of 1 MiB;"), "{body}");
}

#[test]
fn a_chunked_push_over_the_limit_is_refused_and_leaves_nothing() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    let clone = f.clone(gate.addr, "clone");
    f.git(&clone, &["checkout", "-q", "-b", "big"]);
    // 1.5 MiB of noise: more than the limit, less than twice it. git sends
    // a body larger than its post buffer (1 MiB) chunked, without a
    // Content-Length.
    let noise: Vec<u8> = support::xorshift(0x9e37_79b9_7f4a_7c15)
        .take(3 << 19)
        .map(|x| x as u8)
        .collect();
    std::fs::write(clone.join("noise.bin"), noise).unwrap();
    f.git(&clone, &["add", "noise.bin"]);
    f.git(&clone, &["commit", "-q", "-m", "big"]);
    let packs_before = objects(&f);
    let out = f.run_git(&clone, &["push", "origin", "big"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // Refused as git reports a refusal, with the gate's reason.
    assert!(
        stderr.contains(
            "remote: bot-bottle git gate: push refused: larger than this gate's limit of 1 MiB"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("[remote rejected] big -> big"), "{stderr}");
    assert_eq!(f.gate_ref("refs/heads/big"), None);
    assert!(!f.path("hooks.log").exists(), "a hook ran");
    // Nothing of it stays in the gate's object store, quarantine included,
    // once receive-pack is done: a fetch waits for that (the push lock).
    f.git(&clone, &["fetch", "-q", "origin"]);
    assert_eq!(objects(&f), packs_before);
}

/// What the gate's object store holds: its folders and pack files.
fn objects(f: &Fixture) -> Vec<String> {
    let objects = f.path("state/repo.git/objects");
    let mut names: Vec<String> = std::fs::read_dir(&objects)
        .unwrap()
        .chain(std::fs::read_dir(objects.join("pack")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_restarted_gate_reuses_its_repository() {
    let f = Fixture::new();
    let feature = {
        let gate = start(f.options(1 << 20));
        let clone = f.clone(gate.addr, "clone");
        f.git(&clone, &["checkout", "-q", "-b", "feature"]);
        let feature = f.commit(&clone, "c.txt", "three\n", "third");
        f.git(&clone, &["push", "-q", "origin", "feature"]);
        f.land("feature", &feature);
        feature
    };
    let gate = start(f.options(1 << 20));
    let again = f.clone(gate.addr, "again");
    assert_eq!(f.git(&again, &["rev-parse", "origin/feature"]), feature);
    assert_eq!(f.git(&again, &["symbolic-ref", "--short", "HEAD"]), "main");
    let hook = std::fs::read_to_string(f.path("state/repo.git/hooks/update")).unwrap();
    assert!(hook.contains("sidecar git-hook update"), "{hook}");
}

/// A child process of the test, killed when the test ends however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_sidecar_command_serves_from_gate_json() {
    let f = Fixture::new();
    let opts = f.options(1 << 20);
    std::fs::write(
        f.path("state/gate.json"),
        serde_json::to_vec(&opts.config).unwrap(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bot-bottle"))
        .args(["sidecar", "git-gate", "--listen", &addr.to_string()])
        .arg("--state")
        .arg(f.path("state"))
        .arg("--operator")
        .arg(f.path("op/.git"))
        .env("BOT_BOTTLE_GATE_HOOK_BIN", f.path("hook.sh"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let clone = f.clone(addr, "clone");
    f.git(&clone, &["checkout", "-q", "-b", "feature"]);
    f.commit(&clone, "c.txt", "three\n", "third");
    let pushed = f.run_git(&clone, &["push", "-q", "origin", "feature"]);
    drop(child);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let log = std::fs::read_to_string(f.path("hooks.log")).unwrap();
    assert!(log.contains("post-receive"), "{log}");
}

#[test]
fn the_cli_names_a_missing_config() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bot-bottle"))
        .args(["sidecar", "git-gate", "--listen", "127.0.0.1:0", "--state"])
        .arg(state.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gate.json"), "{stderr}");
}

/// A commit of its own, on no branch of the operator's: a file whose
/// content says what it is. Returns (commit, blob).
fn side_commit(f: &Fixture, what: &str) -> (String, String) {
    let op = f.path("op");
    f.git(&op, &["checkout", "-q", "-b", "side", "main"]);
    let commit = f.commit(
        &op,
        "side.txt",
        &format!("{what}: not for the agent\n"),
        what,
    );
    let blob = f.git(&op, &["rev-parse", "HEAD:side.txt"]);
    f.git(&op, &["checkout", "-q", "main"]);
    f.git(&op, &["branch", "-q", "-D", "side"]);
    (commit, blob)
}

/// Fills the operator's repository with what the gate must not hand the
/// agent; returns (what, object id) of each of those objects.
fn hidden_objects(f: &Fixture) -> Vec<(String, String)> {
    let op = f.path("op");
    let mut hidden = Vec::new();
    std::fs::write(op.join("a.txt"), "stashed: not for the agent\n").unwrap();
    f.git(&op, &["stash", "-q"]);
    hidden.push(("the stash".into(), f.git(&op, &["rev-parse", "refs/stash"])));
    hidden.push((
        "a stashed file".into(),
        f.git(&op, &["rev-parse", "refs/stash:a.txt"]),
    ));
    for (what, name) in [
        ("a remote-tracking branch", "refs/remotes/origin/wip"),
        ("refs/original", "refs/original/refs/heads/main"),
        (
            "another bottle's landed branch",
            "refs/heads/bot-bottle/other-zzzzz/feature",
        ),
        (
            "this bottle's landed branch",
            "refs/heads/bot-bottle/dev-aaaaa/old",
        ),
        ("a tag", "refs/tags/v1"),
    ] {
        let (commit, blob) = side_commit(f, what);
        f.git(&op, &["update-ref", name, &commit]);
        hidden.push((what.into(), commit));
        hidden.push((format!("a file of {what}"), blob));
    }
    f.git(
        &op,
        &["notes", "add", "-m", "a note: not for the agent", "main"],
    );
    hidden.push((
        "the notes".into(),
        f.git(&op, &["rev-parse", "refs/notes/commits"]),
    ));
    let unreachable = f.git_with_input(&op, &["hash-object", "-w", "--stdin"], b"unreachable\n");
    hidden.push((
        "an unreachable blob".into(),
        String::from_utf8(unreachable).unwrap().trim().to_owned(),
    ));
    hidden
}

#[test]
fn the_agent_gets_nothing_of_the_operators_repository_but_the_mirrored_branches() {
    let f = Fixture::new();
    let hidden = hidden_objects(&f);
    let gate = start(f.options(1 << 20));
    let url = format!("http://{}/repo.git", gate.addr);
    let leaked = |what: &str, text: &str| {
        for (name, oid) in &hidden {
            assert!(
                !text.contains(oid.as_str()),
                "{what} shows {name} ({oid}):\n{text}"
            );
        }
    };
    // The advertisements: upload-pack (v0 and v2) and receive-pack (whose
    // `.have` lines name what the repository's alternates hold).
    for version in ["0", "2"] {
        let listed = f.git(
            &f.root,
            &[
                "-c",
                &format!("protocol.version={version}"),
                "ls-remote",
                &url,
            ],
        );
        assert!(listed.contains("refs/heads/main"), "{listed}");
        for name in [
            "stash",
            "remotes",
            "original",
            "notes",
            "bot-bottle",
            "tags",
        ] {
            assert!(!listed.contains(name), "v{version}: {listed}");
        }
        leaked(&format!("ls-remote (v{version})"), &listed);
    }
    for service in ["git-upload-pack", "git-receive-pack"] {
        let (status, body) = get(gate.addr, &format!("/repo.git/info/refs?service={service}"));
        assert_eq!(status, 200, "{body}");
        leaked(&format!("the {service} advertisement"), &body);
    }
    // Asked for by id, under either protocol: none comes.
    let clone = f.clone(gate.addr, "clone");
    for version in ["0", "2"] {
        for (name, oid) in &hidden {
            let out = f.run_git(
                &clone,
                &[
                    "-c",
                    &format!("protocol.version={version}"),
                    "fetch",
                    "-q",
                    "origin",
                    oid,
                ],
            );
            assert!(
                !out.status.success(),
                "v{version}: fetched {name} ({oid}) by its id"
            );
        }
    }
    for (name, oid) in &hidden {
        let out = f.run_git(&clone, &["cat-file", "-e", oid]);
        assert!(!out.status.success(), "the clone has {name} ({oid})");
    }
    // Nor does a push's answer name them.
    f.git(&clone, &["checkout", "-q", "-b", "feature"]);
    f.commit(&clone, "c.txt", "three\n", "third");
    let out = f.run_git(&clone, &["push", "--porcelain", "-v", "origin", "feature"]);
    assert!(out.status.success());
    leaked("a push", &String::from_utf8_lossy(&out.stderr));
    // The gate's repository holds none of them either.
    let repo = f.path("state/repo.git");
    assert!(!repo.join("objects/info/alternates").exists());
    for (name, oid) in &hidden {
        let out = f.run_git(&repo, &["cat-file", "-e", oid]);
        assert!(!out.status.success(), "the gate has {name} ({oid})");
    }
}

#[test]
fn a_kept_gate_that_borrowed_the_operators_objects_gets_its_own() {
    let f = Fixture::new();
    let op = f.path("op");
    let dev = f.git(&op, &["rev-parse", "dev"]);
    // The repository a gate of before made: the operator's objects
    // borrowed, a branch of the agent's built on them.
    let repo = f.path("state/repo.git");
    f.git(&f.root, &["init", "-q", "--bare", repo.to_str().unwrap()]);
    std::fs::write(
        repo.join("objects/info/alternates"),
        format!("{}\n", op.join(".git/objects").display()),
    )
    .unwrap();
    f.git(&repo, &["update-ref", "refs/heads/kept", &dev]);
    f.land("kept", &dev);
    let (hidden, _) = side_commit(&f, "elsewhere");
    f.git(
        &op,
        &["update-ref", "refs/remotes/origin/elsewhere", &hidden],
    );

    let gate = start(f.options(1 << 20));
    assert!(!repo.join("objects/info/alternates").exists());
    // (The clone waits for the gate's first mirroring.)
    let clone = f.clone(gate.addr, "clone");
    assert_eq!(f.git(&clone, &["rev-parse", "origin/kept"]), dev);
    f.git(&repo, &["fsck", "--connectivity-only", "--no-dangling"]);
    let out = f.run_git(&repo, &["cat-file", "-e", &hidden]);
    assert!(!out.status.success(), "the gate took more than it keeps");
}

#[test]
fn mirroring_stops_rather_than_read_an_unreadable_landed_file_as_empty() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    let clone = f.clone(gate.addr, "clone");
    f.git(&clone, &["checkout", "-q", "dev"]);
    let mine = f.commit(&clone, "mine.txt", "agent\n", "agent's");
    f.git(&clone, &["push", "-q", "origin", "dev"]);
    f.land("dev", &mine);
    let landed = std::fs::read_to_string(f.path("state").join(LANDED_FILE)).unwrap();
    for bad in [
        "{not json".to_owned(),
        format!("{landed}{}", " ".repeat(5 << 20)),
    ] {
        std::fs::write(f.path("state").join(LANDED_FILE), &bad).unwrap();
        // The operator's dev moves; the agent's stays the agent's.
        let op = f.path("op");
        f.git(&op, &["checkout", "-q", "dev"]);
        f.commit(&op, "op.txt", &format!("{}\n", bad.len()), "operator's");
        f.git(&op, &["checkout", "-q", "main"]);
        f.git(&clone, &["fetch", "-q", "origin"]);
        assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), mine);
        assert_eq!(f.gate_ref("refs/heads/dev").as_deref(), Some(&*mine));
    }
}

/// A pack of one commit whose file is `size` zero bytes, stored
/// uncompressed: `size` bytes and more once gzip has made it small.
fn zeros_pack(f: &Fixture, size: usize) -> (String, Vec<u8>) {
    let scratch = f.path("scratch");
    f.git(&f.root, &["init", "-q", scratch.to_str().unwrap()]);
    std::fs::write(scratch.join("zeros"), vec![0u8; size]).unwrap();
    f.git(&scratch, &["-c", "core.compression=0", "add", "zeros"]);
    f.git(&scratch, &["commit", "-q", "-m", "zeros"]);
    let commit = f.git(&scratch, &["rev-parse", "HEAD"]);
    let objects = f.git(&scratch, &["rev-list", "--objects", "HEAD"]);
    let names: String = objects
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|oid| format!("{oid}\n"))
        .collect();
    let pack = f.git_with_input(
        &scratch,
        &["-c", "pack.compression=0", "pack-objects", "-q", "--stdout"],
        names.as_bytes(),
    );
    (commit, pack)
}

#[test]
fn compressed_request_bodies_count_what_they_decode_to() {
    let f = Fixture::new();
    let gate = start(f.options(1 << 20));
    // A push of 16 MiB, gzipped to a few KiB.
    let (commit, pack) = zeros_pack(&f, 16 << 20);
    assert!(pack.len() > 16 << 20);
    let zero = "0".repeat(40);
    let mut body = pkt(&format!(
        "{zero} {commit} refs/heads/bomb\0report-status side-band-64k\n"
    ));
    body.extend(b"0000");
    body.extend(&pack);
    let gz = gzip(&body);
    assert!(gz.len() < 1 << 20, "{}", gz.len());
    let (status, answer) = post(
        gate.addr,
        "/repo.git/git-receive-pack",
        "Content-Type: application/x-git-receive-pack-request\r\nContent-Encoding: gzip\r\n",
        &gz,
    );
    assert!(
        answer.contains("larger than this gate's limit of 1 MiB"),
        "{status} {answer}"
    );
    assert_eq!(f.gate_ref("refs/heads/bomb"), None);
    assert!(!f.path("hooks.log").exists(), "a hook ran");

    // A fetch request of 16 MiB (wants and haves), gzipped.
    let main = f.git(&f.path("op"), &["rev-parse", "main"]);
    let mut body = pkt(&format!("want {main} side-band-64k\n"));
    body.extend(b"0000");
    let have = pkt(&format!("have {}\n", "1".repeat(40)));
    while body.len() < 16 << 20 {
        body.extend(&have);
    }
    body.extend(pkt("done\n"));
    let (status, answer) = post(
        gate.addr,
        "/repo.git/git-upload-pack",
        "Content-Type: application/x-git-upload-pack-request\r\nContent-Encoding: gzip\r\n",
        &gzip(&body),
    );
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("limit"), "{answer}");

    // A coding git never sends is refused; the gate still serves.
    let (status, answer) = post(
        gate.addr,
        "/repo.git/git-upload-pack",
        "Content-Type: application/x-git-upload-pack-request\r\nContent-Encoding: br\r\n",
        b"0000",
    );
    assert_eq!(status, 415, "{answer}");
    assert!(answer.contains("Content-Encoding"), "{answer}");
    let clone = f.clone(gate.addr, "clone");
    // git gzips fetch requests larger than 1 KiB: a fetch with many haves.
    for i in 0..40 {
        f.commit(&clone, "n.txt", &format!("{i}\n"), &format!("n{i}"));
    }
    f.git(&f.path("op"), &["checkout", "-q", "dev"]);
    let dev = f.commit(&f.path("op"), "d.txt", "d\n", "dev moves");
    let out = Command::new("git")
        .current_dir(&clone)
        .args(["fetch", "-q", "origin"])
        .env("HOME", f.path("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TRACE_CURL", "1")
        .env("GIT_TRACE_CURL_NO_DATA", "1")
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{trace}");
    assert!(trace.contains("Content-Encoding: gzip"), "{trace}");
    assert_eq!(f.git(&clone, &["rev-parse", "origin/dev"]), dev);
}
