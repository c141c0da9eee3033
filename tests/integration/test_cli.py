"""The `edge-gateway pub` / `sub` / `status` tools against a real broker."""

from __future__ import annotations

import subprocess
import sys

from gateway.broker.settings import BrokerSettings


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_pub_then_sub_receives_the_retained_message(broker):
    port = str(broker.port)
    published = cli("pub", "-p", port, "-t", "cli/test", "-m", "hello", "-q", "1", "-r")
    assert published.returncode == 0, published.stderr
    for version in ("311", "5"):
        received = cli("sub", "-p", port, "-V", version, "-t", "cli/#", "-v", "-C", "1", "-W", "20")
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


def test_passwd_without_a_terminal_reads_stdin_and_fails_in_one_line(tmp_path):
    """No terminal (stdin a pipe, no controlling tty): as mosquitto_passwd, the password and its
    repetition are stdin's first two lines; an empty stdin is one line of error, not a traceback."""
    path = str(tmp_path / "pw")

    def passwd(*args: str, stdin: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "passwd", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )

    empty = passwd("-c", path, "bob", stdin="")
    assert (empty.returncode, empty.stderr) == (
        1,
        "edge-gateway passwd: error: no password on stdin\n",
    )
    once = passwd("-c", path, "bob", stdin="s3cret\n")
    assert once.returncode == 1 and len(once.stderr.splitlines()) == 1, once.stderr
    differ = passwd("-c", path, "bob", stdin="s3cret\nother\n")
    assert differ.stderr == "edge-gateway passwd: error: passwords do not match\n"
    assert not (tmp_path / "pw").exists()  # nothing written by the refusals
    twice = passwd("-c", path, "bob", stdin="s3cret\ns3cret\n")
    assert twice.returncode == 0, twice.stderr
    batch = passwd("-b", path, "carol", "pw2", stdin="")
    assert batch.returncode == 0, batch.stderr
    users = [line.split(":")[0] for line in (tmp_path / "pw").read_text().splitlines()]
    assert users == ["bob", "carol"]
    # the file works for Mosquitto's own tool too
    check = subprocess.run(
        ["mosquitto_passwd", "-b", path, "dave", "pw3"], capture_output=True, timeout=30
    )
    assert check.returncode == 0
