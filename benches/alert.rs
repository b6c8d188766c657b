//! From a proposal file being written to tmux focus on the dashboard: the
//! median over 20 proposals, with the user in another window each time.
//! The peer, measured the same way in the same run, is what the original
//! dashboard did: look at the queue once a second, then move focus.
//!
//! Run by `scripts/bench-alert` (BOT_BOTTLE_BIN is the static bot-bottle).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bot_bottle::proposal::Request;
use bot_bottle::proposal::queue::Queue;

const ROUNDS: usize = 20;

struct Server {
    socket: String,
}

impl Server {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn active_pane(&self) -> String {
        self.tmux(&["display-message", "-p", "-t", "bot-bottle", "#{pane_id}"])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn request(i: usize) -> Request {
    Request::PipelockBlock {
        failed_url: format!("https://host{i}.test/"),
        host: format!("host{i}.test"),
    }
}

/// Latencies from a proposal to focus on `dashboard`, each round starting
/// from the "elsewhere" window.
fn measure(server: &Server, queue: &Queue, dashboard: &str, offset: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..ROUNDS {
        server.tmux(&["select-window", "-t", "bot-bottle:elsewhere"]);
        std::thread::sleep(Duration::from_millis(300));
        assert_ne!(
            server.active_pane(),
            dashboard,
            "round {i}: focus did not leave the dashboard"
        );
        let start = Instant::now();
        queue
            .submit("bench-aaaaa", request(offset + i), "benchmark".into())
            .unwrap();
        while server.active_pane() != dashboard {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "focus never moved"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        out.push(start.elapsed());
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bin = std::env::var("BOT_BOTTLE_BIN").expect("BOT_BOTTLE_BIN");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let server = Server {
        socket: format!("bb-bench-alert-{}", std::process::id()),
    };
    let opened = Command::new(&bin)
        .arg("--detach")
        .env("BOT_BOTTLE_HOME", &home)
        .env("BOT_BOTTLE_TMUX_SOCKET", &server.socket)
        .env_remove("TMUX")
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let dashboard = loop {
        let pane = server.tmux(&[
            "show-options",
            "-v",
            "-t",
            "bot-bottle",
            "@bb_dashboard_pane",
        ]);
        if !pane.is_empty() {
            break pane;
        }
        assert!(Instant::now() < deadline, "the dashboard did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    server.tmux(&["new-window", "-d", "-t", "bot-bottle:", "-n", "elsewhere"]);
    let queue = Queue::new(&home.join("state/bench-aaaaa/supervise"));

    let ours = measure(&server, &queue, &dashboard, 0);

    // The peer: quit the dashboard, poll once a second, move focus.
    server.tmux(&["send-keys", "-t", &dashboard, "q"]);
    let stub = server.tmux(&[
        "new-window",
        "-d",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        "bot-bottle:",
        "sleep 600",
    ]);
    let peer_queue = dir.path().join("home/state/bench-aaaaa/supervise/queue");
    let socket = server.socket.clone();
    let target = stub.clone();
    std::thread::spawn(move || poll_peer(&peer_queue, &socket, &target));
    let theirs = measure(&server, &queue, &stub, ROUNDS);

    let (m_ours, m_theirs) = (median(ours.clone()), median(theirs));
    let mut sorted = ours;
    sorted.sort();
    println!(
        "proposal to focus, bot-bottle: median {:.1} ms, p90 {:.1} ms over {ROUNDS}",
        m_ours.as_secs_f64() * 1000.0,
        sorted[ROUNDS * 9 / 10].as_secs_f64() * 1000.0
    );
    println!(
        "proposal to focus, 1 s polling: median {:.1} ms",
        m_theirs.as_secs_f64() * 1000.0
    );
    println!(
        "ratio latency bot-bottle/1s-poll: {:.3}",
        m_ours.as_secs_f64() / m_theirs.as_secs_f64()
    );
}

fn poll_peer(queue: &Path, socket: &str, target: &str) {
    let mut seen = std::fs::read_dir(queue).map(|d| d.count()).unwrap_or(0);
    loop {
        let count = std::fs::read_dir(queue).map(|d| d.count()).unwrap_or(0);
        if count > seen {
            seen = count;
            let _ = Command::new("tmux")
                .args([
                    "-L",
                    socket,
                    "select-window",
                    "-t",
                    target,
                    ";",
                    "select-pane",
                    "-t",
                    target,
                ])
                .output();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
