//! The real agent CLIs (Claude Code, Codex) in their default bottles, end to
//! end, against a model API of the tests' own: `tests/agents/model_api.py`
//! in an upstream container (HTTPS, with its own test CA, on a network of
//! its own), joined to the bottle's outside network as `api.anthropic.com`
//! and `api.openai.com`. It answers from a script and logs every request.
//! Nothing else is ever contacted.
//!
//! The agent images are large; the first start builds one, every later
//! start reuses it (its tag is content-addressed, and docker tests run one
//! at a time).

mod support;

use bot_bottle::backend::names;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::docker::{Env, assert_search_works, docker, docker_ok, search_agent};
use support::needs::require_tmux;
use support::proposals::assert_proposal;
use support::tmux::Tmux;
use support::unique;
use support::upstream::{run_upstream, upstream_certs, upstream_image};

const MODEL_API: &str = include_str!("agents/model_api.py");

/// Names the model API answers to: the providers' hosts and one an agent
/// asks for.
const API_NAMES: [&str; 3] = ["api.anthropic.com", "api.openai.com", "newhost.test"];

/// The longest a bottle may take to come up, its image built on the way.
const BRING_UP: Duration = Duration::from_secs(1200);

/// The scripted model API's container.
struct Api {
    name: String,
    dir: PathBuf,
}

impl Api {
    /// Starts it with `rules`; writes its CA to `proj/test-ca.pem`.
    fn start(env: &Env, rules: Value) -> Api {
        upstream_image();
        let dir = env.dir.path().join("api");
        std::fs::write(
            env.proj().join("test-ca.pem"),
            upstream_certs(&dir, &API_NAMES),
        )
        .unwrap();
        std::fs::write(dir.join("model_api.py"), MODEL_API).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        let api = Api {
            name: unique("bbtest-model-api"),
            dir,
        };
        api.script(rules);
        let network = env.network("bbtest-api-net");
        run_upstream(
            env,
            &api.name,
            &network,
            &[
                "-v",
                &format!("{}:/api:ro", api.dir.display()),
                "-v",
                &format!("{}:/log", api.dir.join("log").display()),
            ],
            &[
                "python3",
                "/api/model_api.py",
                "/api/script.json",
                "/log/requests.jsonl",
                "443",
                "/api/cert.pem",
                "/api/key.pem",
            ],
        );
        api
    }

    /// Replaces the script; the API reads it for every request.
    fn script(&self, rules: Value) {
        let text = json!({ "rules": rules }).to_string();
        let tmp = self.dir.join("script.json.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.dir.join("script.json")).unwrap();
    }

    /// Every request, oldest first.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("log/requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The conversation turns: POSTs to `/v1/messages` or `/v1/responses`.
    fn turns(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                let path = r["path"].as_str().unwrap_or_default();
                r["method"] == "POST"
                    && (path.starts_with("/v1/messages?") && !path.contains("count_tokens")
                        || path == "/v1/messages"
                        || path.starts_with("/v1/responses"))
            })
            .collect()
    }

    fn wait_turns(&self, n: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let turns = self.turns();
            if turns.len() >= n {
                return turns;
            }
            assert!(
                Instant::now() < deadline,
                "the model API got {} turns, not {n}; requests: {}",
                turns.len(),
                summary(&self.requests())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Joins the bottle's outside network under the API's names.
    fn join(&self, slug: &str) {
        let network = outside(slug);
        let mut args = vec!["network", "connect"];
        for n in API_NAMES {
            args.extend(["--alias", n]);
        }
        args.extend([network.as_str(), self.name.as_str()]);
        docker_ok(&args);
    }

    /// Leaves it, so the bottle's teardown can remove the network.
    fn leave(&self, slug: &str) {
        let _ = docker(&["network", "disconnect", &outside(slug), &self.name]);
    }
}

fn outside(slug: &str) -> String {
    names::network(slug, "outside")
}

/// Method, path and size of each request, for failure messages.
fn summary(requests: &[Value]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {} ({} bytes)",
                r["method"],
                r["path"],
                r["body"].to_string().len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The manifest of the tests: the default claude and codex bottles with
/// their API route allowed to reach the test upstream (a private address)
/// and to trust its CA; agents with a prompt, a skill, a model and
/// startup_args as each test needs.
fn write_manifest(env: &Env, agents: Value) {
    let bottles = json!({
        "e2e-claude": {"extends": "claude", "egress": {
            "routes": [{"host": "api.anthropic.com", "allow_private_addresses": true}],
            "trust_upstream_ca": ["test-ca.pem"]}},
        "e2e-codex": {"extends": "codex", "egress": {
            "routes": [{"host": "api.openai.com", "allow_private_addresses": true}],
            "trust_upstream_ca": ["test-ca.pem"]}},
        "e2e-budget": {"extends": "default", "limits": {"tokens": 20}, "egress": {
            "routes": [{"host": "api.anthropic.com", "allow_private_addresses": true}],
            "trust_upstream_ca": ["test-ca.pem"]}},
        "e2e-spend": {"extends": "default", "limits": {"spend": 2.5}, "egress": {
            "routes": [{"host": "api.anthropic.com", "allow_private_addresses": true}],
            "trust_upstream_ca": ["test-ca.pem"]}}
    });
    env.write(
        "proj/bot-bottle.json",
        &serde_json::to_string_pretty(&json!({"agents": agents, "bottles": bottles})).unwrap(),
    );
    env.write(
        "proj/.bot-bottle/skills/e2e-skill/SKILL.md",
        "---\nname: e2e-skill\ndescription: SKILLMARK-e2e tells whether the bottle's skills reach the agent\n---\nDo nothing.\n",
    );
    env.trust();
}

/// The variables a start gets: the real test keys (which only egress may
/// hold), and none of the host's own credentials.
fn key_vars<'a>(anthropic: &'a str, openai: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
    vec![
        ("ANTHROPIC_API_KEY", Some(anthropic)),
        ("CLAUDE_CODE_OAUTH_TOKEN", None),
        ("OPENAI_API_KEY", Some(openai)),
    ]
}

/// A bot-bottle command under way, in a process group of its own (killed
/// on drop), its output collected.
struct Running {
    child: Option<Child>,
    group: i32,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().unwrap();
        let reader = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let out = reader(Box::new(child.stdout.take().unwrap()));
        let err = reader(Box::new(child.stderr.take().unwrap()));
        Running {
            group: child.id() as i32,
            child: Some(child),
            out: Some(out),
            err: Some(err),
        }
    }

    /// Whether the command has ended.
    fn ended(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_some())
    }

    /// (exit code, stdout, stderr), waiting at most `limit`.
    fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let deadline = Instant::now() + limit;
        let mut child = self.child.take().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                // SAFETY: signals the process group this test started.
                unsafe { libc::kill(-self.group, libc::SIGKILL) };
                let _ = child.wait();
                let err = self.err.take().unwrap().join().unwrap();
                panic!("bot-bottle did not finish within {limit:?}: {err}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        (
            status.code().unwrap_or(-1),
            self.out.take().unwrap().join().unwrap(),
            self.err.take().unwrap().join().unwrap(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals the process group this test started.
            unsafe { libc::kill(-self.group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

/// The identity of the bottle a `start` (not detached) is bringing up: the
/// one state folder of the test's home that was not there before. Fails
/// as soon as `ended` says the command that brings it up has ended.
fn new_slug(env: &Env, before: &[String], ended: &mut dyn FnMut() -> bool) -> String {
    let deadline = Instant::now() + BRING_UP;
    loop {
        let now = state_slugs(env);
        if let Some(slug) = now.into_iter().find(|s| !before.contains(s)) {
            env.track(&slug);
            return slug;
        }
        assert!(Instant::now() < deadline && !ended(), "no bottle came up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state_slugs(env: &Env) -> Vec<String> {
    std::fs::read_dir(bot_bottle::state::Home { root: env.home() }.state_root())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for the bottle's outside network (compose makes it after the
/// images are built), then joins the API to it.
fn join_when_up(api: &Api, slug: &str, ended: &mut dyn FnMut() -> bool) {
    let deadline = Instant::now() + BRING_UP;
    while !docker(&["network", "inspect", &outside(slug)])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline && !ended(),
            "{slug} never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    api.join(slug);
}

/// A session that bot-bottle attaches to itself (`start` or `resume`
/// without `--detach`, so the session's end settles the bottle): joins the
/// API as the bottle comes up, and leaves it once the API has answered
/// `turns` turns in all, so the teardown can remove the network. Returns
/// (slug, exit code, stdout, stderr).
fn attached_session(
    env: &Env,
    api: &Api,
    args: &[&str],
    vars: &[(&str, Option<&str>)],
    slug: Option<&str>,
    turns: usize,
) -> (String, i32, String, String) {
    let before = state_slugs(env);
    let mut cmd = env.cmd(args);
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut running = Running::spawn(cmd);
    let slug = match slug {
        Some(s) => s.to_owned(),
        None => new_slug(env, &before, &mut || running.ended()),
    };
    join_when_up(api, &slug, &mut || running.ended());
    api.wait_turns(turns, Duration::from_secs(180));
    // The answer is on its way (the API logs a request before it answers,
    // in a few milliseconds); the agent needs the API no more, and the
    // teardown, which comes after the agent ended and its transcript was
    // copied, must find the network free.
    std::thread::sleep(Duration::from_millis(300));
    api.leave(&slug);
    let (code, out, err) = running.finish(Duration::from_secs(180));
    (slug, code, out, err)
}

/// The real key is nowhere in the agent: not in its environment, any
/// process, any file, nor in `docker inspect` or the compose file.
fn assert_key_hidden(env: &Env, slug: &str, key: &str) {
    let agent = names::container(slug, "agent");
    assert_search_works(&agent);
    assert!(
        !search_agent(&agent, key).contains(key),
        "the real key is visible in the agent container"
    );
    assert!(
        !docker_ok(&["inspect", &agent]).contains(key),
        "the real key is in docker inspect"
    );
    let compose_file = env.bottle(slug).compose_file();
    let compose = std::fs::read_to_string(&compose_file).unwrap();
    assert!(
        !compose.contains(key),
        "the real key is in the compose file"
    );
    let mode = std::fs::metadata(&compose_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the compose file is the user's alone");
}

/// Every text of a request body, as one string.
fn body_text(turn: &Value) -> String {
    turn["body"].to_string()
}

/// The tool names a Messages API request offers.
fn tool_names(turn: &Value) -> Vec<String> {
    turn["body"]["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The names of the tools a Responses API request offers (also those in
/// namespaces and additional_tools items), and its tool outputs.
fn codex_tools_and_outputs(turn: &Value) -> String {
    fn names(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(n)), Some(Value::String(_))) =
                    (m.get("name"), m.get("type"))
                {
                    out.push(n.clone());
                }
                for v in m.values() {
                    names(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let mut tools = Vec::new();
    names(&turn["body"]["tools"], &mut tools);
    let input = turn["body"]["input"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for item in &input {
        if item["type"] == "additional_tools" {
            names(&item["tools"], &mut tools);
        }
    }
    let outputs: Vec<String> = input
        .iter()
        .filter(|i| i["type"] == "function_call_output" || i["type"] == "function_call")
        .map(|i| i.to_string())
        .collect();
    format!("tools {tools:?}; calls and outputs {outputs:?}")
}

/// The agent's proposals (not learning mode's suggestions from denials).
fn proposals(env: &Env) -> Vec<Value> {
    let (code, out, err) = env.run(&["proposals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    all.into_iter().filter(|p| p["source"] == "agent").collect()
}

const CLAUDE_PROMPT: &str = "PROMPTMARK-claude: you are tested end to end.";
const CODEX_PROMPT: &str = "PROMPTMARK-codex: you are tested end to end.";

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn claude_answers_through_egress_holding_only_a_placeholder() {
    let env = Env::new();
    let api = Api::start(
        &env,
        json!([{"when": {"last_user": "say the word"}, "reply": {"text": "SCRIPTED-ANSWER-1"}}]),
    );
    write_manifest(
        &env,
        json!({"e2e": {"provider": "claude", "bottle": "e2e-claude", "prompt": CLAUDE_PROMPT,
                       "skills": ["e2e-skill"], "model": "claude-e2e-model",
                       "startup_args": ["-p", "say the word", "--disallowedTools", "Write"]}}),
    );
    let key = format!("e2e-anthropic-key-{}", unique("k"));
    let openai = format!("e2e-openai-key-{}", unique("k"));
    let slug = env.start_detached_with(&["e2e"], &key_vars(&key, &openai));
    api.join(&slug);
    assert_key_hidden(&env, &slug, &key);

    // The session the product runs (`attach`: resume, else fresh; with no
    // transcript yet, a fresh one), non-interactive by the startup_args.
    let (code, out, err) =
        Running::spawn(env.cmd(&["attach", &slug])).finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("SCRIPTED-ANSWER-1"), "{out}\n{err}");

    let turns = api.turns();
    assert_eq!(turns.len(), 1, "{}", summary(&api.requests()));
    let turn = &turns[0];
    // The API got the real key, in place of the agent's placeholder.
    assert_eq!(turn["headers"]["x-api-key"], key.as_str());
    assert!(!body_text(turn).contains("bot-bottle-placeholder"));
    // The manifest's prompt is in the system text; the skill is offered.
    assert!(
        turn["body"]["system"]
            .to_string()
            .contains("PROMPTMARK-claude"),
        "{}",
        turn["body"]["system"]
    );
    assert!(body_text(turn).contains("SKILLMARK-e2e"));
    // The model and startup_args, as written.
    assert_eq!(turn["body"]["model"], "claude-e2e-model");
    let tools = tool_names(turn);
    assert!(
        tools.contains(&"Bash".to_owned()) && !tools.contains(&"Write".to_owned()),
        "{tools:?}"
    );
    // After the session too, the agent holds no real key.
    assert_key_hidden(&env, &slug, &key);
    // Egress counted what the API reported for its one answer (10 tokens
    // in, 5 out), under the model it named.
    let want = json!({"requests": 1, "input": 10, "output": 5, "cache_read": 0, "cache_write": 0});
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let usage = env.row(&slug)["usage"]["models"].clone();
        if usage == json!({"claude-e2e-model": want}) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage counted: {usage}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    api.leave(&slug);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(support::docker::leftovers(&slug), (0, 0));
}

/// `limits.tokens` against the tests' own model API, through the real
/// egress: each answer reports 10 tokens in and 5 out, so a budget of 20
/// lets two calls through; the third is refused in the API's error shape,
/// a `budget` proposal asks for 40, and once it is approved the next call
/// goes through.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_bottle_over_its_token_budget_works_again_once_the_raise_is_approved() {
    let env = Env::new();
    let api = Api::start(&env, json!([{"reply": {"text": "BUDGET-ANSWER"}}]));
    write_manifest(
        &env,
        json!({"budget": {"provider": "shell", "bottle": "e2e-budget"}}),
    );
    let slug = env.start_detached(&["budget"]);
    api.join(&slug);
    spend_it_then_raise(
        &env,
        &slug,
        ("budget-model", "BUDGET-ANSWER"),
        "token budget is spent (30 of 20 tokens)",
        "token budget 40",
    );
    api.leave(&slug);
    env.stop_leaving_nothing(&slug);
}

/// `limits.spend` against the tests' own model API, through the real
/// egress, at the home's prices: each answer reports 15 tokens, at $0.10
/// a token $1.50, so a budget of $2.50 lets two calls through; the third
/// is refused in the API's error shape, a `budget` proposal asks for
/// $5.00, and once it is approved the next call goes through.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_bottle_over_its_spend_budget_works_again_once_the_raise_is_approved() {
    let env = Env::new();
    let api = Api::start(&env, json!([{"reply": {"text": "SPEND-ANSWER"}}]));
    write_manifest(
        &env,
        json!({"spend": {"provider": "shell", "bottle": "e2e-spend"}}),
    );
    env.write(
        "home/bot-bottle.json",
        &json!({"prices": {"spend-model": {"input": 100000, "output": 100000}}}).to_string(),
    );
    let slug = env.start_detached(&["spend"]);
    api.join(&slug);
    spend_it_then_raise(
        &env,
        &slug,
        ("spend-model", "SPEND-ANSWER"),
        "spend budget is spent ($3.00 of $2.50",
        "spend budget $5.00",
    );
    api.leave(&slug);
    env.stop_leaving_nothing(&slug);
}

/// Bottle `slug`'s budget met: two calls to `model` go through (answered
/// `answer`) and are counted, the third is refused in the API's error
/// shape with `refused`, the `budget` proposal reads `raise`, and once it
/// is approved the next call goes through.
fn spend_it_then_raise(
    env: &Env,
    slug: &str,
    (model, answer): (&str, &str),
    refused: &str,
    raise: &str,
) {
    let call = format!(
        r#"curl -sS -m 20 --cacert /etc/bot-bottle/ca.pem https://api.anthropic.com/v1/messages -H 'content-type: application/json' -d '{{"model":"{model}","max_tokens":8,"messages":[{{"role":"user","content":"hi"}}]}}'"#
    );
    let counted = |requests: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while env.row(slug)["usage"]["models"][model]["requests"] != requests {
            assert!(
                std::time::Instant::now() < deadline,
                "{requests} never counted"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    for n in 1..=2 {
        let (code, out) = env.sh(slug, &call);
        assert!(code == 0 && out.contains(answer), "call {n}: {out}");
        counted(n);
    }
    let (_, out) = env.sh(slug, &call);
    assert!(
        out.contains("permission_error") && out.contains(refused),
        "{out}"
    );

    let (code, listed, err) = env.run(&["proposals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let budget: Vec<&Value> = rows.iter().filter(|r| r["tool"] == "budget").collect();
    assert_eq!(budget.len(), 1, "{listed}");
    assert_eq!(budget[0]["summary"], raise, "{listed}");
    let id = budget[0]["id"].as_str().unwrap();
    let (code, _, err) = env.run(&["approve", id]);
    assert_eq!(code, 0, "{err}");
    let (code, out) = env.sh(slug, &call);
    assert!(code == 0 && out.contains(answer), "after the raise: {out}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn claude_asks_through_mcp_and_the_approved_route_works() {
    let env = Env::new();
    let api = Api::start(
        &env,
        json!([
            {"when": {"tool_result": true}, "reply": {"text": "GOT-THE-ANSWER"}},
            {"when": {"last_user": "ask for access"},
             "reply": {"tool": "mcp__bot-bottle__egress-block",
                       "input": {"host": "newhost.test", "justification": "to fetch the e2e fixtures"}}}
        ]),
    );
    write_manifest(
        &env,
        json!({"e2e": {"provider": "claude", "bottle": "e2e-claude", "prompt": CLAUDE_PROMPT,
                       "startup_args": ["-p", "--output-format", "stream-json", "--verbose",
                                        "ask for access"]}}),
    );
    let key = format!("e2e-anthropic-key-{}", unique("k"));
    let openai = format!("e2e-openai-key-{}", unique("k"));
    let slug = env.start_detached_with(&["e2e"], &key_vars(&key, &openai));
    api.join(&slug);
    assert_eq!(
        env.sh(
            &slug,
            "curl -sS -m 10 -o /dev/null -w '%{http_code}' https://newhost.test/ 2>/dev/null; true"
        )
        .1,
        "403",
        "no route to newhost.test yet"
    );

    // Nothing scripted on bot-bottle's side: the real Claude Code calls the
    // tool the model asked for, and waits for the operator.
    let session = Running::spawn(env.cmd(&["attach", &slug]));
    let listed = env.pending(1, Duration::from_secs(180));
    let id = assert_proposal(
        &listed[0],
        &slug,
        "egress-block",
        "route newhost.test",
        "to fetch the e2e fixtures",
    );
    // The operator sees it on the dashboard too.
    if cfg!(skip_tmux) {
        eprintln!("skipped the dashboard's part: BOT_BOTTLE_SKIP_TMUX=1");
    } else {
        require_tmux();
        Dashboard::open(&env).wait_for("newhost.test", Duration::from_secs(30));
    }
    let (code, _, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = session.finish(Duration::from_secs(180));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("GOT-THE-ANSWER"), "{out}");
    // The init event: the supervise server is connected, its tool known.
    let init: Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["type"] == "system" && e["subtype"] == "init")
        .unwrap_or_else(|| panic!("no init event: {out}"));
    assert!(
        init["mcp_servers"].as_array().is_some_and(|s| s
            .iter()
            .any(|s| s["name"] == "bot-bottle" && s["status"] == "connected")),
        "{init}"
    );
    // The turn after the call carries the operator's answer.
    let turns = api.turns();
    let last = turns.last().unwrap();
    let text = body_text(last);
    assert!(text.contains("tool_result"), "{text}");
    assert!(
        text.contains("approved: newhost.test is now reachable"),
        "{text}"
    );

    // The route is in force. An approval does not reach private addresses
    // (the test upstream is one); the operator allows that, then the agent
    // reaches the new host through egress.
    env.edit_routes(
        &slug,
        r#"sed -i -e 's/"host": "newhost.test"/"host": "newhost.test", "allow_private_addresses": true/'"#,
    );
    let (_, fetched) = env.sh(
        &slug,
        "curl -sS -m 10 https://newhost.test/v1/models 2>&1; true",
    );
    assert!(fetched.contains("\"object\": \"list\""), "{fetched}");
    let seen = api.requests();
    assert!(
        seen.iter()
            .any(|r| r["path"] == "/v1/models"
                && r["headers"]["host"].as_str() == Some("newhost.test")),
        "{}",
        summary(&seen)
    );

    api.leave(&slug);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn claude_transcript_survives_a_failed_session_and_resume_continues_it() {
    let env = Env::new();
    // The first turn asks for a tool; `--max-turns 1` then ends the session
    // with an error, after the tool ran. The resumed session's first turn
    // gets text.
    let api = Api::start(
        &env,
        json!([
            {"once": true, "when": {"last_user": "remember the word"},
             "reply": {"tool": "Bash", "input": {"command": "echo TOOLMARK-1", "description": "remember"}}},
            {"reply": {"text": "RESUMED-ANSWER"}}
        ]),
    );
    write_manifest(
        &env,
        json!({"e2e": {"provider": "claude", "bottle": "e2e-claude", "prompt": CLAUDE_PROMPT,
                       "startup_args": ["-p", "--max-turns", "1", "remember the word"]}}),
    );
    let key = format!("e2e-anthropic-key-{}", unique("k"));
    let openai = format!("e2e-openai-key-{}", unique("k"));
    let vars = key_vars(&key, &openai);
    let (slug, code, out, err) =
        attached_session(&env, &api, &["start", "e2e", "--yes"], &vars, None, 1);
    assert_ne!(code, 0, "the session should fail: {out}\n{err}");
    assert!(err.contains(&format!("bot-bottle resume {slug}")), "{err}");
    let state = env.bottle(&slug);
    assert!(state.transcript().is_file(), "no transcript kept: {err}");
    assert_eq!(support::docker::leftovers(&slug), (0, 0));

    let (_, code, out, err) = attached_session(
        &env,
        &api,
        &["resume", &slug, "--yes"],
        &vars,
        Some(&slug),
        2,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("RESUMED-ANSWER"), "{out}");
    let turns = api.turns();
    assert_eq!(turns.len(), 2, "{}", summary(&api.requests()));
    // The resumed session's first turn holds the earlier conversation: the
    // tool call and its result.
    let text = body_text(&turns[1]);
    assert!(text.contains("echo TOOLMARK-1"), "{text}");
    assert!(text.contains("tool_result"), "{text}");
    assert!(
        !state.root().exists(),
        "a session that ends with 0 removes its state"
    );
}

/// What these tests do with their tmux server (`support::tmux::Tmux`).
impl Tmux {
    /// A window running `argv` in `cwd` with `vars`, the pane kept after
    /// the command ends (its status then shows).
    fn window(&self, name: &str, cwd: &Path, vars: &[(String, String)], argv: &[String]) {
        let mut script = String::from("cd ");
        script.push_str(&bot_bottle::text::shell_quote(&cwd.to_string_lossy()));
        for (k, v) in vars {
            script.push_str(&format!(
                "; export {k}={}",
                bot_bottle::text::shell_quote(v)
            ));
        }
        script.push_str("; ");
        script.push_str(&bot_bottle::text::shell_join(argv));
        script.push_str("; echo SESSION-EXIT=$?; sleep 600");
        let first = !Command::new("tmux")
            .args(["-L", &self.socket, "has-session"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        let args: Vec<&str> = if first {
            vec![
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
                "-s",
                "e2e",
                "-n",
                name,
                "sh",
                "-c",
                &script,
            ]
        } else {
            vec!["new-window", "-t", "e2e", "-n", name, "sh", "-c", &script]
        };
        let status = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start {name}");
    }

    fn screen(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", &format!("e2e:{name}")])
    }

    fn wait_screen(&self, name: &str, what: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen(name);
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never showed in {name}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Types `text` and Enter, as a user would.
    fn type_line(&self, name: &str, text: &str) {
        let target = format!("e2e:{name}");
        self.run(&["send-keys", "-t", &target, "-l", text]);
        std::thread::sleep(Duration::from_millis(500));
        self.run(&["send-keys", "-t", &target, "Enter"]);
    }
}

/// The operator's bot-bottle tmux session (`bot-bottle --detach`, on a
/// socket of the test's own; killed on drop), for what its dashboard shows.
struct Dashboard {
    server: Tmux,
}

impl Dashboard {
    fn open(env: &Env) -> Dashboard {
        let dashboard = Dashboard {
            server: Tmux::new("bbtest-agents-dash"),
        };
        support::succeed(
            env.cmd(&["--detach"])
                .env("BOT_BOTTLE_TMUX_SOCKET", &dashboard.server.socket)
                .env_remove("TMUX"),
        );
        dashboard
    }

    fn tmux(&self, args: &[&str]) -> String {
        self.server.run(args)
    }

    fn wait_for(&self, what: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let pane = self.tmux(&[
                "show-options",
                "-v",
                "-t",
                "bot-bottle",
                "@bb_dashboard_pane",
            ]);
            let screen = self.tmux(&["capture-pane", "-p", "-t", &pane]);
            if screen.contains(what) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what:?} never showed on the dashboard:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Ends the agent's CLI the hard way (a crash): kills the process named
/// `program` in the agent container, by its pid.
fn crash_agent(slug: &str, program: &str) {
    let agent = names::container(slug, "agent");
    let script = format!(
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = {program} ] && kill -9 ${{p#/proc/}}; done; true"
    );
    docker_ok(&["exec", &agent, "sh", "-c", &script]);
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn codex_answers_and_resumes_its_transcript() {
    require_tmux();
    let env = Env::new();
    let api = Api::start(
        &env,
        json!([
            {"when": {"last_user": "what was it"}, "reply": {"text": "RESUMED-CODEX-ANSWER"}},
            {"when": {"last_user": "say the word"}, "reply": {"text": "SCRIPTED-CODEX-ANSWER"}}
        ]),
    );
    write_manifest(
        &env,
        json!({"e2e": {"provider": "codex", "bottle": "e2e-codex", "prompt": CODEX_PROMPT,
                       "skills": ["e2e-skill"], "model": "gpt-e2e-model"}}),
    );
    let key = format!("e2e-openai-key-{}", unique("k"));
    let anthropic = format!("e2e-anthropic-key-{}", unique("k"));
    let vars: Vec<(String, String)> = vec![
        (
            "BOT_BOTTLE_HOME".into(),
            env.home().to_string_lossy().into(),
        ),
        ("OPENAI_API_KEY".into(), key.clone()),
        ("ANTHROPIC_API_KEY".into(), anthropic.clone()),
    ];
    let bin = support::docker::bin().to_string_lossy().into_owned();
    let tmux = Tmux::new("bbtest-agents-tmux");

    // A fresh interactive session, as the operator gets it.
    let before = state_slugs(&env);
    tmux.window(
        "first",
        &env.proj(),
        &vars,
        &[bin.clone(), "start".into(), "e2e".into(), "--yes".into()],
    );
    let slug = new_slug(&env, &before, &mut || {
        tmux.screen("first").contains("SESSION-EXIT=")
    });
    join_when_up(&api, &slug, &mut || {
        tmux.screen("first").contains("SESSION-EXIT=")
    });
    tmux.wait_screen("first", "OpenAI Codex (v", BRING_UP);
    assert_key_hidden(&env, &slug, &key);
    tmux.type_line("first", "say the word");
    tmux.wait_screen("first", "SCRIPTED-CODEX-ANSWER", Duration::from_secs(120));
    let turns = api.turns();
    let turn = turns.last().unwrap();
    assert_eq!(
        turn["headers"]["authorization"],
        format!("Bearer {key}").as_str()
    );
    assert_eq!(turn["body"]["model"], "gpt-e2e-model");
    let text = body_text(turn);
    assert!(text.contains("PROMPTMARK-codex"), "{text}");
    assert!(text.contains("SKILLMARK-e2e"), "{text}");
    assert_key_hidden(&env, &slug, &key);

    // The session crashes: the state is kept, with the transcript.
    api.leave(&slug);
    crash_agent(&slug, "codex");
    let screen = tmux.wait_screen("first", "SESSION-EXIT=", Duration::from_secs(180));
    assert!(!screen.contains("SESSION-EXIT=0"), "{screen}");
    let state = env.bottle(&slug);
    assert!(state.transcript().is_file(), "{screen}");

    // `resume` continues it: the first turn holds the earlier one.
    let asked = api.turns().len();
    tmux.window(
        "resumed",
        &env.proj(),
        &vars,
        &[bin, "resume".into(), slug.clone(), "--yes".into()],
    );
    join_when_up(&api, &slug, &mut || {
        tmux.screen("resumed").contains("SESSION-EXIT=")
    });
    tmux.wait_screen("resumed", "SCRIPTED-CODEX-ANSWER", Duration::from_secs(180));
    tmux.type_line("resumed", "what was it");
    tmux.wait_screen("resumed", "RESUMED-CODEX-ANSWER", Duration::from_secs(120));
    let turns = api.turns();
    let first = &turns[asked];
    let text = body_text(first);
    assert!(
        text.contains("say the word") && text.contains("SCRIPTED-CODEX-ANSWER"),
        "{text}"
    );
    api.leave(&slug);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
#[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
fn codex_asks_through_mcp_and_a_resume_with_no_transcript_starts_afresh() {
    require_tmux();
    let env = Env::new();
    let api = Api::start(
        &env,
        json!([
            {"when": {"tool_result": true}, "reply": {"text": "GOT-THE-CODEX-ANSWER"}},
            {"when": {"last_user": "ask for access"},
             "reply": {"tool": "egress_block", "namespace": "mcp__bot_bottle",
                       "input": {"host": "newhost.test", "justification": "to fetch the e2e fixtures"}}}
        ]),
    );
    write_manifest(
        &env,
        json!({"e2e": {"provider": "codex", "bottle": "e2e-codex", "prompt": CODEX_PROMPT,
                       "model": "gpt-e2e-model"}}),
    );
    let key = format!("e2e-openai-key-{}", unique("k"));
    let anthropic = format!("e2e-anthropic-key-{}", unique("k"));
    let slug = env.start_detached_with(&["e2e"], &key_vars(&anthropic, &key));
    api.join(&slug);

    // `attach` resumes the last session; there is none, so a fresh one.
    let tmux = Tmux::new("bbtest-agents-tmux");
    let bin = support::docker::bin().to_string_lossy().into_owned();
    let vars: Vec<(String, String)> = vec![(
        "BOT_BOTTLE_HOME".into(),
        env.home().to_string_lossy().into(),
    )];
    tmux.window(
        "agent",
        &env.proj(),
        &vars,
        &[bin, "attach".into(), slug.clone()],
    );
    tmux.wait_screen("agent", "OpenAI Codex (v", Duration::from_secs(120));
    tmux.type_line("agent", "ask for access");
    let deadline = Instant::now() + Duration::from_secs(120);
    while proposals(&env).is_empty() {
        let turns = api.turns();
        assert!(
            Instant::now() < deadline,
            "no proposal; the screen:\n{}\nthe turns: {}",
            tmux.screen("agent"),
            turns
                .iter()
                .map(codex_tools_and_outputs)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let listed = env.pending(1, Duration::ZERO);
    let turns = api.turns();
    let first = turns.first().unwrap();
    // Codex offers the supervise server's tools as a namespace of its own.
    let tools = codex_tools_and_outputs(first);
    assert!(
        tools.contains("\"mcp__bot_bottle\"") && tools.contains("\"egress_block\""),
        "{tools}"
    );
    assert_eq!(
        first["body"]["input"]
            .to_string()
            .matches("ask for access")
            .count(),
        1,
        "a fresh session: {}",
        first["body"]["input"]
    );
    assert_eq!(listed[0]["slug"], slug.as_str());
    assert_eq!(listed[0]["tool"], "egress-block", "{tools}");
    assert_eq!(listed[0]["summary"], "route newhost.test");
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let (code, _, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    tmux.wait_screen("agent", "GOT-THE-CODEX-ANSWER", Duration::from_secs(120));
    let turns = api.turns();
    let text = body_text(turns.last().unwrap());
    assert!(text.contains("function_call_output"), "{text}");
    assert!(
        text.contains("approved: newhost.test is now reachable"),
        "{text}"
    );
    api.leave(&slug);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
}
