from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.base import DriverError, Reading
from drivers.bus.gpio import PinFactoryError, default_factory, make_factory, needs_lgpio
from drivers.gpio.inputs import DigitalInput
from tests.fakes.ticked_gpio import TickedMockFactory

PIN = 17


@pytest.fixture
def factory():
    f = TickedMockFactory()
    yield f
    f.reset()


def opened(factory, **options):
    events: list[Reading] = []
    sensor = DigitalInput(PIN, pin_factory=factory, **options)
    sensor.set_listener(events.append)
    sensor.open()
    return sensor, events, factory.pin(PIN)


def test_pull_up_contact_is_active_low_and_reports_closing_at_once(factory):
    sensor, events, pin = opened(factory, kind="contact", pull="up")
    assert sensor.read() == [Reading("contact", False)]  # pulled high: open
    pin.drive_low()
    assert events == [Reading("contact", True)]
    pin.drive_high()
    assert events == [Reading("contact", True), Reading("contact", False)]
    assert sensor.read() == [Reading("contact", False)]
    sensor.close()


def test_pull_down_pir_is_active_high(factory):
    sensor, events, pin = opened(factory, kind="pir", pull="down")
    assert sensor.quantities == (("motion", ""),)
    pin.drive_high()
    assert events == [Reading("motion", True)]
    assert sensor.read() == [Reading("motion", True)]
    sensor.close()


def test_explicit_active_high_with_pull_up_inverts_the_default(factory):
    sensor, events, pin = opened(factory, kind="button", pull="up", active_low=False)
    assert sensor.read() == [Reading("pressed", True)]
    pin.drive_low()
    assert events == [Reading("pressed", False)]
    sensor.close()


def test_floating_input_without_pull(factory):
    sensor, events, pin = opened(factory, kind="reed", pull="none")
    pin.drive_high()
    pin.drive_low()
    assert events == [Reading("contact", True), Reading("contact", False)]
    sensor.close()


def test_bounces_within_bounce_time_are_ignored(factory):
    sensor, events, pin = opened(factory, kind="button", bounce_time=0.05)
    pin.drive_low()  # press
    factory.advance(0.002)
    pin.drive_high()  # bounce
    factory.advance(0.002)
    pin.drive_low()  # bounce
    assert events == [Reading("pressed", True)]
    assert sensor.ignored_edges == 2
    factory.advance(0.2)
    pin.drive_high()  # release, well after the bounce window
    assert events == [Reading("pressed", True), Reading("pressed", False)]
    sensor.close()


def test_a_glitch_hidden_by_debounce_is_repaired_by_read(factory):
    sensor, events, pin = opened(factory, kind="contact", bounce_time=0.05)
    pin.drive_low()
    factory.advance(0.01)
    pin.drive_high()  # real release, but inside the window: no event
    assert events == [Reading("contact", True)]
    assert sensor.read() == [Reading("contact", False)]
    factory.advance(1)
    pin.drive_low()
    assert events[-1] == Reading("contact", True)
    sensor.close()


def test_no_events_after_close_and_pin_is_released(factory):
    sensor, events, pin = opened(factory)
    sensor.close()
    pin.drive_low()
    assert events == []
    again = DigitalInput(PIN, pin_factory=factory)  # the pin reservation was released
    again.open()
    again.close()


def test_read_before_open_is_a_clear_error(factory):
    with pytest.raises(DriverError, match="not open"):
        DigitalInput(PIN, pin_factory=factory).read()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kind": "doorbell"}, "kind must be one of"),
        ({"pull": "sideways"}, "pull must be one of"),
        ({"bounce_time": 0}, "bounce_time"),
        ({"bounce_time": -1}, "bounce_time"),
    ],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        DigitalInput(PIN, pin_factory=MockFactory(), **options)


def test_bad_pin_is_rejected():
    with pytest.raises(ValueError, match="GPIO pin"):
        DigitalInput(None, pin_factory=MockFactory())


def test_pin_factory_by_name():
    assert isinstance(make_factory("mock"), MockFactory)
    with pytest.raises(PinFactoryError, match="unknown GPIO pin factory 'gpio9'"):
        make_factory("gpio9")


@pytest.mark.parametrize(
    "model, os_release, expected",
    [
        ("Raspberry Pi 5 Model B Rev 1.0\x00", "VERSION_CODENAME=bookworm", True),
        ("Raspberry Pi 4 Model B Rev 1.4", 'VERSION_CODENAME="bookworm"\nID=debian', True),
        ("Raspberry Pi 4 Model B Rev 1.4", "VERSION_CODENAME=bullseye", False),
        ("", "VERSION_CODENAME=bookworm", False),  # a Debian PC: gpiozero's default
    ],
)
def test_lgpio_is_chosen_on_pi5_and_bookworm(model, os_release, expected):
    assert needs_lgpio(model, os_release) is expected


def test_default_factory_on_a_pi5_without_lgpio_is_a_clear_error(tmp_path: Path, monkeypatch):
    model = tmp_path / "model"
    model.write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    release = tmp_path / "os-release"
    release.write_text("VERSION_CODENAME=bookworm\n")
    try:
        import lgpio  # noqa: F401
    except ImportError:
        with pytest.raises(PinFactoryError, match="lgpio"):
            default_factory(model, release)
    else:  # pragma: no cover - only where lgpio is installed
        with pytest.raises(PinFactoryError):
            default_factory(model, release)  # lgpio without /dev/gpiochip fails loudly too


def test_default_factory_off_pi_honours_gpiozero_env(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert isinstance(default_factory(tmp_path / "none", tmp_path / "none"), MockFactory)
