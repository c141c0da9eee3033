"""Sessions over real sockets: what needs the glue (a dropped TCP connection publishing the will, the
timer task publishing $SYS). The session rules (queues, DUP resend, QoS 2, wills, will delay and
session expiry on a fake clock) are tested without sockets in
tests/unit/broker/test_session_rules.py."""

from __future__ import annotations

from gateway.broker.settings import BrokerSettings
from tests.support.clients import TestClient


def test_will_published_when_the_tcp_connection_drops_MQTT_3_1_2_8(broker):
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("status/dev", 1)
    dev = TestClient(broker.port, "dev", will=("status/dev", b"gone", 1, False))
    dev.kill()
    got = watcher.expect_one()
    assert (got.topic, got.payload) == ("status/dev", b"gone")


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
