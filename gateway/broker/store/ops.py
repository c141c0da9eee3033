"""The store's write operations and row codecs; they run on the store thread, inside one transaction.

How this works: the loop side (`gateway.broker.store.sqlite`) records each state change as a tuple
`(operation, *arguments)`; the store thread runs a batch of them in one transaction with the
functions below. A queue row that is added and deleted within one batch (a message acknowledged
within the commit window) is never written (`cancelled_qids`). Message bodies are inserted with
INSERT OR IGNORE the first time a batch references them, and the bodies whose last queue row was
deleted in the batch are deleted at its end (`collect_garbage`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.broker.message import Delivery, Message
from gateway.errors import GatewayError
from gateway.mqtt.enums import PacketType, QoS
from gateway.mqtt.packets import Will
from gateway.mqtt.primitives import Reader
from gateway.mqtt.properties import NO_PROPERTIES, Properties
from gateway.mqtt.property_codec import read_properties, write_properties

log = logging.getLogger(__name__)

QUEUED = 0  # queue.state values; 1..3 are OutState in flight
STATE_CODES = {"puback": 1, "pubrec": 2, "pubcomp": 3}


@dataclass(slots=True)
class Batch:
    """What one transaction accumulates: bodies written, bodies to collect, answers to send."""

    written_messages: set[int] = field(default_factory=set)
    garbage: set[int] = field(default_factory=set)
    answers: list[tuple[Any, Any]] = field(default_factory=list)  # (callback, result) for the loop


# -- codecs ----------------------------------------------------------------------------------


def encode_props(props: Properties, *, will: bool = False) -> bytes | None:
    if props is NO_PROPERTIES or not props.present():
        return None
    return write_properties(props, PacketType.CONNECT if will else PacketType.PUBLISH, will=will)


def decode_props(blob: bytes | None, *, will: bool = False) -> Properties:
    if not blob:
        return NO_PROPERTIES
    return read_properties(
        Reader(blob), PacketType.CONNECT if will else PacketType.PUBLISH, will=will
    )


def message_from_columns(columns: Sequence[Any], offset: float) -> Message:
    """message_from_row of a joined row's message columns (mid, topic, payload, qos, retain,
    props, expires_wall, origin: the messages table's order)."""
    mid, topic, payload, qos, retain, props, expires_wall, origin = columns
    return message_from_row(mid, topic, payload, qos, retain, props, expires_wall, origin, offset)


def message_from_row(
    mid: int,
    topic: str,
    payload: bytes,
    qos: int,
    retain: int,
    props: bytes | None,
    expires_wall: float | None,
    origin: str,
    offset: float,
) -> Message:
    """A Message from its row; `offset` = wall clock - monotonic clock now."""
    expires = None if expires_wall is None else expires_wall - offset
    return Message(
        topic,
        bytes(payload),
        QoS(qos),
        bool(retain),
        decode_props(props),
        expires,
        origin,
        store_id=mid,
    )


def will_from_row(
    topic: str | None,
    payload: bytes | None,
    qos: int | None,
    retain: int | None,
    props: bytes | None,
) -> Will | None:
    if topic is None:
        return None
    return Will(
        topic, bytes(payload or b""), QoS(qos or 0), bool(retain), decode_props(props, will=True)
    )


def sub_ids_text(ids: tuple[int, ...]) -> str | None:
    return ",".join(map(str, ids)) if ids else None


def sub_ids_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",")) if text else ()


# -- operations (db, batch, *args) -------------------------------------------------------------


def session_put(
    db: sqlite3.Connection,
    batch: Batch,
    client_id: str,
    expiry: int,
    disconnected: float | None,
    will: Will | None,
    will_due: float | None,
    username: str | None,
    next_pid: int,
) -> None:
    w = (
        (
            will.topic,
            will.payload,
            int(will.qos),
            int(will.retain),
            encode_props(will.properties, will=True),
        )
        if will
        else (None,) * 5
    )
    db.execute(
        "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (client_id, expiry, disconnected, *w, will_due, username, next_pid),
    )


def session_delete(db: sqlite3.Connection, batch: Batch, client_id: str) -> None:
    batch.garbage.update(
        row[0]
        for row in db.execute("SELECT DISTINCT msg_id FROM queue WHERE client_id=?", (client_id,))
    )
    for table in ("queue", "subscriptions", "incoming_qos2", "sessions"):
        db.execute(f"DELETE FROM {table} WHERE client_id=?", (client_id,))  # noqa: S608


def subscriptions_replace(
    db: sqlite3.Connection, batch: Batch, client_id: str, rows: list[tuple]
) -> None:
    db.execute("DELETE FROM subscriptions WHERE client_id=?", (client_id,))
    db.executemany(
        "INSERT INTO subscriptions VALUES (?,?,?,?,?,?,?)", [(client_id, *row) for row in rows]
    )


def incoming_add(db: sqlite3.Connection, batch: Batch, client_id: str, packet_id: int) -> None:
    db.execute("INSERT OR IGNORE INTO incoming_qos2 VALUES (?,?)", (client_id, packet_id))


def incoming_remove(db: sqlite3.Connection, batch: Batch, client_id: str, packet_id: int) -> None:
    db.execute(
        "DELETE FROM incoming_qos2 WHERE client_id=? AND packet_id=?", (client_id, packet_id)
    )


def queue_add(
    db: sqlite3.Connection,
    batch: Batch,
    qid: int,
    client_id: str,
    message: Message,
    expires_wall: float | None,
    qos: int,
    retain: bool,
    sub_ids: str | None,
    state: int,
    packet_id: int | None,
) -> None:
    mid = message.store_id
    if mid not in batch.written_messages:
        batch.written_messages.add(mid)
        db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?,?,?,?,?,?,?,?)",
            (
                mid,
                message.topic,
                message.payload,
                int(message.qos),
                int(message.retain),
                encode_props(message.properties),
                expires_wall,
                message.origin,
            ),
        )
    db.execute(
        "INSERT INTO queue VALUES (?,?,?,?,?,?,?,?,?)",
        (qid, client_id, mid, qos, int(retain), sub_ids, len(message.payload), state, packet_id),
    )


def queue_state(db: sqlite3.Connection, batch: Batch, qid: int, state: int, packet_id: int) -> None:
    db.execute("UPDATE queue SET state=?, packet_id=? WHERE qid=?", (state, packet_id, qid))


def queue_delete(db: sqlite3.Connection, batch: Batch, qid: int, msg_id: int) -> None:
    db.execute("DELETE FROM queue WHERE qid=?", (qid,))
    batch.garbage.add(msg_id)


QUEUE_OPS = (queue_add, queue_state, queue_delete)


def is_new_queued(op: tuple) -> bool:
    """A delivery written as queued (not yet sent): what a failed commit drops, not retries."""
    return op[0] is queue_add and op[8] == QUEUED


def probe(db: sqlite3.Connection) -> None:
    """Rewrite the header page (the schema version, unchanged): one page written and synced at
    COMMIT, which tells whether the disk takes writes again."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.execute(f"PRAGMA user_version={int(version)}")


def cancelled_qids(ops: list[tuple]) -> set[int]:
    """Queue rows both added and deleted in this batch: neither needs to touch the disk."""
    added = {op[1] for op in ops if op[0] is queue_add}
    if not added:
        return set()
    return added & {op[1] for op in ops if op[0] is queue_delete}


def collect_garbage(db: sqlite3.Connection, batch: Batch) -> None:
    if batch.garbage:
        db.executemany(
            "DELETE FROM messages WHERE id=? AND NOT EXISTS (SELECT 1 FROM queue WHERE msg_id=?)",
            [(mid, mid) for mid in batch.garbage],
        )


_PAGE_SQL = """SELECT q.qid, q.qos, q.retain, q.sub_ids, q.size, m.id, m.topic, m.payload, m.qos,
    m.retain, m.props, m.expires_at, m.origin FROM queue q JOIN messages m ON m.id = q.msg_id
    WHERE q.client_id=? AND q.state=0 AND q.qid>? ORDER BY q.qid LIMIT ?"""

# a row that reads but does not decode (bad properties, an impossible enum value, a wrong type)
ROW_ERRORS = (ValueError, TypeError, KeyError, IndexError, GatewayError)


def read_queued(
    db: sqlite3.Connection,
    client_id: str,
    after_qid: int,
    limit: int,
    offset: float,
    cache: dict[int, Message] | None = None,
    bad: list[tuple[int, int, str]] | None = None,
) -> list[Delivery]:
    """Queued (not in flight) deliveries of `client_id` after `after_qid`, oldest first. A row that
    does not decode is left out and, with `bad`, listed there as (queue id, size, why)."""
    cache = {} if cache is None else cache
    out = []
    for qid, qos, retain, sub_ids, size, *m in db.execute(_PAGE_SQL, (client_id, after_qid, limit)):
        try:
            message = cache.get(m[0])
            if message is None:
                message = cache[m[0]] = message_from_columns(m, offset)
            out.append(Delivery(message, QoS(qos), bool(retain), sub_ids_tuple(sub_ids), qid))
        except ROW_ERRORS as exc:
            if bad is None:
                raise
            bad.append((qid, size, f"{type(exc).__name__}: {exc}"))
    return out


def delete_queued(db: sqlite3.Connection, client_id: str, bad: list[tuple[int, int, str]]) -> None:
    """Quarantine queued rows that do not decode: log each, delete it (and an orphaned body)."""
    for qid, _size, why in bad:
        log.error(
            "STORE DAMAGED: queued message %d of %r does not decode (%s): quarantined",
            qid,
            client_id,
            why,
        )
        row = db.execute("SELECT msg_id FROM queue WHERE qid=?", (qid,)).fetchone()
        db.execute("DELETE FROM queue WHERE qid=?", (qid,))
        if row is not None:
            db.execute(
                "DELETE FROM messages WHERE id=? AND NOT EXISTS (SELECT 1 FROM queue WHERE "
                "msg_id=?)",
                (row[0], row[0]),
            )


def page_in(
    db: sqlite3.Connection,
    batch: Batch,
    client_id: str,
    after_qid: int,
    limit: int,
    offset: float,
    callback: Any,
) -> None:
    bad: list[tuple[int, int, str]] = []
    deliveries = read_queued(db, client_id, after_qid, limit, offset, bad=bad)
    delete_queued(db, client_id, bad)
    batch.answers.append((callback, (deliveries, [(qid, size) for qid, size, _ in bad])))


def query(db: sqlite3.Connection, batch: Batch, sql: str, params: tuple, callback: Any) -> None:
    """A read for `SqliteStore.query`: answers the rows."""
    batch.answers.append((callback, db.execute(sql, params).fetchall()))


def purge_spilled(
    db: sqlite3.Connection,
    batch: Batch,
    client_id: str,
    after_qid: int,
    wall_now: float,
    callback: Any,
) -> None:
    """Delete queued rows after `after_qid` whose message has expired; answers (count, bytes)."""
    rows = db.execute(
        "SELECT q.qid, q.size, q.msg_id FROM queue q JOIN messages m ON "
        "m.id=q.msg_id WHERE q.client_id=? AND q.state=0 AND q.qid>? AND "
        "m.expires_at IS NOT NULL AND m.expires_at<=?",
        (client_id, after_qid, wall_now),
    ).fetchall()
    db.executemany("DELETE FROM queue WHERE qid=?", [(r[0],) for r in rows])
    batch.garbage.update(r[2] for r in rows)
    batch.answers.append((callback, (len(rows), sum(r[1] for r in rows))))


# queued (not in flight) rows of one session in a range of ids: a range of index queue_by_client
PURGE_SELECT = (
    "SELECT qid, size, msg_id FROM queue WHERE client_id=? AND state=0 AND qid>? AND "
    "qid<=? ORDER BY qid LIMIT ?"
)
PURGE_DELETE = "DELETE FROM queue WHERE client_id=? AND state=0 AND qid>? AND qid<=?"


def purge_queued(
    db: sqlite3.Connection,
    batch: Batch,
    client_id: str,
    after_qid: int,
    upto_qid: int,
    limit: int,
    callback: Any,
) -> None:
    """Delete queued (not in flight) rows of `client_id` with `after_qid` < qid <= `upto_qid`, the
    oldest `limit` of them, through the index `queue_by_client`; answers (count, bytes)."""
    rows = db.execute(PURGE_SELECT, (client_id, after_qid, upto_qid, limit)).fetchall()
    if rows:
        db.execute(PURGE_DELETE, (client_id, after_qid, rows[-1][0]))
        batch.garbage.update(r[2] for r in rows)
    batch.answers.append((callback, (len(rows), sum(r[1] for r in rows))))


def retained_set(
    db: sqlite3.Connection, batch: Batch, message: Message, expires_wall: float | None
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO retained VALUES (?,?,?,?,?,?)",
        (
            message.topic,
            message.payload,
            int(message.qos),
            encode_props(message.properties),
            expires_wall,
            message.origin,
        ),
    )


def retained_delete(db: sqlite3.Connection, batch: Batch, topic: str) -> None:
    db.execute("DELETE FROM retained WHERE topic=?", (topic,))


def stop(db: sqlite3.Connection, batch: Batch) -> None:
    """The last operation: the thread ends after this batch commits."""
