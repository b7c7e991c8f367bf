//! The response body type: a ready buffer for the fast paths, or a trickle of
//! chunks paced by `tokio::time` for bodies that stream
//! ([`Behaviour::Stream`](super::Behaviour::Stream)) or break
//! ([`Behaviour::ResetMidBody`](super::Behaviour::ResetMidBody)).
//!
//! A breaking body pauses between its last chunk and the abort: hyper flushes
//! what it has buffered only when the body is pending, so an abort returned
//! right after the data would take the response head down with it and the
//! client would see a failed request instead of a failed body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Sleep, sleep};

/// Why a response body stopped early.
#[derive(Debug, thiserror::Error)]
#[error("upstream aborted the response body on purpose")]
pub(crate) struct BodyAborted;

/// Body of every response the upstream sends.
#[derive(Debug)]
pub(crate) enum UpstreamBody {
    /// The whole body, sent as one frame (`None` once sent).
    Full(Option<Bytes>),
    /// The same chunk `remaining` more times, `every` apart, then the end or an abort.
    Trickle(Trickle),
}

/// State of a [`UpstreamBody::Trickle`].
#[derive(Debug)]
pub(crate) struct Trickle {
    chunk: Bytes,
    remaining: usize,
    every: Duration,
    pause: Option<Pin<Box<Sleep>>>,
    abort: bool,
    len: Option<u64>,
}

impl UpstreamBody {
    /// A body of exactly these bytes.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }

    /// `chunks` copies of `chunk`, the first at once, then one every `every`;
    /// sent chunked (no content-length).
    pub(crate) fn stream(chunk: Bytes, chunks: usize, every: Duration) -> Self {
        Self::Trickle(Trickle {
            chunk,
            remaining: chunks,
            every,
            pause: None,
            abort: false,
            len: None,
        })
    }

    /// Announces `len` bytes, sends `chunk`, waits `pause`, then aborts.
    pub(crate) fn breaking(len: u64, chunk: Bytes, pause: Duration) -> Self {
        Self::Trickle(Trickle {
            chunk,
            remaining: 1,
            every: pause,
            pause: None,
            abort: true,
            len: Some(len),
        })
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        let trickle = match self.get_mut() {
            Self::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Trickle(trickle) => trickle,
        };
        if let Some(pause) = trickle.pause.as_mut() {
            ready!(pause.as_mut().poll(cx));
            trickle.pause = None;
        }
        if trickle.remaining == 0 {
            let abort = std::mem::take(&mut trickle.abort);
            return Poll::Ready(abort.then_some(Err(BodyAborted)));
        }
        trickle.remaining -= 1;
        if trickle.remaining > 0 || trickle.abort {
            trickle.pause = Some(Box::pin(sleep(trickle.every)));
        }
        Poll::Ready(Some(Ok(Frame::data(trickle.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Trickle(t) => t.remaining == 0 && !t.abort,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Trickle(Trickle { len: Some(len), .. }) => SizeHint::with_exact(*len),
            Self::Trickle(_) => SizeHint::default(),
        }
    }
}
