"""CONNECT and protocol errors over real sockets: what needs the glue (the close after an answer, one
broken TCP stream among good ones, a takeover closing another socket, paho's handshake). The rules
themselves (client ids, keepalive, the connect timeout, limits, SUBACK codes) are tested without
sockets, on a fake clock, in tests/unit/broker/test_connect_rules.py."""

from __future__ import annotations

from gateway.mqtt.enums import ReasonCode
from tests.support.clients import V5, V311, TestClient
from tests.support.raw import RawClient


def test_connack_success_v311(broker):
    client = TestClient(broker.port, "c1", version=V311)
    assert client.flags.session_present is False


def test_unsupported_protocol_level_answered_0x01_then_closed_MQTT_3_1_2_2(broker):
    raw = RawClient(broker.port, 4)
    # CONNECT with protocol level 6: 10 bytes variable header, client id "x"
    raw.send_bytes(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([6, 2, 0, 60, 0, 1]) + b"x")
    packets = raw.wait_closed()
    assert packets and packets[0].reason_code == ReasonCode.UNSUPPORTED_PROTOCOL_VERSION


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
