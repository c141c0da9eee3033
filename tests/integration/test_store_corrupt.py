"""A store file that cannot be used is moved aside, a fresh one is created, and the broker starts;
a store with damaged pages or rows loses only the damaged unit (a row; a session whose own row is
bad), the rest is restored."""

from __future__ import annotations

import logging
import shutil
import sqlite3

import pytest

from gateway.broker.store.schema import SCHEMA_VERSION
from tests.support.clients import TestClient
from tests.support.store_broker import StoreBroker


def _fill(path) -> None:
    """A real store with a persistent session, queued messages and retained messages."""
    b = StoreBroker(path).start()
    try:
        sub = TestClient(b.port, "victim", clean=False)
        sub.subscribe("v/#", 1)
        sub.disconnect()
        pub = TestClient(b.port, "pub")
        infos = [
            pub.publish(f"v/{i}", b"x" * 200, qos=1, retain=i % 10 == 0, wait=False)
            for i in range(300)
        ]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
        pub.disconnect()
    finally:
        b.stop()


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    path = tmp_path_factory.mktemp("filled") / "broker.db"
    _fill(path)
    return path


def _truncate(path) -> None:
    size = path.stat().st_size
    assert size > 16 * 4096  # enough pages that cutting it in half loses some
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _zeros(path) -> None:
    size = path.stat().st_size
    path.write_bytes(b"\0" * size)  # what a power cut mid-write on some SD cards leaves


def _newer(path) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()


def _garbage(path) -> None:
    path.write_bytes(b"this is not a database\n" * 100)


@pytest.mark.parametrize(
    "damage, why",
    [
        (_zeros, "not a database"),
        (_newer, "newer than this gateway"),
        (_garbage, "not a database"),
    ],
    ids=["zero-filled", "newer-schema", "garbage"],
)
def test_unusable_store_is_quarantined_and_the_broker_starts_fresh(
    tmp_path, caplog, filled, damage, why
):
    path = tmp_path / "broker.db"
    shutil.copy(filled, path)
    damage(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="gateway.broker"):
        b = StoreBroker(path).start()
    try:
        moved = sorted(tmp_path.glob("broker.db.corrupt-*"))
        assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))] == [moved[0].name]
        assert moved[0].name.startswith("broker.db.corrupt-2") and moved[0].name.endswith("Z")
        assert moved[0].read_bytes() == damaged  # kept as it was, for a post-mortem
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("STORE UNUSABLE" in e and why in e for e in errors), errors
        assert b.sys("store/quarantined") == 1
        assert b.sys("store/messages/count") == 0
        # the fresh store works: a persistent session queues across another restart
        sub = TestClient(b.port, "after", clean=False)
        sub.subscribe("a", 1)
        sub.disconnect()
        TestClient(b.port, "pub").publish("a", b"fresh", qos=1)
    finally:
        b.stop()
    b = StoreBroker(path).start()
    try:
        assert b.sys("store/quarantined") == 0  # the fresh file opens cleanly
        assert TestClient(b.port, "after", clean=False).expect_one().payload == b"fresh"
    finally:
        b.stop()


def test_a_truncated_store_keeps_what_is_left(tmp_path, caplog, filled):
    path = tmp_path / "broker.db"
    shutil.copy(filled, path)
    _truncate(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="gateway.broker"):
        b = StoreBroker(path).start()
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("STORE DAMAGED" in e and "salvaged" in e for e in errors), errors
        (moved,) = [
            p for p in tmp_path.glob("broker.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))
        ]
        assert moved.read_bytes() == damaged  # kept as it was, for a post-mortem
        assert b.sys("store/quarantined") == 1
        assert b.sys("store/quarantined/rows") > 0  # the rows on the missing half, counted
        assert b.sys("clients/disconnected") == 1  # the session was on the first half: kept
    finally:
        b.stop()


def test_an_empty_file_is_a_fresh_store_not_a_corrupt_one(tmp_path):
    path = tmp_path / "broker.db"
    path.write_bytes(b"")
    b = StoreBroker(path).start()
    try:
        assert b.sys("store/quarantined") == 0
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        b.stop()


# -- damage in one row: only that unit is lost ----------------------------------------------------


def _fill_two(path) -> None:
    """Two persistent sessions with 100 queued messages each, and 10 retained messages."""
    b = StoreBroker(path).start()
    try:
        for name in ("alpha", "beta"):
            sub = TestClient(b.port, name, clean=False)
            sub.subscribe("v/#", 1)
            sub.disconnect()
        pub = TestClient(b.port, "pub")
        infos = [
            pub.publish(
                f"v/{i}", f"m{i}".encode().ljust(200, b"."), qos=1, retain=i % 10 == 0, wait=False
            )
            for i in range(100)
        ]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
        pub.disconnect()
    finally:
        b.stop()


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    path = tmp_path_factory.mktemp("two") / "broker.db"
    _fill_two(path)
    return path


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at`: (value, length)."""
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + 1
    raise AssertionError("unreachable")


def _cell_of(path, table: str, rowid: int) -> int:
    """File offset of the record of `rowid` in `table`'s b-tree (a leaf cell, read from the file
    as SQLite lays it out: page header, cell pointer array, payload size and rowid varints)."""
    con = sqlite3.connect(path)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name=?", (table,))]
    finally:
        con.close()
    data = path.read_bytes()
    for page in pages:
        base = (page - 1) * page_size
        head = base + (100 if page == 1 else 0)
        if data[head] != 13:  # not a table leaf
            continue
        for n in range(int.from_bytes(data[head + 3 : head + 5], "big")):
            cell = base + int.from_bytes(data[head + 8 + 2 * n : head + 10 + 2 * n], "big")
            _, a = _varint(data, cell)
            found, b = _varint(data, cell + a)
            if found == rowid:
                return cell + a + b  # the record: its header first
    raise AssertionError(f"no cell for rowid {rowid} of {table}")


def _damage_row(path, table: str, where: str) -> None:
    """Six bad bytes over the record header of one row (its column types and sizes)."""
    con = sqlite3.connect(path)
    try:
        (rowid,) = con.execute(f"SELECT rowid FROM {table} WHERE {where}").fetchone()
    finally:
        con.close()
    at = _cell_of(path, table, rowid)
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(b"\xff" * 6)


def _drain(b: StoreBroker, name: str) -> list[bytes]:
    client = TestClient(b.port, name, clean=False)
    got = []
    try:
        while True:
            got.append(client.expect_one(timeout=1).payload.rstrip(b"."))
    except Exception:  # noqa: BLE001 - queue.Empty: drained
        pass
    return got


@pytest.mark.parametrize(
    "table, where, lost",
    [
        ("retained", "topic='v/50'", {"retained": 1}),
        (
            "queue",
            "client_id='alpha' AND qid=(SELECT min(qid)+40 FROM queue WHERE client_id='alpha')",
            {"alpha": 1},
        ),
        ("sessions", "client_id='alpha'", {"alpha": 100}),
    ],
    ids=["one-retained-row", "one-queued-row", "one-session-row"],
)
def test_one_damaged_row_quarantines_only_its_unit(
    tmp_path, caplog, two_sessions, table, where, lost
):
    path = tmp_path / "broker.db"
    shutil.copy(two_sessions, path)
    _damage_row(path, table, where)
    with caplog.at_level(logging.ERROR, logger="gateway.broker"):
        b = StoreBroker(path).start()
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("STORE DAMAGED" in e for e in errors), errors
        assert not any("STORE UNUSABLE" in e for e in errors), errors
        assert b.sys("store/quarantined/rows") >= 1
        assert b.sys("store/quarantined/sessions") == (1 if table == "sessions" else 0)
        assert list(tmp_path.glob("broker.db.corrupt-*"))  # kept for a post-mortem
        assert b.sys("retained messages/count") == 10 - lost.get("retained", 0)
        alpha, beta = _drain(b, "alpha"), _drain(b, "beta")
        assert len(beta) == 100 and beta == [f"m{i}".encode() for i in range(100)]
        assert len(alpha) == 100 - lost.get("alpha", 0)
        assert alpha == sorted(alpha, key=lambda m: int(m[1:]))  # in order, the rest intact
    finally:
        b.stop()
    b = StoreBroker(path).start()  # and the salvaged store opens cleanly after that
    try:
        assert b.sys("store/quarantined") == 0
        assert b.sys("retained messages/count") == 10 - lost.get("retained", 0)
    finally:
        b.stop()


def test_rows_that_read_but_do_not_decode_are_quarantined_one_by_one(
    tmp_path, caplog, two_sessions
):
    path = tmp_path / "broker.db"
    shutil.copy(two_sessions, path)
    con = sqlite3.connect(path)
    con.execute("UPDATE retained SET props=x'ff00ff' WHERE topic='v/50'")  # bad properties
    con.execute("UPDATE sessions SET will_topic='w', will_qos=7 WHERE client_id='alpha'")  # QoS 7
    con.commit()
    con.close()
    with caplog.at_level(logging.ERROR, logger="gateway.broker"):
        b = StoreBroker(path).start()
    try:
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("retained row ('v/50',) does not decode" in e for e in errors), errors
        assert any("session 'alpha' does not decode" in e for e in errors), errors
        assert b.sys("store/quarantined/sessions") == 1
        assert b.sys("store/quarantined/rows") == 1 + 1 + 100 + 1  # retained, session, queue, sub
        assert b.sys("retained messages/count") == 9
        assert len(list(tmp_path.glob("broker.db.corrupt-*"))) == 1  # the copy before deleting
        assert _drain(b, "alpha") == []
        assert len(_drain(b, "beta")) == 100
    finally:
        b.stop()


def test_a_queued_message_on_disk_only_that_does_not_decode_is_skipped_at_page_in(
    tmp_path, two_sessions
):
    path = tmp_path / "broker.db"
    shutil.copy(two_sessions, path)
    con = sqlite3.connect(path)
    (mid,) = con.execute(
        "SELECT msg_id FROM queue WHERE client_id='beta' ORDER BY qid LIMIT 1 OFFSET 60"
    ).fetchone()
    con.execute("UPDATE messages SET props=x'ff00ff' WHERE id=?", (mid,))
    con.commit()
    con.close()
    b = StoreBroker(path, memory_window=10).start()  # message 60 is on disk only at start-up
    try:
        assert b.sys("store/quarantined/rows") == 0
        beta = _drain(b, "beta")
        assert len(beta) == 99 and b"m60" not in beta
        assert b.sys("messages/dropped/store_unreadable") >= 1
        assert len(_drain(b, "alpha")) == 99  # the same body: unreadable for alpha too
    finally:
        b.stop()
