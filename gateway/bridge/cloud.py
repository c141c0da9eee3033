"""The bridge's upstream MQTT client: paho-mqtt driven by the asyncio event loop (no paho thread).

How this works: one paho `Client` per bridge for the life of the process, so paho keeps the QoS 1/2
messages it has sent and resends them itself (same packet id, DUP; PUBREL for QoS 2) on the next
CONNACK of a persistent session. Reading and writing happen on the event loop: paho's socket
callbacks (`on_socket_open` / `register_write` / `unregister_write` / `close`) add and remove the
loop's reader and writer for its socket, which call `loop_read` / `loop_write`; `misc()` (paho's
`loop_misc`: keepalive PINGREQ, PINGRESP timeout) runs from the bridge's timer.

The one blocking step in paho is `connect()` (TCP connect and TLS handshake, bounded by the connect
timeout): it runs in a worker thread, during which the loop does not touch the client; the socket
is watched once it returns, and `connect()` here completes at CONNACK. This is the only module that
imports paho.

Flow control and accounting are ours, not paho's: paho's in-flight limit is off (the forwarder's
window is the only one; paho's own limit costs a scan of every message it holds on each
acknowledgement), and `pending()` counts the QoS 1/2 messages handed to paho and not yet
acknowledged through `on_publish`. Acknowledgements read in one readable event reach the bridge as
one batch (`CloudEvents.cloud_acked`), so the session is pumped and the broker flushed once per
read, not once per PUBACK. When the cloud has no session for us (CONNACK session present = 0),
paho's unacknowledged copies are dropped before it can resend them: the bridge resends its in-flight
deliveries itself, so each goes out once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol


class _OnFirstUse(types.ModuleType):
    """Stands in for a module while paho-mqtt is imported; the real one is imported at the first
    attribute read. paho imports urllib.request (read only for proxy settings, and only when
    PySocks is installed) and hashlib (WebSocket handshakes) at load: http.client, email and
    OpenSSL's libcrypto, about 3.5 MB of RSS that a bridge over TCP or TLS never uses."""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _import_paho() -> types.ModuleType:
    standins: dict[str, _OnFirstUse] = {}
    for name in ("urllib.request", "hashlib"):
        if name not in sys.modules:
            standins[name] = sys.modules[name] = _OnFirstUse(name)
    import urllib

    if "urllib.request" in standins and not hasattr(urllib, "request"):
        urllib.request = standins["urllib.request"]  # what paho reads
    try:
        import paho.mqtt.client as client
    finally:  # anyone importing them later gets the real modules
        for name, standin in standins.items():
            if sys.modules.get(name) is standin:
                del sys.modules[name]
    return client


mqtt = _import_paho()

from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode  # noqa: E402 - after paho's import
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties as PahoProperties  # noqa: E402

from gateway.broker.auth.tls import SSLError  # noqa: E402
from gateway.mqtt.properties import NO_PROPERTIES, Properties  # noqa: E402

if TYPE_CHECKING:
    import ssl

    from paho.mqtt.client import MQTTMessage

log = logging.getLogger(__name__)

MAX_READS_PER_EVENT = 64  # bounded re-reads of TLS-buffered data per readable event


class ConnectFailed(Exception):
    """The cloud could not be reached or refused us; the message is the operator's log line."""


class CloudEvents(Protocol):
    def cloud_disconnected(self, reason: str) -> None: ...

    def cloud_acked(self, acks: list[Ack]) -> None:
        """PUBACKs / PUBCOMPs (QoS 2) read in one go, in arrival order."""

    def cloud_message(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties
    ) -> None: ...


Ack = tuple[int, str | None]  # (paho message id, None = accepted / the cloud's error reason)


@dataclass(frozen=True)
class CloudSettings:
    host: str
    port: int
    client_id: str
    mqtt5: bool = True
    keepalive: int = 60
    clean_start: bool = False
    session_expiry: int = 0
    ssl_context: ssl.SSLContext | None = None
    connect_timeout: float = 10.0
    will: tuple[str, bytes, int, bool] | None = None  # topic, payload, qos, retain
    tls_name: str | None = None  # the name the server's certificate must carry (SNI)
    client_cert: bool = False  # a client certificate is configured (for naming TLS failures)


class CloudClient:
    def __init__(
        self,
        settings: CloudSettings,
        events: CloudEvents,
        credentials: Callable[[], tuple[str | None, str | None]] = lambda: (None, None),
    ) -> None:
        self.settings = settings
        self.events = events
        self._credentials = credentials  # (username, password), read at every connect
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._sock: Any = None
        self._connack: asyncio.Future | None = None
        self._busy = False  # paho is inside connect() on a worker thread
        self.connected = False
        self._unacked: set[int] = set()  # QoS 1/2 mids handed to paho, not yet acknowledged
        self._acks: list[Ack] = []
        self._reading = False  # inside `_on_readable`: acknowledgements are batched
        self._read_error = ""  # paho's last "failed to receive" while connecting
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            settings.client_id,
            clean_session=None if settings.mqtt5 else settings.clean_start,
            protocol=mqtt.MQTTv5 if settings.mqtt5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.max_inflight_messages_set(0)  # no limit in paho: the forwarder's window rules
        client.max_queued_messages_set(0)
        client.connect_timeout = settings.connect_timeout
        if settings.ssl_context is not None:
            client.tls_set_context(settings.ssl_context)
        if settings.will is not None:
            topic, payload, qos, retain = settings.will
            client.will_set(topic, payload, qos, retain)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    # -- connecting --------------------------------------------------------------------------

    async def connect(self) -> bool:
        """TCP + TLS + CONNECT ... CONNACK within the connect timeout; returns session present.
        Raises `ConnectFailed` with a line for the log."""
        loop = self._loop
        self._connack = loop.create_future()
        deadline = loop.time() + self.settings.connect_timeout
        self._busy = True
        # paho reports a read error only through its log: listened to until CONNACK (not after,
        # where it would format a line for every packet)
        self._read_error = ""
        self._client.on_log = self._on_log
        try:
            await loop.run_in_executor(None, self._blocking_connect)
        except SSLError as exc:
            from gateway.tls_errors import describe

            s = self.settings
            raise ConnectFailed(
                "TLS handshake failed: "
                + describe(exc, s.tls_name or s.host, client_cert=s.client_cert)
            ) from None
        except (OSError, ValueError) as exc:
            raise ConnectFailed(f"cannot connect: {exc}") from None
        finally:
            self._busy = False
        self._watch()
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel (stop()) that
            # arrives as the CONNACK does, and the bridge task would then never end.
            async with asyncio.timeout(max(0.01, deadline - loop.time())):
                return await self._connack
        except TimeoutError:
            self.abort()
            raise ConnectFailed(f"no CONNACK within {self.settings.connect_timeout:g} s") from None

    def _blocking_connect(self) -> None:
        """Worker thread: paho's blocking socket connect and TLS handshake, then CONNECT queued."""
        username, password = self._credentials()
        self._client.username_pw_set(username, password)
        s = self.settings
        if s.mqtt5:
            props = PahoProperties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry
            props.ReceiveMaximum = 65535
            self._client.connect(
                s.host, s.port, s.keepalive, clean_start=s.clean_start, properties=props
            )
        else:
            self._client.connect(s.host, s.port, s.keepalive)

    def _watch(self) -> None:
        sock = self._client.socket()
        if sock is None:
            raise ConnectFailed("connection closed during the handshake")
        self._sock = sock
        self._loop.add_reader(sock, self._on_readable)
        self._loop.add_writer(sock, self._on_writable)  # CONNECT is waiting to be written

    # -- paho's socket callbacks -------------------------------------------------------------

    def _in_loop(self, fn: Callable[[], object]) -> None:  # what fn returns is dropped
        if threading.get_ident() == self._loop_thread:
            fn()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)
        # else: paho's __del__ closing the socket from a garbage collection in another thread after
        # the loop has gone: a closed loop watches nothing, there is nothing to unwatch.

    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        pass  # watched by `_watch` once connect() has returned to the loop

    def _on_socket_close(self, client: Any, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self._unwatch(sock))

    def _unwatch(self, sock: Any) -> None:
        try:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        except (ValueError, OSError):  # already closed: the loop forgot it
            pass
        if sock is self._sock:
            self._sock = None

    def _on_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._busy and sock is self._sock:
            self._in_loop(
                lambda: (
                    self._sock is not None and self._loop.add_writer(self._sock, self._on_writable)
                )
            )

    def _on_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if not self._busy and sock is self._sock:
            self._in_loop(lambda: self._sock is not None and self._loop.remove_writer(self._sock))

    def _on_readable(self) -> None:
        self._reading = True
        try:
            more = self._read()
        finally:
            self._reading = False
            self._deliver_acks()
        if more:
            self._loop.call_soon(self._on_readable)  # TLS has buffered more: continue next turn

    def _read(self) -> bool:
        """Let paho read what is there; True when TLS still holds decrypted data."""
        for _ in range(MAX_READS_PER_EVENT):
            sock = self._sock
            if sock is None or self._client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False
            pending = getattr(sock, "pending", None)
            if pending is None or not pending():
                return False  # more data will make the socket readable again
        return True

    def _deliver_acks(self) -> None:
        if self._acks:
            acks, self._acks = self._acks, []
            self.events.cloud_acked(acks)

    def _on_writable(self) -> None:
        if self._sock is not None:
            self._client.loop_write()

    def misc(self) -> None:
        """Keepalive: PINGREQ when due; a missing PINGRESP closes the connection (paho)."""
        if self._sock is not None and not self._busy:
            self._client.loop_misc()

    # -- paho's MQTT callbacks ---------------------------------------------------------------

    def _on_log(self, client: Any, userdata: Any, level: int, text: str) -> None:
        if level == mqtt.MQTT_LOG_ERR and text.startswith("failed to receive on socket"):
            self._read_error = text.partition(": ")[2]

    def _closed_before_connack(self, reason: Any) -> str:
        """Why a connection ended before CONNACK; over TLS 1.3 this is how a server refuses our
        client certificate (it checks it after our side of the handshake has finished)."""
        detail = self._read_error or str(reason)
        if self.settings.ssl_context is None:
            return f"connection closed before CONNACK: {detail}"
        from gateway.tls_errors import describe_closed_after_handshake

        return "TLS: " + describe_closed_after_handshake(
            detail, client_cert=self.settings.client_cert
        )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.on_log = None
        future = self._connack
        if reason.is_failure:
            if future is not None and not future.done():
                future.set_exception(ConnectFailed(f"refused by the cloud: {reason}"))
            return
        self.connected = True
        if not flags.session_present:
            # paho would resend these right after this callback; the cloud does not know their
            # ids, and the bridge resends its in-flight deliveries itself (`forget_cloud_state`)
            client.drop_out_messages()
            self._unacked.clear()
        if future is not None and not future.done():
            future.set_result(bool(flags.session_present))

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was_connected, self.connected = self.connected, False
        self._deliver_acks()  # what was read before the connection went: acknowledged
        future = self._connack
        if future is not None and not future.done():
            future.set_exception(ConnectFailed(self._closed_before_connack(reason)))
        if was_connected:
            self._in_loop(lambda: self.events.cloud_disconnected(str(reason)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if mid not in self._unacked:
            return  # QoS 0, written (paho reports those too)
        self._unacked.discard(mid)
        self._acks.append((mid, str(reason) if reason.is_failure else None))
        if not self._reading:
            self._deliver_acks()

    def _on_message(self, client: Any, userdata: Any, msg: MQTTMessage) -> None:
        self.events.cloud_message(
            msg.topic,
            bytes(msg.payload),  # already bytes from paho: the same object, no copy
            msg.qos,
            bool(msg.retain),
            _from_paho(getattr(msg, "properties", None)),
        )

    # -- operations (event loop, connected) --------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties = NO_PROPERTIES,
    ) -> int:
        """Queue a PUBLISH; returns paho's message id (the id its acknowledgement carries)."""
        props = _to_paho(properties) if self.settings.mqtt5 and properties else None
        mid = self._client.publish(topic, payload, qos, retain, properties=props).mid
        if qos:
            self._unacked.add(mid)  # paho holds it (and resends it) until acknowledged
        return mid

    def pending(self) -> int:
        """QoS 1/2 messages handed to paho and not acknowledged yet (paho resends them on
        reconnect while the cloud keeps our session)."""
        return len(self._unacked)

    def subscribe(self, filters: list[tuple[str, int]]) -> None:
        if filters:
            self._client.subscribe(filters)

    def abort(self) -> None:
        """Tear the connection down now, without DISCONNECT (a stuck or black-holed link)."""
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        self._client.loop_read()  # reads EOF: paho closes the socket and reports the loss

    async def disconnect(self, timeout: float = 2.0) -> None:
        """A clean DISCONNECT (the will is not published), bounded by `timeout`."""
        if self._sock is None:
            return
        done = self._loop.create_future()
        previous = self.events

        class _Waiter:
            def cloud_disconnected(self, reason: str) -> None:
                if not done.done():
                    done.set_result(None)

            def __getattr__(self, name: str) -> Any:
                return getattr(previous, name)

        self.events = _Waiter()
        self._client.disconnect()
        try:
            async with asyncio.timeout(timeout):
                await done
        except TimeoutError:
            self.abort()
        finally:
            self.events = previous


_PAHO_FIELDS = (
    ("payload_format_indicator", "PayloadFormatIndicator"),
    ("message_expiry_interval", "MessageExpiryInterval"),
    ("content_type", "ContentType"),
    ("response_topic", "ResponseTopic"),
    ("correlation_data", "CorrelationData"),
)


def _to_paho(props: Properties) -> PahoProperties | None:
    if not props:
        return None
    out = PahoProperties(PacketTypes.PUBLISH)
    for ours, theirs in _PAHO_FIELDS:
        value = getattr(props, ours)
        if value is not None:
            setattr(out, theirs, value)
    if props.user_properties:
        out.UserProperty = list(props.user_properties)
    return out


def _from_paho(props: Any) -> Properties:
    if props is None:
        return NO_PROPERTIES
    values: dict[str, Any] = {}
    for ours, theirs in _PAHO_FIELDS:
        if hasattr(props, theirs):
            values[ours] = getattr(props, theirs)
    if hasattr(props, "UserProperty"):
        values["user_properties"] = tuple(tuple(p) for p in props.UserProperty)
    return Properties(**values) if values else NO_PROPERTIES
