//! What the Chaos Monkey shows: its status and the outcome of a kill-now,
//! as the API returns them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock;
use crate::store::{SlotRow, SwitchRow};

/// Who set a switch, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SwitchView {
    /// Who paused or halted.
    pub actor: String,
    /// When: RFC 3339, UTC.
    pub at: String,
}

impl SwitchView {
    pub(crate) fn from_row(row: &SwitchRow) -> Option<SwitchView> {
        row.on.then(|| SwitchView {
            actor: row.actor.clone(),
            at: clock::rfc3339(clock::from_millis(row.at_ms)),
        })
    }
}

/// A slot: the work day (or demo slot) that kills are drawn for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlotView {
    /// Its number: days since 1970-01-01 in the window's time zone, or
    /// slots since the epoch.
    pub id: i64,
    /// When its kill window opens (RFC 3339).
    pub opens: String,
    /// When it closes.
    pub closes: String,
    /// Whether it is open now.
    pub open: bool,
}

/// A group's decision in a slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    /// The group.
    pub group: String,
    /// Its service.
    pub service: String,
    /// The slot.
    pub slot: i64,
    /// When the kill is or was due (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// `planned`, `intent`, `killed`, `leashed`, `skipped`, `failed` or
    /// `resolved`.
    pub state: String,
    /// The instance chosen, once chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&SlotRow> for DecisionView {
    fn from(r: &SlotRow) -> Self {
        DecisionView {
            group: r.group.clone(),
            service: r.service.clone(),
            slot: r.slot,
            at: r.at_ms.map(|ms| clock::rfc3339(clock::from_millis(ms))),
            state: r.state.as_str().to_owned(),
            target: r.target.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// The Chaos Monkey's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChaosStatus {
    /// Switched on in the manifest; when off nothing is scheduled.
    pub enabled: bool,
    /// Leashed: decisions are recorded, nothing is killed.
    pub leashed: bool,
    /// Paused (scheduled kills are skipped), by whom and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<SwitchView>,
    /// Halted (no kill, no fault), by whom and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<SwitchView>,
    /// The schedule in words: the window and its time zone, or the slot
    /// length.
    pub schedule: String,
    /// The time now, as the Chaos Monkey reads it (RFC 3339).
    pub now: String,
    /// The current slot, or the next one when none is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<SlotView>,
    /// The services that opted in.
    pub services: Vec<String>,
    /// The latest decisions, newest first.
    pub decisions: Vec<DecisionView>,
}

/// What a kill-now did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KillNow {
    /// `killed`, `leashed` (recorded, not done), `skipped` (a guardrail
    /// refused) or `failed` (the platform could not kill).
    pub outcome: String,
    /// The service asked for.
    pub service: String,
    /// The group the target was drawn from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The instance killed, or that would have been.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A skip's reason code (`min-healthy`, `halted`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, in a sentence.
    pub message: String,
}
