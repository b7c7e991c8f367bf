//! Upstream connections and each endpoint's pool of idle ones.
//!
//! A connection is owned by the request using it, never shared: the request
//! writes and reads it directly, and hands it back to its endpoint's pool
//! when the response's last byte has been read. The pool is a short list
//! under a lock held for a push or a pop, most recently used last (a warm
//! connection is reused first; the oldest age out first).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Read buffer a new connection starts with; it grows for larger heads.
const READ_BUFFER: usize = 4096;

/// One upstream connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) io: TcpStream,
    /// Bytes read and not yet used.
    pub(crate) read: BytesMut,
    /// The request head being written (kept for its capacity).
    pub(crate) write: Vec<u8>,
    /// Where the last response head's fields were (kept for its capacity).
    pub(crate) fields: Vec<super::codec::Field>,
    /// Requests sent on it before the current one.
    pub(crate) reused: u32,
    open: OpenGuard,
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub(crate) struct OpenGuard(Gauge);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Conn {
    /// A new connection, counted in `open` until dropped.
    pub(crate) fn new(io: TcpStream, open: Gauge) -> Self {
        open.inc();
        Conn {
            io,
            read: BytesMut::with_capacity(READ_BUFFER),
            write: Vec::new(),
            fields: Vec::new(),
            reused: 0,
            open: OpenGuard(open),
        }
    }

    /// The socket, the bytes read from it and not used, and its guard.
    pub(crate) fn into_parts(self) -> (TcpStream, bytes::Bytes, OpenGuard) {
        (self.io, self.read.freeze(), self.open)
    }

    /// Makes room in the read buffer for the next read.
    pub(crate) fn reserve(&mut self) {
        if self.read.capacity() - self.read.len() < READ_BUFFER / 2 {
            self.read.reserve(READ_BUFFER);
        }
    }

    /// Whether an idle connection was closed (or sent something nobody
    /// asked for) while it sat in the pool. Reads the runtime's readiness
    /// first, so a quiet connection costs no system call.
    fn peer_closed(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                !matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// An endpoint's idle connections.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<VecDeque<(Conn, Instant)>>,
}

impl Pool {
    /// The most recently used idle connection that is still open and was
    /// idle for less than `idle_timeout`.
    pub(crate) fn checkout(&self, now: Instant, idle_timeout: Duration) -> Option<Conn> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match idle.pop_back() {
                    None => break None,
                    Some((_, since)) if now.saturating_duration_since(since) >= idle_timeout => {
                        // The newest is too old, so are all the others.
                        stale.extend(idle.drain(..).map(|(c, _)| c));
                        break None;
                    }
                    Some((conn, _)) if conn.peer_closed() => stale.push(conn),
                    Some((conn, _)) => break Some(conn),
                }
            }
        };
        // Closed outside the lock.
        drop(stale);
        found
    }

    /// Keeps a connection for the next request, unless `max_idle` are kept
    /// already (then the oldest is closed).
    pub(crate) fn checkin(&self, mut conn: Conn, now: Instant, max_idle: usize) {
        conn.reused = conn.reused.saturating_add(1);
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push_back((conn, now));
            (idle.len() > max_idle).then(|| idle.pop_front())
        };
        drop(evicted);
    }

    /// Closes connections idle for `idle_timeout` or closed by the peer.
    pub(crate) fn sweep(&self, now: Instant, idle_timeout: Duration) {
        let stale: Vec<Conn> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut stale = Vec::new();
            let mut kept = VecDeque::with_capacity(idle.len());
            for (conn, since) in idle.drain(..) {
                if now.saturating_duration_since(since) >= idle_timeout || conn.peer_closed() {
                    stale.push(conn);
                } else {
                    kept.push_back((conn, since));
                }
            }
            *idle = kept;
            stale
        };
        drop(stale);
    }

    /// Takes over `other`'s idle connections (an endpoint replaced by a
    /// reload keeps its warm connections).
    pub(crate) fn adopt(&self, other: &Pool) {
        let moved: VecDeque<_> =
            std::mem::take(&mut *other.idle.lock().unwrap_or_else(|p| p.into_inner()));
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(moved);
    }

    /// Idle connections now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair(l: &TcpListener) -> (Conn, TcpStream) {
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (Conn::new(client, Gauge::default()), server)
    }

    #[tokio::test]
    async fn newest_first_and_closed_ones_skipped() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let (a, mut a_peer) = pair(&l).await;
        let (b, b_peer) = pair(&l).await;
        let b_port = b.io.local_addr().unwrap().port();
        let now = Instant::now();
        pool.checkin(a, now, 8);
        pool.checkin(b, now, 8);
        let b = pool.checkout(now, Duration::from_secs(60)).unwrap();
        assert_eq!(b.io.local_addr().unwrap().port(), b_port, "newest first");
        assert_eq!(b.reused, 1);
        let a = pool.checkout(now, Duration::from_secs(60)).unwrap();
        // b's peer closes; a's peer sends bytes nobody asked for. Once the
        // runtime has seen both, neither is handed out again.
        drop(b_peer);
        a_peer.write_all(b"junk").await.unwrap();
        a.io.readable().await.unwrap();
        b.io.readable().await.unwrap();
        pool.checkin(a, now, 8);
        pool.checkin(b, now, 8);
        assert!(pool.checkout(now, Duration::from_secs(60)).is_none());
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test]
    async fn idle_connections_age_out_and_the_pool_has_a_cap() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::default();
        let now = Instant::now();
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (c, p) = pair(&l).await;
            peers.push(p);
            pool.checkin(c, now, 2);
        }
        assert_eq!(pool.idle(), 2, "the oldest was closed");
        let later = now + Duration::from_secs(10);
        pool.sweep(later, Duration::from_secs(20));
        assert_eq!(pool.idle(), 2);
        pool.sweep(later, Duration::from_secs(5));
        assert_eq!(pool.idle(), 0);
        let (c, _p) = pair(&l).await;
        pool.checkin(c, now, 2);
        assert!(pool.checkout(later, Duration::from_secs(5)).is_none());
    }
}
