"""The durable store's file: SQLite in WAL mode, a versioned schema with migrations, quarantine.

How this works: `open_store(path, ...)` opens (or creates) the database, refuses a file it cannot use
(not a database, zero-filled, truncated, failing `PRAGMA quick_check`, or a schema newer than this
code knows) by raising `StoreUnusable`, and otherwise applies the migrations in `MIGRATIONS` in order,
each in its own transaction with `PRAGMA user_version` (so a power cut mid-migration leaves the old
version). A file that is our store but has damaged pages (`StoreDamaged`) is salvaged row by row
(`gateway.broker.store.salvage`): only the damaged rows are lost. `open_or_quarantine` moves any
other unusable file aside as `<name>.corrupt-<UTC time>` (with its `-wal` / `-shm` files) and
creates a fresh store, so the gateway always starts.

Message bodies are stored once (`messages`); session queue rows reference them (`queue`), and a body
is deleted when no queue row references it any more. Times are wall-clock seconds (UNIX time), so a
reboot does not reset session expiry, will delays or message expiry.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.broker.store.salvage import Damage, salvage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_V1 = """
CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY,
    expiry INTEGER NOT NULL,         -- session expiry interval, seconds
    disconnected_at REAL,            -- wall clock; NULL while connected
    will_topic TEXT, will_payload BLOB, will_qos INTEGER, will_retain INTEGER, will_props BLOB,
    will_due REAL,                   -- wall clock of a delayed will
    username TEXT,
    next_pid INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE subscriptions (
    client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, no_local INTEGER NOT NULL,
    retain_as_published INTEGER NOT NULL, retain_handling INTEGER NOT NULL, sub_id INTEGER,
    PRIMARY KEY (client_id, filter)
) WITHOUT ROWID;
CREATE TABLE incoming_qos2 (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
    retain INTEGER NOT NULL, props BLOB, expires_at REAL, origin TEXT NOT NULL
);
CREATE TABLE queue (
    qid INTEGER PRIMARY KEY,         -- delivery order
    client_id TEXT NOT NULL, msg_id INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    sub_ids TEXT, size INTEGER NOT NULL,
    state INTEGER NOT NULL,          -- 0 queued, 1 awaiting PUBACK, 2 PUBREC, 3 PUBCOMP
    packet_id INTEGER
);
CREATE INDEX queue_by_client ON queue (client_id, state, qid);
CREATE INDEX queue_by_message ON queue (msg_id);
CREATE TABLE retained (
    topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, props BLOB,
    expires_at REAL, origin TEXT NOT NULL
);
"""

# (version reached, SQL): applied in order to a store whose user_version is lower
MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _V1),)

EXPECTED_TABLES = frozenset(
    {"sessions", "subscriptions", "incoming_qos2", "messages", "queue", "retained"}
)


class StoreUnusable(Exception):
    """The file cannot be used as our store; `reason` says why (logged, then quarantined)."""


class StoreDamaged(StoreUnusable):
    """Our store (a known schema version) with damaged pages: salvage its readable rows."""


@dataclass(frozen=True, slots=True)
class Quarantine:
    original: Path
    moved_to: Path
    reason: str


def connect(path: Path) -> sqlite3.Connection:
    """Open with WAL and full fsync at each commit (a commit is on disk when COMMIT returns).

    Exclusive locking, set before the first WAL access: SQLite then keeps the WAL index in the heap
    instead of a shared-memory `-shm` file beside the database, whose pages the kernel writes back
    to the SD card after each commit (most of the ~46 KB a small commit cost). The gateway is the
    only process that opens the file; another one (the sqlite3 shell) gets "database is locked"
    while the gateway runs: stop it first, or read through `SqliteStore.query`. Crash recovery
    is unchanged: the next open replays the WAL."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreUnusable(f"cannot switch to WAL mode (got {mode})")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA journal_size_limit=4194304")  # WAL shrinks back to 4 MiB
        db.execute("PRAGMA foreign_keys=OFF")
    except BaseException:
        db.close()
        raise
    return db


def open_store(path: Path) -> sqlite3.Connection:
    """Open, check and migrate; raises StoreUnusable with the reason."""
    try:
        db = connect(path)
    except sqlite3.DatabaseError as exc:
        raise _damaged_or_unusable(path)(f"cannot open: {exc}") from exc
    try:
        _check(db)
        migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise _damaged_or_unusable(path)(f"damaged: {exc}") from exc
    except StoreUnusable:
        db.close()
        raise
    return db


def _damaged_or_unusable(path: Path) -> type[StoreUnusable]:
    """StoreDamaged when the file's header says it is our store at our schema version (so its
    readable rows are worth salvaging), StoreUnusable otherwise."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return StoreUnusable
    ours = (
        header.startswith(b"SQLite format 3\0")
        and len(header) == 100
        and int.from_bytes(header[60:64], "big") == SCHEMA_VERSION
    )
    return StoreDamaged if ours else StoreUnusable


def _check(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreUnusable(
            f"schema version {version} is newer than this gateway's {SCHEMA_VERSION}"
        )
    try:
        result = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        result = [str(exc)]
    if result != ["ok"]:
        damaged = StoreDamaged if version == SCHEMA_VERSION else StoreUnusable
        raise damaged("integrity check failed: " + "; ".join(result[:3]))
    if version:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = EXPECTED_TABLES - tables
        if missing:
            raise StoreUnusable(f"tables missing: {', '.join(sorted(missing))}")


def migrate(db: sqlite3.Connection) -> int:
    """Apply every migration above the file's version, each atomically; returns the version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for target, script in MIGRATIONS:
        if version < target:
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={target};\nCOMMIT;")
            log.info("store schema migrated from version %d to %d", version, target)
            version = target
    return version


def quarantine(path: Path, reason: str, now: float | None = None) -> Quarantine:
    """Move `path` (and its -wal / -shm) aside as `<name>.corrupt-<UTC timestamp>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():  # bounded by the files in the directory
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return Quarantine(path, target, reason)


def quarantine_copy(db: sqlite3.Connection, path: Path, now: float | None = None) -> Path:
    """Keep a copy of the store as `<name>.corrupt-<UTC timestamp>` before rows are removed."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    db.execute("VACUUM INTO ?", (str(target),))
    return target


def open_or_quarantine(path: Path) -> tuple[sqlite3.Connection, Quarantine | None, Damage]:
    """Always returns a usable store: a damaged one salvaged row by row, any other unusable file
    moved aside (logged at ERROR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return open_store(path), None, Damage()
    except StoreDamaged as exc:
        try:
            damage, moved = salvage(path, open_store, quarantine)
        except (sqlite3.DatabaseError, StoreUnusable, OSError) as again:
            log.error("store %s could not be salvaged (%s)", path, again)
        else:
            log.error(
                "STORE DAMAGED: %s (%s): the readable rows were salvaged into a fresh store, "
                "%d row(s) and %d whole session(s) quarantined; the damaged file is kept as %s",
                path,
                exc,
                damage.rows,
                damage.sessions,
                moved.moved_to,
            )
            return open_store(path), moved, damage
        return _replace(path, exc)
    except StoreUnusable as exc:
        return _replace(path, exc)


def _replace(path: Path, exc: StoreUnusable) -> tuple[sqlite3.Connection, Quarantine, Damage]:
    moved = quarantine(path, str(exc))
    log.error(
        "STORE UNUSABLE: %s is %s; moved aside to %s and a fresh store created. Queued "
        "messages, persistent sessions and retained messages in it are NOT restored.",
        path,
        exc,
        moved.moved_to,
    )
    return open_store(path), moved, Damage()
