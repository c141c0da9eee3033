"""MQTT 5.0 features over real sockets: expiry, aliases, flow control, identifiers, options."""

from __future__ import annotations

import time

from paho.mqtt.packettypes import PacketTypes

from gateway.broker.settings import BrokerSettings
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Publish, Pubrec, Subscribe, Subscription
from gateway.mqtt.properties import Properties
from tests.support.clients import V5, TestClient, v5_props
from tests.support.raw import RawClient


def test_application_properties_passed_through_MQTT_3_3_2_3(broker):
    sub = TestClient(broker.port, "sub", version=V5)
    sub.subscribe("rpc/req", 1)
    pub = TestClient(broker.port, "pub", version=V5)
    props = v5_props(
        ContentType="application/json",
        ResponseTopic="rpc/resp",
        CorrelationData=b"\x01\x02",
        PayloadFormatIndicator=1,
        UserProperty=[("k", "v"), ("k", "v2")],
    )
    pub.publish("rpc/req", b"{}", qos=1, properties=props)
    got = sub.expect_one().properties
    assert got.ContentType == "application/json"
    assert got.ResponseTopic == "rpc/resp"
    assert got.CorrelationData == b"\x01\x02"
    assert got.PayloadFormatIndicator == 1
    assert got.UserProperty == [("k", "v"), ("k", "v2")]  # order kept [MQTT-3.3.2-18]


def test_message_expiry_remaining_interval_on_delivery_MQTT_3_3_2_6(broker):
    sub = TestClient(broker.port, "exp-sub", version=V5, clean=False, session_expiry=60)
    sub.subscribe("e", 1)
    sub.disconnect()
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("e", b"keep", qos=1, properties=v5_props(MessageExpiryInterval=60))
    back = TestClient(broker.port, "exp-sub", version=V5, clean=False, session_expiry=60)
    got = back.expect_one()
    assert got.payload == b"keep"
    assert 0 < got.properties.MessageExpiryInterval <= 60


def test_expired_message_not_delivered_MQTT_3_3_2_5(broker):
    sub = TestClient(broker.port, "exp-sub", version=V5, clean=False, session_expiry=60)
    sub.subscribe("e", 1)
    sub.disconnect()
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("e", b"stale", qos=1, properties=v5_props(MessageExpiryInterval=1))
    pub.publish("e", b"fresh", qos=1, properties=v5_props(MessageExpiryInterval=600))
    time.sleep(1.2)  # let the first message's one-second lifetime pass
    back = TestClient(broker.port, "exp-sub", version=V5, clean=False, session_expiry=60)
    assert back.expect_one().payload == b"fresh"
    back.sync()
    back.expect_none()


def test_expired_retained_message_not_sent_on_subscribe(broker):
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("er", b"old", qos=1, retain=True, properties=v5_props(MessageExpiryInterval=1))
    time.sleep(1.2)  # the retained message's lifetime passes
    sub = TestClient(broker.port, "sub", version=V5)
    sub.subscribe("er", 1)
    sub.sync()
    sub.expect_none()


def test_inbound_topic_alias_MQTT_3_3_2_12(broker):
    sub = TestClient(broker.port, "sub", version=V5)
    sub.subscribe("long/topic/name", 0)
    raw = RawClient(broker.port, 5)
    raw.connect("aliaser")
    raw.send(Publish("long/topic/name", b"1", properties=Properties(topic_alias=3)))
    raw.send(Publish("", b"2", properties=Properties(topic_alias=3)))
    assert [m.payload for m in sub.expect(2)] == [b"1", b"2"]


def test_topic_alias_over_maximum_is_protocol_error_MQTT_3_3_2_10(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("bad-alias")
    raw.send(Publish("t", b"x", properties=Properties(topic_alias=17)))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.TOPIC_ALIAS_INVALID


def test_unknown_topic_alias_is_protocol_error(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("unknown-alias")
    raw.send(Publish("", b"x", properties=Properties(topic_alias=2)))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.PROTOCOL_ERROR


def test_outbound_topic_alias_used_when_client_allows_MQTT_3_3_2_7(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("alias-sub", properties=Properties(topic_alias_maximum=4))
    raw.send(Subscribe(1, (Subscription("al/#", QoS.AT_MOST_ONCE),)))
    raw.recv()
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("al/x", b"1", qos=1)
    pub.publish("al/x", b"2", qos=1)
    first, second = raw.recv(), raw.recv()
    assert first.topic == "al/x" and first.properties.topic_alias == 1
    assert second.topic == "" and second.properties.topic_alias == 1
    assert second.payload == b"2"


def test_receive_maximum_limits_unacknowledged_deliveries_MQTT_3_3_4_7(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("flow", properties=Properties(receive_maximum=2))
    raw.send(Subscribe(1, (Subscription("f", QoS.AT_LEAST_ONCE),)))
    raw.recv()
    pub = TestClient(broker.port, "pub", version=V5)
    for i in range(5):
        pub.publish("f", str(i).encode(), qos=1)
    first, second = raw.recv(), raw.recv()
    assert [first.payload, second.payload] == [b"0", b"1"]
    try:
        extra = raw.recv(timeout=0.3)
    except TimeoutError:
        extra = None
    assert extra is None, "a third message was sent with two unacknowledged"
    raw.send(Puback(first.packet_id))
    assert raw.recv().payload == b"2"


def test_too_many_unreleased_qos2_from_client_is_receive_maximum_exceeded_MQTT_3_3_4_9(make_broker):
    thread = make_broker(BrokerSettings(receive_maximum=2, sys_interval=0))
    raw = RawClient(thread.port, 5)
    raw.connect("greedy")
    for pid in (1, 2, 3):
        raw.send(Publish("g", b"x", QoS.EXACTLY_ONCE, packet_id=pid))
    packets = raw.wait_closed()
    assert sum(isinstance(p, Pubrec) for p in packets) == 2
    assert packets[-1].reason_code == ReasonCode.RECEIVE_MAXIMUM_EXCEEDED


def test_subscription_identifiers_on_delivery_MQTT_3_8_2_1(broker):
    sub = TestClient(broker.port, "sid", version=V5)
    sub.subscribe("s/+", 1, properties=v5_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
    sub.subscribe("s/#", 1, properties=v5_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=9))
    TestClient(broker.port, "pub", version=V5).publish("s/a", b"x", qos=1)
    got = sub.expect_one()
    assert sorted(got.properties.SubscriptionIdentifier) == [7, 9]


def test_no_local_MQTT_3_8_3_3(broker):
    client = TestClient(broker.port, "self", version=V5)
    client.subscribe("nl", 1, no_local=True)
    client.subscribe("marker", 1)
    client.publish("nl", b"mine", qos=1)
    TestClient(broker.port, "other", version=V5).publish("nl", b"theirs", qos=1)
    assert client.expect_one().payload == b"theirs"


def test_retain_as_published_MQTT_3_3_1_12(broker):
    sub = TestClient(broker.port, "rap", version=V5)
    sub.subscribe("rp/keep", 0, rap=True)
    sub.subscribe("rp/clear", 0)
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("rp/keep", b"a", retain=True)
    pub.publish("rp/clear", b"b", retain=True)
    got = {m.topic: m.retain for m in sub.expect(2)}
    assert got == {"rp/keep": True, "rp/clear": False}


def test_retain_handling_0_1_2_MQTT_3_3_1_9_to_11(broker):
    TestClient(broker.port, "pub", version=V5).publish("rh", b"kept", qos=1, retain=True)
    sub = TestClient(broker.port, "rh-sub", version=V5)
    sub.subscribe("rh", 1, retain_handling=2)
    sub.sync()
    sub.expect_none()  # 2: never on subscribe
    other = TestClient(broker.port, "rh-sub1", version=V5)
    other.subscribe("rh", 1, retain_handling=1)
    assert other.expect_one().payload == b"kept"  # 1: new subscription gets it
    other.subscribe("rh", 1, retain_handling=1)
    other.sync()
    other.expect_none()  # 1: existing subscription does not
    other.subscribe("rh", 1, retain_handling=0)
    assert other.expect_one().payload == b"kept"  # 0: always


def test_shared_subscription_delivers_each_message_to_one_member_MQTT_4_8_2(broker):
    a = TestClient(broker.port, "a", version=V5)
    b = TestClient(broker.port, "b", version=V5)
    a.subscribe("$share/workers/jobs/#", 1)
    b.subscribe("$share/workers/jobs/#", 1)
    pub = TestClient(broker.port, "pub", version=V5)
    for i in range(10):
        pub.publish(f"jobs/{i}", str(i).encode(), qos=1)
    a.sync()
    b.sync()
    got_a = []
    while not a.messages.empty():
        got_a.append(int(a.messages.get().payload))
    got_b = []
    while not b.messages.empty():
        got_b.append(int(b.messages.get().payload))
    assert sorted(got_a + got_b) == list(range(10))
    assert got_a and got_b  # round robin uses both members


def test_shared_subscription_gets_no_retained_messages_MQTT_4_8_2(broker):
    TestClient(broker.port, "pub", version=V5).publish("sr", b"kept", qos=1, retain=True)
    member = TestClient(broker.port, "m", version=V5)
    member.subscribe("$share/g/sr", 1)
    member.sync()
    member.expect_none()


def test_no_local_on_shared_subscription_is_protocol_error_MQTT_3_8_3_4(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("nl-shared")
    raw.send(Subscribe(1, (Subscription("$share/g/x", QoS.AT_MOST_ONCE, no_local=True),)))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.PROTOCOL_ERROR


def test_puback_reason_codes_v5(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("codes")
    raw.send(Publish("nobody/listens", b"x", QoS.AT_LEAST_ONCE, packet_id=1))
    assert raw.recv().reason_code == ReasonCode.NO_MATCHING_SUBSCRIBERS
    raw.send(Publish("$SYS/fake", b"x", QoS.AT_LEAST_ONCE, packet_id=2))
    assert raw.recv().reason_code == ReasonCode.NOT_AUTHORIZED
    raw.send(
        Publish(
            "pf",
            b"\xff\xfe",
            QoS.AT_LEAST_ONCE,
            packet_id=3,
            properties=Properties(payload_format_indicator=1),
        )
    )
    assert raw.recv().reason_code == ReasonCode.PAYLOAD_FORMAT_INVALID  # [MQTT-3.3.2-4]


def test_message_too_large_for_client_maximum_is_not_sent_MQTT_3_1_2_24(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("small", properties=Properties(maximum_packet_size=64))
    raw.send(Subscribe(1, (Subscription("m/#", QoS.AT_LEAST_ONCE),)))
    raw.recv()
    pub = TestClient(broker.port, "pub", version=V5)
    pub.publish("m/big", b"x" * 200, qos=1)
    pub.publish("m/small", b"ok", qos=1)
    got = raw.recv()
    assert (got.topic, got.payload) == ("m/small", b"ok")
