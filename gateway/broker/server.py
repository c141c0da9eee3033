"""The asyncio glue around the broker core: listeners, transports, the timer, in-process clients.

How this works: each accepted socket gets an `asyncio.Protocol` whose `data_received` hands the bytes
to its sans-IO `Connection` with the current monotonic time, then `flush()` writes whatever the core
queued for any connection in that step and closes the ones the core closed. One timer task calls
`core.tick()` at the core's next deadline (at most one second apart). Nothing here decides protocol
behaviour; that is all in `gateway.broker.core` / `connection` / `session`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.broker.core import Authenticator, Authorizer, BrokerCore
from gateway.broker.local import LocalClient
from gateway.broker.settings import BrokerSettings
from gateway.logfields import log_fields
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Disconnect

log = logging.getLogger(__name__)

WRITE_BUFFER_LIMIT = BrokerSettings.max_write_buffer  # the default; settings.max_write_buffer rules


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str = "default"
    host: str = "127.0.0.1"
    port: int = 1883
    ssl_context: ssl.SSLContext | None = None
    unix_path: str | None = None
    max_connections: int = 0  # 0 = no per-listener limit


class _MqttProtocol(asyncio.Protocol):
    def __init__(self, broker: Broker, listener: ListenerSpec) -> None:
        self.broker = broker
        self.listener = listener
        self.conn = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        broker = self.broker
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "unix")
        if not broker.admit(self.listener):
            log.warning("connection from %s refused: connection limit reached", peer_text)
            transport.close()
            return
        self.conn = broker.core.open_connection(broker.clock(), peer_text, self.listener.name)
        self.conn.io = transport
        self.conn.peer_cert = transport.get_extra_info("peercert")
        broker.listener_counts[self.listener.name] += 1

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.receive_data(data, self.broker.clock())
            self.broker.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.broker.listener_counts[self.listener.name] -= 1
            self.conn.connection_lost(self.broker.clock())
            self.conn.io = None
            self.broker.flush()


class Broker:
    def __init__(self, settings: BrokerSettings | None = None,
                 listeners: list[ListenerSpec] | None = None, *,
                 authenticator: Authenticator | None = None,
                 authorizer: Authorizer | None = None,
                 max_connections: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or BrokerSettings()
        self.listener_specs = listeners or [ListenerSpec()]
        self.clock = clock
        self.core = BrokerCore(self.settings, clock(), authenticator, authorizer)
        self.max_connections = max_connections
        self.listener_counts = {spec.name: 0 for spec in self.listener_specs}
        self._servers: list[asyncio.AbstractServer] = []
        self._timer: asyncio.Task | None = None
        self._local_links: list = []
        self._wake = asyncio.Event()
        self.last_tick = clock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for spec in self.listener_specs:
            factory = lambda spec=spec: _MqttProtocol(self, spec)  # noqa: E731
            if spec.unix_path:
                if os.path.exists(spec.unix_path):
                    os.unlink(spec.unix_path)
                server = await loop.create_unix_server(factory, spec.unix_path, ssl=spec.ssl_context)
            else:
                server = await loop.create_server(factory, spec.host, spec.port,
                                                  ssl=spec.ssl_context, reuse_address=True)
            self._servers.append(server)
            log.info("listening on %s (%s)", self._describe(server, spec), spec.name)
        self._timer = asyncio.create_task(self._run_timers(), name="broker-timers")

    def _describe(self, server: asyncio.AbstractServer, spec: ListenerSpec) -> str:
        if spec.unix_path:
            return spec.unix_path
        host, port = server.sockets[0].getsockname()[:2]
        return f"{'mqtts' if spec.ssl_context else 'mqtt'}://{host}:{port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every TCP listener, in configuration order (port 0 resolved)."""
        out = []
        for server, spec in zip(self._servers, self.listener_specs, strict=True):
            if not spec.unix_path:
                out.append(server.sockets[0].getsockname()[:2])
        return out

    async def stop(self) -> None:
        """Stop listening, tell clients the server is going away, close every connection."""
        for server in self._servers:
            server.close()
        for conn in list(self.core.connections):
            if conn.connected and conn.version == 5 and not conn.closed:
                conn.send(Disconnect(ReasonCode.SERVER_SHUTTING_DOWN))
            conn.clean_disconnect = False
            conn.close()
        self.flush()
        for link in self._local_links:
            await link.close_client()
        if self._timer is not None:
            self._timer.cancel()
            try:
                await self._timer
            except asyncio.CancelledError:
                pass
        for server in self._servers:
            await server.wait_closed()

    def admit(self, spec: ListenerSpec) -> bool:
        total = sum(self.listener_counts.values())
        if self.max_connections and total >= self.max_connections:
            self.core.stats.limit("max_connections")
            return False
        if spec.max_connections and self.listener_counts[spec.name] >= spec.max_connections:
            self.core.stats.limit(f"max_connections_{spec.name}")
            return False
        return True

    # -- the pump ----------------------------------------------------------------------------

    def flush(self) -> None:
        for conn in self.core.take_dirty():
            transport = conn.io
            if transport is None:
                continue
            data = conn.data_to_send()
            if data and not transport.is_closing():
                transport.write(data)
                if transport.get_write_buffer_size() > self.settings.max_write_buffer:
                    self.core.stats.limit("max_write_buffer")
                    log.warning("client %s is not reading (%d bytes queued): disconnected",
                                conn.client_id, transport.get_write_buffer_size(),
                                extra=log_fields(conn.client_id, conn))
                    transport.abort()
                    continue
            if conn.closed and not transport.is_closing():
                transport.close()

    async def _run_timers(self) -> None:
        while True:
            now = self.clock()
            try:
                self.core.tick(now)
            except Exception:  # a bug; keep the timers running and make it loud
                log.exception("broker timer tick failed")
            else:
                self.last_tick = now  # the watchdog sees a tick that keeps failing as stale
            self.flush()
            deadline = self.core.next_deadline()
            delay = 1.0 if deadline is None else min(1.0, max(0.01, deadline - self.clock()))
            await asyncio.sleep(delay)

    # -- in-process clients ------------------------------------------------------------------

    def local_client(self, client_id: str, *, persistent: bool = False) -> LocalClient:
        from gateway.broker.local_link import LocalLink

        link = LocalLink(self, client_id, persistent=persistent)
        self._local_links.append(link)
        return link
