//! Game day 1 (issue 6): steady open-loop load through the bookstore's edge
//! while Chaos Monkey kills a ratings instance in every 5-second slot, once
//! with ordo's policies (`examples/gameday/with-policies.yaml`) and once
//! with them switched off (`without-policies.yaml`), one after the other.
//!
//! With the policies, at most 0.1% of the users' requests fail and the
//! edge's p99 breaks its objective only within 2 s after a kill. Without
//! them, clearly more requests fail. In both, every killed instance
//! leaves the registry within its lease (plus one sweep) and its
//! replacement is admitted (`UP`).
//!
//! The numbers print with `--nocapture`; `bench/gameday/run` runs this
//! test for a minute per game day. Knobs: `GAMEDAY_SECONDS` (default 30),
//! `GAMEDAY_RATE` (requests per second, default 100),
//! `GAMEDAY_P99_OBJECTIVE_MS` (the edge's per-second p99 objective,
//! default 100).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{PATIENCE, Running, alive, pids_in, url_in};
use ordo_config::manifest::Manifest;
use ordo_control::{AuditEntry, AuditQuery, AuditRecord, ControlClient, Order, Status};
use ordo_load::{Load, LoadSpec, Window};
use ordo_test_support::client::{http1_client, try_get};
use ordo_test_support::temp::TempDir;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

const GAMEDAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/gameday");

/// How often the control plane sweeps lapsed leases (`ControlOptions`'
/// default, which `ordo up` keeps).
const SWEEP: Duration = Duration::from_secs(1);
/// Allowed on top of lease and sweep for the audit write and the watch.
const SLACK: Duration = Duration::from_secs(1);
/// A replacement must be `UP` this soon after the kill.
const REPLACED_WITHIN: Duration = Duration::from_secs(10);
/// After a kill, the edge's p99 may break its objective this long.
const BLIP: f64 = 2.0;
/// A user's request that takes longer has failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// With the policies, at most this share of the requests may fail.
const MAX_FAILED_WITH: f64 = 0.001;
/// Without them, at least this share must fail, and ten times the share
/// with them. A killed instance then stays in rotation until its lease
/// lapses (4 to 6 s) and fails its share of the requests: measured,
/// 14–23% of all requests at 100 requests/s over 30 s, about 85 failed
/// requests (3% of such a run) per kill. 2% is less than one kill costs,
/// and twenty times the most the run with policies may lose.
const MIN_FAILED_WITHOUT: f64 = 0.02;
/// The edge's per-second p99 objective unless `GAMEDAY_P99_OBJECTIVE_MS`
/// says otherwise. Measured in the debug build on 2 cores: more than 2 s
/// from any kill, the per-second p99 had a median of 5–12 ms per run and
/// reached 70 ms (the machine's own blips, which must not count as the
/// kills'). 100 ms stays clear of those and under catalog's 300 ms per-try
/// timeout, so a second in which over 1% of the requests wait out a dead
/// instance breaks it.
const P99_OBJECTIVE_MS: u64 = 100;

/// The knobs, from the environment.
#[derive(Debug, Clone, Copy)]
struct Settings {
    seconds: u64,
    rate: f64,
    objective: Duration,
}

impl Settings {
    fn from_env() -> Settings {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
                Err(_) => default,
            }
        }
        let s = Settings {
            seconds: var("GAMEDAY_SECONDS", 30),
            rate: var("GAMEDAY_RATE", 100.0),
            objective: Duration::from_millis(var("GAMEDAY_P99_OBJECTIVE_MS", P99_OBJECTIVE_MS)),
        };
        assert!(
            (10..=3600).contains(&s.seconds),
            "GAMEDAY_SECONDS: 10 to 3600"
        );
        assert!(
            s.rate >= 10.0 && s.rate <= 5000.0,
            "GAMEDAY_RATE: 10 to 5000"
        );
        s
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_day_1_users_do_not_notice_killed_instances_with_policies_and_do_without() {
    let s = Settings::from_env();
    build_bookstore().await;
    let with = game_day("with-policies", &s).await;
    let without = game_day("without-policies", &s).await;
    println!("\n{}", summary_table(&s, &[&with, &without]));

    let mut problems = Vec::new();
    for run in [&with, &without] {
        problems.extend(run.problems());
    }
    if with.failed_share() > MAX_FAILED_WITH {
        problems.push(format!(
            "with policies {:.3}% of requests failed, more than {:.1}%",
            with.failed_share() * 100.0,
            MAX_FAILED_WITH * 100.0
        ));
    }
    for b in with.breaches.iter().filter(|b| b.after_kill.is_none()) {
        problems.push(format!(
            "with policies second {} had p99 {:?} over the objective {:?}, not within {BLIP} s after a kill",
            b.second, b.p99, s.objective
        ));
    }
    let floor = MIN_FAILED_WITHOUT.max(10.0 * with.failed_share());
    if without.failed_share() < floor {
        problems.push(format!(
            "without policies only {:.3}% of requests failed; expected at least {:.3}%",
            without.failed_share() * 100.0,
            floor * 100.0
        ));
    }
    assert!(
        problems.is_empty(),
        "game day 1:\n  {}",
        problems.join("\n  ")
    );
}

/// Builds the bookstore's binaries (a no-op when current) under its own
/// bound, so that `ordo up --no-build` starts at once.
async fn build_bookstore() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = tokio::process::Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "bookstore"])
        .current_dir(GAMEDAY)
        .kill_on_drop(true);
    let status = timeout(Duration::from_secs(900), build.status())
        .await
        .expect("building the bookstore took over 15 minutes")
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p bookstore: {status}");
}

/// One game day: the fleet of `name`.yaml under load and Chaos Monkey.
async fn game_day(name: &'static str, s: &Settings) -> Outcome {
    let file = format!("{GAMEDAY}/{name}.yaml");
    let m = ordo_config::load::<Manifest>(Path::new(&file))
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    let lease = m.control.lease.get();
    let slot = m.chaos.slot.expect("a seconds-scale Chaos Monkey").get();
    let data = TempDir::new(name);
    let mut up = UpGuard(Running::ordo(&[
        "up",
        &file,
        "--data",
        data.path().to_str().expect("a UTF-8 temp dir"),
        "--control-address",
        "127.0.0.1:0",
        "--edge-address",
        "127.0.0.1:0",
        "--no-build",
    ]));
    let control = url_in(&up.0.wait_for("control plane").await);
    let edge = url_in(&up.0.wait_for("  edge ").await);
    assert!(
        control.starts_with("http://127.0.0.1:") && edge.starts_with("http://127.0.0.1:"),
        "{control} {edge}"
    );
    let client = ControlClient::new(&control)
        .expect("the control plane's URL")
        .with_actor("game-day");
    let (stop_trace, stopped) = watch::channel(false);
    let trace = tokio::spawn(trace_ratings(client.clone(), stopped));
    up.0.wait_for("all 5 instances running").await;
    answers(&edge).await;

    // The load, its start marked in the audit log: the kills' times are
    // the control plane's, the load's seconds are this process's.
    let before = Instant::now();
    let marker = client
        .append_audit(
            &AuditEntry::new("game-day", "load-started", name)
                .with_detail(serde_json::json!({ "rate": s.rate, "seconds": s.seconds })),
        )
        .await
        .expect("the audit log takes the marker");
    let after = Instant::now();
    let run = Load::start(LoadSpec {
        duration: Some(Duration::from_secs(s.seconds)),
        timeout: REQUEST_TIMEOUT,
        ..LoadSpec::new(format!("{edge}/"), s.rate)
    })
    .expect("a valid load");
    let clock = Clock {
        start: Instant::now(),
        anchor: before + (after - before) / 2,
        anchor_ms: millis_of(&marker.at),
    };
    let mut feed = run.subscribe();
    let seconds = tokio::spawn(async move {
        let mut seconds = BTreeMap::new();
        while feed.changed().await.is_ok() {
            let snap = feed.borrow_and_update().clone();
            if let Some(w) = snap.last_second {
                seconds.insert(snap.elapsed.as_secs().saturating_sub(1), w);
            }
            if snap.finished {
                break;
            }
        }
        seconds
    });
    let report = timeout(
        Duration::from_secs(s.seconds) + REQUEST_TIMEOUT + PATIENCE,
        run.finish(),
    )
    .await
    .expect("the load finishes");
    let seconds = timeout(PATIENCE, seconds)
        .await
        .expect("the feed ends with the load")
        .expect("the feed task");

    // No kill after the load; the last ones settle (leave, replacement UP).
    client
        .chaos_switch(false)
        .await
        .expect("Chaos Monkey pauses");
    let settle_by = Instant::now() + lease + SWEEP + SLACK + REPLACED_WITHIN;
    let mut audit = read_audit(&client).await;
    while !audit.settled() && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_millis(250)).await;
        audit = read_audit(&client).await;
    }
    let _ = stop_trace.send(true);
    let trace = timeout(PATIENCE, trace)
        .await
        .expect("the trace stops")
        .expect("the trace task");

    // Ctrl-C stops everything ordo up started.
    up.0.signal("INT");
    let status = up.0.exit().await;
    assert!(status.success(), "{name}: {status}\n{}", up.0.output());
    for pid in pids_in(&up.0.output()) {
        assert!(!alive(pid), "{name}: pid {pid} outlived ordo up");
    }

    let total = &report.snapshot.total;
    let mut outcome = Outcome {
        name,
        seconds_run: s.seconds,
        lease,
        slot,
        sent: total.sent,
        status_5xx: total.status_5xx,
        transport: total.errors.total(),
        p50: report.latency_at(50.0),
        p99: report.latency_at(99.0),
        p999: report.latency_at(99.9),
        max: total.latency.max,
        kills: Vec::new(),
        kill_failed: audit.count("kill-failed"),
        skipped: audit.skips(),
        breaches: Vec::new(),
        steady_p99: Vec::new(),
        failures_by_second: Vec::new(),
        min_serving: 0,
    };
    outcome.kills = audit.kills(&clock, &trace);
    outcome.min_serving = min_serving(&trace, &clock, &outcome.kills, s.seconds);
    outcome.judge_seconds(&seconds, s.objective);
    println!("{}", outcome.describe(s));
    outcome
}

/// Waits until a request through the edge is answered 200.
async fn answers(edge: &str) {
    let client = http1_client();
    let url = format!("{edge}/");
    let ok = timeout(PATIENCE, async {
        loop {
            if let Ok((status, _, _)) = try_get(&client, &url).await
                && status == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "GET {url} never answered 200");
}

/// Ratings' instances and their status, at each change the registry
/// reports (long polls), until `stop`.
type Trace = Vec<(Instant, BTreeMap<String, Status>)>;

async fn trace_ratings(client: ControlClient, mut stop: watch::Receiver<bool>) -> Trace {
    let mut out: Trace = Vec::new();
    let mut index = 0;
    loop {
        tokio::select! {
            _ = stop.changed() => return out,
            listing = client.watch("ratings", index, Duration::from_secs(5)) => match listing {
                Ok(l) => {
                    index = l.index;
                    let set: BTreeMap<String, Status> =
                        l.instances.into_iter().map(|i| (i.id, i.status)).collect();
                    if out.last().is_none_or(|(_, last)| *last != set) {
                        out.push((Instant::now(), set));
                    }
                }
                Err(e) => {
                    eprintln!("game day: watching ratings: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// The fewest ratings instances serving during the load: `UP` in the
/// registry and not killed (a killed one stays `UP` there until its lease
/// lapses).
fn min_serving(trace: &Trace, clock: &Clock, kills: &[Kill], seconds: u64) -> usize {
    let during = |t: &f64| (0.0..=seconds as f64).contains(t);
    let mut moments = vec![0.0];
    moments.extend(
        trace
            .iter()
            .map(|(t, _)| clock.since_start(*t))
            .filter(during),
    );
    moments.extend(kills.iter().map(|k| k.at).filter(during));
    moments
        .into_iter()
        .map(|t| {
            let listed = trace
                .iter()
                .take_while(|(at, _)| clock.since_start(*at) <= t)
                .last()
                .map(|(_, set)| set);
            listed.map_or(0, |set| {
                set.iter()
                    .filter(|(id, status)| {
                        **status == Status::Up && !kills.iter().any(|k| k.id == **id && k.at <= t)
                    })
                    .count()
            })
        })
        .min()
        .unwrap_or(0)
}

/// Maps the control plane's timestamps and this process's instants onto
/// seconds since the load started.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    /// When the marker was committed, as well as this process can tell.
    anchor: Instant,
    anchor_ms: i64,
}

impl Clock {
    fn since_start(&self, at: Instant) -> f64 {
        signed_secs(self.start, at)
    }

    fn of_ms(&self, ms: i64) -> f64 {
        (ms - self.anchor_ms) as f64 / 1000.0 + signed_secs(self.start, self.anchor)
    }
}

/// `to − from` in seconds, negative when `to` is earlier.
fn signed_secs(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64()
    } else {
        -(from - to).as_secs_f64()
    }
}

/// Milliseconds since the Unix epoch of an audit record's `at`
/// (`2025-01-31T09:15:02.123Z`).
fn millis_of(at: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 {
        at.get(r)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an RFC 3339 time: {at}"))
    };
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, sec, ms) = (n(11..13), n(14..16), n(17..19), n(20..23));
    // Days from the epoch to a civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms
}

/// The audit records a game day is judged on.
#[derive(Debug)]
struct Audit(Vec<AuditRecord>);

async fn read_audit(client: &ControlClient) -> Audit {
    let mut records = Vec::new();
    let mut after = None;
    loop {
        let page = client
            .audit(&AuditQuery {
                after,
                limit: Some(1000),
                order: Order::Asc,
                ..AuditQuery::default()
            })
            .await
            .expect("the audit log answers");
        let n = page.records.len();
        after = page.records.last().map(|r| r.id).or(after);
        records.extend(page.records);
        if n < 1000 {
            return Audit(records);
        }
    }
}

impl Audit {
    fn of<'a>(&'a self, action: &'a str) -> impl Iterator<Item = &'a AuditRecord> + 'a {
        self.0.iter().filter(move |r| r.action == action)
    }

    fn count(&self, action: &str) -> usize {
        self.of(action).count()
    }

    /// Chaos Monkey's kills.
    fn killed(&self) -> impl Iterator<Item = &AuditRecord> + '_ {
        self.of("killed").filter(|r| r.actor == "chaos-monkey")
    }

    /// When `id` left the registry (lease lapsed or deregistered).
    fn left(&self, id: &str) -> Option<&AuditRecord> {
        self.0
            .iter()
            .find(|r| r.target == id && (r.action == "lease-expired" || r.action == "deregistered"))
    }

    /// The instance the platform started in place of `id`.
    fn replacement(&self, id: &str) -> Option<String> {
        self.of("instance-replaced")
            .find(|r| r.target == id)
            .and_then(|r| r.detail["replacement"].as_str())
            .map(str::to_owned)
    }

    /// When `id` first became `UP` in the registry.
    fn up(&self, id: &str) -> Option<&AuditRecord> {
        self.0.iter().find(|r| {
            r.target == id
                && ((r.action == "registered" && r.detail["status"] == "UP")
                    || (r.action == "status-changed" && r.detail["to"] == "UP"))
        })
    }

    /// The first replacement down the line from `id` that became `UP` (a
    /// replacement killed while starting is replaced in turn).
    fn admitted(&self, id: &str) -> Option<(String, &AuditRecord)> {
        let mut next = self.replacement(id)?;
        for _ in 0..10 {
            if let Some(r) = self.up(&next) {
                return Some((next, r));
            }
            next = self.replacement(&next)?;
        }
        None
    }

    /// Every kill has left the registry and has an admitted replacement.
    fn settled(&self) -> bool {
        self.killed()
            .all(|k| self.left(&k.target).is_some() && self.admitted(&k.target).is_some())
    }

    /// Kill-skipped reasons, counted.
    fn skips(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in self.of("kill-skipped") {
            let reason = r.detail["reason"].as_str().unwrap_or("?").to_owned();
            *out.entry(reason).or_default() += 1;
        }
        out
    }

    fn kills(&self, clock: &Clock, trace: &Trace) -> Vec<Kill> {
        self.killed()
            .map(|k| {
                let at = clock.of_ms(millis_of(&k.at));
                let after = |r: &AuditRecord| clock.of_ms(millis_of(&r.at)) - at;
                let admitted = self.admitted(&k.target);
                // What the registry's readers saw: the first listing after
                // the kill without it, and with the replacement UP.
                let seen = |gone: &dyn Fn(&BTreeMap<String, Status>) -> bool| {
                    trace
                        .iter()
                        .map(|(t, set)| (clock.since_start(*t), set))
                        .find(|(t, set)| *t >= at && gone(set))
                        .map(|(t, _)| t - at)
                };
                let covered = trace
                    .first()
                    .is_some_and(|(t, _)| clock.since_start(*t) <= at);
                Kill {
                    id: k.target.clone(),
                    at,
                    left: self.left(&k.target).map(|r| (r.action.clone(), after(r))),
                    left_seen: if covered {
                        seen(&|set| !set.contains_key(&k.target))
                    } else {
                        None
                    },
                    replacement: admitted.as_ref().map(|(id, r)| (id.clone(), after(r))),
                    replacement_seen: match (&admitted, covered) {
                        (Some((id, _)), true) => seen(&|set| set.get(id) == Some(&Status::Up)),
                        _ => None,
                    },
                    covered,
                }
            })
            .collect()
    }
}

/// One of Chaos Monkey's kills and its aftermath; times in seconds.
#[derive(Debug)]
struct Kill {
    id: String,
    /// Since the load started (negative: before it).
    at: f64,
    /// The audit record that took it out of the registry, and after how long.
    left: Option<(String, f64)>,
    /// After how long the watch saw it gone.
    left_seen: Option<f64>,
    /// Its admitted replacement, and after how long it was `UP` (audit).
    replacement: Option<(String, f64)>,
    /// After how long the watch saw the replacement `UP`.
    replacement_seen: Option<f64>,
    /// The watch ran from before the kill.
    covered: bool,
}

/// A second whose p99 broke the objective.
#[derive(Debug)]
struct Breach {
    second: u64,
    p99: Duration,
    /// The slowest response of the second.
    max: Duration,
    /// How late the generator itself sent (p99): when high, the load
    /// generator stalled, not the fleet.
    send_lag: Duration,
    /// The kill (instance, time) within [`BLIP`] before or in it, if any.
    after_kill: Option<(String, f64)>,
}

/// What one game day measured.
#[derive(Debug)]
struct Outcome {
    name: &'static str,
    seconds_run: u64,
    lease: Duration,
    slot: Duration,
    sent: u64,
    status_5xx: u64,
    transport: u64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    kills: Vec<Kill>,
    kill_failed: usize,
    skipped: BTreeMap<String, usize>,
    breaches: Vec<Breach>,
    /// p99 of each second not within [`BLIP`] of a kill.
    steady_p99: Vec<Duration>,
    failures_by_second: Vec<u64>,
    /// The fewest ratings instances serving during the load.
    min_serving: usize,
}

impl Outcome {
    fn failed(&self) -> u64 {
        self.status_5xx + self.transport
    }

    fn failed_share(&self) -> f64 {
        if self.sent == 0 {
            return 1.0;
        }
        self.failed() as f64 / self.sent as f64
    }

    /// Kills during the load.
    fn kills_in_load(&self) -> usize {
        self.kills
            .iter()
            .filter(|k| k.at >= 0.0 && k.at <= self.seconds_run as f64)
            .count()
    }

    /// The kill whose blip window `[at, at + BLIP)` overlaps second `i`.
    fn blip_of(&self, i: u64) -> Option<(String, f64)> {
        let (from, to) = (i as f64, i as f64 + 1.0);
        self.kills
            .iter()
            .filter(|k| k.at < to && from < k.at + BLIP)
            .map(|k| (k.id.clone(), k.at))
            .next_back()
    }

    fn judge_seconds(&mut self, seconds: &BTreeMap<u64, Window>, objective: Duration) {
        for (&i, w) in seconds {
            self.failures_by_second
                .push(w.status_5xx + w.errors.total());
            let near = self.blip_of(i);
            if w.latency.p99 > objective {
                self.breaches.push(Breach {
                    second: i,
                    p99: w.latency.p99,
                    max: w.latency.max,
                    send_lag: w.send_lag.p99,
                    after_kill: near,
                });
            } else if near.is_none() {
                self.steady_p99.push(w.latency.p99);
            }
        }
        self.steady_p99.sort();
    }

    /// Everything that must hold with or without policies.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let leave_by = (self.lease + SWEEP + SLACK).as_secs_f64();
        for k in &self.kills {
            // By the audit log, and as the registry's readers saw it when
            // the watch ran from before the kill.
            let seen = !k.covered || k.left_seen.is_some_and(|s| s <= leave_by);
            match &k.left {
                Some((_, a)) if *a <= leave_by && seen => {}
                _ => out.push(format!(
                    "{}: {} did not leave the registry within {leave_by} s: {k:?}",
                    self.name, k.id
                )),
            }
            match &k.replacement {
                Some((_, a)) if *a <= REPLACED_WITHIN.as_secs_f64() => {}
                _ => out.push(format!(
                    "{}: {} got no replacement UP within {REPLACED_WITHIN:?}: {k:?}",
                    self.name, k.id
                )),
            }
        }
        let slots = self.seconds_run as f64 / self.slot.as_secs_f64();
        let expected = (slots.floor() as usize).saturating_sub(2);
        if self.kills_in_load() < expected {
            out.push(format!(
                "{}: {} kills during the load, expected at least {expected} (one per {:?} slot, less two); \
                 {} kills failed, skipped: {:?}",
                self.name,
                self.kills_in_load(),
                self.slot,
                self.kill_failed,
                self.skipped
            ));
        }
        out
    }

    fn describe(&self, s: &Settings) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mut out = format!(
            "\ngame day 1, {}: {} requests/s for {} s, edge p99 objective {}\n",
            self.name,
            s.rate,
            s.seconds,
            ms(s.objective)
        );
        out += &format!(
            "  requests  sent {}  failed {} (5xx {}, transport {})  = {:.3}%\n",
            self.sent,
            self.failed(),
            self.status_5xx,
            self.transport,
            self.failed_share() * 100.0
        );
        out += &format!(
            "  latency   p50 {}  p99 {}  p99.9 {}  max {}\n",
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        );
        let steady = |q: f64| {
            self.steady_p99
                .get(((self.steady_p99.len() as f64 - 1.0) * q).round() as usize)
                .map_or("-".to_owned(), |d| ms(*d))
        };
        out += &format!(
            "  steady    per-second p99 away from kills: median {}, max {} ({} seconds)\n",
            steady(0.5),
            steady(1.0),
            self.steady_p99.len()
        );
        out += &format!(
            "  failures  per second: {}\n",
            self.failures_by_second
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
        out += &format!(
            "  kills     {} during the load ({} in all), {} failed, skipped {:?}; serving ratings instances (UP, not killed) never fewer than {}\n",
            self.kills_in_load(),
            self.kills.len(),
            self.kill_failed,
            self.skipped,
            self.min_serving
        );
        let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2} s"));
        for k in &self.kills {
            out += &format!(
                "    {:<11} killed at {:>6.2} s: left after {} ({}; the watch saw it {}), {} UP after {} (seen {})\n",
                k.id,
                k.at,
                secs(k.left.as_ref().map(|l| l.1)),
                k.left.as_ref().map_or("never", |l| l.0.as_str()),
                if k.covered {
                    secs(k.left_seen)
                } else {
                    "-".into()
                },
                k.replacement
                    .as_ref()
                    .map_or("no replacement", |r| r.0.as_str()),
                secs(k.replacement.as_ref().map(|r| r.1)),
                secs(k.replacement_seen),
            );
        }
        if self.breaches.is_empty() {
            out += "  objective never broken\n";
        }
        for b in &self.breaches {
            out += &format!(
                "  objective broken in second {}: p99 {} (max {}, send lag p99 {}), {}\n",
                b.second,
                ms(b.p99),
                ms(b.max),
                ms(b.send_lag),
                match &b.after_kill {
                    Some((id, at)) => format!("after the kill of {id} at {at:.2} s"),
                    None => match self.kills.iter().rfind(|k| k.at < b.second as f64) {
                        Some(k) => format!(
                            "NOT within {BLIP} s after a kill (the last, of {}, was at {:.2} s)",
                            k.id, k.at
                        ),
                        None => "NOT after any kill".to_owned(),
                    },
                }
            );
        }
        out
    }
}

/// Both runs side by side, as BENCHMARKS.md shows them.
fn summary_table(s: &Settings, runs: &[&Outcome]) -> String {
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut out = format!(
        "game day 1: {} requests/s for {} s per run, p99 objective {} ms\n\n\
         | run | requests | failed | failed share | kills | p50 ms | p99 ms | p99.9 ms | max ms | seconds over objective (not within 2 s of a kill) | left registry after, s (max) | replacement UP after, s (max) | fewest serving ratings |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        s.rate,
        s.seconds,
        s.objective.as_millis()
    );
    for r in runs {
        let max = |f: &dyn Fn(&Kill) -> Option<f64>| {
            r.kills
                .iter()
                .filter_map(f)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                .map_or("-".to_owned(), |v| format!("{v:.2}"))
        };
        out += &format!(
            "| {} | {} | {} | {:.3}% | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} |\n",
            r.name,
            r.sent,
            r.failed(),
            r.failed_share() * 100.0,
            r.kills_in_load(),
            ms(r.p50),
            ms(r.p99),
            ms(r.p999),
            ms(r.max),
            r.breaches.len(),
            r.breaches.iter().filter(|b| b.after_kill.is_none()).count(),
            max(&|k| k.left.as_ref().map(|l| l.1)),
            max(&|k| k.replacement.as_ref().map(|l| l.1)),
            r.min_serving,
        );
    }
    out
}

/// `ordo up`, and on drop (a failed assertion, a panic) everything it
/// started: first Ctrl-C, as `Running` does, so that ordo up stops its
/// instances; if it has not exited after 10 s, it is frozen and killed,
/// and so is every instance it had started, each with its process group
/// (instances run in groups of their own and outlive a killed ordo up).
struct UpGuard(Running);

impl Drop for UpGuard {
    #[allow(
        clippy::disallowed_methods,
        reason = "a Drop cannot await; a test's last resort"
    )]
    fn drop(&mut self) {
        let Some(pid) = self.0.child.id() else {
            return; // exited and reaped
        };
        let signal = |args: &[&str]| {
            let _ = std::process::Command::new("kill")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status();
        };
        let mut instances = children_of(pid);
        signal(&["-INT", &pid.to_string()]);
        for _ in 0..200 {
            if !matches!(self.0.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.0.child.try_wait(), Ok(None)) {
            signal(&["-STOP", &pid.to_string()]);
            instances.extend(children_of(pid));
            signal(&["-KILL", &pid.to_string()]);
        }
        for (c, started) in instances {
            // Still the same process: not reaped, its pid not reused.
            if parent_and_start(c).is_some_and(|(_, s)| s == started) {
                signal(&["-KILL", "--", &format!("-{c}")]);
                signal(&["-KILL", &c.to_string()]);
            }
        }
    }
}

/// The processes whose parent is `pid`, each with its start time (pid
/// and start time name a process; a pid alone may be reused).
fn children_of(pid: u32) -> BTreeSet<(u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let (parent, started) = parent_and_start(p)?;
            (parent == pid).then_some((p, started))
        })
        .collect()
}

/// The parent and start time (in clock ticks since boot) of process `pid`.
fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After comm: state is field 3 of the line, ppid 4, starttime 22.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

#[test]
fn audit_times_are_read_to_the_millisecond() {
    assert_eq!(millis_of("1970-01-01T00:00:00.000Z"), 0);
    assert_eq!(millis_of("2023-11-14T22:13:20.123Z"), 1_700_000_000_123);
    assert_eq!(millis_of("2024-02-29T23:59:59.999Z"), 1_709_251_199_999);
}
