"""Run a real broker (our asyncio server) on 127.0.0.1 in a background thread for socket tests.

Tests then talk to it with real paho-mqtt clients or raw sockets, exactly as a LAN client would.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

from gateway.broker.server import Broker, ListenerSpec
from gateway.broker.settings import BrokerSettings


class BrokerThread:
    def __init__(
        self,
        settings: BrokerSettings | None = None,
        listeners: list[ListenerSpec] | None = None,
        **kwargs: Any,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="broker", daemon=True)
        self._make = lambda: Broker(
            settings or BrokerSettings(sys_interval=0),
            listeners or [ListenerSpec("default", "127.0.0.1", 0)],
            **kwargs,
        )
        self.broker: Broker | None = None

    def start(self) -> BrokerThread:
        self._thread.start()

        async def _start() -> Broker:
            broker = self._make()
            await broker.start()
            return broker

        self.broker = self.call(_start())
        return self

    @property
    def port(self) -> int:
        assert self.broker is not None
        return self.broker.addresses[0][1]

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the broker's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run a plain function on the broker's loop (to inspect or poke the core safely)."""
        future: concurrent.futures.Future = concurrent.futures.Future()

        def _run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(_run)
        return future.result(timeout)

    def stop(self) -> None:
        if self.broker is not None:
            self.call(self.broker.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
