//! What to run: [`ServiceSpec`] and its [`HealthSpec`], with validation.
//!
//! A spec is plain data. The manifest (ordo-config) converts into it; a
//! platform validates it in `start` and refuses it with the first problem it
//! finds, naming the field.

use std::path::PathBuf;
use std::time::Duration;

use crate::PlatformError;

/// The most replicas one service may ask for.
pub const MAX_REPLICAS: u32 = 1000;

/// Environment variables the platform sets itself; a spec may not set them.
pub const RESERVED_ENV: [&str; 3] = ["PORT", "ORDO_SERVICE", "ORDO_INSTANCE"];

/// A service: one command run as `replicas` instances.
///
/// `command`, `args` and the values of `env` may use `${NAME}`,
/// `${NAME:-default}` and `$$` (a literal `$`); they are expanded when each
/// instance is launched, from the instance's environment first (`PORT`,
/// `ORDO_SERVICE`, `ORDO_INSTANCE`, the companion's variables, and the
/// entries of `env` listed before) and then the platform's own environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The service's name: letters, digits, `-`, `_` and `.`, not starting
    /// with `.` or `-`, at most 63 characters. Instance ids are `<name>-<n>`.
    pub name: String,
    /// The program. A bare name is looked up on `PATH`; a relative path
    /// (one containing `/`) is taken from `dir`.
    pub command: String,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Extra environment variables, in order (a later entry may use an
    /// earlier one).
    pub env: Vec<(String, String)>,
    /// The working directory (relative to the platform's own).
    pub dir: PathBuf,
    /// How many instances to keep running (at most [`MAX_REPLICAS`]).
    pub replicas: u32,
    /// How the platform checks that an instance is healthy.
    pub health: HealthSpec,
}

impl ServiceSpec {
    /// A spec running `command` once from the current directory, with no
    /// arguments, no extra environment and the default health check.
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> Self {
        ServiceSpec {
            name: name.into(),
            command: command.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: PathBuf::from("."),
            replicas: 1,
            health: HealthSpec::default(),
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Sets the working directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Sets the number of instances.
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// Sets the health check.
    pub fn health(mut self, health: HealthSpec) -> Self {
        self.health = health;
        self
    }

    /// The first problem with this spec, as [`PlatformError::InvalidSpec`].
    pub fn validate(&self) -> Result<(), PlatformError> {
        validate_name(&self.name)?;
        if self.command.trim().is_empty() {
            return Err(PlatformError::invalid("command", "must not be empty"));
        }
        no_nul("command", &self.command)?;
        for (i, arg) in self.args.iter().enumerate() {
            no_nul(&format!("args[{i}]"), arg)?;
        }
        for (i, (name, value)) in self.env.iter().enumerate() {
            validate_env_name(&format!("env[{i}].name"), name)?;
            no_nul(&format!("env[{i}].value"), value)?;
        }
        if self.dir.as_os_str().is_empty() {
            return Err(PlatformError::invalid(
                "dir",
                "must not be empty (use \".\" for the current directory)",
            ));
        }
        validate_replicas("replicas", self.replicas)?;
        self.health.validate()
    }
}

/// An HTTP health check: `GET http://127.0.0.1:$PORT{path}`; a 2xx or 3xx
/// answer within `timeout` passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// Path (and query) to request; starts with `/`. Default `/health`.
    pub path: String,
    /// Time between checks. Default 1 s.
    pub interval: Duration,
    /// How long one check may take. Default 1 s.
    pub timeout: Duration,
    /// Consecutive passes before a starting instance counts as up. Default 1.
    pub healthy_threshold: u32,
    /// Consecutive failures before an up instance counts as down and is
    /// restarted. Default 3.
    pub unhealthy_threshold: u32,
    /// A new process must first turn up within this, or it is restarted.
    /// Default 30 s.
    pub start_timeout: Duration,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            path: "/health".to_owned(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 3,
            start_timeout: Duration::from_secs(30),
        }
    }
}

impl HealthSpec {
    /// The first problem with this health check, as [`PlatformError::InvalidSpec`].
    pub fn validate(&self) -> Result<(), PlatformError> {
        if !self.path.starts_with('/') {
            return Err(PlatformError::invalid(
                "health.path",
                format!("{:?} must start with `/`", self.path),
            ));
        }
        if self.path.parse::<http::uri::PathAndQuery>().is_err() {
            return Err(PlatformError::invalid(
                "health.path",
                format!("{:?} is not a valid request path", self.path),
            ));
        }
        for (field, d) in [
            ("health.interval", self.interval),
            ("health.timeout", self.timeout),
            ("health.start_timeout", self.start_timeout),
        ] {
            if d.is_zero() {
                return Err(PlatformError::invalid(field, "must be more than zero"));
            }
        }
        for (field, n) in [
            ("health.healthy_threshold", self.healthy_threshold),
            ("health.unhealthy_threshold", self.unhealthy_threshold),
        ] {
            if n == 0 {
                return Err(PlatformError::invalid(field, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Refuses more than [`MAX_REPLICAS`].
pub(crate) fn validate_replicas(field: &str, replicas: u32) -> Result<(), PlatformError> {
    if replicas > MAX_REPLICAS {
        return Err(PlatformError::invalid(
            field,
            format!("{replicas} is more than the limit of {MAX_REPLICAS}"),
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), PlatformError> {
    let invalid = |message: String| Err(PlatformError::invalid("name", message));
    if name.is_empty() {
        return invalid("must not be empty".to_owned());
    }
    if name.len() > 63 {
        return invalid(format!("{name:?} is longer than 63 characters"));
    }
    if name.starts_with(['.', '-']) {
        return invalid(format!("{name:?} must not start with `.` or `-`"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => invalid(format!(
            "{name:?} contains {c:?}; use letters, digits, `-`, `_` and `.`"
        )),
        None => Ok(()),
    }
}

fn validate_env_name(field: &str, name: &str) -> Result<(), PlatformError> {
    if name.is_empty() {
        return Err(PlatformError::invalid(field, "must not be empty"));
    }
    if name.contains(['=', '\0']) {
        return Err(PlatformError::invalid(
            field,
            format!("{name:?} must not contain `=` or NUL"),
        ));
    }
    if RESERVED_ENV.contains(&name) {
        return Err(PlatformError::invalid(
            field,
            format!("{name} is set by the platform for each instance"),
        ));
    }
    Ok(())
}

fn no_nul(field: &str, value: &str) -> Result<(), PlatformError> {
    if value.contains('\0') {
        return Err(PlatformError::invalid(field, "must not contain NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(spec: &ServiceSpec) -> String {
        match spec.validate() {
            Err(PlatformError::InvalidSpec { field, .. }) => field,
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_spec_is_valid() {
        ServiceSpec::new("ratings", "ratings-app")
            .args(["--listen", "127.0.0.1:${PORT}"])
            .env("MODE", "demo")
            .replicas(3)
            .validate()
            .expect("valid");
    }

    #[test]
    fn each_problem_names_its_field() {
        let ok = ServiceSpec::new("web", "app");
        assert_eq!(
            field_of(&ServiceSpec {
                name: String::new(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field_of(&ServiceSpec {
                name: "a/b".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field_of(&ServiceSpec {
                name: "..".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field_of(&ServiceSpec {
                command: " ".into(),
                ..ok.clone()
            }),
            "command"
        );
        assert_eq!(field_of(&ok.clone().args(["a", "b\0"])), "args[1]");
        assert_eq!(field_of(&ok.clone().env("", "x")), "env[0].name");
        assert_eq!(field_of(&ok.clone().env("A=B", "x")), "env[0].name");
        assert_eq!(
            field_of(&ok.clone().env("OK", "x").env("PORT", "1")),
            "env[1].name"
        );
        assert_eq!(field_of(&ok.clone().replicas(1001)), "replicas");
        assert_eq!(field_of(&ok.clone().dir("")), "dir");
        let health = |h: HealthSpec| ok.clone().health(h);
        let d = HealthSpec::default();
        assert_eq!(
            field_of(&health(HealthSpec {
                path: "health".into(),
                ..d.clone()
            })),
            "health.path"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                path: "/a b".into(),
                ..d.clone()
            })),
            "health.path"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                interval: Duration::ZERO,
                ..d.clone()
            })),
            "health.interval"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                timeout: Duration::ZERO,
                ..d.clone()
            })),
            "health.timeout"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                start_timeout: Duration::ZERO,
                ..d.clone()
            })),
            "health.start_timeout"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                healthy_threshold: 0,
                ..d.clone()
            })),
            "health.healthy_threshold"
        );
        assert_eq!(
            field_of(&health(HealthSpec {
                unhealthy_threshold: 0,
                ..d
            })),
            "health.unhealthy_threshold"
        );
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let err = ServiceSpec::new("web", "app")
            .replicas(5000)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid replicas: 5000 is more than the limit of 1000"
        );
        let err = ServiceSpec::new("web", "app")
            .env("PORT", "80")
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid env[0].name: PORT is set by the platform for each instance"
        );
    }
}
