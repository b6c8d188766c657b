//! The tmux session and the dashboard, with real tmux on a private socket
//! (and the real docker engine where bottles are involved). Every tmux
//! server and bottle a test makes is removed, even when it fails.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bot_bottle::supervise::proposal::Request;
use bot_bottle::supervise::queue::Queue;
use support::{Env, bin, docker_or_skip, unique};

fn tmux_or_skip(test: &str) -> bool {
    if std::env::var("BOT_BOTTLE_SKIP_TMUX").is_ok_and(|v| v == "1") {
        eprintln!("skipped {test}: BOT_BOTTLE_SKIP_TMUX=1");
        return false;
    }
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{test}: tmux is missing; install it (scripts/setup does), or set BOT_BOTTLE_SKIP_TMUX=1 to skip"
    );
    true
}

/// A bot-bottle tmux server of the test's own; killed on drop.
struct Session {
    socket: String,
    home: std::path::PathBuf,
}

impl Session {
    /// `bot-bottle --detach` on a fresh socket, with this home.
    fn open(home: &Path, cwd: &Path) -> Session {
        let session = Session {
            socket: unique("bbtest-tmux"),
            home: home.to_path_buf(),
        };
        let out = session.bot_bottle(&["--detach"], cwd);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        session
    }

    fn bot_bottle(&self, args: &[&str], cwd: &Path) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .current_dir(cwd)
            .env("BOT_BOTTLE_HOME", &self.home)
            .env("BOT_BOTTLE_TMUX_SOCKET", &self.socket)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    fn option(&self, name: &str) -> String {
        self.tmux(&["show-options", "-v", "-t", "bot-bottle", name])
    }

    fn dashboard(&self) -> String {
        self.option("@bb_dashboard_pane")
    }

    fn screen(&self, pane: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", pane])
    }

    /// `PANE WINDOW DEAD SLUG` for every pane.
    fn panes(&self) -> Vec<(String, String, bool, String)> {
        self.tmux(&[
            "list-panes",
            "-a",
            "-F",
            "#{pane_id} #{window_id} #{pane_dead} #{@bb_slug}",
        ])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (
                f[0].into(),
                f[1].into(),
                f[2] == "1",
                f.get(3).unwrap_or(&"").to_string(),
            )
        })
        .collect()
    }

    fn active_pane(&self) -> String {
        self.tmux(&["display-message", "-p", "-t", "bot-bottle", "#{pane_id}"])
    }

    fn keys(&self, keys: &[&str]) {
        let pane = self.dashboard();
        for k in keys {
            self.tmux(&["send-keys", "-t", &pane, k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bootstrap_and_a_proposal_brings_the_user_to_the_dashboard() {
    if !tmux_or_skip("bootstrap_and_a_proposal_brings_the_user_to_the_dashboard") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let s = Session::open(&home, dir.path());
    wait_for("the dashboard", Duration::from_secs(10), || {
        !s.dashboard().is_empty()
    });
    let dashboard = s.dashboard();
    wait_for("the dashboard to draw", Duration::from_secs(10), || {
        s.screen(&dashboard).contains("bot-bottle")
    });
    // The shipped configuration is in force.
    assert_eq!(
        s.tmux(&["show-options", "-gv", "pane-border-status"]),
        "top"
    );
    let keys = s.tmux(&["list-keys", "-T", "prefix"]);
    for key in [" b ", " P ", " Y ", " N ", " J ", " K "] {
        assert!(
            keys.lines()
                .any(|l| l.contains(key) && l.contains("@bb_dashboard_pane")),
            "binding{key}missing"
        );
    }
    // Opening again finds the session (and its running dashboard).
    let again = s.bot_bottle(&["--detach"], dir.path());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already there"));
    assert_eq!(s.panes().len(), 1);

    // The user is in another window when an agent asks.
    s.tmux(&["new-window", "-t", "bot-bottle:", "-n", "elsewhere"]);
    assert_ne!(s.active_pane(), dashboard);
    let queue = Queue::new(&home.join("state/agent-aaaaa/supervise"));
    let asked = Instant::now();
    queue
        .submit(
            "agent-aaaaa",
            Request::EgressBlock {
                host: "api.example.test".into(),
                path_allowlist: vec!["/v1/".into()],
                auth: None,
            },
            "to run the tests".into(),
        )
        .unwrap();
    wait_for("focus on the dashboard", Duration::from_secs(5), || {
        s.active_pane() == dashboard
    });
    eprintln!("proposal to focus: {:?}", asked.elapsed());
    wait_for("the request on screen", Duration::from_secs(5), || {
        let screen = s.screen(&dashboard);
        screen.contains("egress-block")
            && screen.contains("api.example.test")
            && screen.contains("(new!)")
    });
    wait_for("the pending count", Duration::from_secs(3), || {
        s.option("@bb_pending") == "1"
    });
}

#[test]
fn agents_sessions_on_the_right_survive_switching_and_quitting() {
    if !tmux_or_skip("agents_sessions_on_the_right_survive_switching_and_quitting")
        || !docker_or_skip("agents_sessions_on_the_right_survive_switching_and_quitting")
    {
        return;
    }
    let env = Env::new();
    let first = env.start_detached(&["shell"]);
    let second = env.start_detached(&["shell"]);
    let s = Session::open(&env.home(), &env.proj());
    wait_for("the dashboard", Duration::from_secs(10), || {
        !s.dashboard().is_empty()
    });
    let dashboard = s.dashboard();
    wait_for("both bottles listed", Duration::from_secs(15), || {
        let screen = s.screen(&dashboard);
        screen.contains(&first) && screen.contains(&second)
    });
    let window_of = |pane: &str| {
        s.panes()
            .into_iter()
            .find(|p| p.0 == pane)
            .map(|p| p.1)
            .unwrap_or_default()
    };
    let home_window = window_of(&dashboard);

    // Enter shows the selected agent's session on the right and focuses it.
    let order: Vec<String> = {
        let screen = s.screen(&dashboard);
        let a = screen.find(&first).unwrap();
        let b = screen.find(&second).unwrap();
        if a < b {
            vec![first.clone(), second.clone()]
        } else {
            vec![second.clone(), first.clone()]
        }
    };
    s.keys(&["Enter"]);
    let session_of = |slug: &str| s.panes().into_iter().find(|p| p.3 == slug).map(|p| p.0);
    wait_for("the first session", Duration::from_secs(10), || {
        session_of(&order[0]).is_some()
    });
    let one = session_of(&order[0]).unwrap();
    wait_for("it on the right, focused", Duration::from_secs(5), || {
        window_of(&one) == home_window && s.active_pane() == one
    });
    wait_for("a prompt in it", Duration::from_secs(15), || {
        s.screen(&one).contains("agent@")
    });

    // Another agent: the first is parked, alive, not killed.
    s.keys(&["j", "Enter"]);
    wait_for("the second session", Duration::from_secs(10), || {
        session_of(&order[1]).is_some()
    });
    let two = session_of(&order[1]).unwrap();
    wait_for("the second on the right", Duration::from_secs(5), || {
        window_of(&two) == home_window
    });
    wait_for("the first parked", Duration::from_secs(5), || {
        window_of(&one) != home_window
    });
    let alive = |pane: &str| s.panes().iter().any(|p| p.0 == pane && !p.2);
    assert!(alive(&one) && alive(&two));
    let marker = unique("alive");
    s.tmux(&[
        "send-keys",
        "-t",
        &one,
        &format!("echo {marker} > /tmp/marker"),
        "Enter",
    ]);
    wait_for(
        "the parked session to answer",
        Duration::from_secs(10),
        || {
            env.sh(&order[0], "cat /tmp/marker 2>/dev/null")
                .1
                .contains(&marker)
        },
    );
    // Back to the first: the same pane, the same session.
    s.keys(&["k", "Enter"]);
    wait_for(
        "the first back on the right",
        Duration::from_secs(5),
        || window_of(&one) == home_window,
    );
    assert_eq!(session_of(&order[0]), Some(one.clone()));

    // q quits the dashboard and leaves every bottle running.
    s.keys(&["q"]);
    wait_for("the dashboard to exit", Duration::from_secs(5), || {
        !s.panes().iter().any(|p| p.0 == dashboard)
    });
    let (_, list, _) = env.run(&["list", "active"]);
    assert!(list.contains(&first) && list.contains(&second), "{list}");
}
