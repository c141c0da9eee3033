"""The whole gateway, as systemd runs it, on a machine where the configured hardware is absent: no
/dev/i2c-250, no USB-serial adapter. It starts (READY=1), serves MQTT, reports those sensors and the
expander relay offline, refuses commands to the relay with a reason, and keeps the rest running. A
bad config, by contrast, still stops start-up with the file and the problem."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port, run_gateway


@pytest.fixture
def gateway(tmp_path):
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "field-gw"
state_dir = "{tmp_path / "state"}"
[[broker.listeners]]
port = {port}
[[sensors]]
type = "nmea"
name = "gps"
port = "{tmp_path / "ttyUSB0"}"
[[sensors]]
type = "bme280"
name = "attic"
bus = 250
[[sensors]]
type = "simulated"
name = "probe"
interval = 0.5
[[relays]]
name = "valve"
kind = "pcf8574"
bus = 250
address = 0x20
pin = 0
""")
    with run_gateway(config) as (proc, notify):
        yield proc, notify, port, tmp_path


def test_absent_buses_and_ports_leave_the_gateway_running(gateway):
    proc, notify, port, tmp_path = gateway
    notify.wait_for("READY=1")
    client = TestClient(port, "ha")
    client.subscribe(
        [
            ("edge/sensor/+/availability", 1),
            ("edge/relay/valve/availability", 1),
            ("edge/relay/valve/event", 1),
            ("edge/sensor/probe", 1),
        ]
    )
    wanted = {
        ("edge/sensor/gps/availability", b"offline"),
        ("edge/sensor/attic/availability", b"offline"),
        ("edge/relay/valve/availability", b"offline"),
    }
    readings = 0
    for _ in range(50):
        message = client.expect_one(timeout=10)
        wanted.discard((message.topic, message.payload))
        readings += message.topic == "edge/sensor/probe"
        if not wanted and readings >= 2:
            break
    assert not wanted and readings >= 2
    client.publish("edge/relay/valve/set", b"ON", qos=1)
    for _ in range(20):
        message = client.expect_one(timeout=10)
        if message.topic == "edge/relay/valve/event":
            break
    event = json.loads(message.payload)
    assert event["event"] == "refused" and event["reason"] == "unavailable"
    client.disconnect()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    output = proc.stdout.read()
    gps = tmp_path / "ttyUSB0"
    assert (
        f"sensor gps: cannot open {gps}: [Errno 2] No such file or directory; offline, "
        f"retrying with backoff up to 300 s"
    ) in output
    assert (
        "sensor attic: cannot open /dev/i2c-250: [Errno 2] No such file or directory; offline, "
        "retrying with backoff up to 300 s"
    ) in output
    assert "relay valve: cannot open pcf8574 0x20 pin 0 on /dev/i2c-250: " in output


def start_up_error(
    tmp_path, devices: str, env: dict | None = None, code: int = 1
) -> tuple[str, str]:
    """`run` with a config of `devices` (TOML tables) that must not start: (config path, stderr)
    after checking for exit code `code` (1: the config, 3: this machine) and no traceback."""
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
state_dir = "{tmp_path / "state"}"
[[broker.listeners]]
port = {free_port()}
{devices}""")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return str(config), result.stderr


def test_a_bad_sensor_option_still_stops_start_up_with_file_and_problem(tmp_path):
    config, stderr = start_up_error(
        tmp_path,
        """
[[sensors]]
type = "nmea"
name = "gps"
port = "nosuch://ttyUSB0"
""",
    )
    assert f"{config}: sensors[gps]: invalid URL, protocol 'nosuch' not known" in stderr


def test_a_relay_address_the_chip_cannot_have_stops_start_up_though_its_bus_is_absent(tmp_path):
    """Not absent hardware, so not retried: the address is checked before /dev/i2c-250 is opened."""
    config, stderr = start_up_error(
        tmp_path,
        """
[[relays]]
name = "valve"
kind = "mcp23017"
bus = 250
address = 0x38
pin = 0
""",
    )
    assert (
        f"{config}: relays[valve]: mcp23017 0x38 pin 0 on /dev/i2c-250: MCP23017: address 0x38 "
        "is not one of its addresses"
    ) in stderr


def test_gpio_relays_without_a_working_pin_factory_stop_start_up_with_one_line(tmp_path):
    """GPIO configured on a machine whose GPIO library cannot work (as here: no Pi): a clear error
    naming the file and what to do. GPIOZERO_PIN_FACTORY names a factory that cannot load here
    (pigpio needs its daemon), so the outcome does not depend on what this machine has."""
    config, stderr = start_up_error(
        tmp_path,
        """
[[relays]]
name = "lamp"
pin = 17
""",
        env={"GPIOZERO_PIN_FACTORY": "pigpio"},
        code=3,
    )
    assert f"{config}: GPIO sensors or relays are configured, but " in stderr
