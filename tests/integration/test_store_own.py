"""The gateway's own state (in-process publishers) and the SD card: what is written and when.

Sensor readings, relay state, availability and bridge metrics are published by in-process clients
(`Message.own`). Retained, they stay in memory only; bound for a durable session (a bridge), they
are held for `own_grace` seconds and written only when no ack came by then, or at shutdown. A LAN
client's message is written as before (the positive controls below).
"""

from __future__ import annotations

import time

from tests.support.clients import V5, TestClient
from tests.support.store_broker import StoreBroker


def own_publish(b: StoreBroker, topic: str, payload: bytes, qos: int = 1, retain: bool = False):
    async def _publish() -> None:
        assert b.broker is not None
        client = b.broker.local_client("sensors")
        await client.publish(topic, payload, qos=qos, retain=retain)

    b.call(_publish())


def recorded(b: StoreBroker) -> int:
    store = b.store
    assert store is not None
    return b.run(lambda: store._seq)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_own_retained_stays_in_memory_and_replaces_a_lan_value_on_disk(db, brokers):
    b = brokers(db)
    lan = TestClient(b.port, "lan", version=V5)
    lan.publish("edge/sensor/a", b"from-lan", qos=1, retain=True)  # positive control: written
    lan.publish("lan/only", b"kept", qos=1, retain=True)
    b.committed()
    assert b.rows("SELECT topic FROM retained ORDER BY topic") == [
        ("edge/sensor/a",),
        ("lan/only",),
    ]
    before = recorded(b)
    own_publish(b, "edge/sensor/b", b"21.5", retain=True)
    assert recorded(b) == before  # nothing recorded for the store at all
    own_publish(b, "edge/sensor/a", b"22.0", retain=True)  # replaces the LAN value: deleted once
    own_publish(b, "edge/sensor/a", b"22.5", retain=True)
    assert recorded(b) == before + 1
    b.committed()
    assert b.rows("SELECT topic FROM retained") == [("lan/only",)]
    sub = TestClient(b.port, "sub", version=V5)  # in memory, retained as usual
    sub.subscribe("edge/#", 1)
    got = {m.topic: m.payload for m in sub.expect(2)}
    assert got == {"edge/sensor/a": b"22.5", "edge/sensor/b": b"21.5"}
    lan.disconnect()
    sub.disconnect()
    b.stop()
    b = brokers(db)  # the gateway re-publishes its own state at start; the LAN value stays gone
    sub = TestClient(b.port, "sub2", version=V5)
    sub.subscribe("#", 1)
    assert [(m.topic, m.payload) for m in sub.expect(1)] == [("lan/only", b"kept")]
    sub.sync()
    sub.expect_none()


def test_own_delivery_acked_within_the_grace_is_never_written(db, brokers):
    b = brokers(db, own_grace=60)
    cloud = TestClient(b.port, "bridge-like", version=V5, clean=False, session_expiry=3600)
    cloud.subscribe("edge/#", 1)
    b.committed()
    before = recorded(b)
    for i in range(20):
        own_publish(b, "edge/sensor/a", str(i).encode())
    assert [m.payload for m in cloud.expect(20)] == [str(i).encode() for i in range(20)]
    session = b.core.sessions["bridge-like"]
    wait_for(lambda: b.run(lambda: not session.inflight))  # every PUBACK is back at the broker
    assert b.sys("store/own messages held") == 0
    assert recorded(b) == before
    assert b.sys("store/own messages written") == 0
    # positive control: a LAN client's QoS 1 message to the same session is written (and deleted)
    lan = TestClient(b.port, "lan", version=V5)
    lan.publish("edge/sensor/a", b"lan", qos=1)
    assert cloud.expect_one().payload == b"lan"
    assert recorded(b) > before


def test_own_delivery_not_acked_is_written_after_the_grace_and_survives_a_kill(db, brokers):
    b = brokers(db, own_grace=0.5)
    cloud = TestClient(b.port, "bridge-like", version=V5, clean=False, session_expiry=3600)
    cloud.subscribe("edge/#", 1)
    cloud.disconnect()  # the link is down: the readings queue
    b.committed()
    before = recorded(b)
    own_publish(b, "edge/sensor/a", b"one")
    own_publish(b, "edge/sensor/a", b"two")
    assert recorded(b) == before and b.sys("store/own messages held") == 2
    wait_for(lambda: b.sys("store/own messages written") == 2)
    b.committed()
    assert b.rows("SELECT count(*) FROM queue") == [(2,)]


def test_held_own_deliveries_are_written_at_shutdown(db, brokers):
    b = brokers(db, own_grace=3600)
    cloud = TestClient(b.port, "bridge-like", version=V5, clean=False, session_expiry=3600)
    cloud.subscribe("edge/#", 1)
    cloud.disconnect()
    b.committed()
    own_publish(b, "edge/sensor/a", b"one")
    own_publish(b, "edge/sensor/a", b"two")
    assert b.rows("SELECT count(*) FROM queue") == [(0,)]
    b.stop()
    b = brokers(db, own_grace=3600)
    cloud = TestClient(b.port, "bridge-like", version=V5, clean=False, session_expiry=3600)
    assert [m.payload for m in cloud.expect(2)] == [b"one", b"two"]
