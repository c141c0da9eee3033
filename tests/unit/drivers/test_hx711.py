"""HX711 bit-banged against a fake that shifts out bits on PD_SCK edges and honours table 3."""

from __future__ import annotations

import itertools

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.base import DriverError, InvalidReading
from drivers.gpio.hx711 import HX711, to_signed
from tests.fakes.hx711 import FakeHX711


def setup(**options):
    factory = MockFactory()
    fake = FakeHX711(factory, dout=5, sck=6)
    ticks = itertools.count()
    drv = HX711(
        pin=5,
        clock_pin=6,
        pin_factory=factory,
        sleep=lambda s: fake.tick(),
        monotonic=lambda: next(ticks) * 0.001,
        **options,
    )
    return fake, drv


def test_twos_complement_24_bit():
    assert (to_signed(0x7FFFFF), to_signed(0x800000), to_signed(0xFFFFFF)) == (
        8388607,
        -8388608,
        -1,
    )


def test_reset_then_settling_conversion_discarded_then_weight():
    fake, drv = setup(offset=23_456, scale=50.0, unit="g")
    fake.inputs["A"] = 30_000  # x 4 at gain 128 (fake's code = input x gain/32)
    with drv:
        assert fake.resets == 1
        values = {r.quantity: r.value for r in drv.read()}
    assert values == {"weight": (120_000 - 23_456) / 50.0, "raw": 120_000}


@pytest.mark.parametrize("channel,gain,factor", [("A", 128, 4), ("A", 64, 2), ("B", 32, 1)])
def test_extra_pulses_select_the_gain_table_3(channel, gain, factor):
    fake, drv = setup(channel=channel, gain=gain)
    fake.inputs = {"A": 1000, "B": -700}
    with drv:
        raw = {r.quantity: r.value for r in drv.read()}["raw"]
    assert fake.gain == (channel, gain)
    assert raw == fake.inputs[channel] * factor


def test_median_rejects_one_garbled_conversion():
    fake, drv = setup(samples=3)
    drv.open()
    fake.queue = [4000, 3_000_000, 4004]  # one read garbled (the chip powered down mid-read)
    assert {r.quantity: r.value for r in drv.read()}["raw"] == 4004


def test_saturated_code_is_a_failed_read():
    fake, drv = setup()
    drv.open()
    fake.queue = [0x7FFFFF]
    with pytest.raises(InvalidReading, match="saturated"):
        drv.read()


def test_never_ready_is_a_failed_read():
    fake, drv = setup()
    fake.ready = False
    with pytest.raises(DriverError, match="stayed high"):
        drv.open()
