"""The broker core: sessions, routing, retained messages and wills — no I/O.

How this works: `Connection`s (network) and local links (in-process clients) call into the core
with packets and `now`. The core keeps one `Session` per client id, one subscription trie and one
retained store. Routing a message = match the trie (cached per topic), pick one member per shared
group (round robin, online members first), merge overlapping subscriptions of one client into one
delivery with the highest QoS and every subscription identifier [MQTT-3.3.4-2..5], and hand each
delivery to its session. Timers (connect timeout, keepalive, will delay, session expiry, message
expiry, $SYS) are driven by `tick(now)`; `next_deadline()` says when the next one is due: both are
gateway.broker.timers, and the `$SYS` figures are gateway.broker.sys_tree.

A session's life, as the core drives it (the connection's own states are in
gateway.broker.connection):

    CONNECT ──▶ ONLINE (a link attached) ──link_gone──▶ OFFLINE ──expiry──▶ ended
                  ▲   (closed or taken over)              │  will delay: the will waits in
                  └──────── a CONNECT with its id ────────┘  `will_due`; a reconnect cancels it

- `link_gone`: the will is published at once, or held until `will_due` when it has a will delay
  and the session an expiry (the earlier of the two) [MQTT-3.1.3-9]; a DISCONNECT 0x00 discards
  it [MQTT-3.14.4-3]. A session with expiry 0 ends here [MQTT-3.1.2-23].
- `end_session` (clean start, expiry 0, expired, or replaced by an in-process client): a will
  still held is published now, subscriptions leave the trie, queued deliveries are dropped and
  counted, the store is told.

The interface, one owner per name: the core (and its timers) calls a `Connection`'s public
methods (`refuse`, `accept`, `apply_connect_limits`, `session_detached`, `check_timeouts`,
`deadline`, `send`, `close`) and reads its public attributes; a `LocalLink` meets the `Client`
protocol for subscribe/unsubscribe; sessions are driven through `Session`'s public methods.
Nothing outside a class uses its underscore names.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gateway.broker import sys_tree
from gateway.broker.auth import enhanced as enhanced_auth
from gateway.broker.connection import Connection
from gateway.broker.message import Delivery, Message
from gateway.broker.retained import RetainedStore
from gateway.broker.session import Session, SubscriptionEntry
from gateway.broker.settings import NEVER_EXPIRES, BrokerSettings
from gateway.broker.stats import BrokerStats
from gateway.broker.store.persistence import NULL_PERSISTENCE, Persistence
from gateway.broker.timers import CoreTimers
from gateway.broker.trie import SubscriptionTrie
from gateway.logfields import log_fields
from gateway.mqtt.enums import QoS, ReasonCode, RetainHandling
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Publish,
    Suback,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)
from gateway.mqtt.properties import Properties
from gateway.mqtt.topics import parse_shared, validate_topic_filter, validate_topic_name
from gateway.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
R = ReasonCode
RESERVED_CLIENT_ID_PREFIX = "$bridge/"  # bridge sessions; a LAN client may not take them over
_QOS = tuple(QoS)  # QoS by value, indexed by an int or a QoS


class Client(Protocol):
    """What the core uses of a client that subscribes: a network `Connection`
    (gateway.broker.connection) or one of the gateway's own in-process `LocalLink`s."""

    @property
    def client_id(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def version(self) -> int: ...  # 3, 4 (3.1.1) or 5
    @property
    def in_process(self) -> bool: ...  # the gateway's own: the ACL does not apply
    @property
    def session(self) -> Session | None: ...
    def send(self, packet: Packet) -> None: ...


class Authenticator:
    """Decides whether a CONNECT may proceed; the default lets everyone in (anonymous or not)."""

    def authenticate(self, connect: Connect, conn: Connection) -> ReasonCode:
        """SUCCESS, or the CONNACK error code. May set `conn.username` (certificate identity)."""
        return R.SUCCESS

    def start_enhanced(self, method: str, conn: Connection) -> enhanced_auth.Exchange | None:
        """A server-side exchange for this MQTT 5 authentication method (`start(data)`,
        `finish(data)` -> bytes, `username`), or None: not offered [MQTT-4.12.0-1]."""
        return None

    def enhanced_failed(self, conn: Connection, exc: enhanced_auth.AuthenticationFailed) -> None:
        """An enhanced-authentication exchange failed with AuthenticationFailed `exc`."""


class Authorizer:
    """Topic access per client; the default allows everything (the ACL file replaces it)."""

    def can_publish(self, username: str | None, client_id: str, topic: str) -> bool:
        return True

    def can_subscribe(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        return True

    def can_receive(self, username: str | None, client_id: str, topic: str) -> bool:
        return True


@dataclass
class CoreHooks:
    """What the glue plugs into the core."""

    # bridges with overflow "refuse": guard(topic) True = the QoS 1/2 publish is refused
    # (the bridge's queue is full)
    publish_guards: list[Callable[[str], bool]] = field(default_factory=list)


class BrokerCore:
    def __init__(
        self,
        settings: BrokerSettings,
        now: float,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.settings = settings
        self.stats = BrokerStats(started_at=now)
        self.authenticator = authenticator or Authenticator()
        self.authorizer = authorizer or Authorizer()
        self._check_receive = type(self.authorizer) is not Authorizer  # ACLs apply per delivery
        # lines about events a client can repeat at will: one per cause per 10 s, the rest counted
        self.ratelog = RateLimitedLog(log)
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.subs: SubscriptionTrie[SubscriptionEntry] = SubscriptionTrie()
        self.retained = RetainedStore(settings.max_retained_messages)
        self.hooks = CoreHooks()
        self.persistence: Persistence = NULL_PERSISTENCE  # the durable store, when one is attached
        self._dirty: list[Connection] = []
        self._seq = 0  # numbers the messages routed (`sequence`)
        self._rr: dict[str, int] = {}
        self.timers = CoreTimers(self, now)

    @property
    def sequence(self) -> int:
        """How many messages have been routed: each message's `seq` (the bridge dates its
        queued messages by it)."""
        return self._seq

    # -- connections -------------------------------------------------------------------------

    def open_connection(self, now: float, peer: str = "", listener: str = "") -> Connection:
        conn = Connection(self, now, peer, listener)
        self.connections.add(conn)
        return conn

    def mark_dirty(self, conn: Connection) -> None:
        self._dirty.append(conn)

    def take_dirty(self) -> list[Connection]:
        """Connections with data to write or a close to perform (the glue drains them)."""
        dirty, self._dirty = self._dirty, []
        return dirty

    def connect(self, conn: Connection, packet: Connect, now: float) -> None:
        settings = self.settings
        v5 = packet.protocol_version == 5
        client_id = packet.client_id
        if not client_id:
            if (
                (not v5 and not packet.clean_start)
                or packet.protocol_version == 3
                or not settings.allow_zero_length_client_id
            ):  # [MQTT-3.1.3-8]
                return conn.refuse(R.CLIENT_IDENTIFIER_NOT_VALID, "empty client id")
            import uuid  # here: only clients without an id need it

            client_id = f"auto-{uuid.uuid4()}"
        if len(client_id) > settings.max_client_id_length:
            return conn.refuse(R.CLIENT_IDENTIFIER_NOT_VALID, "client id too long")
        if client_id.startswith(RESERVED_CLIENT_ID_PREFIX) or self._in_process_id(client_id):
            return conn.refuse(R.CLIENT_IDENTIFIER_NOT_VALID, f"client id {client_id!r} reserved")
        if packet.will is not None:
            validate_topic_name(packet.will.topic)  # [MQTT-3.1.3-11]
        conn.client_id = client_id
        if packet.properties.authentication_method is not None:  # MQTT 5 enhanced auth (4.12)
            return enhanced_auth.begin(self, conn, packet, now)  # resumes in complete_connect
        conn.username = packet.username
        code = self.authenticator.authenticate(packet, conn)
        if code.is_error:
            self.stats.connections_refused += 1
            return conn.refuse(code, f"authentication of {packet.username!r} failed")
        self.complete_connect(conn, packet, now)

    def _in_process_id(self, client_id: str) -> bool:
        """Is this the client id of one of the gateway's own sessions (relays, sensors, ...)?"""
        session = self.sessions.get(client_id)
        return session is not None and session.in_process

    def complete_connect(
        self, conn: Connection, packet: Connect, now: float, auth: Properties | None = None
    ) -> None:
        """An authenticated CONNECT: limits, session, CONNACK (with `auth`'s method and data)."""
        props = packet.properties
        client_id = conn.client_id
        assigned = client_id if client_id != packet.client_id else None
        if props.receive_maximum == 0 or props.maximum_packet_size == 0:  # [MQTT-3.1.2-?]
            raise ProtocolError(R.PROTOCOL_ERROR, "receive maximum / maximum packet size of 0")
        conn.apply_connect_limits(packet)
        session, present = self._take_session(conn, client_id, packet.clean_start, now)
        session.expiry_interval = self._session_expiry(packet, conn.settings)
        session.will = packet.will
        session.will_due = None  # a reconnect cancels a delayed will [MQTT-3.1.3-9]
        session.username = conn.username
        conn.accept(session)  # CONNECTED
        self.stats.clients_connected += 1
        self.stats.clients_maximum = max(self.stats.clients_maximum, self.stats.clients_connected)
        connack_props = self._connack_properties(conn, packet, assigned)
        if auth is not None:  # [MQTT-4.12.0-5] the method (and server-final data) in CONNACK
            connack_props = dataclasses.replace(
                connack_props,
                authentication_method=auth.authentication_method,
                authentication_data=auth.authentication_data,
            )
        conn.send(Connack(present, R.SUCCESS, connack_props))
        log.info(
            "client %s connected from %s (MQTT %s, clean %s, keepalive %d)",
            client_id,
            conn.peer,
            {3: "3.1", 4: "3.1.1", 5: "5.0"}[conn.version],
            packet.clean_start,
            conn.keep_alive,
            extra=log_fields(client_id, conn),
        )
        session.attach(conn, now)
        self.persistence.session_changed(session, now)

    def _connack_properties(
        self, conn: Connection, packet: Connect, assigned: str | None
    ) -> Properties:
        if conn.version != 5:
            return Properties()
        s = conn.settings
        return Properties(
            assigned_client_identifier=assigned,
            server_keep_alive=conn.keep_alive if conn.keep_alive != packet.keep_alive else None,
            receive_maximum=s.receive_maximum,
            maximum_packet_size=s.max_packet_size,
            topic_alias_maximum=s.topic_alias_maximum,
            retain_available=None if s.retain_available else 0,
            session_expiry_interval=(
                s.max_session_expiry
                if (packet.properties.session_expiry_interval or 0) > s.max_session_expiry
                else None
            ),
        )

    def _session_expiry(self, packet: Connect, settings: BrokerSettings) -> int:
        if packet.protocol_version == 5:
            return min(packet.properties.session_expiry_interval or 0, settings.max_session_expiry)
        return 0 if packet.clean_start else settings.persistent_client_expiration

    def _take_session(
        self, conn: Connection, client_id: str, clean_start: bool, now: float
    ) -> tuple[Session, bool]:
        session = self.sessions.get(client_id)
        if session is not None and session.link is not None:
            old = session.link
            log.info(
                "client %s taken over by a new connection from %s",
                client_id,
                conn.peer,
                extra=log_fields(client_id, conn),
            )
            assert isinstance(old, Connection)  # in-process client ids were refused above
            if old.version == 5:  # [MQTT-3.1.4-3]
                old.send(Disconnect(R.SESSION_TAKEN_OVER))
            old.close()
            self.link_gone(old, session, now)
            session = self.sessions.get(client_id)  # gone if its expiry was 0 [MQTT-3.1.2-23]
        if session is not None and clean_start:
            self.end_session(session, now)
            session = None
        if session is None:
            session = Session(client_id, self.settings, self.stats, self.persistence)
            self.sessions[client_id] = session
            return session, False
        self.stats.clients_disconnected -= 1
        return session, True

    def connection_closed(self, conn: Connection, now: float) -> None:
        self.connections.discard(conn)
        session = conn.session
        if session is None or session.link is not conn:
            return
        self.link_gone(conn, session, now)

    def link_gone(self, conn: Connection, session: Session, now: float) -> None:
        """Connection `conn` left `session` (closed or taken over): detach, then the will and
        the session's end [MQTT-3.1.2-8..10]."""
        self.stats.clients_connected -= 1
        session.detach(now)
        conn.session_detached()
        will = session.will
        session.will = None
        if will is not None and not conn.clean_disconnect:
            delay = will.properties.will_delay_interval or 0
            if delay and session.expiry_interval:
                session.will = will
                session.will_due = now + min(delay, session.expiry_interval)
            else:
                self.publish_will(will, session.client_id, now)
        if session.expiry_interval == 0:
            self.end_session(session, now)
        else:
            self.stats.clients_disconnected += 1
            self.persistence.session_changed(session, now)
        log.info(
            "client %s disconnected%s",
            session.client_id,
            "" if conn.clean_disconnect else " (no DISCONNECT)",
            extra=log_fields(session.client_id, conn),
        )

    def end_session(self, session: Session, now: float) -> None:
        """The session is over (clean start, expiry 0 at the end of its connection, expired, or
        replaced by an in-process client): a pending will now, subscriptions out of the trie,
        queued deliveries dropped and counted, the store told."""
        if session.will is not None:  # the session ends before the will delay is over
            self.publish_will(session.will, session.client_id, now)
            session.will = None
        for entry in session.subscriptions.values():
            self.subs.remove(entry.topic_filter, session.client_id, entry.group)
        session.subscriptions.clear()
        if session.queued_count:
            self.stats.drop("session_ended", session.queued_count)
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        self.persistence.session_ended(session)

    def publish_will(self, will: Will, client_id: str, now: float) -> None:
        log.info(
            "publishing the will of %s on %s",
            client_id,
            will.topic,
            extra=log_fields(client_id, topic=will.topic),
        )
        props = will.properties  # the will delay belongs to the will, not to the message
        if props.will_delay_interval is not None:
            props = dataclasses.replace(props, will_delay_interval=None)
        packet = Publish(will.topic, will.payload, will.qos, will.retain, properties=props)
        self.route_publish(packet, will.topic, client_id, now)

    # -- publishing --------------------------------------------------------------------------

    def check_topic_limits(self, topic: str) -> None:
        settings = self.settings
        if len(topic) > settings.max_topic_length:
            self.stats.limit("max_topic_length")
            raise ProtocolError(R.TOPIC_NAME_INVALID, "topic longer than allowed")
        if topic.count("/") >= settings.max_topic_levels:
            self.stats.limit("max_topic_levels")
            raise ProtocolError(R.TOPIC_NAME_INVALID, "topic deeper than allowed")

    def accept_publish(
        self, conn: Connection, packet: Publish, topic: str, now: float
    ) -> ReasonCode:
        """A client's PUBLISH: access check, then routing; returns the acknowledgement code."""
        if packet.retain and not conn.settings.retain_available:
            raise ProtocolError(R.RETAIN_NOT_SUPPORTED, "retain is not available")  # [MQTT-3.3.1-?]
        if topic.startswith("$SYS") or not self.authorizer.can_publish(
            conn.username, conn.client_id, topic
        ):
            self.stats.drop("not_authorized")
            self.ratelog.log(
                logging.WARNING,
                "publish_denied",
                "publish by %s to %s denied",
                conn.client_id,
                topic,
                extra=log_fields(conn.client_id, conn, topic=topic),
            )
            return R.NOT_AUTHORIZED if conn.version == 5 else R.SUCCESS
        if packet.properties.payload_format_indicator == 1 and not _is_utf8(packet.payload):
            self.stats.drop("payload_format_invalid")  # [MQTT-3.3.2-4]
            return R.PAYLOAD_FORMAT_INVALID
        if (
            packet.qos
            and self.hooks.publish_guards
            and any(guard(topic) for guard in self.hooks.publish_guards)
        ):
            self.stats.limit("bridge_queue_refuse")  # 3.1.1 has no refusal code: close, no ack
            if conn.version != 5:  # so the client keeps the message and resends it [MQTT-4.4.0-1]
                raise ProtocolError(R.QUOTA_EXCEEDED, "bridge queue full")
            return R.QUOTA_EXCEEDED
        matched = self.route_publish(packet, topic, conn.client_id, now)
        if matched or conn.version != 5:
            return R.SUCCESS
        return R.NO_MATCHING_SUBSCRIBERS

    def route_publish(
        self, packet: Publish, topic: str, origin: str, now: float, own: bool = False
    ) -> int:
        """`own`: the gateway's own regenerated state (see `Message.own`)."""
        self._seq += 1
        message = Message.from_publish(packet, topic, origin, now, self._seq, own)
        self.stats.messages_received += 1
        if packet.retain:
            self._store_retained(message)
        return self.route(message, now)

    def _store_retained(self, message: Message) -> None:
        if not self.retained.set(message):
            self.stats.drop("retained_store_full")
            self.stats.limit("max_retained_messages")
            log.warning("retained store full: %s not retained", message.topic)
        else:
            self.persistence.retained_changed(message)

    def route(self, message: Message, now: float) -> int:
        """Deliver to every matching session; returns how many sessions it went to."""
        match = self.subs.match(message.topic)
        if not match.plain and not match.shared:
            return 0
        sessions = self.sessions
        if len(match.plain) == 1 and not match.shared:
            client_id, entry = match.plain[0]
            delivery = self._delivery(message, client_id, entry)
            if delivery is None:
                return 0
            sessions[client_id].deliver(delivery, now)
            return 1
        merged: dict[str, Delivery] = {}
        for client_id, entry in match.plain:
            delivery = self._delivery(message, client_id, entry)
            if delivery is not None:
                merged[client_id] = _merge(merged.get(client_id), delivery)
        targets = [(sessions[cid], d) for cid, d in merged.items()]
        for key, members in match.shared:
            client_id = self._pick_shared(key, members)
            delivery = self._delivery(message, client_id, members[client_id])
            if delivery is not None:
                targets.append((sessions[client_id], delivery))
        for session, delivery in targets:
            session.deliver(delivery, now)
        return len(targets)

    def _delivery(
        self, message: Message, client_id: str, entry: SubscriptionEntry
    ) -> Delivery | None:
        opts = entry.options
        if opts.no_local and client_id == message.origin:  # [MQTT-3.8.3-3]
            return None
        if self._check_receive:
            session = self.sessions[client_id]
            if not session.in_process and not self.authorizer.can_receive(
                session.username, client_id, message.topic
            ):
                self.stats.drop("receive_not_authorized")
                return None
        qos = message.qos if message.qos < opts.qos else opts.qos  # [MQTT-3.8.4-8]
        retain = message.retain and opts.retain_as_published  # [MQTT-3.3.1-12,13]
        ids = (entry.subscription_id,) if entry.subscription_id else ()
        return Delivery(message, _QOS[qos], retain, ids)  # (QoS(qos): an Enum call, ~1 us)

    def _pick_shared(self, key: str, members: dict[str, SubscriptionEntry]) -> str:
        names = list(members)
        start = self._rr.get(key, 0)
        self._rr[key] = start + 1
        for i in range(len(names)):
            name = names[(start + i) % len(names)]
            if self.sessions[name].online:
                return name
        return names[start % len(names)]

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, conn: Client, packet: Subscribe, now: float) -> None:
        session = conn.session
        assert session is not None  # SUBSCRIBE is handled only while the session is attached
        ids = packet.properties.subscription_identifiers
        if len(ids) > 1 or 0 in ids:  # [MQTT-3.8.2-1]
            raise ProtocolError(R.PROTOCOL_ERROR, "bad subscription identifier")
        sub_id = ids[0] if ids else None
        codes, fresh = [], []
        for sub in packet.subscriptions:
            code, is_new = self._add_subscription(conn, session, sub, sub_id)
            codes.append(code)
            if not code.is_error:
                fresh.append((sub, is_new))
        self.persistence.subscriptions_changed(session)
        conn.send(Suback(packet.packet_id, tuple(codes)))
        for sub, is_new in fresh:  # retained messages after the SUBACK [MQTT-3.8.4-4]
            self._send_retained(session, sub, is_new, sub_id, now)

    def _add_subscription(
        self, conn: Client, session: Session, sub: Subscription, sub_id: int | None
    ) -> tuple[ReasonCode, bool]:
        try:
            validate_topic_filter(sub.topic_filter)
        except ProtocolError:
            if conn.version != 5:
                return R.UNSPECIFIED_ERROR, False
            return R.TOPIC_FILTER_INVALID, False
        group, topic_filter = parse_shared(sub.topic_filter)
        limit = self._filter_over_limit(topic_filter)
        if limit is not None:  # refused, not a protocol error: the other filters still count
            self.stats.limit(limit)
            self.ratelog.log(
                logging.WARNING,
                "subscribe_refused",
                "subscribe by %s to %s refused: %s",
                conn.client_id,
                sub.topic_filter,
                limit,
                extra=log_fields(conn.client_id, conn, topic=sub.topic_filter),
            )
            return (R.TOPIC_FILTER_INVALID if conn.version == 5 else R.UNSPECIFIED_ERROR), False
        if group is not None and sub.no_local:  # [MQTT-3.8.3-4]
            raise ProtocolError(R.PROTOCOL_ERROR, "no local on a shared subscription")
        if not conn.in_process and not self.authorizer.can_subscribe(
            conn.username, conn.client_id, sub.topic_filter
        ):
            self.ratelog.log(
                logging.WARNING,
                "subscribe_denied",
                "subscribe by %s to %s denied",
                conn.client_id,
                sub.topic_filter,
                extra=log_fields(conn.client_id, conn, topic=sub.topic_filter),
            )
            self.stats.drop("subscribe_not_authorized")
            return R.NOT_AUTHORIZED, False
        if (
            sub.topic_filter not in session.subscriptions
            and len(session.subscriptions) >= self.settings.max_subscriptions_per_client
        ):
            self.stats.limit("max_subscriptions_per_client")
            return R.QUOTA_EXCEEDED, False
        entry = SubscriptionEntry(sub, sub_id, group, topic_filter)
        session.subscriptions[sub.topic_filter] = entry
        is_new = self.subs.add(topic_filter, session.client_id, entry, group)
        return ReasonCode(int(sub.qos)), is_new

    def _filter_over_limit(self, topic_filter: str) -> str | None:
        """The limit a filter breaks (the same as for topic names: a filter's depth is what a
        subscription costs in the trie), or None."""
        if len(topic_filter) > self.settings.max_topic_length:
            return "max_topic_length"
        if topic_filter.count("/") >= self.settings.max_topic_levels:
            return "max_topic_levels"
        return None

    def _send_retained(
        self, session: Session, sub: Subscription, is_new: bool, sub_id: int | None, now: float
    ) -> None:
        if sub.topic_filter.startswith("$share/"):  # [MQTT-3.8.4-?] not for shared subscriptions
            return
        handling = sub.retain_handling
        if handling == RetainHandling.DO_NOT_SEND or (
            handling == RetainHandling.SEND_IF_NEW_SUBSCRIPTION and not is_new
        ):
            return
        ids = (sub_id,) if sub_id else ()
        for message in list(self.retained.matching(sub.topic_filter)):
            if message.expired(now):
                continue
            if not session.in_process and not self.authorizer.can_receive(
                session.username, session.client_id, message.topic
            ):
                continue
            qos = QoS(min(message.qos, sub.qos))
            session.deliver(Delivery(message, qos, True, ids), now)  # [MQTT-3.3.1-9]

    def unsubscribe(self, conn: Client, packet: Unsubscribe) -> tuple[ReasonCode, ...]:
        session = conn.session
        assert session is not None  # UNSUBSCRIBE is handled only while the session is attached
        codes = []
        for topic_filter in packet.topic_filters:
            entry = session.subscriptions.pop(topic_filter, None)
            if entry is None:
                codes.append(R.NO_SUBSCRIPTION_EXISTED)
                continue
            self.subs.remove(entry.topic_filter, session.client_id, entry.group)
            codes.append(R.SUCCESS)
        self.persistence.subscriptions_changed(session)
        return tuple(codes)

    def unreadable_subscriptions(self) -> int:
        """After an ACL reload: warn about every subscription that can no longer deliver
        anything. It is kept (and delivers nothing, each delivery being checked), as Mosquitto
        does: revoking would be silent to the client and outlive a corrected ACL file."""
        unreadable = 0
        for session in self.sessions.values():
            if session.in_process:
                continue
            for key in session.subscriptions:
                if self.authorizer.can_subscribe(session.username, session.client_id, key):
                    continue
                log.warning(
                    "subscription of %s to %s can deliver nothing under the new ACL "
                    "(kept; it delivers again when the ACL allows)",
                    session.client_id,
                    key,
                    extra=log_fields(session.client_id, topic=key),
                )
                unreadable += 1
        return unreadable

    def auth_packet(self, conn: Connection, packet: Auth, now: float) -> None:
        enhanced_auth.on_auth(self, conn, packet, now)

    # -- timers and $SYS (gateway.broker.timers, gateway.broker.sys_tree) ---------------------

    def tick(self, now: float) -> None:
        self.timers.tick(now)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def sys_values(self, now: float) -> dict[str, object]:
        return sys_tree.sys_values(self, now)

    def publish_sys(self, now: float) -> None:
        sys_tree.publish_sys(self, now)


def _merge(old: Delivery | None, new: Delivery) -> Delivery:
    """Overlapping subscriptions of one client: one delivery, highest QoS, all identifiers."""
    if old is None:
        return new
    return Delivery(
        new.message,
        max(old.qos, new.qos),
        old.retain or new.retain,
        old.subscription_ids + new.subscription_ids,
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


__all__ = ["NEVER_EXPIRES", "Authenticator", "Authorizer", "BrokerCore"]
