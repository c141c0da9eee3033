"""SHT3x against a fake that NAKs while measuring and computes its own CRCs."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.i2c.sensirion import crc8
from drivers.i2c.sht3x import SHT3x, convert
from tests.fakes.chips.sht3x import FakeSHT3x, sensirion_crc
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x44, FakeSHT3x(clock))
    return chip, SHT3x(bus, sleep=clock.sleep, **options)


def test_crc8_datasheet_example_4_12_beef_is_0x92():
    assert crc8(b"\xbe\xef") == 0x92
    assert sensirion_crc(b"\xbe\xef") == 0x92


def test_crc8_driver_and_fake_agree_on_all_words_sampled():
    for w in range(0, 0x10000, 257):
        b = w.to_bytes(2, "big")
        assert crc8(b) == sensirion_crc(b)


def test_conversion_formula_4_13_end_points():
    assert convert(0, 0) == (-45, 0)
    assert convert(0xFFFF, 0xFFFF) == (130, 100)


@pytest.mark.parametrize(
    "repeatability,command,wait",
    [("high", 0x2400, 0.0155), ("medium", 0x240B, 0.0065), ("low", 0x2416, 0.0045)],
)
def test_single_shot_no_clock_stretching_commands_table_9(repeatability, command, wait):
    clock = FakeClock()
    chip, drv = setup(clock, repeatability=repeatability)
    chip.temperature, chip.humidity = 23.4, 56.7
    with drv:
        start = clock.now
        values = {r.quantity: r.value for r in drv.read()}
    assert chip.commands[-1] == command
    assert clock.now - start == pytest.approx(wait)
    assert values["temperature"] == pytest.approx(23.4, abs=0.003)
    assert values["humidity"] == pytest.approx(56.7, abs=0.002)


def test_open_soft_resets_and_reads_status_register_4_11():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    assert chip.commands[:2] == [0x30A2, 0xF32D]
    assert drv.status == 0x0010


def test_read_during_measurement_is_nacked_and_retried():
    clock = FakeClock()
    _chip, drv = setup(clock)
    drv.open()
    drv.duration = 0.011  # shorter than the fake's typical 12.5 ms: the read is NAKed
    assert drv.read()[0].quantity == "temperature"
    assert clock.slept[-3:] == [0.011, 0.001, 0.001]


def test_corrupt_crc_raises_checksum_error():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.corrupt_crc = True
    with drv, pytest.raises(ChecksumError, match="CRC"):
        drv.read()


def test_temperature_beyond_specified_range_raises():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.raw = (0xFFFF, 0x8000)  # 130 °C: not in -40..125 °C
    with drv, pytest.raises(InvalidReading):
        drv.read()


def test_missing_sensor_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        SHT3x(FakeSMBus(), 0x45).open()


def test_bad_options():
    with pytest.raises(ValueError):
        SHT3x(FakeSMBus(), repeatability="max")
    with pytest.raises(ValueError):
        SHT3x(FakeSMBus(), 0x40)
