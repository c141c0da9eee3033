"""Session queue limits with a store (drop-new, drop-oldest with deliveries on disk only), the
store-wide limits (max_bytes, min_free_bytes: drop-new, and the PUBLISH is refused), the memory
window and message expiry."""

from __future__ import annotations

import logging
import time

import pytest

from gateway.broker.settings import BrokerSettings, QueueOverflow
from tests.support.clients import V5, TestClient, v5_props
from tests.support.store_broker import StoreBroker


@pytest.fixture
def run(tmp_path):
    started: list[StoreBroker] = []

    def _start(settings=None, **store) -> StoreBroker:
        b = StoreBroker(tmp_path / "broker.db", settings, **store).start()
        started.append(b)
        return b

    yield _start
    for b in started:
        if not b.loop.is_closed():
            b.stop()


def _offline_subscriber(b: StoreBroker, client_id: str = "away", topic: str = "t/#") -> None:
    sub = TestClient(b.port, client_id, clean=False)
    sub.subscribe(topic, 1)
    sub.disconnect()


def _publish(b: StoreBroker, count: int, size: int = 10, topic: str = "t/x", **kwargs) -> list[int]:
    """Publish QoS 1 and return each PUBACK's reason code (always 0 for 3.1.1)."""
    pub = TestClient(b.port, "pub", **kwargs)
    infos = [
        pub.publish(topic, str(i).encode().ljust(size, b"."), qos=1, wait=False)
        for i in range(count)
    ]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()
    pub.disconnect()
    return [pub.ack_codes[info.mid] for info in infos]


def _numbers(messages) -> list[int]:
    return [int(m.payload.rstrip(b".")) for m in messages]


def test_queue_drop_new_keeps_the_first_messages(run):
    b = run(BrokerSettings(sys_interval=0, max_queued_messages=10))
    _offline_subscriber(b)
    _publish(b, 15)
    assert b.sys("messages/dropped/queue_full_drop_new") == 5
    assert b.sys("limits/max_queued_messages") == 5
    back = TestClient(b.port, "away", clean=False)
    assert _numbers(back.expect(10)) == list(range(10))
    back.sync()
    back.expect_none()


def test_queue_drop_oldest_across_the_memory_window_and_a_restart(run):
    settings = BrokerSettings(
        sys_interval=0, max_queued_messages=50, queue_overflow=QueueOverflow.DROP_OLDEST
    )
    b = run(settings, memory_window=8)
    _offline_subscriber(b)
    _publish(b, 120)
    session = b.run(lambda: b.core.sessions["away"])
    in_memory, total = b.run(lambda: (len(session.queue), session.queued_count))
    assert in_memory <= 8 and total == 50
    assert b.sys("messages/dropped/queue_full_drop_oldest") == 70
    b.stop()
    b = run(settings, memory_window=8)
    assert b.sys("store/messages/count") == 50
    back = TestClient(b.port, "away", clean=False)
    assert _numbers(back.expect(50)) == list(range(70, 120))  # the newest 50, in order
    back.sync()
    back.expect_none()


def test_memory_window_keeps_a_long_queue_on_disk_and_pages_it_in_order(run):
    b = run(memory_window=16)
    _offline_subscriber(b)
    _publish(b, 1000, size=100)
    session = b.run(lambda: b.core.sessions["away"])
    in_memory, on_disk = b.run(lambda: (len(session.queue), session.spilled))
    assert (in_memory, on_disk) == (16, 984)
    assert b.sys("store/messages/on disk only") == 984
    b.stop()
    b = run(memory_window=16)
    session = b.run(lambda: b.core.sessions["away"])
    assert b.run(lambda: (len(session.queue), session.spilled)) == (16, 984)
    back = TestClient(b.port, "away", clean=False)
    assert _numbers(back.expect(1000)) == list(range(1000))
    back.sync()
    back.expect_none()
    b.committed()
    assert b.run(lambda: (len(session.queue), session.spilled, session.queued_bytes)) == (0, 0, 0)
    # acknowledged: queue rows and message bodies are gone
    assert b.rows("SELECT count(*) FROM queue") == [(0,)]
    assert b.rows("SELECT count(*) FROM messages") == [(0,)]


def test_store_max_bytes_drops_new_queued_messages_counted_and_logged(run, caplog):
    b = run()
    used = b.sys("store/bytes")
    b.stop()
    with caplog.at_level(logging.WARNING, logger="gateway.broker.store"):
        b = run(max_bytes=used + 64 * 1024)
        _offline_subscriber(b)
        codes = _publish(b, 200, size=2000, version=V5)  # ~400 KB wanted, ~64 KB allowed
    dropped = b.sys("messages/dropped/store_max_bytes")
    assert 0 < dropped < 200
    assert b.sys("limits/store_max_bytes") == dropped
    # the publisher is told: 0x97 Quota exceeded for exactly the ones not stored
    assert codes == [0] * (200 - dropped) + [0x97] * dropped
    assert b.sys("limits/store_refused") == dropped
    assert b.sys("store/full") == 1
    assert b.sys("store/state") == "full"
    assert any("store full (store_max_bytes" in r.getMessage() for r in caplog.records)
    back = TestClient(b.port, "away", clean=False)
    got = _numbers(back.expect(200 - dropped))
    assert got == list(range(200 - dropped))  # drop-new: the first ones were kept
    back.sync()
    back.expect_none()


def test_store_min_free_bytes_floor_drops_new_queued_messages(run, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.broker.store"):
        b = run(min_free_bytes=1 << 62)  # more than any disk has: the floor is always under water
    assert b.sys("store/full") == 1
    assert any("store_min_free" in r.getMessage() for r in caplog.records)
    _offline_subscriber(b)
    assert _publish(b, 5, version=V5) == [0x97] * 5
    assert b.sys("messages/dropped/store_min_free") == 5
    back = TestClient(b.port, "away", clean=False)
    back.sync()
    back.expect_none()
    # online subscribers are still served from memory while the store is full
    TestClient(b.port, "pub2").publish("t/live", b"live", qos=1)
    assert back.expect_one().payload == b"live"


def test_expired_messages_are_purged_from_memory_and_disk(run):
    b = run(memory_window=4)
    sub = TestClient(b.port, "exp", version=V5, clean=False, session_expiry=3600)
    sub.subscribe("e/#", 1)
    sub.disconnect()
    pub = TestClient(b.port, "pub", version=V5)
    for i in range(10):
        pub.publish("e/x", str(i).encode(), qos=1, properties=v5_props(MessageExpiryInterval=1))
    pub.publish("e/x", b"keeps", qos=1)
    session = b.run(lambda: b.core.sessions["exp"])
    assert b.run(lambda: (len(session.queue), session.spilled)) == (4, 7)
    deadline = time.monotonic() + 1.1
    while time.monotonic() < deadline:  # message expiry is the subject: let 1 s pass
        time.sleep(deadline - time.monotonic())
    b.run(lambda: session.purge_expired(b.broker.clock()))
    b.committed()
    b.committed()  # the purge answer arrives with the commit that ran it
    assert b.sys("messages/dropped/expired") == 10
    assert b.run(lambda: session.queued_count) == 1
    assert b.rows("SELECT count(*) FROM queue") == [(1,)]
    assert b.rows("SELECT count(*) FROM messages") == [(1,)]
    back = TestClient(b.port, "exp", version=V5, clean=False, session_expiry=3600)
    assert back.expect_one().payload == b"keeps"
