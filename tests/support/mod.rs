//! Shared by the tests that drive the real docker engine: finding the
//! static binary, a private `BOT_BOTTLE_HOME`, and cleanup of everything a
//! test made, even when it fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Docker tests run one at a time: `cleanup` is global, and two cores are
/// little for several bottles at once.
static SERIAL: Mutex<()> = Mutex::new(());

/// Fails the test unless the docker engine answers. A test that calls it
/// carries `#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]`:
/// the opt-out marks it ignored (see build.rs); without it, a missing
/// engine is a failure.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the docker engine does not answer; start it, or set BOT_BOTTLE_SKIP_DOCKER=1 to skip"
    );
}

/// Fails the test unless tmux runs. A test that calls it carries
/// `#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]`: the
/// opt-out marks it ignored (see build.rs); without it, a missing tmux is
/// a failure.
pub fn require_tmux() {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tmux is missing; install it (scripts/setup does), or set BOT_BOTTLE_SKIP_TMUX=1 to skip"
    );
}

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

/// Runs `cmd`, which must succeed; returns its stdout.
pub fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test's own `BOT_BOTTLE_HOME` and working directory; on drop, takes
/// down its bottles and removes what it made.
pub struct Env {
    _serial: MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    slugs: Mutex<Vec<String>>,
    containers: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
}

impl Env {
    pub fn new() -> Env {
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

    pub fn track(&self, slug: &str) {
        self.slugs.lock().unwrap().push(slug.to_owned());
    }

    pub fn track_container(&self, name: &str) {
        self.containers.lock().unwrap().push(name.to_owned());
    }

    pub fn track_network(&self, name: &str) {
        self.networks.lock().unwrap().push(name.to_owned());
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

    /// `routes edit SLUG` with `editor` as $EDITOR; it must succeed.
    pub fn edit_routes(&self, slug: &str, editor: &str) {
        succeed(self.cmd(&["routes", "edit", slug]).env("EDITOR", editor));
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

/// Kills a test's tmux server, and removes the socket file tmux 3.3 leaves.
/// A tmux server of the test's own, on a private socket; killed on drop.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(prefix: &str) -> Tmux {
        Tmux {
            socket: unique(prefix),
        }
    }

    /// Runs a tmux command on this server (never the caller's own tmux);
    /// its output without trailing whitespace.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        kill_tmux_server(&self.socket);
    }
}

pub fn kill_tmux_server(socket: &str) {
    let path = Command::new("tmux")
        .args(["-L", socket, "display-message", "-p", "#{socket_path}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let _ = Command::new("tmux")
        .args(["-L", socket, "kill-server"])
        .output();
    if !path.is_empty() {
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // The test's own containers first: one joined to a bottle's network
        // would keep compose from removing that network.
        for name in self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = docker(&["rm", "--force", name]);
        }
        for slug in self.slugs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = Command::new("docker")
                .args([
                    "compose",
                    "-p",
                    &bot_bottle::backend::names::project(slug),
                    "down",
                    "--volumes",
                    "--timeout",
                    "1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for name in self
            .networks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = docker(&["network", "rm", name]);
        }
    }
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

/// The image of the tests' upstream containers: python3 on the base image;
/// built once, then cached.
pub const UPSTREAM_IMAGE: &str = "bot-bottle-test-upstream:1";

pub fn upstream_image() {
    if docker(&["image", "inspect", UPSTREAM_IMAGE])
        .status
        .success()
    {
        return;
    }
    let dockerfile = "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\n";
    let mut child = Command::new("docker")
        .args(["build", "-t", UPSTREAM_IMAGE, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "building the test upstream image failed"
    );
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A test CA and a certificate it signed for `names`: writes `cert.pem` and
/// `key.pem` into `dir` (for an upstream to serve) and returns the CA's
/// certificate (for a bottle's `trust_upstream_ca`).
pub fn upstream_certs(dir: &Path, names: &[&str]) -> String {
    use bot_bottle::egress::ca::{Signer, new_ca};
    let (ca_pem, ca_key) = new_ca().unwrap();
    let leaf = Signer::from_key_pem(&ca_key)
        .unwrap()
        .leaf_for(names)
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &leaf.chain[0])).unwrap();
    std::fs::write(
        dir.join("key.pem"),
        pem("PRIVATE KEY", leaf.key.secret_der()),
    )
    .unwrap();
    ca_pem
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

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
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
