"""The asyncio glue around the broker core: listeners, transports, the timer, in-process clients.

How this works: each accepted socket gets an `asyncio.Protocol`. It first asks the broker's
`Admission` (the connection limits) and closes the socket at once if a limit is reached; on a TLS
listener it then runs the handshake itself (`tls.ServerTls`, small buffers, a timeout), and only
then opens the broker `Connection`. `data_received` hands the bytes to that sans-IO `Connection`
with the current monotonic time, then `flush()` writes whatever the core queued for any connection
in that step and closes the ones the core closed (a half-close: see DRAIN_SECONDS). One timer task calls
`core.tick()` at the core's next deadline (at most one second apart). Nothing here decides protocol
behaviour; that is all in `gateway.broker.core` / `connection` / `session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from gateway.broker.admission import Admission, Slot
from gateway.broker.auth.tls import ServerTls, SSLError
from gateway.broker.core import Authenticator, Authorizer, BrokerCore
from gateway.broker.local import LocalClient
from gateway.broker.settings import BrokerSettings
from gateway.logfields import log_fields
from gateway.ratelog import RateLimitedLog, flush_all

if TYPE_CHECKING:
    import ssl

    from gateway.broker.connection import Connection
    from gateway.broker.local_link import LocalLink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str = "default"
    host: str = "127.0.0.1"
    port: int = 1883
    ssl_context: ssl.SSLContext | None = None
    unix_path: str | None = None
    max_connections: int = 0  # 0 = no per-listener limit
    tls_stamp: int = 0  # the certificate, key and CA files the context was loaded from (a reload
    # compares it: gateway.broker.listener_config.tls_stamp)
    source: object = None  # the config record this was built from (a reload compares with it)


# After the broker closes a connection it shuts down its side for writing and reads (and drops)
# what the client still sends, for at most this long and this many bytes, before closing the
# socket: closing with unread input makes the kernel answer with RST, and a client still writing
# then gets "connection reset" and may never read the DISCONNECT that says why.
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 256 * 1024
SHUTDOWN_DRAIN_SECONDS = 0.5  # the same when the broker stops, shorter: a stop must not wait


class _MqttProtocol(asyncio.Protocol):
    """One accepted socket: admission, the TLS handshake on TLS listeners, then the broker's
    `Connection`. It is also that Connection's `io` (write, close, abort, is_closing,
    get_write_buffer_size): another listener kind (WebSocket) gives its Connection an object with
    the same five methods."""

    __slots__ = (
        "broker",
        "conn",
        "drain_left",
        "listener",
        "peer",
        "slot",
        "timer",
        "tls",
        "transport",
    )

    def __init__(self, broker: Broker, listener: ListenerSpec) -> None:
        self.broker = broker
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.slot: Slot | None = None
        self.tls: ServerTls | None = None
        self.peer = ""
        self.timer: asyncio.TimerHandle | None = None  # the handshake timeout, then the drain
        self.drain_left = -1  # bytes still read and dropped after our half-close; -1: not closing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server's protocol: its transport is a Transport (asyncio's and uvloop's)
        self.transport = transport = cast(asyncio.Transport, transport)
        broker = self.broker
        peer = transport.get_extra_info("peername")
        inet = isinstance(peer, tuple)
        self.peer = f"{peer[0]}:{peer[1]}" if inet else str(peer or "unix")
        admitted = broker.admission.admit(self.listener.name, peer[0] if inet else None)
        if isinstance(admitted, str):
            broker.ratelog.log(
                logging.WARNING,
                admitted,
                "connection from %s refused: %s reached",
                self.peer,
                admitted,
            )
            transport.abort()  # nothing was read or written: no reason to linger
            return
        self.slot = admitted
        broker.protocols.add(self)
        if inet:
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.listener.ssl_context
        if context is None:
            self._open_connection()
            return
        self.tls = ServerTls(context)
        self.timer = asyncio.get_running_loop().call_later(
            broker.settings.tls_handshake_timeout, self._handshake_timed_out
        )

    def _open_connection(self) -> None:
        broker = self.broker
        self.conn = conn = broker.core.open_connection(
            broker.clock(), self.peer, self.listener.name
        )
        conn.io = self
        if self.tls is not None:
            conn.peer_cert = self.tls.peer_certificate()

    def data_received(self, data: bytes) -> None:
        if self.drain_left >= 0:
            self._drain(len(data))
            return
        if self.tls is not None:
            data = self._decrypt(data)
            if not data:
                return
        conn = self.conn
        if conn is not None:
            conn.receive_data(data, self.broker.clock())
            self.broker.flush()

    def _decrypt(self, data: bytes) -> bytes:
        tls = self.tls
        assert tls is not None and self.transport is not None
        try:
            data = tls.receive_data(data)
        except SSLError as exc:
            self._tls_failed(exc)
            return b""
        out = tls.data_to_send()
        if out:
            self.transport.write(out)
        if self.conn is None and tls.established:
            self._handshake_done()
        if tls.peer_closed:  # close_notify: as an end of stream once its data is handled
            self.transport.close()
        return data

    def _handshake_done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._open_connection()

    def _tls_failed(self, exc: SSLError) -> None:
        """A TLS error: a failed handshake (counted, logged rate-limited) or a broken record."""
        broker = self.broker
        assert self.tls is not None and self.transport is not None
        if self.conn is None:
            broker.core.stats.tls_handshakes_failed += 1
            broker.ratelog.log(
                logging.WARNING,
                "tls_handshake",
                "TLS handshake with %s on %s failed: %s",
                self.peer,
                self.listener.name,
                exc.reason or exc.__class__.__name__,
            )
            self.tls = None  # nothing more to decrypt; connection_lost sees a failed handshake
        else:
            log.warning(
                "TLS error from %s (%s): %s: closed",
                self.conn.client_id or "-",
                self.peer,
                exc.reason or exc,
                extra=log_fields(self.conn.client_id, self.conn),
            )
            self.conn.close()
        self.transport.abort()

    def _handshake_timed_out(self) -> None:
        self.timer = None
        broker = self.broker
        broker.core.stats.tls_handshakes_failed += 1
        broker.core.stats.limit("tls_handshake_timeout")
        broker.ratelog.log(
            logging.WARNING,
            "tls_handshake_timeout",
            "TLS handshake with %s on %s not done in %g s: closed",
            self.peer,
            self.listener.name,
            broker.settings.tls_handshake_timeout,
        )
        self.tls = None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        broker = self.broker
        if self.slot is not None:
            broker.admission.release(self.slot)
            broker.protocols.discard(self)
        conn = self.conn
        if conn is not None:
            conn.connection_lost(broker.clock())
            conn.io = None
            self.conn = None
            broker.flush()
        elif self.tls is not None:  # the client went away in the middle of the handshake
            broker.core.stats.tls_handshakes_failed += 1
            broker.ratelog.log(
                logging.INFO,
                "tls_handshake_closed",
                "TLS handshake with %s on %s: the client closed the connection",
                self.peer,
                self.listener.name,
            )
        self.tls = None

    # -- the Connection's io -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self.tls is not None:
            data = self.tls.encrypt(data)
        self.transport.write(data)

    def get_write_buffer_size(self) -> int:
        assert self.transport is not None
        return self.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        assert self.transport is not None
        return self.drain_left >= 0 or self.transport.is_closing()

    def abort(self) -> None:
        assert self.transport is not None
        self.transport.abort()

    def close(self) -> None:
        """Half-close: what was written goes out, then FIN; the client's input is drained for a
        moment (DRAIN_SECONDS, DRAIN_BYTES) so that no RST overtakes a DISCONNECT."""
        transport = self.transport
        assert transport is not None
        if self.drain_left >= 0 or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        if self.tls is not None:
            transport.write(self.tls.close())
        try:
            transport.write_eof()
        except OSError:  # the peer is already gone (reset): nothing left to say
            transport.abort()
            return
        self.drain_left = DRAIN_BYTES
        self.timer = asyncio.get_running_loop().call_later(DRAIN_SECONDS, transport.close)

    def _drain(self, size: int) -> None:
        self.drain_left -= size
        if self.drain_left < 0:
            self.drain_left = 0
            assert self.transport is not None
            self.transport.close()


class Broker:
    def __init__(
        self,
        settings: BrokerSettings | None = None,
        listeners: list[ListenerSpec] | None = None,
        *,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        max_connections: int = 0,
        max_connections_per_address: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or BrokerSettings()
        # the listeners by name, in configuration order; a new socket takes its listener's spec
        # as it is when the socket is accepted (a reload may swap a TLS context: gateway.broker.
        # listeners)
        self.specs: dict[str, ListenerSpec] = {s.name: s for s in listeners or [ListenerSpec()]}
        self.clock = clock
        self.core = BrokerCore(self.settings, clock(), authenticator, authorizer)
        # every listener kind asks this before it spends anything on a new socket
        self.admission = Admission(self.core.stats, max_connections, max_connections_per_address)
        for spec in self.specs.values():
            self.admission.add_listener(spec.name, spec.max_connections)
        self.ratelog = RateLimitedLog(log, clock=clock)
        self.core.ratelog.clock = clock
        # admitted sockets, in any stage: each protocol adds itself when admitted and removes
        # itself when its transport is gone
        self.protocols: set[_MqttProtocol] = set()
        self.servers: dict[str, asyncio.Server] = {}
        self._timer: asyncio.Task | None = None
        self._local_links: list[LocalLink] = []
        self._wake = asyncio.Event()
        self.last_tick = clock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        for spec in self.specs.values():
            server = await self.bind(spec)
            await server.start_serving()
            self.servers[spec.name] = server
            log.info("listening on %s (%s)", self.describe(spec.name), spec.name)
        self._timer = asyncio.create_task(self._run_timers(), name="broker-timers")

    async def bind(self, spec: ListenerSpec) -> asyncio.Server:
        """A bound server for `spec`, not yet accepting (OSError when the address is taken). Its
        sockets take the spec registered under the listener's name when they are accepted."""
        loop = asyncio.get_running_loop()
        name = spec.name
        factory = lambda: _MqttProtocol(self, self.specs[name])  # noqa: E731
        if spec.unix_path:
            _unlink(spec.unix_path)  # a socket file left behind by an earlier run
            return await loop.create_unix_server(factory, spec.unix_path, start_serving=False)
        # TLS is done by the protocol itself, after admission (see _MqttProtocol)
        return await loop.create_server(
            factory, spec.host, spec.port, reuse_address=True, start_serving=False
        )

    def describe(self, name: str) -> str:
        spec, server = self.specs[name], self.servers[name]
        if spec.unix_path:
            return spec.unix_path
        host, port = server.sockets[0].getsockname()[:2]
        return f"{'mqtts' if spec.ssl_context else 'mqtt'}://{host}:{port}"

    @property
    def listener_specs(self) -> list[ListenerSpec]:
        return list(self.specs.values())

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every TCP listener, in configuration order (port 0 resolved)."""
        return [
            self.servers[name].sockets[0].getsockname()[:2]
            for name, spec in self.specs.items()
            if not spec.unix_path and name in self.servers
        ]

    async def stop(self) -> None:
        """Stop listening, tell clients the server is going away, close every connection."""
        for server in self.servers.values():
            server.close()
        self.disconnect()
        await self._closed(SHUTDOWN_DRAIN_SECONDS)
        for link in self._local_links:
            await link.close_client()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for server in self.servers.values():
            await server.wait_closed()

    def disconnect(self, listener: str | None = None) -> int:
        """Close the connections of one listener (of any kind; None: all) as a stop does:
        DISCONNECT 0x8B (server shutting down) to a connected 5.0 client, a plain close on 3.1.1
        (which has no server DISCONNECT), the will published as for any unclean end; sockets of
        this broker's listeners still in their TLS handshake are cut. Returns the MQTT
        connections closed."""
        closed = 0
        for conn in list(self.core.connections):
            if listener is not None and conn.listener != listener:
                continue
            closed += not conn.closed
            conn.announce_shutdown()
            conn.close()
        self.flush()
        for protocol in list(self.protocols):
            if protocol.conn is None and listener in (None, protocol.listener.name):  # in its
                # TLS handshake
                protocol.abort()
        return closed

    # -- listeners changed while running (a reload: gateway.broker.reload) -------------------

    async def open_listener(self, spec: ListenerSpec) -> None:
        """Start listening on a new listener (OSError when its address cannot be bound)."""
        server = await self.bind(spec)
        self.specs[spec.name] = spec
        self.servers[spec.name] = server
        self.admission.add_listener(spec.name, spec.max_connections)
        await server.start_serving()
        log.info("listening on %s (%s)", self.describe(spec.name), spec.name)

    def close_listener(self, name: str) -> int:
        """Stop listening on `name` and close its connections (see `disconnect`); the other
        listeners' clients are not touched. Returns the connections closed."""
        spec = self.specs.pop(name)
        self.servers.pop(name).close()
        self.admission.remove_listener(name)
        closed = self.disconnect(name)
        if spec.unix_path:
            _unlink(spec.unix_path)  # (Python 3.13 removes it itself on close)
        log.info("listener %s closed: %d connection(s) closed", name, closed)
        return closed

    async def replace_listener(self, spec: ListenerSpec) -> int:
        """Reopen a listener with a changed address, TLS or access policy: its connections are
        closed (see `disconnect`), the other listeners' are not. A new address is bound before
        the old one is let go, so a failure to bind leaves the old listener as it was; on the same
        address the old socket must close first, and if the address cannot then be bound again
        the old listener is reopened as it was (or, failing that too, closed). OSError when the
        new one cannot be bound. Returns the connections closed."""
        name, old = spec.name, self.specs[spec.name]
        moved = not self._same_address(old, spec)
        if not moved:  # one address, one listening socket
            self.servers[name].close()
        try:
            server = await self.bind(spec)
        except OSError:
            if not moved:
                await self._reopen(old)
            raise
        self.servers[name].close()
        if moved and old.unix_path:
            _unlink(old.unix_path)
        closed = self.disconnect(name)
        self.specs[name], self.servers[name] = spec, server
        self.admission.add_listener(name, spec.max_connections)
        await server.start_serving()
        log.info("listening on %s (%s): %d connection(s) closed", self.describe(name), name, closed)
        return closed

    def _same_address(self, old: ListenerSpec, new: ListenerSpec) -> bool:
        """Whether `new` would listen where `old` does (port 0: the port it was given)."""
        if old.unix_path or new.unix_path:
            return old.unix_path == new.unix_path
        port = self.servers[old.name].sockets[0].getsockname()[1]
        return new.host == old.host and new.port in (old.port, port) and new.port != 0

    async def _reopen(self, spec: ListenerSpec) -> None:
        try:
            server = await self.bind(spec)
        except OSError as exc:
            log.error("listener %s could not be reopened on its old address: %s", spec.name, exc)
            self.close_listener(spec.name)
            return
        self.servers[spec.name] = server
        await server.start_serving()

    def update_listener(self, spec: ListenerSpec) -> None:
        """A listener's new spec on the same address, TLS mode and policy: a renewed certificate
        (the next TLS handshakes use it) or a new connection limit. Its socket and its
        connections stay as they are."""
        self.specs[spec.name] = spec
        self.admission.add_listener(spec.name, spec.max_connections)

    def apply_settings(self, settings: BrokerSettings) -> None:
        """New limits from now on (a reload). The core, the sessions and the glue read them where
        they apply; what a CONNACK announced stays with the connections that got it (each keeps
        the settings it was opened with: gateway.broker.connection)."""
        old, self.settings = self.settings, settings
        core = self.core
        core.settings = settings
        core.retained.limit = settings.max_retained_messages  # stored ones stay; new topics wait
        for session in core.sessions.values():
            session.settings = _carried_over(session.settings, old, settings)

    async def _closed(self, timeout: float) -> None:
        """Wait (bounded) for the half-closed connections to finish, then cut the rest."""
        deadline = self.clock() + timeout
        while self.protocols and self.clock() < deadline:  # noqa: ASYNC110 - a bounded poll
            await asyncio.sleep(0.02)
        for protocol in list(self.protocols):
            protocol.abort()
        await asyncio.sleep(0)  # connection_lost runs on the next loop turn

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
                    log.warning(
                        "client %s is not reading (%d bytes queued): disconnected",
                        conn.client_id,
                        transport.get_write_buffer_size(),
                        extra=log_fields(conn.client_id, conn),
                    )
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
            flush_all()  # sum up log floods that stopped
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

    async def close_local_client(self, client: LocalClient) -> None:
        """Detach an in-process client whose component a reload stopped, and forget it."""
        for link in self._local_links:
            if link is client:
                self._local_links.remove(link)
                await link.close_client()
                return


def _carried_over(own: BrokerSettings, old: BrokerSettings, new: BrokerSettings) -> BrokerSettings:
    """A session's new settings: `new`, but where the session had its own value (a bridge's queue
    limits: gateway.bridge.forwarder) that value stays."""
    if own is old:
        return new
    kept = {
        name: getattr(own, name)
        for name in BrokerSettings.__dataclass_fields__
        if getattr(own, name) != getattr(old, name)
    }
    return dataclasses.replace(new, **kept)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
