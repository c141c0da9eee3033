"""The sans-IO core with a fake clock: keepalive, connect timeout, will delay, session and message
expiry, and next_deadline(). No sockets, no sleeps: time is an argument."""

from __future__ import annotations

from gateway.broker.core import BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Publish,
    Subscribe,
    Subscription,
    Will,
)
from gateway.mqtt.properties import Properties

T0 = 1000.0


class Peer:
    """One client of the core: encodes what it sends, decodes what the core answers."""

    def __init__(self, core: BrokerCore, now: float, version: int = 5) -> None:
        self.core = core
        self.version = version
        self.conn = core.open_connection(now, "test")
        self.decoder = StreamDecoder(version=version)
        self.pending: list = []

    def send(self, packet, now: float) -> list:
        self.conn.receive_data(encode(packet, self.version), now)
        return self.received()

    def received(self) -> list:
        self.core.take_dirty()
        got = self.pending + self.decoder.feed(self.conn.data_to_send())
        self.pending = []
        return got

    def connect(self, client_id: str, now: float, **kwargs) -> Connack:
        ack, *self.pending = self.send(
            Connect(client_id, protocol_version=self.version, **kwargs), now
        )
        assert isinstance(ack, Connack) and ack.reason_code == ReasonCode.SUCCESS
        return ack

    def lose(self, now: float) -> None:
        self.conn.connection_lost(now)


def make_core(**settings) -> BrokerCore:
    return BrokerCore(BrokerSettings(sys_interval=0, **settings), T0)


def test_keepalive_closes_at_one_and_a_half_times_not_before_MQTT_3_1_2_22():
    core = make_core()
    peer = Peer(core, T0)
    peer.connect("k", T0, keep_alive=10)
    core.tick(T0 + 14.9)
    assert not peer.conn.closed
    assert core.next_deadline() == T0 + 15
    core.tick(T0 + 15.01)
    assert peer.conn.closed
    [disconnect] = peer.received()
    assert disconnect.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT


def test_any_packet_resets_the_keepalive_timer():
    core = make_core()
    peer = Peer(core, T0)
    peer.connect("k", T0, keep_alive=10)
    assert isinstance(peer.send(Pingreq(), T0 + 14)[0], Pingresp)
    core.tick(T0 + 28)
    assert not peer.conn.closed
    core.tick(T0 + 29.1)
    assert peer.conn.closed


def test_keepalive_zero_never_times_out():
    core = make_core()
    peer = Peer(core, T0)
    peer.connect("k", T0, keep_alive=0)
    core.tick(T0 + 10**6)
    assert not peer.conn.closed


def test_server_keep_alive_caps_a_long_keepalive_MQTT_3_2_2_21():
    core = make_core(max_keepalive=30)
    peer = Peer(core, T0)
    ack = peer.connect("k", T0, keep_alive=600)
    assert ack.properties.server_keep_alive == 30
    core.tick(T0 + 45.5)
    assert peer.conn.closed


def test_connect_timeout():
    core = make_core(connect_timeout=5)
    peer = Peer(core, T0)
    core.tick(T0 + 4.9)
    assert not peer.conn.closed
    core.tick(T0 + 5.1)
    assert peer.conn.closed


def _watch(core: BrokerCore, topic: str, now: float) -> Peer:
    watcher = Peer(core, now)
    watcher.connect("watcher", now, keep_alive=0)
    watcher.send(Subscribe(1, (Subscription(topic, QoS.AT_MOST_ONCE),)), now)
    return watcher


def _will(delay: int | None) -> Will:
    return Will("w/dev", b"gone", QoS.AT_MOST_ONCE, False, Properties(will_delay_interval=delay))


def test_will_delay_publishes_after_the_delay_MQTT_3_1_3_9():
    core = make_core()
    watcher = _watch(core, "w/#", T0)
    dev = Peer(core, T0)
    dev.connect("dev", T0, will=_will(30), properties=Properties(session_expiry_interval=300))
    dev.lose(T0 + 1)
    core.tick(T0 + 30.9)
    assert watcher.received() == []
    assert core.next_deadline() == T0 + 31
    core.tick(T0 + 31)
    [publish] = watcher.received()
    assert publish.payload == b"gone"


def test_will_delay_cancelled_when_the_session_resumes_MQTT_3_1_3_9():
    core = make_core()
    watcher = _watch(core, "w/#", T0)
    dev = Peer(core, T0)
    dev.connect("dev", T0, will=_will(30), properties=Properties(session_expiry_interval=300))
    dev.lose(T0 + 1)
    again = Peer(core, T0 + 10)
    again.connect(
        "dev", T0 + 10, clean_start=False, properties=Properties(session_expiry_interval=300)
    )
    core.tick(T0 + 100)
    assert watcher.received() == []


def test_will_published_at_session_end_when_expiry_is_shorter_than_delay_MQTT_3_1_2_8():
    core = make_core()
    watcher = _watch(core, "w/#", T0)
    dev = Peer(core, T0)
    dev.connect("dev", T0, will=_will(3600), properties=Properties(session_expiry_interval=20))
    dev.lose(T0)
    core.tick(T0 + 19.9)
    assert watcher.received() == []
    core.tick(T0 + 20)
    assert [p.payload for p in watcher.received()] == [b"gone"]
    assert "dev" not in core.sessions


def test_normal_disconnect_discards_the_will_MQTT_3_14_4_3():
    core = make_core()
    watcher = _watch(core, "w/#", T0)
    dev = Peer(core, T0)
    dev.connect("dev", T0, will=_will(None))
    dev.send(Disconnect(), T0 + 1)
    dev.lose(T0 + 1)
    core.tick(T0 + 100)
    assert watcher.received() == []


def test_session_expiry_is_measured_from_the_disconnect_MQTT_3_1_2_11():
    core = make_core()
    dev = Peer(core, T0)
    dev.connect("dev", T0, properties=Properties(session_expiry_interval=60))
    dev.lose(T0 + 100)
    core.tick(T0 + 159)
    assert "dev" in core.sessions
    core.tick(T0 + 160)
    assert "dev" not in core.sessions


def test_queued_message_expires_while_the_client_is_away_MQTT_3_3_2_5():
    core = make_core()
    sub = Peer(core, T0)
    sub.connect("sub", T0, properties=Properties(session_expiry_interval=600))
    sub.send(Subscribe(1, (Subscription("e", QoS.AT_LEAST_ONCE),)), T0)
    sub.lose(T0)
    pub = Peer(core, T0)
    pub.connect("pub", T0)
    pub.send(
        Publish(
            "e",
            b"short",
            QoS.AT_LEAST_ONCE,
            packet_id=1,
            properties=Properties(message_expiry_interval=10),
        ),
        T0,
    )
    pub.send(
        Publish(
            "e",
            b"long",
            QoS.AT_LEAST_ONCE,
            packet_id=2,
            properties=Properties(message_expiry_interval=100),
        ),
        T0,
    )
    back = Peer(core, T0 + 30)
    ack = back.connect(
        "sub", T0 + 30, clean_start=False, properties=Properties(session_expiry_interval=600)
    )
    assert ack.session_present
    [publish] = back.received()
    assert publish.payload == b"long"
    assert publish.properties.message_expiry_interval == 70  # the remaining interval
    assert core.stats.dropped["expired"] == 1


def test_subscriber_offline_qos0_is_not_queued():
    core = make_core()
    sub = Peer(core, T0)
    sub.connect("sub", T0, properties=Properties(session_expiry_interval=600))
    sub.send(Subscribe(1, (Subscription("q", QoS.AT_LEAST_ONCE),)), T0)
    sub.lose(T0)
    pub = Peer(core, T0)
    pub.connect("pub", T0)
    pub.send(Publish("q", b"fire-and-forget"), T0)
    assert len(core.sessions["sub"].queue) == 0
