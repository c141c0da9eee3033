"""MQTT 5.0 over real sockets: paho reading the properties our broker passes through. The 5.0 rules
(expiry, aliases, flow control, identifiers, options, shared subscriptions, reason codes) are
tested without sockets, on a fake clock, in tests/unit/broker/test_v5_rules.py."""

from __future__ import annotations

from tests.support.clients import V5, TestClient, v5_props


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
