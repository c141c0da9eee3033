"""The whole gateway as a subprocess, as systemd runs it: READY=1 only once it serves, STATUS lines,
RELOADING=1 / READY=1 on SIGHUP, STOPPING=1 and a clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway


@pytest.fixture
def gateway_process(tmp_path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "test-gw"
state_dir = "{tmp_path / "state"}"
demo = true
[[broker.listeners]]
port = {port}
[[sensors]]
type = "simulated"
name = "t"
interval = 1
[[relays]]
name = "lamp"
pin = 17
""")
    with run_gateway(config) as (proc, notify):
        yield proc, notify, port


def test_ready_only_once_serving_then_reload_and_clean_stop(gateway_process):
    proc, notify, port = gateway_process
    messages = notify.wait_for("READY=1")
    assert "STATUS=" in messages[-1]
    client = TestClient(port, "probe")  # READY=1 means the listener is bound
    client.subscribe("edge/sensor/t", 1)
    assert client.expect_one(timeout=10).topic == "edge/sensor/t"
    # STATUS= (refreshed every 2 s) says what the gateway is doing: each component's summary
    for _ in range(10):
        status = notify.wait_for("STATUS=1 client(s), ")[-1]
        if "1/1 sensor(s) online" in status:
            break
    assert "1/1 relay(s) available" in status and "clock " in status, status
    assert status.endswith("queued message(s)"), status

    proc.send_signal(signal.SIGHUP)
    reload = notify.wait_for("RELOADING=1")
    assert any("MONOTONIC_USEC=" in m for m in reload)
    notify.wait_for("READY=1")
    client.sync()  # the connection survived the reload

    proc.send_signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    assert proc.wait(20) == 0
    output = proc.stdout.read()
    assert "relay lamp: OFF (stop)" in output or "relays: stopped" in output
    assert output.index("stopping") < output.rindex("stopped")


def test_bad_config_stops_start_up_with_file_and_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[broker]\nmax_inflight = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1  # ExitCode.CONFIG
    assert f"{config}: broker.max_inflight:" in result.stderr
