//! `--cwd` outside git, against the real engine: what `.bot-bottleignore`
//! names stays home, the copy says how far it is, and a bottle stopped
//! while its folder is being copied in ends its launch at once.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::docker::{Env, leftovers};

/// A tar whose archives come out slowly (64 KiB every 50 ms): a large
/// folder's stand-in that writes little. Anything but `-c -C` is tar's.
const SLOW_TAR: &str = r#"#!/usr/bin/env python3
import os, subprocess, sys, time
args = sys.argv[1:]
if args[:2] != ["-c", "-C"]:
    os.execvp("tar", ["tar"] + args)
p = subprocess.Popen(["tar"] + args, stdout=subprocess.PIPE)
while True:
    chunk = p.stdout.read(65536)
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    time.sleep(0.05)
sys.exit(p.wait())
"#;

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn outside_git_the_ignore_file_leaves_out_what_it_names() {
    let env = Env::new();
    env.write("proj/.bot-bottleignore", "# outputs\ntarget/\n*.log\n");
    env.write("proj/src/main.rs", "fn main() {}\n");
    env.write("proj/target/debug/big", &"x".repeat(1 << 20));
    env.write("proj/run.log", "noise\n");

    let (code, out, err) = env.run(&["start", "shell", "--cwd", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let shown = format!("{out}{err}");
    assert!(
        shown.contains("in 2 files, leaving out 1.0 MiB that .bot-bottleignore names"),
        "{shown}"
    );

    let slug = env.start_detached(&["shell", "--cwd"]);
    let (code, out) = env.sh(
        &slug,
        "cd /workspace && find . -type f | sort; test -e target && echo HAS-TARGET; true",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "./.bot-bottleignore\n./src/main.rs\n", "{out}");
    env.stop_leaving_nothing(&slug);

    // A line it cannot read stops the launch before anything starts.
    env.write("proj/.bot-bottleignore", "target/\n!target/keep\n");
    let (code, _, err) = env.run(&["start", "shell", "--cwd", "--yes", "--detach"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(".bot-bottleignore: line 2: '!'"), "{err}");
    env.assert_no_state();
}

/// `stop` while the launch copies: the launch ends within seconds (its
/// tar is not left reading the folder), saying why, and leaves nothing.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn stopping_a_bottle_while_it_copies_ends_its_launch() {
    let env = Env::new();
    // About 60 s to copy through the slow tar.
    std::fs::write(env.proj().join("big"), vec![0u8; 80 << 20]).unwrap();
    let slow_tar = env.dir.path().join("slow-tar");
    std::fs::write(&slow_tar, SLOW_TAR).unwrap();
    std::fs::set_permissions(&slow_tar, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut start = env
        .cmd(&["start", "shell", "--cwd", "--yes", "--detach"])
        .env("BOT_BOTTLE_TAR", &slow_tar)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stderr = start.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    // The first progress line: the copy is under way.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = seen.recv_timeout(left).expect("no progress line");
        if line.starts_with("bot-bottle: copied ") {
            break;
        }
    }
    let state = bot_bottle::state::Home { root: env.home() }.state_root();
    let slug = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("shell-"))
        .expect("the bottle's state");
    env.track(&slug);

    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = start.try_wait().unwrap() {
            break status;
        }
        // A bound only against hanging: the copy alone takes a minute,
        // and the message below is what shows the stop ended it.
        if stopped.elapsed() > Duration::from_secs(45) {
            let _ = start.kill();
            panic!("the launch went on copying after its bottle was stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = reader.join().unwrap();
    assert!(!status.success(), "{log}");
    eprintln!("the launch ended: {status:?}");
    assert!(
        log.contains("was being copied in"),
        "the launch does not say why it ended: {log}"
    );
    assert_eq!(leftovers(&slug), (0, 0));
    env.assert_no_state();
}
