"""Publish/subscribe over real sockets with paho-mqtt, MQTT 3.1.1 and 5.0: what needs TCP (paho's
QoS 2 handshake through the glue, 200 messages in flight in order, a payload over many segments).
The routing rules (QoS, wildcards, retained, unsubscribe) are tested without sockets in
tests/unit/broker/test_pubsub_rules.py."""

from __future__ import annotations

import pytest

from tests.support.clients import V5, V311, TestClient

VERSIONS = [pytest.param(V311, id="3.1.1"), pytest.param(V5, id="5.0")]


@pytest.mark.parametrize("version", VERSIONS)
def test_paho_round_trip_at_qos_2_MQTT_4_3(broker, version):
    sub = TestClient(broker.port, "sub", version=version)
    assert sub.subscribe("sensors/temp", 2) == [2]
    pub = TestClient(broker.port, "pub", version=version)
    pub.publish("sensors/temp", b"21.5", qos=2)
    got = sub.expect_one()
    assert (got.topic, got.payload, got.qos, got.retain) == ("sensors/temp", b"21.5", 2, False)


def test_in_order_delivery_per_topic_MQTT_4_6_0(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("seq", 1)
    pub = TestClient(broker.port, "pub")
    for i in range(200):
        pub.publish("seq", str(i).encode(), qos=1, wait=False)
    got = [int(m.payload) for m in sub.expect(200)]
    assert got == list(range(200))


def test_large_payload_round_trip(broker):
    sub = TestClient(broker.port, "sub")
    sub.subscribe("big", 1)
    payload = bytes(range(256)) * 2000  # 512 kB, under the 1 MiB default limit
    TestClient(broker.port, "pub").publish("big", payload, qos=1)
    assert sub.expect_one().payload == payload
