//! Bodies in both directions, without boxing: a request body is empty,
//! kept whole (so a retry can send it again) or streamed; a response body
//! is ordo's own or the upstream's, streamed, holding the request's
//! resources until its last byte.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use ordo_resilience::bulkhead::BulkheadPermit;
use pin_project_lite::pin_project;

use super::h1::ClientBody;
use crate::cluster::InFlight;
use crate::upstream::UpstreamBody;
use ordo_fault::Throttled;

pin_project! {
    /// The body sent upstream.
    #[project = RequestBodyProj]
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum RequestBody {
        /// No body.
        Empty,
        /// A body read whole (up to the retry buffer limit): replayable.
        Full {
            data: Option<Bytes>,
        },
        /// A body streamed from the client: sent once.
        Stream {
            #[pin]
            inner: ClientBody,
        },
        /// A body of unknown length streamed under a size limit: cut off,
        /// with `tripped` set, once more than `left` bytes arrive.
        Limited {
            #[pin]
            inner: ClientBody,
            left: u64,
            tripped: Arc<AtomicBool>,
        },
    }
}

impl RequestBody {
    /// A copy for another attempt; `None` for a streamed body.
    pub(crate) fn try_clone(&self) -> Option<RequestBody> {
        match self {
            RequestBody::Empty => Some(RequestBody::Empty),
            RequestBody::Full { data } => Some(RequestBody::Full { data: data.clone() }),
            RequestBody::Stream { .. } | RequestBody::Limited { .. } => None,
        }
    }
}

/// The request body's error: the client's stream broke, or it passed the
/// listener's size limit.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            RequestBodyProj::Empty => Poll::Ready(None),
            RequestBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            RequestBodyProj::Stream { inner } => inner.poll_frame(cx).map_err(Into::into),
            RequestBodyProj::Limited {
                inner,
                left,
                tripped,
            } => match inner.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    if n > *left {
                        tripped.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(
                            "request body over the listener's limit".into()
                        )));
                    }
                    *left -= n;
                    Poll::Ready(Some(Ok(frame)))
                }
                other => other.map_err(Into::into),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full { data } => data.is_none(),
            RequestBody::Stream { inner } | RequestBody::Limited { inner, .. } => {
                inner.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            RequestBody::Stream { inner } | RequestBody::Limited { inner, .. } => inner.size_hint(),
        }
    }
}

/// What a streamed response holds until its last byte: the endpoint's
/// in-flight count and the route's bulkhead slot.
#[derive(Debug, Default)]
pub struct Hold {
    pub(crate) _in_flight: Option<InFlight>,
    pub(crate) _bulkhead: Option<BulkheadPermit>,
}

pin_project! {
    /// The body sent to the client.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum ResponseBody {
        /// A body ordo made.
        Full {
            data: Option<Bytes>,
        },
        /// An HTTP/1 upstream's body, streamed.
        Http1 {
            #[pin]
            inner: UpstreamBody,
            hold: Hold,
        },
        /// An HTTP/2 upstream's body, streamed.
        Http2 {
            #[pin]
            inner: Incoming,
            hold: Hold,
        },
        /// A body slowed down by a bandwidth fault.
        Throttled {
            inner: Pin<Box<Throttled<ResponseBody>>>,
        },
    }
}

/// An upstream's response body, before it is wrapped for the client.
#[derive(Debug)]
pub(crate) enum Received {
    Http1(UpstreamBody),
    Http2(Incoming),
    /// A whole body made by a fault.
    Full(Bytes),
}

impl ResponseBody {
    /// A body of these bytes.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        ResponseBody::Full {
            data: (!data.is_empty()).then_some(data),
        }
    }

    /// The length of a body ordo made whole (its own answer, a fallback, a
    /// fault's, slowed down or not), which an answer to `HEAD` declares
    /// without sending it; `None` for a body that streams. Asked before
    /// the body is first polled (a whole body once sent reports 0).
    pub(crate) fn whole_length(&self) -> Option<u64> {
        match self {
            ResponseBody::Full { data } => Some(data.as_ref().map_or(0, |d| d.len() as u64)),
            ResponseBody::Throttled { inner } => inner.get_ref().whole_length(),
            ResponseBody::Http1 { .. } | ResponseBody::Http2 { .. } => None,
        }
    }

    /// An upstream's body, holding `hold` until its last byte.
    pub(crate) fn upstream(received: Received, hold: Hold) -> Self {
        match received {
            Received::Http1(inner) => ResponseBody::Http1 { inner, hold },
            Received::Http2(inner) => ResponseBody::Http2 { inner, hold },
            Received::Full(data) => ResponseBody::full(data),
        }
    }

    /// `body`, sent at no more than `bytes_per_second`.
    pub(crate) fn throttled(body: ResponseBody, bytes_per_second: u64) -> Self {
        ResponseBody::Throttled {
            inner: Box::pin(Throttled::new(body, bytes_per_second)),
        }
    }
}

/// Lets go of what the response held once its body ended or failed.
fn release<T, E>(polled: &Poll<Option<Result<T, E>>>, hold: &mut Hold) {
    if let Poll::Ready(None | Some(Err(_))) = polled {
        *hold = Hold::default();
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            ResponseBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ResponseBodyProj::Http1 { inner, hold } => {
                let polled = inner.poll_frame(cx);
                release(&polled, hold);
                polled
            }
            ResponseBodyProj::Http2 { inner, hold } => {
                let polled = inner.poll_frame(cx).map_err(Into::into);
                release(&polled, hold);
                polled
            }
            ResponseBodyProj::Throttled { inner } => inner.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full { data } => data.is_none(),
            ResponseBody::Http1 { inner, .. } => inner.is_end_stream(),
            ResponseBody::Http2 { inner, .. } => inner.is_end_stream(),
            ResponseBody::Throttled { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ResponseBody::Http1 { inner, .. } => inner.size_hint(),
            ResponseBody::Http2 { inner, .. } => inner.size_hint(),
            ResponseBody::Throttled { inner } => inner.size_hint(),
        }
    }
}
