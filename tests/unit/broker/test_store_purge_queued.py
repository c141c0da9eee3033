"""The store's range purge of a session queue (`store.ops.purge_queued`, used by the bridge's age
limit): it deletes the queued rows of one session in a range of store ids, oldest first and at most
a batch, through the index `queue_by_client`, leaves rows in flight and other sessions alone, and
collects the message bodies nothing references any more. A real SQLite file, no thread."""

from __future__ import annotations

from gateway.broker.message import Message
from gateway.broker.store import ops
from gateway.broker.store.schema import open_store
from gateway.mqtt.enums import QoS


def _add(db, qid: int, client: str, state: int = ops.QUEUED, body: int | None = None) -> None:
    message = Message("t", b"x" * qid, QoS(1), False, store_id=body or qid)
    ops.queue_add(
        db,
        ops.Batch(),
        qid,
        client,
        message,
        None,
        1,
        False,
        None,
        state,
        None if state == ops.QUEUED else qid,
    )


def _purge(db, client: str, after: int, upto: int, limit: int = 1000) -> tuple[int, int]:
    batch = ops.Batch()
    answer: list = []
    ops.purge_queued(db, batch, client, after, upto, limit, answer.append)
    ops.collect_garbage(db, batch)
    for callback, result in batch.answers:
        callback(result)
    return answer[0]


def _qids(db, client: str) -> list[int]:
    return [
        r[0] for r in db.execute("SELECT qid FROM queue WHERE client_id=? ORDER BY qid", (client,))
    ]


def test_purge_deletes_one_sessions_queued_range_in_batches(tmp_path):
    db = open_store(tmp_path / "s.db")
    for qid in range(1, 11):
        _add(db, qid, "bridge", state=ops.STATE_CODES["puback"] if qid == 4 else ops.QUEUED)
    _add(db, 11, "other")
    _add(db, 12, "other", body=5)  # shares the body of the bridge's row 5

    assert _purge(db, "bridge", after=2, upto=8, limit=3) == (3, 3 + 5 + 6)  # 3, 5, 6: 4 flies
    assert _qids(db, "bridge") == [1, 2, 4, 7, 8, 9, 10]
    assert _purge(db, "bridge", after=2, upto=8) == (2, 7 + 8)
    assert _purge(db, "bridge", after=2, upto=8) == (0, 0)
    assert _qids(db, "bridge") == [1, 2, 4, 9, 10] and _qids(db, "other") == [11, 12]
    bodies = {r[0] for r in db.execute("SELECT id FROM messages")}
    assert bodies == {1, 2, 4, 5, 9, 10, 11}  # 5 is still referenced by the other session


RANGE_PLAN = (
    "SEARCH queue USING INDEX queue_by_client (client_id=? AND state=? AND qid>? AND qid<?)"
)


def test_purge_is_a_range_of_the_queue_index(tmp_path):
    db = open_store(tmp_path / "s.db")
    for sql, args in ((ops.PURGE_SELECT, ("c", 0, 9, 5)), (ops.PURGE_DELETE, ("c", 0, 9))):
        plan = [r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
        assert plan == [RANGE_PLAN], plan  # one range of the index: no scan, no sort
