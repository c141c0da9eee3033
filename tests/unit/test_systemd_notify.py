"""sd_notify, the watchdog supervisor and journald logging (gateway.systemd).

Messages go through a real AF_UNIX datagram socket named by NOTIFY_SOCKET, in its path and
``@abstract`` forms, once through systemd-python and once through the plain-socket fallback (the
import of systemd-python blocked). The watchdog runs on a fake clock.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from gateway import systemd as sd
from gateway.logfields import fields as journal_fields


class NotifySocket:
    """The receiving end of NOTIFY_SOCKET, as the service manager holds it."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def receive(self) -> str:
        self.sock.settimeout(5)
        return self.sock.recv(4096).decode("utf-8")

    def assert_quiet(self) -> None:
        """Nothing queued: a datagram sendto() is in our queue by the time it returns."""
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        raise AssertionError(f"unexpected notification {data!r}")


@pytest.fixture(params=["path", "abstract"])
def notify_socket(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[NotifySocket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with tempfile.TemporaryDirectory(prefix="sdn") as directory:  # short: sun_path is 108 bytes
        if request.param == "path":
            address = os.path.join(directory, "notify")
            sock.bind(address)
            env_value = address
        else:
            name = "edge-gateway-test-" + uuid.uuid4().hex
            sock.bind("\0" + name)
            env_value = "@" + name
        monkeypatch.setenv("NOTIFY_SOCKET", env_value)
        try:
            yield NotifySocket(sock, env_value)
        finally:
            sock.close()


def block_systemd_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import systemd...` fail as it does where systemd-python is not installed."""
    for name in ("systemd", "systemd.daemon", "systemd.journal"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture(params=["systemd-python", "socket"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "socket":
        block_systemd_python(monkeypatch)
    return request.param


@pytest.fixture
def notifier(backend: str) -> sd.Notifier:
    n = sd.Notifier()
    assert n.backend == backend
    return n


# --- sd_notify messages -----------------------------------------------------------------------------


def test_systemd_python_is_installed_here() -> None:
    # Both backends are tested only if the real library is present; fail loudly rather than skip.
    import systemd.daemon  # noqa: F401

    assert sd.library_notify() is not None
    assert sd.Notifier().backend == "systemd-python"


def test_ready_sends_ready_1(notify_socket: NotifySocket, notifier: sd.Notifier) -> None:
    assert notifier.ready() is True
    assert notify_socket.receive() == "READY=1"


def test_ready_with_status_is_one_message(
    notify_socket: NotifySocket, notifier: sd.Notifier
) -> None:
    assert notifier.ready("listening on 1883")
    assert notify_socket.receive() == "READY=1\nSTATUS=listening on 1883"


def test_status(notify_socket: NotifySocket, notifier: sd.Notifier) -> None:
    assert notifier.status("3 clients, bridge up")
    assert notify_socket.receive() == "STATUS=3 clients, bridge up"


def test_status_cannot_inject_other_assignments(
    notify_socket: NotifySocket, notifier: sd.Notifier
) -> None:
    notifier.status("evil\nREADY=1")
    assert notify_socket.receive() == "STATUS=evil READY=1"


def test_watchdog_sends_watchdog_1(notify_socket: NotifySocket, notifier: sd.Notifier) -> None:
    assert notifier.watchdog()
    assert notify_socket.receive() == "WATCHDOG=1"


def test_stopping_sends_stopping_1(notify_socket: NotifySocket, notifier: sd.Notifier) -> None:
    assert notifier.stopping()
    assert notify_socket.receive() == "STOPPING=1"


def test_reloading_carries_monotonic_usec(notify_socket: NotifySocket, backend: str) -> None:
    notifier = sd.Notifier(usec_clock=lambda: 123_456_789)
    assert notifier.backend == backend
    assert notifier.reloading()
    assert notify_socket.receive() == "RELOADING=1\nMONOTONIC_USEC=123456789"


def test_reloading_uses_clock_monotonic_by_default(
    notify_socket: NotifySocket, notifier: sd.Notifier
) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = notify_socket.receive().split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after


def test_extend_timeout(notify_socket: NotifySocket, notifier: sd.Notifier) -> None:
    notifier.extend_timeout(90)
    assert notify_socket.receive() == "EXTEND_TIMEOUT_USEC=90000000"


def test_no_notify_socket_is_a_quiet_no_op(
    monkeypatch: pytest.MonkeyPatch, notifier: sd.Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert caplog.records == []


def test_unreachable_socket_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, notifier: sd.Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    with tempfile.TemporaryDirectory(prefix="sdn") as directory:
        monkeypatch.setenv("NOTIFY_SOCKET", os.path.join(directory, "gone"))
        assert notifier.ready() is False
    assert "sd_notify 'READY=1' failed" in caplog.text


def test_socket_fallback_ignores_vsock_addresses() -> None:
    assert sd.socket_notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"}) is False


# --- watchdog_interval ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sd.watchdog_interval(env, pid=4242) == expected


def test_watchdog_interval_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "5000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sd.watchdog_interval() == 5.0


# --- the watchdog supervisor ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def watchdog(notifier: sd.Notifier, clock: FakeClock) -> sd.Watchdog:
    return sd.Watchdog(notifier, timeout=30.0, clock=clock)


def test_watchdog_pings_when_every_heartbeat_is_fresh(
    notify_socket: NotifySocket, watchdog: sd.Watchdog, clock: FakeClock
) -> None:
    store = watchdog.register("store")
    watchdog.register("sensors")
    clock.now += 20
    store.beat()
    watchdog.beat("sensors")
    clock.now += 25
    assert watchdog.check(clock.now) is True
    assert notify_socket.receive() == "WATCHDOG=1"


def test_watchdog_goes_quiet_when_one_heartbeat_is_stale(
    notify_socket: NotifySocket,
    watchdog: sd.Watchdog,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = watchdog.register("store")
    bridge = watchdog.register("bridge")
    clock.now += 29
    bridge.beat()
    clock.now += 2  # store: 31 s old, bridge: 2 s old
    assert watchdog.check(clock.now) is False
    notify_socket.assert_quiet()
    assert "stale heartbeats: store (31.0 s old, limit 30.0 s)" in caplog.text
    assert "bridge" not in caplog.text

    store.beat()
    caplog.clear()
    assert watchdog.check(clock.now) is True
    assert notify_socket.receive() == "WATCHDOG=1"
    assert "heartbeat store is fresh again" in caplog.text


def test_heartbeat_is_fresh_at_exactly_max_age(watchdog: sd.Watchdog, clock: FakeClock) -> None:
    watchdog.register("store", max_age=10)
    clock.now += 10
    assert watchdog.stale(clock.now) == []
    clock.now += 0.001
    assert [s.name for s in watchdog.stale(clock.now)] == ["store"]


def test_each_heartbeat_has_its_own_max_age(watchdog: sd.Watchdog, clock: FakeClock) -> None:
    watchdog.register("sensors", max_age=120)  # a slow poll interval
    watchdog.register("event-loop-lag", max_age=5)
    clock.now += 60
    assert watchdog.stale(clock.now) == [sd.Stale("event-loop-lag", 60.0, 5.0)]


def test_unregistered_heartbeat_no_longer_blocks(
    notify_socket: NotifySocket, watchdog: sd.Watchdog, clock: FakeClock
) -> None:
    bridge = watchdog.register("bridge")
    clock.now += 100
    assert watchdog.check(clock.now) is False
    bridge.close()
    assert watchdog.check(clock.now) is True
    assert notify_socket.receive() == "WATCHDOG=1"


def test_register_twice_and_unknown_beat_are_bugs(watchdog: sd.Watchdog) -> None:
    watchdog.register("store")
    with pytest.raises(ValueError, match="already registered"):
        watchdog.register("store")
    with pytest.raises(KeyError):
        watchdog.beat("nope")
    with pytest.raises(ValueError):
        watchdog.register("zero", max_age=0)


def test_beat_from_another_thread(watchdog: sd.Watchdog, clock: FakeClock) -> None:
    store = watchdog.register("store", max_age=5)
    clock.now += 10
    assert watchdog.stale(clock.now)
    thread = threading.Thread(target=store.beat)
    thread.start()
    thread.join()
    assert watchdog.stale(clock.now) == []


def test_default_max_age_is_the_timeout(notifier: sd.Notifier, clock: FakeClock) -> None:
    wd = sd.Watchdog(notifier, timeout=8.0, clock=clock)
    wd.register("x")
    clock.now += 8.5
    assert wd.stale(clock.now) == [sd.Stale("x", 8.5, 8.0)]
    assert wd.period == 4.0
    with pytest.raises(ValueError):
        sd.Watchdog(notifier, timeout=0)


class Sleeper:
    """asyncio.sleep stand-in: advances the fake clock and runs a scripted step per call."""

    def __init__(self, clock: FakeClock, steps: list) -> None:
        self.clock = clock
        self.steps = steps
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if not self.steps:
            raise _Done
        advance, action = self.steps.pop(0)
        self.clock.now += advance
        if action is not None:
            action()


class _Done(Exception):
    pass


async def test_run_pings_every_half_timeout_until_a_heartbeat_stalls(
    notify_socket: NotifySocket,
    watchdog: sd.Watchdog,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = watchdog.register("store")
    sleeper = Sleeper(clock, [(15, store.beat), (15, None), (15, None), (15, None)])
    with pytest.raises(_Done):
        await watchdog.run(sleep=sleeper)
    assert sleeper.delays == [15.0] * 5
    # ticks at t=0, 15 (beat at 15), 30 (15 s old), 45 (30 s: fresh), 60 (45 s: stale)
    assert [notify_socket.receive() for _ in range(4)] == ["WATCHDOG=1"] * 4
    notify_socket.assert_quiet()
    assert "stale heartbeats: store (45.0 s old" in caplog.text


async def test_run_logs_a_blocked_event_loop(
    notify_socket: NotifySocket,
    watchdog: sd.Watchdog,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeper = Sleeper(clock, [(15 + 12, None)])
    with pytest.raises(_Done):
        await watchdog.run(sleep=sleeper)
    assert "event loop was blocked for 12.0 s" in caplog.text


async def test_run_against_the_real_loop_and_socket(
    notify_socket: NotifySocket, notifier: sd.Notifier
) -> None:
    import asyncio

    wd = sd.Watchdog(notifier, timeout=0.02)
    wd.register("store", max_age=60)
    task = asyncio.create_task(wd.run())
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            assert await loop.run_in_executor(None, notify_socket.receive) == "WATCHDOG=1"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_returns_at_once_without_a_watchdog(notifier: sd.Notifier) -> None:
    wd = sd.Watchdog(notifier, timeout=None)
    wd.register("store")
    wd.beat("store")
    assert wd.period is None
    await wd.run()  # returns: pytest-timeout would catch a loop


# --- logging ----------------------------------------------------------------------------------------


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def journal_stream_env(path: str) -> dict[str, str]:
    st = os.stat(path)
    return {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def test_terminal_lines_are_level_name_message(root_logger: logging.Logger) -> None:
    out = io.StringIO()
    handler = sd.setup_logging("debug", stream=out, environ={})
    assert root_logger.level == logging.DEBUG
    logging.getLogger("gateway.sensors").warning("read of %s failed: %s", "bme280", "EREMOTEIO")
    assert handler in root_logger.handlers
    assert out.getvalue() == "WARNING gateway.sensors: read of bme280 failed: EREMOTEIO\n"


def test_setup_logging_twice_replaces_its_handler(root_logger: logging.Logger) -> None:
    first = sd.setup_logging("INFO", stream=io.StringIO(), environ={})
    second = sd.setup_logging(logging.WARNING, stream=io.StringIO(), environ={})
    assert first not in root_logger.handlers and second in root_logger.handlers
    assert root_logger.level == logging.WARNING
    with pytest.raises(ValueError, match="unknown log level"):
        sd.setup_logging("chatty", stream=io.StringIO(), environ={})


def test_journald_handler_sends_structured_fields_without_timestamps(
    root_logger: logging.Logger, tmp_path
) -> None:
    sent: list[tuple[str, dict]] = []
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stream:
        handler = sd.setup_logging(
            "INFO",
            stream=stream,
            environ=journal_stream_env(str(stderr_path)),
            send=lambda message, /, **fields: sent.append((message, fields)),
        )
        from systemd.journal import JournalHandler

        assert isinstance(handler, JournalHandler)
        logging.getLogger("gateway.sensors").warning(
            "read of %s failed",
            "bme280",
            extra={"SENSOR": "bme280", "CLIENT_ID": "c1", "BRIDGE": "cloud"},
        )
        logging.getLogger("gateway.broker").info(
            "client connected", extra=journal_fields(client_id="c2")
        )
    assert stderr_path.read_text() == ""  # nothing doubled onto stderr
    (message, fields), (message2, fields2) = sent
    assert message == "read of bme280 failed"  # journald stamps the time itself
    assert (
        fields["SENSOR"] == "bme280" and fields["CLIENT_ID"] == "c1" and fields["BRIDGE"] == "cloud"
    )
    assert fields["PRIORITY"] == "4" and fields["LOGGER"] == "gateway.sensors"
    assert fields["SYSLOG_IDENTIFIER"] == "edge-gateway"
    assert all(key.isupper() for key in fields), sorted(fields)
    assert (
        message2 == "client connected"
        and fields2["CLIENT_ID"] == "c2"
        and fields2["PRIORITY"] == "6"
    )


def test_journal_stream_of_another_file_means_terminal(
    root_logger: logging.Logger, tmp_path
) -> None:
    # JOURNAL_STREAM is inherited even when stderr has been redirected elsewhere.
    other = tmp_path / "other"
    other.write_text("")
    with open(tmp_path / "stderr", "w") as stream:
        handler = sd.make_handler(stream, journal_stream_env(str(other)))
    assert type(handler) is logging.StreamHandler
    assert not sd.journal_stream_is(io.StringIO(), journal_stream_env(str(other)))
    assert not sd.journal_stream_is(io.StringIO(), {"JOURNAL_STREAM": "garbage"})


def test_journald_without_systemd_python_uses_syslog_prefixes(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    block_systemd_python(monkeypatch)
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stream:
        sd.setup_logging("DEBUG", stream=stream, environ=journal_stream_env(str(stderr_path)))
        log = logging.getLogger("gateway.bridge")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
    assert stderr_path.read_text().splitlines() == [
        "<7>DEBUG gateway.bridge: d",
        "<6>INFO gateway.bridge: i",
        "<4>WARNING gateway.bridge: w",
        "<3>ERROR gateway.bridge: e",
        "<2>CRITICAL gateway.bridge: c",
    ]


def test_real_journal_send_accepts_our_fields(
    root_logger: logging.Logger, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # systemd.journal.send itself (entries are dropped where no journald runs, as here): a field it
    # rejected, or a clash with its own arguments, would surface as a logging error on stderr.
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stream:
        sd.setup_logging("INFO", stream=stream, environ=journal_stream_env(str(stderr_path)))
        log = logging.getLogger("gateway.sensors")
        log.warning(
            "read of %s failed", "bme280", extra=journal_fields(sensor="bme280", bridge=None)
        )
        try:
            raise OSError(121, "Remote I/O error")
        except OSError:
            log.exception("bus error", extra={"SENSOR": "sht31"})
    assert "Logging error" not in capsys.readouterr().err
