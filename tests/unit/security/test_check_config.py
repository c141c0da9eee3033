"""`edge-gateway check-config` warns about anonymous access on a non-loopback listener (the
Mosquitto 2 stance: anonymous only where the config says so, loopback and Unix by default)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def listener(**keys: object) -> str:
    body = "\n".join(
        f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
        for k, v in keys.items()
    )
    return f"[[broker.listeners]]\n{body}\n"


def test_anonymous_on_a_lan_address_is_warned(tmp_path):
    result = check(tmp_path, listener(name="lan", host="0.0.0.0", allow_anonymous=True))
    assert result.returncode == 0
    assert (
        "warning: broker.listeners[lan]: anonymous clients allowed on non-loopback address "
        "0.0.0.0" in result.stderr
    )


@pytest.mark.parametrize(
    "keys",
    [
        {"name": "lan", "host": "0.0.0.0"},  # default: refused, no warning
        {"name": "lo", "host": "127.0.0.1", "allow_anonymous": True},  # loopback
        {"name": "sock", "unix_path": "/run/edge-gateway/mqtt.sock"},  # Unix socket
    ],
)
def test_no_warning_when_anonymous_stays_local(tmp_path, keys):
    result = check(tmp_path, listener(**keys))
    assert result.returncode == 0, result.stderr
    assert "anonymous" not in result.stderr
    assert "OK (1 listener(s)" in result.stdout


def test_passwords_in_clear_text_on_a_lan_listener_are_warned(tmp_path):
    text = listener(name="lan", host="0.0.0.0") + '[auth]\npassword_file = "/etc/pw"\n'
    result = check(tmp_path, text)
    assert "broker.listeners[lan]: passwords cross the network in clear text" in result.stderr


def test_a_misspelt_listener_key_is_an_error(tmp_path):
    result = check(tmp_path, listener(name="lan", host="0.0.0.0", allow_anonymus=True))
    assert result.returncode == 1
    assert "allow_anonymus" in result.stderr
