//! When kills may happen: work days (or seconds-scale slots), each with
//! its window, in one time zone.
//!
//! A *work day* is a calendar day in the window's time zone that is a
//! weekday (unless `weekdays_only` is off) and not a holiday; its window is
//! `[start_hour, end_hour)` local time, turned into instants with jiff's
//! civil-to-zoned conversion (a start hour that falls in a daylight-saving
//! gap opens when the gap ends; one that falls in a fold opens at its first
//! occurrence). A work day is a *slot*: its [`SlotId`] is the number of
//! days since 1970-01-01.
//!
//! With `slot: 5s`, slots are instead consecutive spans of that length
//! aligned on the Unix epoch (`id = floor(unix_ms / slot_ms)`); a slot is a
//! work slot when its *start* lies inside the window of a work day, and its
//! window is the whole slot.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::SettingsError;

/// How far [`Calendar::next_slot`] looks ahead: a calendar with no work
/// slot in this many days has none at all.
pub const LOOKAHEAD_DAYS: i64 = 400;

/// 1970-01-01, day 0 of work-day slot ids.
const EPOCH_DATE: Date = Date::constant(1970, 1, 1);

const MS_PER_DAY: i64 = 86_400_000;

/// A slot's number: in work-day mode the days since 1970-01-01 of its
/// date, in slot mode `floor(unix_ms / slot_ms)` of its start.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(transparent)]
pub struct SlotId(pub i64);

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A work slot: a work day's window, or one seconds-scale slot.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Its number.
    pub id: SlotId,
    /// When its kill window opens.
    pub opens: Timestamp,
    /// When its kill window closes (kills happen before it).
    pub closes: Timestamp,
}

impl Slot {
    /// True when `t` lies in `[opens, closes)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.opens <= t && t < self.closes
    }
}

/// Why no kill may happen at some instant.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Closed {
    /// A Saturday or Sunday while only weekdays are work days.
    Weekend,
    /// A day listed in `chaos.holidays`.
    Holiday,
    /// A work day, but outside its window (or, in slot mode, in a slot
    /// that starts outside it).
    OutsideHours,
    /// Inside a work slot, but not the one the kill was planned for: a
    /// planned kill is never carried into another slot.
    OutsideSlot,
}

impl Closed {
    /// A stable kebab-case code: `weekend`, `holiday`, `outside-hours`,
    /// `outside-slot`.
    pub fn code(self) -> &'static str {
        match self {
            Closed::Weekend => "weekend",
            Closed::Holiday => "holiday",
            Closed::OutsideHours => "outside-hours",
            Closed::OutsideSlot => "outside-slot",
        }
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Closed::Weekend => {
                "it is the weekend in the window's time zone; kills happen on weekdays \
                 (chaos.window.weekdays_only)"
            }
            Closed::Holiday => {
                "it is a holiday (chaos.holidays); kills resume on the next work day"
            }
            Closed::OutsideHours => "it is outside the kill window (chaos.window)",
            Closed::OutsideSlot => {
                "the slot this kill was planned for is not open; a planned kill is never \
                 carried into another slot"
            }
        })
    }
}

/// The work calendar: which instants are inside a work slot's window.
#[derive(Debug, Clone)]
pub struct Calendar {
    time_zone: TimeZone,
    start_hour: i8,
    end_hour: i8,
    weekdays_only: bool,
    holidays: BTreeSet<Date>,
    /// Seconds-scale slots, in milliseconds; none for work days.
    slot_ms: Option<i64>,
}

impl Calendar {
    /// Work days Monday to Friday, no holidays, with the window
    /// `[start_hour, end_hour)` in `time_zone`. Hours are 0 to 23 and 1 to
    /// 24, start before end.
    pub fn new(
        time_zone: TimeZone,
        start_hour: u8,
        end_hour: u8,
    ) -> Result<Calendar, SettingsError> {
        if start_hour > 23 || !(1..=24).contains(&end_hour) || start_hour >= end_hour {
            return Err(SettingsError::Invalid {
                field: "chaos.window".to_owned(),
                message: format!(
                    "{start_hour}:00 to {end_hour}:00 is not a window: hours are 0 to 23 and 1 to 24, start before end"
                ),
            });
        }
        Ok(Calendar {
            time_zone,
            start_hour: start_hour as i8,
            end_hour: end_hour as i8,
            weekdays_only: true,
            holidays: BTreeSet::new(),
            slot_ms: None,
        })
    }

    /// Whether only Monday to Friday are work days (the default) or
    /// every day is.
    pub fn with_weekdays_only(mut self, weekdays_only: bool) -> Calendar {
        self.weekdays_only = weekdays_only;
        self
    }

    /// Days that are never work days.
    pub fn with_holidays(mut self, holidays: impl IntoIterator<Item = Date>) -> Calendar {
        self.holidays.extend(holidays);
        self
    }

    /// Seconds-scale slots of `length` (at least 1 ms, whole
    /// milliseconds) instead of work days.
    pub fn with_slots(mut self, length: std::time::Duration) -> Result<Calendar, SettingsError> {
        let ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
        if ms < 1 || !length.subsec_nanos().is_multiple_of(1_000_000) || ms > MS_PER_DAY * 366 {
            return Err(SettingsError::Invalid {
                field: "chaos.slot".to_owned(),
                message: format!(
                    "{length:?} is not a slot: whole milliseconds from 1ms to 366 days"
                ),
            });
        }
        self.slot_ms = Some(ms);
        Ok(self)
    }

    /// The window's time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The length of a seconds-scale slot; none in work-day mode.
    pub fn slot_length(&self) -> Option<SignedDuration> {
        self.slot_ms.map(SignedDuration::from_millis)
    }

    /// Work slots in a week: the work days of a week in work-day mode
    /// (5, or 7 without `weekdays_only`; holidays aside), the slots that
    /// start inside a week's windows in slot mode (daylight saving aside).
    pub fn work_slots_per_week(&self) -> f64 {
        let days = if self.weekdays_only { 5.0 } else { 7.0 };
        match self.slot_ms {
            None => days,
            Some(ms) => {
                let window_ms = f64::from(self.end_hour - self.start_hour) * 3_600_000.0;
                days * window_ms / ms as f64
            }
        }
    }

    /// True when `date` is a work day: a weekday (or any day without
    /// `weekdays_only`) that is not a holiday.
    pub fn is_work_day(&self, date: Date) -> bool {
        !(self.holidays.contains(&date) || self.weekdays_only && is_weekend(date.weekday()))
    }

    /// The window `[opens, closes)` of `date`, whether or not it is a
    /// work day; none only at the ends of time.
    pub fn window_of(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        let opens = self.instant(date, self.start_hour)?;
        let closes = self.instant(date, self.end_hour)?;
        Some((opens, closes))
    }

    /// The work slot whose window contains `t`, if any.
    pub fn slot_at(&self, t: Timestamp) -> Option<Slot> {
        match self.slot_ms {
            None => {
                let date = self.date_of(t);
                let slot = self.slot(&SlotId(day_id(date)))?;
                slot.contains(t).then_some(slot)
            }
            Some(ms) => self.slot(&SlotId(t.as_millisecond().div_euclid(ms))),
        }
    }

    /// The work slot numbered `id`; none when that slot is not a work
    /// slot.
    pub fn slot(&self, id: &SlotId) -> Option<Slot> {
        match self.slot_ms {
            None => {
                let date = date_of_id(id.0)?;
                if !self.is_work_day(date) {
                    return None;
                }
                let (opens, closes) = self.window_of(date)?;
                Some(Slot {
                    id: id.clone(),
                    opens,
                    closes,
                })
            }
            Some(ms) => {
                let opens = Timestamp::from_millisecond(id.0.checked_mul(ms)?).ok()?;
                let closes =
                    Timestamp::from_millisecond(id.0.checked_add(1)?.checked_mul(ms)?).ok()?;
                self.is_work_instant(opens).then(|| Slot {
                    id: id.clone(),
                    opens,
                    closes,
                })
            }
        }
    }

    /// None when `t` is inside a work slot's window; otherwise why not.
    /// A day that is both a holiday and a weekend day is a holiday.
    pub fn closed_because(&self, t: Timestamp) -> Option<Closed> {
        if self.slot_at(t).is_some() {
            return None;
        }
        // In slot mode the slot's start decides.
        let probe = match self.slot_ms {
            None => t,
            Some(ms) => {
                Timestamp::from_millisecond(t.as_millisecond().div_euclid(ms) * ms).unwrap_or(t)
            }
        };
        let date = self.date_of(probe);
        Some(if self.holidays.contains(&date) {
            Closed::Holiday
        } else if self.weekdays_only && is_weekend(date.weekday()) {
            Closed::Weekend
        } else {
            Closed::OutsideHours
        })
    }

    /// The first work slot whose window closes after `after`: the current
    /// one while it is open, else the next, skipping weekends and
    /// holidays. None when there is no work slot in the next
    /// [`LOOKAHEAD_DAYS`] days (every day a holiday, or slots that never
    /// start inside the window).
    pub fn next_slot(&self, after: Timestamp) -> Option<Slot> {
        match self.slot_ms {
            None => {
                let first = self.date_of(after);
                (0..=LOOKAHEAD_DAYS).find_map(|i| {
                    let date = add_days(first, i)?;
                    let slot = self.slot(&SlotId(day_id(date)))?;
                    (slot.closes > after).then_some(slot)
                })
            }
            Some(ms) => {
                // The slot holding `after` closes after it; earlier ones
                // do not.
                let k0 = after.as_millisecond().div_euclid(ms);
                let first = self.date_of(Timestamp::from_millisecond(k0 * ms).ok()?);
                (0..=LOOKAHEAD_DAYS).find_map(|i| {
                    let date = add_days(first, i)?;
                    if !self.is_work_day(date) {
                        return None;
                    }
                    let (opens, closes) = self.window_of(date)?;
                    let k = ceil_div(opens.as_millisecond(), ms).max(k0);
                    (k * ms < closes.as_millisecond()).then(|| self.slot(&SlotId(k)))?
                })
            }
        }
    }

    /// The number of work slots in `(earlier, later]`: 1 when `later` is
    /// the work slot right after `earlier`, 0 when `later <= earlier`.
    pub fn work_slots_between(&self, earlier: SlotId, later: SlotId) -> u64 {
        self.work_slots_between_capped(&earlier, &later, u64::MAX)
    }

    /// [`Calendar::work_slots_between`], but it may stop counting at `cap`
    /// (returns at least `cap` then): the guard only needs to know
    /// whether the minimum interval has passed.
    pub(crate) fn work_slots_between_capped(
        &self,
        earlier: &SlotId,
        later: &SlotId,
        cap: u64,
    ) -> u64 {
        let (e, l) = (earlier.0, later.0);
        if l <= e {
            return 0;
        }
        match self.slot_ms {
            None => self.work_days_in(e + 1, l),
            Some(ms) => self.work_slot_starts_in(e + 1, l, ms, cap),
        }
    }

    /// Work days among the day ids `[first, last]`.
    fn work_days_in(&self, first: i64, last: i64) -> u64 {
        let days = if self.weekdays_only {
            weekdays_before(last + 1) - weekdays_before(first)
        } else {
            last + 1 - first
        };
        let off = self
            .holidays
            .iter()
            .map(|d| day_id(*d))
            .filter(|id| (first..=last).contains(id))
            .filter(|id| !self.weekdays_only || !is_weekend_id(*id))
            .count() as i64;
        (days - off).max(0) as u64
    }

    /// Work slots among the slot ids `[first, last]`, counted a day at a
    /// time, stopping at `cap`.
    fn work_slot_starts_in(&self, first: i64, last: i64, ms: i64, cap: u64) -> u64 {
        if self.always() {
            return (last - first + 1) as u64;
        }
        let (Ok(from), Ok(to)) = (
            Timestamp::from_millisecond(first.saturating_mul(ms)),
            Timestamp::from_millisecond(last.saturating_mul(ms)),
        ) else {
            return 0;
        };
        let (mut date, end) = (self.date_of(from), self.date_of(to));
        let mut count: u64 = 0;
        while date <= end && count < cap {
            if self.is_work_day(date)
                && let Some((opens, closes)) = self.window_of(date)
            {
                let lo = ceil_div(opens.as_millisecond(), ms).max(first);
                let hi = (ceil_div(closes.as_millisecond(), ms) - 1).min(last);
                if hi >= lo {
                    count += (hi - lo + 1) as u64;
                }
            }
            let Some(next) = add_days(date, 1) else { break };
            date = next;
        }
        count
    }

    /// Every instant is in a work slot.
    fn always(&self) -> bool {
        self.start_hour == 0
            && self.end_hour == 24
            && !self.weekdays_only
            && self.holidays.is_empty()
    }

    fn is_work_instant(&self, t: Timestamp) -> bool {
        let date = self.date_of(t);
        self.is_work_day(date)
            && self
                .window_of(date)
                .is_some_and(|(opens, closes)| opens <= t && t < closes)
    }

    /// The local date of `t`.
    pub fn date_of(&self, t: Timestamp) -> Date {
        self.time_zone.to_datetime(t).date()
    }

    /// `hour` o'clock (0 to 24) on `date`, local time.
    fn instant(&self, date: Date, hour: i8) -> Option<Timestamp> {
        let (date, hour) = if hour == 24 {
            (date.tomorrow().ok()?, 0)
        } else {
            (date, hour)
        };
        let at: DateTime = date.at(hour, 0, 0, 0);
        self.time_zone.to_ambiguous_timestamp(at).compatible().ok()
    }
}

impl fmt::Display for Calendar {
    /// `weekdays 9:00 to 15:00 (Europe/Berlin), except 2 holidays`, or
    /// `5s slots, every day 0:00 to 24:00 (UTC)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ms) = self.slot_ms {
            write!(f, "{} slots starting ", humanize_ms(ms))?;
        }
        let days = if self.weekdays_only {
            "weekdays"
        } else {
            "every day"
        };
        let zone = self
            .time_zone
            .iana_name()
            .unwrap_or("the machine's time zone");
        write!(
            f,
            "{days} {}:00 to {}:00 ({zone})",
            self.start_hour, self.end_hour
        )?;
        match self.holidays.len() {
            0 => Ok(()),
            1 => f.write_str(", except 1 holiday"),
            n => write!(f, ", except {n} holidays"),
        }
    }
}

fn humanize_ms(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn is_weekend(d: Weekday) -> bool {
    matches!(d, Weekday::Saturday | Weekday::Sunday)
}

/// Day 0 (1970-01-01) was a Thursday.
fn is_weekend_id(id: i64) -> bool {
    (id + 3).rem_euclid(7) >= 5
}

/// Weekdays among the day ids `[0, n)` (negative for `n < 0`), so that
/// `weekdays_before(b) - weekdays_before(a)` counts those in `[a, b)`.
fn weekdays_before(n: i64) -> i64 {
    // Ids 0..7 are Thursday to Wednesday.
    const PARTIAL: [i64; 7] = [0, 1, 2, 2, 2, 3, 4];
    5 * n.div_euclid(7) + PARTIAL[n.rem_euclid(7) as usize]
}

/// The number of days from 1970-01-01 to `date`.
pub(crate) fn day_id(date: Date) -> i64 {
    date.duration_since(EPOCH_DATE).as_secs().div_euclid(86_400)
}

fn date_of_id(id: i64) -> Option<Date> {
    add_days(EPOCH_DATE, id)
}

fn add_days(date: Date, days: i64) -> Option<Date> {
    let d = SignedDuration::from_secs(days.checked_mul(86_400)?);
    date.checked_add(d).ok()
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

#[cfg(test)]
mod tests;
