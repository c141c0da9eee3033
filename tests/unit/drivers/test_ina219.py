"""INA219 against a fake that does the chip's own current/power maths."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.ina219 import INA219, calibrate, decode_bus
from tests.fakes.chips.ina219 import FakeINA219
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x40, FakeINA219(clock))
    chip.shunt_ohms = options.get("shunt_ohms", 0.1)
    return chip, INA219(bus, sleep=clock.sleep, **options)


def test_calibration_equations_8_5_1_example_0_1_ohm_3_2_a():
    # Current_LSB = 3.2 A / 2^15 ≈ 97.7 µA -> Cal = trunc(0.04096 / (97.66e-6 × 0.1)) = 4194 ->
    # bit 0 void -> 4194 (already even)
    cal = calibrate(0.1, 3.2)
    assert cal.register == 4194
    assert cal.current_lsb == pytest.approx(0.04096 / (4194 * 0.1))
    assert cal.power_lsb == pytest.approx(20 * cal.current_lsb)
    assert cal.pga == 0.32


def test_calibration_picks_smallest_pga_covering_the_shunt_voltage():
    assert calibrate(0.1, 0.4).pga == 0.04
    assert calibrate(0.01, 10).pga == 0.16


def test_odd_calibration_is_made_even_because_bit_0_is_void():
    cal = calibrate(0.1, 2.0)  # trunc(...) = 6710
    assert cal.register % 2 == 0
    cal = calibrate(0.05, 2.0)  # 13421 -> 13420
    assert cal.register == 13420


def test_bus_register_bits_15_3_and_ovf_8_6_3_2():
    assert decode_bus(3000 << 3 | 0x2) == pytest.approx(12.0)
    with pytest.raises(InvalidReading, match="OVF"):
        decode_bus(3000 << 3 | 0x3)


@pytest.mark.parametrize("amps,volts", [(1.5, 12.0), (-0.75, 5.0), (0.0, 24.0), (3.1, 3.3)])
def test_triggered_read_through_the_chips_own_maths(amps, volts):
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.current, chip.bus_voltage = amps, volts
    with drv:
        got = {r.quantity: r.value for r in drv.read()}
    assert got["voltage"] == pytest.approx(volts, abs=0.004)
    assert got["current"] == pytest.approx(amps, abs=2 * drv.calibration.current_lsb)
    assert got["power"] == pytest.approx(abs(amps) * volts, abs=0.01 + abs(amps) * 0.004)
    assert got["shunt_voltage"] == pytest.approx(amps * 0.1, abs=1e-5)
    assert chip.regs[5] == drv.calibration.register
    assert chip.regs[2] & 0x2 == 0  # reading power cleared CNVR


def test_averaging_changes_config_and_waits_for_cnvr():
    clock = FakeClock()
    chip, drv = setup(clock, samples=128)
    chip.current, chip.bus_voltage = 1.0, 12.0
    with drv:
        start = clock.now
        drv.read()
    assert chip.regs[0] == 1 << 13 | 0b11 << 11 | 0b1111 << 7 | 0b1111 << 3 | 0b011
    assert clock.now - start >= 2 * 0.0681


def test_current_beyond_max_current_overflows_and_raises():
    clock = FakeClock()
    chip, drv = setup(clock, max_current=1.0)  # PGA 0.16 V covers 0.1 V, cal fits 1 A
    chip.current, chip.bus_voltage = 1.5, 12.0
    with drv, pytest.raises(InvalidReading):
        drv.read()


def test_shunt_voltage_beyond_pga_raises():
    clock = FakeClock()
    chip, drv = setup(clock, max_current=0.4)  # PGA 40 mV
    chip.current, chip.bus_voltage = 0.5, 5.0  # 50 mV: saturates the shunt ADC
    with drv, pytest.raises(InvalidReading):
        drv.read()


def test_missing_chip_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        INA219(FakeSMBus(), 0x45).open()


@pytest.mark.parametrize(
    "options",
    [
        {"shunt_ohms": 0},
        {"max_current": -1},
        {"shunt_ohms": 1.0, "max_current": 1.0},
        {"bus_voltage_range": 24},
        {"samples": 3},
        {"address": 0x60},
    ],
)
def test_bad_options(options):
    with pytest.raises(ValueError):
        INA219(FakeSMBus(), **options)
