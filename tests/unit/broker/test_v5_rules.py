"""MQTT 5.0 features on the in-memory broker with a fake clock (tests/support/broker_pair.py: the
real core and connection code, no sockets): properties, message expiry, topic aliases, flow
control, subscription identifiers and options, shared subscriptions, reason codes. paho's reading
of our properties stays on sockets in tests/integration/test_broker_v5.py."""

from __future__ import annotations

import pytest

from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Publish, Pubrec, Subscribe, Subscription
from gateway.mqtt.properties import Properties
from tests.support.broker_pair import BrokerPair

R = ReasonCode


@pytest.fixture
def pair():
    return BrokerPair()


def _expiring(seconds: int) -> Properties:
    return Properties(message_expiry_interval=seconds)


def test_application_properties_passed_through_MQTT_3_3_2_3(pair):
    sub = pair.connect("sub")
    sub.subscribe("rpc/req", 1)
    props = Properties(
        content_type="application/json",
        response_topic="rpc/resp",
        correlation_data=b"\x01\x02",
        payload_format_indicator=1,
        user_properties=(("k", "v"), ("k", "v2")),
    )
    pair.connect("pub").publish("rpc/req", b"{}", qos=1, properties=props)
    got = sub.message().properties
    assert got.content_type == "application/json"
    assert got.response_topic == "rpc/resp"
    assert got.correlation_data == b"\x01\x02"
    assert got.payload_format_indicator == 1
    assert got.user_properties == (("k", "v"), ("k", "v2"))  # order kept [MQTT-3.3.2-18]


def test_message_expiry_remaining_interval_on_delivery_MQTT_3_3_2_6(pair):
    sub = pair.connect(
        "exp-sub", clean_start=False, properties=Properties(session_expiry_interval=60)
    )
    sub.subscribe("e", 1)
    sub.disconnect()
    pair.connect("pub").publish("e", b"keep", qos=1, properties=_expiring(60))
    pair.advance(5)
    back = pair.connect(
        "exp-sub", clean_start=False, properties=Properties(session_expiry_interval=60)
    )
    got = back.message()
    assert got.payload == b"keep"
    assert got.properties.message_expiry_interval == 55


def test_expired_message_not_delivered_MQTT_3_3_2_5(pair):
    sub = pair.connect(
        "exp-sub", clean_start=False, properties=Properties(session_expiry_interval=60)
    )
    sub.subscribe("e", 1)
    sub.disconnect()
    pub = pair.connect("pub")
    pub.publish("e", b"stale", qos=1, properties=_expiring(1))
    pub.publish("e", b"fresh", qos=1, properties=_expiring(600))
    pair.advance(1.2)  # the first message's one-second lifetime passes
    back = pair.connect(
        "exp-sub", clean_start=False, properties=Properties(session_expiry_interval=60)
    )
    assert [m.payload for m in back.messages()] == [b"fresh"]


def test_expired_retained_message_not_sent_on_subscribe(pair):
    pub = pair.connect("pub")
    pub.publish("er", b"old", qos=1, retain=True, properties=_expiring(1))
    pub.publish("er2", b"young", qos=1, retain=True, properties=_expiring(600))
    pair.advance(1.2)  # the first retained message's lifetime passes
    sub = pair.connect("sub")
    sub.subscribe("er", 1)
    sub.expect_nothing()
    sub.subscribe("er2", 1)  # the positive control: an unexpired retained message is sent
    assert sub.message().payload == b"young"


def test_inbound_topic_alias_MQTT_3_3_2_12(pair):
    sub = pair.connect("sub")
    sub.subscribe("long/topic/name", 0)
    aliaser = pair.connect("aliaser")
    aliaser.send(Publish("long/topic/name", b"1", properties=Properties(topic_alias=3)))
    aliaser.send(Publish("", b"2", properties=Properties(topic_alias=3)))
    assert [m.payload for m in sub.messages()] == [b"1", b"2"]


def test_topic_alias_over_maximum_is_protocol_error_MQTT_3_3_2_10(pair):
    client = pair.connect("bad-alias")
    client.send(Publish("t", b"x", properties=Properties(topic_alias=17)))
    assert client.closed_with().reason_code == R.TOPIC_ALIAS_INVALID


def test_unknown_topic_alias_is_protocol_error(pair):
    client = pair.connect("unknown-alias")
    client.send(Publish("", b"x", properties=Properties(topic_alias=2)))
    assert client.closed_with().reason_code == R.PROTOCOL_ERROR


def test_outbound_topic_alias_used_when_client_allows_MQTT_3_3_2_7(pair):
    sub = pair.connect("alias-sub", auto_ack=False, properties=Properties(topic_alias_maximum=4))
    sub.subscribe("al/#", 0)
    pub = pair.connect("pub")
    pub.publish("al/x", b"1", qos=1)
    pub.publish("al/x", b"2", qos=1)
    first, second = sub.messages()
    assert first.topic == "al/x" and first.properties.topic_alias == 1
    assert second.topic == "" and second.properties.topic_alias == 1
    assert second.payload == b"2"


def test_receive_maximum_limits_unacknowledged_deliveries_MQTT_3_3_4_7(pair):
    sub = pair.connect("flow", auto_ack=False, properties=Properties(receive_maximum=2))
    sub.subscribe("f", 1)
    pub = pair.connect("pub")
    for i in range(5):
        pub.publish("f", str(i).encode(), qos=1)
    first, second = sub.messages()  # and no third with two unacknowledged
    assert [first.payload, second.payload] == [b"0", b"1"]
    sub.send(Puback(first.packet_id))
    assert sub.message().payload == b"2"


def test_too_many_unreleased_qos2_from_client_is_receive_maximum_exceeded_MQTT_3_3_4_9():
    pair = BrokerPair(receive_maximum=2)
    client = pair.connect("greedy", auto_ack=False)
    for pid in (1, 2, 3):
        if not client.closed:
            client.send(Publish("g", b"x", QoS.EXACTLY_ONCE, packet_id=pid))
    packets = client.take()
    assert client.closed
    assert sum(isinstance(p, Pubrec) for p in packets) == 2
    assert packets[-1].reason_code == R.RECEIVE_MAXIMUM_EXCEEDED


def test_subscription_identifiers_on_delivery_MQTT_3_8_2_1(pair):
    sub = pair.connect("sid")
    sub.subscribe("s/+", 1, subscription_id=7)
    sub.subscribe("s/#", 1, subscription_id=9)
    pair.connect("pub").publish("s/a", b"x", qos=1)
    assert sorted(sub.message().properties.subscription_identifiers) == [7, 9]


def test_no_local_MQTT_3_8_3_3(pair):
    client = pair.connect("self")
    client.subscribe("nl", 1, no_local=True)
    client.subscribe("marker", 1)
    client.publish("nl", b"mine", qos=1)
    pair.connect("other").publish("nl", b"theirs", qos=1)
    assert [m.payload for m in client.messages()] == [b"theirs"]


def test_retain_as_published_MQTT_3_3_1_12(pair):
    sub = pair.connect("rap")
    sub.subscribe("rp/keep", 0, retain_as_published=True)
    sub.subscribe("rp/clear", 0)
    pub = pair.connect("pub")
    pub.publish("rp/keep", b"a", retain=True)
    pub.publish("rp/clear", b"b", retain=True)
    got = {m.topic: m.retain for m in sub.messages()}
    assert got == {"rp/keep": True, "rp/clear": False}


def test_retain_handling_0_1_2_MQTT_3_3_1_9_to_11(pair):
    pair.connect("pub").publish("rh", b"kept", qos=1, retain=True)
    sub = pair.connect("rh-sub")
    sub.subscribe("rh", 1, retain_handling=2)
    sub.expect_nothing()  # 2: never on subscribe
    other = pair.connect("rh-sub1")
    other.subscribe("rh", 1, retain_handling=1)
    assert other.message().payload == b"kept"  # 1: new subscription gets it
    other.subscribe("rh", 1, retain_handling=1)
    other.expect_nothing()  # 1: existing subscription does not
    other.subscribe("rh", 1, retain_handling=0)
    assert other.message().payload == b"kept"  # 0: always


def test_shared_subscription_delivers_each_message_to_one_member_MQTT_4_8_2(pair):
    a = pair.connect("a")
    b = pair.connect("b")
    a.subscribe("$share/workers/jobs/#", 1)
    b.subscribe("$share/workers/jobs/#", 1)
    pub = pair.connect("pub")
    for i in range(10):
        pub.publish(f"jobs/{i}", str(i).encode(), qos=1)
    got_a = [int(m.payload) for m in a.messages()]
    got_b = [int(m.payload) for m in b.messages()]
    assert sorted(got_a + got_b) == list(range(10))
    assert got_a and got_b  # round robin uses both members
    a.unsubscribe("$share/workers/jobs/#")
    b.unsubscribe("$share/workers/jobs/#")  # the group's last member: the group goes
    assert pub.publish("jobs/x", b"x", qos=1).reason_code == R.NO_MATCHING_SUBSCRIBERS


def test_shared_subscription_gets_no_retained_messages_MQTT_4_8_2(pair):
    pub = pair.connect("pub")
    pub.publish("sr", b"kept", qos=1, retain=True)
    member = pair.connect("m")
    member.subscribe("$share/g/sr", 1)
    member.expect_nothing()
    pub.publish("sr", b"live", qos=1)  # the positive control: the shared subscription works
    assert member.message().payload == b"live"
    plain = pair.connect("plain")
    plain.subscribe("sr", 1)  # and the retained message is there for a plain subscription
    assert plain.message().payload == b"kept"


def test_no_local_on_shared_subscription_is_protocol_error_MQTT_3_8_3_4(pair):
    client = pair.connect("nl-shared")
    client.send(Subscribe(1, (Subscription("$share/g/x", QoS.AT_MOST_ONCE, no_local=True),)))
    assert client.closed_with().reason_code == R.PROTOCOL_ERROR


def test_puback_reason_codes_v5(pair):
    client = pair.connect("codes")
    assert client.publish("nobody/listens", b"x", qos=1).reason_code == R.NO_MATCHING_SUBSCRIBERS
    assert client.publish("$SYS/fake", b"x", qos=1).reason_code == R.NOT_AUTHORIZED
    bad_utf8 = client.publish(
        "pf", b"\xff\xfe", qos=1, properties=Properties(payload_format_indicator=1)
    )
    assert bad_utf8.reason_code == R.PAYLOAD_FORMAT_INVALID  # [MQTT-3.3.2-4]


def test_message_too_large_for_client_maximum_is_not_sent_MQTT_3_1_2_24(pair):
    small = pair.connect("small", properties=Properties(maximum_packet_size=64))
    small.subscribe("m/#", 1)
    pub = pair.connect("pub")
    pub.publish("m/big", b"x" * 200, qos=1)
    pub.publish("m/small", b"ok", qos=1)
    assert [(m.topic, m.payload) for m in small.messages()] == [("m/small", b"ok")]
