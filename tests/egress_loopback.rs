//! The egress proxy on loopback, against local upstreams: TLS ones with
//! their own test CA, and a plain HTTP one. The client is the real curl, as
//! an agent would use it: through HTTPS_PROXY, trusting the bottle's CA.
//!
//! The upstreams play the attacks too: echoing the injected credential in
//! the body (plain, gzip, deflate, split across chunks), in a header, in a
//! redirect, in an error page.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bot_bottle::egress::ca::{Signer, new_ca};
use bot_bottle::egress::config::{AuthConfig, EgressConfig, RoleConfig, RouteConfig};
use bot_bottle::egress::proxy::{Bound, Limits, Options, Shared};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

mod support;

const GH_TOKEN: &str = "ghp_realtokenvalue0123456789abcdefghijkl";
const API_KEY: &str = "sk-upstream-real-key-0123456789";
const LLM_KEY: &str = "llm-real-key-9876543210-zyxwvu";

fn sha256(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A body sent in frames, with pauses between them.
struct Frames(mpsc::Receiver<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

type Answer = Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let mut resp = Response::new(http_body_util::Full::new(body.into()).boxed());
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        resp.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Answers with what it received, credentials hashed; under /reflect it
/// hands them back in the clear, every way an upstream might.
async fn echo(req: Request<Incoming>) -> Result<Answer, Infallible> {
    let credential = ["authorization", "x-api-key"]
        .iter()
        .find_map(|h| req.headers().get(*h))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let raw: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let hashed: HashMap<String, String> = raw
        .iter()
        .map(|(k, v)| match k.as_str() {
            "authorization" | "x-api-key" => (k.clone(), format!("sha256:{}", sha256(v))),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let reflected = json!({"method": method, "headers": raw}).to_string();
    let resp = match path.split('?').next().unwrap_or("") {
        "/reflect" => answer(200, &[], reflected),
        "/reflect/gzip" => answer(
            200,
            &[("content-encoding", "gzip")],
            gzip(reflected.as_bytes()),
        ),
        "/reflect/deflate" => answer(
            200,
            &[("content-encoding", "deflate")],
            zlib(reflected.as_bytes()),
        ),
        "/reflect/header" => answer(200, &[("x-echo", &credential)], "look at the headers"),
        "/reflect/redirect" => answer(
            302,
            &[(
                "location",
                &format!(
                    "https://elsewhere.test/callback#{}",
                    credential.replace(' ', "+")
                ),
            )],
            "",
        ),
        "/reflect/error" => answer(
            400,
            &[],
            format!("{}\nbad credential: {credential}\n", "padding ".repeat(300)),
        ),
        "/reflect/split" => {
            let (tx, rx) = mpsc::channel(2);
            let (a, b) = credential.split_at(credential.len() / 2);
            let (first, second) = (format!("{}{a}", "x".repeat(2000)), format!("{b}\n"));
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from(first)).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = tx.send(Bytes::from(second)).await;
            });
            Response::new(Frames(rx).boxed())
        }
        "/brotli" => answer(200, &[("content-encoding", "br")], "not really brotli"),
        "/gzip/clean" => answer(
            200,
            &[("content-encoding", "gzip")],
            gzip(b"hello, a clean compressed answer"),
        ),
        p if p.starts_with("/usage/") => usage_answer(p),
        _ => answer(
            200,
            &[],
            json!({
                "method": method,
                "path": path,
                "headers": hashed,
                "body_len": body.len(),
            })
            .to_string(),
        ),
    };
    Ok(resp)
}

/// A TLS echo server with a certificate for `host` from its own CA; returns
/// its address and the CA's PEM.
async fn tls_upstream(host: &str) -> (SocketAddr, String) {
    let (ca_pem, key_pem) = new_ca().unwrap();
    let leaf = Signer::from_key_pem(&key_pem).unwrap().leaf(host).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(leaf.chain, leaf.key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service_fn(echo))
                        .await;
                }
            });
        }
    });
    (addr, ca_pem)
}

async fn plain_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(echo))
                    .await;
            });
        }
    });
    addr
}

struct Proxy {
    _dir: tempfile::TempDir,
    state: PathBuf,
    ca: PathBuf,
    addr: SocketAddr,
    base_url: SocketAddr,
    shared: Arc<Shared>,
}

/// A route to a local upstream: it may resolve to loopback.
fn route(host: &str, paths: &[&str], auth: Option<(&str, &str)>) -> RouteConfig {
    RouteConfig {
        host: host.into(),
        path_allowlist: paths.iter().map(|s| s.to_string()).collect(),
        auth: auth.map(|(scheme, token)| AuthConfig {
            scheme: scheme.into(),
            token: token.into(),
        }),
        role: None,
        allow_private_addresses: true,
        ..Default::default()
    }
}

fn write_routes(state: &Path, routes: Vec<RouteConfig>, trust: &Path) {
    let config = EgressConfig {
        listen: 3128,
        routes,
        trust_upstream_ca: vec![trust.display().to_string()],
        token_budget: None,
        spend: None,
    };
    std::fs::write(
        state.join("routes.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
}

fn base_routes() -> Vec<RouteConfig> {
    let mut api = route("api.test", &["/v1/"], Some(("header:x-api-key", "t1")));
    api.role = Some(RoleConfig {
        name: "anthropic-base-url".into(),
        listen: 4001,
    });
    let mut llm = route("llm.test", &[], Some(("bearer", "t2")));
    llm.block_server_tools = true;
    let mut private = route("private.test", &[], None);
    private.allow_private_addresses = false;
    vec![
        route("upstream.test", &["/repos/acme/"], Some(("bearer", "t0"))),
        route("plain.test", &[], None),
        api,
        route("reflect.test", &[], Some(("bearer", "t0"))),
        llm,
        private,
    ]
}

async fn start_proxy(limits: Limits) -> Proxy {
    let mut overrides = HashMap::new();
    let mut cas = String::new();
    for host in [
        "upstream.test",
        "api.test",
        "newhost.test",
        "reflect.test",
        "llm.test",
        "private.test",
    ] {
        let (addr, ca) = tls_upstream(host).await;
        overrides.insert(host.to_owned(), addr);
        cas.push_str(&ca);
    }
    overrides.insert("plain.test".to_owned(), plain_upstream().await);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("egress");
    std::fs::create_dir_all(&state).unwrap();
    let (ca_cert, ca_key) = new_ca().unwrap();
    std::fs::write(state.join("ca.pem"), &ca_cert).unwrap();
    std::fs::write(state.join("ca.key"), &ca_key).unwrap();
    let trust = dir.path().join("upstream-ca.pem");
    std::fs::write(&trust, cas).unwrap();
    write_routes(&state, base_routes(), &trust);
    std::fs::write(
        state.join("tokens.json"),
        json!({"t0": GH_TOKEN, "t1": API_KEY, "t2": LLM_KEY}).to_string(),
    )
    .unwrap();
    let bound = Bound::bind(Options {
        state_dir: state.clone(),
        bind_ip: [127, 0, 0, 1].into(),
        also_bind: vec![],
        ephemeral_ports: true,
        overrides: Arc::new(overrides),
        limits,
    })
    .await
    .unwrap();
    let addr = bound.proxy_addr().unwrap();
    let base_url = bound.addr(4001).unwrap();
    let shared = Arc::clone(&bound.shared);
    tokio::spawn(bound.serve(std::future::pending()));
    Proxy {
        ca: state.join("ca.pem"),
        _dir: dir,
        state,
        addr,
        base_url,
        shared,
    }
}

/// curl straight to `url` (a role's base URL): the status it got.
async fn direct_status(url: String) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl through the proxy; returns (status, body).
async fn curl(proxy: &Proxy, url: &str, extra: &[&str]) -> (u16, String) {
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--max-time".into(),
        "10".into(),
        "--proxy".into(),
        format!("http://{}", proxy.addr),
        "--cacert".into(),
        proxy.ca.display().to_string(),
        "-w".into(),
        "\n%{http_code}".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// curl with a body read from a file written here.
async fn curl_file(proxy: &Proxy, url: &str, body: &[u8], extra: &[&str]) -> (u16, String) {
    let file = tempfile::NamedTempFile::new_in(&proxy.state).unwrap();
    std::fs::write(file.path(), body).unwrap();
    let data = format!("@{}", file.path().display());
    let mut args = vec!["--data-binary", data.as_str()];
    args.extend_from_slice(extra);
    curl(proxy, url, &args).await
}

fn echoed(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an echo ({e}): {body}"))
}

fn log_lines(proxy: &Proxy) -> Vec<Value> {
    std::fs::read_to_string(proxy.state.join("decisions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The decision log has a deny line for `url` whose reason contains `why`.
fn logged_deny(proxy: &Proxy, url: &str, why: &str) -> bool {
    log_lines(proxy).iter().any(|d| {
        d["action"] == "deny"
            && d["url"] == url
            && d["reason"].as_str().is_some_and(|r| r.contains(why))
    })
}

/// Neither the secret nor any long piece of it.
fn leaks(text: &str, secret: &str) -> bool {
    (0..=secret.len().saturating_sub(8)).any(|i| text.contains(&secret[i..i + 8]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_injection_dlp_and_reload() {
    let proxy = start_proxy(Limits::default()).await;

    // Allowed: the route's credential replaces the agent's.
    let (code, body) = curl(
        &proxy,
        "https://upstream.test/repos/acme/widget?page=2",
        &["-H", "Authorization: Bearer agent-made-this-up"],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let echo = echoed(&body);
    assert_eq!(echo["path"], "/repos/acme/widget?page=2");
    assert_eq!(
        echo["headers"]["authorization"],
        format!("sha256:{}", sha256(&format!("Bearer {GH_TOKEN}")))
    );
    assert_eq!(echo["headers"]["host"], "upstream.test");

    // Denied by host: the body names the tool and the URL.
    let (code, body) = curl(&proxy, "https://elsewhere.test/x", &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("pipelock-block") && body.contains("https://elsewhere.test/x"),
        "{body}"
    );

    // Denied by path, including a traversal.
    for url in [
        "https://upstream.test/repos/other/x",
        "https://upstream.test/repos/acme/%2e%2e/other",
    ] {
        let (code, body) = curl(&proxy, url, &["--path-as-is"]).await;
        assert_eq!(code, 403, "{url}: {body}");
        assert!(
            body.contains("egress-block") || body.contains("dot segment"),
            "{body}"
        );
    }

    // DLP: a known token pattern in a header, and the route's own secret
    // base64-encoded in the body, never reach the upstream.
    let aws = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let header = format!("X-Debug: {aws}");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(GH_TOKEN);
    let data = format!("{{\"note\": \"{encoded}\"}}");
    // What the refusal must say, where the test looks at it.
    for (args, says) in [(["-H", &header], Some("secret")), (["--data", &data], None)] {
        let (code, body) = curl(&proxy, "https://upstream.test/repos/acme/x", &args).await;
        assert_eq!(code, 403, "{body}");
        if let Some(says) = says {
            assert!(body.contains(says), "{body}");
        }
    }

    // A large body is scanned as it streams: a secret after the buffered part.
    let upload = "https://upstream.test/repos/acme/upload";
    let mut big = "a".repeat(3 * 1024 * 1024);
    big.push_str(GH_TOKEN);
    let (code, _) = curl_file(&proxy, upload, big.as_bytes(), &[]).await;
    assert_ne!(
        code, 200,
        "a secret at the end of a large body went through"
    );
    let clean = "b".repeat(3 * 1024 * 1024);
    let (code, body) = curl_file(&proxy, upload, clean.as_bytes(), &[]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(echoed(&body)["body_len"], 3 * 1024 * 1024);

    // Plain HTTP follows the same routes.
    let (code, body) = curl(&proxy, "http://plain.test/simple/", &[]).await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = curl(&proxy, "http://elsewhere.test/", &[]).await;
    assert_eq!(code, 403);

    // CONNECT to a raw IP or another port is refused.
    let (code, _) = curl(&proxy, "https://127.0.0.1/", &["-k"]).await;
    assert_ne!(code, 200);
    let (code, _) = curl(&proxy, "https://upstream.test:8443/repos/acme/x", &[]).await;
    assert_ne!(code, 200);

    // Reload: a new route works without a restart.
    let (code, _) = curl(&proxy, "https://newhost.test/", &[]).await;
    assert_eq!(code, 403);
    let trust = proxy.state.parent().unwrap().join("upstream-ca.pem");
    write_routes(
        &proxy.state,
        vec![
            route("upstream.test", &["/repos/acme/"], Some(("bearer", "t0"))),
            route("newhost.test", &[], None),
        ],
        &trust,
    );
    proxy.shared.reload().unwrap();
    let (code, body) = curl(&proxy, "https://newhost.test/hello", &[]).await;
    assert_eq!(code, 200, "{body}");
    assert!(echoed(&body)["headers"].get("authorization").is_none());

    // Every decision is logged, without the query or a secret.
    let log = std::fs::read_to_string(proxy.state.join("decisions.jsonl")).unwrap();
    assert!(log.lines().count() >= 10, "{log}");
    assert!(!leaks(&log, GH_TOKEN) && !log.contains("page=2"), "{log}");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_listener_swaps_the_placeholder() {
    let proxy = start_proxy(Limits::default()).await;
    let url = format!("http://{}/v1/messages", proxy.base_url);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-H",
                "x-api-key: bot-bottle-placeholder",
                &url,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let echo = echoed(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        echo["headers"]["x-api-key"],
        format!("sha256:{}", sha256(API_KEY))
    );
    assert_eq!(echo["headers"]["host"], "api.test");
    assert_eq!(echo["path"], "/v1/messages");

    let url = format!("http://{}/admin", proxy.base_url);
    assert_eq!(direct_status(url).await, "403");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_never_comes_back() {
    let proxy = start_proxy(Limits::default()).await;
    let base = "https://reflect.test";

    // Reflected in the body, plain or compressed (asked for or not): the
    // body is cut off before the credential, and the cut is logged.
    for (path, extra) in [
        ("/reflect", vec![]),
        ("/reflect/gzip", vec![]),
        ("/reflect/gzip", vec!["--compressed"]),
        ("/reflect/deflate", vec!["--compressed"]),
        ("/reflect/error", vec![]),
        ("/reflect/split", vec![]),
    ] {
        let url = format!("{base}{path}");
        let (_, body) = curl(&proxy, &url, &extra).await;
        assert!(!leaks(&body, GH_TOKEN), "{path} {extra:?}: {body}");
        assert!(
            logged_deny(&proxy, &url, "carried the credential"),
            "{path}: {:?}",
            log_lines(&proxy)
        );
    }
    // What came before the credential did pass: the stream was cut, not
    // refused whole.
    let (_, body) = curl(&proxy, &format!("{base}/reflect/split"), &[]).await;
    assert!(body.starts_with("xxxxxxxx"), "{body}");

    // Reflected in a header, or in a redirect's Location: 502 instead.
    for path in ["/reflect/header", "/reflect/redirect"] {
        let url = format!("{base}{path}");
        let (code, body) = curl(&proxy, &url, &["-i"]).await;
        assert_eq!(code, 502, "{path}: {body}");
        assert!(!leaks(&body, GH_TOKEN), "{path}: {body}");
        assert!(body.contains("headers carry the credential"), "{body}");
        assert!(logged_deny(&proxy, &url, "headers carry the credential"));
    }

    // TRACE and TRACK would echo the request; they never leave.
    for method in ["TRACE", "TRACK"] {
        let url = format!("{base}/reflect");
        let (code, body) = curl(&proxy, &url, &["-X", method]).await;
        assert_eq!(code, 403, "{method}: {body}");
        assert!(
            body.contains(&format!("method {method} is not allowed")),
            "{body}"
        );
        assert!(!leaks(&body, GH_TOKEN));
    }

    // Nor do they through a method override a framework would honour.
    for (url, extra) in [
        (
            format!("{base}/reflect"),
            vec!["-X", "POST", "-H", "X-HTTP-Method-Override: TRACE"],
        ),
        (format!("{base}/reflect?_method=track"), vec!["-X", "POST"]),
    ] {
        let (code, body) = curl(&proxy, &url, &extra).await;
        assert_eq!(code, 403, "{url}: {body}");
        assert!(body.contains("method override"), "{body}");
    }

    // An answer in an encoding the proxy cannot decode is cut off whole.
    let (code, body) = curl(&proxy, &format!("{base}/brotli"), &[]).await;
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("'br'"), "{body}");

    // A clean compressed answer is passed on, decoded.
    for extra in [vec![], vec!["--compressed"]] {
        let (code, body) = curl(&proxy, &format!("{base}/gzip/clean"), &extra).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body, "hello, a clean compressed answer");
    }

    // Range requests on a credentialed route get the whole answer, so the
    // scan sees the whole of it.
    let (code, body) = curl(&proxy, &format!("{base}/anything"), &["-r", "0-3"]).await;
    assert_eq!(code, 200, "{body}");
    assert!(echoed(&body)["headers"].get("range").is_none());

    // Plain HTTP never carries the credential.
    let (code, body) = curl(&proxy, "http://reflect.test/reflect", &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("https://reflect.test/"), "{body}");
    assert!(!leaks(&body, GH_TOKEN));
    assert!(logged_deny(
        &proxy,
        "http://reflect.test/reflect",
        "plain HTTP"
    ));

    let log = std::fs::read_to_string(proxy.state.join("decisions.jsonl")).unwrap();
    assert!(!leaks(&log, GH_TOKEN), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_request_bodies_are_checked() {
    let proxy = start_proxy(Limits::default()).await;
    let url = "https://upstream.test/repos/acme/upload";
    let secret = format!("{{\"note\": \"{GH_TOKEN}\"}}");
    let aws = format!("key=AKIA{}", "QWERTYUIOPASDFGH");
    let zstd = |d: &[u8]| {
        ruzstd::encoding::compress_to_vec(d, ruzstd::encoding::CompressionLevel::Fastest)
    };
    for (coding, body) in [
        ("gzip", gzip(secret.as_bytes())),
        ("gzip", gzip(aws.as_bytes())),
        ("deflate", zlib(secret.as_bytes())),
        ("zstd", zstd(secret.as_bytes())),
    ] {
        let header = format!("Content-Encoding: {coding}");
        let (code, reply) = curl_file(&proxy, url, &body, &["-H", &header]).await;
        assert_eq!(code, 403, "{coding}: {reply}");
        assert!(reply.contains("secret"), "{reply}");
    }
    // Undecodable, corrupt, stacked, or a bomb: refused.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("br", b"whatever".to_vec(), "'br'"),
        ("gzip", b"not gzip".to_vec(), "not valid gzip"),
        ("gzip, gzip", gzip(&gzip(b"x")), "stacked"),
        (
            "gzip",
            gzip(&vec![0u8; 80 * 1024 * 1024]),
            "decodes to more than",
        ),
    ];
    for (coding, body, why) in cases {
        let header = format!("Content-Encoding: {coding}");
        let (code, reply) = curl_file(&proxy, url, &body, &["-H", &header]).await;
        assert_eq!(code, 403, "{coding}: {reply}");
        assert!(reply.contains(why), "{coding}: {reply}");
    }
    // A clean compressed body goes through as it was sent.
    let clean = gzip(b"{\"note\": \"nothing to see\"}");
    let (code, reply) = curl_file(&proxy, url, &clean, &["-H", "Content-Encoding: gzip"]).await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(echoed(&reply)["body_len"], clean.len());
    // Too large to check before it leaves: refused, not streamed unchecked.
    let big: Vec<u8> = support::xorshift(0x2545_f491_4f6c_dd1d)
        .take(3 * 1024 * 1024)
        .map(|x| x as u8)
        .collect();
    let (code, reply) =
        curl_file(&proxy, url, &gzip(&big), &["-H", "Content-Encoding: gzip"]).await;
    assert_eq!(code, 403, "{reply}");
    assert!(reply.contains("too large to decode"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_checked_as_an_upstream_would_read_them() {
    let proxy = start_proxy(Limits::default()).await;
    for (path, why) in [
        ("/repos/acme/..;/other/x", "';'"),
        ("/repos/acme/..%3B/other/x", "%3B"),
        ("/repos/acme%2F..%2Fother", "%2F"),
        ("/repos/acme/..%5Cother", "%5C"),
        ("/repos/acme/%252e%252e/other", "%25"),
        ("/repos/acme/../other", "dot segment"),
    ] {
        let url = format!("https://upstream.test{path}");
        let (code, body) = curl(&proxy, &url, &["--path-as-is"]).await;
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body.contains(why), "{path}: {body}");
        assert!(logged_deny(&proxy, &url, why), "{path}");
    }
    // What is checked is what is sent: the canonical form.
    for (path, sent) in [
        ("/repos//acme/x", "/repos/acme/x"),
        ("/%72epos/acme/x?q=1", "/repos/acme/x?q=1"),
    ] {
        let url = format!("https://upstream.test{path}");
        let (code, body) = curl(&proxy, &url, &["--path-as-is"]).await;
        assert_eq!(code, 200, "{path}: {body}");
        assert_eq!(echoed(&body)["path"], sent, "{path}");
    }
    // A route with no allowlist takes any path, as sent.
    let (code, body) = curl(
        &proxy,
        "https://reflect.test/a/..;/b//c%2F",
        &["--path-as-is"],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(echoed(&body)["path"], "/a/..;/b//c%2F");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_need_the_route_to_allow_them() {
    let proxy = start_proxy(Limits::default()).await;
    let url = "https://private.test/x";
    let (code, body) = curl(&proxy, url, &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("127.0.0.1") && body.contains("loopback"),
        "{body}"
    );
    assert!(body.contains("allow_private_addresses"), "{body}");
    assert!(logged_deny(&proxy, url, "non-public address"));

    // The same route, allowed, reaches it.
    let mut routes = base_routes();
    for r in &mut routes {
        r.allow_private_addresses = true;
    }
    let trust = proxy.state.parent().unwrap().join("upstream-ca.pem");
    write_routes(&proxy.state, routes, &trust);
    proxy.shared.reload().unwrap();
    let (code, body) = curl(&proxy, url, &[]).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_tools_are_refused() {
    let proxy = start_proxy(Limits::default()).await;
    let url = "https://llm.test/v1/messages";
    let json = ["-H", "Content-Type: application/json"];
    let refused: Vec<(Value, &str)> = vec![
        (
            json!({"model": "m", "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "messages": [], "mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x"}]}),
            "mcp_servers",
        ),
        (
            json!({"model": "m", "input": [], "tools": [{"type": "mcp", "server_label": "x", "server_url": "https://mcp.example"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/?q=data"}}]}]}),
            "messages[0].content[0].source.url",
        ),
    ];
    for (body, field) in &refused {
        let text = body.to_string();
        let (code, reply) = curl_file(&proxy, url, text.as_bytes(), &json).await;
        assert_eq!(code, 403, "{body}: {reply}");
        assert!(reply.contains(field), "{reply}");
        // Compressed, or sent as something other than JSON: the same.
        let (code, reply) = curl_file(
            &proxy,
            url,
            &gzip(text.as_bytes()),
            &[
                "-H",
                "Content-Encoding: gzip",
                "-H",
                "Content-Type: text/plain",
            ],
        )
        .await;
        assert_eq!(code, 403, "gzip {body}: {reply}");
        assert!(reply.contains(field), "{reply}");
    }
    assert!(logged_deny(&proxy, url, "server-side tool"));
    // Duplicate keys are refused: parsers disagree on which one wins.
    let dup = r#"{"tools": [], "tools": [{"type": "web_search"}]}"#;
    let (code, reply) = curl_file(&proxy, url, dup.as_bytes(), &json).await;
    assert_eq!(code, 403, "{reply}");
    // Client-side tools pass.
    let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}, {"type": "bash_20250124", "name": "bash"}]});
    let (code, reply) = curl_file(&proxy, url, ok.to_string().as_bytes(), &json).await;
    assert_eq!(code, 200, "{reply}");
    // Routes without the flag do not look.
    let (code, reply) = curl_file(
        &proxy,
        "https://reflect.test/v1/messages",
        refused[0].0.to_string().as_bytes(),
        &json,
    )
    .await;
    assert_eq!(code, 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_let_go() {
    let limits = Limits {
        connections: 3,
        header_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let proxy = start_proxy(limits).await;

    // A client that never finishes its headers is closed.
    let start = Instant::now();
    let mut loris = TcpStream::connect(proxy.addr).await.unwrap();
    loris
        .write_all(b"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(8), loris.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "still open after {:?}",
        start.elapsed()
    );
    assert!(start.elapsed() >= Duration::from_secs(1));

    // So is an idle keep-alive connection.
    let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
    idle.write_all(b"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle connection stayed open");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // Past the connection limit, a new client waits until a slot frees.
    let mut hogs = Vec::new();
    for _ in 0..3 {
        hogs.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = curl(&proxy, "http://plain.test/", &["--max-time", "1"]).await;
    assert_eq!(code, 0, "served past the connection limit");
    // The hogs send nothing, so the header timeout frees their slots.
    let (code, body) = curl(&proxy, "http://plain.test/", &[]).await;
    assert_eq!(code, 200, "{body}");
    drop(hogs);
}

/// Sends `head` and then all of `body` to the proxy over plain TCP, while
/// reading the answer to its end. Returns whether every byte of the body
/// went out (an error when the connection was reset under the client),
/// and the answer.
async fn send_whole(proxy: &Proxy, head: &str, body: Vec<u8>) -> (std::io::Result<()>, String) {
    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let head = head.to_owned();
    let sender = tokio::spawn(async move {
        tx.write_all(head.as_bytes()).await?;
        for piece in body.chunks(64 * 1024) {
            tx.write_all(piece).await?;
        }
        tx.flush().await?;
        // Keep the sending half open until the answer is read.
        Ok::<_, std::io::Error>(tx)
    });
    let mut answer = Vec::new();
    let read = rx.read_to_end(&mut answer);
    let _ = tokio::time::timeout(Duration::from_secs(60), read).await;
    let sent = sender.await.unwrap().map(drop);
    (sent, String::from_utf8_lossy(&answer).into_owned())
}

/// On one thread, as the sidecar runs.
#[tokio::test]
async fn refusals_reach_a_client_still_sending() {
    let proxy = start_proxy(Limits::default()).await;
    // Far more than the socket buffers hold: the client is still sending
    // when the proxy decides.
    let size = 24 * 1024 * 1024;
    let mut with_key = vec![b'a'; size];
    let key = format!(" AKIA{} ", "QWERTYUIOPASDFGH");
    with_key[4 << 20..(4 << 20) + key.len()].copy_from_slice(key.as_bytes());
    let cases = [
        // Refused from its headers: an unknown host, a secret in a header.
        ("elsewhere.test", "", vec![b'a'; size], "elsewhere.test"),
        (
            "plain.test",
            "X-Debug: AKIAQWERTYUIOPASDFGH\r\n",
            vec![b'a'; size],
            "secret",
        ),
        // Refused part way: compressed and too large to check, a secret
        // in a body that streams.
        (
            "plain.test",
            "Content-Encoding: gzip\r\n",
            vec![b'a'; size],
            "too large to decode",
        ),
        ("plain.test", "", with_key, "secret"),
    ];
    for (host, extra, body, why) in cases {
        let head = format!(
            "POST http://{host}/upload HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (sent, answer) = send_whole(&proxy, &head, body).await;
        assert!(
            answer.starts_with("HTTP/1.1 403") && answer.contains(why),
            "{host} {extra}: {answer:?}"
        );
        assert!(
            sent.is_ok(),
            "{host} {extra}: sending was cut off: {sent:?}"
        );
    }
}

/// RFC 4648 base32, upper case, padded.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for group in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..group.len()].copy_from_slice(group);
        let v = block.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
        for i in 0..8 {
            out.push(if i < (group.len() * 8).div_ceil(5) {
                ALPHABET[(v >> (35 - 5 * i) & 31) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layered_encodings_are_refused() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let proxy = start_proxy(Limits::default()).await;
    let url = "https://upstream.test/repos/acme/upload";
    let aws = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    // Compressed for real: a random key alone may be stored as it is, so
    // each is in a text that repeats it.
    let best = flate2::Compression::best();
    let gzip = |d: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), best);
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let zlib = |d: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), best);
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let own = format!("GITHUB_TOKEN={GH_TOKEN}\nGH_TOKEN={GH_TOKEN}\n");
    let key = format!("aws_access_key_id = {aws}\n# {aws}\n");
    // The bottle's own credential and a known key shape, layered.
    let bodies = [
        format!(r#"{{"note": "{}"}}"#, base32(GH_TOKEN.as_bytes())),
        base32(GH_TOKEN.as_bytes())
            .trim_end_matches('=')
            .to_lowercase(),
        format!(r#"{{"blob": "{}"}}"#, STANDARD.encode(gzip(key.as_bytes()))),
        format!("x={}", URL_SAFE_NO_PAD.encode(zlib(own.as_bytes()))),
        hex(STANDARD.encode(gzip(own.as_bytes())).as_bytes()),
        base32(&zlib(key.as_bytes())),
        STANDARD.encode(STANDARD.encode(gzip(key.as_bytes()))),
        format!(
            r#"{{"type":"Buffer","data":[{}]}}"#,
            GH_TOKEN
                .bytes()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    ];
    for body in &bodies {
        let (code, reply) = curl_file(&proxy, url, body.as_bytes(), &[]).await;
        assert_eq!(code, 403, "{body}: {reply}");
        assert!(reply.contains("secret"), "{reply}");
    }
    // In the URL and in a header too.
    let query = format!("{url}?d={}", URL_SAFE_NO_PAD.encode(gzip(own.as_bytes())));
    let (code, reply) = curl(&proxy, &query, &[]).await;
    assert_eq!(code, 403, "{reply}");
    let header = format!("X-Trace: {}", base32(aws.as_bytes()).to_lowercase());
    let (code, reply) = curl(&proxy, url, &["-H", &header]).await;
    assert_eq!(code, 403, "{reply}");
    // Compressed past what is decompressed to check it: refused, and the
    // agent is told why.
    let bomb = format!(
        r#"{{"blob": "{}"}}"#,
        STANDARD.encode(gzip(&vec![b'a'; 8 << 20]))
    );
    let (code, reply) = curl_file(&proxy, url, bomb.as_bytes(), &[]).await;
    assert_eq!(code, 403, "{reply}");
    assert!(reply.contains("compressed past"), "{reply}");
    // Clean look-alikes pass, as sent.
    let prose = "The quick brown fox jumps over the lazy dog. ".repeat(200);
    let clean = [
        format!(r#"{{"note": "{}"}}"#, base32(prose.as_bytes())),
        format!(
            r#"{{"blob": "{}"}}"#,
            STANDARD.encode(gzip(prose.as_bytes()))
        ),
        hex(&zlib(prose.as_bytes())),
        "SELECT ORDERS.ID FROM ORDERS WHERE CUSTOMERS.NAME = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'".into(),
    ];
    for body in &clean {
        let (code, reply) = curl_file(&proxy, url, body.as_bytes(), &[]).await;
        assert_eq!(code, 200, "{body}: {reply}");
        assert_eq!(echoed(&reply)["body_len"], body.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_bottle_sends_nothing_until_thawed() {
    let proxy = start_proxy(Limits::default()).await;
    let frozen = proxy.state.join("frozen");
    std::fs::write(&frozen, "").unwrap();
    proxy.shared.reload().unwrap();

    // Every way out is refused: a tunnel, plain HTTP, a role's base URL.
    // CONNECT is refused before a tunnel opens.
    for url in [
        "https://newhost.test/x",
        "https://upstream.test/repos/acme/x",
    ] {
        let (code, body) = curl(&proxy, url, &[]).await;
        assert_ne!(code, 200, "{url}: {body}");
    }
    let (code, body) = curl(&proxy, "http://plain.test/", &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("the operator froze this bottle"), "{body}");
    let url = format!("http://{}/v1/messages", proxy.base_url);
    assert_eq!(direct_status(url).await, "403");
    // Logged as the operator's doing: no tool, so learning mode skips it.
    let frozen_denials: Vec<Value> = log_lines(&proxy)
        .into_iter()
        .filter(|d| d["reason"] == "the operator froze this bottle")
        .collect();
    assert_eq!(frozen_denials.len(), 4, "{frozen_denials:?}");
    assert!(frozen_denials.iter().all(|d| d.get("tool").is_none()));

    // Thawed: the routes are in force again.
    std::fs::remove_file(&frozen).unwrap();
    proxy.shared.reload().unwrap();
    let (code, body) = curl(&proxy, "https://upstream.test/repos/acme/x", &[]).await;
    assert_eq!(code, 200, "{body}");
}

/// An Anthropic stream, as a model API sends it (see `usage_answer`).
const USAGE_SSE: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test-1","content":[],"usage":{"input_tokens":21,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,"output_tokens":1}}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Grüße, \"usage\": none ✓"}}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}"#,
    "\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

const USAGE_RESPONSES: &str = r#"{"id":"resp_1","object":"response","model":"gpt-test-5","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":20},"output_tokens":7,"total_tokens":127}}"#;

const USAGE_CHAT: &str = r#"{"id":"c","object":"chat.completion","model":"gpt-test-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;

/// Model API answers under /usage/: the Anthropic stream in pieces cut
/// mid-line and mid-character, with pauses; the Responses JSON whole; the
/// chat completion gzip-compressed.
fn usage_answer(path: &str) -> Answer {
    match path {
        "/usage/v1/messages" => {
            let (tx, rx) = mpsc::channel(4);
            let bytes = Bytes::from_static(USAGE_SSE.as_bytes());
            let cuts = [0, 50, USAGE_SSE.find("üß").unwrap() + 1, 400, bytes.len()];
            tokio::spawn(async move {
                for w in cuts.windows(2) {
                    let _ = tx.send(bytes.slice(w[0]..w[1])).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            let mut resp = Response::new(Frames(rx).boxed());
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            resp
        }
        "/usage/v1/responses" => answer(
            200,
            &[("content-type", "application/json")],
            USAGE_RESPONSES,
        ),
        "/usage/v1/chat/completions" => answer(
            200,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(USAGE_CHAT.as_bytes()),
        ),
        _ => answer(404, &[], "no such model API"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_usage_is_counted_as_answers_pass() {
    let proxy = start_proxy(Limits::default()).await;
    let post = ["-H", "content-type: application/json", "--data", "{}"];
    for _ in 0..2 {
        let (code, body) = curl(&proxy, "https://llm.test/usage/v1/messages", &post).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body, USAGE_SSE, "the stream reached the agent unchanged");
    }
    let (code, body) = curl(&proxy, "https://llm.test/usage/v1/responses", &post).await;
    assert_eq!((code, body.as_str()), (200, USAGE_RESPONSES));
    let (code, body) = curl(&proxy, "https://llm.test/usage/v1/chat/completions", &post).await;
    assert_eq!((code, body.as_str()), (200, USAGE_CHAT));
    // Not a model API's answer to a request: not counted.
    let (code, _) = curl(&proxy, "https://llm.test/usage/v1/responses", &[]).await;
    assert_eq!(code, 200);

    let want = json!({
        "claude-test-1": {"requests": 2, "input": 42, "output": 84, "cache_read": 8000, "cache_write": 600},
        "gpt-test-5": {"requests": 1, "input": 100, "output": 7, "cache_read": 20, "cache_write": 0},
        "gpt-test-4o": {"requests": 1, "input": 9, "output": 3, "cache_read": 0, "cache_write": 0},
    });
    let file = proxy.state.join("usage.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    let usage = loop {
        let read = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if let Some(usage) = read.filter(|u| u["models"] == want) {
            break usage;
        }
        assert!(
            Instant::now() < deadline,
            "usage.json never held the counts: {:?}",
            std::fs::read_to_string(&file)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let updated = usage["updated_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(updated).is_ok(), "{updated}");
}

/// Sets `token_budget` in the proxy's routes and reloads them.
fn set_token_budget(proxy: &Proxy, budget: u64) {
    let path = proxy.state.join("routes.json");
    let mut config: EgressConfig =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config.token_budget = Some(budget);
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    proxy.shared.reload().unwrap();
}

/// Waits until usage.json counts `requests` answers of `model`.
async fn counted(proxy: &Proxy, model: &str, requests: u64) {
    let file = proxy.state.join("usage.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if read.is_some_and(|u| u["models"][model]["requests"] == requests) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{model} never counted {requests}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_token_budget_a_bottles_model_calls_are_refused_until_raised() {
    let proxy = start_proxy(Limits::default()).await;
    // One Anthropic answer of the stand-in reports 4,363 tokens in all.
    set_token_budget(&proxy, 5_000);
    let post = ["-H", "content-type: application/json", "--data", "{}"];
    let messages = "https://llm.test/usage/v1/messages";
    for n in 1..=2 {
        let (code, body) = curl(&proxy, messages, &post).await;
        assert_eq!((code, body.as_str()), (200, USAGE_SSE), "under the budget");
        counted(&proxy, "claude-test-1", n).await;
    }
    // 8,726 of 5,000: refused, in each API's own error shape.
    let (code, body) = curl(&proxy, messages, &post).await;
    assert_eq!(code, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "permission_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("token budget is spent (8726 of 5000 tokens)"),
        "{message}"
    );
    let (code, body) = curl(&proxy, "https://llm.test/usage/v1/responses", &post).await;
    assert_eq!(code, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "insufficient_quota");
    // Not a model call: served as the routes say.
    let (code, _) = curl(&proxy, "https://llm.test/usage/v1/responses", &[]).await;
    assert_eq!(code, 200);
    assert!(logged_deny(&proxy, messages, "token budget is spent"));
    assert!(
        log_lines(&proxy)
            .iter()
            .filter(|d| d["reason"].as_str().is_some_and(|r| r.contains("budget")))
            .all(|d| d.get("tool").is_none()),
        "not a route to ask for: learning mode leaves it"
    );

    // Raised by the operator: served again.
    set_token_budget(&proxy, 100_000);
    let (code, body) = curl(&proxy, messages, &post).await;
    assert_eq!((code, body.as_str()), (200, USAGE_SSE));
}

/// Sets the spend budget (US dollars) and its price table in the proxy's
/// routes, and reloads them.
fn set_spend_budget(proxy: &Proxy, dollars: f64, prices: Value) {
    let path = proxy.state.join("routes.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["spend"] = serde_json::json!({"budget": dollars, "prices": prices});
    // What egress reads is what the host writes.
    let _: EgressConfig = serde_json::from_value(config.clone()).unwrap();
    std::fs::write(&path, config.to_string()).unwrap();
    proxy.shared.reload().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_spend_budget_a_bottles_model_calls_are_refused_until_raised() {
    let proxy = start_proxy(Limits::default()).await;
    // Every Anthropic token of the stand-in at $1,000 a million: one
    // answer (4,363 tokens) costs $4.363. The Responses model has no
    // price: it costs nothing.
    let prices = serde_json::json!({
        "claude-test": {"input": 1000, "output": 1000, "cache_read": 1000, "cache_write": 1000},
        "claude-other": {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0},
    });
    set_spend_budget(&proxy, 5.0, prices.clone());
    let post = ["-H", "content-type: application/json", "--data", "{}"];
    let messages = "https://llm.test/usage/v1/messages";
    let responses = "https://llm.test/usage/v1/responses";
    for n in 1..=3 {
        let (code, _) = curl(&proxy, responses, &post).await;
        assert_eq!(code, 200, "an unpriced model counts as $0");
        counted(&proxy, "gpt-test-5", n).await;
    }
    for n in 1..=2 {
        let (code, body) = curl(&proxy, messages, &post).await;
        assert_eq!((code, body.as_str()), (200, USAGE_SSE), "under the budget");
        counted(&proxy, "claude-test-1", n).await;
    }
    // $8.726 of $5: refused, in each API's own error shape.
    let (code, body) = curl(&proxy, messages, &post).await;
    assert_eq!(code, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "permission_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("spend budget is spent ($8.73 of $5.00"),
        "{message}"
    );
    let (code, body) = curl(&proxy, responses, &post).await;
    assert_eq!(code, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "insufficient_quota");
    assert_eq!(error["error"]["code"], "budget_spent");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$8.73 of $5.00"),
        "{error}"
    );
    // Not a model call: served as the routes say.
    let (code, _) = curl(&proxy, responses, &[]).await;
    assert_eq!(code, 200);
    assert!(logged_deny(&proxy, messages, "spend budget is spent"));
    assert!(
        log_lines(&proxy)
            .iter()
            .filter(|d| d["reason"].as_str().is_some_and(|r| r.contains("budget")))
            .all(|d| d.get("tool").is_none()),
        "not a route to ask for: learning mode leaves it"
    );

    // Raised by the operator: served again.
    set_spend_budget(&proxy, 10.0, prices);
    let (code, body) = curl(&proxy, messages, &post).await;
    assert_eq!((code, body.as_str()), (200, USAGE_SSE));
}
