"""Fixtures shared by the store's integration tests (test_store_restart, test_store_own)."""

from tests.support.store_broker import brokers, db

__all__ = ["brokers", "db"]
