"""Talking to systemd: sd_notify, the watchdog supervisor and journald logging.

How this works:

* `Notifier` sends sd_notify(3) messages (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1, RELOADING=1)
  to the socket named by ``NOTIFY_SOCKET``. It uses systemd-python's `systemd.daemon.notify` when that
  is importable and otherwise a plain AF_UNIX datagram; both read the variable at every call, accept a
  filesystem path or the ``@abstract`` form, and do nothing when it is unset (not under systemd). A
  failed send is logged and reported as ``False``: it never takes the gateway down.
* `watchdog_interval()` reads ``WATCHDOG_USEC`` / ``WATCHDOG_PID`` (what sd_watchdog_enabled(3) does).
* `Watchdog` is the supervisor behind WATCHDOG=1. Subsystems register a named heartbeat and call
  `beat(name)` (from any thread); `run()` wakes at half the watchdog timeout and pings systemd only
  when every registered heartbeat is fresh. A stale one withholds the ping and is logged by name, so
  systemd kills and restarts a gateway whose store thread or bridge has hung even though the event loop
  still turns. The event loop's own liveness needs no heartbeat: the ping is sent *from* the loop, so a
  blocked loop sends nothing; a tick that wakes late is logged with the time the loop was blocked.
* `setup_logging(level)` sends records to journald with structured fields (any upper-case ``extra``
  key, e.g. ``extra={"SENSOR": "bme280"}``) when stderr is the journal stream (``JOURNAL_STREAM``) and
  systemd-python is importable; otherwise ``LEVEL name: message`` lines on stderr. No timestamps when
  journald is the sink (it stamps every entry itself).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TextIO

log = logging.getLogger(__name__)

NotifySend = Callable[[str], bool]
Clock = Callable[[], float]

SYSLOG_IDENTIFIER = "edge-gateway"


# ---------------------------------------------------------------------------------------------------
# sd_notify


def socket_notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `state` to ``$NOTIFY_SOCKET`` as one AF_UNIX datagram (the fallback for systemd-python).

    Returns False when the variable is unset or names a kind of socket we do not speak (vsock);
    raises OSError when the socket cannot be reached, as systemd.daemon.notify does.
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        target = "\0" + address[1:]  # abstract namespace, see sd_notify(3)
    elif address.startswith("/"):
        target = address
    else:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(state.encode("utf-8"), target)
    return True


def library_notify() -> NotifySend | None:
    """systemd-python's `systemd.daemon.notify`, or None when the package is not installed."""
    try:
        from systemd import daemon  # optional dependency, extra [pi]
    except ImportError:
        return None
    return daemon.notify


def default_notify() -> NotifySend:
    """The best available sender: systemd-python when importable, else `socket_notify`."""
    return library_notify() or socket_notify


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC= is read against."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """sd_notify(3) messages for the service manager; every method is a no-op outside systemd.

    Each method returns True when a message was sent, False when there is no service manager or the
    send failed (logged at WARNING: a lost notification must not stop the gateway).
    """

    def __init__(
        self, send: NotifySend | None = None, *, usec_clock: Callable[[], int] = monotonic_usec
    ) -> None:
        self._send = send if send is not None else default_notify()
        self._usec_clock = usec_clock

    @property
    def backend(self) -> str:
        """Which sender is in use, for the start-up log line."""
        if self._send is socket_notify:
            return "socket"
        return "systemd-python" if self._send is library_notify() else "custom"

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one message."""
        message = "\n".join(assignments)
        try:
            return bool(self._send(message))
        except OSError as exc:
            log.warning("sd_notify %r failed: %s", message, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete: READY=1, optionally with a status line."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", "STATUS=" + _one_line(status))

    def status(self, text: str) -> bool:
        """A free-form status line, shown by ``systemctl status``."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """Keep-alive ping for WatchdogSec=. Call through `Watchdog`, not directly."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1")

    def reloading(self) -> bool:
        """A reload has begun; send `ready()` when it is done.

        MONOTONIC_USEC= lets systemd 253+ (Type=notify-reload) tell this reload from an earlier one;
        older managers ignore the field.
        """
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={self._usec_clock()}")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start or stop (EXTEND_TIMEOUT_USEC=), e.g. while a store recovers."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def _one_line(text: str) -> str:
    # A newline would start a new assignment: a status must never be able to inject READY=1.
    return " ".join(text.splitlines())


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """The watchdog timeout in seconds systemd expects pings within, or None when it is off.

    Mirrors sd_watchdog_enabled(3): WATCHDOG_USEC must be a positive integer, and when WATCHDOG_PID
    is set it must be our pid (the variables are inherited by children that are not the service).
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC")
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw_usec)
        return None
    if usec <= 0:
        return None
    raw_pid = env.get("WATCHDOG_PID")
    if raw_pid:
        own = os.getpid() if pid is None else pid
        try:
            if int(raw_pid) != own:
                return None
        except ValueError:
            log.warning("ignoring WATCHDOG_PID=%r: not an integer", raw_pid)
            return None
    return usec / 1_000_000


# ---------------------------------------------------------------------------------------------------
# The watchdog supervisor


@dataclass(slots=True)
class _Heartbeat:
    max_age: float
    last: float


@dataclass(frozen=True, slots=True)
class Stale:
    """A heartbeat that has not beaten within its `max_age`."""

    name: str
    age: float
    max_age: float


class Heartbeat:
    """A subsystem's handle on its registered heartbeat."""

    __slots__ = ("_watchdog", "name")

    def __init__(self, watchdog: Watchdog, name: str) -> None:
        self._watchdog = watchdog
        self.name = name

    def beat(self) -> None:
        self._watchdog.beat(self.name)

    def close(self) -> None:
        """Unregister: the subsystem has stopped on purpose."""
        self._watchdog.unregister(self.name)


class Watchdog:
    """Sends WATCHDOG=1 only while every registered subsystem shows it is alive.

    `timeout` is the service's watchdog timeout (`watchdog_interval()`); None means systemd does not
    watch us, and `run()` returns at once while `beat()` stays cheap and valid. A heartbeat is fresh
    when it beat within its `max_age` (default: `timeout`, or 30 s when there is none); registering
    counts as a beat. `beat()` and `register()` may be called from any thread.
    """

    DEFAULT_MAX_AGE = 30.0

    def __init__(
        self, notifier: Notifier, timeout: float | None, clock: Clock = time.monotonic
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"watchdog timeout must be positive, not {timeout!r}")
        self._notifier = notifier
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, _Heartbeat] = {}
        self._reported: frozenset[str] = frozenset()

    @property
    def period(self) -> float | None:
        """How often `run()` checks and pings: half the timeout, as sd_watchdog_enabled(3) advises."""
        return None if self.timeout is None else self.timeout / 2

    def register(self, name: str, max_age: float | None = None) -> Heartbeat:
        """Start watching `name`; it must then `beat()` at least every `max_age` seconds."""
        age = max_age if max_age is not None else (self.timeout or self.DEFAULT_MAX_AGE)
        if age <= 0:
            raise ValueError(f"heartbeat {name!r}: max_age must be positive, not {age!r}")
        with self._lock:
            if name in self._beats:
                raise ValueError(f"heartbeat {name!r} is already registered")
            self._beats[name] = _Heartbeat(max_age=age, last=self._clock())
        return Heartbeat(self, name)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def beat(self, name: str) -> None:
        """`name` is alive now. Raises KeyError for a name never registered (a bug)."""
        now = self._clock()
        with self._lock:
            self._beats[name].last = now

    def stale(self, now: float) -> list[Stale]:
        """The heartbeats older than their max_age at `now`, sorted by name."""
        with self._lock:
            items = sorted(self._beats.items())
        return [
            Stale(name, now - hb.last, hb.max_age)
            for name, hb in items
            if now - hb.last > hb.max_age
        ]

    def check(self, now: float) -> bool:
        """One tick: ping systemd if everything is fresh, else log who is stale. True if pinged."""
        stale = self.stale(now)
        names = frozenset(s.name for s in stale)
        for name in sorted(self._reported - names):
            log.warning("watchdog: heartbeat %s is fresh again", name)
        self._reported = names
        if stale:
            log.error(
                "watchdog: withholding WATCHDOG=1, stale heartbeats: %s",
                ", ".join(f"{s.name} ({s.age:.1f} s old, limit {s.max_age:.1f} s)" for s in stale),
            )
            return False
        self._notifier.watchdog()
        return True

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Check and ping every `period` seconds until cancelled; returns at once when disabled."""
        period = self.period
        if period is None:
            return
        while True:
            now = self._clock()
            self.check(now)
            await sleep(period)
            late = self._clock() - now - period
            if late > period / 2:
                log.warning("watchdog: event loop was blocked for %.1f s", late)


# ---------------------------------------------------------------------------------------------------
# Logging

TERMINAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(message)s"


def journal_stream_is(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd connected us to.

    ``JOURNAL_STREAM=dev:ino`` is inherited by anything we start and survives a redirect of stderr,
    so systemd.exec(5) says to compare it with the stream's own device and inode.
    """
    raw = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = raw.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):  # no real file behind it, or a malformed value
        return False


def journal_module() -> ModuleType | None:
    """systemd-python's `systemd.journal`, or None when the package is not installed."""
    try:
        from systemd import journal  # optional dependency, extra [pi]
    except ImportError:
        return None
    return journal


def journal_fields_only(send: Callable[..., None]) -> Callable[..., None]:
    """Wrap journal.send so only journal-style (upper-case) fields are sent.

    JournalHandler passes every attribute of the LogRecord; its lower-case ones (msg, args, created,
    ...) are logging internals, while ``extra={"SENSOR": ...}`` keys are the fields we mean to send.
    """

    def sender(message: str, /, **fields: object) -> None:
        send(message, **{k: v for k, v in fields.items() if k.isupper() and not k.startswith("_")})

    return sender


class _SyslogPrefixFormatter(logging.Formatter):
    """``<N>`` priority prefixes that journald reads off a stderr stream (SyslogLevelPrefix=yes)."""

    PRIORITIES = ((logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3))

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in self.PRIORITIES if record.levelno <= level), 2)
        return f"<{priority}>{super().format(record)}"


def make_handler(
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    send: Callable[..., None] | None = None,
) -> logging.Handler:
    """The handler `setup_logging` installs; `send` replaces systemd.journal.send (tests)."""
    out = sys.stderr if stream is None else stream
    if not journal_stream_is(out, environ):
        handler: logging.Handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter(TERMINAL_FORMAT))
        return handler
    journal = journal_module()
    if journal is None:  # under systemd without systemd-python: stderr is the journal anyway
        handler = logging.StreamHandler(out)
        handler.setFormatter(_SyslogPrefixFormatter(TERMINAL_FORMAT))
        return handler
    handler = journal.JournalHandler(
        sender_function=journal_fields_only(send if send is not None else journal.send),
        SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER,
    )
    handler.setFormatter(logging.Formatter(JOURNAL_FORMAT))
    return handler


_installed: logging.Handler | None = None


def setup_logging(
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    send: Callable[..., None] | None = None,
) -> logging.Handler:
    """Configure the root logger once for the process; calling it again replaces our handler."""
    global _installed
    root = logging.getLogger()
    resolved = _level(level)
    handler = make_handler(stream, environ, send)
    if _installed is not None:
        root.removeHandler(_installed)
        _installed.close()
    root.addHandler(handler)
    root.setLevel(resolved)
    _installed = handler
    return handler


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    try:
        return logging.getLevelNamesMapping()[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None


__all__ = [
    "Heartbeat",
    "Notifier",
    "Stale",
    "Watchdog",
    "default_notify",
    "journal_module",
    "journal_stream_is",
    "library_notify",
    "make_handler",
    "monotonic_usec",
    "setup_logging",
    "socket_notify",
    "watchdog_interval",
]
