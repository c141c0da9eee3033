"""PMS5003: sans-IO frame decoder, and the driver over loop:// (active) and a pty (passive)."""

from __future__ import annotations

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.serial.pms5003 import (
    CMD_MODE_PASSIVE,
    CMD_READ_PASSIVE,
    Pms5003,
    Pms5003Decoder,
    command,
    parse_frame,
)
from tests.fakes.chips.pms5003 import FakePms5003, frame
from tests.fakes.serial_pty import PtyDevice

VALUES = [5, 8, 9, 4, 7, 9, 1200, 350, 60, 6, 2, 1, 0x9700]


@pytest.fixture
def loop():
    p = serial.serial_for_url("loop://", timeout=0.02)
    yield p
    p.close()


@pytest.fixture
def device():
    fake = FakePms5003()
    dev = PtyDevice(fake.respond)
    dev.fake = fake
    yield dev
    dev.close()


def test_host_commands_appendix_ii():
    assert bytes.fromhex("424de200000171") == CMD_READ_PASSIVE
    assert bytes.fromhex("424de100000170") == CMD_MODE_PASSIVE
    assert command(0xE4, 1) == bytes.fromhex("424de400010174")


def test_frame_fields_appendix_i():
    f = parse_frame(frame(VALUES))
    assert (f.pm1_0_standard, f.pm2_5_standard, f.pm10_standard) == (5, 8, 9)
    assert (f.pm1_0, f.pm2_5, f.pm10) == (4, 7, 9)
    assert f.counts == (1200, 350, 60, 6, 2, 1)


def test_bad_check_code_is_checksum_error():
    with pytest.raises(ChecksumError):
        parse_frame(frame(VALUES, corrupt=True))


def test_decoder_resyncs_after_garbage_and_a_corrupt_frame():
    dec = Pms5003Decoder()
    good = frame([1] * 13)
    stream = b"\x42\x00\x4d\x42" + frame(VALUES, corrupt=True)[:20] + good + b"\x42\x4d\x00\x99"
    out = dec.feed(stream)
    assert [f.pm1_0 for f in out] == [1]
    assert any(isinstance(e, (ChecksumError, InvalidReading)) for e in dec.errors)


def test_command_reply_frames_are_skipped_without_error():
    dec = Pms5003Decoder()
    out = dec.feed(bytes.fromhex("424d0004e1000174") + frame(VALUES))
    assert len(out) == 1 and dec.errors == []


@given(st.binary(max_size=120), st.integers(min_value=1, max_value=33))
def test_split_anywhere_equals_whole_and_never_raises(noise, chunk):
    stream = noise + frame(VALUES) + noise + frame([7] * 13)
    whole = Pms5003Decoder().feed(stream)
    dec = Pms5003Decoder()
    parts = [f for i in range(0, len(stream), chunk) for f in dec.feed(stream[i : i + chunk])]
    assert parts == whole
    assert whole[-1].pm2_5 == 7


def test_active_mode_returns_the_newest_frame(loop):
    loop.write(frame(VALUES) + frame([2] * 6 + [0] * 7))
    drv = Pms5003(loop)
    values = {r.quantity: (r.value, r.unit) for r in drv.read()}
    assert values["pm2_5"] == (2, "µg/m³")
    assert set(values) == {q for q, _ in drv.quantities}


def test_active_mode_only_corrupt_frames_raise_checksum_error(loop):
    loop.write(frame(VALUES, corrupt=True))
    with pytest.raises(ChecksumError):
        Pms5003(loop, timeout=0.1).read()


def test_active_mode_partial_frame_then_silence_is_invalid(loop):
    loop.write(frame(VALUES)[:17])
    with pytest.raises(InvalidReading, match="no complete frame"):
        Pms5003(loop, timeout=0.1).read()


def test_passive_mode_requests_each_frame_over_a_pty(device):
    drv = Pms5003(device.open_port(), mode="passive", timeout=2.0)
    with drv:
        device.fake.values[4] = 42
        first = {r.quantity: r.value for r in drv.read()}
        device.fake.values[4] = 43
        second = {r.quantity: r.value for r in drv.read()}
    assert (first["pm2_5"], second["pm2_5"]) == (42, 43)
    assert device.fake.commands[0] == CMD_MODE_PASSIVE
    assert device.fake.commands[1:] == [CMD_READ_PASSIVE, CMD_READ_PASSIVE]


def test_passive_mode_silent_sensor_is_device_not_found(device):
    drv = Pms5003(device.open_port(), mode="passive", timeout=0.1)
    with pytest.raises(DeviceNotFound):
        drv.read()  # never switched to passive: the fake does not answer


def test_bad_options():
    with pytest.raises(ValueError):
        Pms5003(None, mode="auto")
    with pytest.raises(ValueError):
        Pms5003(None, timeout=0)
