"""The broker without sockets: in-memory clients driving bytes through the real core, with a fake
clock (in the manner of h11's ConnectionPair).

How this works: `BrokerPair` builds the real `gateway.broker.server.Broker` but never starts it (no
listener, no event loop). Each `PairClient` opens a broker `Connection` the way a listener does
(`core.open_connection`) and becomes its transport (`conn.io`). What a client sends is encoded with
our codec and handed to `Connection.receive_data(data, now)`; then `Broker.flush()`, the glue's own
pump, writes what the core queued into each client's transport, where our codec decodes it into the
client's `inbox`. A connection the broker closes loses its transport at once (as when the peer
reads the EOF and closes), so `connection_lost` runs and the core handles wills and session ends
just as over TCP. Time is `clock.now`: `advance(seconds)` runs the core's timer (`tick`, then
`flush`) at each deadline the core names (`next_deadline()`) and at the end. The glue's timer task
also wakes at least once a second; those ticks between deadlines have nothing to do, so the pair
skips them, and a timer missing from `next_deadline()` shows up here as one that fires late.

Everything happens synchronously inside `send()` / `advance()`: when a call returns, the broker has
handled it and everything it caused has reached the clients' inboxes. So "nothing arrived" is
exact here, not a timeout; a test of it still shows that something else did arrive (a positive
control), so that it cannot pass with delivery broken.

What stays with socket tests (tests/integration/test_broker_*.py): TCP framing and segmentation,
TLS, EOF handling and the half-close, the write-buffer limit, the timer task, paho's view.
"""

from __future__ import annotations

import itertools
from typing import Any

from gateway.broker.core import Authenticator, Authorizer, BrokerCore
from gateway.broker.server import Broker
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode, RetainHandling
from gateway.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Packet,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
)
from gateway.mqtt.properties import NO_PROPERTIES, Properties
from tests.fakes.fake_clock import FakeClock

T0 = 1000.0  # the pair's clock starts here (any value: the core only sees differences)
MIN_STEP = 0.01  # the glue's timer never sleeps less (server.Broker._run_timers)


class BrokerPair:
    """One broker core and its in-memory clients, on a fake clock."""

    def __init__(
        self,
        settings: BrokerSettings | None = None,
        *,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        clock: FakeClock | None = None,
        **overrides: Any,
    ) -> None:
        """`overrides` are BrokerSettings fields (`sys_interval` is 0 unless given). Pass `clock`
        when something built before the pair (an authenticator's back-off) must share it."""
        if settings is None:
            settings = BrokerSettings(**{"sys_interval": 0, **overrides})
        elif overrides:
            raise TypeError("pass settings or BrokerSettings fields, not both")
        self.clock = FakeClock(T0) if clock is None else clock
        self.broker = Broker(
            settings,
            [],
            authenticator=authenticator,
            authorizer=authorizer,
            clock=self.clock.monotonic,
        )
        self.core: BrokerCore = self.broker.core
        self.clients: list[PairClient] = []

    @property
    def now(self) -> float:
        return self.clock.now

    # -- clients -----------------------------------------------------------------------------

    def open(self, version: int = 5, *, auto_ack: bool = True, peer: str = "") -> PairClient:
        """A new connection that has sent nothing yet, from `peer` ("address:port", as the
        listener names it; by default 127.0.0.1 and a port of its own)."""
        client = PairClient(
            self, version, auto_ack, peer or f"127.0.0.1:{40000 + len(self.clients)}"
        )
        self.clients.append(client)
        return client

    def connect(
        self,
        client_id: str,
        version: int = 5,
        *,
        auto_ack: bool = True,
        expect: ReasonCode = ReasonCode.SUCCESS,
        peer: str = "",
        **fields: Any,
    ) -> PairClient:
        """A new connection that sent CONNECT (`fields`: those of `Connect`) and got CONNACK
        with the `expect`ed reason code."""
        client = self.open(version, auto_ack=auto_ack, peer=peer)
        client.connect(client_id, expect=expect, **fields)
        return client

    # -- time --------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass, running the timers the way the glue does (see the module doc)."""
        self.advance_to(self.clock.now + seconds)

    def advance_to(self, target: float) -> None:
        assert target >= self.clock.now, "the monotonic clock does not go back"
        while True:
            self.tick()
            if self.clock.now >= target:
                return
            due = self.core.next_deadline()
            step = max(MIN_STEP, due - self.clock.now) if due is not None else target
            self.clock.now = min(target, self.clock.now + step)

    def tick(self) -> None:
        """One run of the timer task at the current time."""
        self.core.tick(self.clock.now)
        self.pump()

    # -- the glue ----------------------------------------------------------------------------

    def pump(self) -> None:
        """Flush what the core queued, end the connections it closed, send the clients'
        automatic acknowledgements; repeat until nothing moves."""
        while True:
            self.broker.flush()
            moved = False
            for client in self.clients:
                if client.closed and client.conn.io is not None:  # the broker closed it
                    client.conn.io = None
                    client.conn.connection_lost(self.clock.now)
                    moved = True
                while client.outbox and not client.closed:
                    client.conn.receive_data(client.outbox.pop(0), self.clock.now)
                    moved = True
            if not moved:
                return

    def sys(self, name: str) -> object:
        """The current value of `$SYS/broker/<name>`."""
        return self.core.sys_values(self.clock.now)[name]


class PairClient:
    """An MQTT client living in memory: sends packets, keeps what the broker sent in `inbox`.

    It is also its connection's transport (the five methods `Broker.flush` uses). With `auto_ack`
    it answers deliveries as paho does (PUBACK, PUBREC, PUBCOMP); without, the test does.
    """

    def __init__(self, pair: BrokerPair, version: int, auto_ack: bool, peer: str) -> None:
        self.pair = pair
        self.version = version
        self.auto_ack = auto_ack
        self.decoder = StreamDecoder(version=version)
        self.inbox: list[Packet] = []
        self.outbox: list[bytes] = []  # automatic acks, sent by the pump after the flush
        self.closed = False  # the connection is gone (either side closed it)
        self.client_id = ""
        self.connack: Connack | None = None
        self._packet_ids = itertools.count(1)
        self.conn = pair.core.open_connection(pair.clock.now, peer, "default")
        self.conn.io = self

    # -- sending -----------------------------------------------------------------------------

    def send(self, packet: Packet) -> None:
        self.send_bytes(encode(packet, self.version))

    def send_bytes(self, data: bytes) -> None:
        assert not self.closed, "the connection is closed"
        self.conn.receive_data(data, self.pair.clock.now)
        self.pair.pump()

    def next_packet_id(self) -> int:
        return next(self._packet_ids)

    def connect(
        self, client_id: str, *, expect: ReasonCode | None = ReasonCode.SUCCESS, **fields: Any
    ) -> Connack:
        """CONNECT; returns the CONNACK, checked to carry `expect` (None: any code)."""
        self.send(Connect(client_id, protocol_version=self.version, **fields))
        ack = self.recv()
        assert isinstance(ack, Connack), f"expected CONNACK, got {ack!r}"
        if expect is not None:
            assert ack.reason_code == expect, f"CONNACK {ack.reason_code!r}, expected {expect!r}"
        self.client_id = ack.properties.assigned_client_identifier or client_id
        self.connack = ack
        return ack

    def subscribe(
        self,
        topic_filter: str | list[tuple[str, int]],
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_id: int | None = None,
    ) -> tuple[ReasonCode, ...]:
        """SUBSCRIBE to one filter, or to several [(filter, qos), ...] in one packet (the options
        apply to each); returns the SUBACK's reason codes."""
        wanted = [(topic_filter, qos)] if isinstance(topic_filter, str) else topic_filter
        subs = tuple(
            Subscription(f, QoS(q), no_local, retain_as_published, RetainHandling(retain_handling))
            for f, q in wanted
        )
        props = (
            Properties(subscription_identifiers=(subscription_id,))
            if subscription_id is not None
            else NO_PROPERTIES
        )
        pid = self.next_packet_id()
        self.send(Subscribe(pid, subs, props))
        return self.take_ack(Suback, pid).reason_codes

    def unsubscribe(self, *topic_filters: str) -> Unsuback:
        pid = self.next_packet_id()
        self.send(Unsubscribe(pid, topic_filters))
        return self.take_ack(Unsuback, pid)

    def publish(
        self,
        topic: str,
        payload: bytes = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> Puback | Pubrec | None:
        """PUBLISH and run its handshake to the end: returns the PUBACK (QoS 1) or the PUBREC
        (QoS 2, after which PUBREL / PUBCOMP were exchanged), None for QoS 0."""
        pid = self.next_packet_id() if qos else None
        self.send(Publish(topic, payload, QoS(qos), retain, packet_id=pid, properties=properties))
        if not qos:
            return None
        assert pid is not None
        if qos == 1:
            return self.take_ack(Puback, pid)
        pubrec = self.take_ack(Pubrec, pid)
        if not pubrec.reason_code.is_error:
            self.send(Pubrel(pid))
            self.take_ack(Pubcomp, pid)
        return pubrec

    def disconnect(self, reason: ReasonCode = ReasonCode.SUCCESS, **props: Any) -> None:
        """DISCONNECT (`props`: its properties); the broker then closes the connection."""
        properties = Properties(**props) if props else NO_PROPERTIES
        self.send(Disconnect(reason, properties))
        assert self.closed, "the broker did not close the connection after DISCONNECT"

    def lose(self) -> None:
        """The connection drops without DISCONNECT (the client died, the network went)."""
        if self.closed:
            return
        self.closed = True
        self.conn.io = None
        self.conn.connection_lost(self.pair.clock.now)
        self.pair.pump()

    # -- receiving ---------------------------------------------------------------------------

    def recv(self) -> Packet:
        """The oldest packet received and not yet taken."""
        assert self.inbox, f"{self.client_id or 'client'} received nothing"
        return self.inbox.pop(0)

    def take(self) -> list[Packet]:
        """Every packet received and not yet taken."""
        got, self.inbox = self.inbox, []
        return got

    def messages(self) -> list[Publish]:
        """The PUBLISHes received and not yet taken (other packets stay in the inbox)."""
        got = [p for p in self.inbox if isinstance(p, Publish)]
        self.inbox = [p for p in self.inbox if not isinstance(p, Publish)]
        return got

    def message(self) -> Publish:
        """Exactly one PUBLISH was received."""
        got = self.messages()
        assert len(got) == 1, f"expected one message, got {got!r}"
        return got[0]

    def expect_nothing(self) -> None:
        assert not self.inbox, f"unexpected {self.inbox!r}"

    def take_ack(self, kind: type, packet_id: int) -> Any:
        """Take the acknowledgement `kind` for `packet_id` from the inbox."""
        for i, packet in enumerate(self.inbox):
            if isinstance(packet, kind) and getattr(packet, "packet_id", None) == packet_id:
                return self.inbox.pop(i)
        raise AssertionError(f"no {kind.__name__} {packet_id} in {self.inbox!r}")

    def closed_with(self) -> Packet | None:
        """The connection is closed; returns the last packet the broker sent before closing."""
        assert self.closed, "the connection is still open"
        return self.inbox[-1] if self.inbox else None

    # -- the transport (what Broker.flush calls) ---------------------------------------------

    def write(self, data: bytes) -> None:
        for packet in self.decoder.feed(data):
            self.inbox.append(packet)
            if self.auto_ack:
                self._ack(packet)

    def _ack(self, packet: Packet) -> None:
        if isinstance(packet, Publish) and packet.qos == QoS.AT_LEAST_ONCE:
            self.outbox.append(encode(Puback(packet.packet_id), self.version))  # type: ignore[arg-type]
        elif isinstance(packet, Publish) and packet.qos == QoS.EXACTLY_ONCE:
            self.outbox.append(encode(Pubrec(packet.packet_id), self.version))  # type: ignore[arg-type]
        elif isinstance(packet, Pubrel):
            self.outbox.append(encode(Pubcomp(packet.packet_id), self.version))

    def get_write_buffer_size(self) -> int:
        return 0  # the client reads everything at once

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True
