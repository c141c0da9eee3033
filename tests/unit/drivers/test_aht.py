"""AHT10/AHT20/AHT21 against a fake with the status byte, init command, busy time and CRC."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.aht import AHT, convert
from tests.fakes.chips.aht import FakeAHT
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, chip="aht20", **fake):
    bus = FakeSMBus()
    fake_chip = bus.attach(0x38, FakeAHT(clock, "aht10" if chip == "aht10" else "aht20", **fake))
    return fake_chip, AHT(bus, chip=chip, sleep=clock.sleep)


def test_conversion_6_1_6_2():
    # S_RH = 2^19 -> 50 %, S_T = 2^19 -> 50 °C (half scale of both formulas)
    frame = bytes([0x1C, 0x80, 0x00, 0x08, 0x00, 0x00])
    assert convert(frame) == (pytest.approx(50.0), pytest.approx(50.0))


@pytest.mark.parametrize("chip", ["aht10", "aht20", "aht21"])
def test_uncalibrated_chip_is_initialised_then_read(chip):
    clock = FakeClock()
    fake, drv = setup(clock, chip)
    fake.temperature, fake.humidity = -12.5, 67.0
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert fake.inits == 1
    assert values == {
        "temperature": pytest.approx(-12.5, abs=0.001),
        "humidity": pytest.approx(67.0, abs=0.001),
    }


def test_calibrated_chip_is_not_initialised_again():
    clock = FakeClock()
    fake, drv = setup(clock, calibrated=True)
    drv.open()
    assert fake.inits == 0


def test_busy_after_the_wait_polls_then_fails():
    clock = FakeClock()
    fake, drv = setup(clock)
    drv.open()
    fake.measure_s = 0.085  # a slow chip: done after one poll
    assert len(drv.read()) == 2
    fake.measure_s = 1.0  # never done in time
    with pytest.raises(DriverError, match="busy"):
        drv.read()


def test_crc_mismatch_aht20():
    clock = FakeClock()
    fake, drv = setup(clock)
    fake.corrupt_crc = True
    drv.open()
    with pytest.raises(ChecksumError):
        drv.read()


def test_temperature_outside_the_operating_range_raises():
    clock = FakeClock()
    fake, drv = setup(clock)
    fake.raw = (0x80000, 0xF0000)  # S_T 15/16 of full scale: 137.5 °C
    drv.open()
    with pytest.raises(InvalidReading, match="temperature"):
        drv.read()


def test_nothing_at_0x38_is_not_found():
    with pytest.raises(DeviceNotFound):
        AHT(FakeSMBus(), sleep=FakeClock().sleep).open()
