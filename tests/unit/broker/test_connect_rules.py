"""CONNECT/CONNACK, keepalive, the connect timeout and protocol errors, on the in-memory broker
(tests/support/broker_pair.py: the real core and connection code, no sockets, a fake clock).
What needs a socket (EOF after the answer, one bad stream among good ones, a takeover closing
another socket) is in tests/integration/test_broker_connect.py."""

from __future__ import annotations

import pytest

from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Publish,
    Suback,
    Subscribe,
    Subscription,
)
from gateway.mqtt.properties import Properties
from tests.support.broker_pair import BrokerPair

R = ReasonCode


@pytest.fixture
def pair():
    return BrokerPair()


def test_connack_v5_announces_limits_MQTT_3_2_2(pair):
    props = pair.connect("c1").connack.properties
    assert props.receive_maximum == 64
    assert props.maximum_packet_size == 1_048_576
    assert props.topic_alias_maximum == 16


def test_zero_length_client_id_with_clean_session_0_rejected_on_311_MQTT_3_1_3_8(pair):
    client = pair.open(4)
    client.connect("", clean_start=False, expect=R.CLIENT_IDENTIFIER_NOT_VALID)  # 0x02 on the wire
    assert client.closed


def test_zero_length_client_id_with_clean_session_1_accepted_on_311_MQTT_3_1_3_6(pair):
    client = pair.connect("", 4, clean_start=True)
    assert not client.closed


def test_zero_length_client_id_assigned_on_v5_MQTT_3_2_2_16(pair):
    ack = pair.connect("", clean_start=True).connack
    assert ack.properties.assigned_client_identifier


def test_first_packet_must_be_connect_MQTT_3_1_0_1(pair):
    client = pair.open(4)
    client.send(Pingreq())
    assert client.closed
    assert client.take() == []


@pytest.mark.parametrize("version", [4, 5])
def test_publish_before_connack_refused(pair, version):
    client = pair.open(version)
    client.send(Publish("x", b"y"))
    assert client.closed
    assert not any(isinstance(p, Connack) and not p.reason_code.is_error for p in client.take())


def test_second_connect_is_a_protocol_error_MQTT_3_1_0_2(pair):
    client = pair.connect("twice")
    client.send(Connect("twice", protocol_version=5))
    last = client.closed_with()
    assert isinstance(last, Disconnect)
    assert last.reason_code == R.PROTOCOL_ERROR


def test_pingreq_answered_with_pingresp_MQTT_3_12_4_1(pair):
    client = pair.connect("pinger", 4, keep_alive=30)
    client.send(Pingreq())
    assert isinstance(client.recv(), Pingresp)


def test_silent_client_disconnected_after_one_and_a_half_keepalive_MQTT_3_1_2_22(pair):
    client = pair.connect("sleepy", keep_alive=1)
    pair.advance(1.49)
    assert not client.closed
    pair.advance(0.02)
    assert client.closed_with().reason_code == R.KEEP_ALIVE_TIMEOUT


def test_client_that_pings_stays_connected_past_its_keepalive(pair):
    client = pair.connect("awake", 4, keep_alive=1)
    for _ in range(5):  # a ping every 0.5 s, for 2.5 keepalive periods
        client.send(Pingreq())
        assert isinstance(client.recv(), Pingresp)
        pair.advance(0.5)
    assert not client.closed
    pair.advance(1.1)  # positive control: silence does end it
    assert client.closed


def test_packet_over_maximum_size_refused_from_fixed_header_MQTT_3_2_2_15():
    pair = BrokerPair(max_packet_size=1024)
    client = pair.connect("big")
    client.send_bytes(bytes([0x30, 0xFF, 0xFF, 0x7F]))  # announces ~2 MB, sends no body
    assert client.closed_with().reason_code == R.PACKET_TOO_LARGE


def test_varint_longer_than_four_bytes_is_malformed_MQTT_1_5_5(pair):
    client = pair.connect("v")
    client.send_bytes(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
    assert client.closed_with().reason_code == R.MALFORMED_PACKET


def test_wildcard_in_publish_topic_closes_connection_MQTT_3_3_2_2(pair):
    client = pair.connect("w")
    client.send(Publish("a/+", b"x", QoS.AT_MOST_ONCE))
    assert client.closed_with().reason_code == R.TOPIC_NAME_INVALID


def test_invalid_filter_gets_failure_in_suback_MQTT_3_8_3_2(pair):
    client = pair.connect("f")
    filters = (Subscription("a/#/b", QoS.AT_LEAST_ONCE), Subscription("ok/+", QoS.AT_LEAST_ONCE))
    client.send(Subscribe(1, filters))
    ack = client.recv()
    assert isinstance(ack, Suback)
    assert ack.reason_codes == (R.TOPIC_FILTER_INVALID, R.GRANTED_QOS_1)


def test_invalid_filter_gets_0x80_in_suback_on_311_MQTT_3_9_3(pair):
    client = pair.connect("f4", 4)
    assert client.subscribe("a/b#", 1)[0].is_error


def test_connection_that_sends_nothing_is_closed_after_connect_timeout():
    pair = BrokerPair(connect_timeout=0.5)
    client = pair.open(4)
    pair.advance(0.49)
    assert not client.closed
    pair.advance(0.02)
    assert client.closed
    assert client.take() == []
    assert pair.core.stats.limits_hit["connect_timeout"] == 1


def test_disconnect_with_session_expiry_after_zero_is_protocol_error_MQTT_3_14_2_2(pair):
    client = pair.connect("e")
    client.send(Disconnect(R.NORMAL_DISCONNECTION, Properties(session_expiry_interval=60)))
    assert client.closed_with().reason_code == R.PROTOCOL_ERROR


def test_bridge_session_client_ids_are_reserved(pair):
    client = pair.open()
    client.connect("$bridge/cloud", expect=R.CLIENT_IDENTIFIER_NOT_VALID)
    assert client.closed
