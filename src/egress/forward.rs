//! One request through the proxy: decide, scan for secrets, inject the
//! route's credential, forward, scan the answer on its way back, log the
//! decision.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use super::agent_body::AgentBody;
use super::config::SpendConfig;
use super::decisions::{Decision, Log};
use super::dlp::Scanner;
use super::policy::{self, CREDENTIAL_HEADERS, Denial, METHOD_OVERRIDES, Policy, Route, Scheme};
use super::request_body::{self, Refused};
use super::response;
use super::upstream::{self, Body, Upstream};
use super::usage::{Spent, Tally};

/// The policy in force, with what is built from it. Swapped whole on reload;
/// a request keeps the one it started with.
pub(crate) struct Active {
    pub(crate) policy: Policy,
    pub(crate) dlp: Scanner,
    pub(crate) client: Upstream,
    /// Bytes of a response held back while it is scanned for the bottle's
    /// own secrets: more than the longest form the scanner looks for.
    pub(crate) own_holdback: usize,
    /// The operator froze the bottle: every request is refused.
    pub(crate) frozen: bool,
    /// Model tokens the bottle may use (`routes.json`'s `token_budget`).
    pub(crate) token_budget: Option<u64>,
    /// US dollars the bottle may spend, and the prices (`spend`).
    pub(crate) spend: Option<SpendConfig>,
}

impl Active {
    pub(crate) fn new(
        policy: Policy,
        client: Upstream,
        frozen: bool,
        token_budget: Option<u64>,
        spend: Option<SpendConfig>,
    ) -> Active {
        let secrets = policy.secrets();
        let longest = secrets.iter().map(String::len).max().unwrap_or(0);
        Active {
            dlp: Scanner::new(&secrets),
            policy,
            client,
            // The scanner's longest form of a secret is percent-encoding
            // (three bytes a byte); leave room for longer ones.
            own_holdback: 6 * longest + 64,
            frozen,
            token_budget,
            spend,
        }
    }
}

impl AsRef<Scanner> for Active {
    fn as_ref(&self) -> &Scanner {
        &self.dlp
    }
}

/// What every request shares besides the policy.
pub(crate) struct Env {
    pub(crate) log: Log,
    /// KiB of request bodies being buffered, all requests together.
    pub(crate) buffers: Arc<Semaphore>,
    /// How long a request body may stall while it is buffered.
    pub(crate) body_idle: Duration,
    /// The token usage of model APIs' answers, counted.
    pub(crate) usage: Arc<Tally>,
}

/// Where a request came in.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// Inside a CONNECT tunnel to this host, on port 443.
    Tunnel { host: String },
    /// An absolute-form plain HTTP request to the proxy port.
    Plain,
    /// A role's base-URL listener, configured on this port.
    BaseUrl { port: u16 },
}

/// The facts of a request's target, whichever way it came in.
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The Host header to check against the target, if any.
    host_header: Option<String>,
}

/// One request from the agent: its head admitted, its body prepared, sent
/// upstream, the answer passed back (see `response`); every refusal
/// logged and answered here.
pub(crate) async fn handle(
    active: Arc<Active>,
    env: Arc<Env>,
    entry: Entry,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // Every answer below may come before the body's end: dropped unread,
    // the rest of it is drained while the answer goes out.
    let req = req.map(|body| AgentBody::new(body, env.body_idle));
    let method = req.method().to_string();
    let log = &env.log;
    let Admitted {
        target,
        url,
        route,
        path,
    } = match admit(&active, &entry, &req, &method) {
        Ok(admitted) => admitted,
        Err(HeadRefused::NotServed) => {
            log.record(
                &Decision::new("deny", &method, &req.uri().to_string())
                    .because("not a request this listener serves"),
            );
            return Ok(text(
                StatusCode::BAD_REQUEST,
                "bot-bottle egress: send requests through the proxy (HTTP_PROXY / HTTPS_PROXY)\n",
            ));
        }
        Err(HeadRefused::Denied { url, denial }) => return Ok(deny(log, &method, &url, denial)),
    };
    if let Some(refused) = over_budget(&active, &env, &method, &url, &path) {
        return Ok(refused);
    }

    let (parts, body) = req.into_parts();
    let prepared = match request_body::prepare(&active, &env, &route, &parts.headers, body).await {
        Ok(prepared) => prepared,
        Err(refused) => return Ok(body_refused(log, &method, &url, refused)),
    };
    let scan_answers = active.dlp.has_own();
    let Some(upstream) =
        upstream_request(&parts, &route, &target, &path, prepared.body, scan_answers)
    else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "bot-bottle egress: cannot rebuild this request\n",
        ));
    };
    let result = active.client.request(upstream).await;
    drop(prepared.permit);
    Ok(match result {
        Ok(resp) => response::pass(&active, &env, &method, &url, resp),
        Err(e) => upstream_failed(
            &active,
            log,
            &method,
            &url,
            &target.host,
            &e,
            prepared.leaked.get().copied(),
        ),
    })
}

/// A request the policy lets through, with what forwarding it needs.
struct Admitted {
    target: Target,
    /// The request as logged: scheme, host and the path as sent.
    url: String,
    route: Route,
    /// The path to send upstream (see `policy::Allowed::path`).
    path: String,
}

/// Why a request's head is refused.
enum HeadRefused {
    /// It is not a request this listener serves.
    NotServed,
    /// The policy, the secret scan or the method-override rule says no
    /// (`url`: the request as logged).
    Denied { url: String, denial: Denial },
}

/// The checks on a request's head: a target this listener serves, the
/// policy's decision, no secret in the head, no method override.
fn admit<B>(
    active: &Active,
    entry: &Entry,
    req: &Request<B>,
    method: &str,
) -> Result<Admitted, HeadRefused> {
    let target = target(&active.policy, entry, req).ok_or(HeadRefused::NotServed)?;
    let raw_path = req.uri().path();
    let url = format!("{}://{}{}", target.scheme.name(), target.host, raw_path);
    if active.frozen {
        return Err(HeadRefused::Denied {
            url,
            denial: Denial::Frozen,
        });
    }
    let decision = active.policy.decide(&policy::Request {
        method,
        scheme: target.scheme,
        host: &target.host,
        port: target.port,
        host_header: target.host_header.as_deref(),
        path: raw_path,
    });
    let exempt = decision
        .as_ref()
        .ok()
        .and_then(|a| a.route.inject.as_ref())
        .map(|i| i.header.as_str());
    if let Some(kind) = scan_head(&active.dlp, req, exempt) {
        let denial = Denial::Secret { kind };
        return Err(HeadRefused::Denied { url, denial });
    }
    let (route, path) = match decision {
        Ok(allowed) => (allowed.route.clone(), allowed.path),
        Err(denial) => return Err(HeadRefused::Denied { url, denial }),
    };
    let overrides = METHOD_OVERRIDES
        .iter()
        .flat_map(|name| req.headers().get_all(*name))
        .filter_map(|v| v.to_str().ok());
    if let Err(denial) = policy::check_overrides(overrides, req.uri().query()) {
        return Err(HeadRefused::Denied { url, denial });
    }
    Ok(Admitted {
        target,
        url,
        route,
        path,
    })
}

/// The answer to a request whose body was refused.
fn body_refused(log: &Log, method: &str, url: &str, refused: Refused) -> Response<Body> {
    match refused {
        Refused::Deny(denial) => deny(log, method, url, denial),
        Refused::Busy => {
            log.record(
                &Decision::new("deny", method, url)
                    .because("busy: too many request bodies are being buffered"),
            );
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "bot-bottle egress is buffering too many request bodies right now; retry shortly.\n",
            )
        }
        Refused::Read(e) => text(
            StatusCode::BAD_REQUEST,
            &format!("bot-bottle egress: cannot read the request body: {e}\n"),
        ),
    }
}

/// The request to send upstream: the route's target, the path as
/// decided, the agent's query, the forwarded headers. None when it
/// cannot be built.
fn upstream_request<B>(
    parts: &http::request::Parts,
    route: &Route,
    target: &Target,
    path: &str,
    body: B,
    scan_answers: bool,
) -> Option<Request<B>> {
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut upstream = Request::builder()
        .method(parts.method.clone())
        .uri(format!(
            "{}://{}{path}{query}",
            target.scheme.name(),
            target.host
        ))
        .body(body)
        .ok()?;
    *upstream.headers_mut() = forwarded_headers(&parts.headers, route, target, scan_answers);
    Some(upstream)
}

/// The answer when the upstream request failed: a secret the body scan
/// found (`leaked`), an address the resolver refused, else a 502.
fn upstream_failed(
    active: &Active,
    log: &Log,
    method: &str,
    url: &str,
    host: &str,
    e: &(dyn std::error::Error + 'static),
    leaked: Option<&'static str>,
) -> Response<Body> {
    if let Some(kind) = leaked {
        return deny(log, method, url, Denial::Secret { kind });
    }
    if let Some(b) = upstream::blocked(e) {
        let denial = Denial::PrivateAddress {
            host: b.host.clone(),
            addr: b.addr,
            class: b.class,
        };
        return deny(log, method, url, denial);
    }
    let why = error_chain(e);
    log.record(&Decision {
        status: Some(502),
        ..Decision::new("allow", method, url).because(&format!("upstream failed: {why}"))
    });
    text(
        StatusCode::BAD_GATEWAY,
        &active_redacted(
            active,
            format!("bot-bottle egress: {host} did not answer: {why}\n"),
        ),
    )
}

/// Never lets a message of the proxy's own carry a secret.
fn active_redacted(active: &Active, message: String) -> String {
    if active.dlp.scan_own(message.as_bytes()).is_some() {
        "bot-bottle egress: the upstream did not answer\n".to_owned()
    } else {
        message
    }
}

fn target<B>(policy: &Policy, entry: &Entry, req: &Request<B>) -> Option<Target> {
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match entry {
        Entry::Tunnel { host } => Some(Target {
            scheme: Scheme::Https,
            host: host.clone(),
            port: 443,
            host_header: host_header.or_else(|| req.uri().authority().map(|a| a.to_string())),
        }),
        Entry::Plain => {
            let uri = req.uri();
            if uri.scheme_str() != Some("http") {
                return None;
            }
            Some(Target {
                scheme: Scheme::Http,
                host: uri.host()?.to_owned(),
                port: uri.port_u16().unwrap_or(80),
                host_header,
            })
        }
        Entry::BaseUrl { port } => Some(Target {
            scheme: Scheme::Https,
            host: policy.route_for_port(*port)?.host.clone(),
            port: 443,
            host_header: None,
        }),
    }
}

/// The URL and headers, for known secret patterns and the bottle's own.
fn scan_head<B>(dlp: &Scanner, req: &Request<B>, exempt: Option<&str>) -> Option<&'static str> {
    let uri = req.uri().path_and_query().map_or("", |p| p.as_str());
    if let Some(f) = dlp.scan_url(uri) {
        return Some(f.kind);
    }
    for (name, value) in req.headers() {
        let name = name.as_str();
        let replaced =
            exempt.is_some() && (CREDENTIAL_HEADERS.contains(&name) || Some(name) == exempt);
        if !replaced && let Some(f) = dlp.scan(value.as_bytes()) {
            return Some(f.kind);
        }
    }
    None
}

/// The agent's headers minus hop-by-hop ones and, on a route with a
/// credential, minus any credential it sent and any Range (a range of a
/// reflected answer would hand back part of the credential, unseen by the
/// scan); then the route's credential. When answers are scanned, they are
/// asked for in an encoding the proxy can decode.
fn forwarded_headers(
    original: &HeaderMap,
    route: &Route,
    target: &Target,
    scan_answers: bool,
) -> HeaderMap {
    let mut headers = original.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::EXPECT);
    if let Ok(host) = HeaderValue::from_str(&target.host) {
        headers.insert(header::HOST, host);
    }
    if scan_answers {
        let compressed = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .any(|t| !t.is_empty() && t != "identity");
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(if compressed {
                "gzip, deflate"
            } else {
                "identity"
            }),
        );
    }
    if let Some(inject) = &route.inject {
        for name in CREDENTIAL_HEADERS {
            headers.remove(name);
        }
        headers.remove(header::RANGE);
        headers.remove(header::IF_RANGE);
        if let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(inject.header.as_bytes()),
            HeaderValue::from_str(&inject.value),
        ) {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    headers
}

const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

pub(crate) fn deny(log: &Log, method: &str, url: &str, denial: Denial) -> Response<Body> {
    let mut d = Decision::new("deny", method, url).because(&denial.reason());
    d.tool = denial.tool();
    d.status = Some(403);
    log.record(&d);
    text(
        StatusCode::FORBIDDEN,
        &denial.body(url.split('?').next().unwrap_or(url)),
    )
}

/// A model call once the bottle used its token budget or its spend
/// budget: refused (403) in the API's own error shape, and logged without
/// a tool (it is the operator's to raise, not a route to ask for).
fn over_budget(
    active: &Active,
    env: &Env,
    method: &str,
    url: &str,
    path: &str,
) -> Option<Response<Body>> {
    let spent = spent(active, &env.usage)?;
    let body = super::usage::budget_refusal(method, path, &spent)?;
    let what = match spent {
        Spent::Tokens { .. } => "token",
        Spent::Dollars { .. } => "spend",
    };
    env.log.record(&Decision {
        status: Some(403),
        ..Decision::new("deny", method, url)
            .because(&format!("the {what} budget is spent ({})", spent.amounts()))
    });
    let mut resp = text(StatusCode::FORBIDDEN, &body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Some(resp)
}

/// The first of the bottle's budgets it used up, if any.
fn spent(active: &Active, usage: &Tally) -> Option<Spent> {
    if let Some(budget) = active.token_budget {
        let used = usage.tokens();
        if used >= budget {
            return Some(Spent::Tokens { used, budget });
        }
    }
    let spend = active.spend.as_ref()?;
    let spent = usage.cost(&spend.prices);
    (spent >= spend.budget.dollars()).then_some(Spent::Dollars {
        spent,
        budget: spend.budget,
    })
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
