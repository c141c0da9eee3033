"""The generic regex line device: decoder (sans-IO), streaming over loop://, polled over a pty."""

from __future__ import annotations

import pytest
import serial

from drivers.base import DeviceNotFound, InvalidReading, Reading
from drivers.serial.line import LineDecoder, LineDevice
from tests.fakes.chips.line_device import FakeLineDevice
from tests.fakes.serial_pty import PtyDevice

PATTERN = r"T=(?P<temperature>-?[\d.]+)C H=(?P<humidity>\d+)%"
UNITS = {"temperature": "°C", "humidity": "%"}


@pytest.fixture
def loop():
    p = serial.serial_for_url("loop://", timeout=0.02)
    yield p
    p.close()


@pytest.fixture
def device():
    fake = FakeLineDevice()
    dev = PtyDevice(fake.respond)
    dev.fake = fake
    yield dev
    dev.close()


def test_named_groups_become_readings_with_units():
    dec = LineDecoder(PATTERN, UNITS)
    assert dec.feed(b"T=-3.5C H=81%\r\n") == [
        [Reading("temperature", -3.5, "°C"), Reading("humidity", 81, "%")]
    ]


def test_partial_lines_wait_and_bad_lines_are_recorded():
    dec = LineDecoder(PATTERN, UNITS)
    assert dec.feed(b"T=1C H") == []
    assert dec.feed(b"=2%\nnoise\n")[0][1].value == 2
    assert isinstance(dec.errors[0], InvalidReading)


def test_overlong_line_dropped():
    dec = LineDecoder(PATTERN, UNITS, max_line=16)
    dec.feed(b"x" * 40)
    assert dec.errors and dec.feed(b"\nT=1C H=2%\n")[0][0].value == 1


def test_optional_group_absent_is_left_out():
    dec = LineDecoder(
        r"V=(?P<voltage>[\d.]+)(?: I=(?P<current>[\d.]+))?", {"voltage": "V", "current": "A"}
    )
    assert dec.feed(b"V=12.1\n") == [[Reading("voltage", 12.1, "V")]]


@pytest.mark.parametrize(
    "pattern,units",
    [
        (PATTERN, {"temperature": "°C"}),
        (PATTERN, {**UNITS, "pressure": "hPa"}),
        (r"T=(\d+)", {}),
        (r"T=(?P<t>[", {"t": ""}),
    ],
)
def test_config_mismatch_is_value_error(pattern, units):
    with pytest.raises(ValueError):
        LineDecoder(pattern, units)


def test_non_numeric_group_is_invalid():
    dec = LineDecoder(r"S=(?P<state>\w+)", {"state": ""})
    dec.feed(b"S=open\n")
    assert "not a number" in str(dec.errors[0])


def test_streaming_device_keeps_newest_line(loop):
    loop.write(b"T=20.0C H=30%\r\nT=20.5C H=31%\r\n")
    drv = LineDevice(loop, pattern=PATTERN, units=UNITS)
    assert [r.value for r in drv.read()] == [20.5, 31]
    assert drv.quantities == (("temperature", "°C"), ("humidity", "%"))


def test_streaming_device_only_garbage_raises_invalid(loop):
    loop.write(b"hello\r\n")
    with pytest.raises(InvalidReading):
        LineDevice(loop, pattern=PATTERN, units=UNITS, timeout=0.1).read()


def test_polled_device_over_pty_with_boot_garbage(device):
    device.fake.garbage_first = True
    device.fake.temperature = 19.25
    drv = LineDevice(
        device.open_port(), pattern=PATTERN, units=UNITS, command="READ\r\n", timeout=2.0
    )
    assert [r.value for r in drv.read()] == [19.25, 40]
    assert bytes(device.received) == b"READ\r\n"


def test_silent_port_is_device_not_found(loop):
    with pytest.raises(DeviceNotFound):
        LineDevice(loop, pattern=PATTERN, units=UNITS, timeout=0.05).read()
