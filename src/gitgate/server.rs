//! The gate's HTTP server: git's smart HTTP protocol for `/repo.git` and
//! nothing else, each request handed to `git http-backend` (see `cgi`).
//!
//! Pushes run one at a time (a lock held until `receive-pack` and its hooks
//! have exited), so checks, landing and the refresh of the operator's
//! branches never race. Every upload-pack advertisement first refreshes the
//! gate's branches from the operator's repository (the first one waits for
//! the refresh the gate starts with).
//!
//! Request bodies are counted as git reads them: a compressed one is
//! decoded by the gate, under the cap (`body`). A push is capped at the
//! bottle's push limit, so receive-pack never writes more than that; one
//! that passes it mid-way is answered the way git reports a refusal
//! (`report`).

mod body;
mod cgi;
mod env;
mod report;
mod route;

pub(crate) use route::{Refusal, Route, Service, route};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};

use super::repo::{GateRepo, RepoError};
use super::{GateConfig, REPO};
use crate::egress::client_key::ClientKey;
use crate::egress::decode::{Coding, coding};
use crate::state::bottle_dir::gate_files::CONFIG_FILE;

/// The response body type.
type GateBody = BoxBody<Bytes, std::io::Error>;

/// A connection's read buffer (and so a request's header block) is at most this.
const MAX_HEADERS: usize = 64 * 1024;
/// A request's headers must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the kernel's queue.
const MAX_CONNECTIONS: usize = 64;
/// `gate.json` is read at most this large.
const MAX_CONFIG: u64 = 1 << 20;
/// The most a fetch request (wants and haves) may decode to: what `git
/// http-backend` itself buffers (`GIT_HTTP_MAX_REQUEST_BUFFER`'s default).
pub(crate) const MAX_FETCH_REQUEST: u64 = 10 << 20;

/// Starting the gate's server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The gate's configuration cannot be read.
    #[error("{path}: {source}; the plan writes it when the bottle starts")]
    Config {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The gate's configuration does not parse.
    #[error("{path}: not a gate config: {source}; the plan writes it when the bottle starts")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The repository could not be prepared.
    #[error("preparing the gate's repository: {0}")]
    Repo(#[from] RepoError),
    /// The server could not bind.
    #[error("cannot listen on {addr}: {source}; is another gate running?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
    /// A setup task panicked or was cancelled.
    #[error("the gate's setup task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Reads `<state>/gate.json`.
pub(crate) fn load_config(state: &Path) -> Result<GateConfig, ServerError> {
    let path = state.join(CONFIG_FILE);
    let bytes =
        crate::state::read_bounded(&path, MAX_CONFIG).map_err(|source| ServerError::Config {
            path: path.clone(),
            source,
        })?;
    serde_json::from_slice(&bytes).map_err(|source| ServerError::BadConfig { path, source })
}

/// What a gate serves from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The state folder (`/state`).
    pub state: PathBuf,
    /// The operator's git directory (`/operator`), when mounted.
    pub operator: Option<PathBuf>,
    /// The bottle's audit log (`/audit.jsonl`), when mounted.
    pub audit: Option<PathBuf>,
    /// The gate's configuration.
    pub config: GateConfig,
    /// The program the hook scripts run (`repo::hook_bin()`).
    pub hook_bin: PathBuf,
}

struct Shared {
    opts: Options,
    repo: GateRepo,
    /// Held by a push from its request until its hooks are done, and by a
    /// refresh.
    push: Arc<Mutex<()>>,
    /// The bottle key every client must present, when the plan sets one.
    client_key: OnceLock<ClientKey>,
}

/// A prepared, listening gate.
pub struct Gate {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Gate {
    /// Prepares the repository, listens, and starts mirroring the
    /// operator's branches (the first fetch may take a while: requests that
    /// need the branches wait for it).
    pub async fn bind(opts: Options, addr: SocketAddr) -> Result<Gate, ServerError> {
        let repo = GateRepo::new(&opts.state, opts.operator.as_deref());
        let (r, config, bin) = (repo.clone(), opts.config.clone(), opts.hook_bin.clone());
        tokio::task::spawn_blocking(move || r.prepare(&config, &bin))
            .await
            .map_err(ServerError::Task)??;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let push = Arc::new(Mutex::new(()));
        let first = Arc::clone(&push).lock_owned().await;
        let r = repo.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = r.refresh() {
                eprintln!("git-gate: mirroring the operator's branches: {e}");
            }
            drop(first);
        });
        let shared = Arc::new(Shared {
            opts,
            repo,
            push,
            client_key: OnceLock::new(),
        });
        Ok(Gate { listener, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// From now on the gate serves only clients that present `key` (see
    /// `unauthorized`).
    pub(crate) fn require_client_key(&self, key: ClientKey) {
        let _ = self.shared.client_key.set(key);
    }

    /// Serves until `shutdown` resolves, then waits (a while) for a push in
    /// progress to finish landing.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let push = Arc::clone(&self.shared.push);
        tokio::select! {
            _ = accept_loop(self.listener, self.shared) => {},
            _ = shutdown => {},
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), push.lock()).await;
    }
}

/// `bot-bottle sidecar git-gate`: serves until SIGTERM or SIGINT; with
/// `client_key`, only to clients that present it.
pub(crate) async fn run(
    state: PathBuf,
    operator: Option<PathBuf>,
    audit: Option<PathBuf>,
    addr: SocketAddr,
    client_key: Option<ClientKey>,
) -> Result<(), ServerError> {
    let config = load_config(&state)?;
    let hook_bin = super::repo::hook_bin()?;
    let opts = Options {
        state,
        operator,
        audit,
        config,
        hook_bin,
    };
    let gate = Gate::bind(opts, addr).await?;
    if let Some(key) = client_key {
        gate.require_client_key(key);
    }
    let shown = gate.local_addr().unwrap_or(addr);
    eprintln!("git-gate: serving http://{shown}/{REPO}");
    gate.serve(crate::shutdown::requested()).await;
    eprintln!("git-gate: shut down");
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    crate::accept::bounded(listener, connections, |stream, peer| {
        // Streamed answers go out in several writes: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let service = service_fn(move |req| handle(Arc::clone(&shared), peer, req));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEADERS);
        async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
    .await;
}

/// The most a request body may decode to: a push, the bottle's push limit
/// (its command list and pack; `receive.maxInputSize` holds the pack to
/// it too); a fetch request, `MAX_FETCH_REQUEST`.
pub(crate) fn body_cap(config: &GateConfig, service: Service) -> u64 {
    match service {
        Service::ReceivePack => config.max_push_bytes,
        Service::UploadPack => MAX_FETCH_REQUEST,
    }
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<GateBody>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = answer(&shared, peer, req).await;
    let shown: String = path.escape_debug().take(200).collect();
    eprintln!(
        "git-gate: {method} {shown} {} {}ms",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    Ok(response)
}

fn text(status: StatusCode, message: &str) -> Response<GateBody> {
    let body = Full::new(Bytes::from(format!("{message}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One request: checked (key, route, size, encoding), then handed to
/// `git http-backend`, under the push lock where it needs it.
async fn answer(shared: &Shared, peer: SocketAddr, req: Request<Incoming>) -> Response<GateBody> {
    if let Some(refused) = unauthorized(shared.client_key.get(), &req) {
        return refused;
    }
    let admitted = match admit(&shared.opts.config, &req) {
        Ok(admitted) => admitted,
        Err(why) => return refused(&shared.opts.config, why),
    };
    let guard = lock_for(shared, admitted.route).await;
    let env = env::cgi_env(
        &shared.opts,
        (req.method(), req.uri(), req.headers()),
        peer,
        admitted.declared.filter(|_| admitted.coding.is_none()),
    );
    let cmd = cgi::http_backend(env);
    let mut body = body::RequestBody::new(req.into_body(), admitted.coding, admitted.cap);
    let outcome = cgi::run(cmd, &mut body, admitted.cap, guard).await;
    respond(&shared.opts.config, admitted.route, body.head(), outcome)
}

/// A request the gate serves, with what serving it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Admitted {
    route: Route,
    /// The most its body may decode to.
    cap: u64,
    /// Its Content-Length, if it has one.
    declared: Option<u64>,
    /// How its body is compressed, if it is (gzip is the only one taken).
    coding: Option<Coding>,
}

/// Why the gate does not serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refused {
    /// Not a route of git's smart HTTP protocol: the route's refusal.
    Route(Refusal),
    /// Its declared length passes the cap.
    TooLarge(Service),
    /// Its body is in an encoding the gate does not decode: which.
    Unsupported(String),
}

/// The checks on a request's head: a route the gate serves, a declared
/// length within the cap, an encoding it decodes.
fn admit<B>(config: &GateConfig, req: &Request<B>) -> Result<Admitted, Refused> {
    let route = route(req.method(), req.uri().path(), req.uri().query()).map_err(Refused::Route)?;
    let (Route::InfoRefs(service) | Route::Rpc(service)) = route;
    let cap = body_cap(config, service);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(Refused::TooLarge(service));
    }
    let coding = match coding(req.headers()) {
        Ok(None) => None,
        Ok(Some(Coding::Gzip)) => Some(Coding::Gzip),
        Ok(Some(other)) => {
            return Err(Refused::Unsupported(format!(
                "Content-Encoding '{}'",
                other.name()
            )));
        }
        Err(what) => return Err(Refused::Unsupported(what)),
    };
    Ok(Admitted {
        route,
        cap,
        declared,
        coding,
    })
}

/// The answer to a refused request.
fn refused(config: &GateConfig, refused: Refused) -> Response<GateBody> {
    match refused {
        Refused::Route(Refusal::NotFound) => text(
            StatusCode::NOT_FOUND,
            &format!("not found: this gate serves git's smart HTTP protocol for /{REPO} only"),
        ),
        Refused::Route(Refusal::Method(allowed)) => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("method not allowed: use {allowed}"),
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
            r
        }
        Refused::TooLarge(service) => too_large(config, service),
        Refused::Unsupported(what) => unsupported(&what),
    }
}

/// The push lock, for what needs it: a push holds it until receive-pack
/// has exited; an advertisement to fetch waits for it, then refreshes the
/// operator's branches (when there is an operator's repository).
async fn lock_for(shared: &Shared, route: Route) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match route {
        Route::Rpc(Service::ReceivePack) => Some(Arc::clone(&shared.push).lock_owned().await),
        Route::InfoRefs(Service::UploadPack) if shared.opts.operator.is_some() => {
            let _held = shared.push.lock().await;
            let repo = shared.repo.clone();
            match tokio::task::spawn_blocking(move || repo.refresh()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("git-gate: refreshing the operator's branches: {e}"),
                Err(e) => eprintln!("git-gate: refreshing the operator's branches: {e}"),
            }
            None
        }
        _ => None,
    }
}

/// The answer for how `git http-backend` ended (`sent`: the start of the
/// request body, which a refused push's report quotes).
fn respond(
    config: &GateConfig,
    route: Route,
    sent: &[u8],
    outcome: Result<cgi::Outcome, cgi::CgiError>,
) -> Response<GateBody> {
    let (Route::InfoRefs(service) | Route::Rpc(service)) = route;
    match outcome {
        Ok(cgi::Outcome::Answer(head, body)) => {
            let mut response = Response::new(body.boxed());
            *response.status_mut() = head.status;
            for (name, value) in head.headers {
                response.headers_mut().append(name, value);
            }
            response
        }
        Ok(cgi::Outcome::TooLarge) => match service {
            Service::ReceivePack => push_refused(config, sent),
            Service::UploadPack => too_large(config, service),
        },
        Ok(cgi::Outcome::ClientGone) => text(StatusCode::BAD_REQUEST, "the request body broke off"),
        Ok(cgi::Outcome::Invalid(why)) => text(
            StatusCode::BAD_REQUEST,
            &format!("the request body is {why}"),
        ),
        Err(e) => {
            eprintln!("git-gate: {e}");
            text(StatusCode::BAD_GATEWAY, &e.to_string())
        }
    }
}

/// With a bottle key (smolmachines: see `egress::client_key`), a request
/// that does not present it in `Authorization` gets a 401 that asks git
/// for credentials.
fn unauthorized(key: Option<&ClientKey>, req: &Request<Incoming>) -> Option<Response<GateBody>> {
    let key = key?;
    if key.accepts(req.headers().get(header::AUTHORIZATION)) {
        return None;
    }
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "this gate serves only its bottle's agent, which presents the bottle key",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"bot-bottle git gate\""),
    );
    Some(r)
}

/// Why a body is too large, in words.
fn too_large_text(config: &GateConfig, service: Service) -> String {
    match service {
        Service::ReceivePack => format!(
            "push refused: larger than this gate's limit of {}; push fewer or smaller commits (large files do not belong in the repository)",
            env::size_text(config.max_push_bytes)
        ),
        Service::UploadPack => format!(
            "fetch refused: its request is larger than this gate's limit of {}; fetch fewer branches at once",
            env::size_text(MAX_FETCH_REQUEST)
        ),
    }
}

fn too_large(config: &GateConfig, service: Service) -> Response<GateBody> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &too_large_text(config, service),
    )
}

/// A push over the limit, answered as git reports a refused push (when
/// its command list is at hand), so the agent reads why.
fn push_refused(config: &GateConfig, head: &[u8]) -> Response<GateBody> {
    let message = format!(
        "bot-bottle git gate: {}",
        too_large_text(config, Service::ReceivePack)
    );
    let reason = format!(
        "larger than the gate's limit of {}",
        env::size_text(config.max_push_bytes)
    );
    let Some(answer) = report::commands(head).and_then(|c| report::refusal(&c, &message, &reason))
    else {
        return too_large(config, Service::ReceivePack);
    };
    let body = Full::new(Bytes::from(answer))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-git-receive-pack-result"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
    response
}

fn unsupported(what: &str) -> Response<GateBody> {
    text(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &format!("{what} is not accepted: git sends its requests gzip-compressed or not at all"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_is_capped_at_its_limit_and_a_fetch_request_at_gits() {
        let mut config: GateConfig = serde_json::from_value(serde_json::json!({
            "slug": "dev-aaaaa", "operator": false, "protected_paths": [],
            "allow": {"force_push": false, "delete": false, "tags": false},
            "max_push_bytes": 10, "remotes": []
        }))
        .unwrap();
        assert_eq!(body_cap(&config, Service::ReceivePack), 10);
        assert_eq!(body_cap(&config, Service::UploadPack), 10 << 20);
        config.max_push_bytes = u64::MAX;
        assert_eq!(body_cap(&config, Service::ReceivePack), u64::MAX);
        assert!(too_large_text(&config, Service::UploadPack).contains("10 MiB"));
    }

    #[test]
    fn a_head_is_admitted_within_its_cap_and_in_an_encoding_the_gate_decodes() {
        let config: GateConfig = serde_json::from_value(serde_json::json!({
            "slug": "dev-aaaaa", "operator": false, "protected_paths": [],
            "allow": {"force_push": false, "delete": false, "tags": false},
            "max_push_bytes": 10, "remotes": []
        }))
        .unwrap();
        let push = "/repo.git/git-receive-pack";
        let admit_with = |method: &str, path: &str, headers: &[(&str, &str)]| {
            let mut req = Request::builder().method(method).uri(path);
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            admit(&config, &req.body(()).unwrap())
        };
        assert_eq!(
            admit_with("POST", push, &[("content-length", "10")]),
            Ok(Admitted {
                route: Route::Rpc(Service::ReceivePack),
                cap: 10,
                declared: Some(10),
                coding: None,
            })
        );
        assert_eq!(
            admit_with("POST", push, &[("content-encoding", "gzip")]).map(|a| a.coding),
            Ok(Some(Coding::Gzip))
        );
        for (method, path, headers, want) in [
            ("GET", "/x", &[][..], Refused::Route(Refusal::NotFound)),
            ("GET", push, &[], Refused::Route(Refusal::Method("POST"))),
            (
                "POST",
                push,
                &[("content-length", "11")],
                Refused::TooLarge(Service::ReceivePack),
            ),
            (
                "POST",
                push,
                &[("content-encoding", "zstd")],
                Refused::Unsupported("Content-Encoding 'zstd'".into()),
            ),
        ] {
            assert_eq!(admit_with(method, path, headers), Err(want), "{path}");
        }
    }

    #[test]
    fn a_missing_config_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_config(dir.path()).unwrap_err().to_string();
        assert!(e.contains("gate.json"), "{e}");
        std::fs::write(dir.path().join(CONFIG_FILE), "{}").unwrap();
        let e = load_config(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("gate.json") && e.contains("not a gate config"),
            "{e}"
        );
    }
}
