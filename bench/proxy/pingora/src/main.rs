//! A minimal reverse proxy on `pingora-proxy`, used as a peer in ordo's proxy benchmark.
//!
//! It forwards every request to one of its upstreams (round robin) over pooled keep-alive
//! connections, with one worker thread and no access log. For the resilience scenarios it can
//! apply a per-try read timeout and retry a failed try on the next upstream. Pingora retries only
//! on errors (connect failure, timeout, reset), never on a response status such as 503, and has
//! no passive outlier detection: those scenarios are marked as not supported for this peer.
//!
//! `GET /__bench/stats` is answered by the proxy itself with the number of tries it sent to
//! each upstream, as JSON (`{"tries":{"127.0.0.1:9000":12}}`); the harness reads it to count
//! upstream requests per client request when the upstreams cannot count them.
//!
//! ```text
//! bench-pingora-proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 [--upstream ...]
//!                     [--threads 1] [--pool 1024] [--idle-timeout-s 90]
//!                     [--connect-timeout-ms 1000] [--try-timeout-ms 0] [--retries 0]
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::Result;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::{ProxyHttp, Session};

struct Args {
    listen: String,
    upstreams: Vec<SocketAddr>,
    threads: usize,
    pool: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    try_timeout: Option<Duration>,
    retries: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-pingora-proxy --listen ADDR --upstream ADDR [--upstream ADDR ...] \
         [--threads N] [--pool N] [--idle-timeout-s S] [--connect-timeout-ms MS] \
         [--try-timeout-ms MS] [--retries N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:6190".into(),
        upstreams: Vec::new(),
        threads: 1,
        pool: 1024,
        idle_timeout: Duration::from_secs(90),
        connect_timeout: Duration::from_secs(1),
        try_timeout: None,
        retries: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<u64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--listen" => a.listen = val(),
            "--upstream" => {
                let v = val();
                let addr = v.to_socket_addrs().ok().and_then(|mut i| i.next());
                a.upstreams.push(addr.unwrap_or_else(|| usage()));
            }
            "--threads" => a.threads = num(val()) as usize,
            "--pool" => a.pool = num(val()) as usize,
            "--idle-timeout-s" => a.idle_timeout = Duration::from_secs(num(val())),
            "--connect-timeout-ms" => a.connect_timeout = Duration::from_millis(num(val())),
            "--try-timeout-ms" => {
                let ms = num(val());
                a.try_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "--retries" => a.retries = num(val()) as usize,
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if a.upstreams.is_empty() {
        usage();
    }
    a
}

struct Bench {
    upstreams: Vec<SocketAddr>,
    next: AtomicUsize,
    /// Tries sent to each upstream, by index (one relaxed add per try).
    tries: Vec<AtomicUsize>,
    idle_timeout: Duration,
    connect_timeout: Duration,
    try_timeout: Option<Duration>,
    retries: usize,
}

/// Per request: which upstream the last try went to, and how many tries failed.
struct Ctx {
    index: Option<usize>,
    failed_tries: usize,
}

#[async_trait]
impl ProxyHttp for Bench {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            index: None,
            failed_tries: 0,
        }
    }

    async fn request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<bool> {
        if session.req_header().uri.path() != "/__bench/stats" {
            return Ok(false);
        }
        let entries: Vec<String> = self
            .upstreams
            .iter()
            .zip(&self.tries)
            .map(|(a, n)| format!("\"{a}\":{}", n.load(Ordering::Relaxed)))
            .collect();
        let body = format!("{{\"tries\":{{{}}}}}\n", entries.join(","));
        let mut resp = ResponseHeader::build(200, Some(2))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", body.len().to_string())?;
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(Bytes::from(body)), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _s: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let n = self.upstreams.len();
        // A retry goes to the endpoint after the one that failed; a first try takes the next
        // in round-robin order.
        let index = match ctx.index {
            Some(i) => (i + 1) % n,
            None => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        ctx.index = Some(index);
        self.tries[index].fetch_add(1, Ordering::Relaxed);
        let mut peer = HttpPeer::new(self.upstreams[index], false, String::new());
        peer.options.idle_timeout = Some(self.idle_timeout);
        peer.options.connection_timeout = Some(self.connect_timeout);
        if let Some(t) = self.try_timeout {
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
        }
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _s: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.failed_tries += 1;
        e.set_retry(ctx.failed_tries <= self.retries);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let idempotent = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        ctx.failed_tries += 1;
        let retryable_kind = matches!(
            e.etype(),
            ErrorType::ReadTimedout
                | ErrorType::WriteTimedout
                | ErrorType::ConnectionClosed
                | ErrorType::ReadError
                | ErrorType::WriteError
        );
        if idempotent && retryable_kind && ctx.failed_tries <= self.retries {
            e.set_retry(true);
        } else if idempotent {
            // Pingora's default: a stale pooled connection is retried once.
            e.retry.decide_reuse(client_reused);
        } else {
            e.set_retry(false);
        }
        e
    }
}

fn main() {
    let args = parse_args();
    let conf = ServerConf {
        threads: args.threads,
        work_stealing: false,
        upstream_keepalive_pool_size: args.pool,
        // pingora's `max_retries` bounds attempts in all (its loop runs while attempts <
        // max_retries): one more than the retries. Our own count above decides each retry.
        max_retries: args.retries + 1,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let n_upstreams = args.upstreams.len();
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut svc = pingora_proxy::http_proxy_service(
        &server.configuration,
        Bench {
            upstreams: args.upstreams,
            next: AtomicUsize::new(0),
            tries: (0..n_upstreams).map(|_| AtomicUsize::new(0)).collect(),
            idle_timeout: args.idle_timeout,
            connect_timeout: args.connect_timeout,
            try_timeout: args.try_timeout,
            retries: args.retries,
        },
    );
    svc.add_tcp(&args.listen);
    server.add_service(svc);
    server.run_forever();
}
