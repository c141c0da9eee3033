"""Hypothesis fuzz of the sans-IO broker: random and mutated packet sequences from several
connections into one `BrokerCore`, with a fake clock and timer ticks.

Each example is a list of steps: bytes to a connection (a well-formed packet, a mutated one, or
random bytes), time passing with `tick()`, or a connection lost. After every step:
- nothing but the handled ProtocolError path escapes (any other exception fails the test);
- every byte the broker wrote decodes as well-formed packets for that connection's version;
- a connection closed while handling its input was closed for a reason the spec gives: a
  protocol error (counted), a refused CONNECT (CONNACK >= 0x80), the client's DISCONNECT, or a
  take-over by a newer connection of the same client id [MQTT-3.1.4-3];
- a connection closed by `tick()` was past its CONNECT timeout or 1.5 x keep alive;
- the core's books balance: connected clients = attached sessions, the trie holds exactly the
  sessions' subscriptions, no session has more in flight than its window or more queued than
  the limit, and every open connection is known to the core.

Default run: 2 tests x 300 examples (a few seconds); GATEWAY_SOAK=1 runs 5,000 each.
"""

from __future__ import annotations

import contextlib
import os
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.broker import connection as connection_module
from gateway.broker.connection import Connection, ConnState
from gateway.broker.core import BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)
from gateway.mqtt.properties import Properties

EXAMPLES = 5000 if os.environ.get("GATEWAY_SOAK") == "1" else 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIMITS = BrokerSettings(
    sys_interval=5,
    connect_timeout=3,
    max_inflight=2,
    receive_maximum=2,
    max_queued_messages=4,
    max_subscriptions_per_client=3,
    max_packet_size=512,
    max_topic_levels=4,
    topic_alias_maximum=2,
    publish_rate_limit=50,
    publish_rate_burst=5,
)
CONNS = 3
R = ReasonCode

ids = st.integers(1, 4)
topics = st.sampled_from(["a", "a/b", "a/b/c", "b", "$SYS/x", "x/y/z/w/v", "a/+"])
filters = st.sampled_from(["#", "a/#", "+/b", "a", "$share/g/a/#", "$SYS/#", "a/b/#", "bad#"])
qos = st.sampled_from(list(QoS))


@st.composite
def v5_props(draw, **choices):
    values = {name: draw(st.one_of(st.none(), options)) for name, options in choices.items()}
    return Properties(**{k: v for k, v in values.items() if v is not None})


def packets(version: int):
    v5 = version == 5
    empty = st.just(Properties())
    connect_props = (
        v5_props(
            session_expiry_interval=st.sampled_from([0, 10, 0xFFFFFFFF]),
            receive_maximum=st.sampled_from([1, 2, 100]),
            authentication_method=st.sampled_from(["SCRAM-SHA-256", "X"]),
            topic_alias_maximum=st.integers(0, 3),
        )
        if v5
        else empty
    )
    publish_props = (
        v5_props(
            topic_alias=st.integers(0, 3),
            message_expiry_interval=st.integers(0, 5),
            payload_format_indicator=st.integers(0, 1),
        )
        if v5
        else empty
    )
    wills = st.none() | st.builds(Will, topics, st.binary(max_size=8), qos, st.booleans())
    return st.one_of(
        st.builds(
            Connect,
            st.sampled_from(["a", "b", "c", ""]),
            st.just(version),
            st.booleans(),
            st.sampled_from([0, 1, 5]),
            st.none() | st.just("u"),
            st.none() | st.just(b"p"),
            wills,
            connect_props,
        ),
        st.builds(
            lambda t, p, q, r, i, props: Publish(t, p, q, r, False, i if q else None, props),
            topics,
            st.binary(max_size=40),
            qos,
            st.booleans(),
            ids,
            publish_props,
        ),
        st.builds(
            lambda i, subs: Subscribe(i, tuple(subs)),
            ids,
            st.lists(st.builds(Subscription, filters, qos), min_size=1, max_size=3),
        ),
        st.builds(
            lambda i, fs: Unsubscribe(i, tuple(fs)), ids, st.lists(filters, min_size=1, max_size=2)
        ),
        st.builds(Puback, ids),
        st.builds(Pubrec, ids),
        st.builds(Pubrel, ids),
        st.builds(Pubcomp, ids),
        st.just(Pingreq()),
        st.builds(Disconnect, st.sampled_from([R.SUCCESS, R.DISCONNECT_WITH_WILL_MESSAGE])),
        *(
            [
                st.builds(
                    Auth,
                    st.sampled_from([R.CONTINUE_AUTHENTICATION, R.RE_AUTHENTICATE]),
                    st.just(Properties(authentication_method="X")),
                )
            ]
            if v5
            else []
        ),
    )


PACKETS = {4: packets(4), 5: packets(5)}


@st.composite
def wire(draw, version: int, mutate: bool) -> bytes:
    packet = draw(PACKETS[version])
    try:
        data = encode(packet, version)
    except (ProtocolError, ValueError):
        data = b"\xe0\x00"  # the encoder refused the combination: send a DISCONNECT instead
    if not mutate:
        return data
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "random"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=64))
    index = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return (
            data[:index] + bytes([data[index] ^ (1 << draw(st.integers(0, 7)))]) + data[index + 1 :]
        )
    if kind == "truncate":
        return data[:index]
    return data[:index] + draw(st.binary(min_size=1, max_size=8)) + data[index:]


def steps(mutate: bool):
    def send(version: int):
        return st.tuples(st.just("send"), st.integers(0, CONNS - 1), wire(version, mutate))

    return st.integers(4, 5).flatmap(
        lambda version: st.tuples(
            st.just(version),
            st.lists(
                st.one_of(
                    send(version),
                    send(version),
                    send(version),
                    st.tuples(st.just("advance"), st.sampled_from([0.01, 0.5, 2.0, 8.0])),
                    st.tuples(st.just("lose"), st.integers(0, CONNS - 1)),
                ),
                min_size=1,
                max_size=30,
            ),
        )
    )


class Harness:
    def __init__(self, version: int) -> None:
        self.version = version
        self.now = 0.0
        self.core = BrokerCore(LIMITS, self.now)
        self.conns = [self._open() for _ in range(CONNS)]
        self.decoders: dict[object, StreamDecoder] = {}
        self.disconnected: set[object] = set()

    def _open(self):
        conn = self.core.open_connection(self.now, "fuzz", "default")
        return conn

    def drain(self) -> dict[Connection, list]:
        out: dict[Connection, list] = {}
        for conn in self.core.take_dirty():
            data = conn.data_to_send()
            if conn not in self.decoders:  # the version the broker speaks to it: a refused
                # unknown protocol level is answered in 3.1.1's format [MQTT-3.1.2-2]
                self.decoders[conn] = StreamDecoder(version=conn.version)
            decoder = self.decoders[conn]
            # well-formed, or the decoder raises ProtocolError and the test fails
            out.setdefault(conn, []).extend(decoder.feed(data))
        return out

    def send(self, index: int, data: bytes) -> None:
        conn = self.conns[index]
        was_open = {c: c for c in self.core.connections if not c.closed}
        errors, refused = self.core.stats.protocol_errors, self.core.stats.connections_refused
        conn.receive_data(data, self.now)
        written = self.drain()
        for cid, other in was_open.items():
            if not other.closed:
                continue
            if other is conn:
                connack_error = any(
                    isinstance(p, Connack) and p.reason_code.is_error for p in written.get(cid, [])
                )
                assert (
                    self.core.stats.protocol_errors > errors
                    or connack_error
                    or self.core.stats.connections_refused > refused
                    or cid in self.disconnected
                ), "closed without a reason"
            else:  # [MQTT-3.1.4-3] a newer connection took the client id over
                assert conn.client_id and other.client_id == conn.client_id
            self._lost(other)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = set()
        for c in self.core.connections:
            if c.closed:
                continue
            if (not c.connected and self.now - c.opened_at > LIMITS.connect_timeout) or (
                c.connected and c.keep_alive and self.now - c.last_rx > 1.5 * c.keep_alive
            ):
                due.add(c)
        before = {c: c for c in self.core.connections if not c.closed}
        self.core.tick(self.now)
        self.drain()
        for cid, conn in before.items():
            if conn.closed:
                assert cid in due, "tick closed a connection that was not due"
                self._lost(conn)

    def lose(self, index: int) -> None:
        conn = self.conns[index]
        if not conn.closed:
            conn.connection_lost(self.now)
            self.drain()
        self._replace(conn)

    def _lost(self, conn) -> None:
        conn.connection_lost(self.now)  # the glue does this once the transport is closed
        self.drain()
        self._replace(conn)

    def _replace(self, conn) -> None:
        if conn in self.conns:
            self.conns[self.conns.index(conn)] = self._open()

    def check_books(self) -> None:
        core = self.core
        attached = [s for s in core.sessions.values() if s.link is not None]
        assert core.stats.clients_connected == len(attached)
        assert all(s.link in core.connections and s.link.connected for s in attached)
        assert core.subs.count == sum(len(s.subscriptions) for s in core.sessions.values())
        for session in core.sessions.values():
            assert len(session.subscriptions) <= LIMITS.max_subscriptions_per_client
            assert session.queued_count <= LIMITS.max_queued_messages
            if session.link is not None:
                assert (
                    len(session.inflight) <= max(session.link.send_quota, 0)
                    or len(session.inflight) <= LIMITS.max_inflight
                )
        for conn in self.conns:
            assert conn in core.connections


def run(version: int, program: list) -> None:
    harness = Harness(version)
    table = connection_module.HANDLERS
    original = table[ConnState.CONNECTED][Disconnect]

    def recording_disconnect(conn, packet, now):
        harness.disconnected.add(conn)
        return original(conn, packet, now)

    with contextlib.ExitStack() as patches:
        for row in table.values():  # every state in which DISCONNECT ends the connection
            if row.get(Disconnect) is original:
                patches.enter_context(mock.patch.dict(row, {Disconnect: recording_disconnect}))
        for step in program:
            getattr(harness, step[0])(*step[1:])
            harness.check_books()
        harness.advance(3600.0)  # everything times out or expires in the end
        harness.check_books()


@FUZZ
@given(steps(mutate=False))
def test_random_packet_sequences_keep_the_broker_consistent(case) -> None:
    run(*case)


@FUZZ
@given(steps(mutate=True))
def test_mutated_packet_sequences_only_close_through_protocol_errors(case) -> None:
    run(*case)
