"""SCD40/41 against a fake with CRC-checked commands, the periodic mode and its 5 s samples."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.scd4x import SCD4x, convert, with_crcs
from tests.fakes.chips.scd4x import FakeSCD4x
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x62, FakeSCD4x(clock))
    return chip, SCD4x(bus, sleep=clock.sleep, **options)


def test_conversion_3_6_2():
    # S_T 0x6667 -> 25.0 °C, S_RH 0x5EB9 -> 37.0 %RH
    co2, t, rh = convert(500, 0x6667, 0x5EB9)
    assert (co2, round(t, 2), round(rh, 2)) == (500, 25.0, 37.0)


def test_argument_words_carry_the_crc_3_11():
    assert with_crcs([0xBEEF]) == [0xBE, 0xEF, 0x92]


def test_open_stops_reads_serial_configures_and_starts():
    clock = FakeClock()
    chip, drv = setup(clock, self_calibration=False, altitude=420)
    drv.open()
    assert chip.commands == [0x3F86, 0x3682, 0x2416, 0x2427, 0x21B1]
    assert drv.serial_number == chip.serial
    assert (chip.asc, chip.altitude) == (False, 420)


def test_read_waits_for_the_next_5_s_sample():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.co2, chip.temperature, chip.humidity = 1234, 19.5, 55.0
    drv.open()
    values = {r.quantity: r.value for r in drv.read()}  # polls until the first sample at 5 s
    assert values == {
        "co2": 1234,
        "temperature": pytest.approx(19.5, abs=0.01),
        "humidity": pytest.approx(55.0, abs=0.01),
    }
    clock.advance(5.0)
    assert drv.read()[0].value == 1234


def test_reading_faster_than_the_sensor_samples_is_a_failed_read():
    clock = FakeClock()
    _chip, drv = setup(clock)
    drv.open()
    clock.advance(5.0)
    drv.read()
    with pytest.raises(DriverError, match="every 5 s"):
        drv.read()  # no new sample within 1.2 s after a sample


def test_crc_error_and_zero_ppm_are_failed_reads():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    clock.advance(5.0)
    chip.corrupt_crc = True
    with pytest.raises(ChecksumError):
        drv.read()
    chip.corrupt_crc, chip.co2 = False, 0
    clock.advance(5.0)
    with pytest.raises(InvalidReading, match="0 ppm"):
        drv.read()


def test_forced_recalibration_3_8_1():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip.co2 = 455
    assert drv.forced_recalibration(420) == 420 - 455
    assert chip.running_since is not None  # measuring again afterwards
    chip.minutes_measured_before_frc = 1
    with pytest.raises(DriverError, match="failed"):
        drv.forced_recalibration(420)


def test_close_stops_the_periodic_measurement():
    clock = FakeClock()
    chip, drv = setup(clock)
    with drv:
        assert chip.running_since is not None
    assert chip.running_since is None


def test_nothing_at_0x62_is_not_found():
    with pytest.raises(DeviceNotFound):
        SCD4x(FakeSMBus(), sleep=FakeClock().sleep).open()


def test_set_self_calibration_is_sent_idle_and_measuring_resumes():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip.commands.clear()
    start = clock.now
    drv.set_self_calibration(False)  # the fake NAKs 0x2416 while measuring (§3.5)
    assert chip.commands == [0x3F86, 0x2416, 0x21B1] and chip.asc is False
    assert clock.now - start >= 0.5  # stop_periodic_measurement's 500 ms before the next command
    assert drv.self_calibration is False and drv.running


def test_scd41_single_shot_idles_between_reads():
    clock = FakeClock()
    chip, drv = setup(clock, single_shot=True)
    chip.co2 = 777
    drv.open()
    assert 0x21B1 not in chip.commands and chip.running_since is None
    start = clock.now
    assert drv.read()[0].value == 777
    assert clock.now - start >= 5.0 and chip.running_since is None
    assert chip.commands[-3:] == [0x219D, 0xE4B8, 0xEC05]


def test_single_shot_on_an_scd40_is_a_failed_read_naming_the_scd41():
    clock = FakeClock()
    bus = FakeSMBus()
    bus.attach(0x62, FakeSCD4x(clock, model="scd40"))
    drv = SCD4x(bus, sleep=clock.sleep, single_shot=True)
    drv.open()
    with pytest.raises(DriverError, match="single_shot is for the SCD41 only"):
        drv.read()
