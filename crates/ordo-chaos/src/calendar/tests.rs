//! The calendar: weekends, holidays, hours, daylight saving in two time
//! zones, seconds-scale slots, and counting work slots.

use super::*;
use proptest::prelude::*;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("the bundled tz database has it")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn date(s: &str) -> Date {
    s.parse().expect("a date")
}

fn utc(start: u8, end: u8) -> Calendar {
    Calendar::new(tz("UTC"), start, end).unwrap()
}

fn id(s: &str) -> SlotId {
    SlotId(day_id(date(s)))
}

#[test]
fn a_work_day_is_a_weekday_window() {
    let c = utc(9, 15);
    // Monday 2025-01-06.
    let slot = c.slot_at(ts("2025-01-06T10:00:00Z")).unwrap();
    assert_eq!(slot.id, id("2025-01-06"));
    assert_eq!(slot.opens, ts("2025-01-06T09:00:00Z"));
    assert_eq!(slot.closes, ts("2025-01-06T15:00:00Z"));
    assert_eq!(c.closed_because(ts("2025-01-06T10:00:00Z")), None);
    assert!(c.slot_at(ts("2025-01-06T09:00:00Z")).is_some());
    assert!(c.slot_at(ts("2025-01-06T14:59:59.999Z")).is_some());
    for outside in [
        "2025-01-06T08:59:59Z",
        "2025-01-06T15:00:00Z",
        "2025-01-06T23:00:00Z",
    ] {
        assert_eq!(c.slot_at(ts(outside)), None, "{outside}");
        assert_eq!(
            c.closed_because(ts(outside)),
            Some(Closed::OutsideHours),
            "{outside}"
        );
    }
}

#[test]
fn weekends_are_closed_unless_every_day_works() {
    let c = utc(9, 15);
    for weekend in ["2025-01-04T10:00:00Z", "2025-01-05T10:00:00Z"] {
        assert_eq!(c.slot_at(ts(weekend)), None);
        assert_eq!(c.closed_because(ts(weekend)), Some(Closed::Weekend));
    }
    let every_day = utc(9, 15).with_weekdays_only(false);
    assert!(every_day.slot_at(ts("2025-01-04T10:00:00Z")).is_some());
    assert_eq!(
        every_day.closed_because(ts("2025-01-04T16:00:00Z")),
        Some(Closed::OutsideHours)
    );
    // Friday after hours: the next slot is Monday's.
    let next = c.next_slot(ts("2025-01-03T15:00:00Z")).unwrap();
    assert_eq!(next.opens, ts("2025-01-06T09:00:00Z"));
}

#[test]
fn holidays_are_closed_and_skipped() {
    // Christmas 2025 is a Thursday; 2025-12-27 a Saturday.
    let c = utc(9, 15).with_holidays([date("2025-12-25"), date("2025-12-27")]);
    assert_eq!(
        c.closed_because(ts("2025-12-25T10:00:00Z")),
        Some(Closed::Holiday)
    );
    assert_eq!(
        c.closed_because(ts("2025-12-27T10:00:00Z")),
        Some(Closed::Holiday),
        "a holiday on a weekend is a holiday"
    );
    let next = c.next_slot(ts("2025-12-24T15:00:00Z")).unwrap();
    assert_eq!(next.id, id("2025-12-26"));
    assert_eq!(
        c.work_slots_between(id("2025-12-24"), id("2025-12-29")),
        2,
        "Friday 26th and Monday 29th"
    );
}

#[test]
fn next_slot_is_the_open_one_or_the_next() {
    let c = utc(9, 15);
    let monday = id("2025-01-06");
    assert_eq!(c.next_slot(ts("2025-01-06T03:00:00Z")).unwrap().id, monday);
    assert_eq!(c.next_slot(ts("2025-01-06T12:00:00Z")).unwrap().id, monday);
    assert_eq!(
        c.next_slot(ts("2025-01-06T15:00:00Z")).unwrap().id,
        id("2025-01-07")
    );
}

#[test]
fn a_calendar_without_work_days_has_no_next_slot() {
    let start = date("2025-01-01");
    let every_day = (0..=LOOKAHEAD_DAYS + 2).map(|i| add_days(start, i).unwrap());
    let c = utc(9, 15).with_holidays(every_day);
    assert_eq!(c.next_slot(ts("2025-01-01T00:00:00Z")), None);
}

#[test]
fn daylight_saving_in_los_angeles() {
    let la = tz("America/Los_Angeles");
    let c = Calendar::new(la.clone(), 9, 15)
        .unwrap()
        .with_weekdays_only(false);
    // PST (-8) on Saturday, PDT (-7) from Sunday 2025-03-09 on.
    assert_eq!(
        c.window_of(date("2025-03-08")).unwrap(),
        (ts("2025-03-08T17:00:00Z"), ts("2025-03-08T23:00:00Z"))
    );
    assert_eq!(
        c.window_of(date("2025-03-09")).unwrap(),
        (ts("2025-03-09T16:00:00Z"), ts("2025-03-09T22:00:00Z"))
    );
    // Back to PST on Sunday 2025-11-02.
    assert_eq!(
        c.window_of(date("2025-11-02")).unwrap().0,
        ts("2025-11-02T17:00:00Z")
    );
    // Whole days are 23 and 25 hours long.
    let whole = Calendar::new(la.clone(), 0, 24).unwrap();
    let hours = |d: &str| {
        let (o, c) = whole.window_of(date(d)).unwrap();
        c.duration_since(o).as_hours()
    };
    assert_eq!(hours("2025-03-09"), 23);
    assert_eq!(hours("2025-11-02"), 25);
    assert_eq!(hours("2025-11-03"), 24);
    // A window opening in the gap (2:00 does not exist) opens at 3:00 PDT.
    let gap = Calendar::new(la, 2, 5).unwrap().with_weekdays_only(false);
    assert_eq!(
        gap.window_of(date("2025-03-09")).unwrap(),
        (ts("2025-03-09T10:00:00Z"), ts("2025-03-09T12:00:00Z"))
    );
    // The local date decides: Monday 2025-03-10 07:00 UTC is Sunday
    // evening in Los Angeles.
    let weekdays = Calendar::new(tz("America/Los_Angeles"), 0, 24).unwrap();
    assert_eq!(
        weekdays.closed_because(ts("2025-03-10T06:59:00Z")),
        Some(Closed::Weekend)
    );
    assert!(weekdays.slot_at(ts("2025-03-10T07:00:00Z")).is_some());
}

#[test]
fn daylight_saving_in_berlin() {
    let berlin = tz("Europe/Berlin");
    let c = Calendar::new(berlin.clone(), 9, 15).unwrap();
    // CET (+1) on Friday 2025-03-28, CEST (+2) on Monday 2025-03-31.
    assert_eq!(
        c.slot_at(ts("2025-03-28T08:30:00Z")).unwrap().opens,
        ts("2025-03-28T08:00:00Z")
    );
    assert_eq!(
        c.slot_at(ts("2025-03-31T07:30:00Z")).unwrap().opens,
        ts("2025-03-31T07:00:00Z")
    );
    assert_eq!(
        c.closed_because(ts("2025-03-31T13:00:00Z")),
        Some(Closed::OutsideHours),
        "15:00 CEST"
    );
    let whole = Calendar::new(berlin.clone(), 0, 24)
        .unwrap()
        .with_weekdays_only(false);
    let hours = |d: &str| {
        let (o, c) = whole.window_of(date(d)).unwrap();
        c.duration_since(o).as_hours()
    };
    assert_eq!(hours("2025-03-30"), 23);
    assert_eq!(hours("2025-10-26"), 25);
    // A window opening in the fold (2:00 happens twice) opens at the first.
    let fold = Calendar::new(berlin, 2, 4)
        .unwrap()
        .with_weekdays_only(false);
    assert_eq!(
        fold.window_of(date("2025-10-26")).unwrap(),
        (ts("2025-10-26T00:00:00Z"), ts("2025-10-26T03:00:00Z"))
    );
}

#[test]
fn slots_are_aligned_on_the_epoch() {
    let c = utc(0, 24)
        .with_weekdays_only(false)
        .with_slots(std::time::Duration::from_secs(5))
        .unwrap();
    let t = Timestamp::from_millisecond(12_345_678).unwrap();
    let slot = c.slot_at(t).unwrap();
    assert_eq!(slot.id, SlotId(2469));
    assert_eq!(slot.opens.as_millisecond(), 12_345_000);
    assert_eq!(slot.closes.as_millisecond(), 12_350_000);
    assert_eq!(c.closed_because(t), None);
    assert_eq!(c.next_slot(t), Some(slot));
    assert_eq!(c.work_slots_between(SlotId(2469), SlotId(2479)), 10);
    assert_eq!(c.work_slots_between(SlotId(2479), SlotId(2469)), 0);
}

#[test]
fn a_slot_counts_when_it_starts_in_the_window() {
    let hour = std::time::Duration::from_secs(3600);
    let c = utc(9, 15).with_slots(hour).unwrap();
    assert_eq!(
        c.closed_because(ts("2025-01-06T08:30:00Z")),
        Some(Closed::OutsideHours)
    );
    let first = c.slot_at(ts("2025-01-06T09:00:00Z")).unwrap();
    assert_eq!(first.closes, ts("2025-01-06T10:00:00Z"));
    assert!(c.slot_at(ts("2025-01-06T14:59:00Z")).is_some());
    assert_eq!(c.slot_at(ts("2025-01-06T15:00:00Z")), None);
    assert_eq!(
        c.closed_because(ts("2025-01-04T10:00:00Z")),
        Some(Closed::Weekend)
    );
    // Friday 15:00 → Monday 9:00; six slots a day.
    let next = c.next_slot(ts("2025-01-03T15:00:00Z")).unwrap();
    assert_eq!(next.opens, ts("2025-01-06T09:00:00Z"));
    let friday_last = c.slot_at(ts("2025-01-03T14:00:00Z")).unwrap();
    assert_eq!(c.work_slots_between(friday_last.id, next.id.clone()), 1);
    assert_eq!(c.work_slots_between(first.id.clone(), next.id), 0);
    let tuesday_first = c.slot_at(ts("2025-01-07T09:00:00Z")).unwrap();
    assert_eq!(c.work_slots_between(first.id, tuesday_first.id), 6);
    // A 7-minute slot that starts at 14:56 runs past 15:00, and counts.
    let seven = utc(9, 15)
        .with_slots(std::time::Duration::from_secs(420))
        .unwrap();
    let late = (0..2000)
        .filter_map(|k| seven.slot(&SlotId(k + 4_150_000)))
        .find(|s| s.closes > seven.window_of(seven.date_of(s.opens)).unwrap().1)
        .expect("a slot that starts before 15:00 and closes after");
    assert!(late.opens < seven.window_of(seven.date_of(late.opens)).unwrap().1);
}

#[test]
fn work_days_between_skip_weekends() {
    let c = utc(9, 15);
    let (fri, mon) = (id("2025-01-03"), id("2025-01-06"));
    assert_eq!(c.work_slots_between(fri.clone(), mon.clone()), 1);
    assert_eq!(c.work_slots_between(fri.clone(), id("2025-01-10")), 5);
    assert_eq!(c.work_slots_between(fri.clone(), fri.clone()), 0);
    assert_eq!(c.work_slots_between(mon.clone(), fri.clone()), 0);
    let holiday = utc(9, 15).with_holidays([date("2025-01-06")]);
    assert_eq!(holiday.work_slots_between(fri.clone(), id("2025-01-07")), 1);
    let every_day = utc(9, 15).with_weekdays_only(false);
    assert_eq!(every_day.work_slots_between(fri.clone(), mon.clone()), 3);
}

#[test]
fn calendars_describe_themselves() {
    let c = Calendar::new(tz("Europe/Berlin"), 9, 15)
        .unwrap()
        .with_holidays([date("2025-12-25"), date("2025-12-26")]);
    assert_eq!(
        c.to_string(),
        "weekdays 9:00 to 15:00 (Europe/Berlin), except 2 holidays"
    );
    let s = utc(0, 24)
        .with_weekdays_only(false)
        .with_slots(std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        s.to_string(),
        "5s slots starting every day 0:00 to 24:00 (UTC)"
    );
}

#[test]
fn bad_windows_and_slots_are_refused() {
    assert!(Calendar::new(tz("UTC"), 15, 9).is_err());
    assert!(Calendar::new(tz("UTC"), 0, 25).is_err());
    assert!(Calendar::new(tz("UTC"), 24, 24).is_err());
    assert!(
        utc(9, 15)
            .with_slots(std::time::Duration::from_micros(1500))
            .is_err()
    );
}

/// Counts work slots in `(earlier, later]` one by one.
fn naive(c: &Calendar, earlier: i64, later: i64) -> u64 {
    ((earlier + 1)..=later)
        .filter(|k| c.slot(&SlotId(*k)).is_some())
        .count() as u64
}

proptest! {
    #[test]
    fn counting_work_days_matches_counting_one_by_one(
        start in -1000i64..30_000,
        len in 0i64..60,
        weekdays_only: bool,
        holidays in proptest::collection::vec(0i64..70, 0..6),
    ) {
        let c = utc(9, 15)
            .with_weekdays_only(weekdays_only)
            .with_holidays(holidays.iter().map(|h| date_of_id(start + h).unwrap()));
        prop_assert_eq!(
            c.work_slots_between(SlotId(start), SlotId(start + len)),
            naive(&c, start, start + len)
        );
    }

    #[test]
    fn counting_slots_matches_counting_one_by_one(
        start in 0i64..200_000,
        len in 0i64..400,
        slot_min in 1u64..180,
        hours in (0u8..23).prop_flat_map(|s| (Just(s), (s + 1)..=24)),
        weekdays_only: bool,
        zone in prop::sample::select(vec!["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"]),
    ) {
        let c = Calendar::new(tz(zone), hours.0, hours.1)
            .unwrap()
            .with_weekdays_only(weekdays_only)
            .with_slots(std::time::Duration::from_secs(slot_min * 60))
            .unwrap();
        let first = start * 1440 / slot_min as i64 * 7;
        prop_assert_eq!(
            c.work_slots_between(SlotId(first), SlotId(first + len)),
            naive(&c, first, first + len)
        );
    }

    #[test]
    fn next_slot_closes_after_and_nothing_earlier_does(
        ms in 0i64..4_000_000_000_000,
        slot_s in prop::option::of(1u64..7200),
        weekdays_only: bool,
    ) {
        let mut c = Calendar::new(tz("Europe/Berlin"), 9, 15)
            .unwrap()
            .with_weekdays_only(weekdays_only);
        if let Some(s) = slot_s {
            c = c.with_slots(std::time::Duration::from_secs(s)).unwrap();
        }
        let after = Timestamp::from_millisecond(ms).unwrap();
        let next = c.next_slot(after).unwrap();
        prop_assert!(next.closes > after);
        prop_assert_eq!(c.slot(&next.id), Some(next.clone()));
        if next.contains(after) {
            prop_assert_eq!(c.slot_at(after), Some(next));
        } else {
            prop_assert!(next.opens > after);
            prop_assert!(c.slot_at(after).is_none());
            prop_assert!(c.closed_because(after).is_some());
        }
    }
}
