"""VEML7700 against a fake that integrates a light level at its gain and integration time."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.veml7700 import VEML7700, conf_word, correct, lux_per_count
from tests.fakes.chips.veml7700 import FakeVEML7700
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x10, FakeVEML7700(clock))
    return chip, VEML7700(bus, sleep=clock.sleep, **options)


def test_resolution_table_of_the_app_note():
    assert lux_per_count(2.0, 0.800) == pytest.approx(0.0036)
    assert lux_per_count(1.0, 0.100) == pytest.approx(0.0576)
    assert lux_per_count(0.125, 0.025) == pytest.approx(1.8432)


def test_configuration_bits():
    assert conf_word(0.125, 0.025) == 0b10 << 11 | 0b1100 << 6
    assert conf_word(2.0, 0.800) == 0b01 << 11 | 0b0011 << 6


@pytest.mark.parametrize("lux", [0.5, 40.0, 250.0, 3000.0, 60000.0])
def test_auto_gain_settles_and_measures(lux):
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.lux = lux
    with drv:
        value = drv.read()[0].value
        gain, it = drv.setting
    assert chip.count > 100 and (chip.count <= 10_000 or (gain, it) == (0.125, 0.025))
    assert value == pytest.approx(lux, rel=0.03, abs=2 * lux_per_count(gain, it))


def test_a_steady_light_costs_one_integration_per_read():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.lux = 400.0
    drv.open()
    drv.read()
    writes = chip.writes
    drv.read()
    assert chip.writes == writes


def test_dark_to_bright_recovers_from_saturation():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.lux = 0.3
    drv.open()
    drv.read()
    assert drv.setting == (2.0, 0.800)
    chip.lux = 20000.0
    assert drv.read()[0].value == pytest.approx(20000.0, rel=0.03)


def test_fixed_setting_saturation_is_a_failed_read():
    clock = FakeClock()
    chip, drv = setup(clock, gain=2.0, integration_time=0.8)
    chip.lux = 1000.0
    with drv, pytest.raises(InvalidReading, match="saturated"):
        drv.read()


def test_correction_is_identity_near_zero_and_grows():
    assert correct(10.0) == pytest.approx(10.03, abs=0.01)
    assert correct(10000.0) > 10000.0 * 1.0023


def test_wrong_id_and_missing_chip():
    clock = FakeClock()
    bus = FakeSMBus()
    with pytest.raises(DeviceNotFound):
        VEML7700(bus, sleep=clock.sleep).open()
    chip = bus.attach(0x10, FakeVEML7700(clock))
    chip.read = lambda n: b"\x55\xc4"[:n]
    with pytest.raises(DeviceNotFound, match="0x55"):
        VEML7700(bus, sleep=clock.sleep).open()
