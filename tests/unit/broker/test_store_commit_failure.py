"""A failed store commit is never acknowledged as stored (SQLITE_IOERR injected at COMMIT).

The real SQLite store on a temporary file and the pure broker core with sans-IO connections; the
store thread's work is run by the test (`settle()`), and its reports reach the core at once. The
seam is the store's database connection: a proxy that raises sqlite3.OperationalError
('disk I/O error', code SQLITE_IOERR) at COMMIT while armed.
"""

from __future__ import annotations

import sqlite3

import pytest

from gateway.broker.core import BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.broker.store import SqliteStore, StoreSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Connect, Puback, Publish, Pubrec, Subscribe, Subscription
from gateway.mqtt.properties import Properties


class FailingDb:
    """The store's sqlite3 connection, failing COMMIT with SQLITE_IOERR while `armed`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.armed = False
        self.failures = 0

    def execute(self, sql: str, *args):
        if self.armed and sql == "COMMIT":
            self.failures += 1
            error = sqlite3.OperationalError("disk I/O error")
            error.sqlite_errorcode = sqlite3.SQLITE_IOERR  # as sqlite3 sets it
            raise error
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.db, name)


class AtOnce:
    """Stands in for the event loop: the store thread's reports run immediately."""

    def call_soon_threadsafe(self, callback, *args) -> None:
        callback(*args)

    def is_closed(self) -> bool:
        return False


@pytest.fixture
def broker(tmp_path):
    store = SqliteStore(StoreSettings(tmp_path / "broker.db", min_free_bytes=0), clock=lambda: 0.0)
    store.open()
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    store.attach(core, 0.0)
    store._loop = AtOnce()
    store.db = FailingDb(store.db)
    yield core, store
    store.db.db.close()


def settle(store: SqliteStore) -> None:
    """What the store thread does with everything queued: one transaction."""
    batch = []
    while not store._ops.empty():
        batch.append(store._ops.get_nowait())
    store._execute(batch)


def retry(store: SqliteStore) -> None:
    """The store thread's retry once the back-off has passed (with nothing new: a probe)."""
    store._retry_at = 0.0
    settle(store)


def client(core: BrokerCore, client_id: str, version: int, clean: bool = True):
    conn = core.open_connection(0.0)
    props = Properties(session_expiry_interval=3600) if version == 5 and not clean else Properties()
    conn.receive_data(
        encode(Connect(client_id, version, clean_start=clean, properties=props), version), 0.0
    )
    received(conn)
    return conn


def received(conn) -> list:
    return list(StreamDecoder(version=conn.version).feed(conn.data_to_send()))


def offline_subscriber(
    core: BrokerCore, store: SqliteStore, qos: int = 1, client_id: str = "away"
) -> None:
    sub = client(core, client_id, 4, clean=False)
    sub.receive_data(encode(Subscribe(1, (Subscription("t/#", QoS(qos)),)), 4), 0.0)
    sub.receive_data(b"\xe0\x00", 0.0)  # DISCONNECT
    sub.connection_lost(0.0)
    settle(store)


def publish(
    conn, qos: int, packet_id: int | None, payload: bytes = b"m", dup: bool = False
) -> None:
    conn.receive_data(
        encode(Publish("t/a", payload, QoS(qos), packet_id=packet_id, dup=dup), conn.version), 1.0
    )


def rows(store: SqliteStore, table: str) -> int:
    failing = store.db
    assert isinstance(failing, FailingDb)  # the test swapped the store's connection for it
    return failing.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_failed_commit_refuses_the_held_puback_5_0_with_0x80_and_drops_the_message(broker):
    core, store = broker
    offline_subscriber(core, store)
    pub = client(core, "pub5", 5)
    publish(pub, 1, 7)
    assert received(pub) == []  # held for the commit
    store.db.armed = True
    settle(store)
    assert received(pub) == [Puback(7, ReasonCode.UNSPECIFIED_ERROR)]
    assert core.sessions["away"].queued_count == 0  # forgotten, not delivered later
    values = core.sys_values(1.0)
    assert values["messages/dropped/store_io_error"] == 1
    assert values["store/state"] == "failing"
    assert values["store/errors"] == 1
    assert values["limits/store_refused"] == 1
    assert rows(store, "queue") == 0


def test_failed_commit_closes_a_3_1_1_publisher_without_an_ack(broker):
    core, store = broker
    offline_subscriber(core, store)
    pub = client(core, "pub4", 4)
    publish(pub, 1, 7)
    store.db.armed = True
    settle(store)
    assert received(pub) == []  # no PUBACK: the client keeps the message and resends it
    assert pub.closed
    assert core.sys_values(1.0)["messages/dropped/store_io_error"] == 1


def test_while_failing_new_queued_messages_are_refused_at_once_and_qos0_still_flows(broker):
    core, store = broker
    offline_subscriber(core, store)
    live = client(core, "live", 5)
    live.receive_data(encode(Subscribe(1, (Subscription("t/#", QoS.AT_MOST_ONCE),)), 5), 0.0)
    received(live)
    pub = client(core, "pub5", 5)
    store.db.armed = True
    publish(pub, 1, 1)
    settle(store)  # fails: the store is now "failing"
    assert received(pub) == [Puback(1, ReasonCode.UNSPECIFIED_ERROR)]
    publish(pub, 1, 2, b"second")  # refused without waiting for a commit
    assert received(pub) == [Puback(2, ReasonCode.UNSPECIFIED_ERROR)]
    publish(pub, 0, None, b"qos0")
    assert [p.payload for p in received(live)] == [b"m", b"second", b"qos0"]  # live: served
    assert core.sys_values(1.0)["messages/dropped/store_io_error"] == 2


def test_the_store_leaves_failing_by_itself_and_acks_succeed_again(broker):
    core, store = broker
    offline_subscriber(core, store)
    pub = client(core, "pub5", 5)
    store.db.armed = True
    publish(pub, 1, 1)
    settle(store)
    retry(store)  # still failing: a probe write fails too
    assert store.state == "failing" and store.db.failures == 2
    store.db.armed = False
    retry(store)  # the probe commits
    assert store.state == "ok"
    assert core.sys_values(1.0)["store/state"] == "ok"
    received(pub)
    publish(pub, 1, 2, b"after")
    settle(store)
    assert received(pub) == [Puback(2)]
    assert rows(store, "queue") == 1
    assert core.sessions["away"].queued_count == 1


def test_state_changes_of_a_failed_batch_are_retried_not_lost(broker):
    core, store = broker
    store.db.armed = True
    sub = client(core, "later", 4, clean=False)
    sub.receive_data(encode(Subscribe(1, (Subscription("s/#", QoS.AT_LEAST_ONCE),)), 4), 0.0)
    settle(store)
    assert rows(store, "sessions") == 0 and rows(store, "subscriptions") == 0
    store.db.armed = False
    retry(store)
    assert rows(store, "sessions") == 1 and rows(store, "subscriptions") == 1


def test_qos2_pubrec_refused_releases_the_packet_id_so_a_resend_is_routed(broker):
    core, store = broker
    offline_subscriber(core, store, qos=2)
    pub = client(core, "pub4", 4, clean=False)
    settle(store)
    publish(pub, 2, 9)
    store.db.armed = True
    settle(store)
    assert received(pub) == [] and pub.closed
    assert 9 not in core.sessions["pub4"].incoming_qos2
    store.db.armed = False
    retry(store)
    again = client(core, "pub4", 4, clean=False)
    publish(again, 2, 9, dup=True)  # the 3.1.1 client's resend: a new message, routed
    settle(store)
    assert received(again) == [Pubrec(9)]
    assert core.sessions["away"].queued_count == 1
    assert rows(store, "queue") == 1


def test_qos2_5_0_pubrec_refused_with_0x80(broker):
    core, store = broker
    offline_subscriber(core, store, qos=2)
    pub = client(core, "pub5", 5)
    publish(pub, 2, 3)
    store.db.armed = True
    settle(store)
    assert received(pub) == [Pubrec(3, ReasonCode.UNSPECIFIED_ERROR)]
    assert 3 not in core.sessions["pub5"].incoming_qos2


def test_an_ack_with_nothing_to_write_is_not_refused(broker):
    core, store = broker
    pub = client(core, "pub5", 5)
    store.db.armed = True
    publish(pub, 1, 4)  # no subscriber: nothing durable, acknowledged at once
    assert received(pub) == [Puback(4, ReasonCode.NO_MATCHING_SUBSCRIBERS)]


def test_an_ack_whose_writes_straddle_a_failed_and_a_good_commit_is_refused(broker):
    core, store = broker
    offline_subscriber(core, store)
    offline_subscriber(core, store, client_id="other")  # two durable sessions: two queue rows
    pub = client(core, "pub5", 5)
    publish(pub, 1, 5)
    assert store._ops.qsize() == 2
    first = [store._ops.get_nowait()]  # the store thread took its batch mid-publish
    store.db.armed = True
    store._execute(first)
    store.db.armed = False
    retry(store)  # the rest commits
    assert received(pub) == [Puback(5, ReasonCode.UNSPECIFIED_ERROR)]  # not "stored"
