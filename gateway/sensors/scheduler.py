"""The sensor service: one asyncio task per sensor, publishing through an in-process client.

How it works. Each sensor's task loops: open the driver if needed, `read()` it in a worker thread
under the sensor's timeout (gateway.sensors.worker: a hung read holds one thread and makes later
attempts fail fast as "busy"), publish, then sleep on the injected clock until the next slot of its
own fixed-rate schedule — or, after a failure, for an exponential backoff capped at `backoff_max`.
The decisions (backoff, schedule, publish-on-change, availability) are pure functions in
gateway.sensors.policy. Drivers with `set_listener` (GPIO inputs) also report changes the moment they
happen: gpiozero's thread hands the reading to the loop with call_soon_threadsafe, into a bounded
queue (overflow: the event is dropped and counted; the next poll repairs the state), drained by one
more task per such sensor that publishes at once.

`status()` returns counters per sensor and `last_progress`, the monotonic time at which any sensor
last completed an attempt or event: the heartbeat for the systemd watchdog. `overdue(now, grace)`
names sensors whose task has fallen behind its schedule by more than timeout + grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from drivers.base import Reading
from gateway.broker.local import LocalClient
from gateway.sensors.clock import Clock, SystemClock
from gateway.sensors.config import HomeAssistantConfig, SensorBase
from gateway.sensors.discovery import DeviceInfo, DiscoveredSensor, Discovery
from gateway.sensors.payloads import plain_payload, state_payload
from gateway.sensors.policy import Availability, ChangeFilter, backoff_delay, next_due
from gateway.sensors.registry import BuiltSensor, Resources, build_sensors
from gateway.sensors.topics import OFFLINE, SensorTopics, topics_for
from gateway.sensors.worker import SensorBusy, SensorTimeout, Worker, run_in_thread

log = logging.getLogger(__name__)

EVENT_QUEUE_LIMIT = 64
CLOSE_TIMEOUT = 2.0


@runtime_checkable
class EventSource(Protocol):
    def set_listener(self, listener: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class SensorStatus:
    name: str
    online: bool | None
    reads: int
    failures: int
    consecutive_failures: int
    timeouts: int
    busy: int
    published: int
    publish_errors: int
    events: int
    events_dropped: int
    last_error: str | None
    last_success: float | None
    next_due: float | None


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    running: bool
    last_progress: float
    sensors: tuple[SensorStatus, ...]


@dataclass
class _Unit:
    built: BuiltSensor
    topics: SensorTopics
    worker: Worker
    change: ChangeFilter
    availability: Availability
    events: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(EVENT_QUEUE_LIMIT))
    publish_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    opened: bool = False
    latest: dict[str, Reading] = field(default_factory=dict)
    last_values: dict[str, object] | None = None
    last_publish: float | None = None
    event_seq: int = 0
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("reads", "failures", "timeouts", "busy", "published", "publish_errors", "events",
         "events_dropped"), 0))
    last_error: str | None = None
    last_success: float | None = None
    next_due: float | None = None

    @property
    def config(self) -> SensorBase:
        return self.built.config

    @property
    def name(self) -> str:
        return self.built.config.name


class SensorService:
    def __init__(self, sensors: Sequence[BuiltSensor], client: LocalClient, *, base_topic: str,
                 clock: Clock | None = None, resources: Resources | None = None,
                 discovery: Discovery | None = None) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._resources = resources
        self._discovery = discovery
        self._units = [self._unit(s, base_topic) for s in sensors]
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_progress = self._clock.monotonic()

    @classmethod
    def from_config(cls, configs: Sequence[SensorBase], client: LocalClient, *, base_topic: str,
                    homeassistant: HomeAssistantConfig | None = None, node_id: str = "gateway",
                    gateway_availability: str | None = None, pin_factory: Any = None,
                    clock: Clock | None = None, resources: Resources | None = None) -> SensorService:
        """Build every driver (raises SensorSetupError naming the sensor) and the discovery."""
        resources = resources or Resources(pin_factory=pin_factory)
        built = build_sensors(configs, resources)
        discovery = None
        if homeassistant is not None and homeassistant.discovery:
            node = homeassistant.node_id or node_id
            device = DeviceInfo(node, homeassistant.device_name or f"Pi Edge Gateway {node}")
            described = [_describe(b, base_topic) for b in built]
            discovery = Discovery(client, device, described, prefix=homeassistant.prefix,
                                  gateway_availability=gateway_availability)
        return cls(built, client, base_topic=base_topic, clock=clock, resources=resources,
                   discovery=discovery)

    def _unit(self, built: BuiltSensor, base_topic: str) -> _Unit:
        c = built.config
        lock = self._resources.locks.get(built.resource) if self._resources and built.resource else None
        return _Unit(built, topics_for(base_topic, c.name, c.topic), Worker(c.name, self._clock, lock),
                     ChangeFilter(c.on_change, dict(c.deadband), c.max_silence),
                     Availability(c.offline_after))

    @property
    def drivers(self) -> dict[str, Any]:
        """Sensor name -> its driver instance."""
        return {u.name: u.built.driver for u in self._units}

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._discovery is not None:
            await self._discovery.start()
        for unit in self._units:
            if isinstance(unit.built.driver, EventSource):
                unit.built.driver.set_listener(lambda reading, u=unit: self._from_thread(u, reading))
                self._tasks.append(asyncio.create_task(self._drain_events(unit),
                                                       name=f"sensor-events:{unit.name}"))
            self._tasks.append(asyncio.create_task(self._run(unit), name=f"sensor:{unit.name}"))
        log.info("sensors: started %d sensor(s)", len(self._units))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._discovery is not None:
            await self._discovery.stop()
        for unit in self._units:
            if isinstance(unit.built.driver, EventSource):
                unit.built.driver.set_listener(None)
            await self._publish(unit, unit.topics.availability, OFFLINE, retain=True)
            await self._close_driver(unit)
        if self._resources is not None:
            self._resources.close()
        log.info("sensors: stopped")

    async def _close_driver(self, unit: _Unit) -> None:
        if not unit.opened:
            return
        unit.opened = False
        try:
            await asyncio.wait_for(run_in_thread(unit.built.driver.close, f"close-{unit.name}"),
                                   CLOSE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - shutdown goes on
            log.warning("sensor %s: close failed: %s", unit.name, exc)

    # --- the per-sensor loop ----------------------------------------------------------------------

    async def _run(self, unit: _Unit) -> None:
        due = self._clock.monotonic()
        while True:
            ok = await self._attempt(unit)
            now = self._clock.monotonic()
            self.last_progress = now
            if ok:
                due = next_due(due, now, unit.config.interval)
            else:
                failures = unit.availability.consecutive_failures
                due = now + backoff_delay(unit.config.interval, failures, unit.config.backoff_max)
            unit.next_due = due
            await self._clock.sleep(max(0.0, due - now))

    async def _attempt(self, unit: _Unit) -> bool:
        seq = unit.event_seq
        unit.counters["reads"] += 1
        try:
            if not unit.opened:
                await unit.worker.call(unit.built.driver.open, unit.config.timeout)
                unit.opened = True
            readings = await unit.worker.call(unit.built.driver.read, unit.config.timeout)
            payload = state_payload(readings, self._clock.time(), unit.config.decimals)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver failure is counted, logged, retried
            await self._failed(unit, exc)
            return False
        await self._succeeded(unit, readings, payload, stale=seq != unit.event_seq)
        return True

    async def _failed(self, unit: _Unit, exc: Exception) -> None:
        unit.counters["failures"] += 1
        if isinstance(exc, SensorTimeout):
            unit.counters["timeouts"] += 1
        elif isinstance(exc, SensorBusy):
            unit.counters["busy"] += 1
        unit.last_error = f"{type(exc).__name__}: {exc}"
        change = unit.availability.failure()
        log.warning("sensor %s: read failed (%d in a row): %s", unit.name,
                    unit.availability.consecutive_failures, unit.last_error)
        if change is not None:
            await self._publish(unit, unit.topics.availability, change, retain=True)
        if unit.availability.consecutive_failures % unit.availability.offline_after == 0 and \
                self._resources is not None and unit.built.resource is not None:
            await self._recover(unit)

    async def _recover(self, unit: _Unit) -> None:
        """An I2C bus that locks up is reopened where the hardware allows it."""
        try:
            if await asyncio.to_thread(self._resources.recover, unit.built.resource):
                unit.counters["bus_recoveries"] = unit.counters.get("bus_recoveries", 0) + 1
        except OSError as exc:
            log.error("sensor %s: bus recovery failed: %s", unit.name, exc)

    async def _succeeded(self, unit: _Unit, readings: list[Reading], payload: bytes, stale: bool) -> None:
        now = self._clock.monotonic()
        unit.last_success = now
        change = unit.availability.success()
        if change is not None:
            log.info("sensor %s: online", unit.name)
            await self._publish(unit, unit.topics.availability, change, retain=True)
        if stale:  # a GPIO event arrived while this read ran: the event is newer
            return
        unit.latest.update((r.quantity, r) for r in readings)
        if unit.change.should_publish(readings, unit.last_values, unit.last_publish, now):
            await self._publish_state(unit, readings, payload, now)

    async def _publish_state(self, unit: _Unit, readings: list[Reading], payload: bytes, now: float) -> None:
        c = unit.config
        async with unit.publish_lock:
            await self._publish(unit, unit.topics.state, payload, retain=c.retain)
            if c.plain_topics:
                for r in readings:
                    await self._publish(unit, unit.topics.quantity(r.quantity),
                                        plain_payload(r, c.decimals), retain=c.retain)
        unit.last_values = {q: r.value for q, r in unit.latest.items()}
        unit.last_publish = now

    async def _publish(self, unit: _Unit, topic: str, payload: bytes, *, retain: bool) -> None:
        try:
            await self._client.publish(topic, payload, qos=unit.config.qos, retain=retain)
            unit.counters["published"] += 1
        except Exception as exc:  # noqa: BLE001 - a full queue must not stop the sensor
            unit.counters["publish_errors"] += 1
            log.warning("sensor %s: publish to %s failed: %s", unit.name, topic, exc)

    # --- GPIO events --------------------------------------------------------------------------------

    def _from_thread(self, unit: _Unit, reading: Reading) -> None:
        """Called in gpiozero's thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._enqueue, unit, reading)
        except RuntimeError:
            pass  # the loop is closed: shutting down

    def _enqueue(self, unit: _Unit, reading: Reading) -> None:
        unit.event_seq += 1
        try:
            unit.events.put_nowait(reading)
        except asyncio.QueueFull:
            unit.counters["events_dropped"] += 1
            log.warning("sensor %s: event queue full, dropped a change of %s", unit.name, reading.quantity)

    async def _drain_events(self, unit: _Unit) -> None:
        while True:
            reading = await unit.events.get()
            unit.counters["events"] += 1
            unit.latest[reading.quantity] = reading
            readings = list(unit.latest.values())
            now = self._clock.monotonic()
            await self._publish_state(unit, readings, state_payload(readings, self._clock.time(),
                                                                    unit.config.decimals), now)
            self.last_progress = now

    # --- health -------------------------------------------------------------------------------------

    def status(self) -> ServiceStatus:
        return ServiceStatus(bool(self._tasks), self.last_progress,
                             tuple(self._sensor_status(u) for u in self._units))

    def overdue(self, now: float, grace: float = 5.0) -> tuple[str, ...]:
        """Sensors whose task missed its next attempt by more than timeout + grace (a stuck loop)."""
        return tuple(u.name for u in self._units
                     if u.next_due is not None and now > u.next_due + u.config.timeout * 2 + grace)

    @staticmethod
    def _sensor_status(u: _Unit) -> SensorStatus:
        c = u.counters
        return SensorStatus(u.name, u.availability.online, c["reads"], c["failures"],
                            u.availability.consecutive_failures, c["timeouts"], c["busy"],
                            c["published"], c["publish_errors"], c["events"], c["events_dropped"],
                            u.last_error, u.last_success, u.next_due)


def _describe(built: BuiltSensor, base_topic: str) -> DiscoveredSensor:
    c = built.config
    return DiscoveredSensor(c.name, c.label or c.name, topics_for(base_topic, c.name, c.topic),
                            tuple(built.driver.quantities), dict(c.device_class))
