"""SHT4x against a fake that NAKs while measuring and computes its own CRCs."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.i2c.sht4x import SHT4x, convert
from tests.fakes.chips.sht4x import FakeSHT4x
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, address=0x44, **options):
    bus = FakeSMBus()
    chip = bus.attach(address, FakeSHT4x(clock, address))
    return chip, SHT4x(bus, address, sleep=clock.sleep, **options)


def test_conversion_4_6():
    assert convert(0x6666, 0x8000) == pytest.approx((25.0, 56.5), abs=0.01)


def test_rh_outside_0_100_raises_instead_of_cropping_4_6():
    with pytest.raises(InvalidReading, match="humidity"):
        convert(0x6666, 0xFFFF)  # 119 %
    with pytest.raises(InvalidReading, match="humidity"):
        convert(0x6666, 0x0000)  # -6 %


@pytest.mark.parametrize("precision,wait", [("high", 0.0083), ("medium", 0.0045), ("low", 0.0016)])
def test_measure_commands_table_7_and_max_durations(precision, wait):
    clock = FakeClock()
    chip, drv = setup(clock, precision=precision)
    chip.temperature, chip.humidity = -10.25, 80.5
    with drv:
        start = clock.now
        values = {r.quantity: r.value for r in drv.read()}
    assert clock.now - start == pytest.approx(wait)
    assert values == {
        "temperature": pytest.approx(-10.25, abs=0.003),
        "humidity": pytest.approx(80.5, abs=0.002),
    }


def test_open_reads_serial_number_0x89():
    clock = FakeClock()
    chip, drv = setup(clock, 0x46)
    drv.open()
    assert drv.serial_number == chip.serial


def test_read_too_early_is_nacked_then_retried():
    clock = FakeClock()
    _, drv = setup(clock)
    drv.open()
    drv.duration = 0.005
    drv.read()
    assert clock.slept[-3:] == [0.005, 0.001, 0.001]


def test_crc_error():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip.corrupt_crc = True
    with pytest.raises(ChecksumError):
        drv.read()


def test_missing_sensor_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        SHT4x(FakeSMBus()).open()


def test_bad_options():
    with pytest.raises(ValueError):
        SHT4x(FakeSMBus(), precision="ultra")
    with pytest.raises(ValueError):
        SHT4x(FakeSMBus(), 0x47)
