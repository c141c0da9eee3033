"""INA226 / INA260 against a fake that computes current and power as the chip does."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.ina226 import INA226, INA260, calibrate
from tests.fakes.chips.ina226 import FakeINA226
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, chip="ina226", **options):
    bus = FakeSMBus()
    fake = bus.attach(0x40, FakeINA226(clock, chip, shunt_ohms=options.get("shunt_ohms", 0.1)))
    cls = INA260 if chip == "ina260" else INA226
    return fake, cls(bus, sleep=clock.sleep, **options)


def test_equation_1_calibration():
    # 0.1 Ω shunt, 0.8 A: Current_LSB = 0.8 / 2^15 = 24.4 µA, CAL = 0.00512 / (24.4e-6 × 0.1) = 2097
    cal, lsb = calibrate(0.1, 0.8)
    assert cal == 2097
    assert lsb == pytest.approx(0.8 / 32768, rel=1e-3)


def test_shunt_drop_beyond_81_92_mv_is_refused():
    with pytest.raises(ValueError, match=r"81\.92 mV"):
        calibrate(0.1, 1.0)  # 100 mV


@pytest.mark.parametrize("amps,volts", [(0.25, 12.0), (-0.5, 5.0), (0.001, 24.0)])
def test_ina226_readings_through_the_chip_arithmetic(amps, volts):
    clock = FakeClock()
    fake, drv = setup(clock)
    fake.amps, fake.volts = amps, volts
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert fake.regs[5] == drv.cal
    assert values["voltage"] == pytest.approx(volts, abs=1.25e-3)
    assert values["current"] == pytest.approx(amps, abs=2 * drv.current_lsb)
    assert values["power"] == pytest.approx(abs(amps * volts), abs=25 * drv.current_lsb * 2 + 0.001)
    assert values["shunt_voltage"] == pytest.approx(amps * 0.1, abs=2.5e-6)


def test_triggered_conversion_waits_averaging_times_conversion_time():
    clock = FakeClock()
    _fake, drv = setup(clock, samples=64, conversion_time=0.000588)
    drv.open()
    clock.slept.clear()
    drv.read()
    assert clock.slept[0] == pytest.approx(64 * 2 * 0.000588)


def test_ina260_fixed_lsbs():
    clock = FakeClock()
    fake, drv = setup(clock, "ina260")
    fake.amps, fake.volts = 3.2, 11.9
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert values["current"] == pytest.approx(3.2, abs=1.25e-3)
    assert values["power"] == pytest.approx(3.2 * 11.9, abs=0.01)
    assert fake.regs[5] == 0  # no calibration register written


def test_saturated_shunt_and_overflow_are_failed_reads():
    clock = FakeClock()
    fake, drv = setup(clock)
    drv.open()
    fake.amps = 2.0  # 200 mV: the ADC saturates
    with pytest.raises(InvalidReading, match=r"81\.92 mV|OVF"):
        drv.read()


def test_wrong_die_id_is_not_found():
    clock = FakeClock()
    fake, drv = setup(clock)
    fake.regs[0xFF] = 0x2270  # an INA260 configured as INA226
    with pytest.raises(DeviceNotFound, match="0x2270"):
        drv.open()
