"""Our broker with one cloud bridge, in a thread, for integration tests against a real Mosquitto.

Waits are event-driven: the bridge publishes its state on local retained topics, and `wait_state`
subscribes a paho client to them; counts are read on the broker's loop.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway.bridge.config import BridgeConfig
from gateway.bridge.service import BridgeService
from gateway.broker.settings import BrokerSettings
from tests.support.broker_thread import BrokerThread
from tests.support.clients import V5, TestClient
from tests.support.mosquitto import USERNAME, Mosquitto
from tests.support.store_broker import StoreBroker
from tests.support.tcp_proxy import TcpProxy


@contextlib.contextmanager
def cloud_behind_proxy(
    tmp_path: Path,
    observer_id: str,
    *,
    cut: bool = False,
) -> Iterator[tuple[Mosquitto, TcpProxy, TestClient]]:
    """The cloud for bridge tests: Mosquitto (mTLS listener behind a TCP proxy the test holds,
    `cut` from the start if asked) and an observer subscribed to ``gw1/data/#`` on its plain
    listener."""
    mosq = Mosquitto(tmp_path).start()
    proxy = TcpProxy(mosq.mtls_port)
    if cut:
        proxy.set_mode("cut")
    observer = TestClient(mosq.plain_port, observer_id, version=V5)
    observer.subscribe("gw1/data/#", 1)
    try:
        yield mosq, proxy, observer
    finally:
        observer.disconnect()
        proxy.close()
        mosq.stop()


def bridge_config(
    mosq: Mosquitto, *, port: int | None = None, auth: str = "mtls", **overrides: Any
) -> BridgeConfig:
    tls: dict[str, Any] = {"ca_file": mosq.ca_file, "server_name": "localhost"}
    data: dict[str, Any] = {
        "name": "cloud",
        "host": "127.0.0.1",
        "keepalive": 5,
        "ack_timeout": 5,
        "connect_timeout": 3,
        "backoff_initial": 0.05,
        "backoff_max": 0.5,
        "topics": [
            {
                "pattern": "data/#",
                "direction": "out",
                "local_prefix": "edge/",
                "remote_prefix": "gw1/",
            },
            {
                "pattern": "cmd/#",
                "direction": "in",
                "local_prefix": "edge/",
                "remote_prefix": "gw1/",
            },
        ],
        "metrics_interval": 1,
    }
    if auth == "mtls":
        data["port"] = port or mosq.mtls_port
        tls.update(cert_file=mosq.client_cert, key_file=mosq.client_key)
    else:
        data["port"] = port or mosq.password_port
        data.update(username=USERNAME, password_file=mosq.password_file)
    data["tls"] = tls
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return BridgeConfig.model_validate(data)


class BridgeHarness:
    """With `store` (a path), the broker has a durable store (`StoreBroker`; `store_settings` go to
    its StoreSettings) and `clock` can replace its monotonic clock."""

    def __init__(
        self,
        cfg: BridgeConfig,
        settings: BrokerSettings | None = None,
        *,
        store: Path | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
        **store_settings: Any,
    ) -> None:
        self.cfg = cfg
        self._service_kwargs = {} if wall is None else {"wall": wall}
        settings = settings or BrokerSettings(sys_interval=0)
        self.thread: BrokerThread | StoreBroker
        if store is not None:
            self.thread = StoreBroker(store, settings, clock, **store_settings).start()
        else:
            self.thread = BrokerThread(settings).start()
        self.service: BridgeService = self.thread.call(self._start())
        self.watcher = TestClient(self.thread.port, "bridge-watcher", version=5)
        self.states: queue.Queue[str] = queue.Queue()
        self.watcher.client.message_callback_add(
            f"edge/bridge/{cfg.name}/state", lambda c, u, m: self.states.put(m.payload.decode())
        )
        self.watcher.subscribe(f"edge/bridge/{cfg.name}/state", 0)

    async def _start(self) -> BridgeService:
        assert self.thread.broker is not None
        service = BridgeService(self.cfg, self.thread.broker, "gw1", "edge", **self._service_kwargs)
        await service.start()
        return service

    @property
    def port(self) -> int:
        return self.thread.port

    def wait_state(self, state: str, timeout: float = 15.0) -> None:
        """Wait for the bridge to report `state` (skipping others), bounded."""
        seen: list[str] = []
        while True:
            try:
                got = self.states.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"bridge never reported {state!r}; saw {seen}") from None
            seen.append(got)
            if got == state:
                return

    def value(self, fn: Any) -> Any:
        return self.thread.run(lambda: fn(self.service))

    def stop(self) -> None:
        self.watcher.disconnect()
        self.thread.call(self.service.stop())
        self.thread.stop()
