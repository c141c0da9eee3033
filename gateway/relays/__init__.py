"""Relays and outputs controlled through MQTT command topics, with safety rules.

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.relays.config import OutputConfig, RelayList
    from gateway.relays.controller import RelayService
    from gateway.relays.hardware import RelaySetupError

__all__ = [
    "OutputConfig",
    "RelayList",
    "RelayService",
    "RelaySetupError",
]

_HOMES = {
    "controller": ("RelayService",),
    "hardware": ("RelaySetupError",),
    "config": (
        "OutputConfig",
        "RelayList",
    ),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
