//! The sidecar and the edge against a real control plane (SQLite in a temp
//! dir, its REST API on port 0) and real upstream servers: registration
//! with the health it is told, endpoints that follow the registry with no
//! restart, a control plane that goes away, graceful and killed stops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ordo_config::manifest::{DependencyConfig, EdgeConfig};
use ordo_control::{
    ControlClient, ControlOptions, ControlPlane, Registration, ServeHandle, Status,
};
use ordo_platform::{Ending, Health};
use ordo_sidecar::{Edge, SIDECAR_ADMIN, Sidecar, SidecarSpec};
use ordo_test_support::client::{get, http1_client};
use ordo_test_support::temp::TempDir;
use ordo_test_support::{Upstream, X_UPSTREAM};
use tokio::sync::watch;

/// Bounds every wait for a condition.
const PATIENCE: Duration = Duration::from_secs(20);

struct Control {
    _dir: TempDir,
    plane: ControlPlane,
    server: Option<ServeHandle>,
    client: ControlClient,
}

async fn control(name: &str) -> Control {
    let dir = TempDir::new(name);
    let mut options = ControlOptions::new(dir.path());
    options.sweep_interval = Duration::from_millis(100);
    let plane = ControlPlane::open(options).await.expect("opens");
    let (addr, server) = plane.serve("127.0.0.1:0").await.expect("serves");
    let client = ControlClient::new(&format!("http://{addr}")).expect("a client");
    Control {
        _dir: dir,
        plane,
        server: Some(server),
        client,
    }
}

/// Waits until `check` holds, polling every 20 ms, for at most PATIENCE.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let done = tokio::time::timeout(PATIENCE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(done.is_ok(), "timed out waiting until {what}");
}

async fn status_of(c: &ControlClient, id: &str) -> Option<Status> {
    c.instance(id).await.ok().map(|i| i.status)
}

fn dependency(service: &str) -> DependencyConfig {
    serde_json::from_value(serde_json::json!({
        "service": service,
        "policy": { "timeout": "2s", "retry": { "max_attempts": 1 } },
        "load_balancer": "round_robin",
        "outlier_detection": null,
    }))
    .expect("a dependency")
}

fn spec(instance: &str, address: SocketAddr, deps: Vec<DependencyConfig>) -> SidecarSpec {
    SidecarSpec {
        service: "catalog".into(),
        instance: instance.into(),
        address,
        dependencies: deps,
        lease: Duration::from_secs(1),
        heartbeat: Duration::from_millis(200),
        metadata: BTreeMap::new(),
    }
}

async fn register_up(c: &ControlClient, id: &str, up: &Upstream) {
    c.register(&Registration::new(id, "ratings", up.addr().to_string()))
        .await
        .expect("registers");
}

/// The `x-upstream` of a GET through `url`, or the status when it failed.
async fn who(url: &str) -> String {
    let (s, h, _) = get(&http1_client(), url).await;
    match h.get(X_UPSTREAM) {
        Some(v) if s == 200 => v.to_str().unwrap().to_owned(),
        _ => s.as_str().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_is_registered_with_the_health_it_is_told() {
    let c = control("health").await;
    let app = Upstream::builder().name("catalog").start().await;
    let (health, rx) = watch::channel(Health::Starting);
    let sidecar = Sidecar::start(spec("catalog-1", app.addr(), vec![]), c.client.clone(), rx)
        .await
        .expect("starts");
    eventually("registered as STARTING", || async {
        status_of(&c.client, "catalog-1").await == Some(Status::Starting)
    })
    .await;
    let i = c.client.instance("catalog-1").await.unwrap();
    assert_eq!(i.address, app.addr().to_string());
    assert_eq!(
        i.metadata.get(SIDECAR_ADMIN).map(String::as_str),
        sidecar.admin_addr().map(|a| a.to_string()).as_deref()
    );
    health.send_replace(Health::Up);
    eventually("UP", || async {
        status_of(&c.client, "catalog-1").await == Some(Status::Up)
    })
    .await;
    health.send_replace(Health::Down);
    eventually("DOWN", || async {
        status_of(&c.client, "catalog-1").await == Some(Status::Down)
    })
    .await;
    // Leases are renewed: still there after three lease lengths.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status_of(&c.client, "catalog-1").await, Some(Status::Down));
    sidecar.stop(Ending::Graceful).await;
    assert!(
        c.client
            .instance("catalog-1")
            .await
            .unwrap_err()
            .is_not_found(),
        "a graceful stop deregisters at once"
    );
    drop(health);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_leaves_when_its_lease_lapses() {
    let c = control("killed").await;
    let app = Upstream::builder().name("catalog").start().await;
    let (_health, rx) = watch::channel(Health::Up);
    let sidecar = Sidecar::start(spec("catalog-1", app.addr(), vec![]), c.client.clone(), rx)
        .await
        .expect("starts");
    eventually("UP", || async {
        status_of(&c.client, "catalog-1").await == Some(Status::Up)
    })
    .await;
    sidecar.stop(Ending::Killed).await;
    assert_eq!(
        status_of(&c.client, "catalog-1").await,
        Some(Status::Up),
        "no goodbye from a killed instance"
    );
    eventually("the lease lapsed", || async {
        c.client
            .instance("catalog-1")
            .await
            .is_err_and(|e| e.is_not_found())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_endpoints_follow_the_registry_without_a_restart() {
    let c = control("follow").await;
    let app = Upstream::builder().name("catalog").start().await;
    let r1 = Upstream::builder().name("r1").start().await;
    let r2 = Upstream::builder().name("r2").start().await;
    let (_health, rx) = watch::channel(Health::Up);
    let sidecar = Sidecar::start(
        spec("catalog-1", app.addr(), vec![dependency("ratings")]),
        c.client.clone(),
        rx,
    )
    .await
    .expect("starts");
    let (var, url) = sidecar.env()[0].clone();
    assert_eq!(var, "ORDO_DEP_RATINGS_URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let url = format!("{url}/ratings/1");

    // No instance yet: the sidecar answers for the dependency.
    let (s, h, _) = get(&http1_client(), &url).await;
    assert_eq!(s, 503);
    assert_eq!(h["x-ordo-reason"], "no-healthy-endpoint");

    register_up(&c.client, "ratings-1", &r1).await;
    eventually("r1 gets requests", || async { who(&url).await == "r1" }).await;
    register_up(&c.client, "ratings-2", &r2).await;
    eventually("both get requests", || async {
        let a = who(&url).await;
        let b = who(&url).await;
        a != b
            && [a.as_str(), b.as_str()]
                .iter()
                .all(|w| ["r1", "r2"].contains(w))
    })
    .await;

    // Only UP instances get requests: an operator takes r1 out.
    c.client
        .set_override("ratings-1", Some(Status::OutOfService))
        .await
        .unwrap();
    eventually("r1 is out", || async {
        let mut all = Vec::new();
        for _ in 0..4 {
            all.push(who(&url).await);
        }
        all.iter().all(|w| w == "r2")
    })
    .await;
    c.client.set_override("ratings-1", None).await.unwrap();
    c.client.deregister("ratings-2").await.unwrap();
    eventually("only r1 again", || async {
        let mut all = Vec::new();
        for _ in 0..4 {
            all.push(who(&url).await);
        }
        all.iter().all(|w| w == "r1")
    })
    .await;
    sidecar.stop(Ending::Graceful).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_control_plane_the_known_instances_keep_serving() {
    let mut c = control("static").await;
    let app = Upstream::builder().name("catalog").start().await;
    let r1 = Upstream::builder().name("r1").start().await;
    register_up(&c.client, "ratings-1", &r1).await;
    let (_health, rx) = watch::channel(Health::Up);
    let sidecar = Sidecar::start(
        spec("catalog-1", app.addr(), vec![dependency("ratings")]),
        c.client.clone(),
        rx,
    )
    .await
    .expect("starts");
    let url = format!("{}/", sidecar.env()[0].1);
    eventually("r1 gets requests", || async { who(&url).await == "r1" }).await;
    c.server.take().unwrap().shutdown().await;
    drop(c.plane);
    for _ in 0..20 {
        assert_eq!(who(&url).await, "r1");
    }
    sidecar.stop(Ending::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_sends_users_to_the_entry_services_instances() {
    let c = control("edge").await;
    let web = Upstream::builder().name("web-1").start().await;
    let edge: EdgeConfig = serde_json::from_value(serde_json::json!({
        "address": "127.0.0.1:0",
        "service": "web",
    }))
    .unwrap();
    let e = Edge::start(&edge, c.client.clone()).await.expect("starts");
    let url = format!("http://{}/", e.address());
    assert_eq!(who(&url).await, "503");
    c.client
        .register(&Registration::new("web-1", "web", web.addr().to_string()))
        .await
        .unwrap();
    eventually("web-1 serves users", || async {
        who(&url).await == "web-1"
    })
    .await;
    assert!(e.admin_addr().await.is_some());
    e.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_bad_edge_address_is_a_clear_error() {
    let c = control("bad-edge").await;
    let edge: EdgeConfig = serde_json::from_value(serde_json::json!({
        "address": "localhost",
        "service": "web",
    }))
    .unwrap();
    let err = Edge::start(&edge, c.client.clone()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("`localhost` is not an address and port"),
        "{err}"
    );
}
