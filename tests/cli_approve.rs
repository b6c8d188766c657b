//! `bot-bottle proposals` and `approve` from the command line: approving
//! applies exactly what was listed, and refuses, with one line that says
//! what to do and exit 2, a proposal never listed, one that shows anything
//! else now, and one withdrawn for a changed one. No engine: a stand-in
//! `docker` records the egress reload an approval asks for.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use bot_bottle::egress::config::{EgressConfig, RouteConfig};
use bot_bottle::proposal::queue::Queue;
use bot_bottle::proposal::{Decision, Proposal, Request};
use bot_bottle::state::Home;
use serde_json::Value;

mod support;

use support::cli::CliEnv;
use support::fake;
use support::proposals::egress_block;

const SLUG: &str = "dev-aaaaa";

struct Env {
    cli: CliEnv,
}

impl Env {
    /// A home with one bottle whose live routes allow `a.example.org`.
    fn new() -> Env {
        let cli = CliEnv::new();
        fake::script(
            &cli.docker(),
            &format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n",
                cli.dir.path().join("docker.log").display()
            ),
        );
        let env = Env { cli };
        env.set_routes(&[("a.example.org", &[])]);
        env
    }

    fn home(&self) -> Home {
        Home {
            root: self.cli.home(),
        }
    }

    fn set_routes(&self, routes: &[(&str, &[&str])]) {
        let config = EgressConfig {
            listen: 3128,
            routes: routes
                .iter()
                .map(|(host, paths)| RouteConfig {
                    host: (*host).into(),
                    path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        };
        let bottle = self.home().bottle(SLUG);
        fs::create_dir_all(bottle.egress_dir()).unwrap();
        fs::write(
            bottle.egress_routes(),
            serde_json::to_string(&config).unwrap(),
        )
        .unwrap();
    }

    fn routes(&self) -> String {
        fs::read_to_string(self.home().bottle(SLUG).egress_routes()).unwrap()
    }

    fn queue(&self) -> Queue {
        Queue::new(&self.home().bottle(SLUG).supervise_dir())
    }

    /// `request` from the bottle's agent, justified "tests".
    fn propose(&self, request: Request) -> Proposal {
        self.queue().submit(SLUG, request, "tests".into()).unwrap()
    }

    fn reloads(&self) -> usize {
        fs::read_to_string(self.cli.dir.path().join("docker.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("kill --signal HUP"))
            .count()
    }

    /// (exit code, stdout, stderr)
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cli.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `proposals --json`: each id and its digest.
    fn listed(&self) -> Vec<(String, String)> {
        let (code, out, err) = self.run(&["proposals", "--json"]);
        assert_eq!(code, 0, "{err}");
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        rows.iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["digest"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// One error line naming the proposal, one hint line, exit 2.
fn refused(env: &Env, args: &[&str], want: &str) {
    let (code, out, err) = env.run(args);
    assert_eq!(code, 2, "{args:?}: {out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0], format!("bot-bottle: error: {want}"));
    assert!(
        lines[1].starts_with("  hint: nothing was approved"),
        "{err}"
    );
}

#[test]
fn approve_applies_only_what_proposals_showed() {
    let env = Env::new();
    let p = env.propose(egress_block("b.example.org", &["/v1/"]));
    let before = env.routes();

    // Never listed: nothing approved.
    refused(
        &env,
        &["approve", &p.id],
        &format!(
            "proposal {} was not shown to you: run `bot-bottle proposals` first",
            p.id
        ),
    );

    // Listed; then the live routes change what approving it grants.
    let (code, table, err) = env.run(&["proposals"]);
    assert_eq!(code, 0, "{err}");
    let shown = table
        .lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("no digest: {table}"))
        .to_owned();
    assert_eq!(env.listed(), [(p.id.clone(), shown.clone())]);
    env.set_routes(&[("a.example.org", &[]), ("b.example.org", &["/v0/"])]);
    let changed = env.routes();
    let moved = format!(
        "proposal {} changed since you read it: run `bot-bottle proposals` again",
        p.id
    );
    refused(&env, &["approve", &p.id], &moved);
    refused(&env, &["approve", &p.id, "--digest", &shown], &moved);
    assert_eq!(env.routes(), changed, "nothing approved");
    assert_eq!(env.reloads(), 0);
    assert!(env.queue().response(&p.id).is_none(), "still pending");

    // Read again: approved, as shown.
    let [(_, now)] = env.listed().try_into().unwrap();
    assert_ne!(now, shown);
    let (code, _, err) = env.run(&["approve", &p.id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.reloads(), 1);
    assert!(env.routes().contains("/v1/"), "{}", env.routes());
    assert_ne!(env.routes(), before);
    let answer = env.queue().response(&p.id).unwrap();
    assert_eq!(answer.decision, Decision::Approved);

    // The record of what was shown is the operator's alone.
    let mode = fs::metadata(env.home().root.join("shown.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_digest_given_is_checked_like_the_one_recorded() {
    let env = Env::new();
    let p = env.propose(egress_block("c.example.org", &[]));
    let [(id, digest)] = env.listed().try_into().unwrap();
    assert_eq!(id, p.id);
    let last = if digest.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &digest[..digest.len() - 1]);
    refused(
        &env,
        &["approve", &p.id, "--digest", &wrong],
        &format!(
            "proposal {} changed since you read it: run `bot-bottle proposals` again",
            p.id
        ),
    );
    // A script that read it elsewhere passes the digest it read.
    std::fs::remove_file(env.home().root.join("shown.json")).unwrap();
    let (code, _, err) = env.run(&["approve", &p.id, "--digest", &digest]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.reloads(), 1);
}

/// A proposal withdrawn for a changed one (here: a suggestion that grew)
/// cannot be approved by its id any more, and the new one must be read
/// before it can be.
#[test]
fn a_withdrawn_proposal_is_not_approved_and_its_replacement_must_be_read() {
    let env = Env::new();
    let old = env.propose(egress_block("d.example.org", &["/simple/"]));
    let [(id, _)] = env.listed().try_into().unwrap();
    assert_eq!(id, old.id);
    let new = env
        .queue()
        .supersede(
            &old.id,
            egress_block("d.example.org", &["/"]),
            "tests".into(),
            "grew",
        )
        .unwrap();
    let (code, _, err) = env.run(&["approve", &old.id]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with(&format!(
            "bot-bottle: error: no pending proposal '{}'",
            old.id
        )),
        "{err}"
    );
    refused(
        &env,
        &["approve", &new.id],
        &format!(
            "proposal {} was not shown to you: run `bot-bottle proposals` first",
            new.id
        ),
    );
    assert_eq!(env.reloads(), 0);
    let (code, table, _) = env.run(&["proposals"]);
    assert_eq!(code, 0);
    assert!(table.contains(&new.id) && !table.contains(&format!("{}  ", old.id)));
}

/// A spent token budget: `proposals` asks for a raise (doubled), approving
/// it writes the new budget where egress reads it and reloads egress; a
/// raise the operator rejected is not asked again for the same amount.
#[test]
fn a_spent_token_budget_is_a_proposal_to_raise_it() {
    let env = Env::new();
    let bottle = env.home().bottle(SLUG);
    let mut config: EgressConfig = serde_json::from_str(&env.routes()).unwrap();
    config.token_budget = Some(100);
    fs::write(
        bottle.egress_routes(),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let used = |input: u64| {
        fs::write(
            bottle.egress_dir().join("usage.json"),
            format!(r#"{{"models": {{"m": {{"requests": 1, "input": {input}, "output": 50}}}}}}"#),
        )
        .unwrap();
    };
    used(40);
    assert_eq!(env.listed(), [], "90 of 100: nothing to ask");

    used(60);
    let (code, table, err) = env.run(&["proposals"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("token budget 200"), "{table}");
    assert!(
        table.contains("the bottle's token budget: 100 tokens → 200 tokens"),
        "{table}"
    );
    assert!(table.contains("used 110 of its 100 tokens"), "{table}");
    let [(id, _)] = env.listed().try_into().unwrap();
    assert_eq!(env.listed().len(), 1, "one at a time");
    let (code, _, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.reloads(), 1);
    let raised: EgressConfig = serde_json::from_str(&env.routes()).unwrap();
    assert_eq!(raised.token_budget, Some(200));
    assert_eq!(env.listed(), [], "110 of 200");

    // Spent again: a raise to 400, rejected, is not asked again.
    used(300);
    let [(id, _)] = env.listed().try_into().unwrap();
    let (code, _, err) = env.run(&["reject", &id, "--reason", "enough"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.listed(), []);
    let raised: EgressConfig = serde_json::from_str(&env.routes()).unwrap();
    assert_eq!(raised.token_budget, Some(200));
}

/// A spent spend budget: `proposals` asks for a raise (doubled, in
/// dollars, at the prices in the bottle's routes), approving it writes
/// the new budget where egress reads it (the prices kept), reloads egress
/// and audits it; a raise the operator rejected is not asked again for
/// the same amount.
#[test]
fn a_spent_spend_budget_is_a_proposal_to_raise_it() {
    let env = Env::new();
    let bottle = env.home().bottle(SLUG);
    let mut config: Value = serde_json::from_str(&env.routes()).unwrap();
    let prices = serde_json::json!({"m": {"input": 10000.0, "output": 20000.0, "cache_read": 0.0, "cache_write": 0.0}});
    config["spend"] = serde_json::json!({"budget": 2.5, "prices": prices});
    fs::write(bottle.egress_routes(), config.to_string()).unwrap();
    // Each input token costs a cent, each output token two; `free` has
    // no price.
    let used = |input: u64| {
        fs::write(
            bottle.egress_dir().join("usage.json"),
            format!(
                r#"{{"models": {{"m": {{"requests": 1, "input": {input}, "output": 50}}, "free": {{"requests": 9, "input": 99999}}}}}}"#
            ),
        )
        .unwrap();
    };
    used(140);
    assert_eq!(env.listed(), [], "$2.40 of $2.50: nothing to ask");

    used(160);
    let (code, table, err) = env.run(&["proposals"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("spend budget $5.00"), "{table}");
    assert!(
        table.contains("the bottle's spend budget: $2.50 → $5.00"),
        "{table}"
    );
    assert!(
        table.contains("spent about $2.60 of its $2.50") && table.contains("no price for free"),
        "{table}"
    );
    let [(id, _)] = env.listed().try_into().unwrap();
    assert_eq!(env.listed().len(), 1, "one at a time");
    let (code, out, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("spend budget $5.00; egress reloaded"),
        "{said}"
    );
    assert_eq!(env.reloads(), 1);
    let raised: Value = serde_json::from_str(&env.routes()).unwrap();
    assert_eq!(raised["spend"]["budget"], 5);
    assert_eq!(raised["spend"]["prices"], prices, "the prices kept");
    assert_eq!(env.listed(), [], "$2.60 of $5.00");
    let audit =
        fs::read_to_string(env.cli.home().join("audit").join(format!("{SLUG}.jsonl"))).unwrap();
    assert!(audit.contains("budget") && audit.contains(&id), "{audit}");

    // Spent again: a raise to $10, rejected, is not asked again.
    used(600);
    let [(id, _)] = env.listed().try_into().unwrap();
    let (code, _, err) = env.run(&["reject", &id, "--reason", "enough"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.listed(), []);
    let raised: Value = serde_json::from_str(&env.routes()).unwrap();
    assert_eq!(raised["spend"]["budget"], 5);
    used(2000);
    assert_eq!(env.listed(), [], "still $10 asked: not again");
}
