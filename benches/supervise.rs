//! The supervise sidecar under load: its resident memory at rest and at
//! its peak while 32 MCP sessions call `list-egress-routes` as fast as it
//! answers (the read-only tool every agent calls first), the ratio of the
//! two, and the calls per second. Run by `scripts/bench-sidecars`; it talks
//! to 127.0.0.1 only.
//!
//! Environment: BOT_BOTTLE_BIN (the static bot-bottle), BENCH_SECONDS
//! (default 5), BENCH_CONNECTIONS (default 32).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Running, env_or, rss};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const PORT: u16 = 18765;

async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    session: Option<&str>,
    body: String,
) -> (Option<String>, Bytes) {
    let mut req = Request::post("/mcp")
        .header("host", format!("127.0.0.1:{PORT}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(id) = session {
        req = req.header("mcp-session-id", id);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "supervise answered {}",
        resp.status()
    );
    let id = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (id, resp.into_body().collect().await.unwrap().to_bytes())
}

/// One MCP session on its own connection, calling until `until`.
async fn session(until: Instant) -> usize {
    let stream = TcpStream::connect(("127.0.0.1", PORT)).await.unwrap();
    // As curl and the agents' HTTP clients do.
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let (id, _) = post(&mut sender, None, init.into()).await;
    let id = id.expect("no mcp-session-id");
    let ready = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    post(&mut sender, Some(&id), ready.into()).await;
    let mut calls = 0;
    while Instant::now() < until {
        calls += 1;
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{calls},"method":"tools/call","params":{{"name":"list-egress-routes","arguments":{{}}}}}}"#
        );
        let (_, body) = post(&mut sender, Some(&id), call).await;
        assert!(
            body.windows(6).any(|w| w == b"result"),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    calls
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let dir = tempfile::tempdir().unwrap();
    let routes = serde_json::json!({"routes": [
        {"host": "api.example.test", "path_allowlist": ["/v1/"]},
        {"host": "pypi.org", "path_allowlist": []},
    ]});
    std::fs::write(dir.path().join("routes.json"), routes.to_string()).unwrap();
    let bin = std::env::var("BOT_BOTTLE_BIN").expect("BOT_BOTTLE_BIN");
    let child = Running(
        Command::new(bin)
            .args(["sidecar", "supervise", "--slug", "bench-a1b2c", "--listen"])
            .arg(format!("127.0.0.1:{PORT}"))
            .arg("--state")
            .arg(dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        assert!(Instant::now() < deadline, "supervise did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (rest, _) = rss(child.0.id());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let calls: usize = runtime.block_on(async {
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(session(until)))
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    let elapsed = start.elapsed().as_secs_f64();
    let (_, peak) = rss(child.0.id());
    println!(
        "supervise: {:.0} calls/s ({calls} list-egress-routes calls, {connections} sessions, {seconds} s)",
        calls as f64 / elapsed
    );
    println!("supervise rss at rest: {rest} KiB; peak under load: {peak} KiB");
    println!(
        "ratio rss supervise under load/at rest: {:.2}",
        peak as f64 / rest.max(1) as f64
    );
}
