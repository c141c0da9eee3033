"""ADS1115 against a fake converter with the datasheet's config register and timing."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.ads1115 import ADS1115, config_word, to_volts
from tests.fakes.chips.ads1115 import FakeADS1115
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x48, FakeADS1115(clock))
    return chip, ADS1115(bus, sleep=clock.sleep, **options)


def test_config_word_8_6_3_reset_defaults_reproduce_0x8583():
    # AIN0-AIN1, ±2.048 V, single-shot, 128 SPS, comparator disabled == the reset value
    assert config_word("0-1", 2.048, 128) == 0x8583


def test_config_word_fields_single_ended_ain3_gain_0_256_860_sps():
    assert config_word("3", 0.256, 860) == 0b1_111_101_1_111_0_0_0_11


def test_twos_complement_and_lsb_size_8_3_3():
    assert to_volts(0x0001, 4.096) == pytest.approx(125e-6)
    assert to_volts(0xFFFF, 4.096) == pytest.approx(-125e-6)
    assert to_volts(0x4000, 2.048) == pytest.approx(1.024)


def test_full_scale_codes_raise():
    for code in (0x7FFF, 0x8000):
        with pytest.raises(InvalidReading, match="full-scale"):
            to_volts(code, 2.048)


def test_four_single_ended_channels():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.inputs = [0.5, 1.25, 3.3, 0.0]
    with drv:
        got = {r.quantity: r.value for r in drv.read()}
    assert got == {
        "voltage_a0": pytest.approx(0.5, abs=2e-4),
        "voltage_a1": pytest.approx(1.25, abs=2e-4),
        "voltage_a2": pytest.approx(3.3, abs=2e-4),
        "voltage_a3": pytest.approx(0.0, abs=2e-4),
    }
    assert chip.conversions == 4
    assert [q for q, _ in drv.quantities] == list(got)


def test_differential_pair_negative_value_with_gain():
    clock = FakeClock()
    chip, drv = setup(clock, channels=["0-1", "2-3"], gain=0.256)
    chip.inputs = [1.000, 1.100, 2.0, 1.95]
    with drv:
        got = [r.value for r in drv.read()]
    assert got == [pytest.approx(-0.1, abs=1e-5), pytest.approx(0.05, abs=1e-5)]


@pytest.mark.parametrize("rate", [8, 128, 860])
def test_waits_one_conversion_period_then_polls_os_bit(rate):
    clock = FakeClock()
    chip, drv = setup(clock, channels=["0"], data_rate=rate)
    chip.clock_error = 1.09  # slow oscillator, still inside ±10 %
    chip.inputs[0] = 1.0
    with drv:
        start = clock.now
        assert drv.read()[0].value == pytest.approx(1.0, abs=2e-4)
    assert 1.09 / rate <= clock.now - start <= 1.2 / rate


def test_oscillator_far_out_of_spec_is_polled_until_done():
    clock = FakeClock()
    chip, drv = setup(clock, channels=["1"], data_rate=860)
    chip.clock_error = 2.5
    with drv:
        drv.read()
    assert len(clock.slept) > 1


def test_input_beyond_full_scale_raises():
    clock = FakeClock()
    chip, drv = setup(clock, channels=["0"], gain=1.024)
    chip.inputs[0] = 2.0
    with drv, pytest.raises(InvalidReading):
        drv.read()


def test_missing_adc_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        ADS1115(FakeSMBus(), 0x49).open()


@pytest.mark.parametrize(
    "options",
    [
        {"channels": ["4"]},
        {"channels": ["1-2"]},
        {"gain": 3.3},
        {"data_rate": 100},
        {"channels": []},
        {"address": 0x50},
    ],
)
def test_bad_options(options):
    with pytest.raises(ValueError):
        ADS1115(FakeSMBus(), **options)
