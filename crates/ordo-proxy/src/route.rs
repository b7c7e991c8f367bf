//! Routes compiled from config: matchers that run on a request's parts
//! without allocating, and the cluster(s) a route sends to.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderMap, HeaderName, Method};
use ordo_config::proxy::{HeaderMatch, PathMatch, RouteConfig};
use ordo_resilience::Rng;
use ordo_resilience::metrics::AtomicHistogram;
use prometheus_client::metrics::counter::Counter;
use regex::Regex;

use crate::cluster::Cluster;
use crate::metrics::{CLASSES, ProxyMetrics, RouteClassLabels, RouteLabels};
use crate::policy::Policy;

#[derive(Debug)]
enum HostMatch {
    Exact(String),
    /// `*.example.com`: the suffix `.example.com`.
    Suffix(String),
}

#[derive(Debug)]
enum PathMatcher {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug)]
enum HeaderCond {
    Exact(String),
    Regex(Regex),
    Present(bool),
}

/// A compiled condition on one request header (routes' and faults').
#[derive(Debug)]
pub(crate) struct HeaderMatcher {
    name: HeaderName,
    cond: HeaderCond,
}

impl HeaderMatcher {
    /// Compiles `h`; errors name the field under the matcher.
    pub(crate) fn compile(h: &HeaderMatch) -> Result<HeaderMatcher, (&'static str, String)> {
        let name = HeaderName::try_from(h.name.as_str()).map_err(|e| ("name", e.to_string()))?;
        let cond = if let Some(v) = &h.exact {
            HeaderCond::Exact(v.clone())
        } else if let Some(r) = &h.regex {
            HeaderCond::Regex(anchored(r).map_err(|e| ("regex", e))?)
        } else {
            HeaderCond::Present(h.present.unwrap_or(true))
        };
        Ok(HeaderMatcher { name, cond })
    }

    /// Whether `headers` meet the condition.
    #[inline]
    pub(crate) fn matches(&self, headers: &HeaderMap) -> bool {
        let v = headers.get(&self.name);
        match &self.cond {
            HeaderCond::Present(p) => v.is_some() == *p,
            HeaderCond::Exact(e) => v.is_some_and(|v| v.as_bytes() == e.as_bytes()),
            HeaderCond::Regex(r) => v
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| r.is_match(v)),
        }
    }
}

/// Where a route sends requests.
#[derive(Debug)]
pub(crate) enum Target {
    One(Arc<Cluster>),
    /// Clusters with the running sum of their weights.
    Weighted {
        clusters: Vec<(Arc<Cluster>, u64)>,
        rng: Rng,
    },
}

impl Target {
    #[inline]
    pub(crate) fn pick(&self) -> &Arc<Cluster> {
        match self {
            Target::One(c) => c,
            Target::Weighted { clusters, rng } => {
                let total = clusters.last().map_or(1, |c| c.1).max(1);
                let r = rng.below(total);
                let i = clusters.partition_point(|c| c.1 <= r);
                &clusters[i.min(clusters.len() - 1)].0
            }
        }
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    pub(crate) name: Arc<str>,
    host: Option<HostMatch>,
    path: Option<PathMatcher>,
    methods: Vec<Method>,
    headers: Vec<HeaderMatcher>,
    pub(crate) target: Target,
    pub(crate) policy: Policy,
    pub(crate) by_class: [Counter; 5],
    pub(crate) duration: AtomicHistogram,
    pub(crate) retries: Counter,
    pub(crate) budget_exhausted: Counter,
}

fn anchored(r: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{r})$")).map_err(|e| e.to_string())
}

impl Route {
    /// Compiles a route; errors carry the field path under the route. The
    /// same route of the previous config (`previous`) hands over its
    /// policies' state when their settings did not change.
    pub(crate) fn build(
        listener: &str,
        c: &RouteConfig,
        cluster: impl Fn(&str) -> Option<Arc<Cluster>>,
        metrics: &ProxyMetrics,
        previous: Option<&Route>,
    ) -> Result<Route, (String, String)> {
        let m = &c.matches;
        let host = m.host.as_ref().map(|h| match h.strip_prefix('*') {
            Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
            None => HostMatch::Exact(h.to_ascii_lowercase()),
        });
        let path = match &m.path {
            Some(PathMatch::Exact(p)) => Some(PathMatcher::Exact(p.clone())),
            Some(PathMatch::Prefix(p)) => Some(PathMatcher::Prefix(p.clone())),
            Some(PathMatch::Regex(r)) => Some(PathMatcher::Regex(
                anchored(r).map_err(|e| ("match.path.regex".to_owned(), e))?,
            )),
            None => None,
        };
        let mut methods = Vec::new();
        for (i, meth) in m.methods.iter().enumerate() {
            methods.push(
                Method::from_bytes(meth.as_bytes())
                    .map_err(|e| (format!("match.methods[{i}]"), e.to_string()))?,
            );
        }
        let mut headers = Vec::new();
        for (i, h) in m.headers.iter().enumerate() {
            headers.push(
                HeaderMatcher::compile(h)
                    .map_err(|(f, e)| (format!("match.headers[{i}].{f}"), e))?,
            );
        }
        let target = match &c.cluster {
            Some(name) => Target::One(cluster(name).ok_or_else(|| {
                (
                    "cluster".to_owned(),
                    format!("no cluster is named `{name}`"),
                )
            })?),
            None => {
                let mut sum = 0;
                let mut clusters = Vec::new();
                for (i, w) in c.weighted_clusters.iter().enumerate() {
                    if w.weight == 0 {
                        continue;
                    }
                    sum += u64::from(w.weight);
                    let cl = cluster(&w.cluster).ok_or_else(|| {
                        (
                            format!("weighted_clusters[{i}].cluster"),
                            format!("no cluster is named `{}`", w.cluster),
                        )
                    })?;
                    clusters.push((cl, sum));
                }
                if clusters.is_empty() {
                    return Err(("weighted_clusters".into(), "the weights add up to 0".into()));
                }
                Target::Weighted {
                    clusters,
                    rng: Rng::new(),
                }
            }
        };
        let mut policy = Policy::build(&c.policy, &format!("{listener}/{}", c.name))
            .map_err(|(f, e)| (format!("policy.{f}"), e))?;
        if let Some(before) = previous {
            policy.carry_over(&before.policy);
        }
        let labels = RouteLabels {
            listener: listener.to_owned(),
            route: c.name.clone(),
        };
        Ok(Route {
            name: c.name.as_str().into(),
            host,
            path,
            methods,
            headers,
            target,
            policy,
            by_class: CLASSES.map(|class| {
                metrics
                    .requests
                    .get_or_create(&RouteClassLabels {
                        listener: listener.to_owned(),
                        route: c.name.clone(),
                        class,
                    })
                    .clone()
            }),
            duration: metrics.request_duration.get_or_create(&labels).clone(),
            retries: metrics.retries.get_or_create(&labels).clone(),
            budget_exhausted: metrics.budget_exhausted.get_or_create(&labels).clone(),
        })
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the request matches every condition.
    #[inline]
    pub(crate) fn matches(&self, req: &Parts) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(&req.method) {
            return false;
        }
        if let Some(p) = &self.path {
            let path = req.uri.path();
            let ok = match p {
                PathMatcher::Exact(e) => path == e,
                PathMatcher::Prefix(pre) => path.starts_with(pre.as_str()),
                PathMatcher::Regex(r) => r.is_match(path),
            };
            if !ok {
                return false;
            }
        }
        if let Some(h) = &self.host {
            let Some(host) = request_host(req) else {
                return false;
            };
            let ok = match h {
                HostMatch::Exact(e) => host.eq_ignore_ascii_case(e),
                HostMatch::Suffix(s) => {
                    host.len() > s.len()
                        && host.is_char_boundary(host.len() - s.len())
                        && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
                }
            };
            if !ok {
                return false;
            }
        }
        self.headers.iter().all(|h| h.matches(&req.headers))
    }
}

/// The request's host without the port: the URI's authority (HTTP/2,
/// absolute form), else the `Host` header.
pub(crate) fn request_host(req: &Parts) -> Option<&str> {
    let raw = match req.uri.host() {
        Some(h) => return Some(h),
        None => req.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    if raw.starts_with('[') {
        return raw.split_once(']').map(|(h, _)| &h[1..]);
    }
    Some(raw.rsplit_once(':').map_or(raw, |(h, _)| h))
}
