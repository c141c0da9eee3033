"""The broker's timers on the in-memory broker with a fake clock (tests/support/broker_pair.py):
keepalive, connect timeout, will delay, session and message expiry, and next_deadline(). No
sockets, no sleeps: time is an argument."""

from __future__ import annotations

from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Pingreq, Pingresp, Publish, Will
from gateway.mqtt.properties import Properties
from tests.support.broker_pair import T0, BrokerPair, PairClient


def test_keepalive_closes_at_one_and_a_half_times_not_before_MQTT_3_1_2_22():
    pair = BrokerPair()
    peer = pair.connect("k", keep_alive=10)
    pair.advance_to(T0 + 14.9)
    assert not peer.closed
    assert pair.core.next_deadline() == T0 + 15
    pair.advance_to(T0 + 15.01)
    assert peer.closed
    [disconnect] = peer.take()
    assert disconnect.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT


def test_any_packet_resets_the_keepalive_timer():
    pair = BrokerPair()
    peer = pair.connect("k", keep_alive=10)
    pair.advance_to(T0 + 14)
    peer.send(Pingreq())
    assert isinstance(peer.recv(), Pingresp)
    pair.advance_to(T0 + 28)
    assert not peer.closed
    pair.advance_to(T0 + 29.1)
    assert peer.closed


def test_keepalive_zero_never_times_out():
    pair = BrokerPair()
    peer = pair.connect("k", keep_alive=0)
    pair.advance(10**6)
    assert not peer.closed


def test_server_keep_alive_caps_a_long_keepalive_MQTT_3_2_2_21():
    pair = BrokerPair(max_keepalive=30)
    peer = pair.connect("k", keep_alive=600)
    assert peer.connack.properties.server_keep_alive == 30
    pair.advance_to(T0 + 45.5)
    assert peer.closed


def test_connect_timeout():
    pair = BrokerPair(connect_timeout=5)
    peer = pair.open()
    pair.advance_to(T0 + 4.9)
    assert not peer.closed
    pair.advance_to(T0 + 5.1)
    assert peer.closed


def _watch(pair: BrokerPair, topic: str) -> PairClient:
    watcher = pair.connect("watcher", keep_alive=0)
    watcher.subscribe(topic, 0)
    return watcher


def _will(delay: int | None) -> Will:
    return Will("w/dev", b"gone", QoS.AT_MOST_ONCE, False, Properties(will_delay_interval=delay))


def _marker(pair: BrokerPair) -> None:
    """A message every watcher of w/# gets: the positive control of a 'nothing arrives' check."""
    pair.connect("marker", keep_alive=0).publish("w/marker", b"m")


def test_will_delay_publishes_after_the_delay_MQTT_3_1_3_9():
    pair = BrokerPair()
    watcher = _watch(pair, "w/#")
    dev = pair.connect("dev", will=_will(30), properties=Properties(session_expiry_interval=300))
    pair.advance_to(T0 + 1)
    dev.lose()
    pair.advance_to(T0 + 30.9)
    watcher.expect_nothing()
    assert pair.core.next_deadline() == T0 + 31
    pair.advance_to(T0 + 31)
    [publish] = watcher.messages()
    assert publish.payload == b"gone"
    assert publish.properties.will_delay_interval is None  # the delay is not passed on


def test_will_delay_cancelled_when_the_session_resumes_MQTT_3_1_3_9():
    pair = BrokerPair()
    watcher = _watch(pair, "w/#")
    dev = pair.connect("dev", will=_will(30), properties=Properties(session_expiry_interval=300))
    pair.advance_to(T0 + 1)
    dev.lose()
    pair.advance_to(T0 + 10)
    pair.connect("dev", clean_start=False, properties=Properties(session_expiry_interval=300))
    pair.advance_to(T0 + 100)
    _marker(pair)
    assert [m.topic for m in watcher.messages()] == ["w/marker"]


def test_will_published_at_session_end_when_expiry_is_shorter_than_delay_MQTT_3_1_2_8():
    pair = BrokerPair()
    watcher = _watch(pair, "w/#")
    dev = pair.connect("dev", will=_will(3600), properties=Properties(session_expiry_interval=20))
    dev.lose()
    pair.advance_to(T0 + 19.9)
    watcher.expect_nothing()
    pair.advance_to(T0 + 20)
    assert [p.payload for p in watcher.messages()] == [b"gone"]
    assert "dev" not in pair.core.sessions


def test_normal_disconnect_discards_the_will_MQTT_3_14_4_3():
    pair = BrokerPair()
    watcher = _watch(pair, "w/#")
    dev = pair.connect("dev", will=_will(None))
    pair.advance_to(T0 + 1)
    dev.disconnect()
    pair.advance_to(T0 + 100)
    _marker(pair)
    assert [m.topic for m in watcher.messages()] == ["w/marker"]


def test_session_expiry_is_measured_from_the_disconnect_MQTT_3_1_2_11():
    pair = BrokerPair()
    dev = pair.connect("dev", keep_alive=0, properties=Properties(session_expiry_interval=60))
    pair.advance_to(T0 + 100)
    dev.lose()
    pair.advance_to(T0 + 159)
    assert "dev" in pair.core.sessions
    pair.advance_to(T0 + 160)
    assert "dev" not in pair.core.sessions


def test_queued_message_expires_while_the_client_is_away_MQTT_3_3_2_5():
    pair = BrokerPair()
    sub = pair.connect("sub", properties=Properties(session_expiry_interval=600))
    sub.subscribe("e", 1)
    sub.lose()
    pub = pair.connect("pub")
    pub.publish("e", b"short", 1, properties=Properties(message_expiry_interval=10))
    pub.publish("e", b"long", 1, properties=Properties(message_expiry_interval=100))
    pair.advance_to(T0 + 30)
    back = pair.connect(
        "sub", clean_start=False, properties=Properties(session_expiry_interval=600)
    )
    assert back.connack.session_present
    [publish] = back.messages()
    assert publish.payload == b"long"
    assert publish.properties.message_expiry_interval == 70  # the remaining interval
    assert pair.core.stats.dropped["expired"] == 1


def test_subscriber_offline_qos0_is_not_queued():
    pair = BrokerPair()
    sub = pair.connect("sub", properties=Properties(session_expiry_interval=600))
    sub.subscribe("q", 1)
    sub.lose()
    pub = pair.connect("pub")
    pub.send(Publish("q", b"fire-and-forget"))
    assert len(pair.core.sessions["sub"].queue) == 0
    pub.publish("q", b"kept", 1)  # the positive control: QoS 1 is queued
    assert len(pair.core.sessions["sub"].queue) == 1
