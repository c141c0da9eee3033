"""One network connection, sans-IO: bytes in, bytes out, `now` passed in.

How this works: the glue feeds received bytes to `receive_data(data, now)`; the decoder turns them
into packets and each packet goes to its handler (one table, `_HANDLERS`). Handlers answer by
writing packets to this connection's outbox and route messages through the `BrokerCore`, which writes
to other connections' outboxes. After each batch the glue drains `data_to_send()` of every connection
the core marked dirty, and closes those whose `closed` flag is set once their data is written.

A peer's protocol error anywhere in here raises `ProtocolError`; `receive_data` is the one place
that turns it into DISCONNECT (5.0) or a plain close (3.1.1) with the error's reason code.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from gateway.broker.message import Delivery
from gateway.broker.persistence import AckGate
from gateway.broker.session import Session
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
    from gateway.broker.core import BrokerCore

log = logging.getLogger(__name__)

R = ReasonCode


class Connection:
    """The broker's side of one client connection (also the session's `Link` while attached)."""

    acks_immediately = False
    in_process = False  # a network client, always: only the gateway's own links say True

    def __init__(self, core: BrokerCore, now: float, peer: str = "", listener: str = "") -> None:
        self.core = core
        self.peer = peer
        self.listener = listener
        self.decoder = StreamDecoder(max_packet_size=core.settings.max_packet_size)
        self.version = 4
        self.connected = False
        self.closed = False
        self.clean_disconnect = False
        self.session: Session | None = None
        self.client_id = ""
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
        self.auth = None  # enhanced_auth.AuthState once CONNECT named an authentication method
        self.io: object = None  # owned by the glue (the transport)
        self.acks = AckGate(core, self.send, self._not_stored)  # held until the store commits
        self._out: list[bytes] = []

    # -- the sans-IO surface -----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.closed:
            return
        self.last_rx = now
        self.core.stats.bytes_received += len(data)
        decoder = self.decoder
        try:
            for packet in decoder.feed(data):  # each handled before the next is looked at
                _HANDLERS[type(packet)](self, packet, now)
                if self.closed:
                    return
            if decoder.error is not None:  # a bad packet after good ones in this chunk
                raise decoder.error
        except UnsupportedProtocolVersion as exc:
            self.core.stats.connections_refused += 1
            # answered in the 3.1.1 format, which every client version understands [MQTT-3.1.2-2]
            self._refuse(R.UNSUPPORTED_PROTOCOL_VERSION, str(exc), version=4)
        except ProtocolError as exc:
            self.protocol_error(exc, now)

    def data_to_send(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    def connection_lost(self, now: float) -> None:
        """The transport is gone (peer closed, error, or we closed it)."""
        self.closed = True
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
        self.closed = True
        self.core.mark_dirty(self)

    # -- writing -----------------------------------------------------------------------------

    def send(self, packet: object) -> None:
        self.write(encode(packet, self.version))  # type: ignore[arg-type]

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

    def _refuse(self, code: ReasonCode, why: str, version: int | None = None) -> None:
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

    # -- handlers ----------------------------------------------------------------------------

    def _on_connect(self, packet: Connect, now: float) -> None:
        if self.connected or self.auth is not None:  # [MQTT-3.1.0-2]
            raise ProtocolError(R.PROTOCOL_ERROR, "second CONNECT on one connection")
        self.version = packet.protocol_version
        self.core.connect(self, packet, now)

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
            if alias == 0 or alias > self.core.settings.topic_alias_maximum:  # [MQTT-3.3.2-8,9]
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
        self._require_connected()
        self._check_rate(now)
        topic = self._resolve_topic(packet)
        core = self.core
        core.stats.publish_received += 1
        session = self.session
        assert session is not None
        mark = core.persistence.mark()
        if packet.qos == QoS.EXACTLY_ONCE and packet.packet_id in session.incoming_qos2:
            self.acks.send(Pubrec(packet.packet_id), mark)  # a resend: routed once [MQTT-4.3.3-9]
            return
        if (
            packet.qos == QoS.EXACTLY_ONCE
            and len(session.incoming_qos2) >= core.settings.receive_maximum
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
        if packet.qos == QoS.AT_LEAST_ONCE:
            self.acks.send(Puback(packet.packet_id, code), mark)  # type: ignore[arg-type]
        elif packet.qos == QoS.EXACTLY_ONCE:
            if not code.is_error:
                session.store_incoming_qos2(packet.packet_id)  # type: ignore[arg-type]
            self.acks.send(Pubrec(packet.packet_id, code), mark)  # type: ignore[arg-type]

    def _not_stored(self, ack: object, code: ReasonCode) -> None:
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
        self._close_not_stored(
            code,
            f"{type(ack).__name__} {ack.packet_id} "  # type: ignore
            "not stored",
        )

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
        self._require_connected()
        assert self.session is not None
        self.session.on_puback(packet.packet_id, now)

    def _on_pubrec(self, packet: Pubrec, now: float) -> None:
        self._require_connected()
        assert self.session is not None
        if self.session.on_pubrec(packet.packet_id, packet.reason_code.is_error, now):
            return  # the session answers with PUBREL (after the commit recording its state)
        if self.version == 5:
            self.send(Pubrel(packet.packet_id, R.PACKET_IDENTIFIER_NOT_FOUND))
        else:
            self.send(Pubrel(packet.packet_id))

    def _on_pubrel(self, packet: Pubrel, now: float) -> None:
        self._require_connected()
        assert self.session is not None
        mark = self.core.persistence.mark()
        known = self.session.release_incoming_qos2(packet.packet_id)  # [MQTT-4.3.3-10]
        code = R.SUCCESS if known or self.version != 5 else R.PACKET_IDENTIFIER_NOT_FOUND
        self.acks.send(Pubcomp(packet.packet_id, code), mark)

    def _on_pubcomp(self, packet: Pubcomp, now: float) -> None:
        self._require_connected()
        assert self.session is not None
        self.session.on_pubcomp(packet.packet_id, now)

    def _on_subscribe(self, packet: Subscribe, now: float) -> None:
        self._require_connected()
        self.core.subscribe(self, packet, now)

    def _on_unsubscribe(self, packet: Unsubscribe, now: float) -> None:
        self._require_connected()
        codes = self.core.unsubscribe(self, packet)
        self.send(Unsuback(packet.packet_id, codes if self.version == 5 else ()))

    def _on_pingreq(self, packet: Pingreq, now: float) -> None:
        self._require_connected()
        self.send(Pingresp())  # [MQTT-3.12.4-1]

    def _on_disconnect(self, packet: Disconnect, now: float) -> None:
        self._require_connected()
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

    def _require_connected(self) -> None:
        if not self.connected:  # [MQTT-3.1.0-1]
            raise ProtocolError(R.PROTOCOL_ERROR, "first packet must be CONNECT")


_LIMIT_CODES = {
    R.PACKET_TOO_LARGE: "max_packet_size",  # [MQTT-3.2.2-15] refused from the fixed header
    R.RECEIVE_MAXIMUM_EXCEEDED: "receive_maximum",  # [MQTT-3.3.4-9]
}

_HANDLERS = {
    Connect: Connection._on_connect,
    Publish: Connection._on_publish,
    Puback: Connection._on_puback,
    Pubrec: Connection._on_pubrec,
    Pubrel: Connection._on_pubrel,
    Pubcomp: Connection._on_pubcomp,
    Subscribe: Connection._on_subscribe,
    Unsubscribe: Connection._on_unsubscribe,
    Pingreq: Connection._on_pingreq,
    Disconnect: Connection._on_disconnect,
    Auth: Connection._on_auth,
    Connack: Connection._on_server_only,
    Suback: Connection._on_server_only,
    Unsuback: Connection._on_server_only,
    Pingresp: Connection._on_server_only,
}
