"""The bridge queue's age limit (`queue.max_age`) with the durable store: it covers the whole queue,
the part in memory and the part on disk only (deleted in the store by one range query, not paged
in), and a message read back from disk is aged from its own arrival, not from the start of the run.

Real parts: our broker with its SQLite store, the bridge, Mosquitto with mTLS behind a proxy the
test holds cut while the queue fills. Time is the broker's clock, a fake the test moves; the
bridge's purge is run on the loop at each step (its timer runs it too: the result is the same), and
`committed()` waits for the store's answer."""

from __future__ import annotations

import pytest

from tests.fakes.fake_clock import FakeClock
from tests.support.bridge import BridgeHarness, bridge_config, cloud_behind_proxy
from tests.support.clients import TestClient
from tests.support.mosquitto import mosquitto_available
from tests.support.store_broker import StoreBroker

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed"),
]

MAX_AGE = 5
WINDOW = 10  # deliveries per session in memory; the rest stay on disk


@pytest.fixture
def cloud(tmp_path):
    with cloud_behind_proxy(tmp_path, "age-observer") as parts:
        yield parts


@pytest.fixture
def bridge(cloud, tmp_path):
    mosq, proxy, _ = cloud
    clock = FakeClock()
    started = []

    def _start(**queue) -> BridgeHarness:
        cfg = bridge_config(
            mosq, port=proxy.port, status_topic="", queue={"max_age": MAX_AGE, **queue}
        )
        harness = BridgeHarness(
            cfg, store=tmp_path / "broker.db", clock=clock.monotonic, memory_window=WINDOW
        )
        started.append(harness)
        harness.wait_state("connected")
        proxy.set_mode("cut")
        harness.wait_state("backoff")
        return harness

    yield clock, _start
    for harness in started:
        harness.stop()


def _publish(port: int, payloads: list[bytes]) -> None:
    """One at a time, each acknowledged (after the commit holding it) before the next."""
    pub = TestClient(port, "sensor")
    for payload in payloads:
        pub.publish("edge/data/x", payload, qos=1)
    pub.disconnect()


def _purge(harness: BridgeHarness, now: float) -> None:
    harness.value(lambda s: s.forwarder.purge_old(now))
    assert isinstance(harness.thread, StoreBroker)
    harness.thread.committed()  # the store's answer to a purge on disk has arrived


def _queue(harness: BridgeHarness) -> tuple[int, int, int]:
    """(in memory, on disk only, max_age drops)"""
    return harness.value(
        lambda s: (
            len(s.forwarder.session.queue),
            s.forwarder.session.spilled,
            s.counters.dropped.get("max_age", 0),
        )
    )


def _rows(harness: BridgeHarness) -> tuple[int, int]:
    """(queued rows of the bridge's session, message bodies) in the store file, read through the
    store's own connection (it holds the file's exclusive lock)."""
    store = harness.thread
    assert isinstance(store, StoreBroker)
    [(queued,)] = store.rows(
        "SELECT count(*) FROM queue WHERE client_id='$bridge/cloud' AND state=0"
    )
    [(bodies,)] = store.rows("SELECT count(*) FROM messages")
    return queued, bodies


def _reconnect_and_receive(harness, proxy, observer) -> list[bytes]:
    proxy.set_mode("pass")
    harness.wait_state("connected")
    _publish(harness.port, [b"sentinel"])
    out = []
    while (msg := observer.expect_one(timeout=15)).payload != b"sentinel":
        out.append(msg.payload)
    return out


def test_max_age_purges_the_queue_on_disk_too(cloud, bridge, tmp_path):
    _, proxy, observer = cloud
    clock, start = bridge
    harness = start()
    clock.now = 10
    _publish(harness.port, [b"%d" % i for i in range(30)])
    _purge(harness, 10)
    assert _queue(harness) == (WINDOW, 30 - WINDOW, 0)
    assert _rows(harness) == (30, 30)

    clock.now = 10 + MAX_AGE - 2  # a fresh one arrives; then all 30 become too old, it does not
    _publish(harness.port, [b"fresh"])  # (before the clock moves on: the bridge's timer purges too)
    clock.now = 10 + MAX_AGE + 1
    _purge(harness, clock.now)
    assert _queue(harness) == (0, 1, 30)
    assert _rows(harness) == (1, 1)  # rows and bodies gone
    assert harness.value(lambda s: s.broker.core.stats.dropped.get("bridge_max_age")) == 30
    assert harness.value(lambda s: s.metrics(clock.now)["messages/dropped/max_age"]) == 30
    assert _reconnect_and_receive(harness, proxy, observer) == [b"fresh"]


def test_messages_read_back_from_disk_are_aged_from_their_own_arrival(cloud, bridge):
    """drop-oldest makes room by paging the disk part in: those deliveries have no sequence
    number of this run (once, they counted as old as the run and the age limit dropped them)."""
    _, proxy, observer = cloud
    clock, start = bridge
    harness = start(max_messages=25, overflow="drop-oldest")
    clock.now = 10  # the run is older than MAX_AGE; the messages are not
    _publish(harness.port, [b"%d" % i for i in range(35)])  # 0..9 dropped for room
    _purge(harness, 10)
    memory, on_disk, _ = _queue(harness)
    head = harness.value(lambda s: s.forwarder.session.queue[0])
    assert (memory + on_disk, head.message.seq, head.message.payload) == (25, 0, b"10")

    clock.now = 10 + MAX_AGE - 1
    _purge(harness, clock.now)
    assert _queue(harness) == (memory, on_disk, 0)
    assert harness.value(lambda s: s.forwarder.oldest_age(clock.now)) == MAX_AGE - 1

    # Published before the clock passes MAX_AGE: the bridge's own timer purges too, and a tick
    # between moving the clock and this publish would have aged out all 25 first (seen once in CI).
    _publish(harness.port, [b"fresh"])  # the queue is full: "10" makes room
    clock.now = 10 + MAX_AGE + 1
    _purge(harness, clock.now)
    assert _queue(harness) == (0, 1, 24)
    assert harness.value(lambda s: s.counters.dropped["queue_full_drop_oldest"]) == 11
    assert _reconnect_and_receive(harness, proxy, observer) == [b"fresh"]
