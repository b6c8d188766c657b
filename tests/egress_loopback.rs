//! The egress proxy on loopback, against local upstreams: a TLS one with its
//! own test CA, and a plain HTTP one. The client is the real curl, as an
//! agent would use it: through HTTPS_PROXY, trusting the bottle's CA.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bot_bottle::egress::ca::{Signer, new_ca};
use bot_bottle::egress::config::{AuthConfig, EgressConfig, RoleConfig, RouteConfig};
use bot_bottle::egress::proxy::{Bound, Options, Shared};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const GH_TOKEN: &str = "ghp_realtokenvalue0123456789abcdefghijkl";
const API_KEY: &str = "sk-upstream-real-key-0123456789";

/// Answers every request with what it received, as JSON.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
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
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let answer = json!({"method": method, "path": path, "headers": headers, "body_len": body});
    Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
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

fn route(host: &str, paths: &[&str], auth: Option<(&str, &str)>) -> RouteConfig {
    RouteConfig {
        host: host.into(),
        path_allowlist: paths.iter().map(|s| s.to_string()).collect(),
        auth: auth.map(|(scheme, token)| AuthConfig {
            scheme: scheme.into(),
            token: token.into(),
        }),
        role: None,
        ..Default::default()
    }
}

fn write_routes(state: &Path, routes: Vec<RouteConfig>, trust: &Path) {
    let config = EgressConfig {
        listen: 3128,
        routes,
        trust_upstream_ca: vec![trust.display().to_string()],
    };
    std::fs::write(
        state.join("routes.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
}

async fn start_proxy() -> Proxy {
    let (tls_addr, ca1) = tls_upstream("upstream.test").await;
    let (api_addr, ca2) = tls_upstream("api.test").await;
    let (new_addr, ca3) = tls_upstream("newhost.test").await;
    let upstream_ca = format!("{ca1}{ca2}{ca3}");
    let plain_addr = plain_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("egress");
    std::fs::create_dir_all(&state).unwrap();
    let (ca_cert, ca_key) = new_ca().unwrap();
    std::fs::write(state.join("ca.pem"), &ca_cert).unwrap();
    std::fs::write(state.join("ca.key"), &ca_key).unwrap();
    let trust = dir.path().join("upstream-ca.pem");
    std::fs::write(&trust, upstream_ca).unwrap();
    let mut api = route("api.test", &["/v1/"], Some(("header:x-api-key", "t1")));
    api.role = Some(RoleConfig {
        name: "anthropic-base-url".into(),
        listen: 4001,
    });
    write_routes(
        &state,
        vec![
            route("upstream.test", &["/repos/acme/"], Some(("bearer", "t0"))),
            route("plain.test", &[], None),
            api,
        ],
        &trust,
    );
    std::fs::write(
        state.join("tokens.json"),
        json!({"t0": GH_TOKEN, "t1": API_KEY}).to_string(),
    )
    .unwrap();
    let overrides: HashMap<String, SocketAddr> = [
        ("upstream.test".to_owned(), tls_addr),
        ("api.test".to_owned(), api_addr),
        ("newhost.test".to_owned(), new_addr),
        ("plain.test".to_owned(), plain_addr),
    ]
    .into();
    let bound = Bound::bind(Options {
        state_dir: state.clone(),
        bind_ip: [127, 0, 0, 1].into(),
        ephemeral_ports: true,
        overrides: Arc::new(overrides),
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

fn echoed(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an echo ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_injection_dlp_and_reload() {
    let proxy = start_proxy().await;

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
        format!("Bearer {GH_TOKEN}")
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
            body.contains("egress-block") || body.contains("dot segments"),
            "{body}"
        );
    }

    // DLP: a known token pattern in a header, and the route's own secret
    // base64-encoded in the body, never reach the upstream.
    let aws = format!("AKIA{}", "QWERTYUIOPASDFGH");
    let (code, body) = curl(
        &proxy,
        "https://upstream.test/repos/acme/x",
        &["-H", &format!("X-Debug: {aws}")],
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("secret"), "{body}");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(GH_TOKEN);
    let (code, body) = curl(
        &proxy,
        "https://upstream.test/repos/acme/x",
        &["--data", &format!("{{\"note\": \"{encoded}\"}}")],
    )
    .await;
    assert_eq!(code, 403, "{body}");

    // A large body is scanned as it streams: a secret after the buffered part.
    let mut big = "a".repeat(3 * 1024 * 1024);
    big.push_str(GH_TOKEN);
    let big_file = proxy.state.join("big.txt");
    std::fs::write(&big_file, &big).unwrap();
    let (code, _) = curl(
        &proxy,
        "https://upstream.test/repos/acme/upload",
        &["--data-binary", &format!("@{}", big_file.display())],
    )
    .await;
    assert_ne!(
        code, 200,
        "a secret at the end of a large body went through"
    );
    let clean = proxy.state.join("clean.txt");
    std::fs::write(&clean, "b".repeat(3 * 1024 * 1024)).unwrap();
    let (code, body) = curl(
        &proxy,
        "https://upstream.test/repos/acme/upload",
        &["--data-binary", &format!("@{}", clean.display())],
    )
    .await;
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
    assert!(!log.contains(GH_TOKEN) && !log.contains("page=2"), "{log}");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_url_listener_swaps_the_placeholder() {
    let proxy = start_proxy().await;
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
    assert_eq!(echo["headers"]["x-api-key"], API_KEY);
    assert_eq!(echo["headers"]["host"], "api.test");
    assert_eq!(echo["path"], "/v1/messages");

    let url = format!("http://{}/admin", proxy.base_url);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
}
