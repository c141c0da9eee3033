"""SGP40 and SGP30 against fakes, with Sensirion's real VOC algorithm and compensation."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError
from drivers.i2c.sgp import (
    SGP30,
    SGP40,
    absolute_humidity,
    fixed_8_8,
    humidity_ticks,
    temperature_ticks,
)
from tests.fakes.chips.sgp import FakeSGP
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, chip="sgp40"):
    bus = FakeSMBus()
    fake = bus.attach(0x59 if chip == "sgp40" else 0x58, FakeSGP(clock, chip))
    cls = SGP40 if chip == "sgp40" else SGP30
    extra = {} if chip == "sgp40" else {"monotonic": clock.monotonic}
    return fake, cls(bus, sleep=clock.sleep, **extra)


def test_compensation_ticks_sgp40_table():
    assert (humidity_ticks(50), temperature_ticks(25)) == (0x8000, 0x6666)  # the defaults
    assert (humidity_ticks(0), humidity_ticks(100)) == (0, 0xFFFF)
    assert (temperature_ticks(-45), temperature_ticks(130)) == (0, 0xFFFF)


def test_sgp30_absolute_humidity_fixed_point():
    assert fixed_8_8(15.5) == 0x0F80
    assert absolute_humidity(25.0, 50.0) == pytest.approx(11.5, abs=0.1)  # the 23 g/m³ at 100 %


def test_sgp40_reports_nothing_during_the_algorithm_blackout_then_an_index():
    clock = FakeClock()
    fake, drv = setup(clock)
    with drv:
        results = [drv.read() for _ in range(60)]
    first = next(i for i, r in enumerate(results) if r)
    assert 40 <= first <= 50  # "the first 45 samples"
    assert all(
        r and r[0].quantity == "voc_index" and 0 < r[0].value <= 500 for r in results[first:]
    )
    assert fake.heater_off  # close() turned it off


def test_sgp40_sends_defaults_then_the_compensation_it_was_given():
    clock = FakeClock()
    fake, drv = setup(clock)
    drv.open()
    drv.read()
    drv.compensate(31.2, 64.0)
    drv.read()
    assert fake.compensation == [(0x8000, 0x6666), (humidity_ticks(64.0), temperature_ticks(31.2))]


def test_sgp40_self_test_failure():
    clock = FakeClock()
    fake, drv = setup(clock)
    fake.self_test = 0x4B00
    with pytest.raises(DriverError, match="self-test"):
        drv.open()


def test_sgp30_hides_the_fixed_warm_up_values_and_sets_humidity_once():
    clock = FakeClock()
    fake, drv = setup(clock, "sgp30")
    drv.open()
    drv.compensate(22.0, 40.0)
    assert drv.read() == []  # 400 ppm / 0 ppb: warming up
    clock.advance(15)
    assert [(r.quantity, r.value) for r in drv.read()] == [("eco2", 612), ("tvoc", 87)]
    assert fake.absolute_humidity == fixed_8_8(absolute_humidity(22.0, 40.0))
    fake.absolute_humidity = None
    drv.read()
    assert fake.absolute_humidity is None  # unchanged: not sent again


def test_sgp30_wrong_product_and_missing():
    clock = FakeClock()
    fake, drv = setup(clock, "sgp30")
    fake.features = 0x1020
    with pytest.raises(DriverError, match="feature set"):
        drv.open()
    with pytest.raises(DeviceNotFound):
        SGP40(FakeSMBus(), sleep=clock.sleep).open()
