//! The tests that drive the real docker engine: the static binary, a
//! private `BOT_BOTTLE_HOME` per test, looking into containers, and
//! cleanup of everything a test made, even when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{succeed, unique};

/// Docker tests run one at a time: `cleanup` is global, and two cores are
/// little for several bottles at once.
static SERIAL: Mutex<()> = Mutex::new(());

/// The static bot-bottle: `BOT_BOTTLE_BIN`, else the release build of
/// `scripts/build`.
pub fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("BOT_BOTTLE_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/x86_64-unknown-linux-gnu/release/bot-bottle");
    assert!(
        path.exists(),
        "no static bot-bottle at {}: run scripts/build (scripts/test does), or set BOT_BOTTLE_BIN",
        path.display()
    );
    path
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

pub fn docker_ok(args: &[&str]) -> String {
    succeed(Command::new("docker").args(args)).trim().to_owned()
}

/// A test's own `BOT_BOTTLE_HOME` and working directory; on drop, takes
/// down its bottles and removes what it made. It needs the docker engine
/// (`needs::require_docker`), so a test that makes one carries
/// `#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]`.
pub struct Env {
    _serial: MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    slugs: Mutex<Vec<String>>,
    containers: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
}

impl Env {
    pub fn new() -> Env {
        super::needs::require_docker();
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proj")).unwrap();
        let base = Command::new("docker")
            .args(["image", "inspect", "debian:bookworm-slim"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            base.success(),
            "the base image is missing: run `bot-bottle image bootstrap` (scripts/test does)"
        );
        Env {
            _serial: serial,
            dir,
            slugs: Mutex::new(Vec::new()),
            containers: Mutex::new(Vec::new()),
            networks: Mutex::new(Vec::new()),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A bottle's state folder in this test's home.
    pub fn bottle(&self, slug: &str) -> bot_bottle::state::BottleDir {
        bot_bottle::state::Home { root: self.home() }.bottle(slug)
    }

    pub fn proj(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.proj())
            .env("BOT_BOTTLE_HOME", self.home())
            .env_remove("BOT_BOTTLE_DRY_RUN")
            // The seal's outside probes: the agent's own loopback, never
            // an address the test did not make (see scripts/test).
            .env("BOT_BOTTLE_VERIFY_OUTSIDE", "127.0.0.1:9")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs bot-bottle; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `start … --yes --detach`; returns the identity.
    pub fn start_detached(&self, extra: &[&str]) -> String {
        let mut args = vec!["start"];
        args.extend_from_slice(extra);
        args.extend(["--yes", "--detach"]);
        let (code, out, err) = self.run(&args);
        assert_eq!(code, 0, "start failed: {err}");
        let slug = out.trim().to_owned();
        assert!(
            !slug.is_empty() && !slug.contains('\n'),
            "start printed more than the identity: {out:?}"
        );
        self.track(&slug);
        slug
    }

    /// `stop` (whatever it answers), after which nothing labelled for the
    /// bottle is left.
    #[track_caller]
    pub fn stop_leaving_nothing(&self, slug: &str) {
        self.run(&["stop", slug]);
        assert_eq!(leftovers(slug), (0, 0));
    }

    pub fn track(&self, slug: &str) {
        self.slugs.lock().unwrap().push(slug.to_owned());
    }

    pub fn track_container(&self, name: &str) {
        self.containers.lock().unwrap().push(name.to_owned());
    }

    pub fn track_network(&self, name: &str) {
        self.networks.lock().unwrap().push(name.to_owned());
    }

    /// A docker network of the test's own, named from `prefix`; removed at
    /// the end.
    pub fn network(&self, prefix: &str) -> String {
        let network = unique(prefix);
        docker_ok(&["network", "create", &network]);
        self.track_network(&network);
        network
    }

    /// `start … --yes --detach` with variables set in bot-bottle's
    /// environment (a route's token, `BOT_BOTTLE_RUNTIME`), or removed
    /// from it (`None`); returns the identity.
    pub fn start_detached_with(&self, extra: &[&str], vars: &[(&str, Option<&str>)]) -> String {
        let mut args = vec!["start"];
        args.extend_from_slice(extra);
        args.extend(["--yes", "--detach"]);
        let mut cmd = self.cmd(&args);
        for (k, v) in vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // Tracked before the check: a start that printed its identity and
        // then failed still leaves a bottle to take down.
        if !stdout.is_empty() && !stdout.contains('\n') {
            self.track(&stdout);
        }
        assert!(
            out.status.success(),
            "start {extra:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout.is_empty() && !stdout.contains('\n'),
            "start printed more than the identity: {stdout:?}"
        );
        stdout
    }

    /// `slug`'s row of `list active --json`.
    pub fn row(&self, slug: &str) -> serde_json::Value {
        let (code, out, err) = self.run(&["list", "active", "--json"]);
        assert_eq!(code, 0, "{err}");
        listed_row(&out, slug)
    }

    /// `exec SLUG -- sh -c SCRIPT`; returns (exit code, stdout).
    pub fn sh(&self, slug: &str, script: &str) -> (i32, String) {
        let (code, out, _) = self.run(&["exec", slug, "--", "sh", "-c", script]);
        (code, out)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `bot-bottle trust --yes` in the project: the operator trusts its
    /// manifest as the test wrote it (so write the files it names first).
    pub fn trust(&self) {
        succeed(&mut self.cmd(&["trust", "--yes"]));
    }

    /// A project whose agent `agent` (of `provider`) runs in a bottle of
    /// its own, built from `dockerfile` (written to `proj/bottle/`, which
    /// is its build context); trusted.
    pub fn trust_agent_image(&self, agent: &str, provider: &str, dockerfile: &str) {
        self.write("proj/bottle/Dockerfile", dockerfile);
        let manifest = serde_json::json!({
            "agents": {agent: {"provider": provider, "bottle": agent}},
            "bottles": {agent: {"dockerfile": "bottle/Dockerfile"}}
        });
        self.write("proj/bot-bottle.json", &manifest.to_string());
        self.trust();
    }

    /// `routes edit SLUG` with `editor` as $EDITOR; it must succeed.
    pub fn edit_routes(&self, slug: &str, editor: &str) {
        succeed(self.cmd(&["routes", "edit", slug]).env("EDITOR", editor));
    }

    /// A server of the test's own outside `bottle`: a container `name`
    /// (tracked) of the bottle's sidecar image running its supervise
    /// server as `slug` on `listen`, started with `run_args` (its
    /// networks). Returns the sidecar image.
    pub fn serve_outside(
        &self,
        bottle: &str,
        name: &str,
        run_args: &[&str],
        slug: &str,
        listen: &str,
    ) -> String {
        let sidecar = docker_ok(&[
            "inspect",
            "--format",
            "{{.Config.Image}}",
            &bot_bottle::backend::names::container(bottle, "egress"),
        ]);
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(run_args);
        args.extend([
            "--entrypoint",
            "/bot-bottle",
            &sidecar,
            "sidecar",
            "supervise",
            "--state",
            "/tmp",
            "--slug",
            slug,
            "--listen",
            listen,
        ]);
        docker_ok(&args);
        self.track_container(name);
        sidecar
    }

    /// Waits (at most `limit`) until `proposals --json` lists `n`
    /// proposals of the agent's (learning mode's suggestions from denials
    /// are not counted), and returns them; fails if it lists another
    /// number then.
    pub fn pending(&self, n: usize, limit: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + limit;
        loop {
            let (code, out, err) = self.run(&["proposals", "--json"]);
            assert_eq!(code, 0, "{err}");
            let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
            let list: Vec<_> = all.into_iter().filter(|p| p["source"] == "agent").collect();
            if list.len() >= n || Instant::now() > deadline {
                assert_eq!(list.len(), n, "{out}");
                return list;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// No bottle's state folder is left in this test's home.
    pub fn assert_no_state(&self) {
        let state: Vec<_> =
            std::fs::read_dir(bot_bottle::state::Home { root: self.home() }.state_root())
                .map(|d| d.flatten().collect())
                .unwrap_or_default();
        assert!(state.is_empty(), "state left behind: {state:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // The test's own containers first: one joined to a bottle's network
        // would keep compose from removing that network.
        for name in tracked(&self.containers) {
            let _ = docker(&["rm", "--force", &name]);
        }
        for slug in tracked(&self.slugs) {
            let _ = Command::new("docker")
                .args([
                    "compose",
                    "-p",
                    &bot_bottle::backend::names::project(&slug),
                    "down",
                    "--volumes",
                    "--timeout",
                    "1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for name in tracked(&self.networks) {
            let _ = docker(&["network", "rm", &name]);
        }
    }
}

/// What an `Env` tracked, even when a failed test poisoned the lock.
fn tracked(list: &Mutex<Vec<String>>) -> Vec<String> {
    list.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `slug`'s row in `list`, the output of `list active --json`.
pub fn listed_row(list: &str, slug: &str) -> serde_json::Value {
    let rows: serde_json::Value = serde_json::from_str(list).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["slug"] == slug)
        .unwrap_or_else(|| panic!("{slug} is not in list active --json: {list}"))
        .clone()
}

/// The bottle a failed or crashed start says to resume: SLUG in the
/// `bot-bottle resume SLUG` line of its stderr `err`.
pub fn resume_hint(err: &str) -> Option<&str> {
    err.lines()
        .find_map(|l| l.strip_prefix("bot-bottle resume "))
        .map(str::trim)
}

/// Labelled containers and networks of a bottle that are still there.
pub fn leftovers(slug: &str) -> (usize, usize) {
    let filter = format!("label=dev.bot-bottle.slug={slug}");
    let count = |s: String| s.lines().filter(|l| !l.is_empty()).count();
    (
        count(docker_ok(&["ps", "--all", "--quiet", "--filter", &filter])),
        count(docker_ok(&[
            "network", "ls", "--quiet", "--filter", &filter,
        ])),
    )
}

/// The engine's word on whether the agent container of `slug` is paused.
pub fn agent_paused(slug: &str) -> bool {
    docker_ok(&[
        "inspect",
        "--format",
        "{{.State.Paused}}",
        &bot_bottle::backend::names::container(slug, "agent"),
    ]) == "true"
}

/// A container's address on each of its networks: (network, IPv4).
pub fn container_ips(container: &str) -> Vec<(String, String)> {
    docker_ok(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}\n{{end}}",
        container,
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .filter(|(_, ip)| !ip.is_empty())
    .map(|(n, ip)| (n.to_owned(), ip.to_owned()))
    .collect()
}

/// The agent's environment, every process's environment and command line,
/// and the files holding `needle`. The needle goes in on stdin, so no
/// command line of the search holds it.
pub fn search_agent(agent: &str, needle: &str) -> String {
    let mut check = Command::new("docker")
        .args([
            "exec", "-i", "-u", "0", agent, "sh", "-c",
            "read -r needle; env; cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\\0' '\\n'; \
             printf '%s' \"$needle\" | grep -rlsF -f - --exclude-dir=proc --exclude-dir=sys /; true",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(check.stdin.take().unwrap(), "{needle}").unwrap();
    }
    String::from_utf8_lossy(&check.wait_with_output().unwrap().stdout).into_owned()
}

/// Fails unless `search_agent` works in `agent`: it finds a canary written
/// to a file there, and the bottle's own variables.
pub fn assert_search_works(agent: &str) {
    let canary = unique("canary");
    docker_ok(&[
        "exec",
        agent,
        "sh",
        "-c",
        &format!("echo {canary} > /tmp/canary"),
    ]);
    let seen = search_agent(agent, &canary);
    assert!(
        seen.contains("BOT_BOTTLE_SLUG=") && seen.contains("/tmp/canary"),
        "the search itself is broken: {seen}"
    );
}
