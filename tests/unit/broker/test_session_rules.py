"""Persistent sessions, queued messages, DUP resend, QoS 2, wills, will delay and session expiry,
on the in-memory broker with a fake clock (tests/support/broker_pair.py: the real core and
connection code, no sockets, no sleeping). A dropped TCP connection publishing the will and the
$SYS timer task stay on sockets in tests/integration/test_broker_sessions.py."""

from __future__ import annotations

import pytest

from gateway.broker.settings import QueueOverflow
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Pubcomp, Publish, Pubrec, Pubrel, Will
from gateway.mqtt.properties import Properties
from tests.support.broker_pair import BrokerPair

R = ReasonCode


@pytest.fixture
def pair():
    return BrokerPair()


def _expiry(seconds: int) -> Properties:
    return Properties(session_expiry_interval=seconds)


def _will(topic: str, payload: bytes, retain: bool = False, delay: int | None = None) -> Will:
    return Will(topic, payload, QoS.AT_LEAST_ONCE, retain, Properties(will_delay_interval=delay))


@pytest.mark.parametrize("qos", [1, 2])
def test_persistent_session_queues_qos12_while_offline_MQTT_3_1_2_4(pair, qos):
    sub = pair.connect("p-sub", 4, clean_start=False)
    sub.subscribe("q/#", qos)
    sub.disconnect()
    pub = pair.connect("pub", 4)
    for i in range(50):
        pub.publish(f"q/{i % 3}", str(i).encode(), qos=qos)
    pub.publish("q/0", b"qos0-not-queued", qos=0)
    back = pair.connect("p-sub", 4, clean_start=False)
    assert back.connack.session_present is True  # [MQTT-3.2.2-2]
    assert [int(m.payload) for m in back.messages()] == list(range(50))  # and nothing else


def test_clean_session_discards_the_old_session_MQTT_3_1_2_6(pair):
    sub = pair.connect("c-sub", 4, clean_start=False)
    sub.subscribe("gone", 1)
    sub.disconnect()
    pair.connect("pub", 4).publish("gone", b"x", qos=1)
    assert pair.core.sessions["c-sub"].queued_count == 1  # the positive control: it was queued
    back = pair.connect("c-sub", 4, clean_start=True)
    assert back.connack.session_present is False
    back.expect_nothing()


def test_subscriptions_survive_reconnect_of_persistent_session(pair):
    sub = pair.connect("keep", 4, clean_start=False)
    sub.subscribe("k", 1)
    sub.disconnect()
    back = pair.connect("keep", 4, clean_start=False)
    pair.connect("pub", 4).publish("k", b"live", qos=1)
    assert back.message().payload == b"live"


@pytest.mark.parametrize("version", [4, 5])
def test_unacknowledged_qos1_resent_with_dup_on_resume_MQTT_4_4_0_1(pair, version):
    extra = {"properties": _expiry(300)} if version == 5 else {}
    sub = pair.connect("dup", version, auto_ack=False, clean_start=False, **extra)
    sub.subscribe("d", 1)
    pair.connect("pub", 4).publish("d", b"once", qos=1)
    first = sub.message()
    assert first.dup is False
    sub.lose()  # no PUBACK
    again = pair.connect("dup", version, auto_ack=False, clean_start=False)
    assert again.connack.session_present
    resent = again.message()
    assert (resent.payload, resent.dup, resent.packet_id) == (b"once", True, first.packet_id)
    again.send(Puback(resent.packet_id))


def test_qos2_pubrel_resent_on_resume_MQTT_4_4_0_1(pair):
    sub = pair.connect("q2", 4, auto_ack=False, clean_start=False)
    sub.subscribe("e", 2)
    pair.connect("pub", 4).publish("e", b"exactly", qos=2)
    publish = sub.message()
    sub.send(Pubrec(publish.packet_id))
    assert isinstance(sub.recv(), Pubrel)
    sub.lose()  # no PUBCOMP
    again = pair.connect("q2", 4, auto_ack=False, clean_start=False)
    pubrel = again.recv()
    assert isinstance(pubrel, Pubrel) and pubrel.packet_id == publish.packet_id
    again.send(Pubcomp(pubrel.packet_id))


def test_qos2_duplicate_publish_is_delivered_once_MQTT_4_3_3(pair):
    sub = pair.connect("once-sub", 4)
    sub.subscribe("x2", 2)
    pub = pair.connect("q2pub", 4, auto_ack=False)
    pub.send(Publish("x2", b"only-once", QoS.EXACTLY_ONCE, packet_id=7))
    assert isinstance(pub.recv(), Pubrec)
    pub.send(Publish("x2", b"only-once", QoS.EXACTLY_ONCE, dup=True, packet_id=7))
    assert isinstance(pub.recv(), Pubrec)
    pub.send(Pubrel(7))
    assert isinstance(pub.recv(), Pubcomp)
    assert sub.message().payload == b"only-once"  # exactly one


@pytest.mark.parametrize(
    "policy,expected",
    [
        (QueueOverflow.DROP_NEW, list(range(5))),
        (QueueOverflow.DROP_OLDEST, list(range(5, 10))),
    ],
)
def test_queue_limit_overflow_policy_is_applied_and_counted(policy, expected):
    pair = BrokerPair(max_queued_messages=5, queue_overflow=policy)
    sub = pair.connect("slow", 4, clean_start=False)
    sub.subscribe("o", 1)
    sub.disconnect()
    pub = pair.connect("pub", 4)
    for i in range(10):
        pub.publish("o", str(i).encode(), qos=1)
    back = pair.connect("slow", 4, clean_start=False)
    assert [int(m.payload) for m in back.messages()] == expected
    reason = "queue_full_drop_new" if policy is QueueOverflow.DROP_NEW else "queue_full_drop_oldest"
    assert pair.sys(f"messages/dropped/{reason}") == 5


# -- will messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5])
def test_will_published_on_abnormal_disconnect_MQTT_3_1_2_8(pair, version):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("status/dev", 1)
    dev = pair.connect("dev", version, will=_will("status/dev", b"gone"))
    dev.lose()
    got = watcher.message()
    assert (got.topic, got.payload) == ("status/dev", b"gone")


@pytest.mark.parametrize("version", [4, 5])
def test_will_not_published_after_normal_disconnect_MQTT_3_14_4_3(pair, version):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("status/#", 1)
    dev = pair.connect("dev", version, will=_will("status/dev", b"gone"))
    dev.disconnect()
    pair.connect("pub", 4).publish("status/marker", b"m", qos=1)  # the positive control
    assert [m.topic for m in watcher.messages()] == ["status/marker"]


def test_disconnect_with_will_message_reason_sends_will_MQTT_3_14_2_1(pair):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("w/#", 1)
    dev = pair.connect("dev", 5, will=_will("w/dev", b"bye"))
    dev.disconnect(R.DISCONNECT_WITH_WILL_MESSAGE)
    assert watcher.message().payload == b"bye"


def test_will_retained_flag_kept(pair):
    dev = pair.connect("dev", 4, will=_will("w/ret", b"offline", retain=True))
    dev.lose()
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("w/ret", 1)
    got = watcher.message()
    assert (got.payload, got.retain) == (b"offline", True)


def test_will_delay_cancelled_by_reconnect_MQTT_3_1_3_9(pair):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("wd/#", 1)
    will = _will("wd/dev", b"gone", delay=2)
    dev = pair.connect("dev", 5, clean_start=False, properties=_expiry(60), will=will)
    dev.lose()
    pair.connect("dev", 5, clean_start=False, properties=_expiry(60))
    pair.advance(2.6)  # past the will delay
    pair.connect("pub", 4).publish("wd/marker", b"m", qos=1)  # the positive control
    assert [m.topic for m in watcher.messages()] == ["wd/marker"]


def test_will_delay_publishes_after_the_delay_MQTT_3_1_3_9(pair):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("wd/#", 1)
    will = _will("wd/dev", b"late", delay=1)
    dev = pair.connect("dev", 5, clean_start=False, properties=_expiry(60), will=will)
    dev.lose()
    pair.advance(0.9)
    watcher.expect_nothing()
    pair.advance(0.1)
    assert watcher.message().payload == b"late"


def test_will_published_when_session_expires_before_will_delay_MQTT_3_1_2_8(pair):
    watcher = pair.connect("watcher", 4)
    watcher.subscribe("wx/#", 1)
    will = _will("wx/dev", b"expired", delay=3600)
    dev = pair.connect("dev", 5, clean_start=True, properties=_expiry(1), will=will)
    dev.lose()
    pair.advance(0.9)
    watcher.expect_nothing()
    pair.advance(0.1)
    assert watcher.message().payload == b"expired"


def test_v5_session_expires_after_its_interval_MQTT_3_1_2_11(pair):
    sub = pair.connect("exp", 5, clean_start=False, properties=_expiry(1))
    sub.subscribe("s", 1)
    sub.disconnect()
    pair.advance(0.9)
    assert "exp" in pair.core.sessions
    pair.advance(0.1)
    assert "exp" not in pair.core.sessions
    back = pair.connect("exp", 5, clean_start=False, properties=_expiry(1))
    assert back.connack.session_present is False


def test_v5_session_expiry_zero_ends_session_at_disconnect_MQTT_3_1_2_11(pair):
    sub = pair.connect("zero", 5, clean_start=False, properties=_expiry(0))
    sub.subscribe("s", 1)
    sub.disconnect()
    back = pair.connect("zero", 5, clean_start=False)
    assert back.connack.session_present is False


def test_takeover_resumes_persistent_session(pair):
    first = pair.connect("roam", 4, clean_start=False)
    first.subscribe("r", 1)
    second = pair.connect("roam", 4, clean_start=False)
    assert first.closed
    assert second.connack.session_present is True
    pair.connect("pub", 4).publish("r", b"to-new", qos=1)
    assert second.message().payload == b"to-new"


def test_client_cannot_publish_to_sys(pair):
    sub = pair.connect("s", 4)
    sub.subscribe("$SYS/#", 0)
    pub = pair.connect("p", 5)
    assert pub.publish("$SYS/broker/fake", b"x", qos=1).reason_code == R.NOT_AUTHORIZED
    sub.expect_nothing()
    pair.core.publish_sys(pair.now)  # the positive control: the broker's own $SYS arrives
    pair.pump()
    assert sub.messages()
