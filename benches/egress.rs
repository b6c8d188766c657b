//! The egress proxy against mitmproxy, same routes and header injection,
//! same client load, same run. Run by `scripts/bench-egress`, which gives
//! it a private network namespace where `upstream.test` is 127.0.0.1 and
//! port 443 is free; nothing leaves the machine.
//!
//! Environment: BOT_BOTTLE_BIN (the static bot-bottle), MITMDUMP (its
//! path), BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32),
//! BENCH_ROUNDS (default 3; figures are medians over the rounds).
//!
//! First it measures the DLP scanner alone over request bodies of a few
//! kinds (MB/s, median of BENCH_SCANS, default 9); `BENCH_ONLY=dlp` stops
//! there, and needs neither root nor the peers.

mod support;

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Running, env_or, rss};

use base64::Engine as _;
use bot_bottle::egress::ca::{Signer, new_ca};
use bot_bottle::egress::dlp::Scanner;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HOST: &str = "upstream.test";
const TOKEN: &str = "bench-token-0123456789";

const ADDON: &str = r#"
from mitmproxy import http
ALLOWED = {"upstream.test"}
TOKEN = "bench-token-0123456789"
def request(flow: http.HTTPFlow) -> None:
    if flow.request.pretty_host not in ALLOWED:
        flow.response = http.Response.make(403, b"blocked")
        return
    flow.request.headers["authorization"] = "Bearer " + TOKEN
"#;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A small TLS upstream on 127.0.0.1:443 that says whether the token came.
async fn upstream(dir: &Path) -> PathBuf {
    let (ca, key) = new_ca().unwrap();
    let ca_path = dir.join("upstream-ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    let leaf = Signer::from_key_pem(&key).unwrap().leaf(HOST).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:443")
        .await
        .expect("port 443: run this through scripts/bench-egress");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|req: Request<Incoming>| async move {
                    let ok = req
                        .headers()
                        .get("authorization")
                        .is_some_and(|v| v == &format!("Bearer {TOKEN}")[..]);
                    let body = if ok { "ok" } else { "no token" };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    ca_path
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_bot_bottle(dir: &Path, upstream_ca: &Path, port: u16) -> (Child, PathBuf) {
    let state = dir.join("egress");
    std::fs::create_dir_all(&state).unwrap();
    let (cert, key) = new_ca().unwrap();
    std::fs::write(state.join("ca.pem"), &cert).unwrap();
    std::fs::write(state.join("ca.key"), key).unwrap();
    let routes = serde_json::json!({
        "listen": port,
        // upstream.test is 127.0.0.1 in the bench's namespace.
        "routes": [{"host": HOST, "path_allowlist": [], "auth": {"scheme": "bearer", "token": "t0"}, "allow_private_addresses": true}],
        "trust_upstream_ca": [upstream_ca.display().to_string()],
    });
    std::fs::write(state.join("routes.json"), routes.to_string()).unwrap();
    std::fs::write(
        state.join("tokens.json"),
        serde_json::json!({"t0": TOKEN}).to_string(),
    )
    .unwrap();
    let bin = std::env::var("BOT_BOTTLE_BIN").expect("BOT_BOTTLE_BIN");
    // The namespace has loopback only: no internal network to find.
    let child = Command::new(bin)
        .args(["sidecar", "egress", "--bind", "127.0.0.1", "--state"])
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    (child, state.join("ca.pem"))
}

fn start_mitmproxy(dir: &Path, upstream_ca: &Path, port: u16) -> (Child, PathBuf) {
    let conf = dir.join("mitmproxy");
    std::fs::create_dir_all(&conf).unwrap();
    let addon = dir.join("addon.py");
    std::fs::write(&addon, ADDON).unwrap();
    let bin = std::env::var("MITMDUMP").expect("MITMDUMP");
    let child = Command::new(bin)
        .args([
            "-q",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
            "-s",
        ])
        .arg(&addon)
        .args(["--set", &format!("confdir={}", conf.display())])
        .args([
            "--set",
            &format!("ssl_verify_upstream_trusted_ca={}", upstream_ca.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    (child, conf.join("mitmproxy-ca-cert.pem"))
}

/// squid with TLS interception (`ssl_bump`), the same one allowed host and
/// the same header added, its certificates minted by its helper.
fn start_squid(dir: &Path, upstream_ca: &Path, port: u16) -> (Child, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let conf = dir.join("squid");
    // Fresh each round: its helper will not reuse a database.
    let _ = std::fs::remove_dir_all(&conf);
    std::fs::create_dir_all(&conf).unwrap();
    let (cert, key) = new_ca().unwrap();
    let (ca, ca_key, db) = (
        conf.join("ca.pem"),
        conf.join("ca.key"),
        conf.join("ssl_db"),
    );
    std::fs::write(&ca, &cert).unwrap();
    std::fs::write(&ca_key, key).unwrap();
    let certgen = "/usr/lib/squid/security_file_certgen";
    let made = Command::new(certgen)
        .args(["-c", "-s"])
        .arg(&db)
        .args(["-M", "16MB"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "{certgen} could not make its database");
    let config = format!(
        "http_port 127.0.0.1:{port} ssl-bump tls-cert={ca} tls-key={ca_key} generate-host-certificates=on dynamic_cert_mem_cache_size=16MB\n\
         sslcrtd_program {certgen} -s {db} -M 16MB\n\
         sslcrtd_children 4\n\
         acl allowed dstdomain {HOST}\n\
         acl allowed_sni ssl::server_name {HOST}\n\
         acl step1 at_step SslBump1\n\
         ssl_bump peek step1\n\
         ssl_bump bump allowed_sni\n\
         ssl_bump terminate all\n\
         http_access allow allowed\n\
         http_access deny all\n\
         request_header_access Authorization deny all\n\
         request_header_add Authorization \"Bearer {TOKEN}\" allowed\n\
         tls_outgoing_options cafile={upstream}\n\
         cache deny all\n\
         access_log none\n\
         cache_log {log}\n\
         pid_filename {pid}\n\
         coredump_dir {dir}\n\
         shutdown_lifetime 0 seconds\n",
        ca = ca.display(),
        ca_key = ca_key.display(),
        db = db.display(),
        upstream = upstream_ca.display(),
        log = conf.join("cache.log").display(),
        pid = conf.join("squid.pid").display(),
        dir = conf.display(),
    );
    let file = conf.join("squid.conf");
    std::fs::write(&file, config).unwrap();
    // squid drops to its own user: it must read all of this.
    let chown = Command::new("chown")
        .args(["-R", "proxy:proxy"])
        .arg(&conf)
        .status()
        .unwrap();
    assert!(chown.success());
    for p in [dir, upstream_ca] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let bin = std::env::var("SQUID").unwrap_or_else(|_| "squid".into());
    let child = Command::new(bin)
        .args(["-N", "-f"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port);
    (child, ca)
}

/// A client that speaks to the upstream through a proxy: CONNECT, TLS
/// trusting the proxy's CA, then HTTP/1.1 requests on one connection.
/// Without a proxy, straight to the upstream (trusting its CA).
async fn client(
    proxy: Option<u16>,
    ca: &Path,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let mut stream = TcpStream::connect(("127.0.0.1", proxy.unwrap_or(443)))
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    if proxy.is_some() {
        connect(&mut stream).await;
    }
    tls_client(stream, ca).await
}

async fn connect(stream: &mut TcpStream) {
    stream
        .write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
}

async fn tls_client(
    stream: TcpStream,
    ca: &Path,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(HOST.try_into().unwrap(), stream)
        .await
        .unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

struct Load {
    requests: usize,
    seconds: f64,
    p99: Duration,
}

async fn load(proxy: Option<u16>, ca: &Path, connections: usize, duration: Duration) -> Load {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..connections {
        let ca = ca.to_path_buf();
        tasks.push(tokio::spawn(async move {
            let mut sender = client(proxy, &ca).await;
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                // Through a proxy, the proxy puts the credential in.
                let auth = match proxy {
                    Some(_) => "Bearer placeholder".to_owned(),
                    None => format!("Bearer {TOKEN}"),
                };
                let req = Request::get("/bench")
                    .header("host", HOST)
                    .header("authorization", auth)
                    .body(Empty::new())
                    .unwrap();
                let t = Instant::now();
                let resp = sender.send_request(req).await.unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(
                    &body[..],
                    b"ok",
                    "the upstream did not get the injected token"
                );
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let seconds = start.elapsed().as_secs_f64();
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    Load {
        requests: all.len(),
        seconds,
        p99,
    }
}

/// The median of some measurements.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Measured load through one proxy: req/s, p99 seconds, peak RSS KiB.
async fn measure(
    name: &str,
    dir: &Path,
    upstream_ca: &Path,
    connections: usize,
    seconds: u64,
) -> (f64, f64, f64) {
    let (port, (child, ca)) = match name {
        "bot-bottle" => (13128, start_bot_bottle(dir, upstream_ca, 13128)),
        "mitmproxy" => (18080, start_mitmproxy(dir, upstream_ca, 18080)),
        _ => (18090, start_squid(dir, upstream_ca, 18090)),
    };
    // Killed when it goes, a failed run included.
    let child = Running(child);
    load(Some(port), &ca, 4, Duration::from_secs(1)).await;
    let l = load(Some(port), &ca, connections, Duration::from_secs(seconds)).await;
    let rss = rss(child.0.id()).1;
    drop(child);
    let rps = l.requests as f64 / l.seconds;
    println!(
        "  {name}: {rps:.0} req/s, p99 {:.2} ms, peak rss {rss} KiB ({} requests)",
        l.p99.as_secs_f64() * 1000.0,
        l.requests
    );
    (rps, l.p99.as_secs_f64(), rss as f64)
}

/// Deterministic bytes from `alphabet`.
fn noise(seed: u64, n: usize, alphabet: &[u8]) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

/// Request bodies of the kinds agents send, clean (nothing to find, so
/// every view is scanned), about 1 MiB each.
fn dlp_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mib = 1 << 20;
    let prose =
        "The quick brown fox jumps over the lazy dog; risk-management and \"task-tracking\".\\n";
    let code = "fn main() {\\n    let total: u64 = items.iter().map(|i| i.price * 3).sum();\\n    println!(\\\"{total}\\\");\\n}\\n";
    let chat = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}},{{"role":"user","content":"{}"}}]}}"#,
        prose.repeat(mib / 2 / prose.len()),
        code.repeat(mib / 2 / code.len())
    );
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let image = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{}"}}}}]}}]}}"#,
        noise(1, mib, b64)
    );
    let minified = "function a(b){return b.maskElement&&b.taskQueue.length>0?b.riskScore:null}var c=a({color:\"#3b15623a\",id:\"550e8400-e29b-41d4-a716-446655440000\"});"
        .repeat(mib / 150);
    let hex = noise(2, mib, b"0123456789abcdef");
    let sql = "SELECT ORDERS.ID, CUSTOMERS.NAME FROM ORDERS INNER JOIN CUSTOMERS ON ORDERS.CUSTOMER_ID = CUSTOMERS.ID WHERE STATUS = 'SHIPPED';\n"
        .repeat(mib / 120);
    // Lower case: upper-case noise holds AKIA and a run that follows.
    let base32 = noise(3, mib, b"abcdefghijklmnopqrstuvwxyz234567");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // A screenshot: a PNG (whose pixels are not decompressed) of lines of
    // text on a light background.
    let png = |pixels: &[u8]| {
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &deflated(pixels)].concat();
        format!(r#"{{"type":"image","source":{{"data":"{}"}}}}"#, b64(&png))
    };
    let shades = [0x20u8, 0x40, 0x80, 0xc0, 0xf0, 0xf0, 0xf0, 0xf0];
    let glyphs: Vec<u8> = noise(4, 1280 * 4, b"01234567")
        .bytes()
        .map(|c| shades[usize::from(c - b'0')])
        .collect();
    let ui: Vec<u8> = (0..800)
        .flat_map(|row| {
            let text = row % 20 < 12;
            let line: Vec<u8> = (0..1280 * 4)
                .map(|x| match x % 4 {
                    3 => 0xff,
                    _ if text && x < 900 * 4 => glyphs[(x + row * 7) % glyphs.len()],
                    _ => 0xf5,
                })
                .collect();
            std::iter::once(0u8).chain(line)
        })
        .collect();
    // Logs, gzip-compressed and base64-encoded, decompressed to be scanned.
    let logs: String = (0..mib / 64)
        .map(|i| {
            format!(
                "2025-01-01T00:00:{:02} INFO request {i} served in {} ms\n",
                i % 60,
                i % 997
            )
        })
        .collect();
    let packed = format!(r#"{{"logs":"{}"}}"#, b64(&deflated(logs.as_bytes())));
    vec![
        ("chat json", chat.into_bytes()),
        ("base64 image json", image.into_bytes()),
        ("minified js", minified.into_bytes()),
        ("hex", hex.into_bytes()),
        ("upper-case sql", sql.into_bytes()),
        ("base32 noise", base32.into_bytes()),
        ("png ui screenshot json", png(&ui).into_bytes()),
        ("base64 of zlib logs", packed.into_bytes()),
    ]
}

fn deflated(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The DLP scanner alone: MB/s over each kind of body, whole and streamed.
fn dlp_bench() {
    let scans: usize = env_or("BENCH_SCANS", 9).max(1);
    let scanner = Scanner::new(&["bench-own-secret-0123456789".to_owned()]);
    println!("dlp scan, MB/s (median of {scans}):");
    for (name, body) in dlp_bodies() {
        let rate = |f: &dyn Fn() -> bool| {
            let runs: Vec<f64> = (0..scans)
                .map(|_| {
                    let start = Instant::now();
                    assert!(f(), "{name}: a clean body was refused");
                    body.len() as f64 / 1e6 / start.elapsed().as_secs_f64()
                })
                .collect();
            median(runs)
        };
        let whole = rate(&|| scanner.scan(&body).is_none());
        let streamed = rate(&|| {
            let mut scan = scanner.stream();
            body.chunks(64 * 1024).all(|c| scan.feed(c).is_none())
        });
        println!("  {name}: whole {whole:.0}, streamed {streamed:.0}");
    }
}

fn main() {
    dlp_bench();
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "dlp") {
        return;
    }
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    // Rounds alternate the proxies, so that a machine busy with something
    // else for a while weighs on all of them; each figure is the median.
    let rounds: usize = env_or("BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream_ca = upstream(dir.path()).await;
        load(None, &upstream_ca, 4, Duration::from_secs(1)).await;
        let names = ["direct", "bot-bottle", "squid", "mitmproxy"];
        let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); names.len()];
        for round in 0..rounds {
            println!("round {} of {rounds} ({connections} connections, {seconds} s each):", round + 1);
            for (i, name) in names.iter().enumerate() {
                // mitmproxy is two orders slower: once is enough.
                if *name == "mitmproxy" && round > 0 {
                    continue;
                }
                let run = if *name == "direct" {
                    let l = load(None, &upstream_ca, connections, Duration::from_secs(seconds)).await;
                    let rps = l.requests as f64 / l.seconds;
                    println!("  direct: {rps:.0} req/s, p99 {:.2} ms", l.p99.as_secs_f64() * 1000.0);
                    (rps, l.p99.as_secs_f64(), 0.0)
                } else {
                    measure(name, dir.path(), &upstream_ca, connections, seconds).await
                };
                runs[i].push(run);
            }
        }
        let summary: Vec<(f64, f64, f64)> = runs
            .into_iter()
            .map(|r| {
                (
                    median(r.iter().map(|x| x.0).collect()),
                    median(r.iter().map(|x| x.1).collect()),
                    r.iter().map(|x| x.2).fold(0.0, f64::max),
                )
            })
            .collect();
        println!("medians over {rounds} rounds:");
        for (name, (rps, p99, rss)) in names.iter().zip(&summary) {
            println!("{name}: {rps:.0} req/s, p99 {:.2} ms, peak rss {rss:.0} KiB", p99 * 1000.0);
        }
        let (direct, ours) = (summary[0], summary[1]);
        let added = |p99: f64| (p99 - direct.1) * 1000.0;
        println!(
            "added p99 latency over direct ({connections} connections): bot-bottle {:.2} ms, squid {:.2} ms, mitmproxy {:.2} ms",
            added(ours.1),
            added(summary[2].1),
            added(summary[3].1)
        );
        for (peer, theirs) in [("mitmproxy", summary[3]), ("squid", summary[2])] {
            println!("ratio req/s bot-bottle/{peer}: {:.2}", ours.0 / theirs.0);
            println!("ratio p99 latency bot-bottle/{peer}: {:.3}", ours.1 / theirs.1);
            println!("ratio rss bot-bottle/{peer}: {:.3}", ours.2 / theirs.2);
        }
    });
}
