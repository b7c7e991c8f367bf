//! ordo's HTTP/1.1 client for upstream endpoints.
//!
//! # Why not hyper's pooled client?
//!
//! hyper-util's pooled client is built for any caller: every request takes
//! a pool lookup under a lock keyed by a hashed scheme and authority, goes
//! through a channel to the task that owns the connection, and comes back
//! through a oneshot, with a boxed future and a cloned client per call. In
//! ordo's proxy the request task already knows its endpoint and owns the
//! whole exchange, so here it writes and reads the connection itself:
//!
//! - each [`Endpoint`] keeps its own pool of idle connections (a push and a
//!   pop under a lock held for nothing else);
//! - the request head is written straight from the client's parts (nothing
//!   copied into a new request, headers not cloned for a retry), with the
//!   body in the same write when it is small;
//! - the response head is parsed with httparse and its header values share
//!   the read buffer; a body that arrived with the head is handed on whole
//!   and the connection goes back to the pool before the client is even
//!   answered.
//!
//! On the proxy's bench this alone took the proxy's user-space time per
//! request from about 7.2 to 4.4 µs (BENCHMARKS.md, "Where ordo's time
//! goes"). HTTP/2 upstreams, which multiplex one connection, still go
//! through hyper's client.
//!
//! A connection that sat idle and turns out closed when a request is sent
//! on it (the upstream's keep-alive timeout raced with the request) is
//! retried once on a new connection, for requests that may be sent twice.

mod body;
mod chunked;
mod codec;
mod pool;

pub use body::UpstreamBody;
pub(crate) use pool::{OpenGuard, Pool};

use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use self::body::Back;
pub(crate) use self::chunked::{ChunkedDecoder, Decoded};
pub(crate) use self::codec::{
    Field, Length, ProtocolError, chunk_size_line, field_places, fmt_u64, itoa_buf, put, spelled,
    tokens,
};
use self::codec::{RequestFraming, ResponseFraming};
use self::pool::Conn;
use crate::cluster::Endpoint;
use crate::http::headers::Added;
use crate::http::{BodyError, RequestBody};

/// A request body up to this size goes out in the same write as the head.
const COALESCE_BODY: usize = 16 * 1024;

/// What a request sends, borrowed from the client's request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a Method,
    /// Path and query (origin form).
    pub(crate) target: &'a str,
    pub(crate) headers: &'a HeaderMap,
    /// What this hop adds, written after `headers`.
    pub(crate) added: &'a Added<'a>,
    /// The client asked to switch protocols (`Upgrade`).
    pub(crate) upgrade: bool,
    /// The request may be sent twice (retried on a new connection when a
    /// pooled one turns out closed).
    pub(crate) idempotent: bool,
}

/// Why an exchange with an upstream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made in time.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The connection broke before the response head was read.
    #[error("connection broke before the response: {0}")]
    Reset(io::Error),
    /// The response is not valid HTTP/1.1.
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    /// The client's request body broke off.
    #[error("request body: {0}")]
    RequestBody(BodyError),
}

/// The upgraded connection of a `101 Switching Protocols` response, in the
/// response's extensions: the bytes already read from it, and the socket.
#[derive(Debug, Clone)]
pub(crate) struct Upgraded(Arc<std::sync::Mutex<Option<Conn>>>);

impl Upgraded {
    /// The socket, any bytes the upstream sent after its `101` head, and
    /// the guard that counts the connection as open until dropped.
    pub(crate) fn take(&self) -> Option<(TcpStream, Bytes, OpenGuard)> {
        let conn = self.0.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        Some(conn.into_parts())
    }
}

/// A cluster's HTTP/1 client: its pool settings and connection counters.
/// The pools themselves are the endpoints'.
#[derive(Debug, Clone)]
pub(crate) struct H1Client {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_idle: usize,
    /// Connections opened.
    pub(crate) opened: Counter,
    /// Connections open now.
    pub(crate) open: Gauge,
}

impl H1Client {
    /// Sends a request to `endpoint` and reads the response head. The body
    /// is read as the caller polls it; the connection goes back to the
    /// endpoint's pool when it ends.
    pub(crate) async fn send(
        &self,
        endpoint: &Arc<Endpoint>,
        head: RequestHead<'_>,
        mut body: RequestBody,
        now: Instant,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let mut conn = match endpoint.pool().checkout(now, self.idle_timeout) {
            Some(c) => c,
            None => self.connect(endpoint).await?,
        };
        loop {
            let replay = if conn.reused > 0 && head.idempotent {
                body.try_clone()
            } else {
                None
            };
            match self.exchange(conn, endpoint, head, body).await {
                Err(Exchange::Stale(_)) if replay.is_some() => {
                    body = replay.expect("checked");
                    conn = self.connect(endpoint).await?;
                }
                Err(Exchange::Stale(e)) => return Err(SendError::Reset(e)),
                Err(Exchange::Failed(e)) => return Err(e),
                Ok(resp) => return Ok(resp),
            }
        }
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<Conn, SendError> {
        let connecting = async {
            match endpoint.socket_addr() {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect(endpoint.address()).await,
            }
        };
        let io = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return Err(SendError::Connect(e)),
            Err(_) => {
                return Err(SendError::Connect(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connect timed out",
                )));
            }
        };
        let _ = io.set_nodelay(true);
        self.opened.inc();
        Ok(Conn::new(io, self.open.clone()))
    }

    /// One request and its response head on `conn`.
    async fn exchange(
        &self,
        mut conn: Conn,
        endpoint: &Arc<Endpoint>,
        head: RequestHead<'_>,
        body: RequestBody,
    ) -> Result<Response<UpstreamBody>, Exchange> {
        let reused = conn.reused > 0;
        // Nothing heard on a reused connection: it may have been closed
        // under us, and the request may go again on a new one.
        let broke = |e: io::Error, heard: bool| {
            if reused && !heard {
                Exchange::Stale(e)
            } else {
                Exchange::Failed(SendError::Reset(e))
            }
        };
        let (write_failed, answered_early) = match write_request(&mut conn, endpoint, head, body)
            .await
        {
            Ok(Sent::All) => (None, false),
            // An early answer: read it, and do not reuse the connection (the
            // rest of the request was never sent).
            Ok(Sent::Answered) => (None, true),
            Err(WriteError::Body(e)) => return Err(Exchange::Failed(SendError::RequestBody(e))),
            // The upstream may have answered already (and stopped reading):
            // look for its response before calling it a reset.
            Err(WriteError::Io(e)) => (Some(e), false),
        };
        let mut heard = false;
        let parsed = loop {
            if !conn.read.is_empty() {
                heard = true;
                match codec::parse_response_head(&conn.read, &mut conn.fields) {
                    Ok(Some(p)) if (100..200).contains(&p.code()) && p.code() != 101 => {
                        // 100 Continue and other interim responses: skipped.
                        conn.read.advance(p.len);
                        continue;
                    }
                    Ok(Some(p)) => break p,
                    Ok(None) => {}
                    Err(e) => return Err(Exchange::Failed(e.into())),
                }
            }
            conn.reserve();
            match conn.io.read_buf(&mut conn.read).await {
                Ok(0) => {
                    let e = write_failed.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the upstream")
                    });
                    return Err(broke(e, heard));
                }
                Ok(_) => {}
                Err(e) => return Err(broke(write_failed.unwrap_or(e), heard)),
            }
        };
        let head_bytes = conn.read.split_to(parsed.len).freeze();
        let response_head = parsed
            .build(&head_bytes, &conn.fields)
            .map_err(|e| Exchange::Failed(e.into()))?;
        drop(head_bytes);
        let mut resp = Response::new(UpstreamBody::buffered(Bytes::new()));
        *resp.status_mut() = response_head.status;
        *resp.version_mut() = response_head.version;
        if response_head.status == StatusCode::SWITCHING_PROTOCOLS {
            if !head.upgrade {
                return Err(Exchange::Failed(
                    ProtocolError::Head(httparse::Error::Status).into(),
                ));
            }
            *resp.headers_mut() = response_head.headers;
            resp.extensions_mut()
                .insert(Upgraded(Arc::new(std::sync::Mutex::new(Some(conn)))));
            return Ok(resp);
        }
        let (framing, keep_alive) = codec::response_framing(head.method, &response_head)
            .map_err(|e| Exchange::Failed(e.into()))?;
        *resp.headers_mut() = response_head.headers;
        let reuse = keep_alive && write_failed.is_none() && !answered_early;
        let back = || {
            reuse.then(|| Back {
                endpoint: endpoint.clone(),
                max_idle: self.max_idle,
            })
        };
        *resp.body_mut() = match framing {
            ResponseFraming::Empty => {
                if reuse && conn.read.is_empty() {
                    endpoint.pool().checkin(conn, Instant::now(), self.max_idle);
                }
                UpstreamBody::buffered(Bytes::new())
            }
            ResponseFraming::Length(n) if conn.read.len() as u64 >= n => {
                let data = conn.read.split_to(n as usize).freeze();
                if reuse && conn.read.is_empty() {
                    endpoint.pool().checkin(conn, Instant::now(), self.max_idle);
                }
                UpstreamBody::buffered(data)
            }
            ResponseFraming::Length(n) => UpstreamBody::length(conn, n, back()),
            ResponseFraming::Chunked => UpstreamBody::chunked(conn, back()),
            ResponseFraming::UntilClose => UpstreamBody::until_close(conn),
        };
        Ok(resp)
    }
}

/// How an exchange failed.
enum Exchange {
    /// A reused connection broke before anything was heard on it.
    Stale(io::Error),
    Failed(SendError),
}

enum WriteError {
    Io(io::Error),
    Body(BodyError),
}

/// How writing a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// All of it went out.
    All,
    /// The upstream answered before all of it was sent (an early `413` or
    /// `401`, say): the rest was not sent, and the connection is not to be
    /// reused.
    Answered,
}

/// Writes the request: the head, and the body as it arrives. Stops early
/// if the upstream answers meanwhile (its bytes are then in `conn.read`).
async fn write_request(
    conn: &mut Conn,
    endpoint: &Endpoint,
    head: RequestHead<'_>,
    body: RequestBody,
) -> Result<Sent, WriteError> {
    let framing = match &body {
        RequestBody::Empty if needs_length(head.method) => RequestFraming::Length(0),
        RequestBody::Empty => RequestFraming::None,
        b => match b.size_hint().exact() {
            Some(n) => RequestFraming::Length(n),
            None => RequestFraming::Chunked,
        },
    };
    let mut out = std::mem::take(&mut conn.write);
    codec::encode_request_head(
        &mut out,
        head.method,
        head.target,
        head.headers,
        *head.added,
        endpoint.address(),
        framing,
    );
    let written = match body {
        RequestBody::Empty => send_all(&conn.io, &mut conn.read, &[&out]).await,
        RequestBody::Full { data: Some(data) } if data.len() <= COALESCE_BODY => {
            out.extend_from_slice(&data);
            send_all(&conn.io, &mut conn.read, &[&out]).await
        }
        RequestBody::Full { data } => {
            let data = data.unwrap_or_default();
            send_all(&conn.io, &mut conn.read, &[&out, &data]).await
        }
        // Boxed: the streamed path's state is large and rare, and would
        // otherwise make every request's future larger.
        streamed => {
            let r = Box::pin(write_streamed(conn, &mut out, streamed, framing)).await;
            out.clear();
            conn.write = out;
            return r;
        }
    }
    .map_err(WriteError::Io);
    out.clear();
    conn.write = out;
    written
}

/// Writes the head in `out`, then each frame of a streamed body as it
/// arrives (in chunks when its length is unknown), watching for an early
/// answer between and during writes.
async fn write_streamed(
    conn: &mut Conn,
    out: &mut Vec<u8>,
    mut body: RequestBody,
    framing: RequestFraming,
) -> Result<Sent, WriteError> {
    if send_all(&conn.io, &mut conn.read, &[out])
        .await
        .map_err(WriteError::Io)?
        == Sent::Answered
    {
        return Ok(Sent::Answered);
    }
    let chunked = framing == RequestFraming::Chunked;
    let mut trailers = None;
    loop {
        let frame = tokio::select! {
            biased;
            r = conn.io.readable() => {
                r.map_err(WriteError::Io)?;
                if answered(&conn.io, &mut conn.read).map_err(WriteError::Io)? {
                    return Ok(Sent::Answered);
                }
                continue;
            }
            f = body.frame() => f,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(WriteError::Body)?;
        let sent = match frame.into_data() {
            Ok(data) if data.is_empty() => Sent::All,
            Ok(data) if chunked => {
                out.clear();
                codec::chunk_size_line(out, data.len());
                send_all(&conn.io, &mut conn.read, &[out, &data, b"\r\n"]).await
            }
            .map_err(WriteError::Io)?,
            Ok(data) => send_all(&conn.io, &mut conn.read, &[&data])
                .await
                .map_err(WriteError::Io)?,
            Err(frame) => {
                trailers = frame.into_trailers().ok();
                Sent::All
            }
        };
        if sent == Sent::Answered {
            return Ok(Sent::Answered);
        }
    }
    if chunked {
        out.clear();
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers.iter().flatten() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        return send_all(&conn.io, &mut conn.read, &[out])
            .await
            .map_err(WriteError::Io);
    }
    Ok(Sent::All)
}

/// Writes `pieces`, in order, to `io`. Most requests go out in one
/// non-blocking write (a plain `send` for one piece); only when the socket
/// pushes back does it wait, and then for either room to write or bytes to
/// read: if the upstream answers before all is written, it stops there.
/// (A hand-polled future: it is part of every request's state, so it is
/// kept to a few words.)
fn send_all<'a>(
    io: &'a TcpStream,
    read: &'a mut BytesMut,
    pieces: &'a [&'a [u8]],
) -> impl Future<Output = io::Result<Sent>> + 'a {
    let (mut i, mut off) = (0usize, 0usize);
    std::future::poll_fn(move |cx| {
        loop {
            while i < pieces.len() && off == pieces[i].len() {
                i += 1;
                off = 0;
            }
            if i == pieces.len() {
                return Poll::Ready(Ok(Sent::All));
            }
            let written = if i + 1 == pieces.len() {
                io.try_write(&pieces[i][off..])
            } else {
                let mut iov = [io::IoSlice::new(&[]); 3];
                let mut n = 0;
                for (k, p) in pieces[i..].iter().take(3).enumerate() {
                    iov[k] = io::IoSlice::new(if k == 0 { &p[off..] } else { p });
                    n += 1;
                }
                io.try_write_vectored(&iov[..n])
            };
            match written {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(mut n) => {
                    // Advance over what went out.
                    while n > 0 {
                        let left = pieces[i].len() - off;
                        if n < left {
                            off += n;
                            n = 0;
                        } else {
                            n -= left;
                            i += 1;
                            off = 0;
                        }
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // The socket is full: wait for room, or for an early answer.
            if let Poll::Ready(r) = io.poll_read_ready(cx) {
                match r.and_then(|()| answered(io, read)) {
                    Ok(true) => return Poll::Ready(Ok(Sent::Answered)),
                    // Stale readiness: nothing there after all.
                    Ok(false) => continue,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            match io.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
}

/// After `io` turned readable: whether the upstream really sent something
/// (kept in `read`) or the readiness was stale; an error if it closed.
fn answered(io: &TcpStream, read: &mut BytesMut) -> io::Result<bool> {
    read.reserve(4096);
    match io.try_read_buf(read) {
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the upstream closed the connection while the request was sent",
        )),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Methods whose requests carry a body by meaning: an empty one is sent
/// with `content-length: 0` so the upstream does not wait for one.
fn needs_length(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}
