"""When schedules fire: pure functions of the time (epoch seconds), a time zone and a location.

How it works. A schedule is either a point event — a cron expression (`cron = "0 6 * * *"`, read
in the configured time zone) or a daily time (`at = "07:30"`, `at = "sunset-00:30"`) — or a
window (`on = "06:00"`, `off = "22:00"`) whose state (inside or outside) is known at any moment.
Cron and clock times are local wall times, turned into instants by `to_instant`, which fixes what
happens on the two nights a year when the local clock jumps:

* a time that does not exist (skipped when the clocks go forward, 02:30 in Berlin on the last
  Sunday of March) happens at the moment the clock jumps (03:00 CEST); several skipped times of
  one schedule become that one moment, so they fire once;
* a time that happens twice (the repeated hour when the clocks go back) happens the first time
  only.

So each local time fires exactly once a day, whatever the offset does. `ScheduleMachine` holds
one schedule's progress: `step(wall, mono)` says what to do now, given the wall clock and the
monotonic clock. Point events between the previous step and this one fire; a window is set to
the state it should be in. The first step (start-up, or the first once the clock is known to be
right) fires no missed point event — a cron time missed while the gateway was down does not
fire late — but restores a window: an "ON 06:00-22:00" window started at 12:00 switches ON at
once. When the wall clock moved against the monotonic clock by more than `JUMP` seconds (NTP
correcting a Pi that booted with a wrong clock, or an operator setting the date), the step is a
jump: like start-up, the point events in between do not fire (a day's schedule does not run at
once) and windows take the state of the new time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

JUMP = 120.0  # seconds the wall clock may move against the monotonic one between steps
MAX_SLEEP = 30.0  # the service looks at the clock at least this often (jumps, sync state)

TIME_SPEC = re.compile(
    r"^(?:(?P<sun>sunrise|sunset)(?:(?P<sign>[+-])(?P<oh>\d{1,2}):(?P<om>\d{2}))?"
    r"|(?P<h>\d{1,2}):(?P<m>\d{2}))$"
)


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """A daily time: `clock` minutes after local midnight, or `sun` ('sunrise'/'sunset') plus an
    offset in minutes."""

    minutes: int
    sun: str | None = None

    def __str__(self) -> str:
        if self.sun is None:
            return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"
        sign = "-" if self.minutes < 0 else "+"
        return (
            f"{self.sun}{sign}{abs(self.minutes) // 60:02d}:{abs(self.minutes) % 60:02d}"
            if self.minutes
            else self.sun
        )


def parse_time(text: str) -> TimeSpec:
    """'HH:MM', 'sunrise', 'sunset', 'sunset-00:30', 'sunrise+01:15' (ValueError otherwise)."""
    match = TIME_SPEC.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM, sunrise or sunset (with +HH:MM / -HH:MM)")
    if match["sun"]:
        hours, minutes = int(match["oh"] or 0), int(match["om"] or 0)
        if minutes > 59 or hours > 12:
            raise ValueError(f"{text!r}: the offset is at most 12:00, minutes under 60")
        offset = hours * 60 + minutes
        return TimeSpec(-offset if match["sign"] == "-" else offset, match["sun"])
    hours, minutes = int(match["h"]), int(match["m"])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return TimeSpec(hours * 60 + minutes)


def check_cron(expr: str) -> str:
    """A five-field cron expression (minute hour day month weekday), or ValueError."""
    from croniter import croniter

    if len(expr.split()) != 5:
        raise ValueError(f"cron {expr!r}: five fields (minute hour day month weekday)")
    try:
        it = croniter(expr, datetime(2026, 1, 1))
    except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
        raise ValueError(f"cron {expr!r}: {exc}") from None
    try:
        it.get_next(datetime)
    except ValueError:  # e.g. "0 0 31 2 *": 31 February
        raise ValueError(f"cron {expr!r} never fires") from None
    return expr


# -- local wall time -> instant --------------------------------------------------------------------


def _exists(naive: datetime, tz: tzinfo) -> bool:
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def to_instant(naive: datetime, tz: tzinfo) -> float:
    """Epoch seconds of a local wall time: an ambiguous time is its first occurrence, a skipped
    one the moment the clock jumps (the first local minute after it that exists)."""
    moment = naive
    for _ in range(24 * 60):  # no zone skips more than a day
        if _exists(moment, tz):
            return moment.replace(tzinfo=tz, fold=0).timestamp()
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    raise ValueError(f"{naive} never exists in {tz}")


def local(instant: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(instant, tz).replace(tzinfo=None)


def cron_after(expr: str, after: float, tz: tzinfo) -> float:
    """The first instant strictly after `after` at which the cron expression fires in `tz`."""
    from croniter import croniter

    # from the local time of `after`; in the repeated hour (clocks going back) the next local
    # times were already passed the first time: their instants are at or before `after`, skipped
    it = croniter(expr, local(after, tz))
    for _ in range(100_000):
        instant = to_instant(it.get_next(datetime), tz)
        if instant > after:
            return instant
    raise ValueError(f"cron {expr!r} does not fire after {after}")


# -- daily times (clock and sun) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where the sun is computed for, and the zone local times are read in."""

    tz: tzinfo
    latitude: float | None = None
    longitude: float | None = None


def daily_instant(spec: TimeSpec, day: date, place: Place) -> float | None:
    """The instant of `spec` on local `day`, or None when the sun does not rise or set that day
    (polar day or night: that day has no such event)."""
    if spec.sun is None:
        return to_instant(
            datetime.combine(day, datetime.min.time()) + timedelta(minutes=spec.minutes), place.tz
        )
    from astral import Observer
    from astral import sun as astral_sun

    if place.latitude is None or place.longitude is None:
        raise ValueError(f"{spec} needs a location (latitude and longitude)")
    observer = Observer(place.latitude, place.longitude)
    try:
        moment = getattr(astral_sun, spec.sun)(observer, day, place.tz)
    except ValueError:  # "Sun is always above/below the horizon on this day"
        return None
    return moment.timestamp() + spec.minutes * 60


def daily_after(spec: TimeSpec, after: float, place: Place) -> float | None:
    """The first instant strictly after `after` of a daily time (None: not within a year)."""
    day = local(after, place.tz).date() - timedelta(days=1)
    for _ in range(370):
        instant = daily_instant(spec, day, place)
        if instant is not None and instant > after:
            return instant
        day += timedelta(days=1)
    return None


# -- windows ------------------------------------------------------------------------------------------


def window_edges(
    on: TimeSpec, off: TimeSpec, around: float, place: Place, days: int = 2
) -> list[tuple[float, bool]]:
    """(instant, True for on / False for off) for the local days around `around`, in order."""
    today = local(around, place.tz).date()
    edges = []
    for delta in range(-days, days + 1):
        day = today + timedelta(days=delta)
        for spec, state in ((on, True), (off, False)):
            instant = daily_instant(spec, day, place)
            if instant is not None:
                edges.append((instant, state))
    # at one instant on, then off: a window that shrank to nothing (its on time skipped by the
    # clocks going forward to its off time) stays off that night
    edges.sort(key=lambda edge: (edge[0], not edge[1]))
    return edges


def window_state(on: TimeSpec, off: TimeSpec, at: float, place: Place) -> bool:
    """Whether the window is on at `at`: the state of its last edge at or before `at`."""
    state = False
    for instant, edge in window_edges(on, off, at, place):
        if instant > at:
            break
        state = edge
    return state


def window_next(on: TimeSpec, off: TimeSpec, after: float, place: Place) -> float | None:
    """The next edge strictly after `after` (None: none within two days, polar night/day)."""
    for instant, _ in window_edges(on, off, after, place):
        if instant > after:
            return instant
    return None


# -- one schedule's progress --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Firing:
    """What a step decided: `kind` is 'fire' (a point event), 'on' or 'off' (a window's state);
    `cause` is 'time', 'start' (restored at start-up / first sync) or 'clock_jump'."""

    kind: str
    at: float  # the scheduled instant ('time'), or the wall time of the step
    cause: str


class ScheduleMachine:
    """One schedule: `step(wall, mono)` -> firings; `next_due()` -> wall instant to wake at."""

    def __init__(
        self,
        *,
        place: Place,
        cron: str | None = None,
        at: TimeSpec | None = None,
        on: TimeSpec | None = None,
        off: TimeSpec | None = None,
    ) -> None:
        if sum(x is not None for x in (cron, at, on)) != 1 or (on is None) != (off is None):
            raise ValueError("a schedule is cron, at, or on and off")
        self.place, self.cron, self.at, self.on, self.off = place, cron, at, on, off
        self.last: tuple[float, float] | None = None  # (wall, mono) of the previous step
        self.state: bool | None = None  # a window's state, as last set
        self.next: float | None = None  # next point event / window edge

    @property
    def window(self) -> bool:
        return self.on is not None

    def _on_off(self) -> tuple[TimeSpec, TimeSpec]:
        assert self.on is not None and self.off is not None  # a window schedule has both
        return self.on, self.off

    def _after(self, wall: float) -> float | None:
        if self.cron is not None:
            return cron_after(self.cron, wall, self.place.tz)
        if self.at is not None:
            return daily_after(self.at, wall, self.place)
        return window_next(*self._on_off(), wall, self.place)

    def next_due(self) -> float | None:
        return self.next

    def jumped(self, wall: float, mono: float) -> bool:
        return self.last is not None and abs((wall - self.last[0]) - (mono - self.last[1])) > JUMP

    def step(self, wall: float, mono: float) -> list[Firing]:
        if self.last is None or self.jumped(wall, mono):
            cause = "start" if self.last is None else "clock_jump"
            return self._restart(wall, mono, cause)
        previous = self.last[0]
        self.last = (max(previous, wall), mono)  # a small step back does not fire twice
        out: list[Firing] = []
        if self.window:
            if self.next is not None and wall < self.next:
                return out  # no edge passed: the state holds
            state = window_state(*self._on_off(), wall, self.place)
            if state != self.state:
                self.state = state
                out.append(Firing("on" if state else "off", self.next or wall, "time"))
            self.next = self._after(self.last[0])
            return out
        while self.next is not None and previous < self.next <= wall:
            out.append(Firing("fire", self.next, "time"))
            self.next = self._after(self.next)
        if self.next is None or self.next <= self.last[0]:
            self.next = self._after(self.last[0])
        return out

    def _restart(self, wall: float, mono: float, cause: str) -> list[Firing]:
        self.last = (wall, mono)
        self.next = self._after(wall)
        if not self.window:
            return []  # a point event missed meanwhile does not fire late
        self.state = window_state(*self._on_off(), wall, self.place)
        return [Firing("on" if self.state else "off", wall, cause)]

    def describe(self) -> dict[str, Any]:
        what = (
            {"cron": self.cron}
            if self.cron
            else {"at": str(self.at)}
            if self.at
            else {"on": str(self.on), "off": str(self.off)}
        )
        return {
            **what,
            "next": self.next,
            "state": None if self.state is None else ("on" if self.state else "off"),
        }
