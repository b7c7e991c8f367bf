//! Durations written the way people write them: `250ms`, `2s`, `1m30s`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time in a config file, written as a number and a unit (`ns`,
/// `us`, `ms`, `s`, `m`, `h`, `d`), possibly several: `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// So many milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// So many seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// The standard library's duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// True for a zero span.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    /// Parses `250ms`, `2s`, `1m30s` (for command-line flags); the error
    /// says what a duration looks like.
    fn from_str(v: &str) -> Result<Duration, String> {
        humantime::parse_duration(v.trim())
            .map(Duration)
            .map_err(|e| not_a_duration(v, &e))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `250ms`, `2s` or `1m30s`")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                humantime::parse_duration(v.trim())
                    .map(Duration)
                    .map_err(|e| E::custom(not_a_duration(v, &e)))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::default())
                } else {
                    Err(E::custom(format!(
                        "`{v}` has no unit; write e.g. `{v}ms` or `{v}s`"
                    )))
                }
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "`{v}` is negative; a duration is a number and a unit, e.g. `2s`"
                    ))),
                }
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                if v < 0.0 {
                    Err(E::custom(format!(
                        "`{v}` is negative; a duration is a number and a unit, e.g. `2s`"
                    )))
                } else {
                    Err(E::custom(format!("`{v}` has no unit; write e.g. `{v}s`")))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why `v` is not a duration, and what one looks like.
fn not_a_duration(v: &str, e: &humantime::DurationError) -> String {
    match e {
        humantime::DurationError::UnknownUnit { unit, .. } => format!(
            "`{v}`: `{unit}` is not a unit; use ns, us, ms, s, m, h or d, e.g. `250ms`, `2s`"
        ),
        humantime::DurationError::NumberOverflow => format!("`{v}` is too long"),
        _ => format!(
            "`{v}` is not a duration; write a number and a unit, e.g. `250ms`, `2s`, `1m30s`"
        ),
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: numbers with units ns, us, ms, s, m, h, d, e.g. `250ms`, `2s`, `1m30s`.",
            "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|sec|m|min|h|d)\\s*)+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_bare_numbers() {
        let d: Duration = serde_json::from_str("\"1m30s\"").unwrap();
        assert_eq!(d.get(), std::time::Duration::from_secs(90));
        let d: Duration = serde_json::from_str("\"250ms\"").unwrap();
        assert_eq!(d, Duration::from_millis(250));
        let e = serde_json::from_str::<Duration>("5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no unit"), "{e}");
        let e = serde_json::from_str::<Duration>("\"soon\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
        let e = serde_json::from_str::<Duration>("\"5 fortnights\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`fortnights` is not a unit"), "{e}");
        let e = serde_json::from_str::<Duration>("-5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative"), "{e}");
        assert_eq!(
            serde_json::from_str::<Duration>("0").unwrap(),
            Duration::default()
        );
    }
}
