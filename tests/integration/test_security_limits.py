"""The limits the glue enforces bite over real sockets and are counted under
`$SYS/broker/limits/<name>`: connections in total and per listener (admission, before any byte is
read) and the connect timeout (the timer task). The protocol limits (packet size, in-flight window,
queue, topic length and levels, subscriptions, publish rate, receive maximum) are tested without
sockets in tests/unit/broker/test_limit_rules.py."""

from __future__ import annotations

import time

from gateway.broker.server import ListenerSpec
from gateway.broker.settings import BrokerSettings
from tests.support.clients import TestClient
from tests.support.raw import RawClient


def limits(thread) -> dict[str, int]:
    return thread.run(lambda: dict(thread.broker.core.stats.limits_hit))


def settings(**kw) -> BrokerSettings:
    return BrokerSettings(sys_interval=0, **kw)


def test_max_connections_total(make_broker):
    thread = make_broker(max_connections=2)
    a, b = TestClient(thread.port, "a"), TestClient(thread.port, "b")
    extra = RawClient(thread.port)
    extra.send_bytes(b"\x10")  # the broker closes it without reading a CONNECT
    assert extra.wait_closed() == []
    assert limits(thread)["max_connections"] == 1
    a.disconnect()
    deadline = time.monotonic() + 5
    while thread.run(lambda: thread.broker.admission.total) > 1:  # a's close seen
        assert time.monotonic() < deadline, "the broker never saw the client leave"
    TestClient(thread.port, "c").disconnect()  # the freed slot serves a new client
    b.disconnect()


def test_max_connections_per_listener(make_broker):
    thread = make_broker(
        listeners=[
            ListenerSpec("small", "127.0.0.1", 0, max_connections=1),
            ListenerSpec("big", "127.0.0.1", 0),
        ]
    )
    small, big = (port for _, port in thread.broker.addresses)
    first = TestClient(small, "a")
    refused = RawClient(small)
    assert refused.wait_closed() == []
    assert limits(thread) == {"max_connections_small": 1}
    TestClient(big, "b").disconnect()  # the other listener is not affected
    first.disconnect()


def test_connect_timeout_closes_a_silent_connection(make_broker):
    thread = make_broker(settings(connect_timeout=0.3))
    silent = RawClient(thread.port)
    assert silent.wait_closed(timeout=5) == []
    assert limits(thread) == {"connect_timeout": 1}
