//! Chaos: injects what it says, into its share of calls, only while
//! switched on and only inside its FIT scenario; latency is paid before the
//! call, on tokio's clock.

use std::time::Duration;

use http::HeaderValue;
use ordo_resilience::chaos::{ChaosLayer, ChaosSwitch, Delay};
use ordo_resilience::{Error, Rng, fit};
use tokio::time::Instant;
use tower::Layer;

use crate::support::{Dep, E, Mode, call};

fn injected() -> E {
    Error::Inner("injected")
}

#[tokio::test(start_paused = true)]
async fn errors_are_injected_into_the_configured_share_of_calls() {
    let dep = Dep::new(Mode::Ok);
    let layer = ChaosLayer::error(injected).rate(0.25).rng(Rng::seeded(42));
    let mut svc = layer.layer(dep.service());
    let n = 4000;
    let mut failed = 0;
    for i in 0..n {
        if call(&mut svc, i).await.is_err() {
            failed += 1;
        }
    }
    // 25 % of 4000 is 1000, standard deviation about 27: four of them.
    assert!((890..=1110).contains(&failed), "{failed}");
    assert_eq!(
        dep.calls(),
        (n - failed) as usize,
        "an injected error never calls"
    );
}

#[tokio::test(start_paused = true)]
async fn the_switch_turns_injection_off_and_on() {
    let dep = Dep::new(Mode::Ok);
    let switch = ChaosSwitch::off();
    let layer = ChaosLayer::error(injected).rate(1.0).switch(switch.clone());
    let mut svc = layer.layer(dep.service());
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1);
    switch.set(true);
    assert!(call(&mut svc, 2).await.is_err());
    switch.set(false);
    assert_eq!(call(&mut svc, 3).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn latency_is_paid_before_the_call() {
    let dep = Dep::new(Mode::Ok);
    let layer: ChaosLayer<u32, E> =
        ChaosLayer::latency(Delay::Fixed(Duration::from_millis(300))).rate(1.0);
    let mut svc = layer.layer(dep.service());
    let t = Instant::now();
    let fut = call(&mut svc, 7);
    tokio::pin!(fut);
    assert!(
        futures_util::poll!(fut.as_mut()).is_pending(),
        "the call starts"
    );
    tokio::time::advance(Duration::from_millis(299)).await;
    assert!(
        futures_util::poll!(fut.as_mut()).is_pending(),
        "still waiting at 299 ms"
    );
    assert_eq!(dep.calls(), 0, "the call waits for the delay");
    assert_eq!(fut.await.unwrap(), 7);
    assert_eq!(t.elapsed(), Duration::from_millis(300));
    assert_eq!(dep.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_outcome_can_follow_a_delay() {
    let dep = Dep::new(Mode::Ok);
    let layer = ChaosLayer::outcome(|| Ok(999))
        .with_latency(Delay::Fixed(Duration::from_millis(50)))
        .rate(1.0);
    let mut svc = layer.layer(dep.service());
    let t = Instant::now();
    assert_eq!(call(&mut svc, 1).await.unwrap(), 999);
    assert_eq!(t.elapsed(), Duration::from_millis(50));
    assert_eq!(dep.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_scenario_scopes_injection_to_its_requests() {
    let dep = Dep::new(Mode::Ok);
    let layer = ChaosLayer::error(injected).rate(1.0).scenario("checkout");
    let mut svc = layer.layer(dep.service());
    assert_eq!(call(&mut svc, 1).await.unwrap(), 1, "no FIT context");
    let other = fit::scope(Some(HeaderValue::from_static("search")), call(&mut svc, 2)).await;
    assert_eq!(other.unwrap(), 2);
    let tagged = fit::scope(
        Some(HeaderValue::from_static("search, checkout")),
        call(&mut svc, 3),
    )
    .await;
    assert!(tagged.is_err());
}
