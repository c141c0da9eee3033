"""HC-SR04 against a fake module on mock pins whose edges carry a controlled clock."""

from __future__ import annotations

import pytest

from drivers.base import DriverError, InvalidReading
from drivers.gpio.hcsr04 import HCSR04, speed_of_sound
from tests.fakes.hcsr04 import FakeHCSR04
from tests.fakes.ticked_gpio import TickedMockFactory


def setup(**options):
    factory = TickedMockFactory()
    fake = FakeHCSR04(
        factory, echo=24, trigger=23, speed=speed_of_sound(options.get("temperature", 20.0))
    )
    slept: list[float] = []
    drv = HCSR04(pin=24, trigger_pin=23, pin_factory=factory, sleep=slept.append, **options)
    return fake, drv, slept


def test_round_trip_time_to_distance():
    fake, drv, slept = setup()
    fake.distance = 1.234
    with drv:
        assert drv.read()[0].value == pytest.approx(1.234, abs=1e-6)
    assert fake.pings == 3
    assert slept == [10e-6, 0.060, 10e-6, 0.060, 10e-6]


def test_temperature_sets_the_speed_of_sound():
    assert speed_of_sound(0) == pytest.approx(331.3)
    fake, drv, _ = setup(temperature=-10.0)
    fake.distance = 0.5
    with drv:
        assert drv.read()[0].value == pytest.approx(0.5, abs=1e-6)


def test_median_ignores_one_lost_echo():
    fake, drv, _ = setup(samples=3)
    fake.queue = [0.80, None, 0.82]
    with drv:
        assert drv.read()[0].value == pytest.approx(0.81, abs=1e-6)


def test_no_echo_is_a_failed_read_not_a_clamped_value():
    fake, drv, _ = setup(max_distance=2.0)
    fake.distance = None
    with drv, pytest.raises(InvalidReading, match="no echo"):
        drv.read()
    fake.distance = 3.0  # beyond max_distance
    with drv, pytest.raises(InvalidReading, match="outside"):
        drv.read()


def test_unconnected_echo_pin():
    fake, drv, _ = setup(samples=1)
    fake.connected = False
    with drv, pytest.raises(DriverError, match="never"):
        drv.read()


def test_bad_options():
    with pytest.raises(ValueError):
        HCSR04(pin=4, trigger_pin=4)
    with pytest.raises(ValueError):
        HCSR04(pin=4, trigger_pin=5, max_distance=5)
