"""Runs the schedules: an in-process client of the broker that acts at the configured times.

How it works. Each schedule has a `ScheduleMachine` (gateway.automation.schedules: the pure part,
time as an argument). One task waits until the clock is known to be right (gateway.timesync:
nothing fires on a Pi that booted with a wrong clock), then steps every machine with the wall and
monotonic clocks, carries out what they decide, and sleeps on the monotonic clock until the
earliest next time (at most `MAX_SLEEP` seconds, so a jump of the wall clock is seen within that).
While the clock is unsynchronised again the schedules wait; when it is back they start afresh
(windows restored, missed point events not fired). Actions are the rules' (`perform`): a relay
command on its set topic, where the relay's safety rules win, or a message. Every firing is
published on `<base>/schedule/<name>/event` and logged in one line. Nothing here writes to disk
unless an action publishes a retained message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.automation.config import LocationConfig, ScheduleConfig
from gateway.automation.schedules import MAX_SLEEP, Firing, Place, ScheduleMachine, parse_time
from gateway.automation.service import perform
from gateway.broker.local import LocalClient
from gateway.sensors.clock import Clock, SystemClock
from gateway.sensors.payloads import iso_utc
from gateway.timesync import ClockStatus, trusted

log = logging.getLogger(__name__)

LOCALTIME = Path("/etc/localtime")


def place_of(location: LocationConfig, localtime: Path = LOCALTIME) -> Place:
    """The configured zone (or the system's, else UTC) and coordinates."""
    import zoneinfo

    if location.timezone is not None:
        tz: Any = zoneinfo.ZoneInfo(location.timezone)
    else:
        try:
            with localtime.open("rb") as f:
                tz = zoneinfo.ZoneInfo.from_file(f, key="localtime")
        except (OSError, ValueError):
            tz = zoneinfo.ZoneInfo("UTC")
    return Place(tz, location.latitude, location.longitude)


def machine_for(config: ScheduleConfig, place: Place) -> ScheduleMachine:
    def spec(text: str | None):  # noqa: ANN202
        return None if text is None else parse_time(text)

    return ScheduleMachine(
        place=place, cron=config.cron, at=spec(config.at), on=spec(config.on), off=spec(config.off)
    )


class Schedule:
    def __init__(self, config: ScheduleConfig, machine: ScheduleMachine) -> None:
        self.config, self.machine = config, machine
        self.firings = 0
        self.last: dict[str, Any] | None = None


class ScheduleService:
    def __init__(
        self,
        schedules: Sequence[ScheduleConfig],
        client: LocalClient,
        *,
        base_topic: str,
        location: LocationConfig,
        clock: Clock | None = None,
        clock_status: ClockStatus | None = None,
        max_sleep: float = MAX_SLEEP,
    ) -> None:
        self._client, self._base, self._max_sleep = client, base_topic, max_sleep
        self._clock = clock or SystemClock()
        self.status = clock_status or trusted()
        place = place_of(location)
        self.schedules = [Schedule(s, machine_for(s, place)) for s in schedules]
        self._task: asyncio.Task | None = None
        self.idle = False  # asleep until the next time (tests settle on it)
        self.waiting = False  # waiting for the clock to be synchronised

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="schedules")
        log.info("schedules: started %d schedule(s)", len(self.schedules))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def summary(self) -> str:
        return f"{len(self.schedules)} schedule(s)" + (
            " waiting for the clock" if self.waiting else ""
        )

    async def _wait_for_clock(self) -> None:
        if self.status.synchronized:
            return
        self.waiting = True
        log.warning("schedules: waiting for the clock to be synchronised before anything fires")
        await self.status.wait_synchronized()
        self.waiting = False
        for schedule in self.schedules:  # start afresh from the right time
            schedule.machine.last = None

    async def _run(self) -> None:
        while True:
            await self._wait_for_clock()
            wall, mono = self._clock.time(), self._clock.monotonic()
            for schedule in self.schedules:
                try:
                    firings = schedule.machine.step(wall, mono)
                except ValueError as exc:  # a time that cannot be computed: the others go on
                    log.error("schedule %s: %s", schedule.config.name, exc)
                    continue
                for firing in firings:
                    await self._fire(schedule, firing, wall)
            dues = [d for s in self.schedules if (d := s.machine.next_due()) is not None]
            delay = min(self._max_sleep, max(0.0, min(dues) - wall)) if dues else self._max_sleep
            self.idle = True
            await self._clock.sleep(delay)
            self.idle = False

    async def _fire(self, schedule: Schedule, firing: Firing, wall: float) -> None:
        config = schedule.config
        done = await perform(self._client, self._base, **config.action(firing.kind))
        schedule.firings += 1
        event = {
            "schedule": config.name,
            "event": firing.kind,
            "cause": firing.cause,
            "scheduled": iso_utc(firing.at),
            "actions": [done],
            "ts": iso_utc(wall),
        }
        schedule.last = event
        log.info(
            "schedule %s: %s (%s, due %s): %s",
            config.name,
            firing.kind,
            firing.cause,
            event["scheduled"],
            done,
        )
        await self._client.publish(
            f"{self._base}/schedule/{config.name}/event",
            json.dumps(event, separators=(",", ":")),
            qos=0,
        )

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {"name": s.config.name, **s.machine.describe(), "firings": s.firings, "last": s.last}
            for s in self.schedules
        ]
