"""The durable cloud bridge: a persistent session of our own broker forwarded to a cloud broker.

`config` (models and profile rules), `mapping` (topic remap, pure), `backoff` / `health` / `limits`
(pure, time passed in), `azure` (SAS tokens), `tls` (SSLContext), `cloud` (the only paho importer),
`forwarder` (the session's Link), `service` (one bridge: lifecycle, reconnects, metrics).

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.bridge.config import BridgeList
    from gateway.bridge.service import BridgeService, LinkState, start_bridges

__all__ = [
    "BridgeList",
    "BridgeService",
    "LinkState",
    "start_bridges",
]

_HOMES = {
    "service": (
        "BridgeService",
        "LinkState",
        "start_bridges",
    ),
    "config": ("BridgeList",),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
