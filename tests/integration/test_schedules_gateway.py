"""Schedules inside the whole gateway (a subprocess, as systemd runs it): a window that covers
the current time switches its relay ON at start-up (the catch-up policy), the firing is an event,
and the clock's state is under $SYS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway

CONFIG = """
[gateway]
id = "schedules-test"
base_topic = "edge"
state_dir = "{state}"
demo = true
clock_check = "trust"

[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[homeassistant]
discovery = false

[location]
timezone = "UTC"

[[relays]]
name = "lamp"
kind = "gpio"
pin = 17

[[schedules]]
name = "now"
on = "{on}"
off = "{off}"
relay = "lamp"
"""


def test_a_window_started_inside_its_hours_switches_on_at_once(tmp_path: Path):
    port = free_port()
    now = datetime.now(UTC)
    config = tmp_path / "gateway.toml"
    config.write_text(
        CONFIG.format(
            port=port,
            state=tmp_path / "state",
            on=(now - timedelta(hours=1)).strftime("%H:%M"),
            off=(now + timedelta(hours=1)).strftime("%H:%M"),
        )
    )
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        watcher = TestClient(port, "watcher")
        watcher.subscribe("$SYS/broker/clock/synchronized", qos=0)
        assert watcher.expect_one(timeout=10).payload == b"true"
        lamp = TestClient(port, "lamp")
        lamp.subscribe("edge/relay/lamp", qos=1)
        state = lamp.expect_one().payload.upper()
        if b"OFF" in state:  # the power-on state, then the window's ON
            state = lamp.expect_one(timeout=10).payload.upper()
        assert b"ON" in state and b"OFF" not in state
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    # the firing is logged in one line (and was published on edge/schedule/now/event)
    assert "schedule now: on (start" in output and "relay lamp ON" in output
