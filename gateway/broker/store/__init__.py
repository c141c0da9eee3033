"""The broker's durable store: what survives a restart, a kill -9 and a power cut.

How this package is laid out (one module per concern):

    persistence   the hook the pure core calls on every durable state change (`Persistence`,
                  `NULL_PERSISTENCE`, the acknowledgement gate `AckGate`); no I/O
    sqlite        `SqliteStore`: SQLite in WAL mode on its own thread, group commit, limits,
                  failed-commit retry; `StoreSettings`, `open_store`
    ops           the SQL of each operation the store thread runs in a batch
    restore       loading the store into the core at start-up
    schema        the schema, its version and migration; opening and quarantining the file
    salvage       row-by-row recovery of a damaged file

The names below are the public API. They are loaded on first use, so the core importing
`persistence` does not load sqlite3 and the store's thread machinery: a broker without a store
never pays for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.broker.store.persistence import NULL_PERSISTENCE, AckGate, Gate, Persistence
    from gateway.broker.store.schema import SCHEMA_VERSION, StoreDamaged, StoreUnusable
    from gateway.broker.store.sqlite import SqliteStore, StoreSettings, open_store

__all__ = [
    "NULL_PERSISTENCE",
    "SCHEMA_VERSION",
    "AckGate",
    "Gate",
    "Persistence",
    "SqliteStore",
    "StoreDamaged",
    "StoreSettings",
    "StoreUnusable",
    "open_store",
]

_HOME = {
    "NULL_PERSISTENCE": "persistence",
    "AckGate": "persistence",
    "Gate": "persistence",
    "Persistence": "persistence",
    "SCHEMA_VERSION": "schema",
    "StoreDamaged": "schema",
    "StoreUnusable": "schema",
    "SqliteStore": "sqlite",
    "StoreSettings": "sqlite",
    "open_store": "sqlite",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
