//! Routes: first match wins; host, path (exact, prefix, regex), method and
//! header conditions; requests no route takes get 404 `no-route`.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_matching_route_takes_the_request() {
    let a = Upstream::builder().name("a").start().await;
    let b = Upstream::builder().name("b").start().await;
    let c = Upstream::builder().name("c").start().await;
    let d = Upstream::builder().name("d").start().await;
    let yaml = format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: exact
        match: {{ path: {{ exact: /exact }} }}
        cluster: a
      - name: canary-header
        match: {{ headers: [ {{ name: x-canary, exact: \"1\" }} ] }}
        cluster: b
      - name: regex-post
        match: {{ path: {{ regex: '/items/[0-9]+' }}, methods: [POST] }}
        cluster: c
      - name: host
        match: {{ host: '*.example.com', path: {{ prefix: /api }} }}
        cluster: d
clusters:
  - name: a
    endpoints: [ {{ address: {a} }} ]
  - name: b
    endpoints: [ {{ address: {b} }} ]
  - name: c
    endpoints: [ {{ address: {c} }} ]
  - name: d
    endpoints: [ {{ address: {d} }} ]
",
        a = a.addr(),
        b = b.addr(),
        c = c.addr(),
        d = d.addr()
    );
    let p = TestProxy::start(&yaml).await;
    let client = http1_client();
    let req = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let mut r = http::Request::builder().method(method).uri(p.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Default::default()).unwrap()
    };
    let (s, h, _) = send(&client, req("GET", "/exact", &[])).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "a".into()));
    // The exact route does not take a longer path; the header route does.
    let (s, h, _) = send(&client, req("GET", "/exact/more", &[("x-canary", "1")])).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "b".into()));
    let (s, h, _) = send(&client, req("POST", "/items/42", &[])).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "c".into()));
    // Regex is anchored: a suffix does not match.
    let (s, h, _) = send(&client, req("POST", "/items/42/x", &[])).await;
    assert_eq!((s.as_u16(), reason(&h)), (404, "no-route"));
    let (s, h, _) = send(&client, req("GET", "/items/42", &[])).await;
    assert_eq!(
        (s.as_u16(), reason(&h)),
        (404, "no-route"),
        "method must match"
    );
    let (s, h, _) = send(
        &client,
        req("GET", "/api/x", &[("host", "shop.Example.com:8080")]),
    )
    .await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "d".into()));
    let (s, h, _) = send(&client, req("GET", "/api/x", &[("host", "example.com")])).await;
    assert_eq!(
        (s.as_u16(), reason(&h)),
        (404, "no-route"),
        "*.example.com needs a subdomain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_a_request_id_and_upstreams_see_forwarding_headers() {
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let client = http1_client();
    let req = http::Request::get(p.url("/x?q=1"))
        .header("connection", "keep-alive, x-private")
        .header("x-private", "secret")
        .header("x-forwarded-for", "10.1.2.3")
        .body(Default::default())
        .unwrap();
    let (s, h, body) = send(&client, req).await;
    assert_eq!(s, 200);
    let id = h
        .get("x-request-id")
        .expect("request id")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);
    let seen = up.last_request().expect("recorded");
    assert_eq!(seen.headers["x-request-id"], id.as_str());
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert!(
        seen.headers.get("x-private").is_none(),
        "named in Connection: hop-by-hop"
    );
    assert_eq!(seen.uri.to_string(), "/x?q=1");
    assert!(!body.is_empty());
    // A client's own id is kept.
    let req = http::Request::get(p.url("/"))
        .header("x-request-id", "abc-123")
        .body(Default::default())
        .unwrap();
    let (_, h, _) = send(&client, req).await;
    assert_eq!(h["x-request-id"], "abc-123");
    assert_eq!(
        up.last_request().unwrap().headers["x-request-id"],
        "abc-123"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_can_leave_request_ids_and_forwarding_headers_to_others() {
    let up = upstream("u", Behaviour::Echo).await;
    let config = simple(&[&up], "{}", "").replace(
        "    address: 127.0.0.1:0\n    routes:",
        "    address: 127.0.0.1:0\n    generate_request_id: false\n    forwarded_headers: false\n    routes:",
    );
    assert!(config.contains("generate_request_id: false"));
    let p = TestProxy::start(&config).await;
    let client = http1_client();
    let req = http::Request::get(p.url("/x"))
        .body(Default::default())
        .unwrap();
    let (s, h, _) = send(&client, req).await;
    assert_eq!(s, 200);
    assert!(h.get("x-request-id").is_none(), "none made, none returned");
    let seen = up.last_request().expect("recorded");
    for name in ["x-request-id", "x-forwarded-for", "x-forwarded-proto"] {
        assert!(seen.headers.get(name).is_none(), "{name} was added");
    }
    // What the client sent passes through untouched, even an id ordo
    // would have replaced.
    let req = http::Request::get(p.url("/x"))
        .header("x-request-id", "not sensible")
        .header("x-forwarded-for", "10.1.2.3")
        .header("x-forwarded-proto", "https")
        .body(Default::default())
        .unwrap();
    let (_, h, _) = send(&client, req).await;
    assert!(h.get("x-request-id").is_none());
    let seen = up.last_request().expect("recorded");
    assert_eq!(seen.headers["x-request-id"], "not sensible");
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.2.3");
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_named_in_connection_is_replaced_by_the_endpoints() {
    use tokio::io::AsyncWriteExt;
    let up = upstream("u", Behaviour::Echo).await;
    let p = TestProxy::start(&simple(&[&up], "{}", "")).await;
    let mut tcp = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    tcp.write_all(b"GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: host\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut tcp, std::time::Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let seen = up.last_request().expect("recorded");
    // Hop-by-hop by the client's word: not passed on, and the request
    // still carries a Host (the endpoint's), as HTTP/1.1 requires.
    assert_eq!(seen.headers["host"], up.addr().to_string().as_str());
}
