//! A running proxy: its listeners, its admin endpoint, and config changes
//! applied while it serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ordo_config::proxy::ProxyConfig;
use ordo_config::{ConfigErrors, Document};
use tokio::sync::Mutex;

use crate::admin::{self, AdminTask};
use crate::cluster::EndpointSource;
use crate::fault::Faults;
use crate::http::{ListenerTask, Shared, bind_listener, start_listener};
use crate::metrics::{ProxyMetrics, ResultLabels};
use crate::runtime::Runtime;
use crate::tcp::TcpProxies;

/// How to start a proxy, beyond its config file.
#[derive(Debug, Default, Clone)]
pub struct ProxyOptions {
    /// The config file, for reloads (`reload_from_file`) and for paths
    /// relative to it (TLS files). Without it, relative paths are taken
    /// from the working directory.
    pub config_path: Option<PathBuf>,
    /// Endpoint sources by cluster name, replacing the config's static
    /// endpoints of those clusters.
    pub sources: HashMap<String, Arc<dyn EndpointSource>>,
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    options: ProxyOptions,
    listeners: Mutex<Vec<ListenerTask>>,
    admin: Mutex<Option<AdminTask>>,
    ready: Arc<AtomicBool>,
    /// Reverts faults as their expiry or lease passes.
    sweeper: tokio::task::JoinHandle<()>,
    /// TCP proxies with toxics.
    tcp: Arc<TcpProxies>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

impl Proxy {
    /// Builds the config's runtime, binds every listener and the admin
    /// endpoint, and starts serving.
    pub async fn start(
        doc: Document<ProxyConfig>,
        options: ProxyOptions,
    ) -> Result<Arc<Proxy>, ConfigErrors> {
        let metrics = ProxyMetrics::new();
        let runtime = Runtime::build(&doc, None, &options.sources, &metrics)?;
        let faults = Faults::new(&metrics);
        faults
            .configure(&doc.config.faults)
            .map_err(|p| doc.issues(p))?;
        let sweeper = faults.spawn_sweeper();
        let shared = Arc::new(Shared::new(runtime, metrics, faults));
        let base = base_dir(&options);
        let mut listeners = Vec::new();
        for (i, l) in doc.config.listeners.iter().enumerate() {
            match bind_listener(l, &base, shared.clone()).await {
                Ok(t) => listeners.push(t),
                Err((field, msg)) => {
                    for t in &listeners {
                        t.stop();
                    }
                    return Err(doc.issues(vec![(format!("listeners[{i}].{field}"), msg)]));
                }
            }
        }
        let tcp = Arc::new(TcpProxies::new(shared.faults.halt_lock().clone()));
        let problems = tcp.apply_config(&[], &doc.config.tcp_proxies).await;
        if !problems.is_empty() {
            for t in &listeners {
                t.stop();
            }
            return Err(doc.issues(problems));
        }
        let ready = Arc::new(AtomicBool::new(true));
        let proxy = Arc::new(Proxy {
            tcp,
            shared,
            options,
            listeners: Mutex::new(listeners),
            admin: Mutex::new(None),
            ready,
            sweeper,
        });
        if let Some(a) = &doc.config.admin {
            match admin::start(&a.address, proxy.clone()).await {
                Ok(task) => *proxy.admin.lock().await = Some(task),
                Err(msg) => {
                    proxy.stop_listeners().await;
                    return Err(doc.issues(vec![("admin.address".into(), msg)]));
                }
            }
        }
        Ok(proxy)
    }

    /// Checks a config as far as it can without serving: builds its
    /// runtime (regexes, policies, clusters) and loads its TLS files.
    pub fn check(doc: &Document<ProxyConfig>, options: &ProxyOptions) -> Result<(), ConfigErrors> {
        let metrics = ProxyMetrics::new();
        Runtime::build(doc, None, &options.sources, &metrics)?;
        Faults::new(&metrics)
            .configure(&doc.config.faults)
            .map_err(|p| doc.issues(p))?;
        let base = base_dir(options);
        let problems: Vec<(String, String)> = doc
            .config
            .listeners
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                crate::http::tls_acceptor(l, &base)
                    .err()
                    .map(|(f, m)| (format!("listeners[{i}].{f}"), m))
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(doc.issues(problems))
        }
    }

    /// The address a listener is bound to (useful with port 0).
    pub async fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .lock()
            .await
            .iter()
            .find(|l| l.config.name == name)
            .map(|l| l.local)
    }

    /// The admin endpoint's address.
    pub async fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.lock().await.as_ref().map(|a| a.local)
    }

    /// The runtime now serving.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.shared.runtime.load_full()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<ProxyMetrics> {
        &self.shared.metrics
    }

    /// The active faults.
    pub(crate) fn faults(&self) -> &Arc<Faults> {
        &self.shared.faults
    }

    /// The TCP proxies.
    pub(crate) fn tcp(&self) -> &Arc<TcpProxies> {
        &self.tcp
    }

    /// Whether the proxy takes new requests (false while draining).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Applies a new config: builds it, binds new or changed listeners,
    /// then swaps it in at once. On any error nothing changes and the old
    /// config keeps serving. Requests in flight finish on the config they
    /// started with; connections of a removed listener close after their
    /// current request.
    pub async fn apply(&self, doc: Document<ProxyConfig>) -> Result<(), ConfigErrors> {
        let result = self.apply_inner(doc).await;
        let label = if result.is_ok() {
            "applied"
        } else {
            "rejected"
        };
        self.shared
            .metrics
            .reloads
            .get_or_create(&ResultLabels { result: label })
            .inc();
        result
    }

    async fn apply_inner(&self, doc: Document<ProxyConfig>) -> Result<(), ConfigErrors> {
        let mut listeners = self.listeners.lock().await;
        if !self.is_ready() {
            return Err(doc.issues(vec![(
                String::new(),
                "the proxy is draining; a new config is not applied".into(),
            )]));
        }
        let old = self.shared.runtime.load_full();
        if old.config.admin != doc.config.admin {
            return Err(doc.issues(vec![(
                "admin".into(),
                "the admin listener cannot change on reload; restart the proxy".into(),
            )]));
        }
        let runtime = Runtime::build(
            &doc,
            Some(&old),
            &self.options.sources,
            &self.shared.metrics,
        )?;
        let base = base_dir(&self.options);
        // Bind what is new, and load the TLS files of what changes, before
        // anything changes: a port in use or a bad certificate rejects the
        // whole reload.
        let mut started = Vec::new();
        let mut handovers = Vec::new();
        let fail = |started: &[ListenerTask], i: usize, (field, msg): (String, String)| {
            for t in started {
                t.stop();
            }
            doc.issues(vec![(format!("listeners[{i}].{field}"), msg)])
        };
        for (i, l) in doc.config.listeners.iter().enumerate() {
            let kept = listeners
                .iter()
                .any(|t| t.config.name == l.name && crate::http::server_same_socket(&t.config, l));
            if kept {
                continue;
            }
            // The same address with other settings: the running listener
            // hands its socket over (binding a second one would fail).
            // (Port 0 asks for a fresh port: never a handover.)
            let fixed_port = l
                .address
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.port() != 0);
            if let Some(j) = listeners
                .iter()
                .position(|t| fixed_port && t.config.address == l.address)
            {
                match crate::http::tls_acceptor(l, &base) {
                    Ok(tls) => handovers.push((j, l.clone(), tls)),
                    Err(e) => return Err(fail(&started, i, e)),
                }
                continue;
            }
            match bind_listener(l, &base, self.shared.clone()).await {
                Ok(t) => started.push(t),
                Err(e) => return Err(fail(&started, i, e)),
            }
        }
        if let Err(problems) = self.shared.faults.configure(&doc.config.faults) {
            for t in &started {
                t.stop();
            }
            return Err(doc.issues(problems));
        }
        let tcp_problems = self
            .tcp
            .apply_config(&old.config.tcp_proxies, &doc.config.tcp_proxies)
            .await;
        if !tcp_problems.is_empty() {
            tracing::error!(
                "TCP proxies not all applied: {}",
                tcp_problems
                    .iter()
                    .map(|(f, m)| format!("{f}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        self.shared.runtime.store(Arc::new(runtime));
        for (j, config, tls) in handovers {
            match listeners[j].hand_over().await {
                Some(socket) => match start_listener(socket, &config, tls, self.shared.clone()) {
                    Ok(t) => started.push(t),
                    Err((_, e)) => {
                        tracing::error!(listener = %config.name, error = %e, "listener lost on reload")
                    }
                },
                None => {
                    tracing::error!(listener = %config.name, "listener lost on reload: its socket did not come back")
                }
            }
        }
        let (keep, retire): (Vec<_>, Vec<_>) =
            std::mem::take(&mut *listeners).into_iter().partition(|t| {
                doc.config.listeners.iter().any(|l| {
                    l.name == t.config.name && crate::http::server_same_socket(&t.config, l)
                })
            });
        for t in &retire {
            t.stop();
        }
        *listeners = keep;
        listeners.extend(started);
        tokio::spawn(async move {
            for t in retire {
                t.join().await;
            }
        });
        tracing::info!(file = %doc.file, "config applied");
        Ok(())
    }

    /// Reads the config file again and applies it; a bad file is logged
    /// and changes nothing.
    pub async fn reload_from_file(&self) -> Result<(), ConfigErrors> {
        let Some(path) = &self.options.config_path else {
            return Ok(());
        };
        let doc = ordo_config::load::<ProxyConfig>(path);
        let result = match doc {
            Ok(doc) => self.apply(doc).await,
            Err(e) => {
                self.shared
                    .metrics
                    .reloads
                    .get_or_create(&ResultLabels { result: "rejected" })
                    .inc();
                Err(e)
            }
        };
        if let Err(e) = &result {
            tracing::error!(file = %path.display(), "config rejected, the previous one keeps serving:\n{e}");
        }
        result
    }

    /// Stops taking connections, lets requests in flight finish for up to
    /// `deadline`, then returns (whatever is left is dropped).
    pub async fn drain(&self, deadline: Duration) {
        self.ready.store(false, Ordering::Relaxed);
        let listeners = std::mem::take(&mut *self.listeners.lock().await);
        for t in &listeners {
            t.stop();
        }
        let all = async {
            for t in listeners {
                t.join().await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("drain deadline passed with requests in flight");
        }
        for name in self.tcp.list().await.into_keys() {
            let _ = self.tcp.delete(&name).await;
        }
        if let Some(a) = self.admin.lock().await.take() {
            a.stop();
        }
    }

    async fn stop_listeners(&self) {
        for t in self.listeners.lock().await.drain(..) {
            t.stop();
        }
    }

    pub(crate) fn ready_flag(&self) -> &AtomicBool {
        &self.ready
    }
}

fn base_dir(options: &ProxyOptions) -> PathBuf {
    options
        .config_path
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
