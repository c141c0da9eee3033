"""The `edge-gateway pub` / `sub` / `status` tools against a real broker."""

from __future__ import annotations

import subprocess
import sys

from gateway.broker.settings import BrokerSettings


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_pub_then_sub_receives_the_retained_message(broker):
    port = str(broker.port)
    published = cli("pub", "-p", port, "-t", "cli/test", "-m", "hello", "-q", "1", "-r")
    assert published.returncode == 0, published.stderr
    for version in ("311", "5"):
        received = cli("sub", "-p", port, "-V", version, "-t", "cli/#", "-v", "-C", "1",
                       "-W", "20")
        assert received.returncode == 0, received.stderr
        assert received.stdout.strip() == "cli/test hello"


def test_pub_to_a_closed_port_fails_clearly():
    result = cli("pub", "-p", "1", "-t", "x", "-m", "y")
    assert result.returncode == 1
    assert result.stderr == "Error: Connection refused (localhost:1)\n"


def test_status_prints_sys_counters(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0.2))
    result = cli("status", "-p", str(thread.port))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["version"].startswith("pi-edge-gateway")
    assert "uptime" in lines and "clients/connected" in lines
