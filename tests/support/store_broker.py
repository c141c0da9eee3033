"""A real broker with a durable store in a background thread, restartable on the same store file.

`StoreBroker(path, ...).start()` opens the store, restores it and listens on an ephemeral port on
127.0.0.1; `stop()` shuts down in the gateway's order (listeners, connections, last commit). Start
another on the same path to test what survives a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.broker.server import Broker, ListenerSpec
from gateway.broker.settings import BrokerSettings
from gateway.broker.store import SqliteStore, StoreSettings, open_store


class StoreBroker:
    def __init__(
        self, path: Path, settings: BrokerSettings | None = None, clock: Any = None, **store: Any
    ) -> None:
        self.settings = settings or BrokerSettings(sys_interval=0)
        self.clock = clock
        self.store_settings = StoreSettings(Path(path), **store)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="broker", daemon=True)
        self.broker: Broker | None = None
        self.store: SqliteStore | None = None

    def start(self) -> StoreBroker:
        self._thread.start()

        async def _start() -> None:
            kwargs = {"clock": self.clock} if self.clock is not None else {}
            self.broker = Broker(self.settings, [ListenerSpec("default", "127.0.0.1", 0)], **kwargs)
            self.store = await open_store(self.broker, self.store_settings)
            await self.broker.start()

        self.call(_start())
        return self

    @property
    def port(self) -> int:
        assert self.broker is not None
        return self.broker.addresses[0][1]

    @property
    def core(self) -> Any:
        assert self.broker is not None
        return self.broker.core

    def call(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Any, timeout: float = 10.0) -> Any:
        async def _run() -> Any:
            return fn()

        return self.call(_run(), timeout)

    def sys(self, name: str) -> Any:
        assert self.broker is not None
        broker = self.broker
        return self.run(lambda: self.core.sys_values(broker.clock())[name])

    def rows(self, sql: str, *params: object, timeout: float = 10.0) -> list[tuple]:
        """Rows of `sql` read through the store's own connection (the running store holds the
        file's exclusive lock: a second sqlite3 connection would get "database is locked")."""
        assert self.store is not None
        return self.call(asyncio.wait_for(self.store.query(sql, *params), timeout), timeout + 5)

    def committed(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is committed (a bounded wait on the store)."""
        assert self.store is not None
        self.call(asyncio.wait_for(self.store.wait_committed(), timeout), timeout + 5)

    def stop(self) -> None:
        async def _stop() -> None:
            assert self.broker is not None and self.store is not None
            await self.broker.stop()
            await self.store.close()

        if self.broker is not None:
            self.call(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def replace(settings: BrokerSettings, **changes: Any) -> BrokerSettings:
    return dataclasses.replace(settings, **changes)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The store file of a test's brokers."""
    return tmp_path / "broker.db"


@pytest.fixture
def brokers():  # a factory
    """`brokers(path, **store_settings)` starts a StoreBroker; every one started is stopped after
    the test."""
    started: list[StoreBroker] = []

    def _start(path: Path, **kwargs: Any) -> StoreBroker:
        b = StoreBroker(path, **kwargs).start()
        started.append(b)
        return b

    yield _start
    for b in started:
        if b.broker is not None and not b.loop.is_closed():
            b.stop()
