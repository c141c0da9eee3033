"""BH1750 against a fake with power states, MTreg and measurement timing."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.bh1750 import BH1750, lux, mtreg_commands
from tests.fakes.chips.bh1750 import FakeBH1750
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x23, FakeBH1750(clock))
    return chip, BH1750(bus, sleep=clock.sleep, **options)


def test_lux_formula_p11_example_count_0x8390_is_28067_lx():
    # p.7 example: High byte 0x83, low byte 0x90 -> (2^15+2^9+2^8+2^7+2^4)/1.2 = 28067 lx
    assert lux(0x8390, "high") == pytest.approx(28067, abs=0.5)


def test_mtreg_opcodes_p11_default_69():
    assert mtreg_commands(69) == (0x42, 0x65)
    assert mtreg_commands(254) == (0x47, 0x7E)


@pytest.mark.parametrize(
    "mode,mtreg,wait", [("high", 69, 0.180), ("high2", 138, 0.360), ("low", 31, 0.024 * 31 / 69)]
)
def test_one_time_modes_measurement_time_and_mtreg(mode, mtreg, wait):
    clock = FakeClock()
    chip, drv = setup(clock, mode=mode, mtreg=mtreg)
    chip.lux = 321.0
    with drv:
        start = clock.now
        (reading,) = drv.read()
    assert clock.now - start == pytest.approx(wait)
    assert chip.mtreg == mtreg
    assert reading.unit == "lx"
    # quantisation: one count is 1/1.2 * 69/mtreg (/2 in high2) lx
    assert reading.value == pytest.approx(321.0, abs=0.5 * 69 / mtreg)
    assert not chip.powered  # one-time mode powered the chip down


def test_reading_too_early_would_give_the_old_register():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    drv.read()
    chip.lux = 1000.0
    drv.mtreg = 200  # takes longer than the driver's 69-based wait
    drv.measurement_time_s = lambda: 0.180
    assert drv.read()[0].value != pytest.approx(1000.0, abs=1)


def test_saturated_count_raises_not_clamps():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.lux = 100000.0
    with drv, pytest.raises(InvalidReading, match="saturated"):
        drv.read()


def test_missing_sensor_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        BH1750(FakeSMBus(), 0x5C).open()


@pytest.mark.parametrize(
    "options", [{"mode": "medium"}, {"mtreg": 30}, {"mtreg": 255}, {"address": 0x24}]
)
def test_bad_options(options):
    with pytest.raises(ValueError):
        BH1750(FakeSMBus(), **options)
