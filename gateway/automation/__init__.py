"""Local automation: rules that switch relays and publish messages inside the gateway, with no
client connected and every bridge down.

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.automation.schedule_service import ScheduleService
    from gateway.automation.service import RuleService

__all__ = [
    "RuleService",
    "ScheduleService",
]

_HOMES = {
    "service": ("RuleService",),
    "schedule_service": ("ScheduleService",),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
