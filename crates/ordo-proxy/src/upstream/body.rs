//! An upstream response body read straight from its connection, which goes
//! back to the endpoint's pool the moment the last byte is read (or at
//! once, when the whole body came with the head).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use super::chunked::{ChunkedDecoder, Decoded};
use super::pool::Conn;
use crate::cluster::Endpoint;
use crate::http::BodyError;

/// A response body from an HTTP/1 upstream.
#[derive(Debug)]
pub struct UpstreamBody {
    state: State,
}

#[derive(Debug)]
enum State {
    /// The whole body, already read (`None` once sent or when empty).
    Buffered(Option<Bytes>),
    /// Still on the connection.
    Reading(Box<Reading>),
    /// Trailers are next, then the end.
    Trailers(Option<HeaderMap>),
}

#[derive(Debug)]
struct Reading {
    conn: Conn,
    framing: Framing,
    /// Where the connection goes back when the body ends, if it may.
    back: Option<Back>,
}

/// An endpoint's pool and its cap, for a connection that may be reused.
#[derive(Debug)]
pub(crate) struct Back {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) max_idle: usize,
}

impl Back {
    pub(crate) fn put(self, conn: Conn) {
        self.endpoint
            .pool()
            .checkin(conn, Instant::now(), self.max_idle);
    }
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl UpstreamBody {
    /// A body that is already whole.
    pub(crate) fn buffered(data: Bytes) -> Self {
        UpstreamBody {
            state: State::Buffered((!data.is_empty()).then_some(data)),
        }
    }

    /// `left` more bytes on `conn`.
    pub(crate) fn length(conn: Conn, left: u64, back: Option<Back>) -> Self {
        Self::reading(conn, Framing::Length(left), back)
    }

    /// A chunked body on `conn`.
    pub(crate) fn chunked(conn: Conn, back: Option<Back>) -> Self {
        Self::reading(conn, Framing::Chunked(ChunkedDecoder::default()), back)
    }

    /// Everything until the upstream closes `conn`.
    pub(crate) fn until_close(conn: Conn) -> Self {
        Self::reading(conn, Framing::UntilClose, None)
    }

    fn reading(conn: Conn, framing: Framing, back: Option<Back>) -> Self {
        UpstreamBody {
            state: State::Reading(Box::new(Reading {
                conn,
                framing,
                back,
            })),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match &mut this.state {
            State::Buffered(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            State::Trailers(t) => Poll::Ready(t.take().map(|t| Ok(Frame::trailers(t)))),
            State::Reading(r) => {
                let polled = ready!(r.poll_step(cx));
                match polled {
                    Ok(Step::Data(d)) => {
                        if r.finished() {
                            this.finish(None);
                        }
                        Poll::Ready(Some(Ok(Frame::data(d))))
                    }
                    Ok(Step::End(trailers)) => {
                        this.finish(trailers);
                        match &mut this.state {
                            State::Trailers(t) => {
                                Poll::Ready(t.take().map(|t| Ok(Frame::trailers(t))))
                            }
                            _ => Poll::Ready(None),
                        }
                    }
                    Err(e) => {
                        // The connection is dropped with the state.
                        this.state = State::Buffered(None);
                        Poll::Ready(Some(Err(e)))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Buffered(d) => d.is_none(),
            State::Trailers(t) => t.is_none(),
            State::Reading(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Buffered(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
            State::Trailers(_) => SizeHint::with_exact(0),
            State::Reading(r) => match r.framing {
                Framing::Length(n) => SizeHint::with_exact(n),
                _ => SizeHint::default(),
            },
        }
    }
}

impl UpstreamBody {
    /// The body has ended: the connection goes back to its pool if it may,
    /// and the trailers (if any) are the last frame.
    fn finish(&mut self, trailers: Option<HeaderMap>) {
        let next = State::Trailers(trailers.filter(|t| !t.is_empty()));
        if let State::Reading(r) = std::mem::replace(&mut self.state, next) {
            let Reading { conn, back, .. } = *r;
            // Bytes after the body that nobody asked for: do not reuse.
            if let Some(back) = back
                && conn.read.is_empty()
            {
                back.put(conn);
            }
        }
    }
}

/// One step of reading.
enum Step {
    Data(Bytes),
    End(Option<HeaderMap>),
}

impl Reading {
    /// Whether the last data frame completed the body.
    fn finished(&self) -> bool {
        match &self.framing {
            Framing::Length(n) => *n == 0,
            Framing::Chunked(d) => d.is_done(),
            Framing::UntilClose => false,
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<Step, BodyError>> {
        loop {
            match &mut self.framing {
                Framing::Length(0) => return Poll::Ready(Ok(Step::End(None))),
                Framing::Length(left) => {
                    if !self.conn.read.is_empty() {
                        let n = self
                            .conn
                            .read
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        *left -= n as u64;
                        return Poll::Ready(Ok(Step::Data(self.conn.read.split_to(n).freeze())));
                    }
                }
                Framing::Chunked(d) => match d.decode(&mut self.conn.read) {
                    Ok(Decoded::Data(b)) => return Poll::Ready(Ok(Step::Data(b))),
                    Ok(Decoded::End(t)) => return Poll::Ready(Ok(Step::End(Some(t)))),
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => return Poll::Ready(Err(e.into())),
                },
                Framing::UntilClose => {
                    if !self.conn.read.is_empty() {
                        let all = self.conn.read.split().freeze();
                        return Poll::Ready(Ok(Step::Data(all)));
                    }
                }
            }
            self.conn.reserve();
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.conn.io),
                cx,
                &mut self.conn.read
            ))?;
            if n == 0 {
                return Poll::Ready(match self.framing {
                    Framing::UntilClose => Ok(Step::End(None)),
                    _ => Err("the upstream closed the connection before the body ended".into()),
                });
            }
        }
    }
}
