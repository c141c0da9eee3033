"""The whole gateway as a subprocess, as systemd runs it: READY=1 only once it serves, STATUS lines,
RELOADING=1 / READY=1 on SIGHUP, STOPPING=1 and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.clients import TestClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NotifySocket:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path

    def wait_for(self, prefix: str, timeout: float = 20) -> list[str]:
        """Messages up to and including the first with a line starting with `prefix`."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            seen.append(message)
            if any(line.startswith(prefix) for line in message.splitlines()):
                return seen
        raise TimeoutError(f"no {prefix} within {timeout} s; saw {seen}")


@pytest.fixture
def gateway_process(tmp_path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "test-gw"
state_dir = "{tmp_path / 'state'}"
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
    notify = NotifySocket(str(tmp_path / "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield proc, notify, port
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_ready_only_once_serving_then_reload_and_clean_stop(gateway_process):
    proc, notify, port = gateway_process
    messages = notify.wait_for("READY=1")
    assert "STATUS=" in messages[-1]
    client = TestClient(port, "probe")  # READY=1 means the listener is bound
    client.subscribe("edge/sensor/t", 1)
    assert client.expect_one(timeout=10).topic == "edge/sensor/t"
    # STATUS= (refreshed every 2 s) says what the gateway is doing.
    status = notify.wait_for("STATUS=1 client(s), 1/1 relay(s) available, 1/1 sensor(s) online, ")
    assert status[-1].endswith("queued message(s)"), status[-1]

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
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{config}: broker.max_inflight:" in result.stderr
