//! For tests: an HTTP body that arrives in set pieces, as a client or an
//! upstream may send it cut anywhere.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};

/// A body that gives its pieces in turn, one frame each, then ends.
pub(crate) struct Pieces(pub(crate) VecDeque<Bytes>);

impl Pieces {
    /// `bytes` cut into pieces of `size` (the last may be shorter).
    pub(crate) fn new(bytes: &[u8], size: usize) -> Pieces {
        Pieces(bytes.chunks(size).map(Bytes::copy_from_slice).collect())
    }
}

impl FromIterator<Vec<u8>> for Pieces {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(pieces: I) -> Pieces {
        Pieces(pieces.into_iter().map(Bytes::from).collect())
    }
}

impl Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}
