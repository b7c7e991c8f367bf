//! [`ChaosMonkey`]: the handle the API and `ordo up` hold. It starts the
//! runner, reads the status, and sets the switches (audited first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ordo_chaos::{BlastRadius, ChaosSettings, Member};
use ordo_platform::{Phase, Platform};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::runner::{Command, Runner};
use super::view::{ChaosStatus, DecisionView, KillNow, SlotView, SwitchView};
use super::{ChaosClock, ChaosError, ErrorRates, FaultSwitch, actions};
use crate::registry::{InstanceQuery, Status};
use crate::store::SwitchRow;
use crate::{AuditEntry, ControlPlane};

/// How the Chaos Monkey runs.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// The schedule and guardrails, from the manifest.
    pub settings: ChaosSettings,
    /// The random source's seed; the settings' seed, else one drawn from
    /// the clock.
    pub seed: Option<u64>,
    /// Civil time.
    pub clock: ChaosClock,
    /// The longest the runner sleeps before it looks at the registry again
    /// (new groups are drawn when they appear). Default 1 s.
    pub tick: Duration,
    /// Each service's error rate, for the outage check.
    pub error_rates: Arc<dyn ErrorRates>,
    /// What a halt turns off besides kills; none when there are no proxies.
    pub faults: Option<Arc<dyn FaultSwitch>>,
    /// How many recent decisions the status shows. Default 20.
    pub status_decisions: u32,
}

impl ChaosOptions {
    /// Options with the system clock, a 1 s tick, and no fault switch.
    pub fn new(settings: ChaosSettings, error_rates: Arc<dyn ErrorRates>) -> Self {
        ChaosOptions {
            seed: settings.seed(),
            settings,
            clock: ChaosClock::system(),
            tick: Duration::from_secs(1),
            error_rates,
            faults: None,
            status_decisions: 20,
        }
    }
}

/// The switches as last set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Switches {
    pub(super) paused: Option<SwitchRow>,
    pub(super) halted: Option<SwitchRow>,
}

impl Switches {
    pub(super) fn paused(&self) -> bool {
        self.paused.as_ref().is_some_and(|s| s.on)
    }
    pub(super) fn halted(&self) -> bool {
        self.halted.as_ref().is_some_and(|s| s.on)
    }
}

/// What the handle and the runner share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) plane: ControlPlane,
    pub(super) platform: Arc<dyn Platform>,
    pub(super) options: ChaosOptions,
    pub(super) switches: watch::Sender<Switches>,
    /// Held while a switch is set and the proxies are told, so that a halt
    /// and a resume never interleave.
    pub(super) switching: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The instances as the Chaos Monkey sees them: those in the registry
    /// that the platform runs (a killed instance stays registered until its
    /// lease lapses, but it is no member), healthy when `UP` in the
    /// registry and running on the platform. If the platform cannot say,
    /// none is healthy, so the minimum-healthy guard refuses every kill.
    pub(super) async fn members(&self) -> Vec<Member> {
        let running: Option<HashMap<String, bool>> = match self.platform.list().await {
            Ok(list) => Some(
                list.into_iter()
                    .map(|i| (i.id, i.pid.is_some() && i.phase == Phase::Running))
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the platform cannot list its instances; counting none healthy");
                None
            }
        };
        self.plane
            .registry()
            .instances(&InstanceQuery::default())
            .instances
            .into_iter()
            .filter_map(|i| {
                let runs = match &running {
                    Some(r) => *r.get(&i.id)?,
                    None => false,
                };
                let healthy = runs && i.status == Status::Up;
                Some(Member::from_metadata(
                    &i.id,
                    &i.service,
                    &i.metadata,
                    healthy,
                ))
            })
            .collect()
    }
}

/// The running Chaos Monkey; cheap to clone. Stops with
/// [`ChaosMonkey::shutdown`] or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct ChaosMonkey {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl ChaosMonkey {
    /// Settles intents left open by a previous run (without killing
    /// again), then starts the schedule. Must run inside a tokio runtime.
    pub async fn start(
        plane: ControlPlane,
        platform: Arc<dyn Platform>,
        options: ChaosOptions,
    ) -> Result<ChaosMonkey, ChaosError> {
        let stored = plane.store().chaos_switches().await?;
        let switches = Switches {
            paused: stored.get("paused").cloned(),
            halted: stored.get("halted").cloned(),
        };
        let (switches, switched) = watch::channel(switches);
        let shared = Arc::new(Shared {
            plane,
            platform,
            options,
            switches,
            switching: tokio::sync::Mutex::new(()),
        });
        let (commands, inbox) = mpsc::channel(16);
        let mut runner = Runner::new(Arc::clone(&shared), inbox, switched).await?;
        runner.resolve_open_intents().await?;
        let task = tokio::spawn(runner.run());
        let halted = shared.switches.borrow().halted.clone().filter(|h| h.on);
        if let (Some(h), Some(f)) = (halted, &shared.options.faults) {
            // A halt outlives the process: the proxies must refuse faults again.
            if let Err(e) = f.set_halted(true, &h.actor).await {
                tracing::error!(error = %e, "the stored halt could not be applied to every proxy");
            }
        }
        let settings = &shared.options.settings;
        tracing::info!(
            enabled = settings.enabled(),
            leashed = settings.leashed(),
            services = ?settings.services().collect::<Vec<_>>(),
            "Chaos Monkey started"
        );
        Ok(ChaosMonkey {
            shared,
            commands,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ChaosSettings {
        &self.shared.options.settings
    }

    /// Its state: switches, the slot, the latest decisions.
    pub async fn status(&self) -> Result<ChaosStatus, ChaosError> {
        let o = &self.shared.options;
        let now = o.clock.now();
        let calendar = o.settings.calendar();
        let slot = match calendar.slot_at(now) {
            Some(s) => Some((s, true)),
            None => calendar.next_slot(now).map(|s| (s, false)),
        };
        let switches = self.shared.switches.borrow().clone();
        let decisions = self
            .shared
            .plane
            .store()
            .chaos_recent(o.status_decisions)
            .await?;
        Ok(ChaosStatus {
            enabled: o.settings.enabled(),
            leashed: o.settings.leashed(),
            paused: switches.paused.as_ref().and_then(SwitchView::from_row),
            halted: switches.halted.as_ref().and_then(SwitchView::from_row),
            schedule: calendar.to_string(),
            now: now.to_string(),
            slot: slot.map(|(s, open)| SlotView {
                id: s.id.0,
                opens: s.opens.to_string(),
                closes: s.closes.to_string(),
                open,
            }),
            services: o.settings.services().map(str::to_owned).collect(),
            decisions: decisions.iter().map(DecisionView::from).collect(),
        })
    }

    /// The blast radius now: each group, whether it is eligible, and how
    /// many of its instances a kill may take.
    pub async fn plan(&self) -> BlastRadius {
        let groups = ordo_chaos::groups(&self.shared.options.settings, self.shared.members().await);
        ordo_chaos::blast_radius(&self.shared.options.settings, &groups)
    }

    /// Pauses kills until [`ChaosMonkey::resume`]: due ones are skipped
    /// with the reason `paused`, and kill-now is refused.
    pub async fn pause(&self, actor: &str) -> Result<ChaosStatus, ChaosError> {
        let _one_at_a_time = self.shared.switching.lock().await;
        self.set(vec![("paused", true)], actor, actions::PAUSED)
            .await?;
        self.status().await
    }

    /// Lifts a pause and a halt; after a halt, faults may be added again.
    pub async fn resume(&self, actor: &str) -> Result<ChaosStatus, ChaosError> {
        let _one_at_a_time = self.shared.switching.lock().await;
        let was_halted = self.shared.switches.borrow().halted();
        self.set(
            vec![("paused", false), ("halted", false)],
            actor,
            actions::RESUMED,
        )
        .await?;
        if was_halted && let Some(f) = &self.shared.options.faults {
            match f.set_halted(false, actor).await {
                Ok(n) => tracing::info!(proxies = n, "faults allowed again"),
                Err(e) => tracing::warn!(error = %e, "not every proxy allows faults again"),
            }
        }
        self.status().await
    }

    /// Stops every kill and every fault, and blocks new ones, until
    /// [`ChaosMonkey::resume`]. The halt is recorded first; the faults are
    /// removed after. Returns the status and how many proxies were halted.
    pub async fn halt(&self, actor: &str) -> Result<(ChaosStatus, Option<usize>), ChaosError> {
        let _one_at_a_time = self.shared.switching.lock().await;
        self.set(vec![("halted", true)], actor, actions::HALTED)
            .await?;
        let proxies = match &self.shared.options.faults {
            Some(f) => match f.set_halted(true, actor).await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::error!(error = %e, "not every proxy could be halted");
                    None
                }
            },
            None => Some(0),
        };
        Ok((self.status().await?, proxies))
    }

    /// Kills one instance of `service` now, through every guardrail but the
    /// schedule's (window, draw, minimum interval); leashed, it records the
    /// instance it would kill.
    pub async fn kill_now(&self, actor: &str, service: &str) -> Result<KillNow, ChaosError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::KillNow {
                actor: actor.to_owned(),
                service: service.to_owned(),
                reply,
            })
            .await
            .map_err(|_| ChaosError::Stopped)?;
        answer.await.map_err(|_| ChaosError::Stopped)?
    }

    /// Stops the runner and waits for it.
    pub async fn shutdown(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    async fn set(
        &self,
        switches: Vec<(&'static str, bool)>,
        actor: &str,
        action: &str,
    ) -> Result<(), ChaosError> {
        let entry = AuditEntry::new(actor, action, "chaos").with_detail(serde_json::json!(
            switches
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::Bool(*v)))
                .collect::<serde_json::Map<_, _>>()
        ));
        let (_, stored) = self
            .shared
            .plane
            .store()
            .chaos_set_switches(switches, actor.to_owned(), entry)
            .await?;
        self.shared.switches.send_replace(Switches {
            paused: stored.get("paused").cloned(),
            halted: stored.get("halted").cloned(),
        });
        Ok(())
    }
}
