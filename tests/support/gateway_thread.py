"""The whole gateway (gateway.app.Gateway: broker, store, relays, sensors, bridges) in this
process, on its own event loop in a background thread: tests reach its objects (a relay's mock
pins, a bridge's session) and run a reload on its loop, while paho clients talk to it over
loopback sockets as LAN clients do."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.config import GatewayConfig, load


def load_toml(tmp_path: Path, text: str, name: str = "gateway.toml") -> GatewayConfig:
    path = tmp_path / name
    path.write_text(text)
    return load(path)


class GatewayThread:
    def __init__(self, config: GatewayConfig, config_path: Path | None = None) -> None:
        """With `config_path`, SIGHUP's reload (gateway.reloader) reads that file."""
        self.config = config
        self.config_path = config_path
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)
        self.gateway: Gateway | None = None

    def start(self) -> GatewayThread:
        self._thread.start()

        async def _start() -> Gateway:
            gateway = Gateway(self.config, config_path=self.config_path)
            await gateway.start()
            return gateway

        self.gateway = self.call(_start())
        return self

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run a plain function on the gateway's loop (to read its state safely)."""

        async def _run() -> Any:
            return fn()

        return self.call(_run(), timeout)

    def port(self, listener: str) -> int:
        """The port a TCP listener of the broker is bound to (a configured port 0 resolved)."""
        gateway = self.gateway
        assert gateway is not None
        return self.run(lambda: gateway.broker.servers[listener].sockets[0].getsockname()[1])

    def services(self, kind: type) -> list[Any]:
        assert self.gateway is not None
        return [s for s in self.gateway.services if isinstance(s, kind)]

    def stop(self) -> None:
        if self.gateway is not None:
            self.call(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
