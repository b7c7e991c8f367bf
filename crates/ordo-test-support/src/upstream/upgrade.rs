//! HTTP/1.1 upgrades: answer `101 Switching Protocols` and echo raw bytes on
//! the upgraded connection, enough to check that a proxy passes an upgrade
//! (a websocket, say) through. No websocket framing is spoken.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::UpstreamBody;
use super::respond::reply;
use super::server::stopped;
use super::state::Shared;

/// Whether `req` asks for an upgrade: HTTP/1.1 with an `Upgrade` header and
/// `upgrade` among the `Connection` tokens.
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(UPGRADE)
        && req
            .headers()
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Accepts the upgrade and starts echoing once hyper hands the connection over.
pub(crate) fn accept(shared: &Shared, mut req: Request<Incoming>) -> Response<UpstreamBody> {
    let protocol = req
        .headers()
        .get(UPGRADE)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("websocket"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut shutdown = shared.shutdown.clone();
    let name = shared.name.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(upstream = %name, error = %e, "upgrade did not complete");
                return;
            }
        };
        tokio::select! {
            result = echo(TokioIo::new(upgraded)) => {
                if let Err(e) = result {
                    tracing::debug!(upstream = %name, error = %e, "upgraded echo ended");
                }
            }
            () = stopped(&mut shutdown) => {}
        }
    });
    let mut response = reply(
        shared,
        StatusCode::SWITCHING_PROTOCOLS,
        UpstreamBody::empty(),
    );
    let headers = response.headers_mut();
    headers.insert(UPGRADE, protocol);
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    response
}

/// Writes back every byte read, until the peer closes its side.
async fn echo(mut io: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<()> {
    let mut buf = vec![0; 8 * 1024];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return io.shutdown().await;
        }
        io.write_all(&buf[..n]).await?;
        io.flush().await?;
    }
}
