//! Chaos Monkey's settings: the manifest's top-level `chaos:` section and
//! each service's own `chaos:` block that opts it in.
//!
//! ```yaml
//! chaos:
//!   enabled: true
//!   leashed: false              # decisions only, until you trust it
//!   mean_time_between_kills: 5  # work days: each group 1 in 5 days
//!   window: { start_hour: 9, end_hour: 15, time_zone: Europe/Berlin }
//!   holidays: [2025-12-25]
//!   min_healthy: 50%
//! services:
//!   - name: ratings
//!     command: ./ratings
//!     replicas: 3
//!     chaos: {}                 # opts ratings in
//! ```
//!
//! Chaos Monkey (crate `ordo-chaos`) turns these into its calendar,
//! groups and guardrails; this module only holds and checks the data.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Manifest;
use crate::Duration;
use crate::validate::Problems;

/// Chaos Monkey: instances of opted-in services are terminated at random
/// in working hours, so that every service must survive losing one.
/// Absent, Chaos Monkey is off; a service takes part only when it has a
/// `chaos:` block of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosConfig {
    /// The master switch: nothing is scheduled or killed while false.
    /// Default false.
    pub enabled: bool,
    /// Dry run: every decision is made and recorded, but no instance is
    /// killed. Default true; set it to false once the recorded decisions
    /// look right.
    pub leashed: bool,
    /// The mean time between kills of each group, in work days (or in
    /// slots when `slot` is set), at least 1: a group gets at most one
    /// kill per work day, with probability 1/mean. Default 5.
    pub mean_time_between_kills: f64,
    /// The fewest work days (or slots) between two kills of one group, at
    /// most the mean: 1 allows a kill on the next work day, 0 sets no
    /// limit beyond one kill per day. Default 1.
    pub min_time_between_kills: u32,
    /// What a group is: the instances of which at most one is killed per
    /// work day. Default `cluster`.
    pub grouping: Grouping,
    /// Seconds-scale Chaos Monkey for demos and tests: consecutive slots
    /// of this length (aligned on the Unix epoch, at least `100ms`) take
    /// the place of work days; a slot counts when it starts inside the
    /// window on a work day. None (work days) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<Duration>,
    /// The hours of each work day in which kills happen.
    pub window: ChaosWindowConfig,
    /// Days without kills, as `YYYY-MM-DD` in the window's time zone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// Instances that are never killed: each entry matches by service,
    /// stack and cluster, with `*` for any run of characters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<ExceptionConfig>,
    /// The fewest healthy instances a group keeps: a kill that would leave
    /// fewer is refused. A count (`2`) or a share of the group (`"50%"`,
    /// rounded up). Default 1.
    pub min_healthy: MinHealthy,
    /// The outage check: no kills while a service is failing or being
    /// deployed. On by default; `null` turns it off.
    pub outage: Option<OutageConfig>,
    /// A fixed seed for the random choices, so a schedule can be
    /// replayed; random when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        ChaosConfig {
            enabled: false,
            leashed: true,
            mean_time_between_kills: 5.0,
            min_time_between_kills: 1,
            grouping: Grouping::default(),
            slot: None,
            window: ChaosWindowConfig::default(),
            holidays: Vec::new(),
            exceptions: Vec::new(),
            min_healthy: MinHealthy::default(),
            outage: Some(OutageConfig::default()),
            seed: None,
        }
    }
}

/// How instances are grouped; each group gets at most one kill per work
/// day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// One group per service.
    App,
    /// One group per service and stack (the instance's `stack` metadata).
    Stack,
    /// One group per cluster (the instance's `cluster` metadata, the
    /// service's name when it has none).
    #[default]
    Cluster,
}

/// The hours in which kills happen, on work days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosWindowConfig {
    /// The hour the window opens, 0 to 23, local time. Default 9.
    pub start_hour: u8,
    /// The hour it closes, 1 to 24 and after `start_hour`, local time;
    /// kills happen before it. Default 15.
    pub end_hour: u8,
    /// An IANA time zone such as `America/Los_Angeles` or `UTC`. Default
    /// the machine's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Only Monday to Friday are work days. Default true.
    pub weekdays_only: bool,
}

impl Default for ChaosWindowConfig {
    fn default() -> Self {
        ChaosWindowConfig {
            start_hour: 9,
            end_hour: 15,
            time_zone: None,
            weekdays_only: true,
        }
    }
}

/// Instances Chaos Monkey leaves alone. Each field is a pattern where `*`
/// stands for any run of characters; a field left out matches anything,
/// and an instance matching every given field is excepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionConfig {
    /// The service's name; it must match a service of the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The instance's `stack` metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The instance's `cluster` metadata (the service's name when it has
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The fewest healthy instances a group must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinHealthy {
    /// So many instances.
    Count(u32),
    /// This percentage (0 to 100) of the group's instances, rounded up.
    Percent(f64),
}

impl Default for MinHealthy {
    fn default() -> Self {
        MinHealthy::Count(1)
    }
}

impl MinHealthy {
    /// The healthy instances required of a group of `size` instances.
    pub fn required(self, size: usize) -> u32 {
        match self {
            MinHealthy::Count(n) => n,
            MinHealthy::Percent(p) => {
                let exact = p.clamp(0.0, 100.0) * size as f64 / 100.0;
                // Rounding error must not add an instance: 30% of 10 is 3.
                let rounded = (exact - 1e-9).ceil().max(0.0);
                rounded as u32
            }
        }
    }
}

impl fmt::Display for MinHealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinHealthy::Count(n) => write!(f, "{n}"),
            MinHealthy::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for MinHealthy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MinHealthy::Count(n) => s.serialize_u32(*n),
            MinHealthy::Percent(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for MinHealthy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MinHealthy;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count such as `2` or a percentage such as `\"50%\"`")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MinHealthy, E> {
                u32::try_from(v)
                    .map(MinHealthy::Count)
                    .map_err(|_| E::custom(format!("`{v}` is too many instances")))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MinHealthy, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "`{v}` is negative; write a count such as `2` or a percentage such as `\"50%\"`"
                    ))),
                }
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<MinHealthy, E> {
                Err(E::custom(format!(
                    "`{v}` is not a whole number; write a count such as `2` or a percentage such as `\"50%\"`"
                )))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MinHealthy, E> {
                let t = v.trim();
                if let Some(number) = t.strip_suffix('%') {
                    if let Ok(p) = number.trim().parse::<f64>()
                        && p.is_finite()
                    {
                        return Ok(MinHealthy::Percent(p));
                    }
                } else if let Ok(n) = t.parse::<u32>() {
                    return Ok(MinHealthy::Count(n));
                }
                Err(E::custom(format!(
                    "`{v}` is neither a count such as `2` nor a percentage such as `\"50%\"`"
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for MinHealthy {
    fn schema_name() -> Cow<'static, str> {
        "MinHealthy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of instances (`2`), or a percentage of the group's instances (`\"50%\"`, 0 to 100, rounded up).",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%\\s*$" }
            ]
        })
    }
}

/// The outage check: a service whose sidecars report an error rate above
/// `max_error_rate`, or one being deployed, is not made worse by a kill.
/// An unknown error rate counts as an outage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OutageConfig {
    /// The share of failed requests (0 to 1) above which the service is
    /// in an outage. Default 0.05.
    pub max_error_rate: f64,
    /// No kills while the service is being deployed. Default true.
    pub deploys: bool,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            max_error_rate: 0.05,
            deploys: true,
        }
    }
}

/// A service's part in Chaos Monkey: present, the service is opted in,
/// with its own settings where given (the top-level `chaos:` ones where
/// not). `chaos: {}` opts in with the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceChaosConfig {
    /// Opted in. Default true; false keeps the block but opts out.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// This service's mean time between kills per group, in work days
    /// (or slots), at least 1. Default the top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_time_between_kills: Option<f64>,
    /// This service's fewest work days (or slots) between two kills of a
    /// group, at most its mean. Default the top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_time_between_kills: Option<u32>,
    /// How this service's instances are grouped. Default the top-level
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grouping: Option<Grouping>,
    /// The fewest healthy instances each of its groups keeps. Default the
    /// top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy: Option<MinHealthy>,
}

impl Default for ServiceChaosConfig {
    fn default() -> Self {
        ServiceChaosConfig {
            enabled: true,
            mean_time_between_kills: None,
            min_time_between_kills: None,
            grouping: None,
            min_healthy: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// The shortest slot: shorter ones would outrun the registry's view of
/// which instances are up.
pub const MIN_SLOT: Duration = Duration::from_millis(100);

/// True when `pattern` (with `*` for any run of characters) matches all
/// of `text`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// True when `s` is a `YYYY-MM-DD` date that exists.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
        && s.parse::<jiff::civil::Date>().is_ok()
}

impl ChaosConfig {
    pub(super) fn check(&self, p: &mut Problems, m: &Manifest) {
        check_mean_min(
            p,
            self.mean_time_between_kills,
            self.min_time_between_kills,
            "mean_time_between_kills",
            "min_time_between_kills",
        );
        if let Some(slot) = self.slot {
            p.check(slot >= MIN_SLOT, "slot", || {
                format!("{slot} is shorter than {MIN_SLOT}")
            });
            p.check(
                slot.get().subsec_nanos().is_multiple_of(1_000_000),
                "slot",
                || format!("{slot} is not a whole number of milliseconds"),
            );
            let w = &self.window;
            if w.start_hour < w.end_hour {
                let hours = u64::from(w.end_hour - w.start_hour);
                p.check(slot <= Duration::from_secs(hours * 3600), "slot", || {
                    format!(
                        "{slot} is longer than the window ({}:00 to {}:00): some work days would have no slot",
                        w.start_hour, w.end_hour
                    )
                });
            }
        }
        p.at("window", |p| self.window.check(p));
        for (i, h) in self.holidays.iter().enumerate() {
            p.check(is_date(h), &format!("holidays[{i}]"), || {
                format!("`{h}` is not a date written `YYYY-MM-DD`, such as `2025-12-25`")
            });
        }
        for (i, e) in self.exceptions.iter().enumerate() {
            p.at(&format!("exceptions[{i}]"), |p| e.check(p, m));
        }
        check_min_healthy(p, "min_healthy", self.min_healthy);
        if let Some(o) = &self.outage {
            p.check(
                (0.0..=1.0).contains(&o.max_error_rate),
                "outage.max_error_rate",
                || format!("must be 0 to 1, got {}", o.max_error_rate),
            );
        }
    }
}

impl ChaosWindowConfig {
    fn check(&self, p: &mut Problems) {
        p.check(self.start_hour <= 23, "start_hour", || {
            format!("must be 0 to 23, got {}", self.start_hour)
        });
        p.check((1..=24).contains(&self.end_hour), "end_hour", || {
            format!("must be 1 to 24, got {}", self.end_hour)
        });
        if self.start_hour <= 23 && (1..=24).contains(&self.end_hour) {
            p.check(self.start_hour < self.end_hour, "end_hour", || {
                format!(
                    "{} is not after start_hour {}: the window would be empty",
                    self.end_hour, self.start_hour
                )
            });
        }
        if let Some(tz) = &self.time_zone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            p.push(
                "time_zone",
                format!(
                    "`{tz}` is not a time zone; use an IANA name such as `Europe/Berlin`, \
                     `America/Los_Angeles` or `UTC`"
                ),
            );
        }
    }
}

impl ExceptionConfig {
    fn check(&self, p: &mut Problems, m: &Manifest) {
        if self.service.is_none() && self.stack.is_none() && self.cluster.is_none() {
            p.push(
                "",
                "matches every instance; give at least one of service, stack, cluster \
                 (or set chaos.enabled to false)",
            );
        }
        if let Some(s) = &self.service {
            if s.contains('*') {
                p.check(
                    m.services.iter().any(|x| wildcard_match(s, &x.name)),
                    "service",
                    || format!("`{s}` matches no service"),
                );
            } else {
                p.check(m.service(s).is_some(), "service", || {
                    format!("no service is named `{s}`")
                });
            }
        }
        if let Some(c) = &self.cluster {
            p.check(!c.is_empty(), "cluster", || {
                "is empty: every instance has a cluster; leave it out to match any".into()
            });
        }
    }
}

impl ServiceChaosConfig {
    pub(super) fn check(&self, p: &mut Problems, top: &ChaosConfig) {
        let mean_field = if self.mean_time_between_kills.is_some() {
            "mean_time_between_kills"
        } else {
            "min_time_between_kills"
        };
        // Only report what this block sets: the top-level values are
        // checked at the top.
        if self.mean_time_between_kills.is_some() || self.min_time_between_kills.is_some() {
            let mut inner = Problems::default();
            check_mean_min(
                &mut inner,
                self.mean_time_between_kills
                    .unwrap_or(top.mean_time_between_kills),
                self.min_time_between_kills
                    .unwrap_or(top.min_time_between_kills),
                mean_field,
                "min_time_between_kills",
            );
            for (field, message) in inner.into_list() {
                let set = match field.as_str() {
                    "mean_time_between_kills" => self.mean_time_between_kills.is_some(),
                    _ => self.min_time_between_kills.is_some(),
                };
                if set {
                    p.push(&field, message);
                }
            }
        }
        if let Some(mh) = self.min_healthy {
            check_min_healthy(p, "min_healthy", mh);
        }
    }
}

fn check_mean_min(p: &mut Problems, mean: f64, min: u32, mean_field: &str, min_field: &str) {
    if !(mean.is_finite() && mean >= 1.0) {
        p.push(
            mean_field,
            format!("must be at least 1 (work days or slots), got {mean}"),
        );
    } else {
        p.check(f64::from(min) <= mean, min_field, || {
            format!("{min} is more than the mean time between kills {mean}")
        });
    }
}

fn check_min_healthy(p: &mut Problems, field: &str, mh: MinHealthy) {
    if let MinHealthy::Percent(pct) = mh {
        p.check((0.0..=100.0).contains(&pct), field, || {
            format!("must be 0% to 100%, got {pct}%")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("ratings", "ratings"));
        assert!(!wildcard_match("ratings", "ratings-eu"));
        assert!(wildcard_match("ratings*", "ratings-eu"));
        assert!(wildcard_match("*-canary", "ratings-canary"));
        assert!(wildcard_match("r*t*s", "ratings"));
        assert!(!wildcard_match("r*x*s", "ratings"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
        assert!(!wildcard_match("", "a"));
    }

    #[test]
    fn min_healthy_rounds_a_share_up() {
        assert_eq!(MinHealthy::Count(2).required(10), 2);
        assert_eq!(MinHealthy::Percent(50.0).required(3), 2);
        assert_eq!(MinHealthy::Percent(30.0).required(10), 3);
        assert_eq!(MinHealthy::Percent(0.0).required(10), 0);
        assert_eq!(MinHealthy::Percent(100.0).required(7), 7);
        assert_eq!(MinHealthy::Percent(1.0).required(1), 1);
    }

    #[test]
    fn min_healthy_reads_counts_and_percentages() {
        let read = |s: &str| serde_json::from_str::<MinHealthy>(s);
        assert_eq!(read("2").unwrap(), MinHealthy::Count(2));
        assert_eq!(read("\"50%\"").unwrap(), MinHealthy::Percent(50.0));
        assert_eq!(read("\"3\"").unwrap(), MinHealthy::Count(3));
        assert!(read("-1").unwrap_err().to_string().contains("negative"));
        assert!(
            read("\"half\"")
                .unwrap_err()
                .to_string()
                .contains("neither")
        );
        assert_eq!(
            serde_json::to_string(&MinHealthy::Percent(50.0)).unwrap(),
            "\"50%\""
        );
    }

    #[test]
    fn dates_are_written_year_month_day() {
        assert!(is_date("2025-12-25"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2025-02-29"));
        assert!(!is_date("2025-1-5"));
        assert!(!is_date("2025-12-25T00:00"));
    }
}
