//! [`UpstreamBuilder`]: name, protocols and starting behaviour of an upstream.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Upstream;
use super::behaviour::Behaviour;
use super::server::{self, Protocols};
use super::state::{Shared, SharedOptions};

/// Configures an [`Upstream`]; get one from [`Upstream::builder`].
#[derive(Clone, Debug)]
pub struct UpstreamBuilder {
    listen: SocketAddr,
    protocols: Protocols,
    options: SharedOptions,
}

impl Default for UpstreamBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            protocols: Protocols::Auto,
            options: SharedOptions {
                name: "upstream".to_owned(),
                ok_body: None,
                record: true,
                control: false,
                healthy: true,
                behaviour: Behaviour::Ok,
            },
        }
    }
}

impl UpstreamBuilder {
    /// The name sent in `x-upstream` and as the Ok body (default `"upstream"`).
    /// Must be a valid header value.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = name.into();
        self
    }

    /// Whether HTTP/2 with prior knowledge is accepted next to HTTP/1.1
    /// (default `true`: the protocol is detected per connection).
    /// `false` serves HTTP/1.1 only.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.protocols = if enabled {
            Protocols::Auto
        } else {
            Protocols::Http1Only
        };
        self
    }

    /// Serves HTTP/2 with prior knowledge only; HTTP/1.1 clients fail.
    pub fn http2_only(mut self) -> Self {
        self.protocols = Protocols::Http2Only;
        self
    }

    /// The behaviour from the first request on (default [`Behaviour::Ok`]).
    pub fn behaviour(mut self, behaviour: Behaviour) -> Self {
        self.options.behaviour = behaviour;
        self
    }

    /// Whether `GET /health` starts healthy (default `true`).
    pub fn healthy(mut self, healthy: bool) -> Self {
        self.options.healthy = healthy;
        self
    }

    /// Body of Ok responses instead of the name.
    pub fn ok_body(mut self, body: impl Into<Bytes>) -> Self {
        self.options.ok_body = Some(body.into());
        self
    }

    /// Whether to keep the last request for [`Upstream::last_request`]
    /// (default `true`; benchmarks turn it off to save the copy).
    pub fn record(mut self, record: bool) -> Self {
        self.options.record = record;
        self
    }

    /// Whether to serve the control API under `/__ordo/` (default `false`):
    /// `PUT /__ordo/behaviour` (see [`BehaviourSpec`](super::BehaviourSpec)),
    /// `GET /__ordo/stats` (see [`Stats`](super::Stats)) and
    /// `POST /__ordo/stats/reset`. The `ordo-upstream` binary always turns it on.
    pub fn control(mut self, enabled: bool) -> Self {
        self.options.control = enabled;
        self
    }

    /// Address to bind (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Binds and starts serving on the current tokio runtime.
    ///
    /// # Panics
    /// If the address cannot be bound, or the name is not a header value.
    pub async fn start(self) -> Upstream {
        let (name, listen) = (self.options.name.clone(), self.listen);
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("starting upstream {name} on {listen}: {e}"))
    }

    /// Binds and starts serving on the current tokio runtime.
    ///
    /// # Panics
    /// If the name is not a header value.
    pub async fn try_start(self) -> io::Result<Upstream> {
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(self.options, stopped.clone()));
        let http = server::Http::new(self.protocols);
        let task = tokio::spawn(server::run(listener, Arc::clone(&shared), http, stopped));
        Ok(Upstream {
            addr,
            shared,
            stop,
            task,
        })
    }
}
