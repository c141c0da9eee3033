"""One network connection, sans-IO: bytes in, bytes out, `now` passed in.

How this works: the glue feeds received bytes to `receive_data(data, now)`; the decoder turns them
into packets and each packet goes to the handler that the table `HANDLERS` names for the
connection's current state and the packet's type (the shape of h11's state machine: the state is
one enum, what a packet may do in it is one table, not `if connected` checks spread over the
handlers). Handlers answer by writing packets to this connection's outbox and route messages
through the `BrokerCore`, which writes to other connections' outboxes. After each batch the glue
drains `data_to_send()` of every connection the core marked dirty, and closes those whose state is
CLOSED once their data is written.

The states (`ConnState`) and what moves a connection between them:

    AWAIT_CONNECT ──CONNECT accepted──────────────────────────▶ CONNECTED ◀──┐
         │  └──CONNECT with an authentication method─▶ AUTHENTICATING ─┘     │ AUTH 0x18 final
         │                                       AUTH 0x18 final accepted     │ step accepted
         │                                                  CONNECTED ──AUTH 0x19──▶ REAUTHENTICATING
         └── any state ──refusal, protocol error, DISCONNECT, keepalive or CONNECT timeout,
                         takeover, shutdown, failed (re-)authentication, lost transport──▶ CLOSED

- AWAIT_CONNECT: the transport is open, nothing accepted yet; the CONNECT timeout runs. Only
  CONNECT may come [MQTT-3.1.0-1]; AUTH is refused as AUTH without a method [MQTT-4.12.0-7].
- AUTHENTICATING: CONNECT named an MQTT 5 authentication method; the exchange runs through AUTH
  packets (gateway.broker.auth.enhanced). No session yet; the CONNECT timeout still runs.
- CONNECTED: CONNACK 0x00 sent, the session attached; keepalive x 1.5 runs [MQTT-3.1.2-22].
- REAUTHENTICATING: a connected client started re-authentication (AUTH 0x19) [MQTT-4.12.1-1];
  every packet of CONNECTED is still handled; the final step returns to CONNECTED or closes.
- CLOSED: nothing more is read; the glue writes what is queued and closes the transport, then
  calls `connection_lost`, which detaches the session (will, session expiry: `BrokerCore`).
  A delayed will and the session's expiry belong to the session and outlive this state.

Every transition goes through `_enter`, which checks it against `_NEXT` (a wrong one is a bug in
the broker, not the peer's mistake: it raises `RuntimeError`).

The interface, for the three kinds of callers (nothing else is meant to be touched):
- the glue (`server`, `web.websocket`): `receive_data`, `data_to_send`, `connection_lost`,
  `close`, `announce_shutdown`, `closed`, `io`, `peer_cert`, `client_id` (for logs).
- the core and enhanced authentication: `state`, `connected`, `version`, `client_id`, `username`,
  `peer`, `listener`, `in_process`, `session`, `auth`, `keep_alive`, `clean_disconnect`, `send`,
  `refuse`, `apply_connect_limits`, `accept`, `session_detached`, `start_authentication`,
  `start_reauthentication`, `end_reauthentication`, `check_timeouts`, `deadline`.
- the session (the `Link` protocol of gateway.broker.session): `send_delivery`, `send_pubrel`,
  `send_quota`, `acks_immediately`.

A peer's protocol error anywhere in here raises `ProtocolError`; `receive_data` is the one place
that turns it into DISCONNECT (5.0) or a plain close (3.1.1) with the error's reason code.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from gateway.broker.message import Delivery
from gateway.broker.session import Session
from gateway.broker.store.persistence import AckGate
from gateway.logfields import log_fields
from gateway.mqtt.codec import StreamDecoder, UnsupportedProtocolVersion, encode
from gateway.mqtt.enums import PacketType as P
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Unsuback,
    Unsubscribe,
)
from gateway.mqtt.properties import Properties
from gateway.mqtt.reason_codes import carried_code
from gateway.mqtt.topics import validate_topic_name

if TYPE_CHECKING:
    from gateway.broker.auth.enhanced import AuthState
    from gateway.broker.core import BrokerCore

log = logging.getLogger(__name__)
# the CONNECT and keepalive timeouts were the core's lines before they moved here: same logger,
# so an operator's filter on it still finds them
timeout_log = logging.getLogger("gateway.broker.core")

R = ReasonCode


class ConnState(Enum):
    """Where a connection is in its life (the module docstring draws the transitions)."""

    AWAIT_CONNECT = "await_connect"  # open; only CONNECT may come; the CONNECT timeout runs
    AUTHENTICATING = "authenticating"  # enhanced authentication before CONNACK (MQTT 5, 4.12)
    CONNECTED = "connected"  # CONNACK 0x00 sent, session attached; keepalive runs
    REAUTHENTICATING = "reauthenticating"  # connected, an AUTH 0x19 exchange in progress
    CLOSED = "closed"  # nothing more is read; the glue flushes and closes the transport


S = ConnState
_CLOSED = S.CLOSED  # the hot path compares against it once per packet
_CONNECTED_STATES = frozenset((S.CONNECTED, S.REAUTHENTICATING))

# the transitions `_enter` allows; anything else is a bug in the broker
_NEXT: dict[ConnState, frozenset[ConnState]] = {
    S.AWAIT_CONNECT: frozenset((S.AUTHENTICATING, S.CONNECTED, S.CLOSED)),
    S.AUTHENTICATING: frozenset((S.CONNECTED, S.CLOSED)),
    S.CONNECTED: frozenset((S.REAUTHENTICATING, S.CLOSED)),
    S.REAUTHENTICATING: frozenset((S.CONNECTED, S.CLOSED)),
    S.CLOSED: frozenset((S.CLOSED,)),  # closing twice (a close, then the transport lost) is fine
}


class Connection:
    """The broker's side of one client connection (also the session's `Link` while attached)."""

    acks_immediately = False
    in_process = False  # a network client, always: only the gateway's own links say True

    def __init__(self, core: BrokerCore, now: float, peer: str = "", listener: str = "") -> None:
        self.core = core
        # the limits this connection was opened with: those a CONNACK announces (packet size,
        # receive and topic alias maximum, retain) hold for it even when a reload changes them
        self.settings = core.settings
        self.peer = peer
        self.listener = listener
        self.decoder = StreamDecoder(max_packet_size=core.settings.max_packet_size)
        self.state = S.AWAIT_CONNECT  # read it freely; only `_enter` writes it
        self._handlers = HANDLERS[S.AWAIT_CONNECT]  # the row of `HANDLERS` for `state`
        self.version = 4
        # set by a DISCONNECT that discards the will [MQTT-3.14.4-3]; read when the session detaches
        self.clean_disconnect = False
        self.session: Session | None = None
        self.client_id = ""  # set by the core once the CONNECT's id is valid (or assigned)
        # set by authentication: the CONNECT's, a certificate's or an exchange's user
        self.username: str | None = None
        self.opened_at = now
        self.last_rx = now
        self.keep_alive = 0
        self.send_quota = core.settings.max_inflight
        self.client_max_packet: int | None = None
        self.alias_out_max = 0
        self.alias_out: dict[str, int] = {}
        self.alias_in: dict[int, str] = {}
        self.tokens = float(core.settings.publish_rate_burst)
        self.tokens_at = now
        self.peer_cert: dict | None = None  # the verified client certificate (TLS listeners)
        self.auth: AuthState | None = None  # once CONNECT named an authentication method
        self.io: Any = None  # owned by the glue (the transport)
        self.acks = AckGate(core, self.send, self._not_stored)  # held until the store commits
        self._out: list[bytes] = []

    # -- the state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """CONNACK 0x00 was sent and the connection is not closed (CONNECTED, REAUTHENTICATING)."""
        return self.state in _CONNECTED_STATES

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    def _enter(self, state: ConnState) -> None:
        if state not in _NEXT[self.state]:
            raise RuntimeError(f"connection from {self.peer}: {self.state.name} -> {state.name}")
        self.state = state
        self._handlers = HANDLERS[state]

    # -- the sans-IO surface -----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.state is _CLOSED:
            return
        self.last_rx = now
        self.core.stats.bytes_received += len(data)
        decoder = self.decoder
        try:
            for packet in decoder.feed(data):  # each handled before the next is looked at
                self._handlers[type(packet)](self, packet, now)
                if self.state is _CLOSED:
                    return
            if decoder.error is not None:  # a bad packet after good ones in this chunk
                raise decoder.error
        except UnsupportedProtocolVersion as exc:
            self.core.stats.connections_refused += 1
            # answered in the 3.1.1 format, which every client version understands [MQTT-3.1.2-2]
            self.refuse(R.UNSUPPORTED_PROTOCOL_VERSION, str(exc), version=4)
        except ProtocolError as exc:
            self.protocol_error(exc, now)

    def data_to_send(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    def connection_lost(self, now: float) -> None:
        """The transport is gone (peer closed, error, or we closed it)."""
        self._enter(S.CLOSED)
        self.core.connection_closed(self, now)

    def protocol_error(self, exc: ProtocolError, now: float) -> None:
        """The one place a peer's protocol error becomes DISCONNECT / CONNACK / close [MQTT-4.13]."""
        self.core.stats.protocol_errors += 1
        if exc.reason_code in _LIMIT_CODES:  # a limit that bites as a protocol error
            self.core.stats.limit(_LIMIT_CODES[exc.reason_code])
        # any client can repeat this at will: one line per reason code per 10 s, the rest counted
        self.core.ratelog.log(
            logging.WARNING,
            f"protocol_error_{int(exc.reason_code):02x}",
            "protocol error from %s (%s): %s",
            self.client_id or "-",
            self.peer,
            exc,
            extra=log_fields(self.client_id, self),
        )
        if self.connected and self.version == 5:
            self.send(
                Disconnect(
                    carried_code(P.DISCONNECT, exc.reason_code),
                    Properties(reason_string=exc.message[:200]),
                )
            )
        elif not self.connected and self.decoder.version == 5:
            self.send(Connack(False, carried_code(P.CONNACK, exc.reason_code)))
        self.close()

    def close(self) -> None:
        """Read nothing more; the glue writes what is queued, then closes the transport."""
        self._enter(S.CLOSED)
        self.core.mark_dirty(self)

    def announce_shutdown(self) -> None:
        """The broker is stopping: DISCONNECT 0x8B to a connected 5.0 client, and its will is
        published when it goes (the session did not end with a DISCONNECT of its own)."""
        if self.connected and self.version == 5:
            self.send(Disconnect(R.SERVER_SHUTTING_DOWN))
        self.clean_disconnect = False

    # -- transitions the core and enhanced authentication make -------------------------------

    def refuse(self, code: ReasonCode, why: str, version: int | None = None) -> None:
        """Refuse the CONNECT: CONNACK with `code` (answered as `version`), logged, closed."""
        if version is not None:
            self.version = version
        self.core.ratelog.log(
            logging.INFO,
            "connect_refused",
            "connection from %s refused: %s (%s)",
            self.peer,
            why,
            code.name,
            logger=log,
            extra=log_fields(self.client_id, self),
        )
        self.send(Connack(False, carried_code(P.CONNACK, code)))
        self.close()

    def apply_connect_limits(self, packet: Connect) -> None:
        """Keepalive (capped by the broker's maximum) and, for 5.0, the client's receive maximum,
        maximum packet size and topic alias maximum, from an accepted CONNECT."""
        props = packet.properties
        settings = self.settings
        self.keep_alive = packet.keep_alive
        if packet.keep_alive > settings.max_keepalive or (
            packet.keep_alive == 0 and settings.max_keepalive < 65535
        ):
            self.keep_alive = settings.max_keepalive
        if packet.protocol_version == 5:
            self.send_quota = min(props.receive_maximum or 65535, settings.max_inflight)
            self.client_max_packet = props.maximum_packet_size
            self.alias_out_max = props.topic_alias_maximum or 0

    def accept(self, session: Session) -> None:
        """The CONNECT is accepted (CONNACK 0x00 follows): `session` is this client's now."""
        self.session = session
        self._enter(S.CONNECTED)

    def session_detached(self) -> None:
        """The core detached the session from this connection (closed, or taken over)."""
        self.session = None

    def start_authentication(self, auth: AuthState) -> None:
        """CONNECT named an authentication method: the exchange `auth` runs before CONNACK."""
        self.auth = auth
        self._enter(S.AUTHENTICATING)

    def start_reauthentication(self) -> None:
        """AUTH 0x19 on a connected client [MQTT-4.12.1-1]."""
        self._enter(S.REAUTHENTICATING)

    def end_reauthentication(self) -> None:
        """Re-authentication succeeded (AUTH 0x00 sent)."""
        self._enter(S.CONNECTED)

    # -- timers (driven by the core's tick) --------------------------------------------------

    def deadline(self) -> float | None:
        """When `check_timeouts` next has something to do (None: nothing, or closed)."""
        state = self.state
        if state is S.AWAIT_CONNECT or state is S.AUTHENTICATING:
            return self.opened_at + self.core.settings.connect_timeout
        if state is _CLOSED or not self.keep_alive:
            return None
        return self.last_rx + 1.5 * self.keep_alive

    def check_timeouts(self, now: float) -> None:
        """Close when no CONNECT came in time, or when a connected client was silent for more
        than 1.5 times its keepalive [MQTT-3.1.2-22] (5.0: DISCONNECT 0x8D first)."""
        if self.state is _CLOSED:
            return
        stats = self.core.stats
        if not self.connected:
            if now - self.opened_at > self.core.settings.connect_timeout:
                stats.limit("connect_timeout")
                timeout_log.info(
                    "connection from %s sent no CONNECT in time: closed",
                    self.peer,
                    extra=log_fields(None, self),
                )
                self.close()
        elif self.keep_alive and now - self.last_rx > 1.5 * self.keep_alive:
            stats.keepalive_timeouts += 1
            timeout_log.info(
                "client %s silent for 1.5 x keepalive %d s: disconnected",
                self.client_id,
                self.keep_alive,
                extra=log_fields(self.client_id, self),
            )
            if self.version == 5:
                self.send(Disconnect(R.KEEP_ALIVE_TIMEOUT))
            self.close()

    # -- writing -----------------------------------------------------------------------------

    def send(self, packet: Packet) -> None:
        self.write(encode(packet, self.version))

    def write(self, data: bytes) -> None:
        if not self._out:
            self.core.mark_dirty(self)
        self._out.append(data)
        self.core.stats.bytes_sent += len(data)
        self.core.stats.messages_sent += 1

    def send_delivery(
        self, delivery: Delivery, packet_id: int | None, dup: bool, now: float
    ) -> bool:
        """Encode and queue a PUBLISH for this client (the session's Link method)."""
        msg = delivery.message
        cacheable = (
            packet_id is None
            and not delivery.subscription_ids
            and msg.expires_at is None
            and not self.alias_out_max
        )
        if cacheable:
            key = (self.version, delivery.retain)
            data = msg.encoded.get(key)
            if data is None:
                data = msg.encoded[key] = encode(delivery.to_publish(now, None), self.version)
        else:
            publish = delivery.to_publish(now, packet_id, dup)
            if self.alias_out_max:
                publish = self._apply_alias(publish)
            data = encode(publish, self.version)
        if self.client_max_packet is not None and len(data) > self.client_max_packet:
            self.core.stats.drop("too_large_for_client")  # [MQTT-3.1.2-24]
            self.core.ratelog.log(
                logging.INFO,
                "dropped_too_large",
                "message on %s too large for %s (%d > %d bytes): dropped",
                msg.topic,
                self.client_id,
                len(data),
                self.client_max_packet,
                logger=log,
                extra=log_fields(self.client_id, self, topic=msg.topic),
            )
            return False
        self.write(data)
        self.core.stats.publish_sent += 1
        return True

    def _apply_alias(self, publish: Publish) -> Publish:
        """Outbound topic aliases [MQTT-3.3.2-7]: assign while the client's maximum allows."""
        alias = self.alias_out.get(publish.topic)
        if alias is not None:
            props = dataclasses.replace(publish.properties, topic_alias=alias)
            return dataclasses.replace(publish, topic="", properties=props)
        if len(self.alias_out) < self.alias_out_max:
            alias = self.alias_out[publish.topic] = len(self.alias_out) + 1
            props = dataclasses.replace(publish.properties, topic_alias=alias)
            return dataclasses.replace(publish, properties=props)
        return publish

    def send_pubrel(self, packet_id: int) -> None:
        self.send(Pubrel(packet_id))

    # -- handlers (one per row and column of HANDLERS) ---------------------------------------

    def _on_connect(self, packet: Connect, now: float) -> None:
        self.version = packet.protocol_version
        self.core.connect(self, packet, now)

    def _on_second_connect(self, packet: Connect, now: float) -> None:
        raise ProtocolError(R.PROTOCOL_ERROR, "second CONNECT on one connection")  # [MQTT-3.1.0-2]

    def _on_before_connect(self, packet: object, now: float) -> None:
        raise ProtocolError(R.PROTOCOL_ERROR, "first packet must be CONNECT")  # [MQTT-3.1.0-1]

    def _check_rate(self, now: float) -> None:
        rate = self.core.settings.publish_rate_limit
        if not rate:
            return
        burst = self.core.settings.publish_rate_burst
        self.tokens = min(burst, self.tokens + (now - self.tokens_at) * rate)
        self.tokens_at = now
        if self.tokens < 1:
            self.core.stats.limit("publish_rate_limit")
            raise ProtocolError(R.MESSAGE_RATE_TOO_HIGH, f"more than {rate:g} publishes/s")
        self.tokens -= 1

    def _resolve_topic(self, packet: Publish) -> str:
        alias = packet.properties.topic_alias
        topic = packet.topic
        if alias is not None:
            if alias == 0 or alias > self.settings.topic_alias_maximum:  # [MQTT-3.3.2-8,9]
                raise ProtocolError(R.TOPIC_ALIAS_INVALID, f"topic alias {alias} out of range")
            if topic:
                self.alias_in[alias] = topic
            else:
                topic = self.alias_in.get(alias, "")
                if not topic:
                    raise ProtocolError(R.PROTOCOL_ERROR, f"unknown topic alias {alias}")
        elif not topic:
            raise ProtocolError(R.PROTOCOL_ERROR, "empty topic name without a topic alias")
        validate_topic_name(topic)  # [MQTT-3.3.2-2]
        self.core.check_topic_limits(topic)
        return topic

    def _on_publish(self, packet: Publish, now: float) -> None:
        self._check_rate(now)
        topic = self._resolve_topic(packet)
        core = self.core
        core.stats.publish_received += 1
        if not packet.qos:  # QoS 0: no acknowledgement, nothing for the store to refuse
            core.accept_publish(self, packet, topic, now)
            return
        session = self.session
        assert session is not None
        mark = core.persistence.mark()
        if packet.qos == QoS.EXACTLY_ONCE and packet.packet_id in session.incoming_qos2:
            self.acks.send(Pubrec(packet.packet_id), mark)  # a resend: routed once [MQTT-4.3.3-9]
            return
        if (
            packet.qos == QoS.EXACTLY_ONCE
            and len(session.incoming_qos2) >= self.settings.receive_maximum
            and self.version == 5
        ):
            raise ProtocolError(
                R.RECEIVE_MAXIMUM_EXCEEDED, "more QoS 2 messages than receive maximum unreleased"
            )  # [MQTT-3.3.4-9]
        refused = core.persistence.refused
        code = core.accept_publish(self, packet, topic, now)
        if packet.qos and core.persistence.refused != refused and not code.is_error:
            code = core.persistence.refusal_code()  # a durable queue could not take it
            if self.version != 5:  # 3.1.1 has no refusal code: no ack, so the client resends
                self._close_not_stored(code, f"PUBLISH {packet.packet_id} not stored")
                return
            core.stats.limit("store_refused")
        pid = packet.packet_id
        assert pid is not None  # the decoder requires one at QoS 1 and 2 [MQTT-2.2.1-2]
        if packet.qos == QoS.AT_LEAST_ONCE:
            self.acks.send(Puback(pid, code), mark)
        elif packet.qos == QoS.EXACTLY_ONCE:
            if not code.is_error:
                session.store_incoming_qos2(pid)
            self.acks.send(Pubrec(pid, code), mark)

    def _not_stored(self, ack: Puback | Pubrec | Pubcomp, code: ReasonCode) -> None:
        """An ack held for a commit that failed: 5.0 refuses the PUBLISH with `code`; otherwise
        (3.1.1, or a PUBCOMP, which has no such code) no ack and the connection closes, so the
        client keeps the message and sends it again [MQTT-4.4.0-1]."""
        if isinstance(ack, Pubrec) and not ack.reason_code.is_error and self.session is not None:
            self.session.release_incoming_qos2(ack.packet_id)  # its resend is a new message
        if self.version == 5 and isinstance(ack, Puback | Pubrec):
            self.core.stats.limit("store_refused")
            self.send(
                type(ack)(ack.packet_id, ack.reason_code if ack.reason_code.is_error else code)
            )
            return
        self._close_not_stored(code, f"{type(ack).__name__} {ack.packet_id} not stored")

    def _close_not_stored(self, code: ReasonCode, what: str) -> None:
        self.core.stats.limit("store_refused")
        if self.closed:
            return
        log.warning(
            "%s for %s (%s): the store is %s; connection closed without acknowledging",
            what,
            self.client_id,
            self.peer,
            self.core.persistence.refusing,
            extra=log_fields(self.client_id, self),
        )
        if self.version == 5:
            self.send(Disconnect(code, Properties(reason_string="message not stored")))
        self.close()

    def _on_puback(self, packet: Puback, now: float) -> None:
        assert self.session is not None
        self.session.on_puback(packet.packet_id, now)

    def _on_pubrec(self, packet: Pubrec, now: float) -> None:
        assert self.session is not None
        if self.session.on_pubrec(packet.packet_id, packet.reason_code.is_error, now):
            return  # the session answers with PUBREL (after the commit recording its state)
        if self.version == 5:
            self.send(Pubrel(packet.packet_id, R.PACKET_IDENTIFIER_NOT_FOUND))
        else:
            self.send(Pubrel(packet.packet_id))

    def _on_pubrel(self, packet: Pubrel, now: float) -> None:
        assert self.session is not None
        mark = self.core.persistence.mark()
        known = self.session.release_incoming_qos2(packet.packet_id)  # [MQTT-4.3.3-10]
        code = R.SUCCESS if known or self.version != 5 else R.PACKET_IDENTIFIER_NOT_FOUND
        self.acks.send(Pubcomp(packet.packet_id, code), mark)

    def _on_pubcomp(self, packet: Pubcomp, now: float) -> None:
        assert self.session is not None
        self.session.on_pubcomp(packet.packet_id, now)

    def _on_subscribe(self, packet: Subscribe, now: float) -> None:
        self.core.subscribe(self, packet, now)

    def _on_unsubscribe(self, packet: Unsubscribe, now: float) -> None:
        codes = self.core.unsubscribe(self, packet)
        self.send(Unsuback(packet.packet_id, codes if self.version == 5 else ()))

    def _on_pingreq(self, packet: Pingreq, now: float) -> None:
        self.send(Pingresp())  # [MQTT-3.12.4-1]

    def _on_disconnect(self, packet: Disconnect, now: float) -> None:
        session = self.session
        assert session is not None
        requested = packet.properties.session_expiry_interval
        if requested is not None:
            if session.expiry_interval == 0 and requested != 0:  # [MQTT-3.14.2-2]
                raise ProtocolError(R.PROTOCOL_ERROR, "session expiry set at DISCONNECT after 0")
            session.expiry_interval = min(requested, self.core.settings.max_session_expiry)
        # [MQTT-3.14.4-3] a normal DISCONNECT discards the will; 0x04 asks for it to be sent
        self.clean_disconnect = packet.reason_code != R.DISCONNECT_WITH_WILL_MESSAGE
        self.close()

    def _on_auth(self, packet: Auth, now: float) -> None:
        self.core.auth_packet(self, packet, now)

    def _on_server_only(self, packet: object, now: float) -> None:
        raise ProtocolError(R.PROTOCOL_ERROR, f"{type(packet).__name__} sent to the server")


_LIMIT_CODES = {
    R.PACKET_TOO_LARGE: "max_packet_size",  # [MQTT-3.2.2-15] refused from the fixed header
    R.RECEIVE_MAXIMUM_EXCEEDED: "receive_maximum",  # [MQTT-3.3.4-9]
}

Handler = Callable[[Connection, Any, float], None]

_SERVER_ONLY: dict[type, Handler] = {
    Connack: Connection._on_server_only,
    Suback: Connection._on_server_only,
    Unsuback: Connection._on_server_only,
    Pingresp: Connection._on_server_only,
}
_AFTER_CONNACK = (
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Unsubscribe,
    Pingreq,
    Disconnect,
)
_NOT_YET: dict[type, Handler] = {
    **dict.fromkeys(_AFTER_CONNACK, Connection._on_before_connect),
    **_SERVER_ONLY,
}
_WHILE_CONNECTED: dict[type, Handler] = {
    Connect: Connection._on_second_connect,
    Publish: Connection._on_publish,
    Puback: Connection._on_puback,
    Pubrec: Connection._on_pubrec,
    Pubrel: Connection._on_pubrel,
    Pubcomp: Connection._on_pubcomp,
    Subscribe: Connection._on_subscribe,
    Unsubscribe: Connection._on_unsubscribe,
    Pingreq: Connection._on_pingreq,
    Disconnect: Connection._on_disconnect,
    Auth: Connection._on_auth,  # 0x19 starts re-authentication, 0x18 continues it
    **_SERVER_ONLY,
}

# (state, packet type) -> handler: what each packet does in each state. AUTH before CONNECT is
# refused by enhanced authentication (no method was named) [MQTT-4.12.0-7]. Nothing is read in
# CLOSED (`receive_data` returns first), so its row is empty.
HANDLERS: dict[ConnState, dict[type, Handler]] = {
    S.AWAIT_CONNECT: {**_NOT_YET, Connect: Connection._on_connect, Auth: Connection._on_auth},
    S.AUTHENTICATING: {
        **_NOT_YET,
        Connect: Connection._on_second_connect,
        Auth: Connection._on_auth,
    },
    S.CONNECTED: _WHILE_CONNECTED,
    S.REAUTHENTICATING: dict(_WHILE_CONNECTED),
    S.CLOSED: {},
}
