//! Running `git http-backend` as a CGI program: the request body (decoded,
//! see `body`) streamed into its stdin under a byte cap, its header block
//! parsed, the rest of its stdout streamed back as the response body.
//!
//! git writes its header block before it reads the request and reads the
//! whole request before it writes much more, so the body is pumped in full
//! before the response starts: a push over the cap is answered 413, never
//! half-answered. Closing stdin early makes `http-backend` and
//! `receive-pack` fail on a truncated pack, which removes their quarantine.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use hyper::body::{Body, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{OwnedMutexGuard, mpsc, oneshot};

use super::body::{Chunk, RequestBody};

/// The most a CGI header block may hold.
const MAX_HEAD: usize = 16 * 1024;
/// Response chunks buffered ahead of the client.
const CHANNEL_DEPTH: usize = 32;
/// A refused body is read on for at least this many bytes (else the cap's)
/// before the answer.
const DRAIN_MIN: u64 = 64 << 20;
/// A client that reads nothing for this long is given up on (its program
/// runs to its end regardless).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a finished request's program may take to exit (hooks land
/// pushes and forward them upstream) before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum CgiError {
    #[error("could not run git http-backend: {0}; is git installed in the gate's image?")]
    Spawn(io::Error),
    #[error("git http-backend ended without an answer; see the gate's log")]
    NoHead,
    #[error("git http-backend answered a bad header block: {0}")]
    BadHead(String),
    #[error("reading git http-backend's output: {0}")]
    Read(io::Error),
}

/// The parsed CGI header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// Finds the end of the header block in `buf`: (head length, body offset).
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buf.len() {
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some((i, i + 4));
        }
        if buf[i..].starts_with(b"\n\n") {
            return Some((i, i + 2));
        }
    }
    None
}

/// Parses a CGI header block (without its blank line). Pure.
pub(crate) fn parse_head(block: &[u8]) -> Result<Head, CgiError> {
    let text = std::str::from_utf8(block).map_err(|e| CgiError::BadHead(e.to_string()))?;
    let mut head = Head {
        status: StatusCode::OK,
        headers: Vec::new(),
    };
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| CgiError::BadHead(format!("no colon in {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            head.status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| CgiError::BadHead(format!("bad status {value:?}")))?;
            continue;
        }
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| CgiError::BadHead(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| CgiError::BadHead(format!("bad value for {name}")))?;
        head.headers.push((name, value));
    }
    Ok(head)
}

/// `git http-backend` with `env` on top of this process's environment,
/// less git's own variables (but its traces) and with a HOME.
pub(crate) fn http_backend(env: Vec<(String, String)>) -> tokio::process::Command {
    let mut cmd = crate::exec::GIT.async_command(["http-backend"]);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("GIT_") && !text.starts_with("GIT_TRACE") {
            cmd.env_remove(&name);
        }
    }
    if std::env::var_os("HOME").is_none() {
        cmd.env("HOME", "/tmp");
    }
    cmd.envs(env);
    cmd
}

/// How a run went.
pub(crate) enum Outcome {
    /// The program answered; its body streams from the channel.
    Answer(Head, ChannelBody),
    /// The request body passed the cap; the program was cut off.
    TooLarge,
    /// The client's body broke off or stalled.
    ClientGone,
    /// The request body does not decode: why.
    Invalid(String),
}

/// Runs `cmd` (git http-backend, its environment set) with `body` on its
/// stdin, within the body's cap. `guard` is held until the program exits.
pub(crate) async fn run<B>(
    mut cmd: tokio::process::Command,
    body: &mut RequestBody<B>,
    cap: u64,
    guard: Option<OwnedMutexGuard<()>>,
) -> Result<Outcome, CgiError>
where
    B: Body<Data = Bytes> + Unpin,
{
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    let mut child = cmd.spawn().map_err(CgiError::Spawn)?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.start_kill();
        return Err(CgiError::Spawn(io::Error::other("no pipes")));
    };
    let (head_tx, head_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(output(child, stdout, head_tx, body_tx, guard));
    // Closing stdin early (by returning) makes `http-backend` and
    // `receive-pack` fail on a truncated pack, which removes their
    // quarantine.
    match pump(body, stdin).await {
        Chunk::End => {}
        Chunk::TooLarge => {
            body.drain(cap.max(DRAIN_MIN)).await;
            return Ok(Outcome::TooLarge);
        }
        Chunk::Invalid(why) => return Ok(Outcome::Invalid(why)),
        Chunk::Gone | Chunk::Data(_) => return Ok(Outcome::ClientGone),
    }
    let head = head_rx.await.map_err(|_| CgiError::NoHead)??;
    Ok(Outcome::Answer(head, ChannelBody { rx: body_rx }))
}

/// Streams the request body into the program's stdin, then closes it.
/// Returns how the body ended (`End` also when the program stopped
/// reading: its answer says why).
async fn pump<B>(body: &mut RequestBody<B>, mut stdin: ChildStdin) -> Chunk
where
    B: Body<Data = Bytes> + Unpin,
{
    loop {
        match body.next().await {
            Chunk::Data(data) => {
                if stdin.write_all(&data).await.is_err() {
                    return Chunk::End;
                }
            }
            Chunk::End => break,
            other => return other,
        }
    }
    let _ = stdin.shutdown().await;
    Chunk::End
}

/// Reads the header block, then streams the rest into `body_tx`; when the
/// client has gone, drains it so the program (and its hooks) can finish.
/// Reaps the program, then lets `guard` go.
async fn output(
    mut child: Child,
    mut stdout: ChildStdout,
    head_tx: oneshot::Sender<Result<Head, CgiError>>,
    body_tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
    guard: Option<OwnedMutexGuard<()>>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let head = loop {
        if let Some((end, body_at)) = head_end(&buf) {
            let head = parse_head(&buf[..end]);
            buf.drain(..body_at);
            break head;
        }
        if buf.len() > MAX_HEAD {
            break Err(CgiError::BadHead("the header block is too long".into()));
        }
        match stdout.read(&mut chunk).await {
            Ok(0) => break Err(CgiError::NoHead),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => break Err(CgiError::Read(e)),
        }
    };
    let answered = head.is_ok();
    let mut open = head_tx.send(head).is_ok() && answered;
    if open && !buf.is_empty() {
        open = body_tx
            .send(Ok(Frame::data(Bytes::from(buf))))
            .await
            .is_ok();
    }
    loop {
        match stdout.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                if open {
                    open = send(&body_tx, Bytes::copy_from_slice(&chunk[..n])).await;
                }
            }
            Err(e) => {
                let _ = body_tx.try_send(Err(e));
                break;
            }
        }
    }
    drop(body_tx);
    match tokio::time::timeout(EXIT_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if !status.success() => {
            eprintln!("git-gate: git http-backend exited with {status}");
        }
        Ok(_) => {}
        Err(_) => {
            eprintln!("git-gate: git http-backend ran too long; killing it");
            let _ = child.kill().await;
        }
    }
    drop(guard);
}

/// Hands a chunk to the response; false once the client is gone or has
/// stopped reading for `IDLE_TIMEOUT`.
async fn send(tx: &mpsc::Sender<Result<Frame<Bytes>, io::Error>>, data: Bytes) -> bool {
    tx.send_timeout(Ok(Frame::data(data)), IDLE_TIMEOUT)
        .await
        .is_ok()
}

/// A response body fed from a channel.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_blocks_parse() {
        let ok = parse_head(
            b"Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nContent-Type: application/x-git-upload-pack-advertisement",
        )
        .unwrap();
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.headers.len(), 2);
        assert_eq!(ok.headers[1].0, http::header::CONTENT_TYPE);
        let cases: &[(&[u8], Option<u16>)] = &[
            (
                b"Status: 403 Forbidden\nContent-Type: text/plain",
                Some(403),
            ),
            (b"Status: 404", Some(404)),
            (b"", Some(200)),
            (b"Status: soon", None),
            (b"no colon here", None),
            (b"Bad Name: x", None),
            (b"X: a\x01b", None),
        ];
        for (block, want) in cases {
            let got = parse_head(block).ok().map(|h| h.status.as_u16());
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(block));
        }
    }

    #[test]
    fn head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"A: b\r\n\r\nbody"), Some((4, 8)));
        assert_eq!(head_end(b"A: b\n\nbody\n\n"), Some((4, 6)));
        assert_eq!(head_end(b"A: b\r\n"), None);
        assert_eq!(head_end(b"\r\n\r\n"), Some((0, 4)));
    }
}
