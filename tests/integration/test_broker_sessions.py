"""Persistent sessions, queued messages, DUP resend, will messages and session expiry."""

from __future__ import annotations

import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode as PahoReason

from gateway.broker.settings import BrokerSettings, QueueOverflow
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe, Subscription
from gateway.mqtt.properties import Properties
from tests.support.clients import V5, V311, TestClient, v5_props
from tests.support.raw import RawClient


def _sys(thread, name):
    return thread.run(lambda: thread.broker.core.sys_values(thread.broker.clock())[name])


@pytest.mark.parametrize("qos", [1, 2])
def test_persistent_session_queues_qos12_while_offline_MQTT_3_1_2_4(broker, qos):
    sub = TestClient(broker.port, "p-sub", clean=False)
    sub.subscribe("q/#", qos)
    sub.disconnect()
    pub = TestClient(broker.port, "pub")
    for i in range(50):
        pub.publish(f"q/{i % 3}", str(i).encode(), qos=qos)
    pub.publish("q/0", b"qos0-not-queued", qos=0)
    back = TestClient(broker.port, "p-sub", clean=False)
    assert back.flags.session_present is True  # [MQTT-3.2.2-2]
    got = back.expect(50)
    assert [int(m.payload) for m in got] == list(range(50))
    back.sync()
    back.expect_none()


def test_clean_session_discards_the_old_session_MQTT_3_1_2_6(broker):
    sub = TestClient(broker.port, "c-sub", clean=False)
    sub.subscribe("gone", 1)
    sub.disconnect()
    TestClient(broker.port, "pub").publish("gone", b"x", qos=1)
    back = TestClient(broker.port, "c-sub", clean=True)
    assert back.flags.session_present is False
    back.sync()
    back.expect_none()


def test_subscriptions_survive_reconnect_of_persistent_session(broker):
    sub = TestClient(broker.port, "keep", clean=False)
    sub.subscribe("k", 1)
    sub.disconnect()
    back = TestClient(broker.port, "keep", clean=False)
    TestClient(broker.port, "pub").publish("k", b"live", qos=1)
    assert back.expect_one().payload == b"live"


@pytest.mark.parametrize("version", [4, 5])
def test_unacknowledged_qos1_resent_with_dup_on_resume_MQTT_4_4_0_1(broker, version):
    raw = RawClient(broker.port, version)
    extra = {"properties": Properties(session_expiry_interval=300)} if version == 5 else {}
    raw.connect("dup", clean_start=False, **extra)
    raw.send(Subscribe(1, (Subscription("d", QoS.AT_LEAST_ONCE),)))
    raw.recv()  # SUBACK
    TestClient(broker.port, "pub").publish("d", b"once", qos=1)
    first = raw.recv()
    assert isinstance(first, Publish) and first.dup is False
    raw.close()  # no PUBACK
    again = RawClient(broker.port, version)
    ack = again.connect("dup", clean_start=False)
    assert ack.session_present
    resent = again.recv()
    assert (resent.payload, resent.dup, resent.packet_id) == (b"once", True, first.packet_id)
    again.send(Puback(resent.packet_id))


def test_qos2_pubrel_resent_on_resume_MQTT_4_4_0_1(broker):
    raw = RawClient(broker.port, 4)
    raw.connect("q2", clean_start=False)
    raw.send(Subscribe(1, (Subscription("e", QoS.EXACTLY_ONCE),)))
    raw.recv()
    TestClient(broker.port, "pub").publish("e", b"exactly", qos=2)
    publish = raw.recv()
    raw.send(Pubrec(publish.packet_id))
    assert isinstance(raw.recv(), Pubrel)
    raw.close()  # no PUBCOMP
    again = RawClient(broker.port, 4)
    again.connect("q2", clean_start=False)
    pubrel = again.recv()
    assert isinstance(pubrel, Pubrel) and pubrel.packet_id == publish.packet_id
    again.send(Pubcomp(pubrel.packet_id))


def test_qos2_duplicate_publish_is_delivered_once_MQTT_4_3_3(broker):
    sub = TestClient(broker.port, "once-sub")
    sub.subscribe("x2", 2)
    raw = RawClient(broker.port, 4)
    raw.connect("q2pub")
    raw.send(Publish("x2", b"only-once", QoS.EXACTLY_ONCE, packet_id=7))
    assert isinstance(raw.recv(), Pubrec)
    raw.send(Publish("x2", b"only-once", QoS.EXACTLY_ONCE, dup=True, packet_id=7))
    assert isinstance(raw.recv(), Pubrec)
    raw.send(Pubrel(7))
    assert isinstance(raw.recv(), Pubcomp)
    assert sub.expect_one().payload == b"only-once"
    sub.sync()
    sub.expect_none()


@pytest.mark.parametrize(
    "policy,expected",
    [
        (QueueOverflow.DROP_NEW, list(range(5))),
        (QueueOverflow.DROP_OLDEST, list(range(5, 10))),
    ],
)
def test_queue_limit_overflow_policy_is_applied_and_counted(make_broker, policy, expected):
    thread = make_broker(
        BrokerSettings(max_queued_messages=5, queue_overflow=policy, sys_interval=0)
    )
    sub = TestClient(thread.port, "slow", clean=False)
    sub.subscribe("o", 1)
    sub.disconnect()
    pub = TestClient(thread.port, "pub")
    for i in range(10):
        pub.publish("o", str(i).encode(), qos=1)
    back = TestClient(thread.port, "slow", clean=False)
    assert [int(m.payload) for m in back.expect(5)] == expected
    back.sync()
    back.expect_none()
    reason = "queue_full_drop_new" if policy is QueueOverflow.DROP_NEW else "queue_full_drop_oldest"
    assert _sys(thread, f"messages/dropped/{reason}") == 5


# -- will messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [V311, V5])
def test_will_published_on_abnormal_disconnect_MQTT_3_1_2_8(broker, version):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("status/dev", 1)
    dev = TestClient(broker.port, "dev", version=version, will=("status/dev", b"gone", 1, False))
    dev.kill()
    got = watcher.expect_one()
    assert (got.topic, got.payload) == ("status/dev", b"gone")


@pytest.mark.parametrize("version", [V311, V5])
def test_will_not_published_after_normal_disconnect_MQTT_3_14_4_3(broker, version):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("status/#", 1)
    dev = TestClient(broker.port, "dev", version=version, will=("status/dev", b"gone", 1, False))
    dev.disconnect()
    TestClient(broker.port, "pub").publish("status/marker", b"m", qos=1)
    assert watcher.expect_one().topic == "status/marker"


def test_disconnect_with_will_message_reason_sends_will_MQTT_3_14_2_1(broker):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("w/#", 1)
    dev = TestClient(broker.port, "dev", version=V5, will=("w/dev", b"bye", 1, False))
    dev.disconnect(reasoncode=PahoReason(PacketTypes.DISCONNECT, identifier=0x04))
    assert watcher.expect_one().payload == b"bye"


def test_will_retained_flag_kept(broker):
    dev = TestClient(broker.port, "dev", will=("w/ret", b"offline", 1, True))
    dev.kill()
    watcher = TestClient(broker.port, "watcher")
    watcher.sync()  # the kill has been processed once a later client's round trip completes
    watcher.subscribe("w/ret", 1)
    got = watcher.expect_one()
    assert (got.payload, got.retain) == (b"offline", True)


def test_will_delay_cancelled_by_reconnect_MQTT_3_1_3_9(broker):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("wd/#", 1)
    props = v5_props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)
    dev = TestClient(
        broker.port,
        "dev",
        version=V5,
        clean=False,
        session_expiry=60,
        will=("wd/dev", b"gone", 1, False, props),
    )
    dev.kill()
    TestClient(broker.port, "dev", version=V5, clean=False, session_expiry=60)
    # past the will delay: a timer tick has run since; only the marker arrives
    deadline = time.monotonic() + 2.6
    while time.monotonic() < deadline:
        time.sleep(0.2)  # wall-clock passage is the point of this test
    TestClient(broker.port, "pub").publish("wd/marker", b"m", qos=1)
    assert watcher.expect_one().topic == "wd/marker"


def test_will_delay_publishes_after_the_delay_MQTT_3_1_3_9(broker):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("wd/#", 1)
    props = v5_props(PacketTypes.WILLMESSAGE, WillDelayInterval=1)
    dev = TestClient(
        broker.port,
        "dev",
        version=V5,
        clean=False,
        session_expiry=60,
        will=("wd/dev", b"late", 1, False, props),
    )
    killed = time.monotonic()
    dev.kill()
    got = watcher.expect_one(timeout=5)
    assert got.payload == b"late"
    assert time.monotonic() - killed >= 0.9


def test_will_published_when_session_expires_before_will_delay_MQTT_3_1_2_8(broker):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("wx/#", 1)
    props = v5_props(PacketTypes.WILLMESSAGE, WillDelayInterval=3600)
    dev = TestClient(
        broker.port,
        "dev",
        version=V5,
        clean=True,
        session_expiry=1,
        will=("wx/dev", b"expired", 1, False, props),
    )
    dev.kill()
    assert watcher.expect_one(timeout=5).payload == b"expired"


def test_v5_session_expires_after_its_interval_MQTT_3_1_2_11(broker):
    sub = TestClient(broker.port, "exp", version=V5, clean=False, session_expiry=1)
    sub.subscribe("s", 1)
    sub.disconnect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and broker.run(lambda: "exp" in broker.broker.core.sessions):
        time.sleep(0.1)  # polling the broker's state for the expiry it owns
    assert not broker.run(lambda: "exp" in broker.broker.core.sessions)
    back = TestClient(broker.port, "exp", version=V5, clean=False, session_expiry=1)
    assert back.flags.session_present is False


def test_v5_session_expiry_zero_ends_session_at_disconnect_MQTT_3_1_2_11(broker):
    sub = TestClient(broker.port, "zero", version=V5, clean=False, session_expiry=0)
    sub.subscribe("s", 1)
    sub.disconnect()
    back = TestClient(broker.port, "zero", version=V5, clean=False)
    assert back.flags.session_present is False


def test_takeover_resumes_persistent_session(broker):
    first = TestClient(broker.port, "roam", clean=False)
    first.subscribe("r", 1)
    second = TestClient(broker.port, "roam", clean=False)
    assert second.flags.session_present is True
    TestClient(broker.port, "pub").publish("r", b"to-new", qos=1)
    assert second.expect_one().payload == b"to-new"


def test_sys_topics_report_counters(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0.2))
    sub = TestClient(thread.port, "sys")
    sub.subscribe("$SYS/broker/clients/connected", 0)
    sub.subscribe("$SYS/broker/version", 0)
    got = {m.topic: m.payload for m in sub.expect(2)}  # the retained values first
    assert got["$SYS/broker/version"].startswith(b"pi-edge-gateway")
    for _ in range(10):  # then the periodic updates, which count this client
        message = sub.expect_one()
        if message.topic.endswith("connected") and int(message.payload) >= 1:
            break
    else:
        raise AssertionError("clients/connected never counted the subscriber")


def test_client_cannot_publish_to_sys(broker):
    sub = TestClient(broker.port, "s")
    sub.subscribe("$SYS/#", 0)
    pub = TestClient(broker.port, "p", version=V5)
    info = pub.publish("$SYS/broker/fake", b"x", qos=1)
    assert info.rc == 0
    sub.sync()
    sub.expect_none()
