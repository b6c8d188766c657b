//! The supervise sidecar: an MCP server (streamable HTTP) through which the
//! agent asks for more capability. A call is validated, queued, and waits
//! for the operator's answer; after a while it says the request is still
//! pending, and calling again with the same arguments keeps waiting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

use crate::contract::paths::{agent_file, agent_files};
use crate::contract::services::{MCP_PATH, SUPERVISE as MCP_HOST};
use crate::dockerfile::images::{self, Allowed};
use crate::egress::client_key::ClientKey;
use crate::egress::config::EgressConfig;
use crate::proposal::queue::Queue;
use crate::proposal::{
    self, CAPABILITY_BLOCK, Decision, EGRESS_BLOCK, GIT_PUSH_POLICY, LIST_EGRESS_ROUTES,
    PIPELOCK_BLOCK, Proposal, Request, Response,
};
use crate::state::bottle_dir::supervise_files::{POLICY_FILE, ROUTES_VIEW};

#[derive(Clone)]
pub(crate) struct Supervisor {
    queue: Queue,
    slug: String,
    state_dir: PathBuf,
    /// How long a call waits for the operator before saying it is pending.
    wait: Duration,
}

impl Supervisor {
    pub(crate) fn new(state_dir: &Path, slug: &str, wait: Duration) -> Supervisor {
        Supervisor {
            queue: Queue::new(state_dir),
            slug: slug.to_owned(),
            state_dir: state_dir.to_path_buf(),
            wait,
        }
    }

    /// Queues the request and waits for the operator's answer. A proposal
    /// withdrawn for a changed one (the operator edited it) is followed:
    /// the call waits for the new one and says so in its answer.
    async fn ask(&self, request: Request, justification: String) -> CallToolResult {
        let tool = request.tool();
        let asked = match self.queue.submit(&self.slug, request, justification) {
            Ok(p) => p,
            Err(e) => {
                return CallToolResult::error(vec![ContentBlock::text(format!(
                    "could not queue the request: {e}"
                ))]);
            }
        };
        let deadline = tokio::time::Instant::now() + self.wait;
        // What this call waits on: the proposal asked, then each that
        // replaced the one before.
        let mut chain = vec![asked];
        let mut replaced_note: Option<String> = None;
        loop {
            let current = chain[chain.len() - 1].clone();
            if let Some(response) = self.answer(&current.id) {
                let next = response
                    .replaced_by
                    .as_deref()
                    .filter(|_| response.decision == Decision::Withdrawn)
                    .filter(|_| chain.len() < MAX_FOLLOW)
                    .filter(|next| chain.iter().all(|p| p.id != *next))
                    .and_then(|next| self.proposal(next));
                if let Some(next) = next {
                    replaced_note.get_or_insert(response.note.unwrap_or_default());
                    chain.push(next);
                    continue;
                }
                for p in &chain {
                    let _ = self.queue.archive(&p.id);
                }
                let replaced = replaced_text(&chain, replaced_note.as_deref());
                return match response.decision {
                    Decision::Approved => {
                        CallToolResult::success(vec![ContentBlock::text(format!(
                            "approved: {}{replaced}",
                            response.note.unwrap_or_else(|| current.request.summary())
                        ))])
                    }
                    Decision::Rejected => CallToolResult::error(vec![ContentBlock::text(format!(
                        "rejected by the operator: {}{replaced}",
                        response.reason.unwrap_or_else(|| "no reason given".into())
                    ))]),
                    Decision::Withdrawn => {
                        CallToolResult::error(vec![ContentBlock::text(format!(
                            "withdrawn: request {} was withdrawn before the operator decided it ({}){replaced}",
                            current.id,
                            response.note.unwrap_or_else(|| "no reason given".into())
                        ))])
                    }
                };
            }
            if tokio::time::Instant::now() >= deadline {
                return CallToolResult::success(vec![ContentBlock::text(format!(
                    "pending: request {} ({}) is still waiting for the operator. Call {tool} again with the same arguments to keep waiting for the decision.{}",
                    current.id,
                    current.request.summary(),
                    replaced_text(&chain, replaced_note.as_deref())
                ))]);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The answer on proposal `id`, waiting or archived.
    fn answer(&self, id: &str) -> Option<Response> {
        self.queue
            .response(id)
            .or_else(|| self.queue.archived(id).map(|a| a.response))
    }

    /// Proposal `id`, waiting or archived.
    fn proposal(&self, id: &str) -> Option<Proposal> {
        self.queue
            .find(id)
            .or_else(|| self.queue.archived(id).map(|a| a.proposal))
    }

    fn list_routes(&self) -> CallToolResult {
        let path = self.state_dir.join(ROUTES_VIEW);
        let config: Option<EgressConfig> = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let Some(config) = config else {
            return CallToolResult::error(vec![ContentBlock::text(
                "the route table is not available",
            )]);
        };
        if config.routes.is_empty() {
            return CallToolResult::success(vec![ContentBlock::text(
                "no routes: this bottle reaches no host. Ask with egress-block or pipelock-block.",
            )]);
        }
        let lines: Vec<String> = config
            .routes
            .iter()
            .map(|r| {
                let paths = if r.path_allowlist.is_empty() {
                    "all paths".to_owned()
                } else {
                    r.path_allowlist.join(" ")
                };
                let cred = if r.auth.is_some() {
                    " (credential added by the proxy)"
                } else {
                    ""
                };
                format!("{}: {paths}{cred}", r.host)
            })
            .collect();
        CallToolResult::success(vec![ContentBlock::text(lines.join("\n"))])
    }

    /// A new Dockerfile reads only the images this bottle may read (its
    /// own, and those the operator listed), as the plan wrote them down;
    /// the host checks again when it is approved and before it is built.
    fn readable_images(&self, request: &Request) -> Result<(), proposal::InputError> {
        let Request::CapabilityBlock { dockerfile } = request else {
            return Ok(());
        };
        let path = self.state_dir.join(images::ALLOWED_FILE);
        let allowed: Allowed = crate::state::read_bounded(&path, MAX_POLICY)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        images::check(dockerfile, &allowed)
            .map(|_| ())
            .map_err(|problem| proposal::InputError {
                field: "dockerfile".into(),
                problem,
            })
    }

    /// The push policy the plan wrote (`POLICY_FILE`); a bottle
    /// without one has no git gate.
    fn git_policy(&self) -> CallToolResult {
        let path = self.state_dir.join(POLICY_FILE);
        let text = crate::state::read_bounded(&path, MAX_POLICY)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        CallToolResult::success(vec![ContentBlock::text(
            text.unwrap_or_else(|| NO_GATE.to_owned()),
        )])
    }
}

/// Replacements one call follows at most.
const MAX_FOLLOW: usize = 16;

/// What the agent is told when the proposal it asked for was replaced by
/// a changed one before it was decided; empty when it was not.
fn replaced_text(chain: &[Proposal], note: Option<&str>) -> String {
    match (chain.first(), chain.last()) {
        (Some(first), Some(last)) if chain.len() > 1 => format!(
            " (your request {} changed before it was decided{}: it was withdrawn and replaced by request {}, {}, which this answer is about)",
            first.id,
            note.filter(|n| !n.is_empty())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            last.id,
            last.request.summary()
        ),
        _ => String::new(),
    }
}

/// The policy file is a few lines; a larger one is not read.
const MAX_POLICY: u64 = 64 * 1024;
/// What `git-push-policy` says in a bottle without a git gate.
const NO_GATE: &str = "This bottle has no git gate (it was started without --cwd in a git repository): there is no git remote to push to, so pushes go nowhere. Work in /workspace; the operator takes your changes from there.";

fn schema(value: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

/// The schema of a tool that takes one string, `field`, and the
/// `justification` every request carries; both required.
fn justified(field: &str, justification: &Value) -> Arc<serde_json::Map<String, Value>> {
    schema(json!({
        "type": "object",
        "properties": {(field): {"type": "string"}, "justification": justification},
        "required": [field, "justification"],
    }))
}

pub(crate) fn tools() -> Vec<Tool> {
    let justification = json!({"type": "string", "description": "Why you need this, for the operator (at most 2000 characters)."});
    vec![
        Tool::new(
            EGRESS_BLOCK,
            "Ask the operator for one egress route: a host you may reach through the proxy, optionally limited to path prefixes, optionally with a credential the proxy adds (you never see it). Call it when the proxy refused a request with 403 and named this tool. Waits for the decision.",
            schema(json!({
                "type": "object",
                "properties": {
                    "host": {"type": "string", "description": "A bare hostname, e.g. api.github.com"},
                    "path_allowlist": {"type": "array", "items": {"type": "string"}, "description": "Path prefixes, each starting with '/'; omit for every path"},
                    "auth": {
                        "type": "object",
                        "properties": {
                            "scheme": {"type": "string", "description": "bearer, basic or header:NAME"},
                            "token_ref": {"type": "string", "description": "Which credential you mean, e.g. GITHUB_TOKEN; the operator decides"}
                        },
                        "required": ["scheme"]
                    },
                    "justification": justification,
                },
                "required": ["host", "justification"],
            })),
        ),
        Tool::new(
            PIPELOCK_BLOCK,
            "Ask the operator to allow the host of a URL the proxy refused (with no path limit). Pass the URL the 403 named. Waits for the decision.",
            justified("failed_url", &justification),
        ),
        Tool::new(
            CAPABILITY_BLOCK,
            format!(
                "Ask the operator for a changed image: pass the whole new Dockerfile (the current one is at {}). It is built with no network and an empty build context: start FROM an image that has what you need and use RUN; ADD, COPY without --from, RUN options (--mount, --network), heredocs and parser directives are refused. FROM and COPY --from may name only this bottle's own images (the one it runs, and those the current Dockerfile reads), the ones the operator listed, or earlier stages; a refusal lists them. If approved, this bottle is taken down to be rebuilt; your session ends.",
                agent_file(agent_files::DOCKERFILE)
            ),
            justified("dockerfile", &justification),
        ),
        Tool::new(
            GIT_PUSH_POLICY,
            "Explain where your git pushes go: /workspace's `origin` is the bot-bottle git gate; what lands where, what is refused (and why), which paths wait for the operator, and which branches go on upstream. Call it before your first push, or when a push is refused.",
            schema(json!({"type": "object", "properties": {}})),
        ),
        Tool::new(
            LIST_EGRESS_ROUTES,
            "List the hosts this bottle may reach through the proxy, with their path limits. Secrets are never shown.",
            schema(json!({"type": "object", "properties": {}})),
        ),
    ]
}

impl ServerHandler for Supervisor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bot-bottle-supervise", env!("CARGO_PKG_VERSION")))
            .with_instructions("Ask the operator of this bot-bottle for more capability: egress routes, hosts, image changes. git-push-policy says where your git pushes go.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, rmcp::ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        if request.name == LIST_EGRESS_ROUTES {
            return Ok(self.list_routes().into());
        }
        if request.name == GIT_PUSH_POLICY {
            return Ok(self.git_policy().into());
        }
        let args = request.arguments.unwrap_or_default();
        let parsed = proposal::parse(&request.name, &args).and_then(|(req, justification)| {
            self.readable_images(&req).map(|()| (req, justification))
        });
        let result = match parsed {
            Ok((req, justification)) => self.ask(req, justification).await,
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "invalid request, nothing was queued: {e}"
            ))]),
        };
        Ok(result.into())
    }
}

/// Serves MCP on `addr` until SIGTERM or SIGINT; with `client_key`, only
/// to clients that present it (see `authorized`).
pub(crate) async fn run(
    state_dir: PathBuf,
    slug: String,
    addr: SocketAddr,
    wait: Duration,
    client_key: Option<ClientKey>,
) -> std::io::Result<()> {
    let supervisor = Supervisor::new(&state_dir, &slug, wait);
    let hosts = [
        MCP_HOST.to_owned(),
        format!("{MCP_HOST}:{}", addr.port()),
        "localhost".into(),
        "127.0.0.1".into(),
        format!("127.0.0.1:{}", addr.port()),
    ];
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_json_response(true);
    let service = StreamableHttpService::new(
        move || Ok(supervisor.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("supervise: serving MCP on {addr}{MCP_PATH}");
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // An answer goes out in more than one write (head, then body):
            // with Nagle's algorithm the second waits for the agent's
            // delayed ACK, 40 ms on every tool call.
            let _ = stream.set_nodelay(true);
            let service = authorized(
                TowerToHyperService::new(service.clone()),
                client_key.clone(),
            );
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    };
    let stop = crate::shutdown::requested();
    tokio::select! {
        _ = accept => {},
        _ = stop => eprintln!("supervise: shutting down"),
    }
    Ok(())
}

/// The MCP service, answering 401 to a request that does not present the
/// bottle key in `Authorization` when there is one (smolmachines: see
/// `egress::client_key`). Nothing of a refused request is logged.
#[derive(Clone)]
struct Authorized<S> {
    inner: S,
    key: Option<ClientKey>,
}

type McpResponse =
    http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>>;

fn authorized<S>(inner: S, key: Option<ClientKey>) -> Authorized<S> {
    Authorized { inner, key }
}

impl<S> hyper::service::Service<http::Request<hyper::body::Incoming>> for Authorized<S>
where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = McpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = McpResponse;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<McpResponse, S::Error>> + Send>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let allowed = self
            .key
            .as_ref()
            .is_none_or(|k| k.accepts(req.headers().get(http::header::AUTHORIZATION)));
        if allowed {
            return Box::pin(self.inner.call(req));
        }
        use http_body_util::BodyExt;
        let body = http_body_util::Full::new(bytes::Bytes::from_static(
            b"bot-bottle supervise serves only its bottle's agent, which presents the bottle key.\n",
        ))
        .map_err(|never| match never {})
        .boxed();
        let mut refused = http::Response::new(body);
        *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
        refused.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"bot-bottle supervise\""),
        );
        Box::pin(std::future::ready(Ok(refused)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::queue::now;

    fn text(result: &CallToolResult) -> String {
        serde_json::to_value(result).unwrap()["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    #[tokio::test]
    async fn a_call_that_times_out_is_pending_and_a_later_one_gets_the_decision() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::new(dir.path(), "dev-aaaaa", Duration::from_millis(200));
        let ask = || Request::PipelockBlock {
            failed_url: "https://pypi.org/simple/".into(),
            host: "pypi.org".into(),
        };
        let first = s.ask(ask(), "pip".into()).await;
        assert!(
            text(&first).starts_with("pending: request "),
            "{}",
            text(&first)
        );
        let queue = Queue::new(dir.path());
        let pending = queue.pending().unwrap();
        assert_eq!(pending.len(), 1);
        queue
            .respond(&Response {
                id: pending[0].id.clone(),
                decision: Decision::Rejected,
                reason: Some("use the mirror".into()),
                decided_at: now(),
                note: None,
                replaced_by: None,
            })
            .unwrap();
        let second = s.ask(ask(), "pip, again".into()).await;
        assert_eq!(text(&second), "rejected by the operator: use the mirror");
        assert!(queue.pending().unwrap().is_empty());
        assert!(
            queue.archived(&pending[0].id).is_some(),
            "delivered decisions are archived"
        );
    }

    fn pypi() -> Request {
        Request::PipelockBlock {
            failed_url: "https://pypi.org/simple/".into(),
            host: "pypi.org".into(),
        }
    }

    fn narrowed() -> Request {
        Request::EgressBlock {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()],
            auth: None,
        }
    }

    /// The operator edits the request while the call waits: the call is
    /// told its proposal was withdrawn for the new one, and follows it.
    #[tokio::test]
    async fn a_waiting_call_is_told_its_proposal_was_replaced_and_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::new(dir.path(), "dev-aaaaa", Duration::from_secs(20));
        let queue = Queue::new(dir.path());
        let call = tokio::spawn({
            let s = s.clone();
            async move { s.ask(pypi(), "pip".into()).await }
        });
        let asked = loop {
            if let Some(p) = queue.pending().unwrap().pop() {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let edited = queue
            .supersede(
                &asked.id,
                narrowed(),
                "pip".into(),
                "edited by the operator",
            )
            .unwrap();
        queue
            .respond(&Response {
                note: Some("pypi.org /simple/ is now reachable".into()),
                ..Response::new(&edited.id, Decision::Approved)
            })
            .unwrap();
        let answer = text(&call.await.unwrap());
        assert_eq!(
            answer,
            format!(
                "approved: pypi.org /simple/ is now reachable (your request {} changed before it was decided (edited by the operator): it was withdrawn and replaced by request {}, route pypi.org /simple/, which this answer is about)",
                asked.id, edited.id
            )
        );
        assert!(queue.archived(&asked.id).is_some() && queue.archived(&edited.id).is_some());
    }

    /// The call had stopped waiting when its proposal was replaced: asking
    /// again with the same arguments waits for the replacement; a proposal
    /// withdrawn with nothing in its place says so.
    #[tokio::test]
    async fn asking_again_follows_a_replacement_and_a_withdrawal_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::new(dir.path(), "dev-aaaaa", Duration::from_millis(150));
        let queue = Queue::new(dir.path());
        assert!(text(&s.ask(pypi(), "pip".into()).await).starts_with("pending: "));
        let asked = queue.pending().unwrap().remove(0);
        let edited = queue
            .supersede(&asked.id, narrowed(), "pip".into(), "edited")
            .unwrap();
        let again = text(&s.ask(pypi(), "pip".into()).await);
        assert!(
            again.starts_with(&format!(
                "pending: request {} (route pypi.org /simple/)",
                edited.id
            )),
            "{again}"
        );
        assert!(
            again.contains(&format!("your request {} changed", asked.id)),
            "{again}"
        );
        assert_eq!(
            queue.pending().unwrap(),
            std::slice::from_ref(&edited),
            "nothing new queued"
        );
        queue
            .withdraw(&edited.id, "nothing left to decide")
            .unwrap();
        let last = s.ask(pypi(), "pip".into()).await;
        assert_eq!(last.is_error, Some(true));
        assert!(
            text(&last).starts_with(&format!(
                "withdrawn: request {} was withdrawn before the operator decided it (nothing left to decide)",
                edited.id
            )),
            "{}",
            text(&last)
        );
    }

    #[test]
    fn the_push_policy_is_the_plan_s_file_or_says_there_is_no_gate() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::new(dir.path(), "dev-aaaaa", Duration::from_millis(10));
        let none = text(&s.git_policy());
        assert!(none.contains("has no git gate"), "{none}");
        assert!(none.contains("without --cwd in a git repository"), "{none}");
        let policy = "Your /workspace is a git clone.\n- Push early and often.\n";
        std::fs::write(dir.path().join(POLICY_FILE), policy).unwrap();
        assert_eq!(text(&s.git_policy()), policy);
    }

    #[test]
    fn a_new_dockerfile_may_read_only_the_images_the_plan_wrote_down() {
        let dir = tempfile::tempdir().unwrap();
        let s = Supervisor::new(dir.path(), "dev-aaaaa", Duration::from_millis(10));
        let ask = |dockerfile: &str| {
            s.readable_images(&Request::CapabilityBlock {
                dockerfile: dockerfile.into(),
            })
            .map_err(|e| e.to_string())
        };
        // No list: nothing may be read.
        assert!(ask("FROM debian:bookworm-slim\n").is_err());
        let allowed = Allowed {
            own: vec!["debian:bookworm-slim".into()],
            listed: vec!["node:20".into()],
        };
        std::fs::write(
            dir.path().join(images::ALLOWED_FILE),
            serde_json::to_string(&allowed).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ask("FROM debian:bookworm-slim\nCOPY --from=node:20 /a /a\n"),
            Ok(())
        );
        let err = ask("FROM debian:bookworm-slim\nCOPY --from=acme/private /a /a\n").unwrap_err();
        assert!(
            err.starts_with("dockerfile: line 2: COPY --from acme/private: not an image this bottle may build from"),
            "{err}"
        );
        assert_eq!(
            s.readable_images(&Request::PipelockBlock {
                failed_url: "https://x.com/".into(),
                host: "x.com".into()
            })
            .map_err(|e| e.to_string()),
            Ok(())
        );
    }

    #[test]
    fn tools_have_schemas() {
        let names: Vec<String> = tools().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            [
                EGRESS_BLOCK,
                PIPELOCK_BLOCK,
                CAPABILITY_BLOCK,
                GIT_PUSH_POLICY,
                LIST_EGRESS_ROUTES
            ]
        );
        assert!(tools().iter().all(|t| t.input_schema.get("type").is_some()));
    }
}
