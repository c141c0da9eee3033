"""The gateway's own state in one small record: clients, queued messages, store, uptime, the CPU
temperature where the board has a thermal sensor, each cloud bridge's link, and whether the clock
is synchronised (gateway.timesync).

`collect(gateway)` reads it from the running objects (the same in-process state `$SYS` and the
STATUS= line come from). `DiagnosticsPublisher` publishes it as compact JSON on
`<base>/gateway/diagnostics` (QoS 0, not retained): when something other than the uptime and the
temperature changed (looked at every `CHECK` seconds), and at least every `HEARTBEAT` seconds.
Not retained and QoS 0, so it is never written to the SD card and never queued for an offline
session; Home Assistant's diagnostic entities (gateway.discovery) read it and expire after three
missed heartbeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gateway.lazyexports import instances_of
from gateway.mqtt.enums import QoS

log = logging.getLogger(__name__)

#: the Linux thermal zone of the SoC (on a Raspberry Pi: the BCM283x/BCM2711/BCM2712 sensor)
CPU_THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
CHECK = 5.0  # seconds between looks at the state
HEARTBEAT = 60.0  # publish at least this often (Home Assistant's expire_after is 3x this)

#: the store's states, for Home Assistant's enum sensor
STORE_STATES = ("off", "ok", "full", "failing", "quarantined")


@dataclass(frozen=True, slots=True)
class BridgeLink:
    connected: bool
    queued: int


@dataclass(frozen=True, slots=True)
class Diagnostics:
    clients: int
    queued: int  # messages queued for clients and bridges, all sessions
    uptime: int  # seconds since the broker started
    store: str  # one of STORE_STATES
    cpu_temperature: float | None = None  # °C; None where the board has no thermal zone
    bridges: dict[str, BridgeLink] = field(default_factory=dict)
    clock_synchronized: bool = True  # gateway.timesync: is the wall clock known to be right
    # bridges removed from the config whose queue is kept until it expires: messages held
    removed_bridges: dict[str, int] = field(default_factory=dict)

    def payload(self) -> bytes:
        body = asdict(self)
        if self.cpu_temperature is None:
            del body["cpu_temperature"]
        if not self.removed_bridges:
            del body["removed_bridges"]
        return json.dumps(body, separators=(",", ":")).encode()

    def same_apart_from_time(self, other: Diagnostics | None) -> bool:
        """Equal but for uptime and temperature, which change all the time."""
        return other is not None and (
            self.clients,
            self.queued,
            self.store,
            self.bridges,
            self.clock_synchronized,
            self.removed_bridges,
        ) == (
            other.clients,
            other.queued,
            other.store,
            other.bridges,
            other.clock_synchronized,
            other.removed_bridges,
        )


def read_cpu_temperature(path: Path = CPU_THERMAL) -> float | None:
    """°C from a thermal zone's millidegrees, or None when the file is absent or unreadable.
    A sysfs read answered by the kernel from a register: no bus I/O, safe on the event loop."""
    try:
        return round(int(path.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


def store_state(store: Any) -> str:
    """The store's own state (ok, full, failing: what it refuses and why), "quarantined" while it
    is ok but started on a fresh file after setting a corrupt one aside, "off" without [store]."""
    if store is None:
        return "off"
    state = store.state
    return "quarantined" if state == "ok" and store.quarantined else state


def bridge_links(services: list[Any]) -> dict[str, BridgeLink]:
    bridges = instances_of(services, "gateway.bridge.service", "BridgeService")
    if not bridges:
        return {}
    from gateway.bridge.service import LinkState

    return {
        s.name: BridgeLink(
            s.state is LinkState.CONNECTED,
            0 if s.forwarder is None else s.forwarder.session.queued_count,
        )
        for s in bridges
    }


def removed_bridges(core: Any) -> dict[str, int]:
    """The bridges removed from the config whose session (`$bridge/<name>`, its queue) is kept
    until it expires (gateway.bridge.orphans: a configured bridge's session never expires), with
    the messages each holds."""
    from gateway.broker.core import RESERVED_CLIENT_ID_PREFIX as PREFIX

    return {
        cid[len(PREFIX) :]: s.queued_count + len(s.inflight)
        for cid, s in core.sessions.items()
        if cid.startswith(PREFIX) and s.expires_at() is not None
    }


def collect(
    gateway: Any, services: list[Any] | None = None, thermal: Path | None = CPU_THERMAL
) -> Diagnostics:
    """The state of a running `gateway.app.Gateway` (`services`: its components, by default
    `gateway.services`; given while they are still starting)."""
    core = gateway.broker.core
    return Diagnostics(
        clients=core.stats.clients_connected,
        queued=sum(len(s.queue) for s in core.sessions.values()),
        uptime=max(0, int(gateway.broker.clock() - core.stats.started_at)),
        store=store_state(gateway.store),
        cpu_temperature=read_cpu_temperature(thermal) if thermal is not None else None,
        bridges=bridge_links(gateway.services if services is None else services),
        clock_synchronized=getattr(getattr(gateway, "clock_status", None), "synchronized", True),
        removed_bridges=removed_bridges(core),
    )


class DiagnosticsPublisher:
    """Publishes `collect(gateway)` on `topic`; a component of the gateway (started last)."""

    def __init__(
        self,
        gateway: Any,
        client: Any,
        topic: str,
        *,
        services: list[Any] | None = None,
        thermal: Path | None = CPU_THERMAL,
        check: float = CHECK,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.gateway, self.client, self.topic, self.services = gateway, client, topic, services
        self.thermal, self.check, self.heartbeat = thermal, check, heartbeat
        self.last: Diagnostics | None = None
        self._last_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def has_cpu_temperature(self) -> bool:
        return self.thermal is not None and read_cpu_temperature(self.thermal) is not None

    async def start(self) -> None:
        await self.publish()
        self._task = asyncio.create_task(self._loop(), name="diagnostics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def collect(self) -> Diagnostics:
        return collect(self.gateway, self.services, self.thermal)

    async def publish(self, state: Diagnostics | None = None) -> None:
        """Publish the current state now (also when Home Assistant has just come online)."""
        self.last = state or self.collect()
        self._last_at = self.gateway.broker.clock()
        await self.client.publish(self.topic, self.last.payload(), qos=QoS.AT_MOST_ONCE)

    def due(self, current: Diagnostics, now: float) -> bool:
        """Publish `current` now: something but the uptime and temperature changed, or the
        heartbeat is due."""
        return not current.same_apart_from_time(self.last) or now - self._last_at >= self.heartbeat

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check)
            current = self.collect()
            if self.due(current, self.gateway.broker.clock()):
                await self.publish(current)
