"""The composition root: config -> objects -> one event loop; ordered start-up and shutdown.

Start-up: logging -> the store (restored before any client can connect) -> broker listeners ->
components (gateway.components: availability, clock watch, relays with their power-on states,
sensors, rules, schedules, bridges, diagnostics, Home Assistant discovery) -> web -> READY=1.
Shutdown on SIGTERM/SIGINT: STOPPING=1 -> web and the components in reverse start order (sensors
stop before relays apply their stop states) -> listeners close and clients get DISCONNECT -> the
store's last commit -> exit. SIGHUP reloads the config file (gateway.reloader: RELOADING=1 ...
READY=1), applying only what changed, without dropping connections.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.bus.gpio import PinFactoryError
from gateway import __version__
from gateway.broker.auth import GatewayAuth
from gateway.broker.core import RESERVED_CLIENT_ID_PREFIX  # the bridges' sessions
from gateway.broker.listener_config import auth_policies, listener_spec
from gateway.broker.server import Broker, ListenerSpec
from gateway.components import start_components
from gateway.config import ConfigError, GatewayConfig, load
from gateway.exitcodes import ExitCode
from gateway.relays.hardware import RelaySetupError
from gateway.reloader import Reloader
from gateway.sensors.registry import SensorSetupError
from gateway.systemd import Notifier, Watchdog, setup_logging, watchdog_interval
from gateway.timesync import ClockStatus

if TYPE_CHECKING:  # imported when [store] is enabled
    from gateway.broker.store import SqliteStore

log = logging.getLogger(__name__)


def listener_specs(config: GatewayConfig) -> list[ListenerSpec]:
    return [listener_spec(listener) for listener in config.broker.listeners]


def build_auth(config: GatewayConfig) -> GatewayAuth:
    return GatewayAuth(
        auth_policies(config),
        config.auth.password_file,
        config.auth.acl_file,
        config.auth.scram_file,
    )


class Gateway:
    """Everything the config describes, started and stopped in order."""

    def __init__(
        self,
        config: GatewayConfig,
        notifier: Notifier | None = None,
        config_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier()
        self.auth = build_auth(config)
        self.broker = Broker(
            config.broker.settings(__version__),
            listener_specs(config),
            authenticator=self.auth,
            authorizer=self.auth,
            max_connections=config.broker.max_connections,
            max_connections_per_address=config.broker.max_connections_per_address,
        )
        self.watchdog = Watchdog(self.notifier, watchdog_interval())
        self.services: list = []
        self.store: SqliteStore | None = None  # when [store] is enabled
        self.heartbeat_checks: list[Callable[[], None]] = []  # each beats its heartbeat if healthy
        # whether the wall clock is right (gateway.timesync; kept current by its ClockWatch)
        self.clock_status = ClockStatus(False, "not checked yet")
        self.pin_factory = None  # the GPIO pin factory the components share (gateway.components)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        # SIGHUP reloads this file (gateway.reloader); without one, only the auth files
        self.reloader = None if config_path is None else Reloader(self, str(config_path))
        self.reload_note: str | None = None  # "reload failed: ..." until a reload succeeds
        self._started = False
        self._reload_asked = False  # a SIGHUP before start-up finished: reload once it has

    async def start(self) -> None:
        if self.config.store.enabled:  # restored before the first client can connect
            from gateway.broker.store import open_store

            self.store = await open_store(
                self.broker,
                self.config.store.settings(self.config.gateway.state_dir),
                self.watchdog.register("store"),
            )
            # sessions of bridges no longer configured stop queueing before anything can publish
            # and are kept only for [store] removed_bridge_expiry (gateway.bridge.orphans)
            if any(cid.startswith(RESERVED_CLIENT_ID_PREFIX) for cid in self.broker.core.sessions):
                from gateway.bridge.orphans import retire_orphans

                retire_orphans(
                    self.broker.core,
                    {b.name for b in self.config.bridges},
                    self.config.store.removed_bridge_expiry,
                    self.broker.clock(),
                )
        await self.broker.start()
        self.services = await self._start_components()
        if self.config.web.enabled:  # last: it reads the others; stopped first
            from gateway.web.server import WebServer

            web = WebServer(self, self.config.web)
            await web.start()
            self.services.append(web)
        loop_beat = self.watchdog.register("event-loop")
        broker_beat = self.watchdog.register("broker-timers")
        self._tasks = [
            asyncio.create_task(self.watchdog.run(), name="watchdog"),
            asyncio.create_task(self._heartbeats(loop_beat, broker_beat), name="heartbeats"),
        ]
        self.notifier.ready(self.status_line())
        log.info("edge-gateway %s ready: %s", __version__, self.status_line())
        self._started = True
        if self._reload_asked:
            self.reload()

    async def _start_components(self) -> list:
        return await start_components(self)

    async def _heartbeats(self, loop_beat, broker_beat) -> None:  # noqa: ANN001
        """Beat for the loop itself, and for the broker's timer task only while it ticks."""
        while True:
            loop_beat.beat()
            if self.broker.clock() - self.broker.last_tick < 5:
                broker_beat.beat()
            for check in self.heartbeat_checks:
                check()
            self.notifier.status(self.status_line())
            await asyncio.sleep(2)

    def status_line(self) -> str:
        """STATUS= for systemctl status: clients, each component's own summary (sensors online,
        relays available, each bridge's link state and backlog), messages queued for clients."""
        stats = self.broker.core.stats
        queued = sum(len(s.queue) for s in self.broker.core.sessions.values())
        parts = [f"{stats.clients_connected} client(s)"]
        parts += [service.summary() for service in self.services if hasattr(service, "summary")]
        parts.append(f"{queued} queued message(s)")
        if self.store is not None and self.store.state != "ok":  # full / failing: refusing QoS 1/2
            parts.append(f"store {self.store.state} ({self.store.refusing})")
        if self.reload_note is not None:
            parts.append(self.reload_note)
        return ", ".join(parts)

    def reload(self) -> None:
        """SIGHUP: reload the config file (gateway.reloader), or without one the auth files."""
        if not self._started:
            self._reload_asked = True
            return
        if self.reloader is not None:
            self.reloader.request()
            return
        self.notifier.reloading()
        try:
            self.auth.reload()
            unreadable = self.broker.core.unreadable_subscriptions()
            log.info(
                "reloaded password and ACL files; %d subscription(s) can deliver nothing now",
                unreadable,
            )
        except Exception as exc:  # noqa: BLE001 - keep running with the old files
            log.error("reload failed, keeping the previous files: %s", exc)
        self.notifier.ready(self.status_line())

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        self.notifier.stopping()
        log.info("stopping")
        if self.reloader is not None:  # a reload half applied is finished by no one: cancel it
            await self.reloader.cancel()
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:  # the rest must still stop
                log.exception("stopping %s failed", type(service).__name__)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.broker.stop()
        if self.store is not None:  # the last commit, after every client is gone
            await self.store.close()
        log.info("stopped")


async def run(config: GatewayConfig, path: str | Path | None = None) -> None:
    gateway = Gateway(config, config_path=path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.request_stop)
    loop.add_signal_handler(signal.SIGHUP, gateway.reload)
    await gateway.start()
    try:
        await gateway.wait()
    finally:
        await gateway.stop()


FD_RESERVE = 200  # open files besides client sockets; systemd/edge-gateway.service's LimitNOFILE=


def open_file_limit_warning(max_connections: int) -> str | None:
    """A warning when this process may not open max_connections sockets plus what the gateway
    itself holds (past the limit, accept() fails and listeners stall)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FD_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    return (
        f"the open-file limit is {soft}, below broker.max_connections {max_connections} + "
        f"{FD_RESERVE}: raise LimitNOFILE= (systemctl edit edge-gateway) or lower "
        "max_connections"
    )


def run_from_path(
    path: str | Path,
    loop: str = "auto",
    loaded: tuple[GatewayConfig, list[str]] | ConfigError | None = None,
) -> int:
    """`edge-gateway run`: an ExitCode. A config or file problem is one line naming the file and
    the key, never a traceback; only a bug prints one (ExitCode.INTERNAL). `loaded` is what
    `edge-gateway run` loaded: plain records validated, and checked as `check-config` checks them
    (gateway.preflight), in a child process (gateway.modelbase), with the warnings; without it the
    file is loaded and checked here."""
    try:
        if isinstance(loaded, ConfigError):
            raise loaded
        config, warnings = loaded if loaded is not None else _load_and_check(path)
    except ConfigError as exc:
        setup_logging("INFO")
        for problem in exc.problems:
            log.error("%s: %s", exc.path, problem)
        return ExitCode.CONFIG
    setup_logging(config.gateway.log_level)
    for warning in warnings:
        log.warning("%s: warning: %s", path, warning)
    limit_warning = open_file_limit_warning(config.broker.max_connections)
    if limit_warning is not None:
        log.warning("%s", limit_warning)
    try:
        runner = _event_loop_runner(loop)
    except ImportError:
        log.error("--loop uvloop: uvloop is not installed (pip install 'pi-edge-gateway[fast]')")
        return ExitCode.ENVIRONMENT
    return _run_until_stopped(runner, config, str(path))


def _load_and_check(path: str | Path) -> tuple[GatewayConfig, list[str]]:
    """In this process (pydantic models): what the child does under `edge-gateway run`."""
    from gateway.preflight import check

    config = load(path)
    found = check(config)
    if found.errors:
        raise ConfigError(str(path), found.errors)
    return config, found.warnings


def _run_until_stopped(runner, config: GatewayConfig, path: str) -> int:  # noqa: ANN001
    try:
        runner(run(config, path))  # outside any `except`: its tracebacks carry no ImportError chain
    except (SensorSetupError, RelaySetupError) as exc:  # a config or library problem in a driver
        log.error("%s: %s", path, exc)
        return ExitCode.CONFIG
    except PinFactoryError as exc:  # GPIO configured, no GPIO library that works here
        log.error(
            "%s: GPIO sensors or relays are configured, but %s (on a PC: demo = true, or "
            "GPIOZERO_PIN_FACTORY=mock)",
            path,
            exc,
        )
        return ExitCode.ENVIRONMENT
    except Exception as exc:  # the machine refused, or a bug
        if _environment_error(exc):  # a port in use, a state directory it cannot write
            log.error("%s: cannot start: %s", path, _describe(exc))
            return ExitCode.ENVIRONMENT
        log.exception("%s: internal error (a bug; please report it with this traceback)", path)
        return ExitCode.INTERNAL
    return ExitCode.OK


def _environment_error(exc: BaseException) -> bool:
    """An OSError, or SQLite's (imported only with [store] enabled) failing to open the store."""
    sqlite3 = sys.modules.get("sqlite3")
    return isinstance(exc, OSError) or (sqlite3 is not None and isinstance(exc, sqlite3.Error))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def _event_loop_runner(loop: str):  # noqa: ANN202
    """uvloop.run when asked for or ("auto") installed, else asyncio.run. ImportError when
    "uvloop" is asked for and missing."""
    if loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise
        else:
            return uvloop.run
    return asyncio.run


if __name__ == "__main__":
    sys.exit(run_from_path(sys.argv[1]))
