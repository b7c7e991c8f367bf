//! The HTTP health probe: one `GET http://127.0.0.1:$PORT{path}` on a fresh
//! connection, bounded by a timeout; a 2xx or 3xx answer passes.
//!
//! A fresh connection per check (as Kubernetes' probes do) means a process
//! that stops accepting is noticed, not hidden behind a pooled connection.
//! Only the response head is awaited; the body is dropped with the connection.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

/// Checks one address's health path.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    address: SocketAddr,
    path: String,
    timeout: Duration,
}

impl Probe {
    /// A probe of `GET http://{address}{path}`, each check bounded by `timeout`.
    pub(crate) fn new(address: SocketAddr, path: &str, timeout: Duration) -> Self {
        Probe {
            address,
            path: path.to_owned(),
            timeout,
        }
    }

    /// One check: `Ok` on 2xx or 3xx, otherwise why it failed
    /// ("answered 503 Service Unavailable", "no answer within 1s", ...).
    pub(crate) async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.exchange()).await {
            Ok(Ok(status)) if status.is_success() || status.is_redirection() => Ok(()),
            Ok(Ok(status)) => Err(format!("answered {status}")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            )),
        }
    }

    async fn exchange(&self) -> Result<http::StatusCode, String> {
        let stream = TcpStream::connect(self.address)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("cannot speak HTTP/1.1: {e}"))?;
        let request = Request::get(self.path.as_str())
            .header(header::HOST, self.address.to_string())
            .header(header::USER_AGENT, "ordo-platform health probe")
            .header(header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| format!("bad health path {:?}: {e}", self.path))?;
        // The connection is driven here, not in a task of its own. When it
        // ends first (the server answered and closed at once), it is dropped,
        // so the answer, if it came, is read from the response future.
        let mut conn = Box::pin(conn);
        let mut response = pin!(sender.send_request(request));
        let closed = tokio::select! {
            biased;
            response = &mut response => return response
                .map(|r| r.status())
                .map_err(|e| format!("request failed: {e}")),
            closed = &mut conn => closed,
        };
        drop(conn);
        match response.await {
            Ok(r) => Ok(r.status()),
            Err(_) => Err(match closed {
                Ok(()) => "connection closed without an answer".to_owned(),
                Err(e) => format!("connection failed: {e}"),
            }),
        }
    }
}

/// `probe`'s checks, one at once and then one every `every` (later if a
/// check takes longer), for as long as the stream is polled.
pub(crate) fn checks(probe: Probe, every: Duration) -> impl Stream<Item = Result<(), String>> {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    futures_util::stream::unfold((probe, ticker), |(probe, mut ticker)| async move {
        ticker.tick().await;
        let result = probe.check().await;
        Some((result, (probe, ticker)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers every connection with `response`, once.
    async fn answering(response: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(response.as_bytes()).await;
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn two_and_three_hundreds_pass() {
        for ok in [
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            "HTTP/1.1 302 Found\r\nlocation: /x\r\ncontent-length: 0\r\n\r\n",
        ] {
            let address = answering(ok).await;
            let probe = Probe::new(address, "/health", Duration::from_secs(5));
            assert_eq!(probe.check().await, Ok(()));
        }
    }

    #[tokio::test]
    async fn failures_say_why() {
        let address =
            answering("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let probe = Probe::new(address, "/health", Duration::from_secs(5));
        assert_eq!(
            probe.check().await,
            Err("answered 503 Service Unavailable".into())
        );

        let address = answering("").await;
        let probe = Probe::new(address, "/health", Duration::from_secs(5));
        let err = probe.check().await.unwrap_err();
        assert!(
            err.contains("without an answer") || err.contains("failed"),
            "{err}"
        );

        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let err = Probe::new(address, "/health", Duration::from_secs(5))
            .check()
            .await
            .unwrap_err();
        assert!(err.starts_with("cannot connect: "), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let probe = Probe::new(
            listener.local_addr().unwrap(),
            "/health",
            Duration::from_millis(300),
        );
        assert_eq!(probe.check().await, Err("no answer within 300ms".into()));
    }
}
