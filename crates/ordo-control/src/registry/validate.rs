//! Validation of registrations: names, addresses, metadata bounds and lease bounds.

use std::net::SocketAddr;
use std::time::Duration;

use super::Registration;
use crate::Problem;

/// Longest id or service name, in characters.
pub const MAX_NAME_LEN: usize = 128;
/// Most metadata keys per instance.
pub const MAX_METADATA_KEYS: usize = 64;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_LEN: usize = 128;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 4096;
/// Shortest lease an instance may ask for.
pub const MIN_LEASE: Duration = Duration::from_secs(1);
/// Longest lease an instance may ask for.
pub const MAX_LEASE: Duration = Duration::from_secs(3600);

pub(super) fn registration(r: &Registration) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Err(m) = name(&r.id) {
        out.push(Problem::new("id", m));
    }
    if let Err(m) = name(&r.service) {
        out.push(Problem::new("service", m));
    }
    if let Err(m) = address(&r.address) {
        out.push(Problem::new("address", m));
    }
    if r.metadata.len() > MAX_METADATA_KEYS {
        out.push(Problem::new(
            "metadata",
            format!(
                "has {} keys, at most {MAX_METADATA_KEYS} are allowed",
                r.metadata.len()
            ),
        ));
    }
    for (k, v) in &r.metadata {
        if k.is_empty() || k.len() > MAX_METADATA_KEY_LEN {
            out.push(Problem::new(
                format!("metadata.{k}"),
                format!("keys must be 1 to {MAX_METADATA_KEY_LEN} bytes"),
            ));
        }
        if v.len() > MAX_METADATA_VALUE_LEN {
            out.push(Problem::new(
                format!("metadata.{k}"),
                format!(
                    "is {} bytes, at most {MAX_METADATA_VALUE_LEN} are allowed",
                    v.len()
                ),
            ));
        }
    }
    if let Some(Err(m)) = r.lease_ms.map(|ms| lease(Duration::from_millis(ms))) {
        out.push(Problem::new("lease_ms", m));
    }
    out
}

/// Checks an id or service name.
pub(crate) fn name(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters"));
    }
    match s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some(c) => Err(format!("`{c}` is not allowed; use A-Z a-z 0-9 . _ : -")),
        None => Ok(()),
    }
}

/// Checks a lease length.
pub(crate) fn lease(d: Duration) -> Result<(), String> {
    if d < MIN_LEASE || d > MAX_LEASE {
        Err(format!(
            "{} is out of range; a lease is 1s to 1h",
            humantime::format_duration(d)
        ))
    } else {
        Ok(())
    }
}

/// Checks a `host:port` address: an IP socket address, or a DNS name and a port.
pub(crate) fn address(s: &str) -> Result<(), String> {
    const EXPECTED: &str = "expected host:port, such as 127.0.0.1:8080 or ratings.local:80";
    if s.parse::<SocketAddr>().is_ok() {
        return if s.ends_with(":0") {
            Err("port 0 is not a port anyone can connect to".into())
        } else {
            Ok(())
        };
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("`{s}` has no port; {EXPECTED}"));
    };
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 is not a port anyone can connect to".into()),
        Ok(_) => {}
        Err(_) => return Err(format!("`{port}` is not a port (1 to 65535); {EXPECTED}")),
    }
    if host.starts_with('[') {
        return Err(format!("`{host}` is not an IPv6 address; {EXPECTED}"));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(valid_label) {
        return Err(format!(
            "`{host}` is not a host name or IP address; {EXPECTED}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        for ok in [
            "127.0.0.1:8080",
            "[::1]:80",
            "ratings.local:80",
            "localhost:1",
            "a-b.c:65535",
        ] {
            assert_eq!(address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            ":80",
            "host:http",
            "host:70000",
            "bad host:80",
            "[::1:80",
            "-x.y:80",
            "a..b:80",
            "http://a:80",
        ] {
            assert!(address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(name("ratings-1.v2:blue_x").is_ok());
        assert!(name("").is_err());
        assert!(name("a/b").is_err());
        assert!(name(&"a".repeat(128)).is_ok());
        assert!(name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn a_registration_reports_every_problem() {
        let mut r = Registration::new("bad id", "", "nowhere");
        r.lease_ms = Some(10);
        r.metadata.insert("k".into(), "v".repeat(5000));
        let fields: Vec<_> = r.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["id", "service", "address", "metadata.k", "lease_ms"]
        );
    }
}
