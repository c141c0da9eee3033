"""A flood of refusals writes one log line per cause per 10 s, not one per event (journald would
drop real messages); the counters still count every event."""

from __future__ import annotations

import logging

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Publish, Suback, Subscribe, Subscription
from tests.support.broker_thread import BrokerThread
from tests.support.raw import RawClient

R = ReasonCode
FLOOD = 300


@pytest.fixture
def broker(tmp_path):
    (tmp_path / "acl").write_text("topic read open/#\n")
    auth = GatewayAuth({"default": ListenerPolicy(allow_anonymous=True)}, acl_file=tmp_path / "acl")
    thread = BrokerThread(authenticator=auth, authorizer=auth).start()
    yield thread
    thread.stop()


def lines(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_denied_subscribes_and_publishes_log_one_line_each(broker, caplog):
    raw = RawClient(broker.port, version=5)
    assert raw.connect("flooder").reason_code == R.SUCCESS
    with caplog.at_level(logging.INFO):
        for packet_id in range(1, FLOOD + 1):
            raw.send(Subscribe(packet_id, (Subscription("closed/#", QoS.AT_MOST_ONCE),)))
            assert raw.recv() == Suback(packet_id, (R.NOT_AUTHORIZED,))
            raw.send(Publish("closed/x", b"", QoS.AT_LEAST_ONCE, packet_id=packet_id))
            assert raw.recv() == Puback(packet_id, R.NOT_AUTHORIZED)
    raw.close()
    assert lines(caplog, "subscribe by flooder to closed/# denied") == 1
    assert lines(caplog, "publish by flooder to closed/x denied") == 1
    stats = broker.run(lambda: broker.broker.core.stats)
    assert stats.dropped["subscribe_not_authorized"] == FLOOD  # every event still counted
    assert stats.dropped["not_authorized"] == FLOOD


def test_refused_connections_log_one_line(broker, caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(FLOOD):
            raw = RawClient(broker.port, version=5)
            assert raw.connect("$bridge/x").reason_code == R.CLIENT_IDENTIFIER_NOT_VALID
            raw.close()
    assert lines(caplog, "refused: client id '$bridge/x' reserved") == 1
