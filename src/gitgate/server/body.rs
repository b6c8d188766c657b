//! A request body as git will read it: decoded when the client compressed
//! it (git gzips fetch requests over 1 KiB, and `git http-backend` would
//! inflate one without any bound), counted against a cap on what it
//! decodes to, and its beginning kept, for the gate's own answer to a push
//! it refuses.

use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Body;

use crate::egress::decode::{Coding, StreamDecoder};

/// A client that sends nothing for this long is given up on.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a refused body is read on before the answer.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The decoded bytes kept from the start of a body: more than a push's
/// command list (`MAX_PUSH_REFS` refs) takes.
const HEAD_KEPT: usize = 64 * 1024;

/// What a body gives next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Decoded bytes, within the cap.
    Data(Bytes),
    /// The body is over.
    End,
    /// What it decodes to passed the cap.
    TooLarge,
    /// It broke off, or stalled for `IDLE_TIMEOUT`.
    Gone,
    /// It does not decode: why.
    Invalid(String),
}

/// A request body, decoded and counted.
pub(crate) struct RequestBody<B> {
    body: B,
    decoder: Option<StreamDecoder>,
    /// Compressed bytes taken from the body, not decoded yet.
    pending: Bytes,
    cap: u64,
    total: u64,
    head: Vec<u8>,
    ended: bool,
}

impl<B> RequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    /// `coding`: how the client compressed it (None: it did not); `cap`:
    /// the most it may decode to.
    pub(crate) fn new(body: B, coding: Option<Coding>, cap: u64) -> RequestBody<B> {
        RequestBody {
            body,
            decoder: coding.and_then(StreamDecoder::new),
            pending: Bytes::new(),
            cap,
            total: 0,
            head: Vec::new(),
            ended: false,
        }
    }

    /// The first decoded bytes (at most 64 KiB).
    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    /// The next decoded bytes, at most about a MiB at a time.
    pub(crate) async fn next(&mut self) -> Chunk {
        loop {
            if self.ended {
                return Chunk::End;
            }
            if let Some(decoder) = &mut self.decoder
                && !self.pending.is_empty()
            {
                match decoder.step(&self.pending) {
                    Ok((taken, out)) => {
                        self.pending.advance(taken);
                        if !out.is_empty() {
                            return self.count(Bytes::from(out));
                        }
                        continue;
                    }
                    Err(e) => return Chunk::Invalid(format!("not valid gzip: {e}")),
                }
            }
            match tokio::time::timeout(IDLE_TIMEOUT, self.body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if self.decoder.is_some() {
                        self.pending = data;
                    } else if !data.is_empty() {
                        return self.count(data);
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    if let Some(decoder) = &mut self.decoder {
                        match decoder.finish() {
                            Ok(out) if !out.is_empty() => return self.count(Bytes::from(out)),
                            Ok(_) => {}
                            Err(e) => return Chunk::Invalid(format!("not valid gzip: {e}")),
                        }
                    }
                    return Chunk::End;
                }
                Ok(Some(Err(_))) | Err(_) => return Chunk::Gone,
            }
        }
    }

    fn count(&mut self, data: Bytes) -> Chunk {
        self.total = self.total.saturating_add(data.len() as u64);
        if self.total > self.cap {
            return Chunk::TooLarge;
        }
        if self.head.len() < HEAD_KEPT {
            let room = HEAD_KEPT - self.head.len();
            self.head.extend_from_slice(&data[..data.len().min(room)]);
        }
        Chunk::Data(data)
    }

    /// Reads (and drops) what the client still sends of a refused body, at
    /// most `limit` bytes as sent and `DRAIN_TIMEOUT`: a client still
    /// sending when the connection closes would lose the answer to a reset.
    pub(crate) async fn drain(&mut self, limit: u64) {
        let mut total: u64 = 0;
        let body = &mut self.body;
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    total = total.saturating_add(data.len() as u64);
                    if total > limit {
                        return;
                    }
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::pieces::Pieces;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Everything the body gives, and how it ended.
    async fn read_all(body: &mut RequestBody<Pieces>) -> (Vec<u8>, Chunk) {
        let mut all = Vec::new();
        loop {
            match body.next().await {
                Chunk::Data(d) => {
                    assert!(d.len() <= 2 << 20, "a step gave {} bytes", d.len());
                    all.extend_from_slice(&d);
                }
                end => return (all, end),
            }
        }
    }

    #[tokio::test]
    async fn bodies_are_decoded_counted_and_their_start_kept() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let zeros = vec![0u8; 64 << 20];
        let gz = Some(Coding::Gzip);
        // (body as sent, coding, piece size, cap, what comes out)
        type Case<'a> = (
            &'a str,
            Vec<u8>,
            Option<Coding>,
            usize,
            u64,
            Result<&'a [u8], Chunk>,
        );
        let cases: Vec<Case> = vec![
            ("plain", text.clone(), None, 1000, 1 << 20, Ok(&text)),
            (
                "plain, at the cap",
                text.clone(),
                None,
                7,
                text.len() as u64,
                Ok(&text),
            ),
            (
                "plain, over",
                text.clone(),
                None,
                1 << 20,
                text.len() as u64 - 1,
                Err(Chunk::TooLarge),
            ),
            ("gzip", gzip(&text), gz, 3, 1 << 20, Ok(&text)),
            ("gzip, whole", gzip(&text), gz, 1 << 20, 1 << 20, Ok(&text)),
            ("empty", Vec::new(), None, 1, 0, Ok(b"")),
            (
                "gzip bomb",
                gzip(&zeros),
                gz,
                1 << 16,
                1 << 20,
                Err(Chunk::TooLarge),
            ),
            (
                "not gzip",
                text.clone(),
                gz,
                1000,
                1 << 20,
                Err(Chunk::Invalid(String::new())),
            ),
            (
                "cut short",
                gzip(&text)[..1000].to_vec(),
                gz,
                100,
                1 << 20,
                Err(Chunk::Invalid(String::new())),
            ),
        ];
        for (name, sent, coding, size, cap, want) in cases {
            let mut body = RequestBody::new(Pieces::new(&sent, size), coding, cap);
            let (got, end) = read_all(&mut body).await;
            match want {
                Ok(bytes) => {
                    assert_eq!(end, Chunk::End, "{name}");
                    assert_eq!(got, bytes, "{name}");
                    assert_eq!(body.head(), &bytes[..bytes.len().min(HEAD_KEPT)], "{name}");
                }
                Err(Chunk::Invalid(_)) => {
                    assert!(
                        matches!(&end, Chunk::Invalid(why) if why.contains("gzip")),
                        "{name}: {end:?}"
                    );
                }
                Err(other) => {
                    assert_eq!(end, other, "{name}");
                    assert!(got.len() as u64 <= cap, "{name}");
                }
            }
        }
    }
}
