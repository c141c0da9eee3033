"""BMP180 against a fake with the datasheet's calibration EEPROM, Sco timing and raw ADC values."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.bmp180 import BMP180, Calibration, compensate
from tests.fakes.chips.bmp180 import EXAMPLE_CALIBRATION, FakeBMP180
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x77, FakeBMP180(clock))
    return chip, BMP180(bus, sleep=clock.sleep, **options)


def test_worked_example_3_5_figure_4():
    """§3.5: UT 27898, UP 23843, oss 0 with the example calibration -> 150 (15.0 °C), 69964 Pa."""
    assert compensate(Calibration(*EXAMPLE_CALIBRATION), 27898, 23843, 0) == (15.0, 69964)


def test_driver_reproduces_the_worked_example_through_the_registers():
    clock = FakeClock()
    chip, drv = setup(clock, oversampling=0)
    with drv:
        values = {r.quantity: (r.value, r.unit) for r in drv.read()}
    assert chip.resets == 1
    assert values == {"temperature": (15.0, "°C"), "pressure": (699.64, "hPa")}


@pytest.mark.parametrize("oss,wait", [(0, 0.0045), (1, 0.0075), (2, 0.0135), (3, 0.0255)])
def test_oversampling_shifts_up_and_waits_table_8(oss, wait):
    clock = FakeClock()
    chip, drv = setup(clock, oversampling=oss)
    chip.up = 23843 << oss  # the same pressure, measured with more bits
    drv.open()
    clock.slept.clear()
    values = {r.quantity: r.value for r in drv.read()}
    assert clock.slept == [0.0045, wait]
    assert values["pressure"] == pytest.approx(699.64, abs=0.05)


def test_conversion_not_done_is_a_failed_read():
    clock = FakeClock()
    _chip, drv = setup(clock)
    drv.open()
    drv.sleep = lambda s: None  # a driver that does not wait sees Sco still set
    with pytest.raises(DriverError, match="still running"):
        drv.read()


def test_wrong_chip_id_is_not_found():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.regs[0xD0] = 0x58  # a BMP280 at the same address
    with pytest.raises(DeviceNotFound, match="0x58"):
        drv.open()


def test_nothing_at_the_address_is_not_found():
    bus = FakeSMBus()
    with pytest.raises(DeviceNotFound):
        BMP180(bus, sleep=FakeClock().sleep).open()


def test_eeprom_word_0xffff_is_refused_3_4():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.regs[0xB2:0xB4] = b"\xff\xff"  # AC5 unreadable
    with pytest.raises(DriverError, match="ac5"):
        drv.open()


def test_pressure_outside_operating_range_raises():
    clock = FakeClock()
    chip, drv = setup(clock, oversampling=0)
    chip.up = 2000  # far below 300 hPa
    drv.open()
    with pytest.raises(InvalidReading, match="hPa"):
        drv.read()


def test_only_address_0x77():
    with pytest.raises(ValueError, match="0x76"):
        BMP180(FakeSMBus(), 0x76)
