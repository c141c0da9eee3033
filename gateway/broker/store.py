"""The durable store: SQLite in WAL mode on its own thread, with a named group-commit window.

How this works: `SqliteStore` is the core's `Persistence`. On the event loop each hook only appends
an operation to a queue (no I/O). The store thread takes the first operation, waits the commit
window (`commit_interval`), takes everything queued by then, runs it in one transaction, COMMITs
(WAL, synchronous=FULL: the commit is on the disk when it returns) and reports back to the loop with
`call_soon_threadsafe`: the count of operations now committed, answers to reads (pages of a session
queue), and the size of the store and the free disk space.

Durability "sync": a PUBACK / PUBREC / PUBCOMP whose PUBLISH / PUBREL caused a write is held by the
connection's `AckGate` until the commit holding that write is reported (`ticket_since`), so an
acknowledged message is on the disk; likewise a durable session's QoS 2 PUBLISH / PUBREL waits
for the commit recording its packet id and state, so after a restart it is re-sent with DUP and the
same id. "relaxed": acknowledgements go out at once; a kill -9 or power cut loses what was
acknowledged in the last commit window (plus the commit in progress).

Limits: the store as a whole has `max_bytes` (used pages of the database) and `min_free_bytes` (free
space on its file system); when either bites, new deliveries for session queues are refused
("drop-new": counted as messages/dropped/store_max_bytes or store_min_free, logged, and in $SYS) and
so is the PUBLISH that brought them (5.0: PUBACK / PUBREC 0x97 Quota exceeded; 3.1.1: no ack and the
connection is closed, so the client keeps the message and sends it again) until the figures show
room again. Sessions, subscriptions, in-flight state and retained messages are still written. The
figures are refreshed at each commit (and every second while the store refuses), so a limit can be
overshot by one window.

A failed commit is not a commit: the store thread rolls the transaction back and reports the
operations of that batch as failed. Their queued deliveries are dropped (messages/dropped/store_full
or store_io_error) and forgotten by their sessions; every acknowledgement held for them is refused
instead of sent (`AckGate`); the other operations (sessions, subscriptions, in-flight state, retained
messages, deletions: the state memory already holds) are kept as a backlog and retried with a
capped doubling back-off. Until a retry commits, the store is in state "full" (SQLITE_FULL, or a
limit above) or "failing" (an I/O error) and refuses new queued deliveries as above; it leaves that
state by itself once a retry (or, with nothing to retry, a one-page probe write) commits and, after
"full", the file system has `RESUME_FREE_BYTES` (or `min_free_bytes`, if larger) free again. QoS 0 and
deliveries to connected clients go on throughout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gateway.broker import store_ops as ops
from gateway.broker.persistence import Gate, Persistence
from gateway.broker.store_salvage import Damage
from gateway.broker.store_schema import Quarantine, open_or_quarantine
from gateway.mqtt.enums import ReasonCode
from gateway.retry import doubling_delay

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore
    from gateway.broker.message import Delivery, Message
    from gateway.broker.session import OutState, Session

log = logging.getLogger(__name__)

MAX_BATCH = 50_000  # operations per transaction; more wait for the next commit
PURGE_BATCH = 10_000  # queue rows one purge_queued deletes; the caller asks again for the rest
THREAD_POLL = 1.0  # seconds: the store thread beats the watchdog at least this often when idle
RETRY_FIRST, RETRY_CAP = 0.25, 5.0  # seconds: back-off of the retries after a failed commit
RESUME_FREE_BYTES = 1024 * 1024  # after "full", free disk space needed before queueing resumes
MAX_BACKLOG = MAX_BATCH  # operations kept for retry while commits fail; the oldest go beyond it

# why the store refuses a queued delivery -> the reason code a 5.0 PUBACK / PUBREC carries
REFUSAL_CODES = {
    "store_full": ReasonCode.QUOTA_EXCEEDED,  # SQLITE_FULL: the file system is full
    "store_io_error": ReasonCode.UNSPECIFIED_ERROR,  # SQLITE_IOERR and other disk errors
    "store_max_bytes": ReasonCode.QUOTA_EXCEEDED,
    "store_min_free": ReasonCode.QUOTA_EXCEEDED,
}
STATE_OF_REASON = {"store_io_error": "failing"}  # every other reason is "full"

Durability = Literal["sync", "relaxed"]
DEFAULT_COMMIT_INTERVAL = {"sync": 0.010, "relaxed": 1.0}


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path
    durability: Durability = "sync"
    commit_interval: float | None = None  # seconds; None = 10 ms (sync) / 1 s (relaxed)
    max_bytes: int = 0  # 0 = no limit
    min_free_bytes: int = 64 * 1024 * 1024
    memory_window: int = 1000  # deliveries per session kept in memory; the rest stay on disk

    @property
    def window(self) -> float:
        if self.commit_interval is not None:
            return self.commit_interval
        return DEFAULT_COMMIT_INTERVAL[self.durability]


@dataclass(frozen=True, slots=True)
class _Failure:
    """A batch that did not commit: why, and the queued deliveries it did not write
    (queue id, client id, payload bytes)."""

    reason: str
    dropped: list[tuple[int, str, int]]


@dataclass(frozen=True, slots=True)
class _Figures:
    used_bytes: int
    file_bytes: int
    free_bytes: int


class SqliteStore(Persistence):
    enabled = True

    def __init__(self, settings: StoreSettings, clock: Callable[[], float] = time.monotonic,
                 beat: Callable[[], object] | None = None) -> None:
        self.settings = settings
        self.memory_window = max(2, settings.memory_window)
        self.relaxed = settings.durability == "relaxed"
        self.clock = clock
        self.beat = beat or (lambda: None)
        self.after_commit: Callable[[], object] = lambda: None  # the glue's flush
        self.core: BrokerCore | None = None
        self.db: sqlite3.Connection | None = None
        self.quarantined: Quarantine | None = None
        self.damage = Damage()  # rows and sessions quarantined at start-up
        self._ops: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._seq = 0  # operations recorded (loop side)
        self.committed = 0  # operations committed (reported by the store thread)
        self._done = 0  # operations executed (store thread side)
        self._holders: list[Gate] = []
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._urgent = threading.Event()  # a read is queued: end the commit window early
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_qid = 1
        self._next_mid = 1
        self.commits = 0
        self.errors = 0
        self.figures = _Figures(0, 0, 0)
        self.full_reason: str | None = None  # a limit bites (store_max_bytes / store_min_free)
        self.trouble: str | None = None  # commits fail (store_full / store_io_error)
        self.failed_upto = 0  # the last operation of the latest failed batch
        self.refused = 0  # queued deliveries refused (the connection compares it around a PUBLISH)
        # the store thread's own state (only that thread touches these)
        self._backlog: list[tuple] = []  # operations of failed batches, retried
        self._failing: str | None = None
        self._retries = 0
        self._retry_at = 0.0
        self._watch = False  # the loop refuses on a limit: refresh the figures when idle

    # -- lifecycle (glue) --------------------------------------------------------------------

    def open(self) -> None:
        """Open (quarantining an unusable file) and read the id counters; blocking, at start-up."""
        self.db, self.quarantined, self.damage = open_or_quarantine(Path(self.settings.path))
        self.reset_ids()
        self._set_figures(self._measure())

    def reset_ids(self) -> None:
        """Read the id counters again (after the file was salvaged or replaced)."""
        assert self.db is not None
        self._next_qid = (self.db.execute("SELECT max(qid) FROM queue").fetchone()[0] or 0) + 1
        self._next_mid = (self.db.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1

    def attach(self, core: BrokerCore, now: float) -> int:
        """Restore the stored state into `core` and become its persistence; returns the sessions
        restored. Call after `open()` and before the broker listens."""
        from gateway.broker.store_restore import restore

        self.core = core
        count = restore(self, core, now)
        core.persistence = self
        return count

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="store", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Commit what is queued and stop the thread (the last step of shutdown)."""
        if self._thread is None:
            if self.db is not None:
                self.db.close()
            return
        self._put(ops.stop)
        self._urgent.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)
        if self._thread.is_alive():
            log.error("store thread did not finish its last commit within 30 s")
        self._thread = None

    async def wait_committed(self) -> None:
        """Return once every operation recorded so far is settled: committed, or in a failed
        commit (reported: its acks refused, the rest kept for a retry)."""
        target = self._seq
        if self.committed >= target:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await future

    def wall_offset(self) -> float:
        """Wall clock minus the core's clock: add it to a core time to get UNIX time."""
        return time.time() - self.clock()

    def to_wall(self, t: float | None) -> float | None:
        return None if t is None else t + self.wall_offset()

    # -- acknowledgement after commit --------------------------------------------------------

    def mark(self) -> int:
        return self._seq

    def ticket_since(self, mark: int) -> int | None:
        if self.relaxed or self._seq == mark:
            return None
        return self._seq

    def hold(self, gate: Gate) -> None:
        self._holders.append(gate)

    # -- hooks (event loop; they only record operations) ---------------------------------------

    def _put(self, *op: Any) -> None:
        self._seq += 1
        self._ops.put(op)

    def session_changed(self, session: Session, now: float) -> None:
        if session.expiry_interval == 0:
            if session.durable:
                self.session_ended(session)
            return
        if not session.durable:
            session.durable = True
            self._snapshot(session)
        offset = self.wall_offset()
        disconnected = None if session.disconnected_at is None else session.disconnected_at + offset
        will_due = None if session.will_due is None else session.will_due + offset
        self._put(ops.session_put, session.client_id, session.expiry_interval, disconnected,
                  session.will, will_due, session.username, session._next_pid)

    def _snapshot(self, session: Session) -> None:
        """A session that just became durable: write what it already holds."""
        self.subscriptions_changed(session)
        for packet_id in session.incoming_qos2:
            self.incoming_add(session, packet_id)
        for packet_id, flight in session.inflight.items():
            self.delivery_sent(session, flight.delivery, packet_id, flight.state)
        for delivery in session.queue:
            if delivery.qos and self._room(count=False):
                self._write(session, delivery, ops.QUEUED, None)
                session._tail_qid = delivery.qid

    def session_ended(self, session: Session) -> None:
        if session.durable:
            session.durable = False
            self._put(ops.session_delete, session.client_id)

    def subscriptions_changed(self, session: Session) -> None:
        if not session.durable:
            return
        rows = [(key, int(e.options.qos), int(e.options.no_local),
                 int(e.options.retain_as_published), int(e.options.retain_handling),
                 e.subscription_id) for key, e in session.subscriptions.items()]
        self._put(ops.subscriptions_replace, session.client_id, rows)

    def incoming_add(self, session: Session, packet_id: int) -> None:
        self._put(ops.incoming_add, session.client_id, packet_id)

    def incoming_remove(self, session: Session, packet_id: int) -> None:
        self._put(ops.incoming_remove, session.client_id, packet_id)

    @property
    def refusing(self) -> str | None:
        """Why new queued deliveries are refused now (None: they are not)."""
        return self.trouble or self.full_reason

    @property
    def state(self) -> str:
        """ok, full (no room: the disk, max_bytes or min_free_bytes) or failing (I/O errors)."""
        reason = self.refusing
        return "ok" if reason is None else STATE_OF_REASON.get(reason, "full")

    def refusal_code(self) -> ReasonCode:
        return REFUSAL_CODES.get(self.refusing or "", ReasonCode.QUOTA_EXCEEDED)

    def _room(self, count: bool = True) -> bool:
        reason = self.refusing
        if reason is None:
            return True
        if count and self.core is not None:
            self.refused += 1
            self.core.stats.drop(reason)
            self.core.stats.limit(reason)
        return False

    def _write(self, session: Session, delivery: Delivery, state: int,
               packet_id: int | None) -> None:
        message = delivery.message
        if not message.store_id:
            message.store_id = self._next_mid
            self._next_mid += 1
        delivery.qid = self._next_qid
        self._next_qid += 1
        expires = None if message.expires_at is None else message.expires_at + self.wall_offset()
        self._put(ops.queue_add, delivery.qid, session.client_id, message, expires,
                  int(delivery.qos), delivery.retain, ops.sub_ids_text(delivery.subscription_ids),
                  state, packet_id)

    def queue_add(self, session: Session, delivery: Delivery) -> bool:
        if not self._room():
            return False
        self._write(session, delivery, ops.QUEUED, None)
        return True

    def delivery_sent(self, session: Session, delivery: Delivery, packet_id: int,
                      state: OutState) -> None:
        code = ops.STATE_CODES[state.value]
        if delivery.qid:
            self._put(ops.queue_state, delivery.qid, code, packet_id)
        elif self._room(count=False):  # sent at once: its in-flight state must survive
            self._write(session, delivery, code, packet_id)
        elif self.core is not None:  # delivered from memory, not durable while the store is full
            self.core.stats.limit(f"{self.full_reason}_not_durable")

    def queue_remove(self, session: Session, delivery: Delivery) -> None:
        if delivery.qid:
            self._put(ops.queue_delete, delivery.qid, delivery.message.store_id)
            delivery.qid = 0

    def page_in(self, session: Session, after_qid: int, limit: int) -> None:
        self._put(ops.page_in, session.client_id, after_qid, limit, self.wall_offset(),
                  lambda result: session.paged_in(result[0], self.clock(), unreadable=result[1]))
        self._urgent.set()  # a client is waiting for these: do not sit out the commit window

    def purge_spilled(self, session: Session, after_qid: int, now: float) -> None:
        self._put(ops.purge_spilled, session.client_id, after_qid, now + self.wall_offset(),
                  lambda result: session.spill_purged(*result))

    def last_queue_id(self) -> int:
        return self._next_qid - 1

    def purge_queued(self, session: Session, after_qid: int, upto_qid: int, reason: str) -> None:
        self._put(ops.purge_queued, session.client_id, after_qid, upto_qid, PURGE_BATCH,
                  lambda result: session.spill_purged(*result, reason=reason))

    def retained_changed(self, message: Message) -> None:
        if message.topic.startswith("$"):  # $SYS is regenerated, never written
            return
        if not message.payload:
            self._put(ops.retained_delete, message.topic)
            return
        expires = None if message.expires_at is None else message.expires_at + self.wall_offset()
        self._put(ops.retained_set, message, expires)

    # -- commits reported back (event loop) ----------------------------------------------------

    def _committed(self, done: int, answers: list, figures: _Figures, failed: _Failure | None,
                   trouble: str | None) -> None:
        """The store thread settled every operation up to `done`: committed, or (`failed`) not
        written, their queued deliveries dropped and the rest kept for a retry."""
        self.committed = done
        self.commits += 1
        self._set_trouble(trouble)
        if failed is not None:
            self.errors += 1
            self.failed_upto = done
            self._forget_unstored(failed)
        self._set_figures(figures)
        for callback, result in answers:
            callback(result)
        if self._holders:
            self._holders = [gate for gate in self._holders if not gate.release(done)]
        if self._waiters:
            for target, future in self._waiters:
                if target <= done and not future.done():
                    future.set_result(None)
            self._waiters = [w for w in self._waiters if not w[1].done()]
        self.after_commit()

    def _forget_unstored(self, failed: _Failure) -> None:
        """Sessions forget the queued deliveries the failed commit did not write (counted)."""
        core = self.core
        if core is None:
            return
        by_client: dict[str, list[tuple[int, int]]] = {}
        for qid, client_id, size in failed.dropped:
            by_client.setdefault(client_id, []).append((qid, size))
        for client_id, rows in by_client.items():
            session = core.sessions.get(client_id)
            if session is not None:
                session.drop_unstored(rows, failed.reason)

    def _set_trouble(self, trouble: str | None) -> None:
        if trouble == self.trouble:
            return
        if trouble is None:
            log.warning("store commits again after %s: state ok, queueing resumes", self.trouble)
        else:
            log.error("store %s (%s): queued QoS 1/2 messages are refused (5.0: reason code "
                      "0x%02X; 3.1.1: no acknowledgement, connection closed) until a retry "
                      "commits", STATE_OF_REASON.get(trouble, "full"), trouble,
                      REFUSAL_CODES[trouble])
        self.trouble = trouble
        self._watch = self.refusing is not None

    def _set_figures(self, figures: _Figures) -> None:
        self.figures = figures
        settings = self.settings
        reason = None
        if settings.max_bytes and figures.used_bytes >= settings.max_bytes:
            reason = "store_max_bytes"
        elif settings.min_free_bytes and figures.free_bytes < settings.min_free_bytes:
            reason = "store_min_free"
        if reason != self.full_reason:
            if reason is None:
                log.warning("store has room again (%d bytes used, %d bytes free on disk): "
                            "queueing resumes", figures.used_bytes, figures.free_bytes)
            else:
                log.warning("store full (%s: %d bytes used, max_bytes %d, %d bytes free on disk, "
                            "min_free_bytes %d): new queued messages are dropped (drop-new)",
                            reason, figures.used_bytes, settings.max_bytes, figures.free_bytes,
                            settings.min_free_bytes)
            self.full_reason = reason
            self._watch = self.refusing is not None

    def sys_values(self) -> dict[str, object]:
        f = self.figures
        spilled = 0
        if self.core is not None:
            spilled = sum(s.spilled for s in self.core.sessions.values())
        return {
            "store/durability": self.settings.durability,
            "store/bytes": f.used_bytes,
            "store/file bytes": f.file_bytes,
            "store/disk free bytes": f.free_bytes,
            "store/state": self.state,
            "store/full": 1 if self.state == "full" else 0,
            "store/commits": self.commits,
            "store/errors": self.errors,

            "store/pending operations": self._seq - self.committed,
            "store/messages/on disk only": spilled,
            "store/quarantined": 1 if self.quarantined else 0,
            "store/quarantined/rows": self.damage.rows,
            "store/quarantined/sessions": self.damage.sessions,
        }

    # -- the store thread --------------------------------------------------------------------

    def _run(self) -> None:
        window = self.settings.window
        while True:
            self.beat()
            try:
                first = self._ops.get(timeout=self._poll())
            except queue.Empty:
                if self._failing is not None and time.monotonic() >= self._retry_at:
                    self._execute([])  # retry the backlog, or probe the disk
                elif self._watch:  # a limit bites: notice when room comes back
                    self._report_to(self._set_figures, self._measure())
                continue
            if first[0] is not ops.stop:
                if self._failing is not None:  # back off: do not hammer a failing disk
                    self._urgent.wait(max(0.0, self._retry_at - time.monotonic()))
                elif window and first[0] is not ops.page_in:
                    self._urgent.wait(window)  # the group-commit window: let more arrive
            self._urgent.clear()
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._ops.get_nowait())
                except queue.Empty:
                    break
            self._execute(batch)
            if any(op[0] is ops.stop for op in batch):
                self._finish()
                return

    def _poll(self) -> float:
        if self._failing is None:
            return THREAD_POLL
        return min(THREAD_POLL, max(0.01, self._retry_at - time.monotonic()))

    def _execute(self, batch: list[tuple]) -> None:
        db = self.db
        assert db is not None
        work = ops.Batch()
        todo = self._backlog + batch if self._backlog else batch
        cancelled = ops.cancelled_qids(todo)
        try:
            if self._failing == "store_full" and not self._room_on_disk():
                raise sqlite3.OperationalError("database or disk is full (waiting for free space)")
            db.execute("BEGIN")
            for op in todo:
                if cancelled and op[0] in ops.QUEUE_OPS and op[1] in cancelled:
                    continue
                op[0](db, work, *op[1:])
            ops.collect_garbage(db, work)
            if self._failing is not None and not todo:
                ops.probe(db)  # nothing to retry: prove that a page can be written and synced
            db.execute("COMMIT")
        except (sqlite3.Error, ValueError, OSError) as exc:
            self._failed(db, todo, len(batch), exc)
            return
        if self._failing is not None:
            log.warning("store retry committed %d operation(s) after %d failed attempt(s)",
                        len(todo), self._retries)
        self._backlog = []
        self._failing = None
        self._retries = 0
        self._done += len(batch)
        self._report(self._done, work.answers, self._measure(), None, None)

    def _failed(self, db: sqlite3.Connection, todo: list[tuple], new: int,
                exc: BaseException) -> None:
        """Roll back; drop the batch's queued deliveries, keep the rest for a retry, back off."""
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        reason = failure_reason(exc)
        dropped = [(op[1], op[2], len(op[3].payload)) for op in todo if ops.is_new_queued(op)]
        keep = [op for op in todo if not ops.is_new_queued(op) and op[0] is not ops.stop]
        if reason is None:  # not the disk: a bug or bad data that a retry would meet again
            log.exception("store commit of %d operations failed; the state they describe is "
                          "NOT on disk and is not retried", len(todo))
            keep, reason = [], "store_io_error"
        elif self._failing is None:
            log.error("store commit of %d operations failed (%s): %d queued message(s) dropped, "
                      "%d state change(s) kept for a retry", len(todo), exc, len(dropped),
                      len(keep))
        if len(keep) > MAX_BACKLOG:
            log.error("store retry backlog over %d operations: the oldest %d state change(s) "
                      "are discarded", MAX_BACKLOG, len(keep) - MAX_BACKLOG)
            keep = keep[-MAX_BACKLOG:]
        self._backlog = keep
        self._failing = reason
        self._retry_at = time.monotonic() + doubling_delay(RETRY_FIRST, self._retries, RETRY_CAP)
        self._retries += 1
        self._done += new
        self._report(self._done, [], self._measure(), _Failure(reason, dropped), reason)

    def _room_on_disk(self) -> bool:
        """After SQLITE_FULL: is there room again (so a retry can do more than fill the WAL)?"""
        try:
            vfs = os.statvfs(Path(self.settings.path).parent)
        except OSError:
            return True
        return vfs.f_bavail * vfs.f_frsize >= max(RESUME_FREE_BYTES, self.settings.min_free_bytes)

    def _report(self, *args: Any) -> None:
        self._report_to(self._committed, *args)

    def _report_to(self, callback: Callable[..., object], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # the loop closed while we committed
                pass

    def _measure(self) -> _Figures:
        db = self.db
        assert db is not None
        try:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free_pages = db.execute("PRAGMA freelist_count").fetchone()[0]
        except sqlite3.Error:  # a failing disk: keep the last figures
            return self.figures
        path = Path(self.settings.path)
        try:
            file_bytes = path.stat().st_size
            vfs = os.statvfs(path.parent)
            free = vfs.f_bavail * vfs.f_frsize
        except OSError:
            file_bytes, free = 0, 0
        return _Figures((pages - free_pages) * page_size, file_bytes, free)

    def _finish(self) -> None:
        db = self.db
        assert db is not None
        if self._backlog:
            log.error("store stopped with %d state change(s) it could not write (%s)",
                      len(self._backlog), self._failing)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            log.exception("store checkpoint at shutdown failed")
        db.close()
        self.db = None


def failure_reason(exc: BaseException) -> str | None:
    """store_full (SQLITE_FULL), store_io_error (any other error of the disk or the file), or
    None for an error a retry would meet again (a bug, bad data)."""
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and \
            not isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
            return "store_full"
        return "store_io_error"
    if isinstance(exc, OSError):
        return "store_io_error"
    return None


async def open_store(broker: Any, settings: StoreSettings,
                     heartbeat: Any = None) -> SqliteStore:
    """Open the store, restore its state into `broker.core` and start its thread; call before
    `broker.start()` (listening) and `await store.close()` after `broker.stop()`. The file work runs
    in a worker thread so the loop stays free; `heartbeat` (a watchdog Heartbeat) is beaten by the
    store thread."""
    store = SqliteStore(settings, broker.clock, heartbeat.beat if heartbeat is not None else None)
    await asyncio.to_thread(store.open)
    await asyncio.to_thread(store.attach, broker.core, broker.clock())
    store.after_commit = broker.flush
    store.start()
    log.info("store %s open (durability %s, commit window %g ms, memory window %d per session)",
             settings.path, settings.durability, settings.window * 1000, store.memory_window)
    return store
