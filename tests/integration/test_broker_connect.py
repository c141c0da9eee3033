"""CONNECT/CONNACK, keepalive, takeover and protocol errors, over real sockets."""

from __future__ import annotations

import time

import pytest

from gateway.broker.settings import BrokerSettings
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
from tests.support.clients import V5, V311, TestClient
from tests.support.raw import RawClient


def test_connack_success_v311(broker):
    client = TestClient(broker.port, "c1", version=V311)
    assert client.flags.session_present is False


def test_connack_v5_announces_limits_MQTT_3_2_2(broker):
    client = TestClient(broker.port, "c1", version=V5)
    props = client.connack_properties
    assert props.ReceiveMaximum == 64
    assert props.MaximumPacketSize == 1_048_576
    assert props.TopicAliasMaximum == 16


def test_zero_length_client_id_with_clean_session_0_rejected_on_311_MQTT_3_1_3_8(broker):
    raw = RawClient(broker.port, 4)
    ack = raw.connect("", clean_start=False)
    assert isinstance(ack, Connack)
    assert ack.reason_code == ReasonCode.CLIENT_IDENTIFIER_NOT_VALID  # 0x02 on the wire
    raw.wait_closed()


def test_zero_length_client_id_with_clean_session_1_accepted_on_311_MQTT_3_1_3_6(broker):
    raw = RawClient(broker.port, 4)
    ack = raw.connect("", clean_start=True)
    assert ack.reason_code == ReasonCode.SUCCESS


def test_zero_length_client_id_assigned_on_v5_MQTT_3_2_2_16(broker):
    raw = RawClient(broker.port, 5)
    ack = raw.connect("", clean_start=True)
    assert ack.reason_code == ReasonCode.SUCCESS
    assert ack.properties.assigned_client_identifier


def test_unsupported_protocol_level_answered_0x01_then_closed_MQTT_3_1_2_2(broker):
    raw = RawClient(broker.port, 4)
    # CONNECT with protocol level 6: 10 bytes variable header, client id "x"
    raw.send_bytes(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([6, 2, 0, 60, 0, 1]) + b"x")
    packets = raw.wait_closed()
    assert packets and packets[0].reason_code == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION


def test_first_packet_must_be_connect_MQTT_3_1_0_1(broker):
    raw = RawClient(broker.port, 4)
    raw.send(Pingreq())
    assert raw.wait_closed() == []


def test_second_connect_is_a_protocol_error_MQTT_3_1_0_2(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("twice")
    raw.send(Connect("twice", protocol_version=5))
    packets = raw.wait_closed()
    assert isinstance(packets[-1], Disconnect)
    assert packets[-1].reason_code == ReasonCode.PROTOCOL_ERROR


def test_pingreq_answered_with_pingresp_MQTT_3_12_4_1(broker):
    raw = RawClient(broker.port, 4)
    raw.connect("pinger", keep_alive=30)
    raw.send(Pingreq())
    assert isinstance(raw.recv(), Pingresp)


def test_silent_client_disconnected_after_one_and_a_half_keepalive_MQTT_3_1_2_22(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("sleepy", keep_alive=1)
    started = time.monotonic()
    packets = raw.wait_closed(timeout=5)
    elapsed = time.monotonic() - started
    assert packets and packets[-1].reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT
    assert 1.4 <= elapsed < 3.5


def test_client_that_pings_stays_connected_past_its_keepalive(broker):
    raw = RawClient(broker.port, 4)
    raw.connect("awake", keep_alive=1)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # a ping every 0.5 s, for 2.5 keepalive periods
        raw.send(Pingreq())
        assert isinstance(raw.recv(), Pingresp)
        time.sleep(0.5)  # the client's own keepalive schedule, not synchronisation


def test_client_id_takeover_disconnects_the_old_connection_MQTT_3_1_4_3(broker):
    old = RawClient(broker.port, 5)
    old.connect("same-id")
    new = TestClient(broker.port, "same-id", version=V5)
    packets = old.wait_closed()
    assert packets[-1].reason_code == ReasonCode.SESSION_TAKEN_OVER
    new.subscribe("still/works", 0)


def test_malformed_packet_closes_only_that_connection_MQTT_4_13_1(broker):
    good = TestClient(broker.port, "good")
    good.subscribe("t", 1)
    bad = RawClient(broker.port, 5)
    bad.connect("bad")
    bad.send_bytes(bytes([0x30, 3, 0, 5, 0x61]))  # topic length 5, only 1 byte follows
    packets = bad.wait_closed()
    assert packets[-1].reason_code == ReasonCode.MALFORMED_PACKET
    TestClient(broker.port, "pub").publish("t", b"still here", qos=1)
    assert good.expect_one().payload == b"still here"


def test_packet_over_maximum_size_refused_from_fixed_header_MQTT_3_2_2_15(make_broker):
    thread = make_broker(BrokerSettings(max_packet_size=1024, sys_interval=0))
    raw = RawClient(thread.port, 5)
    raw.connect("big")
    raw.send_bytes(bytes([0x30, 0xFF, 0xFF, 0x7F]))  # announces ~2 MB, sends no body
    packets = raw.wait_closed()
    assert packets[-1].reason_code == ReasonCode.PACKET_TOO_LARGE


def test_varint_longer_than_four_bytes_is_malformed_MQTT_1_5_5(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("v")
    raw.send_bytes(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.MALFORMED_PACKET


def test_wildcard_in_publish_topic_closes_connection_MQTT_3_3_2_2(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("w")
    raw.send(Publish("a/+", b"x", QoS.AT_MOST_ONCE))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.TOPIC_NAME_INVALID


def test_invalid_filter_gets_failure_in_suback_MQTT_3_8_3_2(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("f")
    raw.send(
        Subscribe(
            1, (Subscription("a/#/b", QoS.AT_LEAST_ONCE), Subscription("ok/+", QoS.AT_LEAST_ONCE))
        )
    )
    ack = raw.recv()
    assert isinstance(ack, Suback)
    assert ack.reason_codes == (ReasonCode.TOPIC_FILTER_INVALID, ReasonCode.GRANTED_QOS_1)


def test_invalid_filter_gets_0x80_in_suback_on_311_MQTT_3_9_3(broker):
    raw = RawClient(broker.port, 4)
    raw.connect("f4")
    raw.send(Subscribe(1, (Subscription("a/b#", QoS.AT_LEAST_ONCE),)))
    ack = raw.recv()
    assert ack.reason_codes[0].is_error


def test_connection_that_sends_nothing_is_closed_after_connect_timeout(make_broker):
    thread = make_broker(BrokerSettings(connect_timeout=0.5, sys_interval=0))
    raw = RawClient(thread.port, 4)
    started = time.monotonic()
    assert raw.wait_closed(timeout=5) == []
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("version", [4, 5])
def test_publish_before_connack_refused(broker, version):
    raw = RawClient(broker.port, version)
    raw.send(Publish("x", b"y"))
    raw.wait_closed()


def test_disconnect_with_session_expiry_after_zero_is_protocol_error_MQTT_3_14_2_2(broker):
    raw = RawClient(broker.port, 5)
    raw.connect("e")
    raw.send(Disconnect(ReasonCode.NORMAL_DISCONNECTION, Properties(session_expiry_interval=60)))
    assert raw.wait_closed()[-1].reason_code == ReasonCode.PROTOCOL_ERROR


def test_bridge_session_client_ids_are_reserved(broker):
    raw = RawClient(broker.port, 5)
    ack = raw.connect("$bridge/cloud")
    assert ack.reason_code == ReasonCode.CLIENT_IDENTIFIER_NOT_VALID
    raw.wait_closed()
