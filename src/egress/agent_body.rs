//! The agent's request body, read to its end even when the proxy stops
//! reading it early.
//!
//! The proxy often answers before a body is over: a refusal decided from
//! the headers, a body refused part way (a secret in a streamed body, a
//! compressed one too large to check), an upstream that answered before
//! taking all of it. If the connection were then closed with the rest of
//! the body unread, the kernel would reset it, and a client still sending
//! would get the reset instead of the answer. So whoever stops reading
//! just drops the body: the rest is read and thrown away in the
//! background, within bounds (bytes, time without data, time in all),
//! while the answer goes out. Past the bounds the connection is closed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// At most this much of a body nobody reads is read and dropped.
pub(crate) const DRAIN_LIMIT: usize = 64 << 20;
/// And for at most this long in all.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(60);

pub(crate) struct AgentBody<B: Drainable = Incoming> {
    inner: Option<B>,
    /// How long the drain waits for the next piece.
    idle: Duration,
}

/// What can be drained in the background.
pub(crate) trait Drainable: Body<Data: Send, Error: Send> + Send + Unpin + 'static {}

impl<B: Body<Data: Send, Error: Send> + Send + Unpin + 'static> Drainable for B {}

impl<B: Drainable> AgentBody<B> {
    pub(crate) fn new(inner: B, idle: Duration) -> AgentBody<B> {
        AgentBody {
            inner: Some(inner),
            idle,
        }
    }
}

impl<B: Drainable + Body<Data = Bytes>> Body for AgentBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.get_mut().inner {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B: Drainable> Drop for AgentBody<B> {
    fn drop(&mut self) {
        let Some(body) = self.inner.take().filter(|b| !b.is_end_stream()) else {
            return;
        };
        // Outside a runtime (nothing serves the connection) there is no
        // one to answer.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body, self.idle));
        }
    }
}

/// Reads and drops the rest of `body`: until its end, `DRAIN_LIMIT`
/// bytes, `idle` without a piece, or `DRAIN_TIME` in all.
async fn drain<B: Drainable>(mut body: B, idle: Duration) {
    let bounded = async {
        let mut read = 0;
        while read < DRAIN_LIMIT && !body.is_end_stream() {
            match tokio::time::timeout(idle, body.frame()).await {
                Ok(Some(Ok(frame))) => read += frame.data_ref().map_or(0, Buf::remaining),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, bounded).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::mpsc;

    use super::*;

    /// A body fed through a channel, counting the pieces read from it.
    struct Fed {
        rx: mpsc::Receiver<Bytes>,
        read: Arc<AtomicUsize>,
    }

    impl Body for Fed {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let polled = self.rx.poll_recv(cx);
            if let Poll::Ready(Some(b)) = &polled {
                self.read.fetch_add(b.len(), Ordering::SeqCst);
            }
            polled.map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    fn fed() -> (mpsc::Sender<Bytes>, Fed, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::channel(1);
        let read = Arc::new(AtomicUsize::new(0));
        let body = Fed {
            rx,
            read: Arc::clone(&read),
        };
        (tx, body, read)
    }

    #[tokio::test]
    async fn a_body_dropped_early_is_read_to_its_end() {
        let (tx, body, read) = fed();
        let mut body = AgentBody::new(body, Duration::from_secs(60));
        tx.send(Bytes::from_static(b"first")).await.unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        drop(body);
        // The sender can send the rest: someone reads it. A channel of
        // one would block the second send for ever otherwise.
        for _ in 0..10 {
            tx.send(Bytes::from(vec![b'x'; 1000])).await.unwrap();
        }
        drop(tx);
        // The drain ends at the body's end; the sender is then dropped.
        while read.load(Ordering::SeqCst) < 5 + 10 * 1000 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn the_drain_is_bounded() {
        let (tx, body, read) = fed();
        drop(AgentBody::new(body, Duration::from_secs(60)));
        let piece = Bytes::from(vec![0u8; 1 << 20]);
        // Past the limit the body is dropped: a send then fails.
        let mut sent = 0;
        while tx.send(piece.clone()).await.is_ok() {
            sent += piece.len();
            assert!(sent <= DRAIN_LIMIT + 2 * piece.len(), "read past the limit");
        }
        assert!(read.load(Ordering::SeqCst) >= DRAIN_LIMIT);

        // A body that stalls is let go after `idle`.
        let (tx, body, _) = fed();
        drop(AgentBody::new(body, Duration::from_millis(10)));
        tx.closed().await;
    }
}
