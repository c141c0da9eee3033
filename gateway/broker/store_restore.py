"""Load the durable store into a fresh broker core at start-up (before it listens).

How this works: every row is read and turned into sessions, subscriptions, in-flight and queued
deliveries, incoming QoS 2 packet ids and retained messages; only then is the core changed, so a
store that fails half-way leaves the core empty (the caller quarantines the file and starts fresh).
Wall-clock times become times on the core's clock. A session that was connected when the gateway
stopped is treated as disconnected now, without DISCONNECT: its will is due now (or after its delay)
and its expiry counts from now. Each session keeps at most the memory window of queued deliveries
in memory; the rest are counted (`spilled`) and paged in later. Expired messages are dropped.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

from gateway.broker.message import Delivery, Message
from gateway.broker.settings import QueueOverflow
from gateway.broker.session import OutFlight, OutState, Session, SubscriptionEntry
from gateway.broker.store_ops import (
    message_from_row,
    read_queued,
    sub_ids_tuple,
    will_from_row,
)
from gateway.broker.store_schema import StoreUnusable, open_store, quarantine
from gateway.mqtt.enums import QoS, RetainHandling
from gateway.mqtt.packets import Subscription
from gateway.mqtt.topics import parse_shared

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore
    from gateway.broker.store import SqliteStore

log = logging.getLogger(__name__)

_STATES = {1: OutState.AWAIT_PUBACK, 2: OutState.AWAIT_PUBREC, 3: OutState.AWAIT_PUBCOMP}


def restore(store: SqliteStore, core: BrokerCore, now: float) -> int:
    """Fill `core` from the store; an unreadable store is quarantined and replaced by a fresh one."""
    try:
        sessions, retained = _load(store, core, now)
    except (sqlite3.DatabaseError, ValueError) as exc:
        assert store.db is not None
        store.db.close()
        moved = quarantine(store.settings.path, f"unreadable rows: {exc}")
        log.error("STORE UNUSABLE: %s has unreadable rows (%s); moved aside to %s and a fresh "
                  "store created", moved.original, exc, moved.moved_to)
        store.quarantined = moved
        try:
            store.db = open_store(store.settings.path)
        except StoreUnusable as again:
            raise RuntimeError(f"cannot create a fresh store: {again}") from again
        store._next_qid = store._next_mid = 1
        return 0
    for session in sessions:
        core.sessions[session.client_id] = session
        for entry in session.subscriptions.values():
            core.subs.add(entry.topic_filter, session.client_id, entry, entry.group)
        core.stats.clients_disconnected += 1
    for message in retained:
        core.retained.set(message)
    queued = sum(s.queued_count for s in sessions)
    log.info("store %s: restored %d session(s), %d queued and %d in-flight message(s), %d retained "
             "message(s)", store.settings.path, len(sessions), queued,
             sum(len(s.inflight) for s in sessions), len(retained))
    return len(sessions)


def _load(store: SqliteStore, core: BrokerCore, now: float) -> tuple[list[Session], list[Message]]:
    db = store.db
    assert db is not None
    offset = store.wall_offset()
    sessions: dict[str, Session] = {}
    for row in db.execute("SELECT * FROM sessions"):
        session = _session(store, core, row, now, offset)
        sessions[session.client_id] = session
    for cid, key, qos, no_local, rap, rh, sub_id in db.execute("SELECT * FROM subscriptions"):
        session = sessions.get(cid)
        if session is None:
            continue
        group, topic_filter = parse_shared(key)
        options = Subscription(key, QoS(qos), bool(no_local), bool(rap), RetainHandling(rh))
        session.subscriptions[key] = SubscriptionEntry(options, sub_id, group, topic_filter)
    for cid, packet_id in db.execute("SELECT * FROM incoming_qos2"):
        if cid in sessions:
            sessions[cid].incoming_qos2.add(packet_id)
    cache: dict[int, Message] = {}
    for session in sessions.values():
        _load_queue(store, session, offset, now, cache)
    retained = []
    for topic, payload, qos, props, expires, origin in db.execute("SELECT * FROM retained"):
        message = message_from_row(0, topic, payload, qos, True, props, expires, origin, offset)
        if not message.expired(now):
            retained.append(message)
    return list(sessions.values()), retained


def _session(store: SqliteStore, core: BrokerCore, row: tuple, now: float,
             offset: float) -> Session:
    cid, expiry, disconnected, w_topic, w_payload, w_qos, w_retain, w_props, will_due, user, \
        next_pid = row
    session = Session(cid, core.settings, core.stats, persistence=store)
    session.durable = True
    session.expiry_interval = expiry
    session.username = user
    session._next_pid = next_pid
    session.will = will_from_row(w_topic, w_payload, w_qos, w_retain, w_props)
    if disconnected is None:  # it was connected when the gateway stopped: it left without DISCONNECT
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


def _load_queue(store: SqliteStore, session: Session, offset: float, now: float,
                cache: dict[int, Message]) -> None:
    db = store.db
    assert db is not None
    for qid, qos, retain, sub_ids, state, packet_id, *m in db.execute(_INFLIGHT_SQL,
                                                                       (session.client_id,)):
        message = cache.get(m[0]) or cache.setdefault(m[0], message_from_row(*m, offset))
        delivery = Delivery(message, QoS(qos), bool(retain), sub_ids_tuple(sub_ids), qid)
        session.inflight[packet_id] = OutFlight(delivery, _STATES[state])
    _trim_oldest(store, session)
    window = store.memory_window
    for delivery in read_queued(db, session.client_id, 0, window, offset, cache):
        session.queue.append(delivery)
        session.queued_bytes += len(delivery.message.payload)
        session._tail_qid = delivery.qid
    count, size = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM queue WHERE "
                             "client_id=? AND state=0 AND qid>?",
                             (session.client_id, session._tail_qid)).fetchone()
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
    count = db.execute("SELECT count(*) FROM queue WHERE client_id=? AND state=0",
                       (session.client_id,)).fetchone()[0]
    excess = count - settings.max_queued_messages
    if excess <= 0:
        return
    db.execute("BEGIN")
    rows = db.execute("SELECT qid, msg_id FROM queue WHERE client_id=? AND state=0 ORDER BY qid "
                      "LIMIT ?", (session.client_id, excess)).fetchall()
    db.executemany("DELETE FROM queue WHERE qid=?", [(r[0],) for r in rows])
    db.executemany("DELETE FROM messages WHERE id=? AND NOT EXISTS (SELECT 1 FROM queue WHERE "
                   "msg_id=?)", [(m, m) for m in {r[1] for r in rows}])
    db.execute("COMMIT")
    session.stats.drop("queue_full_drop_oldest", len(rows))
    log.warning("queue of %s over its limit of %d at start-up: %d oldest message(s) dropped "
                "(drop-oldest)", session.client_id, settings.max_queued_messages, len(rows))
