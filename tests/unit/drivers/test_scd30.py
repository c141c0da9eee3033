"""SCD30 against a fake with CRC-checked commands, its measurement interval and float words."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.scd30 import SCD30, floats
from tests.fakes.chips.scd30 import FakeSCD30
from tests.fakes.i2c import FakeClock, FakeSMBus

EXAMPLE_WORDS = [0x43DB, 0x8C2E, 0x41D9, 0xE7FF, 0x4243, 0x3A1B]  # §1.4.5


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x61, FakeSCD30(clock))
    return chip, SCD30(bus, sleep=clock.sleep, **options)


def test_example_of_1_4_5():
    co2, t, rh = floats(EXAMPLE_WORDS)
    assert (round(co2, 1), round(t, 2), round(rh, 1)) == (439.1, 27.24, 48.8)


def test_open_configures_and_starts():
    clock = FakeClock()
    chip, drv = setup(clock, measurement_interval=5, self_calibration=True, altitude=300)
    drv.open()
    assert drv.firmware == (3, 0x42)
    assert (chip.interval, chip.asc, chip.altitude, chip.pressure) == (5, True, 300, 0)
    assert chip.started_at is not None


def test_reads_the_example_words_through_the_bus():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.words = EXAMPLE_WORDS
    with drv:
        values = {r.quantity: round(r.value, 2) for r in drv.read()}
    assert values == {"co2": 439.1, "temperature": 27.24, "humidity": 48.81}
    assert chip.started_at is None  # close() stopped it


def test_no_new_measurement_in_time_is_a_failed_read():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    drv.read()
    chip.interval = 60  # it stalls
    with pytest.raises(DriverError, match="no measurement"):
        drv.read()


def test_crc_and_nan_are_failed_reads():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip.corrupt_crc = True
    with pytest.raises(ChecksumError):
        drv.read()
    chip.corrupt_crc, chip.words = False, [0x7FC0, 0, 0x41D9, 0xE7FF, 0x4243, 0x3A1B]  # NaN
    clock.advance(2)
    with pytest.raises(InvalidReading, match="not a number"):
        drv.read()


def test_forced_recalibration_and_its_range():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    drv.forced_recalibration(415)
    assert chip.frc == 415
    with pytest.raises(ValueError):
        drv.forced_recalibration(300)


def test_pressure_compensation_range_and_missing_chip():
    with pytest.raises(ValueError, match=r"700\.\.1400"):
        SCD30(FakeSMBus(), pressure=500)
    with pytest.raises(DeviceNotFound):
        SCD30(FakeSMBus(), sleep=FakeClock().sleep).open()


def test_self_calibration_switched_while_measuring_1_4_6():
    clock = FakeClock()
    chip, drv = setup(clock, self_calibration=False)
    drv.open()
    drv.set_self_calibration(True)
    assert chip.asc is True and drv.self_calibration is True and chip.started_at is not None
