//! Text for terminals: [`summary_line`] once a second, [`report_text`] at
//! the end.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::Report;
use crate::snapshot::{Snapshot, Window};

/// One line for a live terminal view:
///
/// ```text
///    12s    200/s  ok 2400      4xx 0      5xx 0      errors 0 (0.00%)        p50 1.21ms   p99 4.80ms   max 9.10ms
/// ```
///
/// Counts (`ok`, `4xx`, `5xx`, `errors`, with errors as a share of finished
/// requests) are cumulative. The rate and the latencies are those of the
/// last whole second, so that a change shows at once; during the first
/// second, and in a finished run's snapshot, they cover the whole run.
pub fn summary_line(s: &Snapshot) -> String {
    let live = match (&s.last_second, s.finished) {
        (Some(last), false) => last,
        _ => &s.total,
    };
    let t = &s.total;
    let errors = format!("{} ({:.2}%)", t.errors.total(), 100.0 * t.error_ratio());
    let line = format!(
        "{:>6}  {:>7}  ok {:<9} 4xx {:<6} 5xx {:<6} errors {:<16} p50 {:<8} p99 {:<8} max {}",
        elapsed(s.elapsed),
        rate(live.achieved_rate),
        t.ok,
        t.status_4xx,
        t.status_5xx,
        errors,
        format_latency(live.latency.p50),
        format_latency(live.latency.p99),
        format_latency(live.latency.max),
    );
    line.trim_end().to_owned()
}

/// A run's report for a terminal: totals, errors by kind, the generator's
/// send lag, and the latency percentile table.
pub fn report_text(report: &Report) -> String {
    let s = &report.snapshot;
    let t = &s.total;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "requests  intended {}  sent {}  completed {}  errors {}",
        t.intended,
        t.sent,
        t.completed,
        t.errors.total()
    );
    let _ = writeln!(
        out,
        "rate      target {}  achieved {} over {}",
        rate(s.target_rate),
        rate(t.achieved_rate),
        format_latency(s.elapsed)
    );
    let _ = writeln!(
        out,
        "status    ok {}  4xx {}  5xx {}",
        t.ok, t.status_4xx, t.status_5xx
    );
    let _ = writeln!(
        out,
        "errors    timeout {}  connect {}  io {}",
        t.errors.timeout, t.errors.connect, t.errors.io
    );
    if t.finished() > 0 {
        let _ = writeln!(
            out,
            "send lag  p50 {}  p99 {}  max {}  (how late requests were sent; part of their latency)",
            format_latency(t.send_lag.p50),
            format_latency(t.send_lag.p99),
            format_latency(t.send_lag.max),
        );
    }
    if t.intended > t.sent {
        let _ = writeln!(
            out,
            "not sent  {} requests were due but never sent (every slot was busy, or the run stopped)",
            t.intended - t.sent
        );
    }
    latency_table(&mut out, report, t);
    out
}

fn latency_table(out: &mut String, report: &Report, t: &Window) {
    if t.completed == 0 {
        let _ = writeln!(out, "latency   no request completed");
        return;
    }
    let _ = writeln!(
        out,
        "latency   from each request's intended send time, over {} responses",
        t.completed
    );
    let _ = writeln!(out, "  {:<9} {}", "mean", format_latency(t.latency.mean));
    for p in report.percentiles() {
        let _ = writeln!(
            out,
            "  {:<9} {}",
            format!("{}%", p.percentile),
            format_latency(p.latency)
        );
    }
}

/// A latency with units chosen for it: `845µs`, `1.21ms`, `48.3ms`,
/// `480ms`, `1.50s`.
pub fn format_latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    match us {
        us if us < 1_000.0 => format!("{}µs", d.as_micros()),
        us if us < 10_000.0 => format!("{:.2}ms", us / 1e3),
        us if us < 100_000.0 => format!("{:.1}ms", us / 1e3),
        us if us < 1_000_000.0 => format!("{:.0}ms", us / 1e3),
        us if us < 10_000_000.0 => format!("{:.2}s", us / 1e6),
        us if us < 100_000_000.0 => format!("{:.1}s", us / 1e6),
        _ => format!("{:.0}s", us / 1e6),
    }
}

/// Elapsed time in whole seconds: `12s`, `2m05s`, `1h02m03s`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// A rate: `200/s`, `0.5/s`.
fn rate(r: f64) -> String {
    if r < 10.0 && r.fract() != 0.0 {
        format!("{r:.1}/s")
    } else {
        format!("{r:.0}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Errors, Latency};

    #[test]
    fn latencies_pick_their_unit() {
        let cases = [
            (Duration::ZERO, "0µs"),
            (Duration::from_micros(845), "845µs"),
            (Duration::from_micros(1_210), "1.21ms"),
            (Duration::from_micros(48_300), "48.3ms"),
            (Duration::from_millis(480), "480ms"),
            (Duration::from_millis(1_500), "1.50s"),
            (Duration::from_secs(42), "42.0s"),
            (Duration::from_secs(3_600), "3600s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_latency(d), text);
        }
        assert_eq!(elapsed(Duration::from_millis(12_900)), "12s");
        assert_eq!(elapsed(Duration::from_secs(125)), "2m05s");
        assert_eq!(elapsed(Duration::from_secs(3723)), "1h02m03s");
        assert_eq!(rate(200.0), "200/s");
        assert_eq!(rate(0.5), "0.5/s");
    }

    #[test]
    fn a_summary_line_shows_totals_and_the_last_second() {
        let window = |ok, p50_us| Window {
            duration: Duration::from_secs(1),
            intended: ok,
            sent: ok,
            completed: ok,
            ok,
            errors: Errors {
                timeout: 0,
                connect: 0,
                io: 0,
            },
            achieved_rate: 200.0,
            latency: Latency {
                p50: Duration::from_micros(p50_us),
                p99: Duration::from_micros(4_800),
                max: Duration::from_micros(9_100),
                ..Latency::default()
            },
            ..Window::default()
        };
        let s = Snapshot {
            elapsed: Duration::from_secs(12),
            target_rate: 200.0,
            in_flight: 0,
            total: window(2400, 999),
            last_second: Some(window(200, 1_210)),
            finished: false,
        };
        assert_eq!(
            summary_line(&s),
            "   12s    200/s  ok 2400      4xx 0      5xx 0      errors 0 (0.00%)        \
             p50 1.21ms   p99 4.80ms   max 9.10ms"
        );
    }
}
