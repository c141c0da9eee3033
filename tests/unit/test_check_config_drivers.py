"""`edge-gateway check-config` builds the sensor and relay drivers without opening any device, so
what only a driver constructor rejects is found before start-up, as `FILE: sensors[name]: problem`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nstate_dir = "{tmp_path / "state"}"\n{body}')
    return path


def test_driver_problems_are_errors_with_the_sensor_or_relay_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[sensors]]
type = "nmea"
name = "gps"
port = "nosuch://ttyUSB0"
[[sensors]]
type = "bme280"
name = "attic"
address = 0x40
[[sensors]]
type = "pulse_counter"
name = "water"
pin = 5
total_quantity = "count"
[[relays]]
name = "valve"
kind = "pcf8574"
address = 0x30
pin = 0
""",
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        f"{path}: sensors[gps]: invalid URL, protocol 'nosuch' not known",
        f"{path}: sensors[attic]: BME280: address 0x40 is not one of its addresses (0x76, 0x77)",
        f"{path}: sensors[water]: count, total_quantity and rate_quantity must be three distinct names",
        f"{path}: relays[valve]: pcf8574 0x30 pin 0 on /dev/i2c-1: PCF8574: address 0x30 is not "
        "one of its addresses (0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x38, 0x39, 0x3A, "
        "0x3B, 0x3C, 0x3D, 0x3E, 0x3F)",
        f"{path}: 4 error(s)",
    ]


def test_absent_hardware_is_not_opened_and_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No /dev/i2c-250, no serial port, no GPIO on this machine: building touches none of them."""
    path = write(
        tmp_path,
        f"""
[[sensors]]
type = "bme280"
name = "attic"
bus = 250
[[sensors]]
type = "nmea"
name = "gps"
port = "{tmp_path / "ttyUSB0"}"
[[sensors]]
type = "gpio_input"
name = "door"
pin = 27
[[relays]]
name = "valve"
kind = "mcp23017"
bus = 250
address = 0x20
pin = 0
[[relays]]
name = "pump"
pin = 17
""",
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out == f"{path}: OK (1 listener(s), 3 sensor(s), 2 relay(s))\n"
    assert not (tmp_path / "ttyUSB0").exists()


def test_a_missing_smbus2_is_reported_for_each_sensor_and_relay_that_needs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", None)  # `import smbus2` raises ImportError
    path = write(
        tmp_path,
        """
[[sensors]]
type = "bme280"
name = "attic"
[[sensors]]
type = "simulated"
name = "demo"
[[relays]]
name = "valve"
kind = "pcf8574"
address = 0x20
pin = 0
""",
    )
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: sensors[attic]: import of smbus2 halted; None in sys.modules",
        f"{path}: relays[valve]: pcf8574 0x20 pin 0 on /dev/i2c-1: import of smbus2 "
        "halted; None in sys.modules",
        f"{path}: 2 error(s)",
    ]
