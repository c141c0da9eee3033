"""The schedule service on an in-memory bus with a fake clock: relay commands and events at the
configured times, across the Berlin DST night, waiting for the clock, and after a clock jump."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.automation.schedule_service import ScheduleService
from gateway.config import GatewayConfig
from gateway.timesync import ClockStatus
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus

BERLIN = ZoneInfo("Europe/Berlin")
RELAYS = [{"name": "pump", "kind": "gpio", "pin": 5}, {"name": "lamp", "kind": "gpio", "pin": 6}]
LOCATION = {"latitude": 52.52, "longitude": 13.405, "timezone": "Europe/Berlin"}


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()  # type: ignore[arg-type, misc]  # Y, M, D[, h, m]


def service(schedules, clock, bus, status=None, max_sleep=3600.0):
    """(`max_sleep`: how often the service looks at the clock between events; 30 s in the gateway,
    an hour here where two days pass)"""
    config = GatewayConfig.model_validate(
        {"relays": RELAYS, "location": LOCATION, "schedules": schedules}
    )
    return ScheduleService(
        config.schedules,
        bus.client("schedules"),
        base_topic="edge",
        location=config.location,
        clock=clock,
        clock_status=status,
        max_sleep=max_sleep,
    )


def settled(svc, clock):
    return lambda: (svc.idle and clock.sleeping("schedules") == 1) or svc.waiting


def commands(bus, relay):
    return [json.loads(p) for p in bus.published(f"edge/relay/{relay}/set")]


def events(bus, name):
    return [json.loads(p) for p in bus.published(f"edge/schedule/{name}/event")]


async def test_cron_fires_once_across_the_spring_forward_night_and_a_window_is_restored():
    start = berlin(2026, 3, 28, 12, 0)
    clock = FakeClock(epoch=start)
    bus = MemoryBus()
    svc = service(
        [
            {"name": "night", "cron": "30 2 * * *", "relay": "pump", "state": "ON", "for": 600},
            {"name": "day", "on": "06:00", "off": "22:00", "relay": "lamp"},
            {"name": "dusk", "at": "sunset-00:30", "publish": "garden/dusk", "payload": "now"},
        ],
        clock,
        bus,
    )
    await svc.start()
    await clock.advance_to(0, settled(svc, clock))
    assert commands(bus, "lamp") == [{"state": "ON"}]  # 12:00 inside 06:00-22:00: at once
    assert events(bus, "day")[0]["cause"] == "start"
    assert commands(bus, "pump") == []  # 02:30 of today is not fired late
    await clock.advance_to(berlin(2026, 3, 30, 12, 0) - start, settled(svc, clock))
    night = events(bus, "night")
    assert [e["scheduled"] for e in night] == [
        "2026-03-29T01:00:00.000Z",  # 03:00 CEST, the jump
        "2026-03-30T00:30:00.000Z",
    ]  # 02:30 CEST
    assert commands(bus, "pump") == [{"state": "ON", "for": 600}] * 2
    assert commands(bus, "lamp") == [
        {"state": "ON"},
        {"state": "OFF"},
        {"state": "ON"},
        {"state": "OFF"},
        {"state": "ON"},
    ]
    assert [e["event"] for e in events(bus, "day")] == ["on", "off", "on", "off", "on"]
    assert bus.published("garden/dusk") == [b"now", b"now"]
    assert not any(m.retain for m in bus.log)  # nothing retained, nothing stored
    await svc.stop()


async def test_nothing_fires_until_the_clock_is_synchronised_then_windows_are_restored():
    start = berlin(2026, 12, 3, 5, 59)
    clock = FakeClock(epoch=start - 300 * 86400)  # booted with last winter's date
    bus = MemoryBus()
    status = ClockStatus(False, "timesyncd")
    svc = service(
        [
            {"name": "tick", "cron": "* * * * *", "publish": "demo/tick"},
            {"name": "day", "on": "06:00", "off": "22:00", "relay": "lamp"},
        ],
        clock,
        bus,
        status,
    )
    await svc.start()
    await clock.advance_to(600, settled(svc, clock))
    assert svc.waiting and bus.log == []  # ten minutes: nothing fired
    clock.jump(300 * 86400 - 600)  # NTP: now 05:59 on 3 December
    status.set(True, "timesyncd", clock.monotonic())
    await clock.advance_to(630, settled(svc, clock))
    assert not svc.waiting
    assert commands(bus, "lamp") == [{"state": "OFF"}]  # 05:59:30: outside the window
    assert bus.published("demo/tick") == []
    await clock.advance_to(660, settled(svc, clock))
    assert commands(bus, "lamp") == [{"state": "OFF"}, {"state": "ON"}]
    assert bus.published("demo/tick") == [b""]  # 06:00: exactly one tick
    await svc.stop()


async def test_a_forward_jump_while_running_does_not_fire_a_days_events():
    start = berlin(2026, 12, 3, 8, 0, 10)
    clock = FakeClock(epoch=start)
    bus = MemoryBus()
    svc = service(
        [{"name": "tick", "cron": "*/5 * * * *", "publish": "demo/tick"}],
        clock,
        bus,
        max_sleep=30.0,
    )
    await svc.start()
    await clock.advance_to(300, settled(svc, clock))
    assert len(bus.published("demo/tick")) == 1  # 08:05
    clock.jump(6 * 3600)  # 14:05:10: 72 ticks skipped
    await clock.advance_to(330, settled(svc, clock))
    assert len(bus.published("demo/tick")) == 1
    await clock.advance_to(600, settled(svc, clock))  # 14:10 fires, once
    event = events(bus, "tick")[-1]
    assert len(bus.published("demo/tick")) == 2
    assert event["scheduled"] == "2026-12-03T13:10:00.000Z"
    await svc.stop()
