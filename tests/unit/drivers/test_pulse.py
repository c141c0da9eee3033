import pytest

from drivers.base import DriverError, Reading
from drivers.gpio.pulse import PulseCounter
from tests.fakes.ticked_gpio import TickedMockFactory

PIN = 22


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def factory():
    f = TickedMockFactory()
    yield f
    f.reset()


def pulses(factory, pin, n, *, low=0.01, high=0.09):
    for _ in range(n):
        pin.drive_low()
        factory.advance(low)
        pin.drive_high()
        factory.advance(high)


def test_counts_pulses_and_scales_total_and_rate(factory):
    clock = Clock()
    meter = PulseCounter(
        PIN,
        factor=0.5,
        total_quantity="water",
        total_unit="L",
        rate_quantity="flow",
        rate_unit="L/min",
        rate_per=60,
        clock=clock,
        pin_factory=factory,
    )
    meter.open()
    pin = factory.pin(PIN)
    pulses(factory, pin, 12)
    clock.now += 6  # 12 pulses of 0.5 L in 6 s = 1 L/s = 60 L/min
    assert meter.read() == [
        Reading("count", 12),
        Reading("water", 6.0, "L"),
        Reading("flow", 60.0, "L/min"),
    ]
    pulses(factory, pin, 3)
    clock.now += 9  # 1.5 L in 9 s = 10 L/min
    assert meter.read() == [
        Reading("count", 15),
        Reading("water", 7.5, "L"),
        Reading("flow", pytest.approx(10.0), "L/min"),
    ]
    clock.now += 10
    assert meter.read()[2] == Reading("flow", 0.0, "L/min")
    meter.close()


def test_energy_meter_rate_is_power(factory):
    clock = Clock()  # 1000 imp/kWh = 1 Wh per pulse; 10 pulses in 36 s = 10 Wh / 0.01 h = 1000 W
    meter = PulseCounter(
        PIN,
        factor=1,
        total_quantity="energy",
        total_unit="Wh",
        rate_quantity="power",
        rate_unit="W",
        rate_per=3600,
        clock=clock,
        pin_factory=factory,
    )
    meter.open()
    pulses(factory, factory.pin(PIN), 10)
    clock.now += 36
    assert meter.read()[1:] == [
        Reading("energy", 10, "Wh"),
        Reading("power", pytest.approx(1000.0), "W"),
    ]
    meter.close()


def test_contact_bounce_is_not_counted(factory):
    meter = PulseCounter(PIN, bounce_time=0.02, clock=Clock(), pin_factory=factory)
    meter.open()
    pin = factory.pin(PIN)
    for _ in range(4):
        pin.drive_low()
        factory.advance(0.001)
        pin.drive_high()  # bounce inside the window
        factory.advance(0.001)
        pin.drive_low()
        factory.advance(0.05)
        pin.drive_high()
        factory.advance(0.05)
    assert meter.read()[0] == Reading("count", 4)
    assert meter.ignored_edges == 8
    meter.close()


def test_active_high_counts_rising_edges(factory):
    meter = PulseCounter(PIN, pull="down", clock=Clock(), pin_factory=factory)
    meter.open()
    pin = factory.pin(PIN)
    pin.drive_high()
    pin.drive_low()
    pin.drive_high()
    assert meter.read()[0] == Reading("count", 2)
    meter.close()


def test_read_at_the_same_instant_keeps_the_last_rate(factory):
    clock = Clock()
    meter = PulseCounter(PIN, clock=clock, pin_factory=factory)
    meter.open()
    pulses(factory, factory.pin(PIN), 2)
    clock.now += 1
    assert meter.read()[2].value == 2.0
    assert meter.read()[2].value == 2.0
    meter.close()


def test_restored_count_continues_and_the_first_rate_counts_only_new_pulses(factory):
    clock = Clock()
    meter = PulseCounter(PIN, factor=0.5, clock=clock, pin_factory=factory)
    meter.restore(1000)  # 500 L before the restart
    meter.open()
    pulses(factory, factory.pin(PIN), 4)
    clock.now += 2
    assert meter.read() == [
        Reading("count", 1004),
        Reading("total", 502.0),
        Reading("rate", 1.0, "/s"),
    ]
    assert meter.count == 1004
    meter.close()
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="whole number"):
            meter.restore(bad)


def test_read_before_open_is_a_clear_error(factory):
    with pytest.raises(DriverError, match="not open"):
        PulseCounter(PIN, pin_factory=factory).read()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"factor": 0}, "factor must be a positive number"),
        ({"factor": float("nan")}, "factor"),
        ({"rate_per": -60}, "rate_per"),
        ({"total_quantity": "rate"}, "distinct"),
        ({"pull": "high"}, "pull"),
    ],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        PulseCounter(PIN, **options)
