//! A request's body before it goes upstream.
//!
//! Bodies up to a limit are read whole and checked before anything leaves:
//! DLP over the bytes as sent and, when they are compressed, over what
//! they decode to (gzip, deflate, zstd; bounded, so a zip bomb is refused
//! rather than unpacked); on a route with `block_server_tools`, the
//! server-tools rule too. The bytes go upstream as they came.
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

use bytes::BytesMut;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::decode::{self, Coding};
use super::dlp::Scanner;
use super::forward::{Active, Env};
use super::policy::{Denial, Route};
use super::scan_body::{Look, Scanned};
use super::server_tools;
use super::upstream::Body;

/// Bodies up to this size are checked whole before anything goes upstream.
pub const BODY_BUFFER_LIMIT: usize = 1024 * 1024;
/// On a route that refuses server-side tools, the whole body is needed:
/// up to this size (the model APIs' own request limit).
pub const SERVER_TOOLS_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// A compressed body may decode to at most this much.
pub const DECODED_LIMIT: usize = 64 * 1024 * 1024;
/// Bytes of a streamed body held back until what follows is scanned: the
/// scanner's own window.
pub const STREAM_HOLDBACK: usize = 8 * 1024;

pub struct Prepared {
    pub body: Body,
    /// Set, with what was found, when a streamed body carried a secret.
    pub leaked: Arc<OnceLock<&'static str>>,
    /// The share of the buffer budget this body holds until it is sent.
    pub permit: Budget,
}

pub enum Refused {
    Deny(Denial),
    /// The buffer budget is spent; retry later.
    Busy,
    /// The body could not be read from the agent.
    Read(String),
}

/// A share of the buffer budget, in KiB.
pub struct Budget {
    pool: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    kib: u32,
}

impl Budget {
    pub fn new(pool: Arc<Semaphore>) -> Budget {
        Budget {
            pool,
            held: None,
            kib: 0,
        }
    }

    /// Holds enough for `bytes` in all; false when the budget is spent.
    pub fn cover(&mut self, bytes: usize) -> bool {
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

/// At most this much of a refused body is read and dropped.
const DRAIN_LIMIT: usize = 64 << 20;

/// Reads and drops the rest of a body that is refused before its end
/// (within `DRAIN_LIMIT`, each frame within `idle`): a client still
/// sending then reads the refusal, where closing on unread data would
/// reset the connection under it.
async fn drain(body: &mut Incoming, idle: std::time::Duration) {
    let mut read = 0;
    while read < DRAIN_LIMIT && !body.is_end_stream() {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

pub async fn prepare(
    active: &Arc<Active>,
    env: &Env,
    route: &Route,
    headers: &HeaderMap,
    mut body: Incoming,
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
    let mut buf = BytesMut::new();
    let mut ended = body.is_end_stream();
    while !ended && buf.len() <= limit {
        let frame = match tokio::time::timeout(env.body_idle, body.frame()).await {
            Err(_) => {
                return Err(Refused::Read(format!(
                    "no data for {} s",
                    env.body_idle.as_secs()
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(Refused::Read(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers are not forwarded.
        if let Ok(data) = frame.into_data() {
            if !budget.cover(buf.len() + data.len()) {
                return Err(Refused::Busy);
            }
            buf.extend_from_slice(&data);
        }
        ended = body.is_end_stream();
    }
    let leaked = Arc::new(OnceLock::new());
    if buf.len() <= limit {
        let buf = buf.freeze();
        check_whole(active, route, headers, coding, &buf, &mut budget)?;
        return Ok(Prepared {
            body: Full::new(buf).map_err(|e: Infallible| match e {}).boxed(),
            leaked,
            permit: budget,
        });
    }
    if coding.is_some() || route.block_server_tools {
        drain(&mut body, env.body_idle).await;
    }
    if let Some(coding) = coding {
        return Err(Refused::Deny(Denial::Body(format!(
            "is {}-compressed and over {} MiB: too large to decode and check before it leaves; send it uncompressed",
            coding.name(),
            limit >> 20
        ))));
    }
    if route.block_server_tools {
        return Err(Refused::Deny(Denial::Body(format!(
            "is over {} MiB, too large to check for server-side tools",
            limit >> 20
        ))));
    }
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

/// A whole body: DLP over it as sent and as decoded, and the server-tools
/// rule where the route asks for it.
fn check_whole(
    active: &Active,
    route: &Route,
    headers: &HeaderMap,
    coding: Option<Coding>,
    body: &[u8],
    budget: &mut Budget,
) -> Result<(), Refused> {
    if let Some(f) = active.dlp.scan(body) {
        return Err(Refused::Deny(Denial::Secret { kind: f.kind }));
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let tools = |decoded: &[u8]| {
        server_tools::check_body(decoded, content_type).map_err(|r| {
            Refused::Deny(Denial::ServerTool {
                field: r.field,
                why: r.why,
            })
        })
    };
    let Some(coding) = coding else {
        return if route.block_server_tools {
            tools(body)
        } else {
            Ok(())
        };
    };
    let keep = route.block_server_tools;
    let limit = if keep {
        SERVER_TOOLS_BODY_LIMIT
    } else {
        DECODED_LIMIT
    };
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
    .map_err(|e| Refused::Deny(Denial::Body(e.to_string())))?;
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
