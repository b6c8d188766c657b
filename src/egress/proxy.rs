//! The egress proxy's server side: the forward-proxy listener (CONNECT,
//! then TLS interception with a leaf certificate per host, and plain
//! HTTP), one base-URL listener per role, reload and shutdown.
//!
//! Bounded, so that an agent cannot exhaust the sidecar: connections and
//! tunnels are counted (past the limit, new connections wait in the
//! kernel's queue and new tunnels are refused), request headers must
//! arrive in time and idle keep-alive connections close (hyper's header
//! read timeout covers both), TLS handshakes must finish in time, and
//! buffered request bodies share one memory budget.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::ca::{CaError, Signer};
use super::client_key::ClientKey;
use super::config::{self, CA_KEY_FILE, DECISIONS_FILE, EgressConfig};
use super::decisions::{Decision, Log};
use super::forward::{self, Active, Entry, Env};
use super::listen;
use super::policy::{self, Denial, Policy, Scheme};
use super::upstream::{self, Body, Overrides};
use super::usage::Tally;

use crate::contract::services::EGRESS;

/// Starting the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The route table cannot be enforced.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// An upstream CA file is unusable.
    #[error(transparent)]
    Trust(#[from] upstream::TrustError),
    /// The certificate authority's key could not be read.
    #[error("{path}: {source}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The certificate authority's key is not one.
    #[error("{path}: {source}")]
    CaKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: CaError,
    },
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
    /// No address to listen on.
    #[error(transparent)]
    Listen(#[from] listen::ListenError),
}

/// How to start the proxy.
pub struct Options {
    /// Holds routes.json, tokens.json and the CA; gets decisions.jsonl and
    /// usage.json.
    pub state_dir: PathBuf,
    /// The address every listener binds; `addr` and `proxy_addr` report it.
    pub bind_ip: IpAddr,
    /// More addresses every listener also binds.
    pub also_bind: Vec<IpAddr>,
    /// Bind every listener to a free port instead of the configured one.
    pub ephemeral_ports: bool,
    /// Fixed addresses for upstream names (tests); empty in the sidecar.
    pub overrides: Overrides,
    /// Bounds on connections and bodies.
    pub limits: Limits,
}

/// What an agent can make the sidecar hold at once.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Client connections being served, all listeners together.
    pub connections: usize,
    /// CONNECT tunnels open.
    pub tunnels: usize,
    /// Time to send a request's headers; also how long an idle keep-alive
    /// connection stays open.
    pub header_timeout: Duration,
    /// Time to finish a TLS handshake in a tunnel.
    pub tls_handshake_timeout: Duration,
    /// How long a request body may stall while it is buffered.
    pub body_idle_timeout: Duration,
    /// Bytes of request bodies buffered at once, all requests together.
    pub body_buffer_budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 512,
            tunnels: 512,
            header_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(60),
            body_buffer_budget: 256 * 1024 * 1024,
        }
    }
}

/// What the listeners share.
pub struct Shared {
    active: RwLock<Arc<Active>>,
    signer: Signer,
    certs: Mutex<HashMap<String, Arc<ServerConfig>>>,
    env: Arc<Env>,
    state_dir: PathBuf,
    overrides: Overrides,
    limits: Limits,
    connections: Arc<Semaphore>,
    tunnels: Arc<Semaphore>,
    /// Requests being served, so shutdown can wait for them.
    in_flight: AtomicUsize,
    /// The bottle key every client must present, when the plan sets one.
    client_key: OnceLock<ClientKey>,
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

const CERT_CACHE_LIMIT: usize = 1024;

impl Shared {
    fn active(&self) -> Arc<Active> {
        match self.active.read() {
            Ok(a) => Arc::clone(&a),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the routes and tokens and swaps them in atomically; requests
    /// in flight finish under the policy they started with. On error the old
    /// policy stays.
    pub fn reload(&self) -> Result<(), ProxyError> {
        let (active, _) = load_active(&self.state_dir, &self.overrides)?;
        match self.active.write() {
            Ok(mut a) => *a = Arc::new(active),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(active),
        }
        Ok(())
    }

    fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, String> {
        if let Ok(certs) = self.certs.lock()
            && let Some(config) = certs.get(host)
        {
            return Ok(Arc::clone(config));
        }
        let leaf = self.signer.leaf(host).map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        if let Ok(mut certs) = self.certs.lock() {
            if certs.len() >= CERT_CACHE_LIMIT {
                certs.clear();
            }
            certs.insert(host.to_owned(), Arc::clone(&config));
        }
        Ok(config)
    }
}

/// The policy in force, and the config it came from.
fn load_active(
    state_dir: &Path,
    overrides: &Overrides,
) -> Result<(Active, EgressConfig), ProxyError> {
    let (config, tokens) = config::read_config(state_dir)?;
    let frozen = config::is_frozen(state_dir);
    let policy = Policy::new(&config, &tokens)?;
    let client = upstream::client(
        &config.trust_upstream_ca,
        Arc::clone(overrides),
        Arc::new(policy.private_hosts()),
    )?;
    Ok((
        Active::new(
            policy,
            client,
            frozen,
            config.token_budget,
            config.spend.clone(),
        ),
        config,
    ))
}

/// The listeners, bound, with the port each was configured for.
pub struct Bound {
    /// What every listener shares: the policy, the scanner, the decision log.
    pub shared: Arc<Shared>,
    /// The forward proxy's configured port.
    proxy_port: u16,
    /// (configured port, listener), each port on every bound address.
    listeners: Vec<(u16, TcpListener)>,
}

impl Bound {
    /// Reads the state folder and binds every listener.
    pub async fn bind(options: Options) -> Result<Bound, ProxyError> {
        let (active, config) = load_active(&options.state_dir, &options.overrides)?;
        let key_path = options.state_dir.join(CA_KEY_FILE);
        let key = std::fs::read_to_string(&key_path).map_err(|source| ProxyError::Ca {
            path: key_path.clone(),
            source,
        })?;
        let signer = Signer::from_key_pem(&key).map_err(|source| ProxyError::CaKey {
            path: key_path,
            source,
        })?;
        let mut ports = vec![config.listen];
        ports.extend(
            config
                .routes
                .iter()
                .filter_map(|r| r.role.as_ref().map(|role| role.listen)),
        );
        let mut ips = vec![options.bind_ip];
        ips.extend(
            options
                .also_bind
                .iter()
                .filter(|ip| **ip != options.bind_ip),
        );
        let mut listeners = Vec::new();
        for port in &ports {
            for ip in &ips {
                let addr = SocketAddr::new(*ip, if options.ephemeral_ports { 0 } else { *port });
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ProxyError::Bind { addr, source })?;
                listeners.push((*port, listener));
            }
        }
        let limits = options.limits;
        let env = Env {
            log: Log::open(&options.state_dir.join(DECISIONS_FILE)),
            buffers: Arc::new(Semaphore::new(limits.body_buffer_budget.div_ceil(1024))),
            body_idle: limits.body_idle_timeout,
            usage: Tally::open(&options.state_dir),
        };
        let shared = Arc::new(Shared {
            active: RwLock::new(Arc::new(active)),
            signer,
            certs: Mutex::new(HashMap::new()),
            env: Arc::new(env),
            state_dir: options.state_dir,
            overrides: options.overrides,
            connections: Arc::new(Semaphore::new(limits.connections)),
            tunnels: Arc::new(Semaphore::new(limits.tunnels)),
            limits,
            in_flight: AtomicUsize::new(0),
            client_key: OnceLock::new(),
        });
        Ok(Bound {
            shared,
            proxy_port: config.listen,
            listeners,
        })
    }

    /// The actual address of the listener configured on `port`, on the
    /// first bound address.
    pub fn addr(&self, port: u16) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(p, _)| *p == port)
            .and_then(|(_, l)| l.local_addr().ok())
    }

    /// Every address a listener is bound to.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(_, l)| l.local_addr().ok())
            .collect()
    }

    /// The forward proxy's actual address.
    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.addr(self.proxy_port)
    }

    /// From now on every listener serves only clients that present `key`
    /// (see `admit`).
    pub fn require_client_key(&self, key: ClientKey) {
        let _ = self.shared.client_key.set(key);
    }

    /// Serves until `shutdown` resolves, then gives requests in flight a
    /// few seconds to finish.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (port, listener) in self.listeners {
            let entry = (port != self.proxy_port).then_some(Entry::BaseUrl { port });
            tasks.spawn(accept_loop(listener, Arc::clone(&self.shared), entry));
        }
        shutdown.await;
        tasks.abort_all();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.shared.in_flight.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.shared.env.usage.flush();
    }
}

/// A connection's read buffer may grow to this (it holds a request's
/// headers whole).
const READ_BUFFER_LIMIT: usize = 128 * 1024;

/// An HTTP/1 server with the header (and keep-alive idle) timeout.
fn http1(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER_LIMIT);
    builder
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, entry: Option<Entry>) {
    let connections = Arc::clone(&shared.connections);
    crate::accept::bounded(listener, connections, |stream, _| {
        let _ = stream.set_nodelay(true);
        let builder = http1(&shared.limits);
        let shared = Arc::clone(&shared);
        let entry = entry.clone();
        let service = service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let entry = entry.clone();
            async move {
                let _counted = InFlight::new(&shared.in_flight);
                let (entry, req) = match admit(&shared, entry, req) {
                    Ok(admitted) => admitted,
                    Err(refused) => return Ok(*refused),
                };
                match entry {
                    Some(entry) => {
                        forward::handle(shared.active(), Arc::clone(&shared.env), entry, req).await
                    }
                    None => proxy_request(Arc::clone(&shared), req).await,
                }
            }
        });
        async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        }
    })
    .await;
}

/// A request to the forward-proxy port: CONNECT, or plain HTTP.
async fn proxy_request(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    if req.method() != Method::CONNECT {
        return forward::handle(shared.active(), Arc::clone(&shared.env), Entry::Plain, req).await;
    }
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (host, port) = policy::split_host_port(&authority, 443);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let url = format!("https://{host}/");
    let port = port.unwrap_or(0);
    let active = shared.active();
    let refused = if active.frozen {
        Some(Denial::Frozen)
    } else if let Some(f) = active.dlp.scan_url(&authority) {
        Some(Denial::Secret { kind: f.kind })
    } else {
        policy::check_target(&host, port, Scheme::Https).err()
    };
    if let Some(denial) = refused {
        let mut d = Decision::new("deny", "CONNECT", &url).because(&denial.reason());
        d.tool = denial.tool();
        d.status = Some(403);
        shared.env.log.record(&d);
        return Ok(forward::text(StatusCode::FORBIDDEN, &denial.body(&url)));
    }
    let Ok(tunnel) = Arc::clone(&shared.tunnels).try_acquire_owned() else {
        shared.env.log.record(&Decision {
            status: Some(503),
            ..Decision::new("deny", "CONNECT", &url).because("too many tunnels open")
        });
        return Ok(forward::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "bot-bottle egress has too many tunnels open; close some connections and retry.\n",
        ));
    };
    tokio::spawn(async move {
        let _tunnel = tunnel;
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(_) => return,
        };
        let Ok(config) = shared.server_config(&host) else {
            return;
        };
        let accept = TlsAcceptor::from(config).accept(TokioIo::new(upgraded));
        let handshake = shared.limits.tls_handshake_timeout;
        let Ok(Ok(tls)) = tokio::time::timeout(handshake, accept).await else {
            return;
        };
        let builder = http1(&shared.limits);
        let entry = Entry::Tunnel { host };
        let service = service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let entry = entry.clone();
            async move {
                let _counted = InFlight::new(&shared.in_flight);
                forward::handle(shared.active(), Arc::clone(&shared.env), entry, req).await
            }
        });
        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
    });
    use http_body_util::BodyExt;
    Ok(Response::new(
        http_body_util::Empty::new()
            .map_err(|e: std::convert::Infallible| match e {})
            .boxed(),
    ))
}

/// A request let in, and the listener that serves it.
type Admitted = (Option<Entry>, Request<Incoming>);

/// With a bottle key, a request is served only when it presents the key
/// in `Proxy-Authorization` (the user info of the agent's proxy URL), on
/// every listener; the header goes no further. A request through the
/// proxy to one of egress's own role listeners (`http://egress:PORT/…`,
/// which the agent sends through the proxy when it has a key) is served
/// as that listener serves it. Without a key, nothing changes.
fn admit(
    shared: &Shared,
    entry: Option<Entry>,
    mut req: Request<Incoming>,
) -> Result<Admitted, Box<Response<Body>>> {
    let Some(key) = shared.client_key.get() else {
        return Ok((entry, req));
    };
    if !key.accepts(req.headers().get(http::header::PROXY_AUTHORIZATION)) {
        // Nothing of the request is logged: it came from outside the bottle.
        eprintln!("egress: refused a client without the bottle key");
        let mut refused = forward::text(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "bot-bottle egress serves only its bottle's agent, which presents the bottle key as proxy credentials.\n",
        );
        refused.headers_mut().insert(
            http::header::PROXY_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"bot-bottle egress\""),
        );
        return Err(Box::new(refused));
    }
    req.headers_mut().remove(http::header::PROXY_AUTHORIZATION);
    if entry.is_none()
        && req.method() != Method::CONNECT
        && let Some(port) = own_role_port(&shared.active().policy, req.uri())
    {
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        if let Ok(uri) = path.parse() {
            *req.uri_mut() = uri;
            return Ok((Some(Entry::BaseUrl { port }), req));
        }
    }
    Ok((entry, req))
}

/// The role port an absolute `http://egress:PORT/…` URI names, if egress
/// has a role listener there.
fn own_role_port(policy: &Policy, uri: &http::Uri) -> Option<u16> {
    let host = uri.host()?.trim_end_matches('.');
    let port = uri.port_u16()?;
    (uri.scheme_str() == Some("http")
        && host.eq_ignore_ascii_case(EGRESS)
        && policy.route_for_port(port).is_some())
    .then_some(port)
}

/// Runs the sidecar: serves until SIGTERM or SIGINT, reloading on SIGHUP.
/// It listens on `bind` when given, else on loopback and the internal
/// network's addresses only (see `listen`); with `client_key`, only for
/// clients that present it.
pub(crate) async fn run(
    state_dir: PathBuf,
    bind: Vec<IpAddr>,
    client_key: Option<ClientKey>,
) -> Result<(), ProxyError> {
    let ips = if bind.is_empty() {
        listen::internal_addresses()?
    } else {
        bind
    };
    let (bind_ip, also_bind) = match ips.split_first() {
        Some((first, rest)) => (*first, rest.to_vec()),
        None => (IpAddr::from([127, 0, 0, 1]), Vec::new()),
    };
    let bound = Bound::bind(Options {
        state_dir,
        bind_ip,
        also_bind,
        ephemeral_ports: false,
        overrides: Arc::default(),
        limits: Limits::default(),
    })
    .await?;
    if let Some(key) = client_key {
        bound.require_client_key(key);
    }
    let shared = Arc::clone(&bound.shared);
    eprintln!("egress: listening on {:?}", bound.addrs());
    let signals = async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => match shared.reload() {
                    Ok(()) => eprintln!("egress: reloaded the routes"),
                    Err(e) => eprintln!("egress: reload failed, keeping the old routes: {e}"),
                },
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        eprintln!("egress: shutting down");
    };
    bound.serve(signals).await;
    Ok(())
}
