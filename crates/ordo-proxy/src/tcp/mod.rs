//! TCP proxies with toxics, for the dependencies that do not speak HTTP
//! (databases, caches, queues): each forwards every connection it accepts
//! to one upstream, through the toxics on its byte streams (latency with
//! jitter, bandwidth, slow close, timeout, reset, slicer, data limit), in
//! either direction, for a share of connections.
//!
//! Proxies come from the config (`tcp_proxies`) and from the admin API,
//! which speaks Toxiproxy's (`admin/toxiproxy.rs`), so Toxiproxy's clients
//! and test setups drive ordo unchanged. Toxics change open connections
//! too: each connection watches its proxy's toxic list.
//!
//! Toxics are faults: while fault injection is halted (`PUT /faults/halt`,
//! the fault store's [`HaltLock`]), none can be added, and proxies created
//! from config start without theirs.

mod pump;
mod toxic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ordo_config::proxy::{TcpProxyConfig, ToxicSpec};
use ordo_resilience::Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use self::pump::{Fate, Pump};
pub(crate) use self::toxic::Toxic;
use crate::fault::HaltLock;

/// How long a proxied connection may take to reach its upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a TCP proxy operation failed, with the HTTP status the API gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TcpError {
    NotFound(String),
    Conflict(String),
    Invalid(Vec<(String, String)>),
    /// The listen address could not be bound.
    Bind(String),
    /// Fault injection is halted: the message says by whom and how to lift
    /// it.
    Locked(String),
}

impl std::fmt::Display for TcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TcpError::NotFound(m)
            | TcpError::Conflict(m)
            | TcpError::Bind(m)
            | TcpError::Locked(m) => f.write_str(m),
            TcpError::Invalid(p) => {
                let all: Vec<String> = p
                    .iter()
                    .map(|(field, m)| {
                        if field.is_empty() {
                            m.clone()
                        } else {
                            format!("{field}: {m}")
                        }
                    })
                    .collect();
                f.write_str(&all.join("; "))
            }
        }
    }
}

/// A TCP proxy as the API shows it (Toxiproxy's shape).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TcpProxyView {
    pub(crate) name: String,
    pub(crate) listen: String,
    pub(crate) upstream: String,
    pub(crate) enabled: bool,
    pub(crate) toxics: Vec<ToxicSpec>,
}

/// Every TCP proxy of the process.
#[derive(Debug)]
pub(crate) struct TcpProxies {
    proxies: Mutex<BTreeMap<String, Arc<TcpProxy>>>,
    serial: AtomicU64,
    rng: Arc<Rng>,
    /// The fault store's halt: no toxic is added while it holds.
    halt: Arc<HaltLock>,
}

#[derive(Debug)]
struct TcpProxy {
    name: String,
    state: Mutex<State>,
    toxics: watch::Sender<Arc<Vec<Toxic>>>,
    /// Bumped to close every connection opened before (disable, delete):
    /// each connection remembers the generation it was opened in.
    kill: watch::Sender<u64>,
}

#[derive(Debug)]
struct State {
    /// The address to listen on: the bound one once bound, so a proxy
    /// enabled again keeps its port.
    listen: String,
    upstream: String,
    enabled: bool,
    accept: Option<JoinHandle<()>>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(t) = self.accept.take() {
            t.abort();
        }
    }
}

impl TcpProxies {
    /// No proxies yet; toxics obey `halt`.
    pub(crate) fn new(halt: Arc<HaltLock>) -> Self {
        TcpProxies {
            proxies: Mutex::default(),
            serial: AtomicU64::new(0),
            rng: Arc::default(),
            halt,
        }
    }

    /// The refusal while halted.
    fn locked(&self) -> TcpError {
        let message = match self.halt.current() {
            Some(h) => h.refusal("toxic"),
            // Lifted in between: the caller may try again.
            None => "fault injection was halted; try again".to_owned(),
        };
        TcpError::Locked(message)
    }

    /// Creates a proxy (enabled ones start listening); `Conflict` when the
    /// name is taken.
    pub(crate) async fn create(&self, config: TcpProxyConfig) -> Result<TcpProxyView, TcpError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(TcpError::Invalid(problems));
        }
        let mut all = self.proxies.lock().await;
        if all.contains_key(&config.name) {
            return Err(TcpError::Conflict(format!(
                "a TCP proxy named `{}` exists",
                config.name
            )));
        }
        // Checked under the proxies' lock, which a halt takes (to clear the
        // toxics) after raising the flag: a proxy created after it sees it.
        let halted = self.halt.is_halted();
        if halted && !config.toxics.is_empty() {
            tracing::warn!(
                proxy = %config.name,
                toxics = config.toxics.len(),
                "TCP proxy created without its toxics: fault injection is halted"
            );
        }
        let toxics: Vec<Toxic> = config
            .toxics
            .iter()
            .filter(|_| !halted)
            .map(|t| Toxic::compile(t.clone(), self.next_serial()))
            .collect();
        let proxy = Arc::new(TcpProxy {
            name: config.name.clone(),
            state: Mutex::new(State {
                listen: config.listen.clone(),
                upstream: config.upstream.clone(),
                enabled: false,
                accept: None,
            }),
            toxics: watch::Sender::new(Arc::new(toxics)),
            kill: watch::Sender::new(0),
        });
        if config.enabled {
            proxy.set_enabled(true, &self.rng).await?;
        }
        all.insert(config.name.clone(), proxy.clone());
        Ok(proxy.view().await)
    }

    /// Replaces the proxies declared in config by `configs`: new ones are
    /// created, changed ones recreated, gone ones removed. Proxies added at
    /// runtime under other names stay.
    pub(crate) async fn apply_config(
        &self,
        previous: &[TcpProxyConfig],
        configs: &[TcpProxyConfig],
    ) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for old in previous {
            if !configs.iter().any(|c| c == old) {
                let _ = self.delete(&old.name).await;
            }
        }
        for (i, c) in configs.iter().enumerate() {
            if previous.iter().any(|p| p == c) && self.get(&c.name).await.is_ok() {
                continue;
            }
            let _ = self.delete(&c.name).await;
            if let Err(e) = self.create(c.clone()).await {
                problems.push((format!("tcp_proxies[{i}]"), e.to_string()));
            }
        }
        problems
    }

    /// Every proxy, by name.
    pub(crate) async fn list(&self) -> BTreeMap<String, TcpProxyView> {
        let all: Vec<Arc<TcpProxy>> = self.proxies.lock().await.values().cloned().collect();
        let mut out = BTreeMap::new();
        for p in all {
            out.insert(p.name.clone(), p.view().await);
        }
        out
    }

    async fn find(&self, name: &str) -> Result<Arc<TcpProxy>, TcpError> {
        self.proxies
            .lock()
            .await
            .get(name)
            .cloned()
            .ok_or_else(|| TcpError::NotFound(format!("no TCP proxy is named `{name}`")))
    }

    /// One proxy.
    pub(crate) async fn get(&self, name: &str) -> Result<TcpProxyView, TcpError> {
        Ok(self.find(name).await?.view().await)
    }

    /// Changes a proxy's listen address, upstream or enabled state.
    pub(crate) async fn update(
        &self,
        name: &str,
        listen: Option<String>,
        upstream: Option<String>,
        enabled: Option<bool>,
    ) -> Result<TcpProxyView, TcpError> {
        let p = self.find(name).await?;
        let (moved, was_enabled) = {
            let mut s = p.state.lock().await;
            let mut check = TcpProxyConfig {
                name: name.to_owned(),
                listen: listen.clone().unwrap_or_else(|| s.listen.clone()),
                upstream: upstream.clone().unwrap_or_else(|| s.upstream.clone()),
                enabled: true,
                toxics: Vec::new(),
            };
            let problems = check.problems();
            if !problems.is_empty() {
                return Err(TcpError::Invalid(problems));
            }
            let moved = listen.as_ref().is_some_and(|l| *l != s.listen)
                || upstream.as_ref().is_some_and(|u| *u != s.upstream);
            s.listen = std::mem::take(&mut check.listen);
            s.upstream = std::mem::take(&mut check.upstream);
            (moved, s.enabled)
        };
        let enable = enabled.unwrap_or(was_enabled);
        if moved && was_enabled {
            p.set_enabled(false, &self.rng).await?;
        }
        p.set_enabled(enable, &self.rng).await?;
        Ok(p.view().await)
    }

    /// Removes a proxy, closing its connections.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), TcpError> {
        let p = self
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| TcpError::NotFound(format!("no TCP proxy is named `{name}`")))?;
        p.set_enabled(false, &self.rng).await?;
        Ok(())
    }

    /// Enables every proxy and removes every toxic (Toxiproxy's reset).
    pub(crate) async fn reset(&self) {
        let all: Vec<Arc<TcpProxy>> = self.proxies.lock().await.values().cloned().collect();
        for p in all {
            p.toxics.send_replace(Arc::new(Vec::new()));
            if let Err(e) = p.set_enabled(true, &self.rng).await {
                tracing::warn!(proxy = %p.name, error = %e, "TCP proxy not enabled on reset");
            }
        }
    }

    /// Removes every toxic of every proxy (a halt: raise the halt flag
    /// first for no toxic to come back).
    pub(crate) async fn clear_toxics(&self) -> usize {
        let all: Vec<Arc<TcpProxy>> = self.proxies.lock().await.values().cloned().collect();
        let mut n = 0;
        for p in all {
            n += p.toxics.send_replace(Arc::new(Vec::new())).len();
        }
        n
    }

    /// A proxy's toxics.
    pub(crate) async fn toxics(&self, name: &str) -> Result<Vec<ToxicSpec>, TcpError> {
        let p = self.find(name).await?;
        let list = p.toxics.borrow().clone();
        Ok(list.iter().map(Toxic::view).collect())
    }

    /// Adds a toxic to a proxy (its open connections too); `Locked` while
    /// fault injection is halted.
    pub(crate) async fn add_toxic(
        &self,
        name: &str,
        spec: ToxicSpec,
    ) -> Result<ToxicSpec, TcpError> {
        let p = self.find(name).await?;
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(TcpError::Invalid(problems));
        }
        let toxic = Toxic::compile(spec, self.next_serial());
        let view = toxic.view();
        let mut err = None;
        let mut halted = false;
        p.toxics.send_if_modified(|list| {
            // Checked under the list's lock, which a halt takes after
            // raising the flag: a toxic added here either is cleared by the
            // halt or sees it.
            if self.halt.is_halted() {
                halted = true;
                return false;
            }
            if list.iter().any(|t| t.name == toxic.name) {
                err = Some(TcpError::Conflict(format!(
                    "toxic `{}` exists on `{name}`",
                    toxic.name
                )));
                return false;
            }
            let mut next = list.as_ref().clone();
            next.push(toxic.clone());
            *list = Arc::new(next);
            true
        });
        if halted {
            return Err(self.locked());
        }
        match err {
            Some(e) => Err(e),
            None => Ok(view),
        }
    }

    /// One toxic of a proxy.
    pub(crate) async fn toxic(&self, name: &str, toxic: &str) -> Result<ToxicSpec, TcpError> {
        self.toxics(name)
            .await?
            .into_iter()
            .find(|t| t.name.as_deref() == Some(toxic))
            .ok_or_else(|| TcpError::NotFound(format!("no toxic `{toxic}` on `{name}`")))
    }

    /// Changes a toxic's toxicity or attributes (type, stream and name
    /// stay).
    pub(crate) async fn update_toxic(
        &self,
        name: &str,
        toxic: &str,
        toxicity: Option<f64>,
        attributes: Option<BTreeMap<String, i64>>,
    ) -> Result<ToxicSpec, TcpError> {
        let p = self.find(name).await?;
        let current = p
            .toxics
            .borrow()
            .iter()
            .find(|t| t.name == toxic)
            .cloned()
            .ok_or_else(|| TcpError::NotFound(format!("no toxic `{toxic}` on `{name}`")))?;
        let mut spec = current.view();
        if let Some(t) = toxicity {
            spec.toxicity = t;
        }
        if let Some(a) = attributes {
            spec.attributes.extend(a);
        }
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(TcpError::Invalid(problems));
        }
        let updated = Toxic::compile(spec, self.next_serial());
        let view = updated.view();
        p.toxics.send_modify(|list| {
            let next: Vec<Toxic> = list
                .iter()
                .map(|t| {
                    if t.name == toxic {
                        updated.clone()
                    } else {
                        t.clone()
                    }
                })
                .collect();
            *list = Arc::new(next);
        });
        Ok(view)
    }

    /// Removes a toxic from a proxy.
    pub(crate) async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), TcpError> {
        let p = self.find(name).await?;
        let removed = p.toxics.send_if_modified(|list| {
            let next: Vec<Toxic> = list.iter().filter(|t| t.name != toxic).cloned().collect();
            let changed = next.len() != list.len();
            if changed {
                *list = Arc::new(next);
            }
            changed
        });
        if removed {
            Ok(())
        } else {
            Err(TcpError::NotFound(format!(
                "no toxic `{toxic}` on `{name}`"
            )))
        }
    }

    fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl TcpProxy {
    async fn view(&self) -> TcpProxyView {
        let s = self.state.lock().await;
        TcpProxyView {
            name: self.name.clone(),
            listen: s.listen.clone(),
            upstream: s.upstream.clone(),
            enabled: s.enabled,
            toxics: self.toxics.borrow().iter().map(Toxic::view).collect(),
        }
    }

    /// Starts or stops listening. Stopping closes every open connection.
    async fn set_enabled(self: &Arc<Self>, on: bool, rng: &Arc<Rng>) -> Result<(), TcpError> {
        let mut s = self.state.lock().await;
        if on == s.enabled {
            return Ok(());
        }
        if !on {
            if let Some(t) = s.accept.take() {
                t.abort();
                // Wait for the listener to be gone, so enabling again can
                // bind the same port at once.
                let _ = t.await;
            }
            self.kill.send_modify(|g| *g += 1);
            s.enabled = false;
            return Ok(());
        }
        let addr: SocketAddr = s.listen.parse().map_err(|_| {
            TcpError::Invalid(vec![(
                "listen".into(),
                format!("`{}` is not an address and port", s.listen),
            )])
        })?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| TcpError::Bind(format!("cannot listen on {addr}: {e}")))?;
        if let Ok(bound) = listener.local_addr() {
            s.listen = bound.to_string();
        }
        let upstream = s.upstream.clone();
        let me = Arc::downgrade(self);
        let rng = rng.clone();
        s.accept = Some(tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((c, _)) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "TCP proxy accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(proxy) = me.upgrade() else { return };
                let kill = proxy.kill.subscribe();
                let generation = *kill.borrow();
                tokio::spawn(link(
                    client,
                    upstream.clone(),
                    proxy.toxics.subscribe(),
                    (kill, generation),
                    rng.clone(),
                ));
            }
        }));
        s.enabled = true;
        tracing::info!(proxy = %self.name, listen = %s.listen, upstream = %s.upstream, "TCP proxy listening");
        Ok(())
    }
}

/// One proxied connection: connect upstream, then pump both ways until
/// both sides close, a toxic decides, or the proxy is disabled.
async fn link(
    client: TcpStream,
    upstream: String,
    toxics: watch::Receiver<Arc<Vec<Toxic>>>,
    (mut kill, generation): (watch::Receiver<u64>, u64),
    rng: Arc<Rng>,
) {
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%upstream, error = %e, "TCP proxy cannot reach its upstream");
            return;
        }
        Err(_) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let fate = Arc::new(watch::Sender::new(Fate::Running));
    let up = Pump {
        src: cr,
        dst: sw,
        stream: toxic::Stream::Upstream,
        toxics: toxics.clone(),
        fate: fate.clone(),
        rng: rng.clone(),
    };
    let down = Pump {
        src: sr,
        dst: cw,
        stream: toxic::Stream::Downstream,
        toxics,
        fate: fate.clone(),
        rng,
    };
    let both = async {
        tokio::join!(up.run(), down.run());
    };
    tokio::select! {
        _ = both => {}
        // Disabled or deleted: the pumps are dropped, closing both sides.
        _ = kill.wait_for(|g| *g != generation) => {}
    }
}
