//! A client's request body as the proxy reads it: nothing, an HTTP/1
//! body read from the connection as the request's steps ask for it, or
//! hyper's HTTP/2 stream; and a connection handed over after `101`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::http::BodyError;

/// Where an HTTP/1 body's frames come from: the connection it arrived on.
pub(crate) trait Source: Send + Sync {
    /// The body's next frame (data, or the chunked coding's trailers);
    /// `None` at its end.
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>>;
}

/// A request body from a client.
#[derive(Debug)]
pub enum ClientBody {
    /// No body.
    Empty,
    /// An HTTP/1 body, read from the client's connection.
    Http1(Http1Body),
    /// An HTTP/2 stream's body.
    Http2(Incoming),
}

impl std::fmt::Debug for Http1Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Body")
            .field("left", &self.left)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// An HTTP/1 request body, read from the connection as it is polled.
pub struct Http1Body {
    source: Arc<dyn Source>,
    /// Bytes still to come of a `Content-Length` body; `None` for a
    /// chunked one.
    left: Option<u64>,
    ended: bool,
}

impl ClientBody {
    pub(crate) fn http1(source: Arc<dyn Source>, length: Option<u64>) -> ClientBody {
        ClientBody::Http1(Http1Body {
            source,
            left: length,
            ended: false,
        })
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            ClientBody::Empty => Poll::Ready(None),
            ClientBody::Http2(inner) => Pin::new(inner).poll_frame(cx).map_err(Into::into),
            ClientBody::Http1(body) => {
                if body.ended {
                    return Poll::Ready(None);
                }
                let polled = std::task::ready!(body.source.poll_frame(cx));
                match &polled {
                    Some(Ok(frame)) => {
                        if let (Some(left), Some(data)) = (&mut body.left, frame.data_ref()) {
                            *left = left.saturating_sub(data.len() as u64);
                            body.ended = *left == 0;
                        }
                    }
                    None | Some(Err(_)) => body.ended = true,
                }
                Poll::Ready(polled)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Empty => true,
            ClientBody::Http1(body) => body.ended,
            ClientBody::Http2(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Empty => SizeHint::with_exact(0),
            ClientBody::Http1(Http1Body { left: Some(n), .. }) => SizeHint::with_exact(*n),
            ClientBody::Http1(Http1Body { ended: true, .. }) => SizeHint::with_exact(0),
            ClientBody::Http1(_) => SizeHint::default(),
            ClientBody::Http2(inner) => inner.size_hint(),
        }
    }
}

/// Bytes both ways on a connection that switched protocols.
pub(crate) trait Tunnel: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Tunnel for T {}

/// A client's connection after the proxy answered its upgrade with `101`:
/// the bytes the client sent after its request come first.
pub struct ClientUpgraded(pub(crate) Box<dyn Tunnel>);

impl std::fmt::Debug for ClientUpgraded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientUpgraded")
    }
}

/// In an upgrade request's extensions: the client's connection, once the
/// `101` is written (dropped unsent when the answer is anything else).
/// (Extensions must be `Clone`; the first to take it has it.)
#[derive(Debug, Clone)]
pub(crate) struct OnClientUpgrade(Arc<Mutex<Option<oneshot::Receiver<ClientUpgraded>>>>);

impl OnClientUpgrade {
    pub(crate) fn new(rx: oneshot::Receiver<ClientUpgraded>) -> OnClientUpgrade {
        OnClientUpgrade(Arc::new(Mutex::new(Some(rx))))
    }

    /// The client's connection once the `101` is written; `None` when the
    /// connection went away instead.
    pub(crate) async fn upgraded(self) -> Option<ClientUpgraded> {
        let rx = self.0.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        rx.await.ok()
    }
}

impl AsyncRead for ClientUpgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientUpgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}
