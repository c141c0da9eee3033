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

The names in `__all__` are the public API. They are loaded on first use (gateway.lazyexports),
so the core importing `persistence` does not load sqlite3 and the store's thread machinery: a
broker without a store never pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

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

_HOMES = {
    "persistence": (
        "NULL_PERSISTENCE",
        "AckGate",
        "Gate",
        "Persistence",
    ),
    "schema": (
        "SCHEMA_VERSION",
        "StoreDamaged",
        "StoreUnusable",
    ),
    "sqlite": (
        "SqliteStore",
        "StoreSettings",
        "open_store",
    ),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
