"""A store file that cannot be used is moved aside, a fresh one is created, and the broker starts."""

from __future__ import annotations

import logging
import shutil
import sqlite3

import pytest

from gateway.broker.store_schema import SCHEMA_VERSION
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
        infos = [pub.publish(f"v/{i}", b"x" * 200, qos=1, retain=i % 10 == 0, wait=False)
                 for i in range(300)]
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


@pytest.mark.parametrize("damage, why", [
    (_truncate, "malformed"),
    (_zeros, "not a database"),
    (_newer, "newer than this gateway"),
    (_garbage, "not a database"),
], ids=["truncated", "zero-filled", "newer-schema", "garbage"])
def test_unusable_store_is_quarantined_and_the_broker_starts_fresh(tmp_path, caplog, filled,
                                                                   damage, why):
    path = tmp_path / "broker.db"
    shutil.copy(filled, path)
    damage(path)
    damaged = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="gateway.broker"):
        b = StoreBroker(path).start()
    try:
        moved = sorted(tmp_path.glob("broker.db.corrupt-*"))
        assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))] == \
            [moved[0].name]
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


def test_an_empty_file_is_a_fresh_store_not_a_corrupt_one(tmp_path):
    path = tmp_path / "broker.db"
    path.write_bytes(b"")
    b = StoreBroker(path).start()
    try:
        assert b.sys("store/quarantined") == 0
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        b.stop()
