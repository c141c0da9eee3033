"""The web surface: one HTTP listener (h11) serving the status page, the JSON API, /metrics and MQTT
over WebSockets (wsproto).

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing; gateway.web.server does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.web.config import WebConfig
    from gateway.web.server import WebServer

__all__ = [
    "WebConfig",
    "WebServer",
]

_HOMES = {
    "server": ("WebServer",),
    "config": ("WebConfig",),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
