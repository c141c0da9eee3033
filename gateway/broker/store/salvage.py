"""Salvage a damaged store: quarantine the smallest unit that is damaged, keep everything else.

How this works: a store file that opens as SQLite with our schema but fails `PRAGMA quick_check`,
or whose rows cannot all be read, is not thrown away. `salvage(path)` copies it into a fresh file
table by table: a full scan first, and when a damaged page stops the scan, every row that the
table's own indexes or the other tables still name is fetched by its key alone, so only the rows on
a damaged page are lost. Rows that were copied but no longer fit together are then removed by
`remove_orphans` (a queue row whose message is gone; subscriptions, queue rows and QoS 2 packet ids
of a session whose own row is gone: that session is the damaged unit). The damaged file is moved
aside as `<name>.corrupt-<UTC time>` for a post-mortem and the fresh file takes its place.

Rows that read but do not decode (a bad will, properties or enum value) are quarantined by the
restore (`gateway.broker.store.restore`) with `Damage.remove`, after a copy of the file is kept.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.broker.store.schema import Quarantine

log = logging.getLogger(__name__)

# table -> its key columns, and the queries (served by an index, or by another table) that still
# name its keys when a damaged page stops a scan of the table itself
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sessions": (
        ("client_id",),
        (
            "SELECT client_id FROM sessions ORDER BY client_id",  # sqlite_autoindex_sessions_1
            "SELECT DISTINCT client_id FROM queue INDEXED BY queue_by_client",
            "SELECT DISTINCT client_id FROM subscriptions",
        ),
    ),
    "subscriptions": (("client_id", "filter"), ()),  # fetched per session (its primary key)
    "incoming_qos2": (("client_id", "packet_id"), ()),
    "messages": (("id",), ("SELECT DISTINCT msg_id FROM queue INDEXED BY queue_by_message",)),
    "queue": (
        ("qid",),
        (
            "SELECT qid FROM queue INDEXED BY queue_by_client",
            "SELECT qid FROM queue INDEXED BY queue_by_message",
        ),
    ),
    "retained": (("topic",), ("SELECT topic FROM retained ORDER BY topic",)),
}
_BY_SESSION = ("subscriptions", "incoming_qos2")


@dataclass
class Damage:
    """What was quarantined at start-up: counts for $SYS, one log line per damaged unit."""

    rows: int = 0  # rows lost or removed (every table)
    sessions: int = 0  # sessions removed whole (their own row was damaged)
    lines: list[str] = field(default_factory=list)

    def note(self, rows: int, line: str, session: bool = False) -> None:
        self.rows += rows
        self.sessions += int(session)
        self.lines.append(line)
        log.error("STORE DAMAGED: %s: quarantined", line)

    def __bool__(self) -> bool:
        return bool(self.rows or self.sessions)


def _scan(db: sqlite3.Connection, sql: str, params: tuple = ()) -> tuple[list[tuple], bool]:
    """Rows of `sql` up to the first damaged page; True when the scan reached the end."""
    rows: list[tuple] = []
    try:
        for row in db.execute(sql, params):
            rows.append(row)
    except sqlite3.DatabaseError:
        return rows, False
    return rows, True


def _copy_table(
    old: sqlite3.Connection, table: str, session_ids: set[str]
) -> tuple[list, int, bool]:
    """Every row of `table` that can still be read; how many keys named elsewhere could not be;
    whether a scan of the table reached its end."""
    keys, namers = _KEYS[table]
    width = len(keys)
    rows, complete = _scan(old, f"SELECT * FROM {table}")  # noqa: S608 - names from _KEYS
    got = {row[:width] if width > 1 else (row[0],): row for row in rows}
    if complete:
        return list(got.values()), 0, True
    if table in _BY_SESSION:  # WITHOUT ROWID, keyed by session: read each session's range
        for cid in sorted(session_ids):
            part, _ = _scan(old, f"SELECT * FROM {table} WHERE client_id=?", (cid,))  # noqa: S608
            got.update({row[:width]: row for row in part})
        return list(got.values()), 0, False
    named: set[tuple] = set()
    for sql in namers:
        found, _ = _scan(old, sql)
        named.update((row[0],) for row in found)
    lost = 0
    where = " AND ".join(f"{k}=?" for k in keys)
    for key in sorted(named - got.keys(), key=repr):
        try:
            row = old.execute(f"SELECT * FROM {table} WHERE {where}", key).fetchone()  # noqa: S608
        except sqlite3.DatabaseError:
            lost += 1
            continue
        if row is None:
            continue  # named only by an orphan: nothing to lose here
        got[key] = row
    return list(got.values()), lost, False


def _pad(path: Path) -> None:
    """A truncated file: pad it with zeros to the size its header states, so SQLite reads the
    pages that are left (a missing page reads as a damaged one) instead of refusing them all."""
    with open(path, "r+b") as f:
        header = f.read(100)
        if len(header) < 100:
            return
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        wanted = int.from_bytes(header[28:32], "big") * page_size
        f.seek(0, os.SEEK_END)
        if f.tell() < wanted:
            f.truncate(wanted)


def salvage(
    path: Path,
    open_fresh: Callable[[Path], sqlite3.Connection],
    quarantine: Callable[[Path, str], Quarantine],
) -> tuple[Damage, Quarantine]:
    """Copy what can be read of the damaged store at `path` into a fresh store that takes its
    place; the damaged file is moved aside with `quarantine(path, reason)` (its result is
    returned). `open_fresh(path)` creates a store with the current schema."""
    damage = Damage()
    fresh_path = path.with_name(path.name + ".salvage")
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(fresh_path) + suffix)
        if side.exists():
            side.unlink()
    work = path.with_name(path.name + ".salvage-src")  # a copy: the damaged file stays as it was
    import shutil  # here: it loads bz2 and lzma, which only a salvage needs

    shutil.copyfile(path, work)
    _pad(work)
    old = sqlite3.connect(str(work), isolation_level=None)
    try:
        fresh = open_fresh(fresh_path)
        try:
            fresh.execute("BEGIN")
            sessions: set[str] = set()
            for table in _KEYS:
                rows, lost, complete = _copy_table(old, table, sessions)
                if table == "sessions":
                    sessions = {row[0] for row in rows}
                if not complete and not lost:
                    damage.note(
                        0,
                        f"{table}: a damaged page stopped the scan; {len(rows)} "
                        "row(s) salvaged, rows named nowhere else may be lost",
                    )
                if rows:
                    marks = ",".join("?" * len(rows[0]))
                    fresh.executemany(
                        f"INSERT OR IGNORE INTO {table} VALUES ({marks})",  # noqa: S608
                        rows,
                    )
                if lost:
                    damage.note(lost, f"{lost} row(s) of {table} on damaged pages")
            remove_orphans(fresh, damage)
            fresh.execute("COMMIT")
        finally:
            fresh.close()
    finally:
        old.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(work) + suffix).unlink(missing_ok=True)
    moved = quarantine(path, "damaged pages; readable rows salvaged")
    os.replace(fresh_path, path)
    return damage, moved


def remove_orphans(db: sqlite3.Connection, damage: Damage) -> None:
    """Remove rows that no longer fit together after a salvage: each counted and logged."""
    for cid, count in db.execute(
        "SELECT client_id, count(*) FROM (SELECT client_id FROM queue UNION ALL SELECT "
        "client_id FROM subscriptions UNION ALL SELECT client_id FROM incoming_qos2) WHERE "
        "client_id NOT IN (SELECT client_id FROM sessions) GROUP BY client_id"
    ).fetchall():
        damage.note(
            count,
            f"session {cid!r}: its own row is unreadable; its {count} queued "
            "message(s), subscription(s) and QoS 2 packet id(s)",
            session=True,
        )
    for table in ("queue", "subscriptions", "incoming_qos2"):
        db.execute(
            f"DELETE FROM {table} WHERE client_id NOT IN "  # noqa: S608
            "(SELECT client_id FROM sessions)"
        )
    for cid, count in db.execute(
        "SELECT client_id, count(*) FROM queue WHERE msg_id NOT IN "
        "(SELECT id FROM messages) GROUP BY client_id"
    ).fetchall():
        damage.note(count, f"session {cid!r}: {count} queued message(s) whose body is unreadable")
    db.execute("DELETE FROM queue WHERE msg_id NOT IN (SELECT id FROM messages)")
    db.execute("DELETE FROM messages WHERE id NOT IN (SELECT msg_id FROM queue)")  # garbage
