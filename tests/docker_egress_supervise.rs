//! Egress and supervise end to end, on the real engine. The "outside" is an
//! upstream container of the test's own (HTTPS, with its own test CA), on a
//! network of its own, joined to the bottle's outside network under the
//! names the routes use. Nothing else is ever contacted.

mod support;

use bot_bottle::backend::names;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::docker::{Env, assert_search_works, docker_ok, search_agent};
use support::needs::require_docker;
use support::proposals::assert_proposal;
use support::unique;
use support::upstream::{run_upstream, upstream_certs, upstream_image};

/// Answers every request with its path and the names of its headers, and
/// logs it whole (header values too) to /log/seen.jsonl: the egress cuts a
/// response that hands the agent back the credential it added.
const ECHO_SERVER: &str = r#"
import http.server, json, ssl
class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get('content-length') or 0)
        body = self.rfile.read(n) if n else b''
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open('/log/seen.jsonl', 'a') as log:
            log.write(json.dumps({'path': self.path, 'headers': headers}) + '\n')
        out = json.dumps({'path': self.path, 'header_names': sorted(headers), 'body_len': len(body)}).encode()
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = answer
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(('0.0.0.0', 443), Echo)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain('/certs/cert.pem', '/certs/key.pem')
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

/// The requests the upstream got, oldest first.
fn seen_upstream(env: &Env) -> Vec<Value> {
    std::fs::read_to_string(env.dir.path().join("upstream-log/seen.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Starts the upstream with a certificate for `names`, and writes its CA
/// to `ca_path`. Returns the container's name.
fn start_upstream(env: &Env, names: &[&str], ca_path: &Path) -> String {
    upstream_image();
    let certs = env.dir.path().join("upstream-certs");
    std::fs::write(ca_path, upstream_certs(&certs, names)).unwrap();
    std::fs::write(certs.join("echo.py"), ECHO_SERVER).unwrap();
    let log = env.dir.path().join("upstream-log");
    std::fs::create_dir_all(&log).unwrap();
    let network = env.network("bbtest-upstream-net");
    let name = unique("bbtest-upstream");
    run_upstream(
        env,
        &name,
        &network,
        &[
            "-v",
            &format!("{}:/certs:ro", certs.display()),
            "-v",
            &format!("{}:/log", log.display()),
        ],
        &["python3", "/certs/echo.py"],
    );
    name
}

/// Makes the upstream reachable from the bottle's egress under `names`.
fn join_bottle(upstream: &str, slug: &str, names: &[&str]) {
    let mut args = vec!["network", "connect"];
    for n in names {
        args.extend(["--alias", n]);
    }
    let network = names::network(slug, "outside");
    args.extend([network.as_str(), upstream]);
    docker_ok(&args);
}

/// A minimal MCP client in the agent (bash + curl): initializes a session,
/// then makes every call at once, from one parallel curl (few processes:
/// under gVisor each costs several host tasks of the agent's pids limit);
/// prints each result line.
fn mcp_calls(env: &Env, slug: &str, calls: Vec<Value>) -> McpCall {
    let script = r#"
U=$BOT_BOTTLE_MCP_URL
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
curl -sS "${H[@]}" -D /tmp/mcp-h.$$ -o /dev/null -X POST "$U" -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}'
SID=$(grep -i '^mcp-session-id:' /tmp/mcp-h.$$ | cut -d' ' -f2 | tr -d '\r')
curl -sS "${H[@]}" -o /dev/null -H "mcp-session-id: $SID" -X POST "$U" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
out=$(mktemp -d)
args=()
i=0
for call in "$@"; do
  i=$((i + 1))
  args+=(--next -sS "${H[@]}" -H "mcp-session-id: $SID" -o "$out/$i" -X POST "$U" -d "$call")
done
curl -Z --parallel-immediate --parallel-max 100 "${args[@]:1}"
cat "$out"/* | sed -n 's/^data: //p' | grep '"id"'
rm -rf "$out"
"#;
    let mut args: Vec<String> = vec![
        "exec".into(),
        slug.into(),
        "--".into(),
        "bash".into(),
        "-c".into(),
        script.into(),
        "mcp".into(),
    ];
    for (i, call) in calls.into_iter().enumerate() {
        let request =
            json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": call});
        args.push(request.to_string());
    }
    let mut cmd = env.cmd(&[]);
    cmd.args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let child = cmd.spawn().unwrap();
    let group = child.id() as i32;
    McpCall {
        group,
        thread: std::thread::spawn(move || {
            String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
        }),
    }
}

/// MCP calls under way in an agent: `bot-bottle exec`, in a process group
/// of its own.
struct McpCall {
    group: i32,
    thread: JoinHandle<String>,
}

impl McpCall {
    /// Every answer, once all calls are answered.
    fn join(self) -> String {
        self.thread.join().unwrap()
    }

    /// For calls whose bottle is taken down: what came back within
    /// `limit`, then the exec is killed (under gVisor, an exec into a
    /// container that is being removed may never return).
    fn join_within(self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !self.thread.is_finished() {
            // SAFETY: signals the process group this test started.
            unsafe { libc::kill(-self.group, libc::SIGKILL) };
        }
        self.thread.join().unwrap()
    }
}

fn egress_block(host: &str, why: &str) -> Value {
    json!({"name": "egress-block", "arguments": {"host": host, "justification": why}})
}

/// Learning mode's suggestions (`source: denied`), their summaries sorted.
fn suggestions(env: &Env) -> Vec<String> {
    let (code, out, err) = env.run(&["proposals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    let mut found: Vec<String> = all
        .iter()
        .filter(|p| p["source"] == "denied")
        .map(|p| p["summary"].as_str().unwrap_or("").to_owned())
        .collect();
    found.sort();
    found
}

fn curl_code(env: &Env, slug: &str, url: &str) -> String {
    env.sh(
        slug,
        &format!("curl -sS -m 10 -o /dev/null -w '%{{http_code}}' {url} 2>/dev/null; true"),
    )
    .1
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn routes_credentials_and_proposals_end_to_end() {
    let env = Env::new();
    let upstream = start_upstream(
        &env,
        &["upstream.test", "newhost.test", "other.test"],
        &env.proj().join("test-ca.pem"),
    );
    env.write(
        "proj/bot-bottle.json",
        r#"{
          "agents": {"e2e": {"provider": "shell", "bottle": "e2e", "prompt": "end to end"}},
          "bottles": {"e2e": {"extends": "default", "egress": {
            "routes": [{"host": "upstream.test", "path_allowlist": ["/v1/"], "allow_private_addresses": true,
                        "auth": {"scheme": "bearer", "token_env": "E2E_UPSTREAM_TOKEN"}}],
            "trust_upstream_ca": ["test-ca.pem"]}}}
        }"#,
    );
    env.trust();
    let token = format!("e2e-secret-{}", unique("t"));
    let mut start = env.cmd(&["start", "e2e", "--yes", "--detach"]);
    start.env("E2E_UPSTREAM_TOKEN", &token);
    let slug = support::succeed(&mut start).trim().to_owned();
    env.track(&slug);
    join_bottle(
        &upstream,
        &slug,
        &["upstream.test", "newhost.test", "other.test"],
    );

    // Through the route: the upstream gets the injected credential (in
    // place of the agent's), the agent only the answer.
    let (code, body) = env.sh(
        &slug,
        "curl -sS -m 10 -H 'Authorization: Bearer agent-guess' https://upstream.test/v1/echo?x=1",
    );
    assert_eq!(code, 0, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(echo["path"], "/v1/echo?x=1");
    let seen = seen_upstream(&env);
    let last = seen.last().expect("the upstream saw the request");
    assert_eq!(last["path"], "/v1/echo?x=1");
    assert_eq!(last["headers"]["authorization"], format!("Bearer {token}"));
    // Only through the route.
    assert_eq!(curl_code(&env, &slug, "https://upstream.test/admin"), "403");
    let (_, direct) = env.sh(&slug, "curl -sS -m 5 --noproxy '*' https://upstream.test/v1/ >/dev/null 2>&1 && echo REACHED; true");
    assert!(!direct.contains("REACHED"));

    // The real token is nowhere in the agent: env, /proc, files, inspect.
    let agent = names::container(&slug, "agent");
    assert_search_works(&agent);
    let inside = search_agent(&agent, &token);
    assert!(
        !inside.contains(&token),
        "the token is visible in the agent container"
    );
    assert!(
        !docker_ok(&["inspect", &agent]).contains(&token),
        "the token is in docker inspect"
    );
    let compose = std::fs::read_to_string(env.bottle(&slug).compose_file()).unwrap();
    assert!(!compose.contains(&token));

    // A proposal: the agent asks, the operator approves, the route works
    // without a restart, the audit log has the diff.
    assert_eq!(curl_code(&env, &slug, "https://newhost.test/"), "403");
    // Learning mode: each denial a route could lift is a suggestion.
    assert_eq!(
        suggestions(&env),
        ["route newhost.test /", "route upstream.test /admin"]
    );
    let call = mcp_calls(
        &env,
        &slug,
        vec![egress_block("newhost.test", "to fetch the fixtures")],
    );
    let listed = env.pending(1, Duration::from_secs(30));
    let id = assert_proposal(
        &listed[0],
        &slug,
        "egress-block",
        "route newhost.test",
        "to fetch the fixtures",
    );
    let (code, _, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    let answer = call.join();
    assert!(
        answer.contains("approved: newhost.test is now reachable"),
        "{answer}"
    );
    // The approved route is in force: the refusal is no longer "no route"
    // but the test upstream's private address, which an approval does not
    // allow (the operator's edit below does).
    let (_, refusal) = env.sh(
        &slug,
        "curl -sS -m 10 https://newhost.test/anything 2>&1; true",
    );
    assert!(
        refusal.contains("non-public address") || refusal.contains("only reach public addresses"),
        "{refusal}"
    );
    let audit =
        std::fs::read_to_string(env.home().join("audit").join(format!("{slug}.jsonl"))).unwrap();
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(line["decision"], "approved");
    assert_eq!(line["proposal"], id.as_str());
    assert!(
        line["diff"]
            .as_str()
            .unwrap()
            .contains("+      \"host\": \"newhost.test\""),
        "{line}"
    );
    assert!(!audit.contains(&token));
    assert_eq!(
        suggestions(&env),
        ["route upstream.test /admin"],
        "the suggestion the approved route allows is withdrawn"
    );

    // A rejection carries its reason back.
    let call = mcp_calls(&env, &slug, vec![egress_block("other.test", "curiosity")]);
    let id = env.pending(1, Duration::from_secs(30))[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, _, err) = env.run(&["reject", &id, "--reason", "not for this task"]);
    assert_eq!(code, 0, "{err}");
    let answer = call.join();
    assert!(
        answer.contains("rejected by the operator: not for this task"),
        "{answer}"
    );
    assert_eq!(curl_code(&env, &slug, "https://other.test/"), "403");
    assert_eq!(
        suggestions(&env),
        ["route upstream.test /admin"],
        "nothing for a host the operator rejected"
    );

    // Invalid input is refused and queues nothing.
    let answer = mcp_calls(&env, &slug, vec![egress_block("https://evil.test/x", "x"), json!({"name": "pipelock-block", "arguments": {"failed_url": "ftp://a.test/", "justification": "x"}})]).join();
    assert_eq!(
        answer
            .matches("invalid request, nothing was queued")
            .count(),
        2,
        "{answer}"
    );
    env.pending(0, Duration::from_secs(30));

    // A burst of 40 proposals from one agent: the queue holds 32 (none of
    // them lost), the other 8 are told to wait for the operator.
    let burst: Vec<Value> = (0..40)
        .map(|i| egress_block(&format!("burst{i}.test"), "burst"))
        .collect();
    let call = mcp_calls(&env, &slug, burst);
    let listed = env.pending(32, Duration::from_secs(30));
    let mut hosts: Vec<String> = listed
        .iter()
        .map(|p| p["summary"].as_str().unwrap().to_owned())
        .collect();
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 32);
    for p in &listed {
        let (code, _, err) = env.run(&["reject", p["id"].as_str().unwrap(), "--reason", "burst"]);
        assert_eq!(code, 0, "{err}");
    }
    let answer = call.join();
    assert_eq!(
        answer.matches("rejected by the operator: burst").count(),
        32,
        "{answer}"
    );
    assert_eq!(
        answer
            .matches("requests are already waiting for the operator")
            .count(),
        8,
        "{answer}"
    );
    // The operator edits the routes: checked, reloaded, audited.
    env.edit_routes(
        &slug,
        r#"sed -i -e 's/"host": "newhost.test"/"host": "other.test", "allow_private_addresses": true/'"#,
    );
    assert_eq!(curl_code(&env, &slug, "https://other.test/"), "200");
    assert_eq!(curl_code(&env, &slug, "https://newhost.test/"), "403");
    let audit =
        std::fs::read_to_string(env.home().join("audit").join(format!("{slug}.jsonl"))).unwrap();
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(
        (line["actor"].as_str(), line["decision"].as_str()),
        (Some("operator"), Some("edited"))
    );
    let mut bad = env.cmd(&["routes", "edit", &slug]);
    bad.env("EDITOR", "sed -i s#other.test#https://x#");
    let out = bad.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        curl_code(&env, &slug, "https://other.test/"),
        "200",
        "a bad edit changes nothing"
    );

    docker_ok(&[
        "network",
        "disconnect",
        &names::network(&slug, "outside"),
        &upstream,
    ]);
    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(support::docker::leftovers(&slug), (0, 0));
}

/// Images a test made on the engine (and tags it caused), removed when
/// dropped; declared before the `Env`, so its bottles go first.
#[derive(Default)]
struct Images(std::sync::Mutex<Vec<String>>);

impl Images {
    /// Builds `tag` from `dockerfile` (no network, no context).
    fn build(&self, tag: &str, dockerfile: &str) {
        self.track(tag);
        let mut build = std::process::Command::new("docker")
            .args(["build", "--network", "none", "-q", "-t", tag, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        build
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
        let out = build.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker build {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn track(&self, tag: &str) {
        self.0.lock().unwrap().push(tag.to_owned());
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        for tag in self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
        {
            let _ = support::docker::docker(&["rmi", tag]);
        }
    }
}

fn image_id(reference: &str) -> String {
    docker_ok(&["image", "inspect", "--format", "{{.Id}}", reference])
        .trim()
        .to_owned()
}

fn capability_block(dockerfile: &str) -> Value {
    json!({"name": "capability-block", "arguments": {"dockerfile": dockerfile, "justification": "needs it"}})
}

/// The `grants` lines `proposals --json` shows for proposal `id`.
fn grants(env: &Env, id: &str) -> String {
    let (code, out, err) = env.run(&["proposals", "--json"]);
    assert_eq!(code, 0, "{err}");
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    let row = all.iter().find(|p| p["id"] == id).unwrap();
    row["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A capability-block reads only the bottle's own images and the ones the
/// operator listed, pinned to the ids the preview shows: a private image
/// of the engine is refused at the tool call and again on the host, an
/// allowed one the engine lacks is never pulled, and the rebuild uses the
/// pinned image even once its name is gone.
#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn capability_block_rebuilds_the_bottle_on_resume() {
    require_docker();
    let images = Images::default();
    let env = Env::new();
    // The operator's private image, and one the operator lists.
    let private = format!("{}:1", unique("bbtest-private"));
    images.build(
        &private,
        "FROM debian:bookworm-slim\nRUN echo private > /secret\n",
    );
    let listed = format!("{}:1", unique("bbtest-listed"));
    images.build(
        &listed,
        "FROM debian:bookworm-slim\nRUN echo listed > /listed\n",
    );
    let absent = format!("{}:1", unique("bbtest-absent"));
    env.write(
        "home/bot-bottle.json",
        &json!({"capability": {"base_images": [listed, absent]}}).to_string(),
    );
    let slug = env.start_detached(&["shell"]);
    let (code, current) = env.sh(&slug, "cat /etc/bot-bottle/Dockerfile");
    assert_eq!(code, 0);
    assert!(current.contains("FROM debian:bookworm-slim"), "{current}");

    // At the tool call: the private image, as FROM and as COPY --from.
    let refused = mcp_calls(
        &env,
        &slug,
        vec![
            capability_block(&format!("FROM {private}\n")),
            capability_block(&format!("{current}COPY --from={private} /secret /secret\n")),
        ],
    )
    .join();
    let after = current.lines().count() + 1;
    for (line, how) in [(1, "FROM"), (after, "COPY --from")] {
        let want = format!(
            "invalid request, nothing was queued: dockerfile: line {line}: {how} {private}: not an image this bottle may build from"
        );
        assert!(refused.contains(&want), "{want}\n{refused}");
    }

    let dockerfile = format!(
        "{current}COPY --from={listed} /listed /listed\nUSER root\nRUN echo rebuilt > /etc/capability-marker\nUSER agent\n"
    );
    let call = mcp_calls(&env, &slug, vec![capability_block(&dockerfile)]);
    let id = env.pending(1, Duration::from_secs(30))[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (debian_id, listed_id) = (image_id("debian:bookworm-slim"), image_id(&listed));
    let shown = grants(&env, &id);
    for want in [
        format!("FROM debian:bookworm-slim = {debian_id} (this bottle's own)"),
        format!("COPY --from {listed} = {listed_id} (capability.base_images)"),
    ] {
        assert!(shown.contains(&want), "{want}\n{shown}");
    }

    // On the host: what a sidecar the agent took over could queue unchecked.
    let queue = bot_bottle::proposal::queue::Queue::new(&env.bottle(&slug).supervise_dir());
    let planted = |dockerfile: String| {
        let request = bot_bottle::proposal::Request::CapabilityBlock { dockerfile };
        queue.submit(&slug, request, "planted".into()).unwrap().id
    };
    let (from_private, from_absent) = (
        planted(format!("FROM {private}\n")),
        planted(format!("{current}COPY --from={absent} /a /a\n")),
    );
    for (planted, want) in [
        (
            &from_private,
            format!("line 1: FROM {private}: not an image this bottle may build from"),
        ),
        (
            &from_absent,
            format!(
                "line {after}: COPY --from {absent} is not on this engine, and it is never pulled"
            ),
        ),
    ] {
        // Read first (`approve` applies only what `proposals` showed).
        assert_eq!(env.run(&["proposals"]).0, 0);
        let (code, _, err) = env.run(&["approve", planted]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&want), "{want}\n{err}");
        assert_eq!(env.run(&["reject", planted]).0, 0);
    }
    assert!(grants(&env, &id).contains(&listed_id), "still pending");
    assert!(
        !env.bottle(&slug).own_dockerfile().exists(),
        "nothing was approved"
    );

    let (code, out, err) = env.run(&["approve", &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("bot-bottle resume {slug}"));
    let _ = call.join_within(Duration::from_secs(30));
    assert_eq!(
        support::docker::leftovers(&slug),
        (0, 0),
        "the bottle is taken down"
    );
    let state = env.bottle(&slug);
    assert!(state.preserve().exists());
    let pin = |id: &str| format!("bot-bottle-base:{}", id.trim_start_matches("sha256:"));
    images.track(&pin(&listed_id));
    let own = std::fs::read_to_string(state.own_dockerfile()).unwrap();
    assert_eq!(
        own,
        dockerfile
            .replacen("debian:bookworm-slim", &pin(&debian_id), 1)
            .replace(&listed, &pin(&listed_id)),
        "the approved Dockerfile, its images pinned by id"
    );

    // The name goes; the pinned image stays, and nothing is pulled.
    assert!(support::docker::docker(&["rmi", &listed]).status.success());
    let (code, out, err) = env.run(&["resume", &slug, "--yes", "--detach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), slug);
    images.track(
        docker_ok(&[
            "inspect",
            "--format",
            "{{.Config.Image}}",
            &names::container(&slug, "agent"),
        ])
        .trim(),
    );
    assert_eq!(
        env.sh(&slug, "cat /etc/capability-marker /listed").1,
        "rebuilt\nlisted\n"
    );
    env.run(&["stop", &slug]);
}
