"""Time you can trust: whether the clock is synchronised (timesyncd's flag file, timedatectl, or
no way to know), how the gateway reports it ($SYS, payloads, diagnostics), what waits for it
(timed relay commands), and that a jump of the wall clock expires no session."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from drivers.base import Reading
from gateway.broker.core import BrokerCore
from gateway.broker.server import Broker
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.packets import Connect
from gateway.mqtt.properties import Properties
from gateway.relays.commands import admit, parse
from gateway.relays.config import OutputConfig
from gateway.relays.logic import Reason
from gateway.sensors.payloads import state_payload
from gateway.timesync import ClockStatus, ClockWatch, probe


def script(tmp_path: Path, answer: str) -> tuple[str, ...]:
    path = tmp_path / "timedatectl"
    path.write_text(f"#!/bin/sh\necho {answer}\n")
    path.chmod(0o755)
    return (str(path),)


def test_probe_reads_timesyncd_flag_file(tmp_path: Path):
    run = tmp_path / "timesync"
    run.mkdir()
    assert probe(run, None) == (False, "timesyncd")
    (run / "synchronized").touch()
    assert probe(run, None) == (True, "timesyncd")


def test_probe_asks_timedatectl_without_timesyncd_and_trusts_when_nothing_answers(tmp_path: Path):
    absent = tmp_path / "no-timesyncd"
    assert probe(absent, script(tmp_path, "no")) == (False, "timedatectl")
    assert probe(absent, script(tmp_path, "yes")) == (True, "timedatectl")
    assert probe(absent, ("false",)) == (True, "no time service")  # timedatectl fails
    assert probe(absent, (str(tmp_path / "missing"),)) == (True, "no time service")


async def test_clock_watch_publishes_sys_topics_and_counts_jumps(tmp_path: Path):
    run = tmp_path / "timesync"
    run.mkdir()
    broker = Broker(BrokerSettings(sys_interval=0))
    status = ClockStatus(False, "not checked yet")
    wall = [1_000_000.0]
    mono = [50.0]
    watch = ClockWatch(status, broker, timesync_dir=run, wall=lambda: wall[0], mono=lambda: mono[0])
    await watch.look()
    assert not status.synchronized
    retained = broker.core.retained
    synchronized = retained.get("$SYS/broker/clock/synchronized")
    assert synchronized is not None and synchronized.payload == b"false"
    (run / "synchronized").touch()
    wall[0] += 5 + 86_400 * 200  # NTP moves the clock 200 days
    mono[0] += 5
    await watch.look()
    assert status.synchronized and status.jumps == 1
    assert retained.get("$SYS/broker/clock/synchronized").payload == b"true"
    assert retained.get("$SYS/broker/clock/jumps").payload == b"1"
    wall[0] += 5 + 60  # a minute's slew: no jump
    mono[0] += 5
    await watch.look()
    assert status.jumps == 1


async def test_wait_synchronized_returns_once_set():
    status = ClockStatus(False, "timesyncd")
    import asyncio

    waiter = asyncio.create_task(status.wait_synchronized())
    await asyncio.sleep(0)
    assert not waiter.done()
    status.set(True, "timesyncd", 1.0)
    await asyncio.wait_for(waiter, 1)


def test_sensor_payload_has_no_ts_but_says_why_while_unsynced():
    readings = [Reading("temperature", 21.5, "°C")]
    assert json.loads(state_payload(readings, 1e9, synced=False)) == {
        "temperature": {"value": 21.5, "unit": "°C"},
        "clock": "unsynced",
    }
    assert "ts" in json.loads(state_payload(readings, 1e9))


@pytest.mark.parametrize(
    "payload, refused",
    [
        (b'{"state":"ON","expires":1900000000}', True),
        (b'{"state":"ON","ts":"2026-12-03T10:00:00Z"}', True),
        (b'{"state":"ON","for":30}', False),
        (b"ON", False),
    ],
)
def test_timed_relay_commands_are_refused_while_the_clock_is_unsynced(payload, refused):
    cfg = OutputConfig.model_validate(
        {"name": "pump", "kind": "gpio", "pin": 5, "max_command_age": 60}
    )
    envelope = parse("pump", payload)
    verdict = admit(envelope, cfg, retained=False, wall_now=100.0, clock_synced=False)
    assert (verdict is not None and verdict[0] is Reason.CLOCK_UNSYNCED) is refused
    if refused:
        assert verdict[0].value == "clock_unsynced"


def test_a_wall_clock_jump_expires_no_session(monkeypatch: pytest.MonkeyPatch):
    """Session expiry, will delay and message expiry run on the broker's clock, which is the
    monotonic one (Broker's default); the core never reads the wall clock."""
    assert Broker().clock is time.monotonic
    core = BrokerCore(BrokerSettings(sys_interval=0), 1000.0)
    conn = core.open_connection(1000.0, "test")
    from gateway.mqtt.codec import encode

    conn.receive_data(
        encode(
            Connect("dev", protocol_version=5, properties=Properties(session_expiry_interval=600)),
            5,
        ),
        1000.0,
    )
    conn.connection_lost(1001.0)
    monkeypatch.setattr(time, "time", lambda: 1e12)  # the wall clock leaps ahead
    core.tick(1002.0)
    assert "dev" in core.sessions
    core.tick(1601.0)
    assert "dev" not in core.sessions  # 600 s of monotonic time: gone
