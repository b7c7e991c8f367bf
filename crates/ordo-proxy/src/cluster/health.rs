//! Active health checks: a GET of the configured path on every endpoint
//! each interval (plus jitter). An endpoint turns unhealthy after
//! `unhealthy_threshold` failed checks in a row and healthy again after
//! `healthy_threshold` passed ones. Endpoints start healthy, so a new
//! proxy serves at once.

use std::collections::HashMap;
use std::sync::Weak;

use std::sync::Arc;

use http::header::{HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, Request, Uri};
use ordo_config::proxy::HealthCheckConfig;
use ordo_resilience::Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Cluster, Endpoint, UpstreamClient};
use crate::http::headers::Added;
use crate::http::{Hold, Received, RequestBody, ResponseBody};
use crate::upstream::RequestHead;

const USER_AGENT_VALUE: &str = "ordo-health-check";

pub(super) fn spawn(cluster: Weak<Cluster>, hc: HealthCheckConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let rng = Rng::new();
        // Consecutive results per endpoint: positive passes, negative fails.
        let mut streaks: HashMap<String, i64> = HashMap::new();
        loop {
            let jitter = if hc.jitter.is_zero() {
                std::time::Duration::ZERO
            } else {
                hc.jitter.get().mul_f64(rng.next_f64())
            };
            tokio::time::sleep(hc.interval.get().saturating_add(jitter)).await;
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            let endpoints = cluster.endpoints();
            let checks = endpoints.iter().map(|e| check(&cluster, e, &hc));
            let results = futures_util::future::join_all(checks).await;
            streaks.retain(|a, _| endpoints.iter().any(|e| e.address() == a));
            for (e, passed) in endpoints.iter().zip(results) {
                let s = streaks.entry(e.address().to_owned()).or_insert(0);
                *s = match (passed, *s) {
                    (true, n) if n > 0 => n + 1,
                    (true, _) => 1,
                    (false, n) if n < 0 => n - 1,
                    (false, _) => -1,
                };
                let turn = if e.is_healthy() {
                    *s <= -i64::from(hc.unhealthy_threshold)
                } else {
                    *s >= i64::from(hc.healthy_threshold)
                };
                if turn && e.set_healthy(!e.is_healthy()) {
                    tracing::warn!(
                        cluster = cluster.name(),
                        endpoint = e.address(),
                        healthy = e.is_healthy(),
                        "health check state changed"
                    );
                }
            }
        }
    })
}

async fn check(cluster: &Cluster, endpoint: &Arc<Endpoint>, hc: &HealthCheckConfig) -> bool {
    let exchange = async {
        let resp = match &cluster.client {
            UpstreamClient::Http1(client) => {
                let mut headers = HeaderMap::new();
                headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
                let head = RequestHead {
                    method: &Method::GET,
                    target: &hc.path,
                    headers: &headers,
                    added: &Added::default(),
                    upgrade: false,
                    idempotent: true,
                };
                let resp = client
                    .send(endpoint, head, RequestBody::Empty, Instant::now())
                    .await
                    .ok()?;
                resp.map(Received::Http1)
            }
            UpstreamClient::Http2(client) => {
                let uri = format!("http://{}{}", endpoint.address(), hc.path)
                    .parse::<Uri>()
                    .ok()?;
                let req = Request::builder()
                    .method(Method::GET)
                    .uri(uri)
                    .header(USER_AGENT, USER_AGENT_VALUE)
                    .body(RequestBody::Empty)
                    .ok()?;
                client.request(req).await.ok()?.map(Received::Http2)
            }
        };
        let ok = resp.status().is_success() || resp.status().is_redirection();
        // Read the (small) body so the connection goes back to the pool.
        let body = ResponseBody::upstream(resp.into_body(), Hold::default());
        let _ = http_body_util::BodyExt::collect(body).await;
        Some(ok)
    };
    matches!(
        tokio::time::timeout(hc.timeout.get(), exchange).await,
        Ok(Some(true))
    )
}
