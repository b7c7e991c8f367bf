//! The REST API over real HTTP on 127.0.0.1:0, through `ControlClient` and through raw
//! requests for what a well-behaved client never sends.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use ordo_control::api::INDEX_HEADER;
use ordo_control::{
    AuditEntry, AuditQuery, ClientError, ControlClient, ControlPlane, Order, Registration,
    ServeHandle, Status,
};
use ordo_test_support::client::{TestClient, http1_client, send};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, timeout};

use common::{TempDir, open};

struct Running {
    _dir: TempDir,
    plane: ControlPlane,
    addr: SocketAddr,
    handle: Option<ServeHandle>,
    client: ControlClient,
    http: TestClient,
}

async fn start(name: &str) -> Running {
    let dir = TempDir::new(name);
    let plane = open(dir.path()).await;
    let (addr, handle) = plane.serve("127.0.0.1:0").await.unwrap();
    Running {
        _dir: dir,
        client: ControlClient::new(&format!("http://{addr}")).unwrap(),
        plane,
        addr,
        handle: Some(handle),
        http: http1_client(),
    }
}

impl Running {
    /// Sends a raw request; returns the status, the `x-ordo-index` header and the JSON body.
    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, headers, body) =
            send(&self.http, req.body(Full::new(body.into())).unwrap()).await;
        let index = headers
            .get(INDEX_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body:?}"))
        };
        (status, index, json)
    }

    async fn json(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let (s, _, v) = self
            .raw(method, path, Some("application/json"), body.to_owned())
            .await;
        (s, v)
    }

    /// Waits (real time, bounded) until `n` long-polls wait.
    async fn until_waiting(&self, n: usize) {
        let registry = self.plane.registry().clone();
        timeout(Duration::from_secs(5), async move {
            while registry.waiting() != n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} long-polls never waited"));
    }
}

/// Asserts the error shape and returns the problems' fields.
fn error_fields(status: StatusCode, expected: StatusCode, body: &Value) -> Vec<String> {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body.get("problems")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    assert!(p["message"].as_str().is_some_and(|m| !m.is_empty()), "{p}");
                    p["field"].as_str().unwrap().to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn registration(id: &str, service: &str) -> Registration {
    Registration::new(id, service, "127.0.0.1:8081").lease(Duration::from_secs(3600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_drives_every_registry_call() {
    let cp = start("client").await;
    let c = cp.client.clone().with_actor("sidecar/r-1");
    c.health().await.unwrap();

    let first = c
        .register(&registration("r-1", "ratings").metadata("v", "1"))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.instance.status, Status::Up);
    let again = c
        .register(&registration("r-1", "ratings").metadata("v", "2"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.instance.metadata["v"], "2");
    c.register(&registration("c-1", "catalog")).await.unwrap();

    assert_eq!(c.instance("r-1").await.unwrap().id, "r-1");
    let ratings = c.instances(Some("ratings"), None).await.unwrap();
    assert_eq!(ratings.instances.len(), 1);
    assert_eq!(
        c.instances(None, Some(Status::Up))
            .await
            .unwrap()
            .instances
            .len(),
        2
    );
    let services = c.services().await.unwrap();
    assert_eq!(services.services.len(), 2);

    let down = c.heartbeat("r-1", Some(Status::Down)).await.unwrap();
    assert_eq!(down.status, Status::Down);
    assert_eq!(
        c.heartbeat("r-1", None).await.unwrap().reported_status,
        Status::Down
    );
    let held = c
        .set_override("r-1", Some(Status::OutOfService))
        .await
        .unwrap();
    assert_eq!(held.status, Status::OutOfService);
    assert_eq!(
        c.set_override("r-1", None).await.unwrap().status,
        Status::Down
    );

    c.deregister("r-1").await.unwrap();
    for e in [
        c.instance("r-1").await.unwrap_err(),
        c.heartbeat("r-1", None).await.unwrap_err(),
        c.deregister("r-1").await.unwrap_err(),
        c.set_override("r-1", Some(Status::Up)).await.unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e}");
        assert!(
            e.to_string()
                .starts_with("control plane answered 404: no instance is registered with id `r-1`"),
            "{e}"
        );
    }

    let audit = c
        .audit(&AuditQuery {
            actor: Some("sidecar/r-1".into()),
            order: Order::Asc,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions[0], "registered");
    assert_eq!(actions.last(), Some(&"deregistered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_append_to_the_audit_log() {
    let cp = start("audit").await;
    let record = cp
        .client
        .append_audit(
            &AuditEntry::new("chaos-monkey", "kill-intent", "r-2")
                .with_detail(json!({"reason": "schedule"})),
        )
        .await
        .unwrap();
    assert_eq!(record.detail["reason"], "schedule");
    let page = cp
        .client
        .audit(&AuditQuery {
            action: Some("kill-intent".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.records, std::slice::from_ref(&record));
    let (status, _, body) = cp
        .raw(
            Method::GET,
            &format!("/v1/audit?before={}&limit=1", record.id),
            None,
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["records"][0]["action"], "control-started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_carry_their_index_in_a_header() {
    let cp = start("header").await;
    cp.client
        .register(&registration("r-1", "ratings"))
        .await
        .unwrap();
    for path in [
        "/v1/instances",
        "/v1/services/ratings/instances",
        "/v1/services",
        "/v1/instances?service=ratings&status=up",
    ] {
        let (status, index, body) = cp.raw(Method::GET, path, None, "").await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(index.unwrap(), body["index"].to_string(), "{path}");
    }
    let (_, _, created) = cp
        .raw(
            Method::POST,
            "/v1/instances",
            Some("application/json"),
            r#"{"id":"r-2","service":"ratings","address":"[::1]:80"}"#,
        )
        .await;
    assert_eq!(created["status"], "UP");
    assert_eq!(created["override"], Value::Null);
    assert_eq!(created["lease_ms"], 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_answers_when_its_service_changes() {
    let cp = start("watch").await;
    cp.client
        .register(&registration("r-1", "ratings"))
        .await
        .unwrap();
    let seen = cp
        .client
        .instances(Some("ratings"), None)
        .await
        .unwrap()
        .index;

    let client = cp.client.clone();
    let watch =
        tokio::spawn(async move { client.watch("ratings", seen, Duration::from_secs(60)).await });
    cp.until_waiting(1).await;
    cp.client
        .register(&registration("c-1", "catalog"))
        .await
        .unwrap();
    cp.client
        .register(&registration("r-2", "ratings"))
        .await
        .unwrap();
    let listing = timeout(Duration::from_secs(10), watch)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(listing.index > seen);
    let ids: Vec<_> = listing.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["r-1", "r-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_long_polls_both_wake_on_one_registration() {
    let cp = start("two-watches").await;
    let seen = cp.client.services().await.unwrap().index;
    let watches: Vec<_> = (0..2)
        .map(|i| {
            let client = cp.client.clone();
            tokio::spawn(async move {
                if i == 0 {
                    client
                        .watch("ratings", seen, Duration::from_secs(60))
                        .await
                        .map(|l| l.index)
                } else {
                    client
                        .watch_services(seen, Duration::from_secs(60))
                        .await
                        .map(|s| s.index)
                }
            })
        })
        .collect();
    cp.until_waiting(2).await;
    cp.client
        .register(&registration("r-1", "ratings"))
        .await
        .unwrap();
    for w in watches {
        let index = timeout(Duration::from_secs(10), w)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(index, seen + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_with_nothing_new_answers_after_its_wait() {
    let cp = start("wait").await;
    let seen = cp.client.services().await.unwrap().index;
    let start = Instant::now();
    let (status, index, _) = cp
        .raw(
            Method::GET,
            &format!("/v1/services/none/instances?index={seen}&wait=300ms"),
            None,
            "",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(index.unwrap(), seen.to_string());
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_cancels_its_long_poll() {
    let cp = start("hang-up").await;
    let seen = cp.client.services().await.unwrap().index;
    let mut stream = tokio::net::TcpStream::connect(cp.addr).await.unwrap();
    stream
        .write_all(
            format!("GET /v1/instances?index={seen}&wait=5m HTTP/1.1\r\nhost: x\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    cp.until_waiting(1).await;
    drop(stream);
    cp.until_waiting(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_answers_waiting_long_polls() {
    let mut cp = start("shutdown").await;
    let seen = cp.client.services().await.unwrap().index;
    let client = cp.client.clone();
    let watch = tokio::spawn(async move {
        client
            .watch("ratings", seen, Duration::from_secs(300))
            .await
    });
    cp.until_waiting(1).await;
    timeout(
        Duration::from_secs(10),
        cp.handle.take().unwrap().shutdown(),
    )
    .await
    .expect("shutdown does not wait for long-polls");
    let listing = timeout(Duration::from_secs(10), watch)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(listing.index, seen);
    let e = cp.client.services().await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_json_errors_that_name_the_field() {
    let cp = start("bodies").await;
    let post = |body: &'static str| cp.json(Method::POST, "/v1/instances", body);

    let (s, b) = post(r#"{"id": "r-1", "service": "#).await;
    assert!(error_fields(s, StatusCode::BAD_REQUEST, &b).is_empty());
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not valid JSON"),
        "{b}"
    );

    let (s, b) = post(
        r#"{"id": "r-1", "service": "ratings", "address": "127.0.0.1:1", "lease_ms": "long"}"#,
    )
    .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["lease_ms"]);
    let (s, b) =
        post(r#"{"id": "r-1", "service": "ratings", "address": "127.0.0.1:1", "colour": "red"}"#)
            .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["colour"]);
    let (s, b) = post(r#"{"id": "r-1", "service": "ratings"}"#).await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["address"]);
    let (s, b) = post(
        r#"{"id": "r-1", "service": "ratings", "address": "127.0.0.1:1", "status": "SLEEPY"}"#,
    )
    .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["status"]);
    let (s, b) =
        post(r#"{"id": "r 1", "service": "Ratings!", "address": "nowhere", "lease_ms": 5}"#).await;
    assert_eq!(
        error_fields(s, StatusCode::BAD_REQUEST, &b),
        ["id", "service", "address", "lease_ms"]
    );
    assert_eq!(b["error"], "invalid registration");
    let (s, b) = post("").await;
    assert!(error_fields(s, StatusCode::BAD_REQUEST, &b).is_empty());

    let huge = format!(
        r#"{{"id": "r-1", "service": "x", "address": "a:1", "metadata": {{"k": "{}"}}}}"#,
        "x".repeat(1024 * 1024)
    );
    let (s, _, b) = cp
        .raw(
            Method::POST,
            "/v1/instances",
            Some("application/json"),
            huge,
        )
        .await;
    error_fields(s, StatusCode::PAYLOAD_TOO_LARGE, &b);
    let (s, _, b) = cp
        .raw(Method::POST, "/v1/instances", Some("text/plain"), r#"{}"#)
        .await;
    error_fields(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, &b);

    cp.client
        .register(&registration("r-1", "ratings"))
        .await
        .unwrap();
    let (s, b) = cp
        .json(
            Method::PUT,
            "/v1/instances/r-1/heartbeat",
            r#"{"status": "UP", "extra": 1}"#,
        )
        .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["extra"]);
    let (s, b) = cp
        .json(Method::PUT, "/v1/instances/r-1/override", r#"{}"#)
        .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["status"]);
    let (s, b) = cp
        .json(Method::PUT, "/v1/instances/r-1/heartbeat", "")
        .await;
    assert_eq!(s, StatusCode::OK, "an empty heartbeat is fine: {b}");
    let (s, b) = cp
        .json(Method::POST, "/v1/audit", r#"{"actor": "", "action": "x"}"#)
        .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["actor"]);
    let (s, b) = cp
        .json(Method::POST, "/v1/audit", r#"{"actor": "me", "action": 5}"#)
        .await;
    assert_eq!(error_fields(s, StatusCode::BAD_REQUEST, &b), ["action"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_each_named() {
    let cp = start("queries").await;
    let get = |path: &'static str| cp.raw(Method::GET, path, None, "");
    for (path, fields) in [
        ("/v1/instances?wait=abc&index=0", vec!["wait"]),
        ("/v1/instances?wait=10m&index=0", vec!["wait"]),
        ("/v1/instances?index=-1", vec!["index"]),
        (
            "/v1/instances?status=SLEEPY&colour=red",
            vec!["status", "colour"],
        ),
        ("/v1/services/ratings/instances?service=x", vec!["service"]),
        ("/v1/services?index=1&index=2", vec!["index"]),
        (
            "/v1/audit?limit=5000&order=sideways&after=x",
            vec!["after", "limit", "order"],
        ),
        ("/v1/audit?limit=0", vec!["limit"]),
    ] {
        let (s, _, b) = get(path).await;
        let mut got = error_fields(s, StatusCode::BAD_REQUEST, &b);
        let mut want = fields.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{path}: {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_routes_and_methods_get_json_errors() {
    let cp = start("unknown").await;
    for (method, path) in [
        (Method::GET, "/v1/instances/ghost"),
        (Method::PUT, "/v1/instances/ghost/heartbeat"),
        (Method::DELETE, "/v1/instances/ghost/override"),
        (Method::DELETE, "/v1/instances/ghost"),
        (Method::GET, "/v2/nothing"),
    ] {
        let (s, _, b) = cp.raw(method, path, None, "").await;
        error_fields(s, StatusCode::NOT_FOUND, &b);
    }
    let (s, b) = cp
        .json(
            Method::PUT,
            "/v1/instances/ghost/override",
            r#"{"status": "UP"}"#,
        )
        .await;
    error_fields(s, StatusCode::NOT_FOUND, &b);
    let (s, _, b) = cp.raw(Method::PATCH, "/v1/instances", None, "").await;
    error_fields(s, StatusCode::METHOD_NOT_ALLOWED, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let cp = start("openapi").await;
    let (status, _, doc) = cp.raw(Method::GET, "/openapi.json", None, "").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/v1/services", vec!["get"]),
        ("/v1/services/{name}/instances", vec!["get"]),
        ("/v1/instances", vec!["get", "post"]),
        ("/v1/instances/{id}", vec!["delete", "get"]),
        ("/v1/instances/{id}/heartbeat", vec!["put"]),
        ("/v1/instances/{id}/override", vec!["delete", "put"]),
        ("/v1/audit", vec!["get", "post"]),
        ("/health", vec!["get"]),
        ("/openapi.json", vec!["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        let mut got: Vec<_> = paths[path]
            .as_object()
            .unwrap_or_else(|| panic!("{path}"))
            .keys()
            .cloned()
            .collect();
        got.sort();
        assert_eq!(got, methods, "{path}");
    }
    for schema in [
        "Instance",
        "Registration",
        "Listing",
        "Services",
        "AuditEntry",
        "AuditRecord",
        "ErrorBody",
        "Status",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_the_store_does() {
    let cp = start("health").await;
    let (s, _, b) = cp.raw(Method::GET, "/health", None, "").await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "ok");
    rusqlite::Connection::open(cp.plane.database())
        .unwrap()
        .execute_batch("DROP TABLE instances")
        .unwrap();
    let (s, _, b) = cp.raw(Method::GET, "/health", None, "").await;
    error_fields(s, StatusCode::SERVICE_UNAVAILABLE, &b);
    let (s, b) = cp
        .json(
            Method::POST,
            "/v1/instances",
            r#"{"id":"a","service":"a","address":"a:1"}"#,
        )
        .await;
    error_fields(s, StatusCode::INTERNAL_SERVER_ERROR, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_says_what_failed_and_how_to_fix_it() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let e = ControlClient::new(&base)
        .unwrap()
        .services()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Unreachable { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "cannot reach the control plane at {base}: connection refused; is it running, and is this its address?"
        )
    );

    let cp = start("client-errors").await;
    let e = cp
        .client
        .register(&Registration::new("r-1", "ratings", "nowhere"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(
        e.to_string()
            .starts_with("control plane answered 400: address: `nowhere` has no port"),
        "{e}"
    );
}
