"""Load the durable store into a fresh broker core at start-up (before it listens).

How this works: every row is read and turned into sessions, subscriptions, in-flight and queued
deliveries, incoming QoS 2 packet ids and retained messages; only then is the core changed. Damage is
quarantined at the smallest unit: a row that reads but does not decode is left out (a session whose
own row is bad is left out whole, with its queue and subscriptions), logged and counted, and after a
copy of the file is kept as `<name>.corrupt-<UTC time>` it is deleted; a page that cannot be read at
all makes the store salvage the file row by row (`gateway.broker.store.salvage`) and load again.
Wall-clock times become times on the core's clock. A session that was connected when the gateway
stopped is treated as disconnected now, without DISCONNECT: its will is due now (or after its delay)
and its expiry counts from now. Each session keeps at most the memory window of queued deliveries
in memory; the rest are counted (`spilled`) and paged in later. Expired messages are dropped.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.broker.message import Delivery, Message
from gateway.broker.session import OutFlight, OutState, Session, SubscriptionEntry
from gateway.broker.settings import QueueOverflow
from gateway.broker.store.ops import (
    ROW_ERRORS,
    message_from_columns,
    message_from_row,
    read_queued,
    sub_ids_tuple,
    will_from_row,
)
from gateway.broker.store.salvage import salvage
from gateway.broker.store.schema import StoreUnusable, open_store, quarantine, quarantine_copy
from gateway.mqtt.enums import QoS, RetainHandling
from gateway.mqtt.packets import Subscription
from gateway.mqtt.topics import parse_shared

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore
    from gateway.broker.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

_STATES = {1: OutState.AWAIT_PUBACK, 2: OutState.AWAIT_PUBREC, 3: OutState.AWAIT_PUBCOMP}


def restore(store: SqliteStore, core: BrokerCore, now: float) -> int:
    """Fill `core` from the store, quarantining what is damaged and keeping everything else."""
    try:
        sessions, retained, bad = _load(store, core, now)
    except sqlite3.DatabaseError as exc:  # a damaged page the quick check did not see
        log.error(
            "STORE DAMAGED: %s: %s while loading; salvaging the readable rows",
            store.settings.path,
            exc,
        )
        try:
            _salvage(store)
            sessions, retained, bad = _load(store, core, now)
        except (sqlite3.DatabaseError, StoreUnusable, OSError) as again:
            return _start_fresh(store, again)
    if bad:
        _quarantine_rows(store, bad)
    for session in sessions:
        core.sessions[session.client_id] = session
        for entry in session.subscriptions.values():
            core.subs.add(entry.topic_filter, session.client_id, entry, entry.group)
        core.stats.clients_disconnected += 1
    for message in retained:
        core.retained.set(message)
    store.durable_retained = {message.topic for message in retained}
    queued = sum(s.queued_count for s in sessions)
    log.info(
        "store %s: restored %d session(s), %d queued and %d in-flight message(s), %d retained "
        "message(s)",
        store.settings.path,
        len(sessions),
        queued,
        sum(len(s.inflight) for s in sessions),
        len(retained),
    )
    return len(sessions)


def _salvage(store: SqliteStore) -> None:
    assert store.db is not None
    store.db.close()
    damage, moved = salvage(store.settings.path, open_store, quarantine)
    store.db = open_store(store.settings.path)
    store.quarantined = moved
    store.damage.rows += damage.rows
    store.damage.sessions += damage.sessions
    store.damage.lines += damage.lines
    store.reset_ids()


def _start_fresh(store: SqliteStore, exc: BaseException) -> int:
    """The last resort: nothing could be read. Move the file aside and start with an empty store."""
    if store.db is not None:
        store.db.close()
    moved = quarantine(store.settings.path, f"unreadable: {exc}")
    log.error(
        "STORE UNUSABLE: %s could not be read (%s); moved aside to %s and a fresh store created",
        moved.original,
        exc,
        moved.moved_to,
    )
    store.quarantined = moved
    try:
        store.db = open_store(store.settings.path)
    except StoreUnusable as again:
        raise RuntimeError(f"cannot create a fresh store: {again}") from again
    store.reset_ids()
    return 0


@dataclass
class _Bad:
    """Rows that read but did not decode: (table, key, why), and whole sessions (client id, why)."""

    rows: list[tuple[str, tuple, str]] = field(default_factory=list)
    sessions: list[tuple[str, str]] = field(default_factory=list)

    def row(self, table: str, key: tuple, exc: BaseException) -> None:
        self.rows.append((table, key, f"{type(exc).__name__}: {exc}"))

    def __bool__(self) -> bool:
        return bool(self.rows or self.sessions)


_DELETE = {
    "subscriptions": "DELETE FROM subscriptions WHERE client_id=? AND filter=?",
    "incoming_qos2": "DELETE FROM incoming_qos2 WHERE client_id=? AND packet_id=?",
    "queue": "DELETE FROM queue WHERE qid=?",
    "retained": "DELETE FROM retained WHERE topic=?",
}


def _quarantine_rows(store: SqliteStore, bad: _Bad) -> None:
    """Keep a copy of the file for a post-mortem, then delete the rows that did not decode."""
    db = store.db
    assert db is not None
    copy = quarantine_copy(db, store.settings.path)
    damage = store.damage
    db.execute("BEGIN")
    for cid, why in bad.sessions:
        rows = 1
        for table in ("queue", "subscriptions", "incoming_qos2"):
            rows += db.execute(
                f"DELETE FROM {table} WHERE client_id=?",  # noqa: S608
                (cid,),
            ).rowcount
        db.execute("DELETE FROM sessions WHERE client_id=?", (cid,))
        damage.note(
            rows,
            f"session {cid!r} does not decode ({why}); the session with its "
            f"{rows - 1} queued message(s), subscription(s) and QoS 2 packet id(s)",
            session=True,
        )
    for table, key, why in bad.rows:
        db.execute(_DELETE[table], key)
        damage.note(1, f"{table} row {key!r} does not decode ({why})")
    db.execute("DELETE FROM messages WHERE id NOT IN (SELECT msg_id FROM queue)")
    db.execute("COMMIT")
    log.error(
        "STORE DAMAGED: %s: %d row(s) and %d session(s) quarantined, everything else "
        "restored; a copy of the file before is kept as %s",
        store.settings.path,
        damage.rows,
        damage.sessions,
        copy,
    )


def _load(
    store: SqliteStore, core: BrokerCore, now: float
) -> tuple[list[Session], list[Message], _Bad]:
    db = store.db
    assert db is not None
    offset = store.wall_offset()
    bad = _Bad()
    sessions: dict[str, Session] = {}
    for row in db.execute("SELECT * FROM sessions"):
        try:
            session = _session(store, core, row, now, offset)
        except ROW_ERRORS as exc:
            bad.sessions.append((row[0], f"{type(exc).__name__}: {exc}"))
            continue
        sessions[session.client_id] = session
    for cid, key, qos, no_local, rap, rh, sub_id in db.execute("SELECT * FROM subscriptions"):
        owner = sessions.get(cid)
        if owner is None:
            continue
        try:
            group, topic_filter = parse_shared(key)
            options = Subscription(key, QoS(qos), bool(no_local), bool(rap), RetainHandling(rh))
        except ROW_ERRORS as exc:
            bad.row("subscriptions", (cid, key), exc)
            continue
        owner.subscriptions[key] = SubscriptionEntry(options, sub_id, group, topic_filter)
    for cid, packet_id in db.execute("SELECT * FROM incoming_qos2"):
        if cid in sessions:
            if isinstance(packet_id, int) and 0 < packet_id < 65536:
                sessions[cid].incoming_qos2.add(packet_id)
            else:
                bad.row("incoming_qos2", (cid, packet_id), ValueError("bad packet id"))
    cache: dict[int, Message] = {}
    for session in sessions.values():
        _load_queue(store, session, offset, now, cache, bad)
    retained = []
    for topic, payload, qos, props, expires, origin in db.execute("SELECT * FROM retained"):
        try:
            message = message_from_row(0, topic, payload, qos, True, props, expires, origin, offset)
        except ROW_ERRORS as exc:
            bad.row("retained", (topic,), exc)
            continue
        if not message.expired(now):
            retained.append(message)
    return list(sessions.values()), retained, bad


def _session(
    store: SqliteStore, core: BrokerCore, row: tuple, now: float, offset: float
) -> Session:
    (
        cid,
        expiry,
        disconnected,
        w_topic,
        w_payload,
        w_qos,
        w_retain,
        w_props,
        will_due,
        user,
        next_pid,
    ) = row
    session = Session(cid, core.settings, core.stats, persistence=store)
    session.durable = True
    session.expiry_interval = expiry
    session.username = user
    session.next_packet_id = next_pid
    session.will = will_from_row(w_topic, w_payload, w_qos, w_retain, w_props)
    if (
        disconnected is None
    ):  # it was connected when the gateway stopped: it left without DISCONNECT
        session.disconnected_at = now
        if session.will is not None:
            delay = session.will.properties.will_delay_interval or 0
            session.will_due = now + min(delay, expiry)
    else:
        session.disconnected_at = disconnected - offset
        session.will_due = None if will_due is None else will_due - offset
    return session


_INFLIGHT_SQL = """SELECT q.qid, q.qos, q.retain, q.sub_ids, q.state, q.packet_id, m.id, m.topic,
    m.payload, m.qos, m.retain, m.props, m.expires_at, m.origin FROM queue q
    JOIN messages m ON m.id = q.msg_id WHERE q.client_id=? AND q.state>0 ORDER BY q.qid"""


def _load_queue(
    store: SqliteStore,
    session: Session,
    offset: float,
    now: float,
    cache: dict[int, Message],
    bad: _Bad,
) -> None:
    db = store.db
    assert db is not None
    for qid, qos, retain, sub_ids, state, packet_id, *m in db.execute(
        _INFLIGHT_SQL, (session.client_id,)
    ):
        try:
            message = cache.get(m[0]) or cache.setdefault(m[0], message_from_columns(m, offset))
            delivery = Delivery(message, QoS(qos), bool(retain), sub_ids_tuple(sub_ids), qid)
            session.inflight[packet_id] = OutFlight(delivery, _STATES[state])
        except ROW_ERRORS as exc:
            bad.row("queue", (qid,), exc)
    _trim_oldest(store, session)
    window = store.memory_window
    unreadable: list[tuple[int, int, str]] = []
    for delivery in read_queued(db, session.client_id, 0, window, offset, cache, unreadable):
        session.queue.append(delivery)
        session.queued_bytes += len(delivery.message.payload)
        session.tail_qid = delivery.qid
    for qid, _size, why in unreadable:
        bad.rows.append(("queue", (qid,), why))
    if unreadable:  # they are deleted before the session is used: the window starts after them
        session.tail_qid = max(session.tail_qid, max(qid for qid, _, _ in unreadable))
    count, size = db.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM queue WHERE "
        "client_id=? AND state=0 AND qid>?",
        (session.client_id, session.tail_qid),
    ).fetchone()
    session.spilled = count
    session.queued_bytes += size


def _trim_oldest(store: SqliteStore, session: Session) -> None:
    """drop-oldest decided while the oldest deliveries were being paged in (or a lowered limit):
    delete the excess oldest rows now, before the session is used."""
    settings = session.settings
    if settings.queue_overflow is not QueueOverflow.DROP_OLDEST:
        return
    db = store.db
    assert db is not None
    count = db.execute(
        "SELECT count(*) FROM queue WHERE client_id=? AND state=0", (session.client_id,)
    ).fetchone()[0]
    excess = count - settings.max_queued_messages
    if excess <= 0:
        return
    db.execute("BEGIN")
    rows = db.execute(
        "SELECT qid, msg_id FROM queue WHERE client_id=? AND state=0 ORDER BY qid LIMIT ?",
        (session.client_id, excess),
    ).fetchall()
    db.executemany("DELETE FROM queue WHERE qid=?", [(r[0],) for r in rows])
    db.executemany(
        "DELETE FROM messages WHERE id=? AND NOT EXISTS (SELECT 1 FROM queue WHERE msg_id=?)",
        [(m, m) for m in {r[1] for r in rows}],
    )
    db.execute("COMMIT")
    session.stats.drop("queue_full_drop_oldest", len(rows))
    log.warning(
        "queue of %s over its limit of %d at start-up: %d oldest message(s) dropped (drop-oldest)",
        session.client_id,
        settings.max_queued_messages,
        len(rows),
    )
