"""Regression (found by tests/property/test_session_fuzz.py): a take-over of a client whose
session expiry is 0 must start a fresh session; the old one ends with its connection
[MQTT-3.1.2-23], [MQTT-3.1.4-3]."""

from __future__ import annotations

from gateway.broker.core import BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import encode
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Connect, Publish, Subscribe, Subscription


def test_takeover_with_session_expiry_0_gets_a_new_registered_session():
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    first, second = core.open_connection(0.0), core.open_connection(0.0)
    hello = encode(Connect("a", protocol_version=5, clean_start=False), 5)
    first.receive_data(hello, 0.0)
    second.receive_data(hello, 1.0)
    assert first.closed and second.connected
    assert core.sessions["a"] is second.session  # registered, not a detached leftover
    assert core.stats.clients_connected == 1 and core.stats.clients_disconnected == 0
    second.receive_data(encode(Subscribe(1, (Subscription("t", QoS.AT_MOST_ONCE),)), 5), 2.0)
    second.receive_data(encode(Publish("t", b"x"), 5), 2.0)  # routing finds the session
    assert core.stats.publish_sent == 1
