//! The tmux session and the dashboard, with real tmux on a private socket
//! (and the real docker engine where bottles are involved). Every tmux
//! server and bottle a test makes is removed, even when it fails. Tests
//! without bottles run the binary cargo builds; those with bottles, the
//! static one (the sidecars run it).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bot_bottle::backend::names;
use bot_bottle::egress::config::EgressConfig;
use bot_bottle::proposal::queue::Queue;
use bot_bottle::proposal::{Decision, Proposal, Request};
use bot_bottle::state::Home;
use support::docker::{Env, bin};
use support::needs::require_tmux;
use support::proposals::{egress_block, long_egress_block, pipelock_block};
use support::tmux::Tmux;
use support::unique;
use support::wait::wait_for;

/// A bot-bottle tmux server of the test's own; killed on drop.
struct Session {
    server: Tmux,
    home: PathBuf,
    bin: PathBuf,
    /// Extra environment for bot-bottle (and so for the tmux server it
    /// starts, and the dashboard in it).
    env: Vec<(String, PathBuf)>,
}

impl Session {
    /// `bot-bottle --detach` (the static one) on a fresh socket, with this home.
    fn open(home: &Path, cwd: &Path) -> Session {
        Session::open_with(home, cwd, bin(), &[])
    }

    fn open_with(home: &Path, cwd: &Path, bin: PathBuf, env: &[(&str, &Path)]) -> Session {
        let session = Session {
            server: Tmux::new("bbtest-tmux"),
            home: home.to_path_buf(),
            bin,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_path_buf()))
                .collect(),
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
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(cwd)
            .env("BOT_BOTTLE_HOME", &self.home)
            .env("BOT_BOTTLE_TMUX_SOCKET", &self.server.socket)
            .env_remove("TMUX");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn tmux(&self, args: &[&str]) -> String {
        self.server.run(args)
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

    /// Moves the agents' cursor to `slug` (the engine may run other tests'
    /// bottles, listed among this one's): until the status line names it.
    fn select(&self, slug: &str) {
        let pane = self.dashboard();
        let named = || self.screen(&pane).contains(&format!("[{slug}] "));
        for key in ["j", "k"] {
            for _ in 0..60 {
                if named() {
                    return;
                }
                self.keys(&[key]);
            }
        }
        panic!("{slug} is not in the list: {}", self.screen(&pane));
    }
}

/// The operator at a terminal: a client attached to the session, running
/// in a pane of an outer tmux server of the test's own (killed on drop);
/// what is typed there goes through the session's key bindings, as typing
/// does.
struct Operator {
    server: Tmux,
}

impl Operator {
    fn attach(s: &Session, dir: &Path, size: (u16, u16)) -> Operator {
        let conf = dir.join("operator.conf");
        std::fs::write(
            &conf,
            "set -g status off\nset -g default-terminal xterm-256color\n",
        )
        .unwrap();
        let operator = Operator {
            server: Tmux::new("bbtest-operator"),
        };
        let attach = format!(
            "env -u TMUX tmux -L {} attach -t bot-bottle",
            s.server.socket
        );
        support::succeed(
            Command::new("tmux")
                .args(["-L", &operator.server.socket, "-f"])
                .arg(&conf)
                .args(["new-session", "-d", "-s", "operator", "-x"])
                .arg(size.0.to_string())
                .arg("-y")
                .arg(size.1.to_string())
                .arg(attach)
                .env_remove("TMUX"),
        );
        wait_for("the operator's client", Duration::from_secs(10), || {
            !s.tmux(&["list-clients", "-F", "#{client_name}"]).is_empty()
        });
        operator
    }

    /// Types keys (tmux key names), a little apart.
    fn types(&self, keys: &[&str], apart: Duration) {
        for k in keys {
            let out = Command::new("tmux")
                .args(["-L", &self.server.socket, "send-keys", "-t", "operator:", k])
                .output()
                .unwrap();
            assert!(out.status.success());
            std::thread::sleep(apart);
        }
    }
}

/// A bottle the dashboard knows from its state alone (its routes, its
/// proposal queue), and a docker that logs what it is asked and says yes:
/// an approval reloads egress with `docker kill --signal HUP`.
struct Fake {
    dir: tempfile::TempDir,
    slug: &'static str,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake {
            dir,
            slug: "agent-aaaaa",
        };
        let state = Home { root: fake.home() }.bottle(fake.slug);
        std::fs::create_dir_all(state.egress_dir()).unwrap();
        let routes = EgressConfig {
            listen: 3128,
            routes: vec![],
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        };
        std::fs::write(
            state.egress_routes(),
            serde_json::to_string(&routes).unwrap(),
        )
        .unwrap();
        let docker = fake.docker();
        support::fake::script(
            &docker,
            &format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n",
                fake.docker_log().display()
            ),
        );
        fake
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn docker(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    fn docker_log(&self) -> PathBuf {
        self.dir.path().join("docker.log")
    }

    fn reloads(&self) -> usize {
        std::fs::read_to_string(self.docker_log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("kill --signal HUP"))
            .count()
    }

    /// `open`, and the operator attached at a terminal of `size`: the
    /// session, its dashboard's pane, the operator.
    fn open_attached(&self, size: (u16, u16)) -> (Session, String, Operator) {
        let s = self.open();
        let dashboard = s.dashboard();
        let operator = Operator::attach(&s, self.dir.path(), size);
        (s, dashboard, operator)
    }

    /// `request` from the bottle's agent, justified by `why`.
    fn propose(&self, request: Request, why: &str) -> Proposal {
        self.queue().submit(self.slug, request, why.into()).unwrap()
    }

    fn queue(&self) -> Queue {
        Queue::new(&Home { root: self.home() }.bottle(self.slug).supervise_dir())
    }

    fn open(&self) -> Session {
        self.open_with(&[])
    }

    /// `open`, with more variables in the dashboard's environment.
    fn open_with(&self, env: &[(&str, &Path)]) -> Session {
        let docker = self.docker();
        let mut vars = vec![("BOT_BOTTLE_DOCKER", docker.as_path())];
        vars.extend_from_slice(env);
        let s = Session::open_with(
            &self.home(),
            self.dir.path(),
            PathBuf::from(env!("CARGO_BIN_EXE_bot-bottle")),
            &vars,
        );
        wait_for("the dashboard", Duration::from_secs(10), || {
            !s.dashboard().is_empty()
        });
        let dashboard = s.dashboard();
        wait_for("the dashboard to draw", Duration::from_secs(10), || {
            s.screen(&dashboard).contains("bot-bottle")
        });
        s
    }
}

/// A route with many paths: what approving grants is longer than the screen.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn bootstrap_and_a_proposal_brings_the_user_to_the_dashboard() {
    require_tmux();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let s = Session::open_with(
        &home,
        dir.path(),
        PathBuf::from(env!("CARGO_BIN_EXE_bot-bottle")),
        &[],
    );
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
    assert_eq!(s.tmux(&["show-options", "-sv", "set-clipboard"]), "off");
    assert_eq!(s.tmux(&["show-options", "-gv", "allow-passthrough"]), "off");
    assert_eq!(
        s.tmux(&["show-options", "-pv", "-t", &dashboard, "allow-passthrough"]),
        "off"
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
    let queue = Queue::new(
        &Home { root: home.clone() }
            .bottle("agent-aaaaa")
            .supervise_dir(),
    );
    let asked = Instant::now();
    queue
        .submit(
            "agent-aaaaa",
            egress_block("api.example.test", &["/v1/"]),
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
    let id = queue.pending().unwrap()[0].id.clone();
    assert_eq!(s.option("@bb_next_proposal"), id);
    let status = s.tmux(&[
        "display-message",
        "-p",
        "-t",
        "bot-bottle",
        "#{T:status-right}",
    ]);
    assert!(
        status.contains(&format!("1 pending · Y/N: {id}")),
        "{status}"
    );
}

/// A proposal arrives while the operator types elsewhere: what they type
/// right after decides nothing; Enter opens the detail, which approves
/// only once it has been scrolled to its end, and not by a jump to the end.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn approving_takes_reading_the_proposal_to_its_end() {
    require_tmux();
    let fake = Fake::new();
    let (s, dashboard, operator) = fake.open_attached((80, 16));
    s.tmux(&["new-window", "-t", "bot-bottle:", "-n", "elsewhere"]);
    wait_for("the operator elsewhere", Duration::from_secs(5), || {
        s.active_pane() != dashboard
    });

    let queue = fake.queue();
    let p = fake.propose(long_egress_block("api.example.test"), "to run the tests");
    wait_for("focus on the dashboard", Duration::from_secs(5), || {
        s.active_pane() == dashboard
    });
    // Typing on, as if nothing happened: open, jump to the end, approve.
    operator.types(&["a", "G", "a", "Enter", "a"], Duration::from_millis(60));
    wait_for("the keys to be ignored", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("keys are ignored")
    });
    assert!(
        !s.screen(&dashboard).contains("approving grants"),
        "nothing opened"
    );

    // A pause, then a deliberate Enter: the detail, not an approval.
    std::thread::sleep(Duration::from_millis(1_500));
    operator.types(&["Enter"], Duration::from_millis(100));
    wait_for("the detail", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("proposal {}", p.id))
    });
    operator.types(&["a"], Duration::from_millis(300));
    wait_for("what is missing", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("scroll to the end first")
    });
    // Jumping to the end skips the middle.
    std::thread::sleep(Duration::from_millis(1_200));
    operator.types(&["G", "a"], Duration::from_millis(300));
    wait_for("what is still missing", Duration::from_secs(5), || {
        let screen = s.screen(&dashboard);
        screen.contains("(end of proposal)") && screen.contains("scroll to the end first")
    });
    assert!(queue.response(&p.id).is_none(), "nothing decided yet");
    assert_eq!(fake.reloads(), 0);

    // Read from the top to the end, page by page: now a approves.
    operator.types(&["g"], Duration::from_millis(200));
    for _ in 0..10 {
        operator.types(&["Space"], Duration::from_millis(150));
    }
    wait_for("the end of it", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("(end of proposal)")
    });
    // A paste is not typing: an `a` pasted (say, copied from an agent's
    // pane) approves nothing.
    s.tmux(&["set-buffer", "a"]);
    s.tmux(&["paste-buffer", "-p", "-t", &dashboard]);
    wait_for("the paste ignored", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("pasting is ignored")
    });
    assert!(queue.response(&p.id).is_none(), "a paste approves nothing");
    operator.types(&["a"], Duration::from_millis(100));
    wait_for("the question", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("approve {}?", p.id))
    });
    std::thread::sleep(Duration::from_millis(1_200));
    operator.types(&["y"], Duration::from_millis(100));
    wait_for("the approval", Duration::from_secs(10), || {
        queue.response(&p.id).is_some()
    });
    assert_eq!(queue.response(&p.id).unwrap().decision, Decision::Approved);
    assert_eq!(fake.reloads(), 1, "egress reloaded once");
}

/// Ordinary typing approves nothing: `a`, a pause, `a` on a proposal that
/// fits on the screen opens nothing (no key both opens the detail and
/// approves), and the status line says how to read it; a command, Enter,
/// a pause, then a word starting with `a` only asks, and the word typed
/// on answers no.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn a_pause_a_approves_nothing() {
    require_tmux();
    let fake = Fake::new();
    let (s, dashboard, operator) = fake.open_attached((100, 30));
    let queue = fake.queue();
    let p = fake.propose(
        pipelock_block("https://short.example.test/", "short.example.test"),
        "short",
    );
    wait_for("the proposal", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&p.id)
    });
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1_500));
        operator.types(&["a"], Duration::from_millis(100));
    }
    wait_for("how to read it", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("Enter (or v) opens it")
    });
    std::thread::sleep(Duration::from_millis(1_500));
    let screen = s.screen(&dashboard);
    assert!(!screen.contains("approving grants"), "{screen}");
    assert!(queue.response(&p.id).is_none(), "nothing approved");

    // `ls`, Enter, waiting for its output, then `apt`.
    operator.types(&["l", "s", "Enter"], Duration::from_millis(80));
    wait_for("the detail", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("approving grants")
    });
    std::thread::sleep(Duration::from_millis(1_500));
    operator.types(&["a", "p", "t"], Duration::from_millis(80));
    std::thread::sleep(Duration::from_millis(1_500));
    let screen = s.screen(&dashboard);
    assert!(screen.contains("approving grants"), "{screen}");
    assert!(!screen.contains(&format!("approve {}?", p.id)), "{screen}");
    assert!(queue.response(&p.id).is_none(), "nothing approved");
    assert_eq!(fake.reloads(), 0);
}

/// A proposal withdrawn for a changed one while its detail is open (a
/// suggestion grew, a branch was pushed again: the queue's files say so)
/// closes the detail; the status line says what replaced it, and the new
/// one is read from the start.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn a_withdrawn_proposals_detail_closes_and_says_what_replaced_it() {
    require_tmux();
    let fake = Fake::new();
    let (s, dashboard, operator) = fake.open_attached((100, 30));
    let queue = fake.queue();
    let old = fake.propose(egress_block("grow.example.test", &["/simple/"]), "first");
    wait_for("the proposal", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&old.id)
    });
    std::thread::sleep(Duration::from_millis(1_500));
    operator.types(&["Enter"], Duration::from_millis(100));
    wait_for("the detail", Duration::from_secs(5), || {
        s.screen(&dashboard)
            .contains(&format!("proposal {}", old.id))
    });

    // The change, as the queue's files carry it: a new proposal that
    // replaces the old one, and the old one answered `withdrawn`.
    let dir = Home { root: fake.home() }.bottle(fake.slug).supervise_dir();
    let new_id = format!("{}-grow", old.id.split('-').next().unwrap());
    let mut new = serde_json::to_value(&old).unwrap();
    new["id"] = new_id.clone().into();
    new["request"]["path_allowlist"] = serde_json::json!(["/"]);
    new["replaces"] = old.id.clone().into();
    std::fs::write(dir.join(format!("queue/{new_id}.json")), new.to_string()).unwrap();
    std::fs::create_dir_all(dir.join("responses")).unwrap();
    let withdrawn = serde_json::json!({
        "id": old.id, "decision": "withdrawn", "decided_at": "now",
        "note": "it grew", "replaced_by": new_id,
    });
    std::fs::write(
        dir.join(format!("responses/{}.json", old.id)),
        withdrawn.to_string(),
    )
    .unwrap();
    wait_for("the detail to close", Duration::from_secs(5), || {
        let screen = s.screen(&dashboard);
        screen.contains(&format!("proposal {} was withdrawn", old.id))
            && !screen.contains(&format!("proposal {} ─", old.id))
    });
    std::thread::sleep(Duration::from_millis(1_500));
    operator.types(&["Enter"], Duration::from_millis(100));
    wait_for("the new one's detail", Duration::from_secs(5), || {
        let screen = s.screen(&dashboard);
        screen.contains(&format!("proposal {new_id}"))
            && screen.contains(&format!("replaces  {}", old.id))
    });
    assert!(queue.response(&new_id).is_none());
    assert_eq!(fake.reloads(), 0);
}

/// `prefix Y` and `prefix N` act on the proposal the status line names,
/// wherever the cursor is, and Y only opens it.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn prefix_y_and_n_act_on_the_proposal_the_status_line_names() {
    require_tmux();
    let fake = Fake::new();
    let (s, dashboard, operator) = fake.open_attached((100, 30));
    let queue = fake.queue();
    let first = fake.propose(
        pipelock_block("https://first.example.test/", "first.example.test"),
        "first",
    );
    wait_for("the first", Duration::from_secs(5), || {
        s.option("@bb_next_proposal") == first.id
    });
    let second = fake.propose(long_egress_block("second.example.test"), "second");
    wait_for("the second listed", Duration::from_secs(5), || {
        s.option("@bb_pending") == "2"
    });
    assert_eq!(
        s.option("@bb_next_proposal"),
        first.id,
        "the oldest stays named"
    );
    std::thread::sleep(Duration::from_millis(1_500));

    // From another window; the dashboard's cursor is on the newest.
    s.tmux(&["new-window", "-t", "bot-bottle:", "-n", "elsewhere"]);
    wait_for("the operator elsewhere", Duration::from_secs(5), || {
        s.active_pane() != dashboard
    });
    operator.types(&["C-b", "Y"], Duration::from_millis(100));
    wait_for(
        "the named proposal's detail",
        Duration::from_secs(5),
        || {
            s.screen(&dashboard)
                .contains(&format!("proposal {}", first.id))
        },
    );
    assert_eq!(s.active_pane(), dashboard, "Y brings the operator there");
    std::thread::sleep(Duration::from_millis(1_200));
    operator.types(&["C-b", "Y"], Duration::from_millis(300));
    assert!(queue.response(&first.id).is_none(), "Y never approves");

    // N: the reason prompt for the named one, the cursor elsewhere.
    operator.types(&["Escape", "j"], Duration::from_millis(100));
    operator.types(&["C-b", "N"], Duration::from_millis(100));
    wait_for("the reason prompt", Duration::from_secs(5), || {
        s.screen(&dashboard)
            .contains("reject: reason for the agent")
    });
    for k in ["n", "o", "Enter"] {
        operator.types(&[k], Duration::from_millis(50));
    }
    wait_for("the rejection", Duration::from_secs(5), || {
        queue.response(&first.id).is_some()
    });
    let response = queue.response(&first.id).unwrap();
    assert_eq!(response.decision, Decision::Rejected);
    assert_eq!(response.reason.as_deref(), Some("no"));
    assert!(queue.response(&second.id).is_none());
    wait_for("the next one named", Duration::from_secs(5), || {
        s.option("@bb_next_proposal") == second.id
    });
    assert_eq!(fake.reloads(), 0);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn agents_sessions_on_the_right_survive_switching_and_quitting() {
    require_tmux();
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
    s.select(&order[0]);
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
    s.select(&order[1]);
    s.keys(&["Enter"]);
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
    s.select(&order[0]);
    s.keys(&["Enter"]);
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

/// The fake smolvm of `tests/smolvm/fake-smolvm` on a PATH of the test's
/// own; on drop, every machine it made and every bottle is removed.
struct FakeSmolvm {
    bin: PathBuf,
    state: PathBuf,
    home: PathBuf,
}

impl FakeSmolvm {
    fn new(env: &Env) -> FakeSmolvm {
        let bin = env.dir.path().join("fake-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smolvm/fake-smolvm");
        std::os::unix::fs::symlink(script, bin.join("smolvm")).unwrap();
        FakeSmolvm {
            bin,
            state: env.dir.path().join("fake-smolvm"),
            home: env.home(),
        }
    }

    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("PATH", PathBuf::from(path)),
            ("BOT_BOTTLE_SMOLVM", self.bin.join("smolvm")),
            ("FAKE_SMOLVM_STATE", self.state.clone()),
            // The fake's "microVM" reaches the host at its gateway, where
            // smolvm's would refuse: bring-up's seal check would say so
            // (tests/smolvm_contract.rs shows it does).
            ("BOT_BOTTLE_SKIP_SEAL_CHECK", PathBuf::from("1")),
        ]
    }

    fn machines(&self) -> String {
        let out = Command::new(self.bin.join("smolvm"))
            .args(["machine", "ls", "--json"])
            .env("FAKE_SMOLVM_STATE", &self.state)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for FakeSmolvm {
    fn drop(&mut self) {
        let mut cmd = Command::new(bin());
        cmd.args(["cleanup", "--yes"])
            .env("BOT_BOTTLE_HOME", &self.home)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let _ = cmd.status();
        let listed = Command::new("docker")
            .args(["ps", "-aq", "--filter", "label=dev.bot-bottle.fake-smolvm"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in listed.split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn the_dashboard_launches_and_stops_a_bottle_on_smolmachines() {
    require_tmux();
    let env = Env::new();
    let fake = FakeSmolvm::new(&env);
    let vars = fake.env();
    let vars: Vec<(&str, &Path)> = vars.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let s = Session::open_with(&env.home(), &env.proj(), bin(), &vars);
    wait_for("the dashboard", Duration::from_secs(10), || {
        !s.dashboard().is_empty()
    });
    let dashboard = s.dashboard();
    wait_for("the dashboard to draw", Duration::from_secs(10), || {
        s.screen(&dashboard).contains("bot-bottle")
    });

    // n: the agent, its own bottles, its label and color, no directory,
    // then a backend: both are available.
    s.keys(&["n"]);
    for k in [
        "s", "h", "e", "l", "l", "Enter", "Enter", "Enter", "Enter", "C-u", "Enter",
    ] {
        s.keys(&[k]);
    }
    wait_for("the backend picker", Duration::from_secs(5), || {
        let screen = s.screen(&dashboard);
        screen.contains("smolmachines") && screen.contains("microVM")
    });
    for k in ["s", "m", "o", "l", "Enter"] {
        s.keys(&[k]);
    }
    wait_for("the preflight", Duration::from_secs(60), || {
        s.screen(&dashboard).contains("microVM bot-bottle-shell-")
    });
    s.keys(&["y"]);
    let slug = || {
        s.panes()
            .into_iter()
            .map(|p| p.3)
            .find(|slug| slug.starts_with("shell-"))
    };
    wait_for("the agent's session", Duration::from_secs(180), || {
        slug().is_some_and(|slug| s.screen(&dashboard).contains(&slug))
    });
    let slug = slug().unwrap();
    env.track(&slug);
    assert!(fake.machines().contains(&format!("bot-bottle-{slug}")));
    let listed = s.bot_bottle(&["list", "active"], &env.proj());
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("smolmachines") && l.contains(&slug)),
        "{listed}"
    );
    let pane = s.panes().into_iter().find(|p| p.3 == slug).unwrap().0;
    wait_for("a prompt in the microVM", Duration::from_secs(30), || {
        s.screen(&pane).contains("agent@")
    });

    // x: taken down through the same backend.
    s.tmux(&["select-pane", "-t", &dashboard]);
    wait_for("its row", Duration::from_secs(10), || {
        s.screen(&dashboard).contains(&format!("* {slug}"))
    });
    s.keys(&["x"]);
    wait_for("the machine gone", Duration::from_secs(60), || {
        !fake.machines().contains(&format!("bot-bottle-{slug}"))
    });
    wait_for("its row gone", Duration::from_secs(30), || {
        let screen = s.screen(&dashboard);
        // The status line at the bottom may name it; the rows may not.
        let rows = screen.lines().rev().skip(1);
        !rows.into_iter().any(|l| l.contains(&slug))
    });
    // The row goes with the machine; the bundle's teardown and the state
    // folder's removal come after it.
    let state = bot_bottle::state::Home { root: env.home() }.state_root();
    wait_for("its state removed", Duration::from_secs(60), || {
        std::fs::read_dir(&state).map_or(true, |mut d| d.next().is_none())
    });
    env.assert_no_state();
}

/// `idle_after` in the home manifest: idle agents are paused by the
/// dashboard (memory kept) and shown asleep; `exec` wakes one at once, and
/// so does selecting it.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn idle_agents_sleep_and_exec_or_selecting_wakes_them() {
    require_tmux();
    let env = Env::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(
        env.home().join("bot-bottle.json"),
        r#"{"idle_after": "10s"}"#,
    )
    .unwrap();
    let first = env.start_detached(&["shell"]);
    let second = env.start_detached(&["shell"]);
    let (_, out) = env.sh(&first, "echo 41 > /tmp/kept");
    assert!(out.is_empty(), "{out}");
    let paused = support::docker::agent_paused;
    let s = Session::open(&env.home(), &env.proj());
    let dashboard = s.dashboard();
    wait_for("both asleep", Duration::from_secs(60), || {
        paused(&first) && paused(&second)
    });
    assert_eq!(env.row(&first)["asleep"], true);
    // Each one's row: its identity, its agent, then `asleep`.
    let shown = || {
        let screen = s.screen(&dashboard);
        [&first, &second].iter().all(|slug| {
            screen
                .lines()
                .any(|l| l.contains(&format!("{slug}  shell  asleep")))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shown() {
        assert!(
            Instant::now() < deadline,
            "not shown asleep: {}",
            s.screen(&dashboard)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // exec wakes it, its memory and files as they were.
    let started = Instant::now();
    let (code, out) = env.sh(&first, "cat /tmp/kept");
    let took = started.elapsed();
    assert_eq!((code, out.trim()), (0, "41"));
    eprintln!("exec in a sleeping bottle answered in {took:?}");
    assert!(!paused(&first));
    assert_eq!(env.row(&first)["asleep"], false);

    // Selecting (and showing) the other wakes it too.
    s.select(&second);
    s.keys(&["Enter"]);
    wait_for("selected, awake", Duration::from_secs(10), || {
        !paused(&second)
    });
    // Idle again, the first falls asleep again.
    wait_for("the first asleep again", Duration::from_secs(60), || {
        paused(&first)
    });
}

#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn the_dashboard_at_rest_runs_nothing() {
    require_tmux();
    let fake = Fake::new();
    // The stand-in logs every call; `events` waits, as docker's does.
    std::fs::write(
        fake.docker(),
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" = events ] && exec sleep 60\nexit 0\n",
            fake.docker_log().display()
        ),
    )
    .unwrap();
    let s = fake.open();
    let pid = s.tmux(&["display-message", "-p", "-t", &s.dashboard(), "#{pane_pid}"]);
    // How often its threads have slept and woken, all told.
    let wakeups = || -> u64 {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.starts_with("voluntary_ctxt_switches"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let calls = || {
        std::fs::read_to_string(fake.docker_log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    wait_for("the first listing", Duration::from_secs(10), || {
        calls().iter().any(|c| c.starts_with("ps"))
    });
    std::thread::sleep(Duration::from_secs(2));
    let settled = calls();
    let woke = wakeups();
    // Longer than any interval the dashboard ever polled at.
    std::thread::sleep(Duration::from_secs(12));
    let later = calls();
    // The key reader waits on the terminal in 50 ms slices (240 in 12 s);
    // nothing else should wake.
    let woken = wakeups() - woke;
    assert!(
        woken < 600,
        "the dashboard woke {woken} times in 12 s at rest"
    );
    assert_eq!(
        later[settled.len()..],
        [] as [String; 0],
        "the dashboard ran docker at rest"
    );
    assert!(
        settled.iter().any(|c| c.starts_with("events")),
        "it watches docker's events instead: {settled:?}"
    );
}

/// `e` on an agent: its live routes in $EDITOR, in the dashboard's pane,
/// through the same path as `routes edit` (checked, reloaded, audited);
/// what came of it in the status line. A bad edit is refused with the
/// reason and changes nothing.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn e_edits_a_live_bottles_routes_from_the_dashboard() {
    require_tmux();
    let env = Env::new();
    let slug = env.start_detached(&["shell"]);

    // Outside the bottle: a server of the test's own (the sidecar image's
    // supervise server), reachable from egress as outside.test.
    let target = unique("bbtest-outside");
    env.serve_outside(
        &slug,
        &target,
        &[
            "--label",
            "dev.bot-bottle.test=1",
            "--network",
            &names::network(&slug, "outside"),
            "--network-alias",
            "outside.test",
        ],
        "outside",
        "0.0.0.0:80",
    );
    // What the agent gets asking for it: egress's refusal, or the
    // target's own answer (its server refuses a Host it does not know).
    let answer = || env.sh(&slug, "curl -s -m 10 http://outside.test/; true").1;
    let refused = "bot-bottle egress refused this request";
    let reached = "Host header is not allowed";
    let before = answer();
    assert!(before.contains(refused), "no route to it yet: {before}");

    // The editor: adds a route to outside.test, or (mode "bad") turns
    // that host into a URL, which is no host.
    let mode = env.dir.path().join("mode");
    let editor = env.dir.path().join("editor");
    let route = r#"{"host": "outside.test", "allow_private_addresses": true}"#;
    support::fake::script(
        &editor,
        &format!(
            "#!/bin/sh\ncase \"$(cat '{mode}')\" in\n\
             good) sed -i -e 's#\"routes\": \\[\\]#\"routes\": [{route}]#; t' -e 's#\"routes\": \\[#\"routes\": [{route},#' \"$1\" ;;\n\
             bad) sed -i 's#\"outside.test\"#\"https://outside.test/x\"#' \"$1\" ;;\n\
             esac\n",
            mode = mode.display()
        ),
    );
    std::fs::write(&mode, "good").unwrap();

    let s = Session::open_with(
        &env.home(),
        &env.proj(),
        bin(),
        &[("EDITOR", &editor), ("VISUAL", &editor)],
    );
    wait_for("the dashboard", Duration::from_secs(10), || {
        !s.dashboard().is_empty()
    });
    // The status line's left part is not cut ("[bot-bottl").
    let left = s.tmux(&[
        "display-message",
        "-p",
        "-t",
        "bot-bottle",
        "#{E:status-left}",
    ]);
    let length: usize = s
        .tmux(&["show-options", "-gv", "status-left-length"])
        .parse()
        .unwrap();
    assert!(
        left.trim_end().starts_with("[bot-bottle]") && left.chars().count() <= length,
        "{left:?} in {length} columns"
    );
    let dashboard = s.dashboard();
    wait_for("the bottle listed", Duration::from_secs(15), || {
        s.screen(&dashboard).contains(&slug)
    });
    // At rest, the status line names the agent `e` acts on (the engine
    // may run other bottles: the cursor goes to this one).
    s.select(&slug);
    assert!(
        s.screen(&dashboard)
            .contains(&format!("[{slug}] shell · docker")),
        "{}",
        s.screen(&dashboard)
    );

    s.keys(&["e"]);
    wait_for(
        "the reload in the status line",
        Duration::from_secs(20),
        || {
            s.screen(&dashboard)
                .contains(&format!("routes of {slug} reloaded"))
        },
    );
    let after = answer();
    assert!(after.contains(reached), "the target answers now: {after}");
    let audit =
        std::fs::read_to_string(env.home().join("audit").join(format!("{slug}.jsonl"))).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        (line["actor"].as_str(), line["tool"].as_str()),
        (Some("operator"), Some("routes-edit"))
    );
    let routes = std::fs::read_to_string(env.bottle(&slug).egress_routes()).unwrap();
    assert!(routes.contains("\"outside.test\""), "{routes}");

    // A bad edit: refused with the reason, the old routes kept.
    std::fs::write(&mode, "bad").unwrap();
    s.keys(&["e"]);
    wait_for(
        "the refusal in the status line",
        Duration::from_secs(20),
        || {
            s.screen(&dashboard)
                .contains(&format!("routes of {slug} not changed:"))
        },
    );
    let screen = s.screen(&dashboard);
    assert!(screen.contains("https://outside.test/x"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(env.bottle(&slug).egress_routes()).unwrap(),
        routes,
        "a bad edit changes nothing"
    );
    assert!(
        answer().contains(reached),
        "and egress still lets it through"
    );
    s.keys(&["q"]);
}

/// `v` in the detail: the whole proposal in $PAGER, in the dashboard's
/// pane; the dashboard comes back, and reading it there approves nothing.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn v_shows_the_whole_proposal_in_the_pager() {
    require_tmux();
    let fake = Fake::new();
    let seen = fake.dir.path().join("paged.txt");
    let pager = fake.dir.path().join("pager");
    support::fake::script(
        &pager,
        &format!("#!/bin/sh\ncp \"$1\" '{}'\n", seen.display()),
    );
    let s = fake.open_with(&[("PAGER", &pager)]);
    let dashboard = s.dashboard();
    let p = fake.propose(long_egress_block("api.example.test"), "to run the tests");
    wait_for("the proposal", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&p.id)
    });
    std::thread::sleep(Duration::from_millis(1_500));
    s.keys(&["v"]);
    wait_for("the detail", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("proposal {}", p.id))
    });
    s.keys(&["v"]);
    wait_for("the pager", Duration::from_secs(5), || {
        std::fs::read_to_string(&seen).is_ok_and(|t| t.contains("(end of proposal)"))
    });
    let paged = std::fs::read_to_string(&seen).unwrap();
    assert!(paged.contains("host      api.example.test"), "{paged}");
    assert!(paged.contains("/api/v1/resource-00/") && paged.contains("/api/v1/resource-99/"));
    wait_for("the detail back", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("proposal {}", p.id))
    });
    std::thread::sleep(Duration::from_millis(1_200));
    s.keys(&["a"]);
    wait_for("what is missing", Duration::from_secs(5), || {
        s.screen(&dashboard).contains("scroll to the end first")
    });
    assert!(fake.queue().response(&p.id).is_none(), "nothing decided");
    assert_eq!(fake.reloads(), 0);
}

/// A loopback upstream that answers every request `200 ok`.
fn ok_upstream() -> std::net::SocketAddr {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            support::http::read_until(&mut stream, b"\r\n\r\n");
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

/// curl through the proxy at `proxy`: the status code.
fn curl_status(proxy: std::net::SocketAddr, url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{http_code}",
        ])
        .arg("--proxy")
        .arg(format!("http://{proxy}"))
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Learning mode end to end, the egress proxy on loopback in this process
/// with the fake bottle's egress folder: a request it denies becomes a
/// suggestion in the proposals pane; approved with the deliberate act, the
/// routes reload and the same request passes. No suggestion comes for a
/// host the routes allow, nor for one the operator rejected.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn a_denied_request_becomes_a_suggestion_that_approved_lets_it_through() {
    use bot_bottle::egress::config::RouteConfig;
    use bot_bottle::egress::proxy::{Bound, Limits, Options};
    require_tmux();
    let fake = Fake::new();
    let home = Home { root: fake.home() };
    let state = home.bottle(fake.slug);
    let route = |host: &str, paths: &[&str]| RouteConfig {
        host: host.into(),
        path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
        allow_private_addresses: true,
        ..Default::default()
    };
    let routes = EgressConfig {
        listen: 3128,
        routes: vec![
            route("api.example.test", &["/v1/"]),
            route("allowed.example.test", &[]),
        ],
        trust_upstream_ca: vec![],
        token_budget: None,
        spend: None,
    };
    std::fs::write(
        state.egress_routes(),
        serde_json::to_string(&routes).unwrap(),
    )
    .unwrap();
    std::fs::write(state.egress_tokens(), "{}").unwrap();
    let (ca, key) = bot_bottle::egress::ca::new_ca().unwrap();
    std::fs::write(state.egress_ca(), ca).unwrap();
    std::fs::write(state.egress_ca_key(), key).unwrap();
    // The operator rejected the agent's ask for this host before.
    let rejected = fake.propose(
        pipelock_block("http://rejected.example.test/", "rejected.example.test"),
        "why",
    );
    bot_bottle::supervise::apply::reject(&home, &rejected.id, Some("no")).unwrap();

    let upstream = ok_upstream();
    let overrides = [
        "api.example.test",
        "allowed.example.test",
        "rejected.example.test",
    ]
    .iter()
    .map(|h| (h.to_string(), upstream))
    .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bound = rt
        .block_on(Bound::bind(Options {
            state_dir: state.egress_dir(),
            bind_ip: [127, 0, 0, 1].into(),
            also_bind: vec![],
            ephemeral_ports: true,
            overrides: std::sync::Arc::new(overrides),
            limits: Limits::default(),
        }))
        .unwrap();
    let proxy = bound.proxy_addr().unwrap();
    let shared = std::sync::Arc::clone(&bound.shared);
    rt.spawn(bound.serve(std::future::pending()));

    let s = fake.open();
    let dashboard = s.dashboard();
    let url = "http://api.example.test/v2/items";
    assert_eq!(curl_status(proxy, url), 403, "outside the route's paths");
    assert_eq!(curl_status(proxy, "http://allowed.example.test/x"), 200);
    assert_eq!(curl_status(proxy, "http://rejected.example.test/x"), 403);
    wait_for("the suggestion", Duration::from_secs(10), || {
        s.screen(&dashboard).contains("from denials")
    });
    let listed = s.bot_bottle(&["proposals", "--json"], fake.dir.path());
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the denied path: {listed}");
    assert_eq!(rows[0]["source"], "denied");
    assert_eq!(rows[0]["summary"], "route api.example.test /v2/");
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    assert!(
        s.screen(&dashboard).contains("route api.example.test /v2/"),
        "{}",
        s.screen(&dashboard)
    );

    // The deliberate act: a pause, Enter opens the detail, a second, `a`,
    // a second, `y`.
    std::thread::sleep(Duration::from_millis(1_500));
    s.keys(&["Enter"]);
    wait_for("the detail", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("proposal {id}"))
    });
    std::thread::sleep(Duration::from_millis(1_200));
    s.keys(&["a"]);
    wait_for("the question", Duration::from_secs(5), || {
        s.screen(&dashboard).contains(&format!("approve {id}?"))
    });
    std::thread::sleep(Duration::from_millis(1_200));
    s.keys(&["y"]);
    wait_for("the reload", Duration::from_secs(10), || {
        fake.reloads() == 1
    });
    // What `docker kill --signal HUP` does to the sidecar.
    shared.reload().unwrap();
    assert_eq!(curl_status(proxy, url), 200, "the same request passes");

    let suggestions = Queue::new(&state.suggestions_dir());
    assert_eq!(
        suggestions.archived(&id).unwrap().response.decision,
        Decision::Approved
    );
    // Nothing comes back: the path is allowed now, the host rejected.
    assert_eq!(curl_status(proxy, "http://rejected.example.test/y"), 403);
    std::thread::sleep(Duration::from_millis(500));
    let listed = s.bot_bottle(&["proposals", "--json"], fake.dir.path());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "[]",
        "no suggestion comes back"
    );
    assert!(!s.screen(&dashboard).contains("from denials"));
}

/// A burst of proposals runs the operator's notify command once, with the
/// proposals as JSON on its stdin.
#[test]
#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn a_burst_of_proposals_is_one_notification() {
    require_tmux();
    let fake = Fake::new();
    let runs = fake.dir.path().join("notified");
    let script = fake.dir.path().join("notify.sh");
    support::fake::script(
        &script,
        &format!("#!/bin/sh\ncat >> '{0}'\necho >> '{0}'\n", runs.display()),
    );
    let s = Session::open_with(
        &fake.home(),
        fake.dir.path(),
        PathBuf::from(env!("CARGO_BIN_EXE_bot-bottle")),
        &[
            ("BOT_BOTTLE_DOCKER", &fake.docker()),
            ("BOT_BOTTLE_NOTIFY_COMMAND", &script),
        ],
    );
    wait_for("the dashboard", Duration::from_secs(10), || {
        s.screen(&s.dashboard()).contains("bot-bottle")
    });
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..4 {
        fake.propose(long_egress_block(&format!("h{i}.example.test")), "why");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for("the notification", Duration::from_secs(10), || {
        runs.exists()
    });
    std::thread::sleep(Duration::from_secs(3));
    let text = std::fs::read_to_string(&runs).unwrap();
    let runs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    assert_eq!(runs[0]["count"], 4);
    assert_eq!(runs[0]["proposals"][0]["source"], "agent");
    assert_eq!(
        runs[0]["proposals"][0]["request"]["host"],
        "h0.example.test"
    );
}
