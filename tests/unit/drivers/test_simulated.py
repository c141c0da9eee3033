import itertools
import threading

import pytest

from drivers.base import DriverError
from drivers.simulated import PROFILES, Simulated

NOON_UTC = 1_717_243_200.0  # 2024-06-01T12:00:00Z


class Clock:
    def __init__(self, now: float = NOON_UTC) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def series(sensor, clock, steps, dt):
    out = []
    for _ in range(steps):
        out.append({r.quantity: r.value for r in sensor.read()})
        clock.now += dt
    return out


def test_same_seed_same_values_different_seed_different_values():
    a, b, c = (Simulated(["temperature", "humidity"], seed=s, clock=Clock()) for s in (1, 1, 2))
    assert a.read() == b.read()
    assert a.read() != c.read()


def test_every_quantity_stays_within_physical_limits_over_a_week():
    clock = Clock()
    sensor = Simulated(list(PROFILES), seed=7, clock=clock)
    for values in series(sensor, clock, 7 * 24 * 4, 900):
        for quantity, value in values.items():
            p = PROFILES[quantity]
            assert p.low <= value <= p.high, (quantity, value)


def test_units_and_types_follow_the_profiles():
    sensor = Simulated(["temperature", "co2", "motion"], seed=3, clock=Clock())
    assert sensor.quantities == (("temperature", "°C"), ("co2", "ppm"), ("motion", ""))
    temperature, co2, motion = sensor.read()
    assert isinstance(temperature.value, float) and temperature.unit == "°C"
    assert isinstance(co2.value, int) and co2.value >= 400
    assert isinstance(motion.value, bool)


def test_temperature_follows_a_daily_curve_warmer_afternoon_than_night():
    clock = Clock(NOON_UTC + 3 * 3600)  # 15:00, the peak
    afternoon = Simulated(["temperature"], seed=5, clock=clock).read()[0].value
    clock.now = NOON_UTC + 15 * 3600  # 03:00, the trough
    night = Simulated(["temperature"], seed=5, clock=clock).read()[0].value
    assert afternoon - night == pytest.approx(2 * PROFILES["temperature"].amplitude, abs=0.01)


def test_random_walk_moves_slowly_between_close_reads():
    clock = Clock()
    values = [
        v["temperature"]
        for v in series(Simulated(["temperature"], seed=11, clock=clock), clock, 60, 10)
    ]
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    assert max(steps) < 0.3  # 10 s apart: small steps
    assert len(set(values)) > 5  # but it does move


def test_states_flip_now_and_then():
    clock = Clock()
    values = [
        v["motion"] for v in series(Simulated(["motion"], seed=2, clock=clock), clock, 500, 60)
    ]
    flips = sum(a != b for a, b in itertools.pairwise(values))
    assert 20 < flips < 300  # 12 per hour over about 8 hours, give or take


def test_fail_first_then_recovers():
    sensor = Simulated(["pressure"], seed=1, fail_first=2, clock=Clock())
    for _ in range(2):
        with pytest.raises(DriverError, match="simulated read failure"):
            sensor.read()
    assert sensor.read()[0].quantity == "pressure"


def test_error_rate_one_always_fails_and_half_fails_about_half():
    with pytest.raises(OSError):
        Simulated(error_rate=1.0, seed=1).read()
    sensor = Simulated(error_rate=0.5, seed=4, clock=Clock())
    failures = 0
    for _ in range(400):
        try:
            sensor.read()
        except DriverError:
            failures += 1
    assert 150 < failures < 250


def test_a_hung_read_is_released_by_close():
    sensor = Simulated(hang_rate=1.0, hang_seconds=30, seed=1)
    sensor.open()
    errors = []

    def read():
        try:
            sensor.read()
        except DriverError as exc:
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(0.05)
    assert thread.is_alive()  # hanging
    sensor.close()
    thread.join(2)
    assert not thread.is_alive() and "hung" in str(errors[0])


@pytest.mark.parametrize(
    "args, options, message",
    [
        ((["temprature"],), {}, "unknown or repeated simulated quantities"),
        ((["co2", "co2"],), {}, "repeated"),
        (([],), {}, "non-empty"),
        (("temperature",), {}, "non-empty list"),
        ((), {"error_rate": 1.5}, "error_rate must be between 0 and 1"),
        ((), {"error_rate": 0.6, "hang_rate": 0.6}, "must not exceed 1"),
        ((), {"hang_seconds": 0}, "hang_seconds"),
    ],
)
def test_bad_options_are_rejected(args, options, message):
    with pytest.raises(ValueError, match=message):
        Simulated(*args, **options)
