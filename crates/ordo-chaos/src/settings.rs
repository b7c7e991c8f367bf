//! The runtime form of the manifest's `chaos:` sections: checked, with
//! the time zone looked up, holidays parsed and each opted-in service's
//! effective settings resolved.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use ordo_config::manifest::{
    ChaosConfig, ExceptionConfig, Grouping, Manifest, MinHealthy, OutageConfig, wildcard_match,
};
use serde::Serialize;

use crate::Calendar;
use crate::group::Member;

/// Why a manifest's chaos settings cannot be used. The manifest check
/// reports the same problems with their line; this names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// A field's value is out of range or malformed.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's path, such as `chaos.window.end_hour`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The window's time zone is not in this machine's (or the bundled)
    /// time zone database.
    #[error("chaos.window.time_zone: `{name}` is not a time zone: {message}")]
    TimeZone {
        /// The name given.
        name: String,
        /// jiff's reason.
        message: String,
    },
}

impl SettingsError {
    /// The path of the field at fault.
    pub fn field(&self) -> &str {
        match self {
            SettingsError::Invalid { field, .. } => field,
            SettingsError::TimeZone { .. } => "chaos.window.time_zone",
        }
    }
}

/// One service's effective Chaos Monkey settings: its own where its
/// `chaos:` block sets them, the top-level ones where not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSettings {
    /// Mean work slots between kills of each group, at least 1.
    pub mean_time_between_kills: f64,
    /// Fewest work slots between two kills of a group.
    pub min_time_between_kills: u32,
    /// How its instances are grouped.
    pub grouping: Grouping,
    /// The fewest healthy instances each group keeps.
    pub min_healthy: MinHealthy,
}

impl ServiceSettings {
    /// The chance that a group is drawn in a slot: 1/mean.
    pub fn probability(&self) -> f64 {
        (1.0 / self.mean_time_between_kills).clamp(0.0, 1.0)
    }

    /// Kills per work slot in the long run, the minimum interval
    /// included: after a kill, `max(min, 1) - 1` slots are barred, then
    /// each slot draws with 1/mean, so kills are `mean + max(min, 1) - 1`
    /// slots apart on average.
    pub fn kills_per_slot(&self) -> f64 {
        let barred = f64::from(self.min_time_between_kills.max(1) - 1);
        1.0 / (self.mean_time_between_kills + barred)
    }
}

/// One entry of `chaos.exceptions`: instances matching every given
/// pattern are never killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// Its place in `chaos.exceptions`.
    pub index: usize,
    /// The service's name pattern; any when none.
    pub service: Option<String>,
    /// The stack pattern; any when none.
    pub stack: Option<String>,
    /// The cluster pattern; any when none.
    pub cluster: Option<String>,
}

impl Exception {
    fn from_config(index: usize, c: &ExceptionConfig) -> Exception {
        Exception {
            index,
            service: c.service.clone(),
            stack: c.stack.clone(),
            cluster: c.cluster.clone(),
        }
    }

    /// True when `m` matches every pattern given.
    pub fn matches(&self, m: &Member) -> bool {
        let ok = |pattern: &Option<String>, value: &str| {
            pattern.as_deref().is_none_or(|p| wildcard_match(p, value))
        };
        ok(&self.service, &m.service) && ok(&self.stack, &m.stack) && ok(&self.cluster, &m.cluster)
    }
}

impl fmt::Display for Exception {
    /// `chaos.exceptions[1] {service: web, stack: eu-*}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<String> = [
            ("service", &self.service),
            ("stack", &self.stack),
            ("cluster", &self.cluster),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect();
        write!(
            f,
            "chaos.exceptions[{}] {{{}}}",
            self.index,
            fields.join(", ")
        )
    }
}

/// Chaos Monkey's settings, checked and ready: the switches, the
/// calendar, the opted-in services, the exceptions and the outage check.
#[derive(Debug, Clone)]
pub struct ChaosSettings {
    enabled: bool,
    leashed: bool,
    seed: Option<u64>,
    calendar: Calendar,
    defaults: ServiceSettings,
    services: BTreeMap<String, ServiceSettings>,
    exceptions: Vec<Exception>,
    outage: Option<OutageConfig>,
}

impl ChaosSettings {
    /// The settings of `m`'s `chaos:` sections. Fails on the first problem
    /// the manifest check reports under a `chaos` field (a manifest that
    /// passed the check has none), or when the time zone cannot be found.
    /// Without a time zone, the machine's own is used.
    pub fn from_manifest(m: &Manifest) -> Result<ChaosSettings, SettingsError> {
        if let Some((field, message)) = m.problems().into_iter().find(|(f, _)| is_chaos_field(f)) {
            return Err(SettingsError::Invalid { field, message });
        }
        let c: &ChaosConfig = &m.chaos;
        let time_zone = match &c.window.time_zone {
            Some(name) => TimeZone::get(name).map_err(|e| SettingsError::TimeZone {
                name: name.clone(),
                message: e.to_string(),
            })?,
            None => TimeZone::system(),
        };
        let mut holidays = Vec::with_capacity(c.holidays.len());
        for (i, h) in c.holidays.iter().enumerate() {
            let date: Date = h.parse().map_err(|_| SettingsError::Invalid {
                field: format!("chaos.holidays[{i}]"),
                message: format!("`{h}` is not a date written `YYYY-MM-DD`"),
            })?;
            holidays.push(date);
        }
        let mut calendar = Calendar::new(time_zone, c.window.start_hour, c.window.end_hour)?
            .with_weekdays_only(c.window.weekdays_only)
            .with_holidays(holidays);
        if let Some(slot) = c.slot {
            calendar = calendar.with_slots(slot.get())?;
        }
        let defaults = ServiceSettings {
            mean_time_between_kills: c.mean_time_between_kills,
            min_time_between_kills: c.min_time_between_kills,
            grouping: c.grouping,
            min_healthy: c.min_healthy,
        };
        let services = m
            .services
            .iter()
            .filter_map(|s| {
                let own = s.chaos.as_ref().filter(|own| own.enabled)?;
                let settings = ServiceSettings {
                    mean_time_between_kills: own
                        .mean_time_between_kills
                        .unwrap_or(defaults.mean_time_between_kills),
                    min_time_between_kills: own
                        .min_time_between_kills
                        .unwrap_or(defaults.min_time_between_kills),
                    grouping: own.grouping.unwrap_or(defaults.grouping),
                    min_healthy: own.min_healthy.unwrap_or(defaults.min_healthy),
                };
                Some((s.name.clone(), settings))
            })
            .collect();
        Ok(ChaosSettings {
            enabled: c.enabled,
            leashed: c.leashed,
            seed: c.seed,
            calendar,
            defaults,
            services,
            exceptions: c
                .exceptions
                .iter()
                .enumerate()
                .map(|(i, e)| Exception::from_config(i, e))
                .collect(),
            outage: c.outage.clone(),
        })
    }

    /// The master switch (`chaos.enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Dry run (`chaos.leashed`): decisions are made and recorded, nothing
    /// is killed.
    pub fn leashed(&self) -> bool {
        self.leashed
    }

    /// The fixed seed of the random source, if the manifest gives one.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The work calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// True when `service` has opted in (a `chaos:` block not disabled).
    pub fn opted_in(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    /// The opted-in services, by name.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The effective settings of an opted-in service.
    pub fn service(&self, name: &str) -> Option<&ServiceSettings> {
        self.services.get(name)
    }

    /// The effective settings of `name`: its own when opted in, the
    /// top-level ones otherwise.
    pub fn service_or_default(&self, name: &str) -> &ServiceSettings {
        self.services.get(name).unwrap_or(&self.defaults)
    }

    /// The exceptions, in manifest order.
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// The first exception matching `m`.
    pub fn exception_for(&self, m: &Member) -> Option<&Exception> {
        self.exceptions.iter().find(|e| e.matches(m))
    }

    /// The outage check; none when turned off.
    pub fn outage(&self) -> Option<&OutageConfig> {
        self.outage.as_ref()
    }

    /// The same settings, switched on or off.
    pub fn with_enabled(mut self, enabled: bool) -> ChaosSettings {
        self.enabled = enabled;
        self
    }

    /// The same settings, leashed or not.
    pub fn with_leashed(mut self, leashed: bool) -> ChaosSettings {
        self.leashed = leashed;
        self
    }

    /// The same settings with `service` opted in with `settings`, for
    /// simulations and tests. Only what the runtime needs is checked (a
    /// mean of at least 1); unlike the manifest, a minimum interval above
    /// the mean is allowed (`mean: 1, min: 3` kills exactly every third
    /// work slot).
    pub fn with_service(
        mut self,
        service: &str,
        settings: ServiceSettings,
    ) -> Result<ChaosSettings, SettingsError> {
        let mean = settings.mean_time_between_kills;
        if !(mean.is_finite() && mean >= 1.0) {
            return Err(SettingsError::Invalid {
                field: format!("{service}.mean_time_between_kills"),
                message: format!("must be at least 1, got {mean}"),
            });
        }
        self.services.insert(service.to_owned(), settings);
        Ok(self)
    }

    /// The same settings with another calendar (tests and simulations).
    pub fn with_calendar(mut self, calendar: Calendar) -> ChaosSettings {
        self.calendar = calendar;
        self
    }
}

/// `chaos...` or `services[i].chaos...`.
fn is_chaos_field(field: &str) -> bool {
    field == "chaos"
        || field.starts_with("chaos.")
        || field.contains(".chaos.")
        || field.ends_with(".chaos")
}
