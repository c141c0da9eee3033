"""Schedules as pure functions of the time: cron and daily times across the 2026 Europe/Berlin DST
nights (each local time fires exactly once), windows and their state at any moment, sunrise and
sunset, the catch-up policy at start-up and after a jump of the wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest

from gateway.automation.schedules import (
    JUMP,
    Place,
    ScheduleMachine,
    TimeSpec,
    check_cron,
    daily_after,
    parse_time,
    to_instant,
    window_state,
)

BERLIN = ZoneInfo("Europe/Berlin")
PLACE = Place(BERLIN, 52.52, 13.405)


def at(*args: int, tz: tzinfo = BERLIN, fold: int = 0) -> float:
    return datetime(*args, tzinfo=tz, fold=fold).timestamp()  # type: ignore[arg-type, misc]  # Y, M, D[, h, m]


def berlin(instant: float) -> str:
    return datetime.fromtimestamp(instant, BERLIN).strftime("%Y-%m-%d %H:%M %Z")


def run(machine: ScheduleMachine, start: float, end: float) -> list[tuple[str, str, str]]:
    """Step the machine as the service does (sleeping until the next time, at most 30 s of wall
    time between steps), wall and monotonic clocks moving together; the firings in order."""
    out, wall, mono = [], start, 1000.0
    while wall <= end:
        out += [(f.kind, berlin(f.at), f.cause) for f in machine.step(wall, mono)]
        due = machine.next_due()
        step = 30.0 if due is None else min(30.0, max(0.0, due - wall))
        step = max(step, 0.001)
        wall, mono = wall + step, mono + step
    return out


def test_parse_time():
    assert parse_time("06:00") == TimeSpec(360)
    assert parse_time("sunset-00:30") == TimeSpec(-30, "sunset")
    assert parse_time("sunrise+1:15") == TimeSpec(75, "sunrise")
    assert parse_time("sunrise") == TimeSpec(0, "sunrise")
    assert str(parse_time("sunset-00:30")) == "sunset-00:30"
    for bad in ("24:00", "6", "noon", "sunset-13:00", "12:60", "sunset+0:75"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_check_cron():
    assert check_cron("0 6 * * *") == "0 6 * * *"
    for bad in (
        "61 * * * *",
        "0 6 * *",
        "* * * * * *",
        "0 6 * * mon-xyz",
        "every day",
        "0 0 31 2 *",
    ):
        with pytest.raises(ValueError, match="cron"):
            check_cron(bad)


def test_to_instant_skipped_time_is_the_jump_and_a_repeated_time_its_first_occurrence():
    assert berlin(to_instant(datetime(2026, 3, 29, 2, 30), BERLIN)) == "2026-03-29 03:00 CEST"
    first = to_instant(datetime(2026, 10, 25, 2, 30), BERLIN)
    assert first == at(2026, 10, 25, 2, 30, fold=0)
    assert berlin(first) == "2026-10-25 02:30 CEST"


@pytest.mark.parametrize(
    "expr, day, count",
    [
        ("30 2 * * *", 29, 1),  # skipped 02:30 fires once, when the clock jumps
        ("0 6 * * *", 29, 1),
        ("*/15 * * * *", 29, 92),  # 96 local times; 02:00-02:45 and 03:00 are one moment
        ("0 * * * *", 29, 23),
    ],
)
def test_spring_forward_each_event_fires_once(expr, day, count):
    machine = ScheduleMachine(place=PLACE, cron=expr)
    fired = run(machine, at(2026, 3, 28, 12, 0), at(2026, 3, 30, 12, 0))
    on_day = [f for f in fired if f[1].startswith(f"2026-03-{day}")]
    assert len(on_day) == count
    assert len(set(fired)) == len(fired)
    if expr == "30 2 * * *":
        assert on_day == [("fire", "2026-03-29 03:00 CEST", "time")]


@pytest.mark.parametrize(
    "expr, count",
    [
        ("30 2 * * *", 1),  # the repeated 02:30 fires the first time only
        ("0 6 * * *", 1),
        ("*/15 * * * *", 96),
        ("0 * * * *", 24),
    ],
)
def test_fall_back_each_event_fires_once(expr, count):
    machine = ScheduleMachine(place=PLACE, cron=expr)
    fired = run(machine, at(2026, 10, 24, 12, 0), at(2026, 10, 26, 12, 0))
    on_day = [f for f in fired if f[1].startswith("2026-10-25")]
    assert len(on_day) == count
    if expr == "30 2 * * *":
        assert on_day == [("fire", "2026-10-25 02:30 CEST", "time")]


def test_daily_time_and_window_across_both_dst_nights():
    spring = (at(2026, 3, 27, 12), at(2026, 3, 31, 12))
    autumn = (at(2026, 10, 23, 12), at(2026, 10, 27, 12))
    for start, end in (spring, autumn):
        daily = run(ScheduleMachine(place=PLACE, at=TimeSpec(150)), start, end)  # 02:30
        assert len(daily) == 4 and len({f[1][:10] for f in daily}) == 4
    window = run(ScheduleMachine(place=PLACE, on=TimeSpec(120), off=TimeSpec(180)), *spring)
    # 02:00-03:00: on the spring night 02:00 is 03:00, so the window is empty that night
    assert window == [
        ("off", "2026-03-27 12:00 CET", "start"),
        ("on", "2026-03-28 02:00 CET", "time"),
        ("off", "2026-03-28 03:00 CET", "time"),
        ("on", "2026-03-30 02:00 CEST", "time"),
        ("off", "2026-03-30 03:00 CEST", "time"),
        ("on", "2026-03-31 02:00 CEST", "time"),
        ("off", "2026-03-31 03:00 CEST", "time"),
    ]
    window = run(ScheduleMachine(place=PLACE, on=TimeSpec(120), off=TimeSpec(180)), *autumn)
    # on the autumn night from the first 02:00 (CEST) to 03:00 (CET): two hours, each edge once
    assert window[3:5] == [
        ("on", "2026-10-25 02:00 CEST", "time"),
        ("off", "2026-10-25 03:00 CET", "time"),
    ]
    assert len(window) == 9


def test_sunrise_and_sunset_in_berlin_at_midsummer():
    rise = daily_after(parse_time("sunrise"), at(2026, 6, 21, 0, 0), PLACE)
    assert berlin(rise) == "2026-06-21 04:43 CEST"  # published tables: 04:43
    set_ = daily_after(parse_time("sunset-00:30"), at(2026, 6, 21, 12, 0), PLACE)
    assert berlin(set_) == "2026-06-21 21:02 CEST"  # sunset 21:33, half an hour before


def test_polar_day_has_no_sunset_and_the_window_keeps_its_state():
    svalbard = Place(ZoneInfo("Arctic/Longyearbyen"), 78.22, 15.65)
    midsummer = datetime(2026, 6, 21, 12, tzinfo=UTC).timestamp()
    assert daily_after(parse_time("sunset"), midsummer, svalbard) > midsummer + 30 * 86400
    assert window_state(parse_time("sunset"), TimeSpec(23 * 60), midsummer, svalbard) is False


def test_window_state_normal_and_overnight():
    day = TimeSpec(6 * 60), TimeSpec(22 * 60)
    assert window_state(*day, at(2026, 12, 3, 12, 0), PLACE) is True
    assert window_state(*day, at(2026, 12, 3, 23, 0), PLACE) is False
    assert window_state(*day, at(2026, 12, 3, 6, 0), PLACE) is True  # on at its edge
    night = TimeSpec(22 * 60), TimeSpec(6 * 60)
    assert window_state(*night, at(2026, 12, 3, 23, 0), PLACE) is True
    assert window_state(*night, at(2026, 12, 3, 3, 0), PLACE) is True
    assert window_state(*night, at(2026, 12, 3, 12, 0), PLACE) is False


def test_start_restores_a_window_and_does_not_fire_a_missed_point_event():
    window = ScheduleMachine(place=PLACE, on=TimeSpec(6 * 60), off=TimeSpec(22 * 60))
    firings = window.step(at(2026, 12, 3, 12, 0), 5.0)
    assert [(f.kind, f.cause) for f in firings] == [("on", "start")]
    assert berlin(window.next_due()) == "2026-12-03 22:00 CET"
    cron = ScheduleMachine(place=PLACE, cron="0 6 * * *")
    assert cron.step(at(2026, 12, 3, 12, 0), 5.0) == []  # 06:00 was missed
    assert berlin(cron.next_due()) == "2026-12-04 06:00 CET"


def test_a_jump_of_the_wall_clock_does_not_fire_the_days_events():
    cron = ScheduleMachine(place=PLACE, cron="*/10 * * * *")
    window = ScheduleMachine(place=PLACE, on=TimeSpec(6 * 60), off=TimeSpec(22 * 60))
    booted = at(2026, 1, 1, 0, 5)  # the Pi's saved clock: weeks behind
    assert cron.step(booted, 10.0) == []
    assert [f.kind for f in window.step(booted, 10.0)] == ["off"]
    now = at(2026, 12, 3, 12, 3)  # NTP sets the right time 20 s later
    assert cron.step(now, 30.0) == []  # no burst of missed events
    assert berlin(cron.next_due()) == "2026-12-03 12:10 CET"
    assert [(f.kind, f.cause) for f in window.step(now, 30.0)] == [("on", "clock_jump")]
    # a small correction (under JUMP) is not a jump, and the next event fires once
    assert cron.step(now + 60 + JUMP / 2, 90.0) == []
    fired = cron.step(at(2026, 12, 3, 12, 10), 90.0 + 7 * 60 - JUMP / 2)
    assert [(f.kind, berlin(f.at)) for f in fired] == [("fire", "2026-12-03 12:10 CET")]
    # a step backwards in time fires nothing twice
    assert cron.step(at(2026, 12, 3, 12, 9, 50), 90.0 + 7 * 60 - JUMP / 2 + 5) == []
    fired = cron.step(at(2026, 12, 3, 12, 20), 90.0 + 7 * 60 - JUMP / 2 + 615)
    assert [berlin(f.at) for f in fired] == ["2026-12-03 12:20 CET"]


def test_a_late_step_fires_each_passed_event_once():
    cron = ScheduleMachine(place=PLACE, cron="* * * * *")
    cron.step(at(2026, 12, 3, 12, 0, 30), 0.0)
    fired = cron.step(at(2026, 12, 3, 12, 2, 30), 100.0)  # 20 s of drift: not a jump
    assert [berlin(f.at) for f in fired] == ["2026-12-03 12:01 CET", "2026-12-03 12:02 CET"]
    assert cron.step(at(2026, 12, 3, 12, 2, 40), 110.0) == []


def test_sun_window_needs_dates_of_other_days():
    svalbard_winter = Place(ZoneInfo("Arctic/Longyearbyen"), 78.22, 15.65)
    noon = datetime(2026, 12, 21, 11, tzinfo=UTC).timestamp()
    machine = ScheduleMachine(place=svalbard_winter, on=parse_time("sunset"), off=TimeSpec(23 * 60))
    assert [f.kind for f in machine.step(noon, 0.0)] == ["off"]
    assert date.fromtimestamp(machine.next_due()) == date(2026, 12, 21)  # the 23:00 edge
