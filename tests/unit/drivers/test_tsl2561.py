"""TSL2561 against a fake with its command byte, timing register and integrating channels."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.tsl2561 import TSL2561, lux, normalise
from tests.fakes.chips.tsl2561 import FakeTSL2561
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, part=0x5, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x39, FakeTSL2561(clock, part=part))
    return chip, TSL2561(bus, sleep=clock.sleep, **options)


@pytest.mark.parametrize(
    "ch0,ch1,expected",
    [
        (1000, 250, 0.0304 * 1000 - 0.062 * 1000 * 0.25**1.4),  # r = 0.25
        (1000, 550, 0.0224 * 1000 - 0.031 * 550),  # r = 0.55
        (1000, 700, 0.0128 * 1000 - 0.0153 * 700),  # r = 0.70
        (1000, 1000, 0.00146 * 1000 - 0.00112 * 1000),  # r = 1.00
        (1000, 1400, 0.0),  # r > 1.30
    ],
)
def test_lux_formulas_t_package(ch0, ch1, expected):
    assert lux(ch0, ch1) == pytest.approx(expected)


def test_cs_package_has_its_own_coefficients():
    assert lux(1000, 600, "cs") == pytest.approx(0.0229 * 1000 - 0.0291 * 600)


def test_normalisation_to_16x_and_402_ms():
    assert normalise(100, False, 0.402) == 1600
    assert normalise(11, True, 0.0137) == pytest.approx(322)


def test_reads_at_16x_and_computes_lux():
    clock = FakeClock()
    chip, drv = setup(clock)
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert (values["broadband"], values["infrared"]) == (20_000, 5_000)
    assert values["illuminance"] == pytest.approx(lux(20_000, 5_000))
    assert chip.regs[1] == 0x12


def test_auto_gain_falls_back_to_1x_when_16x_saturates():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.ch0_402_16x, chip.ch1_402_16x = 400_000.0, 60_000.0
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert chip.regs[1] == 0x02  # 1x, 402 ms
    assert values["illuminance"] == pytest.approx(lux(400_000, 60_000), rel=0.001)


def test_saturated_at_fixed_gain_is_a_failed_read():
    clock = FakeClock()
    chip, drv = setup(clock, gain="16x", integration_time=0.0137)
    chip.ch0_402_16x = 200_000.0
    with drv, pytest.raises(InvalidReading, match="saturated"):
        drv.read()


def test_short_integration_scales_counts():
    clock = FakeClock()
    _chip, drv = setup(clock, gain="16x", integration_time=0.101)
    with drv:
        value = drv.read()[0].value
    assert value == pytest.approx(lux(20_000, 5_000), rel=0.01)


def test_not_a_tsl2561_and_missing():
    clock = FakeClock()
    _chip, drv = setup(clock, part=0x7)
    with pytest.raises(DeviceNotFound, match="part number"):
        drv.open()
    with pytest.raises(DeviceNotFound):
        TSL2561(FakeSMBus(), sleep=clock.sleep).open()
