//! Writing a response to an HTTP/1 client: the head, framed for the body
//! (`Content-Length` when its length is known, chunked otherwise, or until
//! close for an HTTP/1.0 client), and the body, with small pieces gathered
//! into one write (the common response, head and body, is one `send`).

use std::cell::Cell;
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Response, StatusCode, Version};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Shared, unless_client_leaves};
use crate::http::watchdog::ServedBody;
use crate::reason::{REASON_HEADER, Reason};
use crate::upstream::{chunk_size_line, fmt_u64, itoa_buf, put};

/// Body pieces up to this size are copied behind the head (or the pieces
/// before them) and written together; larger ones are written as they are.
const GATHER: usize = 16 * 1024;

/// What becomes of the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    KeepAlive,
    Close,
    /// A `101` to an upgrade request was written: the connection is the
    /// tunnel's now.
    Upgrade,
}

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body is sent (`HEAD`, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client, length unknown).
    Close,
}

/// Writes `resp` to the client. `keep_alive`: whether the connection may
/// serve another request after this one, as far as the request goes;
/// `upgrade`: the request asked to switch protocols.
pub(super) async fn write<I: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<I>,
    out: &mut Vec<u8>,
    resp: Response<ServedBody>,
    head_only: bool,
    version: Version,
    keep_alive: bool,
    upgrade: bool,
) -> After {
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    let switching = upgrade && status == StatusCode::SWITCHING_PROTOCOLS;
    let framing = if head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::None
    } else if let Some(n) = body.size_hint().exact() {
        Framing::Length(n)
    } else if let Some(n) = declared_length(&parts.headers) {
        Framing::Length(n)
    } else if version == Version::HTTP_11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    let keep_alive = keep_alive && framing != Framing::Close && !status.is_informational();
    out.clear();
    status_line(out, version, status);
    let mut dated = false;
    for (name, value) in &parts.headers {
        dated |= name == header::DATE;
        // The framing is this hop's (a `HEAD`'s or `304`'s length stays as
        // the upstream said it); `Connection` too, except on a `101`.
        let framing_header = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        if (framing_header && framing != Framing::None)
            || (name == header::CONNECTION && !switching)
        {
            continue;
        }
        put(out, name.as_str().as_bytes(), value.as_bytes());
    }
    // Written out: the map serves the next head.
    crate::spare_maps::give(parts.headers);
    if !dated {
        put_date(out);
    }
    match framing {
        Framing::Length(n) => {
            let mut digits = itoa_buf();
            put(out, b"content-length", fmt_u64(n, &mut digits));
        }
        Framing::Chunked => put(out, b"transfer-encoding", b"chunked"),
        Framing::None | Framing::Close => {}
    }
    if switching {
        // Its `Connection: upgrade` was among the headers.
    } else if !keep_alive {
        put(out, b"connection", b"close");
    } else if version == Version::HTTP_10 {
        put(out, b"connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    if framing == Framing::None {
        if write_all(shared, out).await.is_err() {
            return After::Close;
        }
        return match (switching, keep_alive) {
            (true, _) => After::Upgrade,
            (false, true) => After::KeepAlive,
            (false, false) => After::Close,
        };
    }
    match write_body(shared, out, body, framing).await {
        Ok(true) if keep_alive => After::KeepAlive,
        _ => After::Close,
    }
}

/// Streams the body behind the head already in `out`: `Ok(true)` when it
/// was written whole and framed as announced.
async fn write_body<I: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<I>,
    out: &mut Vec<u8>,
    body: ServedBody,
    framing: Framing,
) -> io::Result<bool> {
    let mut body = pin!(body);
    let mut sent: u64 = 0;
    let mut trailers = None;
    loop {
        // What the body has now; when it has nothing yet, what is gathered
        // goes out before waiting for it.
        let polled = std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
        let next = match polled {
            Poll::Ready(next) => next,
            Poll::Pending => {
                if !out.is_empty() {
                    write_all(shared, out).await?;
                    out.clear();
                }
                // A client that leaves ends a long wait (a stream of events).
                match unless_client_leaves(shared, body.as_mut().frame()).await {
                    Some(next) => next,
                    None => return Ok(false),
                }
            }
        };
        let data = match next {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers: after the last chunk (a body of known length
                // has no place for them).
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    continue;
                }
            },
            Some(Err(e)) => {
                // The client sees the body end early: the connection closes
                // without the end a complete body would have.
                tracing::debug!(error = %e, "response body broke off");
                write_all(shared, out).await?;
                return Ok(false);
            }
            None => break,
        };
        let mut data = data;
        // More than the length announced: what fits, then the connection
        // closes (the rest would be read as the next response).
        let mut over = false;
        if let Framing::Length(n) = framing {
            let room = n.saturating_sub(sent);
            if data.len() as u64 > room {
                data.truncate(room as usize);
                over = true;
            }
            sent += data.len() as u64;
        }
        if !data.is_empty() {
            if framing == Framing::Chunked {
                chunk_size_line(out, data.len());
            }
            put_data(shared, out, data).await?;
            if framing == Framing::Chunked {
                out.extend_from_slice(b"\r\n");
            }
        }
        if over {
            write_all(shared, out).await?;
            return Ok(false);
        }
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers.iter().flatten() {
            put(out, name.as_str().as_bytes(), value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    write_all(shared, out).await?;
    out.clear();
    Ok(match framing {
        Framing::Length(n) => sent == n,
        Framing::Chunked => true,
        Framing::None | Framing::Close => false,
    })
}

/// Gathers `data` behind `out`, or, when it is large, writes `out` and
/// then `data` itself (not copied).
async fn put_data<I: AsyncWrite + Unpin>(
    shared: &Shared<I>,
    out: &mut Vec<u8>,
    data: Bytes,
) -> io::Result<()> {
    if out.len() + data.len() <= GATHER {
        out.extend_from_slice(&data);
        return Ok(());
    }
    if !out.is_empty() {
        write_all(shared, out).await?;
        out.clear();
    }
    write_all(shared, &data).await
}

/// Writes all of `bytes` and flushes.
pub(super) async fn write_all<I: AsyncWrite + Unpin>(
    shared: &Shared<I>,
    bytes: &[u8],
) -> io::Result<()> {
    let mut at = 0;
    std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        while at < bytes.len() {
            match std::task::ready!(std::pin::Pin::new(&mut inner.io).poll_write(cx, &bytes[at..]))
            {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => at += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        std::pin::Pin::new(&mut inner.io).poll_flush(cx)
    })
    .await
}

/// The answer to a head the proxy refuses; the connection closes after it.
pub(super) fn refuse(out: &mut Vec<u8>, reason: Reason) {
    let message = reason.message().as_bytes();
    out.clear();
    status_line(out, Version::HTTP_11, reason.status());
    put(out, b"content-type", b"text/plain; charset=utf-8");
    put(out, REASON_HEADER.as_bytes(), reason.as_str().as_bytes());
    put_date(out);
    let mut digits = itoa_buf();
    put(
        out,
        b"content-length",
        fmt_u64(message.len() as u64, &mut digits),
    );
    put(out, b"connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(message);
}

/// The status line, in the client's version (an HTTP/1.0 client is
/// answered in HTTP/1.0, as hyper did).
fn status_line(out: &mut Vec<u8>, version: Version, status: StatusCode) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A `Content-Length` the response's headers declare (a `HEAD`'s upstream
/// answer, or a streamed body whose length the upstream announced).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CONTENT_LENGTH)?;
    value.to_str().ok()?.trim().parse().ok()
}

thread_local! {
    /// The `Date` value of the current second, made once per second.
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Appends `date: <now>` (RFC 9110 §6.6.1: a response the proxy makes, or
/// one whose upstream sent none).
fn put_date(out: &mut Vec<u8>) {
    // The Date header is wall time by definition.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let text = DATE.with(|cached| {
        let (at, text) = cached.get();
        if at == second {
            return text;
        }
        let mut text = [0u8; 29];
        let made = httpdate::fmt_http_date(now);
        if made.len() == text.len() {
            text.copy_from_slice(made.as_bytes());
        }
        cached.set((second, text));
        text
    });
    put(out, b"date", &text);
}
