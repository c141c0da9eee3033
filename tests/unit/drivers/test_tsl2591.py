"""TSL2591 against a fake that integrates both channels at its gain and integration time."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.tsl2591 import TSL2591, lux
from tests.fakes.chips.tsl2591 import FakeTSL2591
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x29, FakeTSL2591(clock))
    return chip, TSL2591(bus, sleep=clock.sleep, **options)


def test_lux_equation_with_the_device_factor():
    # CPL = 200 ms x 25 / 408; (1000 - 200) x (1 - 0.2) / CPL
    assert lux(1000, 200, 25.0, 200) == pytest.approx(800 * 0.8 / (200 * 25 / 408))
    assert lux(500, 600, 25.0, 200) == 0.0 and lux(0, 0, 1.0, 100) == 0.0


@pytest.mark.parametrize("full,gain", [(0.001, "max"), (10.0, "medium"), (300.0, "low")])
def test_auto_gain_settles_where_the_channels_fit(full, gain):
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.full, chip.ir = full, full / 5
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert drv.gain == gain
    assert values["full_spectrum"] < 65535 and values["illuminance"] == pytest.approx(
        lux(
            values["full_spectrum"],
            values["infrared"],
            {"max": 9876.0, "medium": 25.0, "low": 1.0}[gain],
            200,
        )
    )


def test_saturation_at_a_fixed_gain_and_the_100_ms_full_scale():
    clock = FakeClock()
    chip, drv = setup(clock, gain="high", integration_time=100)
    chip.full = 1.0  # 42,800 counts > 36,863 at 100 ms
    with drv, pytest.raises(InvalidReading, match="saturated"):
        drv.read()


def test_wrong_id_and_missing():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.regs[0x12] = 0x51
    with pytest.raises(DeviceNotFound, match="0x51"):
        drv.open()
    with pytest.raises(DeviceNotFound):
        TSL2591(FakeSMBus(), sleep=clock.sleep).open()
