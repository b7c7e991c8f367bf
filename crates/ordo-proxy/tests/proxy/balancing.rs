//! Load balancing, weighted splits, outlier ejection and active health
//! checks through the proxy.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_clusters_split_traffic_by_weight() {
    let stable = Upstream::builder().name("stable").start().await;
    let canary = Upstream::builder().name("canary").start().await;
    let yaml = format!(
        "listeners:
  - name: edge
    address: 127.0.0.1:0
    routes:
      - name: all
        weighted_clusters:
          - {{ cluster: stable, weight: 80 }}
          - {{ cluster: canary, weight: 20 }}
clusters:
  - name: stable
    endpoints: [ {{ address: {} }} ]
  - name: canary
    endpoints: [ {{ address: {} }} ]
",
        stable.addr(),
        canary.addr()
    );
    let p = TestProxy::start(&yaml).await;
    let client = http1_client();
    for _ in 0..2000 {
        assert_eq!(get(&client, &p.url("/")).await.0, 200);
    }
    // Binomial(2000, 0.2): sd ≈ 17.9; allow 5 sd.
    let c = canary.hits() as f64;
    assert!((c - 400.0).abs() < 90.0, "canary got {c} of 2000");
    assert_eq!(stable.hits() + canary.hits(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoint_is_ejected_and_returns_by_itself() {
    let ups = upstreams("e", 3).await;
    ups[0].set_behaviour(Behaviour::Status(503));
    let refs: Vec<&Upstream> = ups.iter().collect();
    let extra = "    load_balancer: round_robin
    outlier_detection: { consecutive_5xx: 3, base_ejection_time: 500ms, max_ejection_percent: 50, interval: 100ms }";
    let p = TestProxy::start(&simple(&refs, "{ retry: { max_attempts: 1 } }", extra)).await;
    let client = http1_client();
    for _ in 0..30 {
        get(&client, &p.url("/")).await;
    }
    assert_eq!(ups[0].hits(), 3, "ejected after 3 consecutive 5xx");
    let clusters = String::from_utf8_lossy(&get(&client, &p.admin_url("/clusters").await).await.2)
        .into_owned();
    assert!(clusters.contains(r#""ejected":true"#), "{clusters}");
    // It recovers; after its ejection time it gets traffic again.
    ups[0].set_behaviour(Behaviour::Ok);
    let back = eventually(Duration::from_secs(5), async || {
        get(&client, &p.url("/")).await;
        ups[0].hits() > 3
    })
    .await;
    assert!(back, "the endpoint came back");
    let metrics =
        String::from_utf8_lossy(&get(&client, &p.admin_url("/metrics").await).await.2).into_owned();
    let line = format!(
        r#"ordo_proxy_ejections_total{{cluster="c",endpoint="{}"}} 1"#,
        ups[0].addr()
    );
    assert!(metrics.contains(&line), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_checks_take_endpoints_out_and_back() {
    let ups = upstreams("h", 2).await;
    let refs: Vec<&Upstream> = ups.iter().collect();
    let extra = "    load_balancer: round_robin
    health_check: { path: /health, interval: 50ms, timeout: 40ms, healthy_threshold: 2, unhealthy_threshold: 2 }";
    let p = TestProxy::start(&simple(&refs, "{ retry: { max_attempts: 1 } }", extra)).await;
    let client = http1_client();
    assert!(eventually(Duration::from_secs(5), async || ups[0].health_hits() >= 2).await);
    ups[0].set_healthy(false);
    let out = eventually(Duration::from_secs(5), async || {
        let text = String::from_utf8_lossy(&get(&client, &p.admin_url("/clusters").await).await.2)
            .into_owned();
        text.contains(r#""healthy":false"#)
    })
    .await;
    assert!(out, "marked unhealthy");
    let before = ups[0].hits();
    for _ in 0..10 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "h1".into()));
    }
    assert_eq!(ups[0].hits(), before);
    ups[0].set_healthy(true);
    let back = eventually(Duration::from_secs(5), async || {
        get(&client, &p.url("/")).await;
        ups[0].hits() > before
    })
    .await;
    assert!(back, "healthy again");
    // With every endpoint unhealthy, the proxy says so.
    ups[0].set_healthy(false);
    ups[1].set_healthy(false);
    let none = eventually(Duration::from_secs(5), async || {
        let (s, h, _) = get(&client, &p.url("/")).await;
        s == 503 && reason(&h) == "no-healthy-endpoint"
    })
    .await;
    assert!(none);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_a_user_on_one_endpoint() {
    let ups = upstreams("k", 4).await;
    let refs: Vec<&Upstream> = ups.iter().collect();
    let extra = "    load_balancer: { consistent_hash: { header: x-user } }";
    let p = TestProxy::start(&simple(&refs, "{}", extra)).await;
    let client = http1_client();
    let mut owners = std::collections::HashSet::new();
    for user in 0..40 {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5 {
            let req = http::Request::get(p.url("/"))
                .header("x-user", format!("user-{user}"))
                .body(Default::default())
                .unwrap();
            seen.insert(upstream_of(&send(&client, req).await.1));
        }
        assert_eq!(seen.len(), 1, "user-{user} moved: {seen:?}");
        owners.extend(seen);
    }
    assert!(owners.len() >= 3, "users spread over endpoints: {owners:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_ewma_prefers_the_faster_endpoint() {
    let slow = upstream("slow", Behaviour::Delay(Duration::from_millis(30))).await;
    let fast = Upstream::builder().name("fast").start().await;
    let p = TestProxy::start(&simple(&[&slow, &fast], "{}", "")).await;
    let client = http1_client();
    for _ in 0..200 {
        get(&client, &p.url("/")).await;
    }
    assert!(
        fast.hits() > 150,
        "fast {} slow {}",
        fast.hits(),
        slow.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejection_never_empties_a_cluster() {
    let only = upstream("only", Behaviour::Status(503)).await;
    let extra = "    outlier_detection: { consecutive_5xx: 2, base_ejection_time: 30s }";
    let p = TestProxy::start(&simple(&[&only], "{ retry: { max_attempts: 1 } }", extra)).await;
    let client = http1_client();
    for _ in 0..3 {
        get(&client, &p.url("/")).await;
    }
    let clusters = String::from_utf8_lossy(&get(&client, &p.admin_url("/clusters").await).await.2)
        .into_owned();
    assert!(clusters.contains(r#""ejected":true"#), "{clusters}");
    // The only endpoint is ejected, yet it still gets the requests: a
    // recovered service answers at once rather than after 30 s.
    only.set_behaviour(Behaviour::Ok);
    let (s, h, _) = get(&client, &p.url("/")).await;
    assert_eq!((s.as_u16(), upstream_of(&h)), (200, "only".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_ewma_learns_from_attempts_that_time_out() {
    let hung = upstream("hung", Behaviour::Delay(Duration::from_secs(5))).await;
    let fast = Upstream::builder().name("fast").start().await;
    let policy = "{ per_try_timeout: 50ms, retry: { backoff: { base: 0s, max: 0s } } }";
    let p = TestProxy::start(&simple(
        &[&hung, &fast],
        policy,
        "    outlier_detection: null",
    ))
    .await;
    let client = http1_client();
    for _ in 0..100 {
        let (s, h, _) = get(&client, &p.url("/")).await;
        assert_eq!((s.as_u16(), upstream_of(&h)), (200, "fast".into()));
    }
    // Without outlier ejection, only the latency the timeouts taught the
    // balancer keeps the hung endpoint out.
    assert!(
        hung.hits() <= 2,
        "the hung endpoint got {} attempts",
        hung.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2c_ewma_learns_from_attempts_that_fail_without_an_answer() {
    // A killed instance: every attempt on it breaks at once, so it never
    // reports a latency and never has requests in flight, while the live
    // ones, busy, look costlier. Only a failure penalty keeps it out.
    let broken = upstream("broken", Behaviour::Reset).await;
    let a = upstream("a", Behaviour::Delay(Duration::from_millis(20))).await;
    let b = upstream("b", Behaviour::Delay(Duration::from_millis(20))).await;
    let policy = "{ retry: { max_attempts: 3, budget: { ratio: 1.0, min_per_second: 1000 }, backoff: { base: 0s, max: 0s } } }";
    let p = TestProxy::start(&simple(
        &[&broken, &a, &b],
        policy,
        "    outlier_detection: null",
    ))
    .await;
    let client = http1_client();
    let url = p.url("/");
    for _ in 0..15 {
        let batch = (0..20).map(|_| get(&client, &url));
        for (s, _, _) in futures_util::future::join_all(batch).await {
            assert_eq!(s.as_u16(), 200);
        }
    }
    assert!(
        broken.hits() <= 15,
        "the broken endpoint got {} of 300 first attempts",
        broken.hits()
    );
}
