"""Whether the wall clock can be trusted: a Raspberry Pi has no real-time clock and boots with the
time it saved at shutdown (or 1970) until NTP corrects it, hours or months later.

How it works. `probe()` answers "is the clock synchronised?" the way systemd does:
systemd-timesyncd creates `/run/systemd/timesync/synchronized` once it has synchronised (the file
lives in /run, so it is gone after a reboot until timesyncd syncs again). Where timesyncd does not
run (its directory is absent: chrony or ntpd keep the time, or this is a container or a PC),
`timedatectl show -p NTPSynchronized --value` asks systemd-timedated, which reads the kernel's
NTP status whoever keeps the time. Where neither answers (no systemd at all), the clock is trusted,
and the log says so once. `clock_check = "trust"` in [gateway] skips all this (a board with an RTC).

`ClockWatch` looks every `CHECK` seconds (timedatectl, a process, every `SLOW_CHECK`) and tells the
rest of the gateway: `synchronized` (read by the sensor payloads, the relays' admission of timed
commands, the schedules, the diagnostics and the web API), `$SYS/broker/clock/synchronized`
(retained, `true` / `false`) and `$SYS/broker/clock/jumps`, the number of times the wall clock moved
against the monotonic clock by more than `JUMP` seconds between two looks (one log line each).
The broker's own timers (keepalive, will delay, session and message expiry) run on the monotonic
clock, so a jump does not expire sessions.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TIMESYNC_DIR = Path("/run/systemd/timesync")  # systemd-timesyncd's runtime directory
TIMEDATECTL = ("timedatectl", "show", "-p", "NTPSynchronized", "--value")
CHECK = 5.0  # seconds between looks at timesyncd's file (a stat)
SLOW_CHECK = 60.0  # seconds between timedatectl runs
JUMP = 120.0  # a wall-clock move against the monotonic clock beyond this is a jump


def probe(
    timesync_dir: Path = TIMESYNC_DIR, timedatectl: tuple[str, ...] | None = TIMEDATECTL
) -> tuple[bool, str]:
    """(synchronised, how we know): 'timesyncd', 'timedatectl', or 'no time service' (trusted)."""
    if timesync_dir.is_dir():
        return (timesync_dir / "synchronized").exists(), "timesyncd"
    if timedatectl is not None:
        try:
            answer = subprocess.run(
                timedatectl, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            answer = None
        if answer is not None and answer.returncode == 0 and answer.stdout.strip() in ("yes", "no"):
            return answer.stdout.strip() == "yes", "timedatectl"
    return True, "no time service"


class ClockStatus:
    """What the gateway knows about its clock; `ClockWatch` keeps it current."""

    def __init__(self, synchronized: bool = True, source: str = "trust") -> None:
        self.synchronized = synchronized
        self.source = source
        self.jumps = 0
        self.since: float | None = None  # monotonic time of the last change
        self._synced: asyncio.Event | None = None  # made on the first wait (inside the loop)
        self.listeners: list[Callable[[ClockStatus], Any]] = []

    def set(self, synchronized: bool, source: str, mono: float) -> bool:
        """Record a probe's answer; True when it changed."""
        changed = synchronized != self.synchronized or source != self.source
        self.synchronized, self.source = synchronized, source
        if changed:
            self.since = mono
        if synchronized and self._synced is not None:
            self._synced.set()
        return changed

    async def wait_synchronized(self) -> None:
        if self.synchronized:
            return
        if self._synced is None:
            self._synced = asyncio.Event()
        await self._synced.wait()

    def sys_values(self) -> dict[str, str]:
        return {
            "clock/synchronized": "true" if self.synchronized else "false",
            "clock/jumps": str(self.jumps),
        }


def trusted() -> ClockStatus:
    """A clock that is always right (tests, `clock_check = "trust"`)."""
    return ClockStatus(True, "trust")


class ClockWatch:
    """Keeps a `ClockStatus` current and publishes it under $SYS (a component of the gateway)."""

    def __init__(
        self,
        status: ClockStatus,
        broker: Any,
        *,
        mode: str = "auto",
        timesync_dir: Path = TIMESYNC_DIR,
        timedatectl: tuple[str, ...] | None = TIMEDATECTL,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        check: float = CHECK,
    ) -> None:
        self.status, self.broker, self.mode = status, broker, mode
        self.timesync_dir, self.timedatectl = timesync_dir, timedatectl
        self.wall, self.mono, self.check = wall, mono, check
        self._offset = wall() - mono()
        self._published: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_slow = -SLOW_CHECK

    async def start(self) -> None:
        await self.look()
        self._task = asyncio.create_task(self._loop(), name="clock-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def summary(self) -> str:
        return "clock synchronised" if self.status.synchronized else "clock NOT synchronised"

    async def look(self) -> None:
        mono = self.mono()
        self._jumped(mono)
        if self.mode == "trust":
            changed = self.status.set(True, "trust", mono)
        elif self.timesync_dir.is_dir():
            changed = self.status.set(*probe(self.timesync_dir, None), mono)
        elif mono - self._last_slow >= SLOW_CHECK or self.status.source in ("trust", "timesyncd"):
            self._last_slow = mono
            answer = await asyncio.to_thread(probe, self.timesync_dir, self.timedatectl)
            changed = self.status.set(*answer, mono)
        else:
            changed = False
        if changed:
            self._log()
        self._publish()

    def _jumped(self, mono: float) -> None:
        offset = self.wall() - mono
        moved, self._offset = offset - self._offset, offset
        if abs(moved) > JUMP:
            self.status.jumps += 1
            log.warning(
                "clock: the wall clock jumped %+.0f s (against the monotonic clock); "
                "schedules recompute their next times from the new time",
                moved,
            )

    def _log(self) -> None:
        s = self.status
        if s.source == "no time service":
            log.warning(
                "clock: neither systemd-timesyncd nor timedatectl can say whether the clock "
                'is synchronised here: it is trusted as it is (clock_check = "trust" '
                "says so explicitly)"
            )
        elif s.synchronized:
            log.info("clock: synchronised (%s)", s.source)
        else:
            log.warning(
                'clock: not synchronised yet (%s): sensor payloads carry no "ts", '
                "timed relay commands are refused, schedules wait",
                s.source,
            )

    def _publish(self) -> None:
        from gateway.mqtt.enums import QoS
        from gateway.mqtt.packets import Publish

        core, now = self.broker.core, self.broker.clock()
        for key, value in self.status.sys_values().items():
            if self._published.get(key) == value:
                continue
            self._published[key] = value
            topic = f"$SYS/broker/{key}"
            core.route_publish(
                Publish(topic, value.encode(), QoS.AT_MOST_ONCE, True), topic, "$SYS", now, own=True
            )
        self.broker.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            await self.look()
