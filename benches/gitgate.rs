//! The git-gate sidecar under load: its resident memory at rest and at its
//! peak while 8 clients clone the bottle's repository over and over (what
//! an agent's `git fetch` costs the gate), and clones per second. The
//! gate's own process is measured; the `git upload-pack` it runs for each
//! clone is git's. Run by `scripts/bench-sidecars`; 127.0.0.1 only.
//!
//! Environment: BOT_BOTTLE_BIN (the static bot-bottle), BENCH_SECONDS
//! (default 5), BENCH_CONNECTIONS (default 8).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Running, env_or, rss};

use bot_bottle::gitgate::{Allow, GateConfig};
use bot_bottle::state::bottle_dir::gate_files::CONFIG_FILE;

const PORT: u16 = 18418;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.test")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.test")
        .env("NO_PROXY", "*")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?} failed in {}", dir.display());
}

/// An operator repository of some size: 200 files over 20 commits.
fn operator_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for commit in 0..20 {
        for file in 0..10 {
            let text = format!("commit {commit} file {file}\n").repeat(200);
            std::fs::write(dir.join(format!("f{commit}-{file}.txt")), text).unwrap();
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", &format!("commit {commit}")]);
    }
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let clients: usize = env_or("BENCH_CONNECTIONS", 8);
    let dir = tempfile::tempdir().unwrap();
    let (op, state) = (dir.path().join("op"), dir.path().join("state"));
    operator_repo(&op);
    std::fs::create_dir_all(&state).unwrap();
    let config = GateConfig {
        slug: "bench-a1b2c".into(),
        operator: true,
        head: Some("main".into()),
        protected_paths: vec![],
        allow: Allow::default(),
        max_push_bytes: 64 << 20,
        remotes: vec![],
    };
    std::fs::write(
        state.join(CONFIG_FILE),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let bin = std::env::var("BOT_BOTTLE_BIN").expect("BOT_BOTTLE_BIN");
    let gate = Running(
        Command::new(bin)
            .args(["sidecar", "git-gate", "--listen"])
            .arg(format!("127.0.0.1:{PORT}"))
            .arg("--state")
            .arg(&state)
            .arg("--operator")
            .arg(op.join(".git"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        assert!(Instant::now() < deadline, "the gate did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (rest, _) = rss(gate.0.id());
    let url = format!("http://127.0.0.1:{PORT}/repo.git");
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let clones: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let (url, root) = (&url, dir.path());
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < until {
                        let name = format!("clone-{c}-{n}");
                        git(root, &["clone", "-q", url, &name]);
                        std::fs::remove_dir_all(root.join(&name)).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let (_, peak) = rss(gate.0.id());
    println!(
        "git-gate: {:.1} clones/s ({clones} clones of 200 files, {clients} clients, {seconds} s)",
        clones as f64 / elapsed
    );
    println!("git-gate rss at rest: {rest} KiB; peak under load: {peak} KiB");
    println!(
        "ratio rss git-gate under load/at rest: {:.2}",
        peak as f64 / rest.max(1) as f64
    );
}
