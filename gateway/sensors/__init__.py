"""Sensors: config (one union of every driver), registry (config -> driver), scheduler (one task per
sensor), payloads, topics and Home Assistant discovery.

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.sensors.clock import Clock, SystemClock
    from gateway.sensors.config import HomeAssistantConfig, SensorList
    from gateway.sensors.registry import SensorSetupError
    from gateway.sensors.scheduler import SensorService
    from gateway.sensors.topics import SensorTopics, topics_for

__all__ = [
    "Clock",
    "HomeAssistantConfig",
    "SensorList",
    "SensorService",
    "SensorSetupError",
    "SensorTopics",
    "SystemClock",
    "topics_for",
]

_HOMES = {
    "scheduler": ("SensorService",),
    "registry": ("SensorSetupError",),
    "config": (
        "HomeAssistantConfig",
        "SensorList",
    ),
    "clock": (
        "Clock",
        "SystemClock",
    ),
    "topics": (
        "SensorTopics",
        "topics_for",
    ),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
