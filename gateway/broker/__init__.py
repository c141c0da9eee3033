"""The MQTT 3.1.1/5.0 broker: a pure, sans-IO core and thin asyncio glue around it.

How this package is laid out (one module per concern): `core` routes (sessions, subscriptions,
retained messages, wills), `connection` is one client's sans-IO protocol state machine, `session`
its queues and in-flight windows, `timers` and `sys_tree` the deadlines and `$SYS` figures, `trie`
and `retained` the subscription and retained stores, `local` / `local_link` the in-process clients,
`server` the asyncio listeners; `store/` is the durable store and `auth/` authentication,
authorisation and TLS, each a package of its own.

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.broker.core import Authenticator, Authorizer, BrokerCore
    from gateway.broker.local import LocalClient, LocalMessage, MessageHandler
    from gateway.broker.message import Delivery, Message
    from gateway.broker.server import Broker, ListenerSpec
    from gateway.broker.session import Session
    from gateway.broker.settings import NEVER_EXPIRES, BrokerSettings, QueueOverflow

__all__ = [
    "NEVER_EXPIRES",
    "Authenticator",
    "Authorizer",
    "Broker",
    "BrokerCore",
    "BrokerSettings",
    "Delivery",
    "ListenerSpec",
    "LocalClient",
    "LocalMessage",
    "Message",
    "MessageHandler",
    "QueueOverflow",
    "Session",
]

_HOMES = {
    "server": (
        "Broker",
        "ListenerSpec",
    ),
    "core": (
        "Authenticator",
        "Authorizer",
        "BrokerCore",
    ),
    "settings": (
        "NEVER_EXPIRES",
        "BrokerSettings",
        "QueueOverflow",
    ),
    "local": (
        "LocalClient",
        "LocalMessage",
        "MessageHandler",
    ),
    "message": (
        "Delivery",
        "Message",
    ),
    "session": ("Session",),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
