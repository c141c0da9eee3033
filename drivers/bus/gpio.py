"""GPIO pin factory selection.

Every GPIO driver takes a gpiozero pin factory in its constructor (`pin_factory=`), never the global
`Device.pin_factory`. This module picks that factory:

* `make_factory("mock")` — gpiozero's MockFactory, for the no-hardware demo and tests;
* `make_factory("lgpio" | "rpigpio" | "pigpio" | "native")` — that factory, by its gpiozero name;
* `make_factory("auto")` / `default_factory()` — lgpio on a Raspberry Pi 5 or on Raspberry Pi OS
  Bookworm (the only factory that works on a Pi 5, whose GPIO sits behind the RP1 chip), otherwise
  gpiozero's own default order (honouring GPIOZERO_PIN_FACTORY).

The platform check is a pure function of two file contents, so it is tested without a Pi.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.base import DriverError

FACTORY_NAMES = ("auto", "mock", "lgpio", "rpigpio", "pigpio", "native")
MODEL_PATH = Path("/proc/device-tree/model")
OS_RELEASE_PATH = Path("/etc/os-release")


class PinFactoryError(DriverError, RuntimeError):
    """The requested pin factory cannot be loaded (unknown name, missing library, wrong platform)."""


def needs_lgpio(model: str, os_release: str) -> bool:
    """True on a Raspberry Pi 5 (device-tree model) or on Debian/Raspberry Pi OS Bookworm, where
    RPi.GPIO no longer works and gpiozero must use lgpio."""
    if "Raspberry Pi 5" in model:
        return True
    fields = dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line)
    return (
        fields.get("VERSION_CODENAME", "").strip().strip('"') == "bookworm" and "Raspberry" in model
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").replace("\x00", "")
    except OSError:
        return ""


def make_factory(name: str = "auto") -> Any:
    """A gpiozero pin factory by name (see FACTORY_NAMES)."""
    if name not in FACTORY_NAMES:
        raise PinFactoryError(
            f"unknown GPIO pin factory {name!r}; expected one of {', '.join(FACTORY_NAMES)}"
        )
    if name == "auto":
        return default_factory()
    # imported here: importlib.metadata costs about 1.5 MB of RSS that only this look-up needs
    from importlib.metadata import entry_points

    entry = next(
        (ep for ep in entry_points(group="gpiozero_pin_factories") if ep.name == name), None
    )
    if entry is None:
        raise PinFactoryError(
            f"gpiozero has no pin factory named {name!r} (is gpiozero installed?)"
        )
    try:
        return entry.load()()
    except Exception as exc:  # gpiozero raises many kinds; the operator needs one clear line
        raise PinFactoryError(f"cannot start the {name!r} GPIO pin factory: {exc}") from exc


def default_factory(model_path: Path = MODEL_PATH, os_release_path: Path = OS_RELEASE_PATH) -> Any:
    """lgpio on a Pi 5 / Bookworm Pi, otherwise gpiozero's default choice."""
    if needs_lgpio(_read(model_path), _read(os_release_path)):
        return make_factory("lgpio")
    try:
        from gpiozero import Device
    except ImportError as exc:
        raise PinFactoryError("GPIO needs gpiozero: pip install 'pi-edge-gateway[pi]'") from exc
    try:
        return Device._default_pin_factory()  # gpiozero's own order: lgpio, rpigpio, pigpio, native
    except Exception as exc:
        raise PinFactoryError(f"no GPIO pin factory works on this machine: {exc}") from exc
