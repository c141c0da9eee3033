"""What the durable store keeps across a broker restart, over real sockets with paho clients.

Each test runs a broker on a store file, stops it in the gateway's shutdown order, starts a new
broker on the same file (a new port, a new core) and checks what the clients see.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes

from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Puback, Pubcomp, Publish, Pubrec, Pubrel, Subscribe, Subscription
from tests.support.clients import V5, TestClient, v5_props
from tests.support.raw import RawClient
from tests.support.store_broker import StoreBroker


def restart(old: StoreBroker, start, path, **kwargs) -> StoreBroker:
    old.stop()
    return start(path, **kwargs)


def test_retained_messages_survive_a_restart(db, brokers):
    b = brokers(db)
    pub = TestClient(b.port, "pub", version=V5)
    pub.publish("r/a", b"alpha", qos=1, retain=True)
    pub.publish("r/b", b"beta", qos=0, retain=True)
    pub.publish("r/c", b"gone", qos=1, retain=True)
    pub.publish("r/c", b"", qos=1, retain=True)  # cleared [MQTT-3.3.1-10]
    pub.publish(
        "r/d",
        b"props",
        qos=1,
        retain=True,
        properties=v5_props(ContentType="text/plain", UserProperty=[("k", "v")]),
    )
    pub.disconnect()
    b.committed()
    b = restart(b, brokers, db)
    sub = TestClient(b.port, "sub", version=V5)
    sub.subscribe("r/#", 1)
    got = {m.topic: m for m in sub.expect(3)}
    sub.sync()
    sub.expect_none()
    assert {t: m.payload for t, m in got.items()} == {
        "r/a": b"alpha",
        "r/b": b"beta",
        "r/d": b"props",
    }
    assert all(m.retain for m in got.values())
    assert got["r/d"].properties.ContentType == "text/plain"
    assert got["r/d"].properties.UserProperty == [("k", "v")]
    assert b.sys("retained messages/count") == 3


@pytest.mark.parametrize("qos", [1, 2])
def test_queued_messages_of_an_offline_persistent_session_survive_a_restart(db, brokers, qos):
    b = brokers(db)
    sub = TestClient(b.port, "offline-sub", clean=False)
    sub.subscribe("q/#", qos)
    sub.disconnect()
    pub = TestClient(b.port, "pub")
    for i in range(200):
        pub.publish(f"q/{i % 4}", str(i).encode(), qos=qos)  # acked => committed (sync)
    pub.disconnect()
    b = restart(b, brokers, db)
    assert b.sys("store/messages/count") == 200
    back = TestClient(b.port, "offline-sub", clean=False)
    assert back.flags.session_present is True  # subscriptions and session restored
    got = back.expect(200)
    assert [int(m.payload) for m in got] == list(range(200))  # in order, none lost
    assert {m.qos for m in got} == {qos}
    back.sync()
    back.expect_none()
    # the subscription itself survived: a new message is routed to it
    TestClient(b.port, "pub2").publish("q/9", b"after", qos=1)
    assert back.expect_one().payload == b"after"


def test_session_expiry_and_subscription_options_survive_a_restart(db, brokers):
    b = brokers(db)
    sub = TestClient(b.port, "v5-sub", version=V5, clean=False, session_expiry=3600)
    sub.subscribe("o/#", 1, no_local=True, rap=True)
    sub.disconnect()
    b = restart(b, brokers, db)
    session = b.run(lambda: b.core.sessions["v5-sub"])
    assert session.expiry_interval == 3600
    entry = session.subscriptions["o/#"]
    assert (entry.options.qos, entry.options.no_local, entry.options.retain_as_published) == (
        1,
        True,
        True,
    )
    back = TestClient(b.port, "v5-sub", version=V5, clean=False, session_expiry=3600)
    assert back.flags.session_present is True
    back.publish("o/x", b"own", qos=1)  # no local: not delivered to itself
    TestClient(b.port, "other").publish("o/y", b"theirs", qos=1, retain=True)
    got = back.expect_one()
    assert (got.payload, got.retain) == (b"theirs", True)  # retain as published


def test_clean_session_leaves_nothing_on_disk(db, brokers):
    b = brokers(db)
    sub = TestClient(b.port, "clean-sub", clean=True)
    sub.subscribe("c/#", 1)
    pub = TestClient(b.port, "pub")
    for i in range(20):
        pub.publish("c/x", str(i).encode(), qos=1)
    assert len(sub.expect(20)) == 20
    sub.disconnect()
    b.committed()
    assert b.rows("SELECT count(*) FROM sessions") == [(0,)]
    assert b.rows("SELECT count(*) FROM queue") == [(0,)]
    assert b.rows("SELECT count(*) FROM messages") == [(0,)]


def test_unacknowledged_qos1_delivery_is_resent_with_dup_after_a_restart(db, brokers):
    b = brokers(db)
    raw = RawClient(b.port)
    raw.connect("inflight-1", clean_start=False)
    raw.send(Subscribe(1, (Subscription("i/1", QoS.AT_LEAST_ONCE),)))
    raw.recv()  # SUBACK
    TestClient(b.port, "pub").publish("i/1", b"keep me", qos=1)
    first = raw.recv()
    assert isinstance(first, Publish) and first.dup is False  # received, never acknowledged
    raw.close()
    b = restart(b, brokers, db)
    raw = RawClient(b.port)
    raw.connect("inflight-1", clean_start=False)
    again = raw.recv()
    assert isinstance(again, Publish)  # [MQTT-4.4.0-1] resent on the new connection
    assert (again.payload, again.dup, again.packet_id) == (b"keep me", True, first.packet_id)
    raw.send(Puback(again.packet_id))
    raw.close()


def test_qos2_delivery_awaiting_pubcomp_gets_pubrel_after_a_restart(db, brokers):
    b = brokers(db)
    raw = RawClient(b.port)
    raw.connect("inflight-2", clean_start=False)
    raw.send(Subscribe(1, (Subscription("i/2", QoS.EXACTLY_ONCE),)))
    raw.recv()
    TestClient(b.port, "pub").publish("i/2", b"once", qos=2)
    publish = raw.recv()
    raw.send(Pubrec(publish.packet_id))
    assert raw.recv() == Pubrel(publish.packet_id)
    raw.close()  # PUBCOMP never sent
    b.committed()
    b = restart(b, brokers, db)
    raw = RawClient(b.port)
    raw.connect("inflight-2", clean_start=False)
    assert raw.recv() == Pubrel(publish.packet_id)  # not the PUBLISH again: exactly once
    raw.send(Pubcomp(publish.packet_id))
    b.committed()
    assert b.run(lambda: b.core.sessions["inflight-2"].inflight) == {}
    raw.close()


def test_received_qos2_not_yet_released_is_not_routed_twice_after_a_restart(db, brokers):
    b = brokers(db)
    sub = TestClient(b.port, "eo-sub", clean=False)
    sub.subscribe("eo", 2)
    raw = RawClient(b.port)
    raw.connect("eo-pub", clean_start=False)
    raw.send(Publish("eo", b"exactly once", QoS.EXACTLY_ONCE, packet_id=7))
    assert raw.recv() == Pubrec(7)  # sent only after the commit holding packet id 7
    assert sub.expect_one().payload == b"exactly once"
    raw.close()
    sub.disconnect()
    b = restart(b, brokers, db)
    sub = TestClient(b.port, "eo-sub", clean=False)
    raw = RawClient(b.port)
    raw.connect("eo-pub", clean_start=False)
    raw.send(Publish("eo", b"exactly once", QoS.EXACTLY_ONCE, dup=True, packet_id=7))
    assert raw.recv() == Pubrec(7)  # [MQTT-4.3.3-9] known id: acknowledged, not routed again
    raw.send(Pubrel(7))
    assert raw.recv() == Pubcomp(7)
    sub.sync()
    sub.expect_none()
    raw.close()


def _reboot_clock(shift: float):
    """A monotonic clock that restarted from a different origin (as after a reboot)."""
    return lambda: time.monotonic() - shift


def test_delayed_will_pending_at_shutdown_is_published_after_restart_on_wall_time(db, brokers):
    b = brokers(db)
    watcher = TestClient(b.port, "will-watcher", clean=False)
    watcher.subscribe("wills/#", 1)
    watcher.disconnect()
    will_props = v5_props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)
    client = TestClient(
        b.port,
        "will-client",
        version=V5,
        clean=False,
        session_expiry=3600,
        will=("wills/w", b"gone", 1, False, will_props),
    )
    client.kill()
    b.committed()
    left = time.time()
    b = restart(b, brokers, db, clock=_reboot_clock(1e6))  # monotonic time jumps back 11 days
    watcher = TestClient(b.port, "will-watcher", clean=False)
    got = watcher.expect_one(timeout=6)
    assert got.payload == b"gone"
    assert time.time() - left >= 1.9  # not before its delay, measured from the disconnect


def test_session_expiry_counts_wall_time_across_a_restart(db, brokers):
    b = brokers(db)
    sub = TestClient(b.port, "short-lived", version=V5, clean=False, session_expiry=1)
    sub.subscribe("s/#", 1)
    sub.disconnect()
    b.committed()
    b.stop()
    deadline = time.time() + 1.2
    while time.time() < deadline:  # the time passing while the gateway is down is the test
        time.sleep(deadline - time.time())
    b = brokers(db, clock=_reboot_clock(-5e5))  # monotonic clock far in the other direction
    back = TestClient(b.port, "short-lived", version=V5, clean=False, session_expiry=1)
    assert back.flags.session_present is False  # expired while the gateway was down


def test_session_that_was_connected_at_shutdown_is_restored_offline_with_its_will(db, brokers):
    b = brokers(db)
    watcher = TestClient(b.port, "watch2", clean=False)
    watcher.subscribe("wills/#", 1)
    watcher.disconnect()
    TestClient(b.port, "still-here", clean=False, will=("wills/here", b"lost", 1, False))
    b.committed()
    b = restart(b, brokers, db)  # stop() closes it without DISCONNECT: its will goes out
    watcher = TestClient(b.port, "watch2", clean=False)
    assert watcher.expect_one().payload == b"lost"
    watcher.sync()
    watcher.expect_none()  # exactly once, not again from the restored session


def test_the_wal_index_lives_in_memory_and_the_file_is_ours_alone(db, brokers):
    """Exclusive locking: no `-shm` file beside the store (its pages were written back to the SD
    card after every commit), a second connection is refused while the broker runs, and the queued
    message is there after a restart."""
    b = brokers(db)
    sub = TestClient(b.port, "excl", clean=False)
    sub.subscribe("x/#", 1)
    sub.disconnect()
    TestClient(b.port, "pub").publish("x/1", b"kept", qos=1)
    b.committed()
    assert Path(f"{db}-wal").exists()  # positive control: WAL mode, the commit went through it
    assert not Path(f"{db}-shm").exists()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(db, timeout=0).execute("SELECT count(*) FROM queue").fetchone()
    b.stop()
    with sqlite3.connect(db) as con:  # free again once the gateway has stopped
        assert con.execute("SELECT count(*) FROM queue").fetchone() == (1,)
    b = brokers(db)
    back = TestClient(b.port, "excl", clean=False)
    assert back.expect_one().payload == b"kept"
