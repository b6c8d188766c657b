//! A body passed on while it is scanned: a request body too large to
//! buffer, on its way upstream, or a response on its way to the agent.
//!
//! The scanner sees every byte before the next hop does (decoded first,
//! for a gzip or deflate response, and passed on decoded), and the last
//! `holdback` bytes stay held until the scanner has seen what follows
//! them: a secret cut across two chunks never leaves in part. At the first
//! secret the body ends with an error, which aborts it, and `on_secret`
//! is told what was found.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};

use super::decode::StreamDecoder;
use super::dlp::Scanner;
use super::upstream::BoxError;

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Known secret shapes and the bottle's own secrets (requests).
    All,
    /// The bottle's own secrets only (responses).
    Own,
}

pub(crate) type OnSecret = Box<dyn FnOnce(&'static str) + Send + Sync>;

/// What `poll_frame` answers.
type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

pub(crate) struct Scanned<B> {
    inner: B,
    scanner: Arc<dyn AsRef<Scanner> + Send + Sync>,
    look: Look,
    holdback: usize,
    decoder: Option<StreamDecoder>,
    /// Bytes already read, to go through before the inner body.
    head: Option<Bytes>,
    /// Input waiting for the decoder.
    raw: Bytes,
    /// Scanned, not yet passed on.
    held: Vec<u8>,
    ended: bool,
    done: bool,
    on_secret: Option<OnSecret>,
}

impl<B> Scanned<B> {
    pub(crate) fn new(
        inner: B,
        scanner: Arc<dyn AsRef<Scanner> + Send + Sync>,
        look: Look,
        holdback: usize,
        on_secret: OnSecret,
    ) -> Scanned<B> {
        Scanned {
            inner,
            scanner,
            look,
            holdback,
            decoder: None,
            head: None,
            raw: Bytes::new(),
            held: Vec::new(),
            ended: false,
            done: false,
            on_secret: Some(on_secret),
        }
    }

    /// Decodes the body before scanning it, and passes it on decoded.
    pub(crate) fn decoded(mut self, decoder: StreamDecoder) -> Scanned<B> {
        self.decoder = Some(decoder);
        self
    }

    /// Bytes already read from `inner`, which come first.
    pub(crate) fn after(mut self, head: Bytes) -> Scanned<B> {
        self.head = Some(head).filter(|h| !h.is_empty());
        self
    }

    /// Scans what arrived with what is held; Ok is what may go on now.
    fn pass(&mut self, data: &[u8], last: bool) -> Result<Option<Bytes>, BoxError> {
        self.held.extend_from_slice(data);
        let scanner = (*self.scanner).as_ref();
        let found = match self.look {
            Look::All => scanner.scan(&self.held),
            Look::Own => scanner.scan_own(&self.held),
        };
        if let Some(f) = found {
            self.done = true;
            self.held.clear();
            if let Some(tell) = self.on_secret.take() {
                tell(f.kind);
            }
            return Err(BoxError::from(format!(
                "bot-bottle egress cut this body off: it carries a secret ({})",
                f.kind
            )));
        }
        let keep = if last { 0 } else { self.holdback };
        let release = self.held.len().saturating_sub(keep);
        if release == 0 {
            return Ok(None);
        }
        let out = Bytes::copy_from_slice(&self.held[..release]);
        self.held.drain(..release);
        Ok(Some(out))
    }

    fn fail(&mut self, why: String) -> Polled {
        self.done = true;
        self.held.clear();
        Poll::Ready(Some(Err(BoxError::from(why))))
    }
}

/// What `pass` gave, as a poll answer; None when nothing may go yet.
fn emit(out: Result<Option<Bytes>, BoxError>) -> Option<Polled> {
    match out {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(Poll::Ready(Some(Ok(Frame::data(bytes))))),
        Err(e) => Some(Poll::Ready(Some(Err(e)))),
    }
}

impl<B> Body for Scanned<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(decoder) = &mut this.decoder
                && !this.raw.is_empty()
            {
                let (taken, out) = match decoder.step(&this.raw) {
                    Ok(step) => step,
                    Err(e) => return this.fail(format!("cannot decode the body: {e}")),
                };
                this.raw.advance(taken);
                if let Some(poll) = emit(this.pass(&out, false)) {
                    return poll;
                }
                continue;
            }
            if this.ended {
                let rest = match this.decoder.as_mut().map(StreamDecoder::finish) {
                    None => Vec::new(),
                    Some(Ok(rest)) => rest,
                    Some(Err(e)) => return this.fail(format!("cannot decode the body: {e}")),
                };
                let out = this.pass(&rest, true);
                this.done = true;
                return emit(out).unwrap_or(Poll::Ready(None));
            }
            let frame = match this.head.take() {
                Some(head) => Frame::data(head),
                None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                    None => {
                        this.ended = true;
                        continue;
                    }
                    Some(Err(e)) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    Some(Ok(frame)) => frame,
                },
            };
            // Trailers are not passed on: they would go unscanned.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if this.decoder.is_some() {
                this.raw = data;
            } else if let Some(poll) = emit(this.pass(&data, false)) {
                return poll;
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http_body_util::BodyExt;

    use super::*;
    use crate::egress::decode::Coding;
    use crate::pieces::Pieces;

    const SECRET: &str = "s3cr3t-Token-0123456789";

    struct Own(Scanner);

    impl AsRef<Scanner> for Own {
        fn as_ref(&self) -> &Scanner {
            &self.0
        }
    }

    /// Runs a body through the scanner; (what came out, error?, what the
    /// callback was told).
    async fn run(
        parts: Vec<Vec<u8>>,
        look: Look,
        holdback: usize,
        decoder: Option<StreamDecoder>,
    ) -> (Vec<u8>, bool, Option<&'static str>) {
        let told = Arc::new(Mutex::new(None));
        let told2 = Arc::clone(&told);
        let scanner: Arc<dyn AsRef<Scanner> + Send + Sync> =
            Arc::new(Own(Scanner::new(&[SECRET.to_owned()])));
        let mut body = Scanned::new(
            parts.into_iter().collect::<Pieces>(),
            scanner,
            look,
            holdback,
            Box::new(move |kind| *told2.lock().unwrap() = Some(kind)),
        );
        if let Some(d) = decoder {
            body = body.decoded(d);
        }
        let mut out = Vec::new();
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => out.extend_from_slice(&f.into_data().unwrap()),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let kind = *told.lock().unwrap();
        (out, failed, kind)
    }

    #[tokio::test]
    async fn clean_bodies_pass_whole() {
        let body: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for size in [1, 100, 4096, 1 << 20] {
            let parts = body.chunks(size).map(<[u8]>::to_vec).collect();
            let (out, failed, kind) = run(parts, Look::Own, 200, None).await;
            assert!(!failed && kind.is_none(), "chunks of {size}");
            assert_eq!(out, body, "chunks of {size}");
        }
    }

    #[tokio::test]
    async fn a_split_secret_never_leaves_in_part() {
        let body = format!("{}{SECRET}{}", "a".repeat(5000), "b".repeat(50));
        // Every split point through the secret, and every encoding.
        for cut in 4990..5000 + SECRET.len() + 1 {
            let parts = vec![
                body.as_bytes()[..cut].to_vec(),
                body.as_bytes()[cut..].to_vec(),
            ];
            let (out, failed, kind) = run(parts, Look::Own, 6 * SECRET.len(), None).await;
            assert!(failed, "cut at {cut}");
            assert_eq!(kind, Some("injected-secret"));
            let out = String::from_utf8(out).unwrap();
            assert!(
                out.bytes().all(|b| b == b'a'),
                "cut at {cut}: part of the secret left"
            );
        }
    }

    #[tokio::test]
    async fn look_all_finds_known_shapes_and_own_only_ignores_them() {
        let aws = format!("xx AKIA{} yy", "QWERTYUIOPASDFGH");
        let parts = vec![aws.as_bytes().to_vec()];
        let (_, failed, kind) = run(parts.clone(), Look::All, 8192, None).await;
        assert!(failed);
        assert_eq!(kind, Some("aws-access-key-id"));
        let (out, failed, _) = run(parts, Look::Own, 100, None).await;
        assert!(!failed);
        assert_eq!(out, aws.as_bytes());
    }

    #[tokio::test]
    async fn compressed_bodies_are_scanned_decoded() {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(format!("{{\"echo\": \"Bearer {SECRET}\"}}").as_bytes())
            .unwrap();
        let gz = e.finish().unwrap();
        let parts = gz.chunks(5).map(<[u8]>::to_vec).collect();
        let (out, failed, kind) =
            run(parts, Look::Own, 200, StreamDecoder::new(Coding::Gzip)).await;
        assert!(failed && kind.is_some());
        assert!(!String::from_utf8_lossy(&out).contains("s3cr"));

        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello, plain answer").unwrap();
        let gz = e.finish().unwrap();
        let (out, failed, _) =
            run(vec![gz], Look::Own, 200, StreamDecoder::new(Coding::Gzip)).await;
        assert!(!failed);
        assert_eq!(out, b"hello, plain answer", "passed on decoded");

        let (_, failed, kind) = run(
            vec![b"not gzip at all".to_vec()],
            Look::Own,
            200,
            StreamDecoder::new(Coding::Gzip),
        )
        .await;
        assert!(failed && kind.is_none(), "a corrupt body is cut off");
    }
}
