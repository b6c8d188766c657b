//! A request's body before it goes upstream.
//!
//! Bodies up to a limit are read whole and checked before anything leaves:
//! DLP over the bytes as sent and, when they are compressed, over what
//! they decode to (gzip, deflate, zstd; bounded, so a zip bomb is refused
//! rather than unpacked, and counted before it is scanned, so a bomb costs
//! its decoding only); on a route with `block_server_tools`, the
//! server-tools rule too. A large or compressed body is checked off the
//! proxy's one thread, which goes on serving other connections. The bytes
//! go upstream as they came.
//!
//! A larger body streams, scanned as it goes and held back a little so a
//! secret cut across chunks never leaves in part. It may not be compressed
//! (it could not be checked before it left), nor go to a route that
//! refuses server-side tools (the rule needs the whole body).
//!
//! Every buffered byte counts against a budget shared by all requests, so
//! many large bodies at once wait their turn (503) instead of exhausting
//! the sidecar's memory.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::agent_body::AgentBody;
use super::decode::{self, Coding};
use super::dlp::Scanner;
use super::forward::{Active, Env};
use super::policy::{Denial, Route};
use super::scan_body::{Look, Scanned};
use super::server_tools;
use super::upstream::Body;

/// Bodies up to this size are checked whole before anything goes upstream.
pub(crate) const BODY_BUFFER_LIMIT: usize = 1024 * 1024;
/// On a route that refuses server-side tools, the whole body is needed:
/// up to this size (the model APIs' own request limit).
pub(crate) const SERVER_TOOLS_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// A compressed body may decode to at most this much.
pub(crate) const DECODED_LIMIT: usize = 64 * 1024 * 1024;
/// Bytes of a streamed body held back until what follows is scanned: the
/// scanner's own window.
pub(crate) const STREAM_HOLDBACK: usize = 8 * 1024;

pub(crate) struct Prepared {
    pub(crate) body: Body,
    /// Set, with what was found, when a streamed body carried a secret.
    pub(crate) leaked: Arc<OnceLock<&'static str>>,
    /// The share of the buffer budget this body holds until it is sent.
    pub(crate) permit: Budget,
}

pub(crate) enum Refused {
    Deny(Denial),
    /// The buffer budget is spent; retry later.
    Busy,
    /// The body could not be read from the agent.
    Read(String),
}

/// A share of the buffer budget, in KiB.
pub(crate) struct Budget {
    pool: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    kib: u32,
}

impl Budget {
    pub(crate) fn new(pool: Arc<Semaphore>) -> Budget {
        Budget {
            pool,
            held: None,
            kib: 0,
        }
    }

    /// Holds enough for `bytes` in all; false when the budget is spent.
    pub(crate) fn cover(&mut self, bytes: usize) -> bool {
        let need = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if need <= self.kib {
            return true;
        }
        match Arc::clone(&self.pool).try_acquire_many_owned(need - self.kib) {
            Ok(more) => {
                match &mut self.held {
                    Some(held) => held.merge(more),
                    None => self.held = Some(more),
                }
                self.kib = need;
                true
            }
            Err(_) => false,
        }
    }
}

/// The body to send upstream for a request on `route`: read whole and
/// checked when it fits the limit, else streamed and scanned as it goes
/// (when it may be).
pub(crate) async fn prepare(
    active: &Arc<Active>,
    env: &Env,
    route: &Route,
    headers: &HeaderMap,
    mut body: AgentBody,
) -> Result<Prepared, Refused> {
    let coding = decode::coding(headers).map_err(|what| {
        Refused::Deny(Denial::Body(format!(
            "is in {what}, which the proxy cannot decode to check it"
        )))
    })?;
    let limit = if route.block_server_tools {
        SERVER_TOOLS_BODY_LIMIT
    } else {
        BODY_BUFFER_LIMIT
    };
    let mut budget = Budget::new(Arc::clone(&env.buffers));
    let buf = read_past(&mut body, limit, env.body_idle, &mut budget).await?;
    let leaked = Arc::new(OnceLock::new());
    if buf.len() <= limit {
        let buf = buf.freeze();
        let whole = Whole {
            active: Arc::clone(active),
            block_server_tools: route.block_server_tools,
            content_type: headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            coding,
            body: buf.clone(),
        };
        return Ok(Prepared {
            permit: check(whole, budget).await?,
            body: Full::new(buf).map_err(|e: Infallible| match e {}).boxed(),
            leaked,
        });
    }
    may_stream(coding, route.block_server_tools, limit).map_err(Refused::Deny)?;
    let tell = Arc::clone(&leaked);
    let scanner: Arc<dyn AsRef<Scanner> + Send + Sync> = Arc::clone(active) as _;
    let streamed = Scanned::new(
        body,
        scanner,
        Look::All,
        STREAM_HOLDBACK,
        Box::new(move |kind| {
            let _ = tell.set(kind);
        }),
    )
    .after(buf.freeze());
    Ok(Prepared {
        body: streamed.boxed(),
        leaked,
        permit: budget,
    })
}

/// Reads `body` until its end or until more than `limit` bytes are in,
/// each byte covered by `budget`; a stall of `idle` is a read failure.
/// Trailers are dropped (they are not forwarded).
async fn read_past(
    body: &mut AgentBody,
    limit: usize,
    idle: std::time::Duration,
    budget: &mut Budget,
) -> Result<BytesMut, Refused> {
    let mut buf = BytesMut::new();
    let mut ended = body.is_end_stream();
    while !ended && buf.len() <= limit {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(Refused::Read(format!("no data for {} s", idle.as_secs())));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Refused::Read(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if !budget.cover(buf.len() + data.len()) {
                return Err(Refused::Busy);
            }
            buf.extend_from_slice(&data);
        }
        ended = body.is_end_stream();
    }
    Ok(buf)
}

/// Whether a body over `limit` may stream: not when it is compressed (it
/// could not be checked before it left), nor on a route that refuses
/// server-side tools (the rule needs the whole body).
fn may_stream(
    coding: Option<Coding>,
    block_server_tools: bool,
    limit: usize,
) -> Result<(), Denial> {
    if let Some(coding) = coding {
        return Err(Denial::Body(format!(
            "is {}-compressed and over {} MiB: too large to decode and check before it leaves; send it uncompressed",
            coding.name(),
            limit >> 20
        )));
    }
    if block_server_tools {
        return Err(Denial::Body(format!(
            "is over {} MiB, too large to check for server-side tools",
            limit >> 20
        )));
    }
    Ok(())
}

/// A whole body and what its check needs, owned, so that the check can
/// run on another thread.
struct Whole {
    active: Arc<Active>,
    block_server_tools: bool,
    content_type: Option<String>,
    coding: Option<Coding>,
    body: Bytes,
}

/// Whole bodies over this size, and compressed ones, are checked on the
/// blocking pool: the sidecar serves every connection from one thread,
/// which a long check (a large body, a compression bomb) would stall.
const CHECK_INLINE: usize = 64 * 1024;

/// Checks a whole body; gives the budget back for the body's send.
async fn check(whole: Whole, mut budget: Budget) -> Result<Budget, Refused> {
    if whole.coding.is_none() && whole.body.len() <= CHECK_INLINE {
        return check_whole(&whole, &mut budget).map(|()| budget);
    }
    tokio::task::spawn_blocking(move || check_whole(&whole, &mut budget).map(|()| budget))
        .await
        .unwrap_or(Err(Refused::Busy))
}

/// A whole body: DLP over it as sent and as decoded, and the server-tools
/// rule where the route asks for it. A compressed body is decoded once to
/// count before it is decoded to be scanned, so a bomb is refused for its
/// size at the cost of the decoding alone.
fn check_whole(whole: &Whole, budget: &mut Budget) -> Result<(), Refused> {
    let (active, body) = (&whole.active, &whole.body[..]);
    if let Some(f) = active.dlp.scan(body) {
        return Err(Refused::Deny(Denial::Secret { kind: f.kind }));
    }
    let tools = |decoded: &[u8]| {
        server_tools::check_body(decoded, whole.content_type.as_deref()).map_err(|r| {
            Refused::Deny(Denial::ServerTool {
                field: r.field,
                why: r.why,
            })
        })
    };
    let Some(coding) = whole.coding else {
        return if whole.block_server_tools {
            tools(body)
        } else {
            Ok(())
        };
    };
    let keep = whole.block_server_tools;
    let limit = if keep {
        SERVER_TOOLS_BODY_LIMIT
    } else {
        DECODED_LIMIT
    };
    let undecodable = |e: decode::DecodeError| Refused::Deny(Denial::Body(e.to_string()));
    decode::decode_all(body, coding, limit, |_, _| {}).map_err(undecodable)?;
    let mut scans = [active.dlp.stream(), active.dlp.stream()];
    let mut found = None;
    let mut kept: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut busy = false;
    let readings = decode::decode_all(body, coding, limit, |i, piece| {
        if found.is_none() {
            found = scans[i].feed(piece);
        }
        if keep && !busy {
            let total = body.len() + kept[0].len() + kept[1].len() + piece.len();
            if budget.cover(total) {
                kept[i].extend_from_slice(piece);
            } else {
                busy = true;
            }
        }
    })
    .map_err(undecodable)?;
    if let Some(f) = found {
        return Err(Refused::Deny(Denial::Secret { kind: f.kind }));
    }
    if busy {
        return Err(Refused::Busy);
    }
    if keep {
        for i in readings {
            tools(&kept[i])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_body_on_an_ordinary_route_streams() {
        let why = |coding, block| match may_stream(coding, block, BODY_BUFFER_LIMIT) {
            Ok(()) => None,
            Err(Denial::Body(why)) => Some(why),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(why(None, false), None);
        assert_eq!(
            why(Some(Coding::Gzip), false).as_deref(),
            Some(
                "is gzip-compressed and over 1 MiB: too large to decode and check before it leaves; send it uncompressed"
            )
        );
        assert_eq!(
            why(None, true).as_deref(),
            Some("is over 1 MiB, too large to check for server-side tools")
        );
    }
}
