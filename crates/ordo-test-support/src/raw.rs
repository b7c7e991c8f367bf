//! [`RawUpstream`]: an upstream that answers with bytes a test wrote by hand.
//!
//! A well-behaved HTTP server never sends a chunked body with trailers, an
//! interim `100 Continue`, a body delimited by closing the connection, a
//! malformed status line, or closes a keep-alive connection just as the
//! next request arrives, so a proxy's HTTP/1 client cannot be tested
//! against one. This server reads each request (head and body) and answers
//! with the next [`RawReply`] of its script, shared by all connections in
//! the order requests arrive, and records every request's raw bytes:
//!
//! ```no_run
//! # async fn demo() {
//! use ordo_test_support::raw::{RawReply, RawUpstream};
//!
//! let up = RawUpstream::start(vec![
//!     RawReply::keep("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
//!     RawReply::close("HTTP/1.0 200 OK\r\n\r\nuntil close"),
//! ])
//! .await;
//! // ... send requests through the proxy to up.addr() ...
//! assert_eq!(up.connections(), 1);
//! assert!(up.requests()[0].starts_with(b"GET / HTTP/1.1\r\n"));
//! # }
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the server does after writing a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Waits for the next request on the same connection.
    KeepOpen,
    /// Closes the connection.
    Close,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// The bytes written, exactly.
    pub bytes: Vec<u8>,
    /// What happens to the connection next.
    pub after: After,
    /// Answer as soon as the head is read, before the body (the server
    /// still reads and discards the body afterwards, as a server that
    /// refuses an upload early should).
    pub before_body: bool,
    /// Close without writing anything (`bytes` is ignored).
    pub silent_close: bool,
    /// Answer right after the head and never read the body (the
    /// connection stays open until the peer closes it).
    pub ignore_body: bool,
}

impl RawReply {
    /// `bytes`, then the connection stays open.
    pub fn keep(bytes: impl AsRef<[u8]>) -> Self {
        RawReply {
            bytes: bytes.as_ref().to_vec(),
            after: After::KeepOpen,
            before_body: false,
            silent_close: false,
            ignore_body: false,
        }
    }

    /// `bytes`, then the connection is closed.
    pub fn close(bytes: impl AsRef<[u8]>) -> Self {
        RawReply {
            after: After::Close,
            ..RawReply::keep(bytes)
        }
    }

    /// The request is read and the connection closed without an answer
    /// (a keep-alive connection the server gave up on as the request came).
    pub fn hang_up() -> Self {
        RawReply {
            silent_close: true,
            ..RawReply::close("")
        }
    }

    /// The same reply, written right after the request head.
    pub fn before_body(mut self) -> Self {
        self.before_body = true;
        self
    }

    /// The same reply, written right after the request head; the body is
    /// never read, and the connection stays open until the peer closes it
    /// (an upstream that refuses an upload and stops reading).
    pub fn ignoring_body(mut self) -> Self {
        self.ignore_body = true;
        self
    }
}

/// The reply when the script has run out.
const DEFAULT_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<RawReply>>,
    requests: Mutex<Vec<Vec<u8>>>,
    connections: AtomicUsize,
}

/// A scripted raw HTTP/1 server on `127.0.0.1:0`; stops when dropped.
#[derive(Debug)]
pub struct RawUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpstream {
    /// Starts the server with its script; once the script has run out,
    /// every request gets `200 ok` with keep-alive.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(script: Vec<RawReply>) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            ..State::default()
        });
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                let mut conns = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    state.connections.fetch_add(1, Ordering::Relaxed);
                    conns.spawn(serve(stream, state.clone()));
                }
            }
        });
        RawUpstream { addr, state, task }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Every request read so far (head and body as received), in order.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_head(&mut stream, &mut buf).await else {
            return;
        };
        let reply = state
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or_else(|| RawReply::keep(DEFAULT_REPLY));
        if reply.ignore_body {
            let _ = stream.write_all(&reply.bytes).await;
            state
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(buf[..head_end].to_vec());
            // Hold the connection open, reading nothing, until the server
            // stops.
            std::future::pending::<()>().await;
        }
        if reply.before_body && !reply.silent_close {
            let _ = stream.write_all(&reply.bytes).await;
        }
        let Some(end) = read_body(&mut stream, &mut buf, head_end).await else {
            return;
        };
        let request: Vec<u8> = buf.drain(..end).collect();
        state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request);
        if reply.silent_close {
            return;
        }
        if !reply.before_body && stream.write_all(&reply.bytes).await.is_err() {
            return;
        }
        if reply.after == After::Close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Reads until `buf` holds a whole request head; its length.
async fn read_until_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end + 4);
        }
        read_more(stream, buf).await?;
    }
}

/// Reads the body after a head of `head_end` bytes (by `content-length`
/// or the chunked coding); the request's whole length.
async fn read_body(stream: &mut TcpStream, buf: &mut Vec<u8>, head_end: usize) -> Option<usize> {
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    if field("transfer-encoding:").is_some_and(|v| v.ends_with("chunked")) {
        loop {
            if let Some(end) = chunked_end(&buf[head_end..]) {
                return Some(head_end + end);
            }
            read_more(stream, buf).await?;
        }
    }
    let len: usize = field("content-length:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        read_more(stream, buf).await?;
    }
    Some(head_end + len)
}

/// Where a chunked body (with any trailers) ends, once it is all there.
fn chunked_end(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = body[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let size_text = std::str::from_utf8(&body[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, up to the blank line.
            let rest = &body[at..];
            if rest.starts_with(b"\r\n") {
                return Some(at + 2);
            }
            return rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| at + p + 4);
        }
        if body.len() < at + size + 2 {
            return None;
        }
        at += size + 2;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunked_end;

    #[test]
    fn finds_the_end_of_chunked_bodies() {
        assert_eq!(chunked_end(b"0\r\n\r\n"), Some(5));
        assert_eq!(chunked_end(b"3\r\nabc\r\n0\r\n\r\nNEXT"), Some(13));
        assert_eq!(chunked_end(b"3\r\nabc\r\n0\r\nx: y\r\n\r\n"), Some(19));
        assert_eq!(chunked_end(b"3\r\nabc\r\n0\r\n"), None);
        assert_eq!(chunked_end(b"3\r\nab"), None);
    }
}
