"""Rotary encoder on gpiozero's mock pins: quadrature edges in, steps out, position kept."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.base import DriverError
from drivers.gpio.encoder import RotaryEncoder


def turn(factory, clicks):
    a, b = factory.pin(5), factory.pin(6)
    first, second = (a, b) if clicks > 0 else (b, a)
    for _ in range(abs(clicks)):
        first.drive_low()
        second.drive_low()
        first.drive_high()
        second.drive_high()


def test_steps_both_ways_and_the_listener_sees_each():
    factory = MockFactory()
    drv = RotaryEncoder(pin=5, pin_b=6, pin_factory=factory)
    seen = []
    drv.set_listener(lambda r: seen.append(r.value))
    with drv:
        turn(factory, 4)
        turn(factory, -6)
        assert drv.read()[0].value == -2
    assert seen == [1, 2, 3, 4, 3, 2, 1, 0, -1, -2]


def test_restore_and_reopen_keep_the_position():
    factory = MockFactory()
    drv = RotaryEncoder(pin=5, pin_b=6, pin_factory=factory)
    drv.restore(40)
    drv.open()
    turn(factory, 3)
    assert drv.count == 43
    drv.close()
    assert drv.count == 43
    drv.open()
    turn(factory, -1)
    assert drv.read()[0].value == 42


def test_not_open_and_bad_options():
    with pytest.raises(DriverError):
        RotaryEncoder(pin=5, pin_b=6, pin_factory=MockFactory()).read()
    with pytest.raises(ValueError):
        RotaryEncoder(pin=5, pin_b=5)
