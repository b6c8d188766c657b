//! One request through the proxy: decide, scan for secrets, inject the
//! route's credential, forward, stream the answer back, log the decision.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

use super::decisions::{Decision, Log};
use super::dlp::Scanner;
use super::policy::{self, CREDENTIAL_HEADERS, Denial, Policy, Route, Scheme};
use super::upstream::{Body, BoxError, Upstream};

/// Bodies up to this size are scanned whole before anything goes upstream;
/// larger ones are scanned as they stream.
pub const BODY_BUFFER_LIMIT: usize = 1024 * 1024;

/// The policy in force, with what is built from it. Swapped whole on reload;
/// a request keeps the one it started with.
pub struct Active {
    pub policy: Policy,
    pub dlp: Scanner,
    pub client: Upstream,
}

/// Where a request came in.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Inside a CONNECT tunnel to this host, on port 443.
    Tunnel { host: String },
    /// An absolute-form plain HTTP request to the proxy port.
    Plain,
    /// A role's base-URL listener, configured on this port.
    BaseUrl { port: u16 },
}

/// The facts of a request's target, whichever way it came in.
struct Target {
    scheme: Scheme,
    host: String,
    port: u16,
    /// The Host header to check against the target, if any.
    host_header: Option<String>,
}

pub async fn handle(
    active: Arc<Active>,
    log: Arc<Log>,
    entry: Entry,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let Some(target) = target(&active.policy, &entry, &req) else {
        let mut d = Decision::new("deny", &method, &req.uri().to_string());
        d.reason = Some("not a request this listener serves".into());
        log.record(&d);
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "bot-bottle egress: send requests through the proxy (HTTP_PROXY / HTTPS_PROXY)\n",
        ));
    };
    let path = req.uri().path().to_owned();
    let url = format!("{}://{}{}", target.scheme.name(), target.host, path);
    let decision = active.policy.decide(&policy::Request {
        scheme: target.scheme,
        host: &target.host,
        port: target.port,
        host_header: target.host_header.as_deref(),
        path: &path,
    });
    let exempt = decision
        .as_ref()
        .ok()
        .and_then(|r| r.inject.as_ref())
        .map(|i| i.header.as_str());
    if let Some(kind) = scan_head(&active.dlp, &req, exempt) {
        return Ok(deny(&log, &method, &url, Denial::Secret { kind }));
    }
    let route = match decision {
        Ok(route) => route.clone(),
        Err(denial) => return Ok(deny(&log, &method, &url, denial)),
    };

    let (parts, body) = req.into_parts();
    let leaked = Arc::new(AtomicBool::new(false));
    let body = match read_body(&active, body, &leaked).await {
        Ok(body) => body,
        Err(BodyError::Secret(kind)) => {
            return Ok(deny(&log, &method, &url, Denial::Secret { kind }));
        }
        Err(BodyError::Read(e)) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                &format!("bot-bottle egress: cannot read the request body: {e}\n"),
            ));
        }
    };

    let mut upstream = Request::builder()
        .method(parts.method.clone())
        .uri(upstream_uri(&target, &parts.uri))
        .body(body);
    if let Ok(req) = upstream.as_mut() {
        *req.headers_mut() = forwarded_headers(&parts.headers, &route, &target);
    }
    let Ok(upstream) = upstream else {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "bot-bottle egress: cannot rebuild this request\n",
        ));
    };
    match active.client.request(upstream).await {
        Ok(resp) => {
            let mut d = Decision::new("allow", &method, &url);
            d.status = Some(resp.status().as_u16());
            log.record(&d);
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(
                parts,
                body.map_err(|e| Box::new(e) as BoxError).boxed(),
            ))
        }
        Err(_) if leaked.load(Ordering::SeqCst) => Ok(deny(
            &log,
            &method,
            &url,
            Denial::Secret {
                kind: "a secret in the body",
            },
        )),
        Err(e) => {
            let mut d = Decision::new("allow", &method, &url);
            d.reason = Some(format!("upstream failed: {}", error_chain(&e)));
            d.status = Some(502);
            log.record(&d);
            Ok(text(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "bot-bottle egress: {} did not answer: {}\n",
                    target.host,
                    error_chain(&e)
                ),
            ))
        }
    }
}

fn target(policy: &Policy, entry: &Entry, req: &Request<Incoming>) -> Option<Target> {
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

fn upstream_uri(target: &Target, original: &Uri) -> String {
    let path = original.path_and_query().map_or("/", |p| p.as_str());
    format!("{}://{}{path}", target.scheme.name(), target.host)
}

/// The URL and headers, for known secret patterns and the bottle's own.
fn scan_head(dlp: &Scanner, req: &Request<Incoming>, exempt: Option<&str>) -> Option<&'static str> {
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

enum BodyError {
    Secret(&'static str),
    Read(String),
}

/// Reads up to the buffer limit and scans it; a larger body continues as a
/// stream, scanned as it goes (`leaked` is set if it carries a secret).
async fn read_body(
    active: &Arc<Active>,
    mut body: Incoming,
    leaked: &Arc<AtomicBool>,
) -> Result<Body, BodyError> {
    let mut buf = BytesMut::new();
    while buf.len() <= BODY_BUFFER_LIMIT {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(BodyError::Read(e.to_string())),
            // Trailers are not forwarded.
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
        if body.is_end_stream() {
            break;
        }
    }
    if buf.len() <= BODY_BUFFER_LIMIT || body.is_end_stream() {
        if let Some(f) = active.dlp.scan(&buf) {
            return Err(BodyError::Secret(f.kind));
        }
        return Ok(Full::new(buf.freeze())
            .map_err(|e: Infallible| match e {})
            .boxed());
    }
    Ok(stream_scanned(
        Arc::clone(active),
        buf.freeze(),
        body,
        Arc::clone(leaked),
    ))
}

/// Passes a large body on while scanning it; ends it with an error at the
/// first secret, which aborts the upstream request.
fn stream_scanned(
    active: Arc<Active>,
    head: Bytes,
    mut rest: Incoming,
    leaked: Arc<AtomicBool>,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(8);
    tokio::spawn(async move {
        let mut scan = active.dlp.stream();
        let mut next = Some(Ok(Frame::data(head)));
        while let Some(item) = next {
            let item = match item {
                Ok(frame) => match frame.data_ref() {
                    Some(data) if scan.feed(data).is_some() => {
                        leaked.store(true, Ordering::SeqCst);
                        Err(BoxError::from("secret in the request body"))
                    }
                    _ => Ok(frame),
                },
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
            next = rest
                .frame()
                .await
                .map(|r| r.map_err(|e| Box::new(e) as BoxError));
        }
    });
    ChannelBody { rx }.boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The agent's headers minus hop-by-hop ones and, on a route with a
/// credential, minus any credential it sent; then the route's credential.
fn forwarded_headers(original: &HeaderMap, route: &Route, target: &Target) -> HeaderMap {
    let mut headers = original.clone();
    strip_hop_by_hop(&mut headers);
    if let Ok(host) = HeaderValue::from_str(&target.host) {
        headers.insert(header::HOST, host);
    }
    if let Some(inject) = &route.inject {
        for name in CREDENTIAL_HEADERS {
            headers.remove(name);
        }
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

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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

fn deny(log: &Log, method: &str, url: &str, denial: Denial) -> Response<Body> {
    let mut d = Decision::new("deny", method, url);
    d.reason = Some(denial.reason());
    d.tool = denial.tool();
    d.status = Some(403);
    log.record(&d);
    text(
        StatusCode::FORBIDDEN,
        &denial.body(url.split('?').next().unwrap_or(url)),
    )
}

pub fn text(status: StatusCode, body: &str) -> Response<Body> {
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
