//! A client connection's state, shared by the connection's task and the
//! request body it is reading: the socket, the bytes read and not yet
//! taken, where the body stands, and the `100 Continue` owed. Both sides
//! run in the connection's task, one poll at a time, so the lock around it
//! is never waited for.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::body::Source;
use crate::http::BodyError;
use crate::upstream::{ChunkedDecoder, Decoded};

/// Bytes read from the connection at a time, at least.
pub(super) const READ_CHUNK: usize = 8 * 1024;
/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection's state (see the module doc).
pub(crate) struct Shared<I> {
    inner: Mutex<Inner<I>>,
}

pub(super) struct Inner<I> {
    pub(super) io: I,
    /// Bytes read and not yet taken: the next head, body bytes, or, after
    /// an upgrade, the client's first bytes of the new protocol.
    pub(super) buf: BytesMut,
    pub(super) body: Reading,
    /// The client closed its side (or the connection broke).
    pub(super) eof: bool,
    pub(super) continue_: Continue,
}

/// Where the current request's body stands.
pub(super) enum Reading {
    /// No body, or read to its end.
    Done,
    /// This many bytes to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// The client broke the body off or framed it wrongly: the connection
    /// cannot be used again.
    Broken,
}

/// The `100 Continue` that `Expect: 100-continue` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Continue {
    /// None owed, or sent.
    None,
    /// Owed: sent when the body is first read; this many bytes of it are
    /// still to write (all of them: not begun).
    Owed(usize),
    /// Written, not yet flushed.
    Flushing,
}

impl Continue {
    /// Owed and not begun.
    pub(super) const NOT_BEGUN: Continue = Continue::Owed(CONTINUE.len());
}

impl<I> Shared<I> {
    pub(super) fn new(io: I, buf: BytesMut) -> Shared<I> {
        Shared {
            inner: Mutex::new(Inner {
                io,
                buf,
                body: Reading::Done,
                eof: false,
                continue_: Continue::None,
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner<I>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<I: AsyncRead + Unpin> Inner<I> {
    /// Reads more of the connection into `buf`: `Ready(true)` when bytes
    /// came, `Ready(false)` at the end of the client's side or on an error.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.eof {
            return Poll::Ready(false);
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            // Takes back the buffer's memory when what shared it (the last
            // request's head) is gone.
            self.buf.reserve(READ_CHUNK);
        }
        match std::task::ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            &mut self.buf
        )) {
            Ok(n) if n > 0 => Poll::Ready(true),
            _ => {
                self.eof = true;
                Poll::Ready(false)
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> Inner<I> {
    /// Writes and flushes what is owed of `100 Continue`.
    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.continue_ {
                Continue::None => return Poll::Ready(Ok(())),
                Continue::Owed(left) => {
                    let from = CONTINUE.len() - left;
                    let n = std::task::ready!(
                        Pin::new(&mut self.io).poll_write(cx, &CONTINUE[from..])
                    )?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    self.continue_ = match left - n {
                        0 => Continue::Flushing,
                        rest => Continue::Owed(rest),
                    };
                }
                Continue::Flushing => {
                    std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
                    self.continue_ = Continue::None;
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> Shared<I> {
    /// Before the final response: a `100 Continue` begun is finished (its
    /// bytes are on the wire already); one not begun is not sent.
    pub(super) async fn settle_continue(&self) -> io::Result<()> {
        {
            let mut inner = self.lock();
            if inner.continue_ == Continue::NOT_BEGUN {
                inner.continue_ = Continue::None;
            }
        }
        std::future::poll_fn(|cx| self.lock().poll_continue(cx)).await
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send> Source for Shared<I> {
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Err(e) = std::task::ready!(inner.poll_continue(cx)) {
            inner.body = Reading::Broken;
            inner.continue_ = Continue::None;
            return Poll::Ready(Some(Err(format!("writing 100 Continue: {e}").into())));
        }
        loop {
            match &mut inner.body {
                Reading::Done => return Poll::Ready(None),
                Reading::Broken => {
                    return Poll::Ready(Some(Err("the request body was broken off".into())));
                }
                Reading::Length(left) => {
                    if !inner.buf.is_empty() {
                        let n = (*left).min(inner.buf.len() as u64);
                        *left -= n;
                        if *left == 0 {
                            inner.body = Reading::Done;
                        }
                        let data = inner.buf.split_to(n as usize).freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                Reading::Chunked(decoder) => match decoder.decode(&mut inner.buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::End(trailers)) => {
                        inner.body = Reading::Done;
                        return Poll::Ready(
                            (!trailers.is_empty()).then(|| Ok(Frame::trailers(trailers))),
                        );
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => {
                        inner.body = Reading::Broken;
                        return Poll::Ready(Some(Err(format!("request body: {e}").into())));
                    }
                },
            }
            if !std::task::ready!(inner.poll_fill(cx)) {
                inner.body = Reading::Broken;
                return Poll::Ready(Some(Err(
                    "the client closed its connection before the body's end".into(),
                )));
            }
        }
    }
}

/// The connection after `101`: its unread bytes first, then the socket.
pub(super) struct Upgraded<I>(pub(super) Arc<Shared<I>>);

impl<I: AsyncRead + Unpin> AsyncRead for Upgraded<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.0.lock();
        if !inner.buf.is_empty() {
            let n = inner.buf.len().min(out.remaining());
            out.put_slice(&inner.buf.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut inner.io).poll_read(cx, out)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Upgraded<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.lock().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.lock().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.lock().io).poll_shutdown(cx)
    }
}
