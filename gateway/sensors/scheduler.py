"""The sensor service: one asyncio task per sensor, publishing through an in-process client.

How it works. Each sensor's task loops: open the driver if needed, `read()` it in a worker thread
under the sensor's timeout (gateway.sensors.worker: a hung read holds one thread and makes later
attempts fail fast as "busy"), publish, then sleep on the injected clock until the next slot of its
own fixed-rate schedule — or, after a failure, for an exponential backoff capped at `backoff_max`.
"Open the driver" first opens its I2C bus or serial port when that is closed (gateway.sensors.
resources): a device that cannot be opened (absent hardware) makes the sensor offline at once and
is retried with the same backoff; a serial port that fails at run time, or an I2C bus whose sensors
keep failing, is closed and opened again by a later attempt, and every driver on it runs its own
`open()` again.
The decisions (backoff, schedule, publish-on-change, availability) are pure functions in
gateway.sensors.policy. Drivers with `set_listener` (GPIO inputs) also report changes the moment they
happen: gpiozero's thread hands the reading to the loop with call_soon_threadsafe, into a bounded
queue (overflow: the event is dropped and counted; the next poll repairs the state), drained by one
more task per such sensor that publishes at once.

Pulse counters with `persist = true` continue from the count saved in the state directory
(gateway.sensors.counters): restored before their first open, saved after a read when the count
changed and `persist_interval` passed, and at stop.

CO2 sensors with forced recalibration or self-calibration get command topics
(gateway.sensors.commands): their task runs a queued command while it waits for the next
reading, in the same worker, so a command never overlaps a read.

`status()` returns counters per sensor and `last_progress`, the monotonic time at which any sensor
last completed an attempt or event: the heartbeat for the systemd watchdog. `overdue(now, grace)`
names sensors whose task has fallen behind its schedule by more than timeout + grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import termios
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from drivers.base import DriverError, Reading
from gateway.broker.local import LocalClient, LocalMessage
from gateway.discovery import DiscoveredSensor, human
from gateway.logfields import fields
from gateway.ratelog import RateLimitedLog
from gateway.sensors import commands
from gateway.sensors.clock import Clock, SystemClock
from gateway.sensors.config import SensorBase
from gateway.sensors.counters import CounterStore
from gateway.sensors.payloads import plain_payload, state_payload
from gateway.sensors.policy import Availability, ChangeFilter, backoff_delay, next_due
from gateway.sensors.registry import (
    BuiltSensor,
    Resources,
    SensorSetupError,
    build_sensors,
    compensation_problems,
    published_quantities,
)
from gateway.sensors.resources import DeviceUnavailable, SharedDevice
from gateway.sensors.topics import OFFLINE, SensorTopics, topics_for
from gateway.sensors.worker import SensorBusy, SensorTimeout, Worker, run_in_thread
from gateway.timesync import trusted

log = logging.getLogger(__name__)

EVENT_QUEUE_LIMIT = 64
CLOSE_TIMEOUT = 2.0


@runtime_checkable
class EventSource(Protocol):
    def set_listener(self, listener: Any) -> None: ...


@runtime_checkable
class Counting(Protocol):
    """A driver whose count can be saved and restored (drivers.gpio.pulse.PulseCounter)."""

    @property
    def count(self) -> int: ...
    def restore(self, count: int) -> None: ...


@runtime_checkable
class Compensating(Protocol):
    """A gas sensor that takes another sensor's temperature and humidity (SGP30, SGP40)."""

    def compensate(self, temperature: float, humidity: float) -> None: ...


def _counter(unit: _Unit) -> Counting:
    """The driver of a unit with persist = true (from_config checked that it counts)."""
    driver = unit.built.driver
    assert isinstance(driver, Counting)
    return driver


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
    commands: asyncio.Queue = field(
        default_factory=lambda: asyncio.Queue(commands.COMMAND_QUEUE_LIMIT)
    )
    supported: tuple[str, ...] = ()  # the commands its driver has (gateway.sensors.commands)
    publish_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    device: SharedDevice | None = None  # the shared bus or port, if any
    opened: bool = False
    generation: int = 0  # of the device when the driver was opened
    device_missing: bool = False  # the last attempt could not open the device
    persist_every: float | None = None  # pulse counters with persist = true
    saved_count: int | None = None
    saved_at: float = 0.0
    latest: dict[str, Reading] = field(default_factory=dict)
    last_values: dict[str, object] | None = None
    last_publish: float | None = None
    event_seq: int = 0
    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "reads",
                "failures",
                "timeouts",
                "busy",
                "published",
                "publish_errors",
                "events",
                "events_dropped",
            ),
            0,
        )
    )
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
    def __init__(
        self,
        sensors: Sequence[BuiltSensor],
        client: LocalClient,
        *,
        base_topic: str,
        clock: Clock | None = None,
        resources: Resources | None = None,
        counters: CounterStore | None = None,
    ) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._resources = resources
        self.base_topic = base_topic
        self.clock_status = trusted()  # the gateway's (gateway.timesync): no "ts" until synced
        self._units = [self._unit(s, base_topic) for s in sensors]
        self._counters = counters
        self._persisted = [u for u in self._units if u.persist_every is not None]
        self._saved_counts: dict[str, int] = {}
        if self._persisted and counters is None:
            raise SensorSetupError(
                f"sensor {self._persisted[0].name!r}: persist = true needs a state directory"
            )
        self._compensated = self._compensation_targets()
        self._tasks: dict[str, list[asyncio.Task]] = {}  # sensor name -> its tasks
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_progress = self._clock.monotonic()
        self._command_log = RateLimitedLog(log, clock=self._clock.monotonic)
        # called with (sensor name, readings, monotonic time) after each good read or GPIO event;
        # the web page's in-memory history is one (an observer must be quick and must not raise)
        self.observers: list[Any] = []

    def _compensation_targets(self, check: bool = True) -> dict[str, list[_Unit]]:
        """Source sensor name -> the sensors that take its temperature and humidity
        (`compensation_sensor`, gas sensors). `check`: a source that is missing or reports no
        temperature and humidity is an error (not while a reload has removed a source that it
        is about to add again)."""
        problems = compensation_problems([u.built for u in self._units]) if check else []
        if problems:
            raise problems[0]
        targets: dict[str, list[_Unit]] = {}
        for unit in self._units:
            source = getattr(unit.config, "compensation_sensor", None)
            if source is not None:
                targets.setdefault(source, []).append(unit)
        return targets

    @classmethod
    def from_config(
        cls,
        configs: Sequence[SensorBase],
        client: LocalClient,
        *,
        base_topic: str,
        pin_factory: Any = None,
        clock: Clock | None = None,
        resources: Resources | None = None,
        state_dir: str | Path | None = None,
    ) -> SensorService:
        """Build every driver (raises SensorSetupError naming the sensor).
        `state_dir` holds the saved counts of pulse counters with persist = true."""
        resources = resources or Resources(pin_factory=pin_factory)
        built = build_sensors(configs, resources)
        counters = CounterStore(state_dir) if state_dir is not None else None
        return cls(
            built,
            client,
            base_topic=base_topic,
            clock=clock,
            resources=resources,
            counters=counters,
        )

    def _unit(self, built: BuiltSensor, base_topic: str) -> _Unit:
        c = built.config
        device = self._resources.device(built.resource) if self._resources else None
        lock = device.lock if device is not None else None
        persist_every = c.persist_interval if getattr(c, "persist", False) else None
        if persist_every is not None and not isinstance(built.driver, Counting):
            raise SensorSetupError(f"sensor {c.name!r}: its driver keeps no count to persist")
        return _Unit(
            built,
            topics_for(base_topic, c.name, c.topic),
            Worker(c.name, self._clock, lock),
            ChangeFilter(c.on_change, dict(c.deadband), c.max_silence),
            Availability(c.offline_after),
            device=device,
            persist_every=persist_every,
            supported=commands.supported(built.driver),
        )

    def discovered(self) -> list[DiscoveredSensor]:
        """What Home Assistant discovery announces of each sensor (gateway.discovery)."""
        return [
            DiscoveredSensor(
                u.name,
                u.built.config.label or human(u.name),
                u.topics,
                published_quantities(u.built),
                dict(u.built.config.device_class),
                u.supported,
            )
            for u in self._units
        ]

    @property
    def drivers(self) -> dict[str, Any]:
        """Sensor name -> its driver instance."""
        return {u.name: u.built.driver for u in self._units}

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._restore_counts()
        for unit in self._units:
            self._start_unit(unit)
        for unit in self._units:
            await self._subscribe_commands(unit)
        log.info("sensors: started %d sensor(s)", len(self._units))

    def _start_unit(self, unit: _Unit) -> None:
        tasks = self._tasks[unit.name] = []
        if isinstance(unit.built.driver, EventSource):
            unit.built.driver.set_listener(lambda reading, u=unit: self._from_thread(u, reading))
            tasks.append(
                asyncio.create_task(self._drain_events(unit), name=f"sensor-events:{unit.name}")
            )
        tasks.append(asyncio.create_task(self._run(unit), name=f"sensor:{unit.name}"))

    async def _stop_unit(self, unit: _Unit) -> None:
        tasks = self._tasks.pop(unit.name, [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(unit.built.driver, EventSource):
            unit.built.driver.set_listener(None)
        await self._publish(unit, unit.topics.availability, OFFLINE, retain=True)
        await self._close_driver(unit)

    async def stop(self) -> None:
        for unit in self._units:
            await self._unsubscribe_commands(unit)
        for unit in self._units:
            await self._stop_unit(unit)
        if any(_counter(u).count != u.saved_count for u in self._persisted):
            await self._save_counts()
        if self._resources is not None:
            self._resources.close()
        log.info("sensors: stopped")

    # --- reload: one sensor at a time; the others keep their tasks and schedules --------------------

    @property
    def names(self) -> list[str]:
        return [u.name for u in self._units]

    @property
    def configs(self) -> list[SensorBase]:
        """The configs of the sensors that run (a reload compares the file with these)."""
        return [u.config for u in self._units]

    async def remove(self, names: Sequence[str]) -> None:
        """Stop these sensors (offline published, driver closed, a persisted count saved) and
        close a bus or port that no remaining sensor uses."""
        going = [u for u in self._units if u.name in set(names)]
        for unit in going:
            await self._unsubscribe_commands(unit)
            await self._stop_unit(unit)
        if any(_counter(u).count != u.saved_count for u in going if u.persist_every):
            await self._save_counts()
        self._units = [u for u in self._units if u not in going]
        self._persisted = [u for u in self._persisted if u not in going]
        self._compensated = self._compensation_targets(check=False)
        used = {u.built.resource for u in self._units}
        for unit in going:
            if unit.built.resource is not None and unit.built.resource not in used:
                assert self._resources is not None
                self._resources.release(unit.built.resource)

    def reorder(self, names: Sequence[str]) -> None:
        """List the sensors in the config file's order (status page, STATUS=, discovery)."""
        rank = {name: i for i, name in enumerate(names)}
        self._units.sort(key=lambda u: rank.get(u.name, len(rank)))

    async def add(self, configs: Sequence[SensorBase], pin_factory: Any = None) -> None:
        """Build and start these sensors (SensorSetupError naming the sensor, before any starts);
        a pulse counter with persist = true continues from its saved count. `pin_factory`: the
        gateway's, used when this service had none (it started without GPIO sensors)."""
        assert self._resources is not None, "a service built by from_config"
        if pin_factory is not None:
            self._resources.adopt_pin_factory(pin_factory)
        built = build_sensors(configs, self._resources)
        units = [self._unit(b, self.base_topic) for b in built]
        if any(u.persist_every is not None for u in units) and self._counters is None:
            raise SensorSetupError("persist = true needs a state directory")
        problems = compensation_problems([u.built for u in self._units + units])
        if problems:
            raise problems[0]
        self._units += units
        self._persisted += [u for u in units if u.persist_every is not None]
        self._compensated = self._compensation_targets()
        await self._restore_counts(units)
        for unit in units:
            self._start_unit(unit)
            await self._subscribe_commands(unit)

    async def _close_driver(self, unit: _Unit) -> None:
        if not unit.opened:
            return
        unit.opened = False
        try:
            await asyncio.wait_for(
                run_in_thread(unit.built.driver.close, f"close-{unit.name}"), CLOSE_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - shutdown goes on
            log.warning(
                "sensor %s: close failed: %s", unit.name, exc, extra=fields(sensor=unit.name)
            )

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
            await self._wait(unit, max(0.0, due - now))

    async def _attempt(self, unit: _Unit) -> bool:
        seq = unit.event_seq
        unit.counters["reads"] += 1
        try:
            if self._needs_open(unit):
                await self._open_driver(unit)
            readings = await unit.worker.call(unit.built.driver.read, unit.config.timeout)
            if unit.built.filters is not None:
                readings = unit.built.filters.apply(readings, self._clock.monotonic())
            payload = state_payload(
                readings, self._clock.time(), unit.config.decimals, self.clock_status.synchronized
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver failure is counted, logged, retried
            await self._failed(unit, exc)
            return False
        await self._succeeded(unit, readings, payload, stale=seq != unit.event_seq)
        if unit.persist_every is not None:
            await self._save_counts_if_due(unit)
        return True

    @staticmethod
    def _needs_open(unit: _Unit) -> bool:
        device = unit.device
        return not unit.opened or (
            device is not None and (not device.is_open or device.generation != unit.generation)
        )

    async def _open_driver(self, unit: _Unit) -> None:
        """Open the sensor's bus or port if it is closed, then the driver (chip init), in the
        worker thread under the device's lock."""
        device, driver = unit.device, unit.built.driver

        def open_both() -> int:
            generation = device.ensure_open() if device is not None else 0
            driver.open()
            return generation

        unit.opened = False
        unit.generation = await unit.worker.call(open_both, unit.config.timeout)
        unit.opened = True
        if unit.device_missing and device is not None:
            log.info("sensor %s: %s opened", unit.name, device.path, extra=fields(sensor=unit.name))
        unit.device_missing = False

    # --- persisted pulse counts ---------------------------------------------------------------------

    async def _restore_counts(self, units: Sequence[_Unit] | None = None) -> None:
        persisted = [
            u for u in (self._units if units is None else units) if u.persist_every is not None
        ]
        if not persisted:
            return
        assert self._counters is not None
        self._saved_counts = await asyncio.to_thread(self._counters.load)
        now = self._clock.monotonic()
        for unit in persisted:
            saved = self._saved_counts.get(unit.name)
            if saved is not None:
                _counter(unit).restore(saved)
                log.info(
                    "sensor %s: pulse count %d restored from %s",
                    unit.name,
                    saved,
                    self._counters.path,
                    extra=fields(sensor=unit.name),
                )
            unit.saved_count, unit.saved_at = saved or 0, now

    async def _save_counts_if_due(self, unit: _Unit) -> None:
        assert unit.persist_every is not None
        if (
            _counter(unit).count != unit.saved_count
            and self._clock.monotonic() - unit.saved_at >= unit.persist_every
        ):
            await self._save_counts()

    async def _save_counts(self) -> None:
        """Save every persisted count in one atomic replace of the file."""
        assert self._counters is not None
        now = self._clock.monotonic()
        counts = {u.name: _counter(u).count for u in self._persisted}
        self._saved_counts.update(counts)
        try:
            await asyncio.to_thread(self._counters.save, dict(self._saved_counts))
        except OSError as exc:
            log.error("sensors: saving pulse counts to %s failed: %s", self._counters.path, exc)
            return
        for unit in self._persisted:
            unit.saved_count, unit.saved_at = counts[unit.name], now

    async def _failed(self, unit: _Unit, exc: Exception) -> None:
        unit.counters["failures"] += 1
        if isinstance(exc, SensorTimeout):
            unit.counters["timeouts"] += 1
        elif isinstance(exc, SensorBusy):
            unit.counters["busy"] += 1
        unit.last_error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, DeviceUnavailable):
            change = unit.availability.unavailable()
            self._log_unavailable(unit, exc)
        else:
            change = unit.availability.failure()
            log.warning(
                "sensor %s: read failed (%d in a row): %s",
                unit.name,
                unit.availability.consecutive_failures,
                unit.last_error,
                extra=fields(sensor=unit.name),
            )
        if change is not None:
            await self._publish(unit, unit.topics.availability, change, retain=True)
        if _port_lost(unit, exc) or _bus_stuck(unit):
            await self._reset_device(unit, exc)

    def _log_unavailable(self, unit: _Unit, exc: DeviceUnavailable) -> None:
        """One warning when a sensor's device goes missing; the retries log at debug level."""
        if unit.device_missing:
            log.debug(
                "sensor %s: %s (attempt %d)",
                unit.name,
                exc,
                unit.availability.consecutive_failures,
                extra=fields(sensor=unit.name),
            )
            return
        unit.device_missing = True
        log.warning(
            "sensor %s: %s; offline, retrying with backoff up to %g s",
            unit.name,
            exc,
            unit.config.backoff_max,
            extra=fields(sensor=unit.name),
        )

    async def _reset_device(self, unit: _Unit, exc: Exception) -> None:
        """Close the bus or port; the next attempt of each sensor on it opens it again."""
        device = unit.device
        assert device is not None
        if not device.is_open:
            return
        log.warning(
            "sensor %s: closing %s to reopen it (%s)",
            unit.name,
            device.path,
            unit.last_error,
            extra=fields(sensor=unit.name),
        )
        try:
            await unit.worker.call(device.reset, unit.config.timeout)
            unit.counters["device_resets"] = unit.counters.get("device_resets", 0) + 1
        except Exception as reset_exc:  # noqa: BLE001 - a later attempt tries again
            log.error(
                "sensor %s: closing %s failed: %s",
                unit.name,
                device.path,
                reset_exc,
                extra=fields(sensor=unit.name),
            )

    async def _succeeded(
        self, unit: _Unit, readings: list[Reading], payload: bytes, stale: bool
    ) -> None:
        now = self._clock.monotonic()
        unit.last_success = now
        change = unit.availability.success()
        if change is not None:
            log.info("sensor %s: online", unit.name, extra=fields(sensor=unit.name))
            await self._publish(unit, unit.topics.availability, change, retain=True)
        if stale:  # a GPIO event arrived while this read ran: the event is newer
            return
        if not readings:  # the device answered but has no value yet (a gas sensor warming up)
            return
        unit.latest.update((r.quantity, r) for r in readings)
        self._compensate(unit)
        self._observe(unit, readings, now)
        if unit.change.should_publish(readings, unit.last_values, unit.last_publish, now):
            await self._publish_state(unit, readings, payload, now)

    def _compensate(self, source: _Unit) -> None:
        temperature, humidity = source.latest.get("temperature"), source.latest.get("humidity")
        if temperature is None or humidity is None:
            return
        for target in self._compensated.get(source.name, ()):
            driver = target.built.driver
            assert isinstance(driver, Compensating)  # compensation_problems checked the targets
            driver.compensate(float(temperature.value), float(humidity.value))

    async def _publish_state(
        self, unit: _Unit, readings: list[Reading], payload: bytes, now: float
    ) -> None:
        c = unit.config
        async with unit.publish_lock:
            await self._publish(unit, unit.topics.state, payload, retain=c.retain)
            if c.plain_topics:
                for r in readings:
                    await self._publish(
                        unit,
                        unit.topics.quantity(r.quantity),
                        plain_payload(r, c.decimals),
                        retain=c.retain,
                    )
        unit.last_values = {q: r.value for q, r in unit.latest.items()}
        unit.last_publish = now

    async def _publish(self, unit: _Unit, topic: str, payload: bytes, *, retain: bool) -> None:
        try:
            await self._client.publish(topic, payload, qos=unit.config.qos, retain=retain)
            unit.counters["published"] += 1
        except Exception as exc:  # noqa: BLE001 - a full queue must not stop the sensor
            unit.counters["publish_errors"] += 1
            log.warning(
                "sensor %s: publish to %s failed: %s",
                unit.name,
                topic,
                exc,
                extra=fields(sensor=unit.name),
            )

    # --- commands (gateway.sensors.commands) ---------------------------------------------------------

    async def _subscribe_commands(self, unit: _Unit) -> None:
        state = unit.topics.state
        for name in unit.supported:

            async def handler(message: LocalMessage, u: _Unit = unit, n: str = name) -> None:
                await self._on_command(u, n, message)

            await self._client.subscribe(commands.command_topic(state, name), handler, qos=1)
        if commands.SELF_CALIBRATION in unit.supported:
            setting = bool(getattr(unit.built.driver, "self_calibration", False))
            await self._publish_setting(unit, setting)

    async def _unsubscribe_commands(self, unit: _Unit) -> None:
        for name in unit.supported:
            await self._client.unsubscribe(commands.command_topic(unit.topics.state, name))

    async def _on_command(self, unit: _Unit, name: str, message: LocalMessage) -> None:
        try:
            command = commands.parse(name, message.payload, retained=message.retain)
        except commands.CommandError as exc:
            await self._command_result(unit, name, message.payload.decode(errors="replace"), exc)
            return
        try:
            unit.commands.put_nowait(command)
        except asyncio.QueueFull:
            busy = commands.CommandError(
                f"busy: {commands.COMMAND_QUEUE_LIMIT} commands are already waiting"
            )
            await self._command_result(unit, name, command.value, busy)

    async def _wait(self, unit: _Unit, delay: float) -> None:
        """Sleep `delay` until the next attempt; a sensor with commands runs them meanwhile."""
        if not unit.supported:
            await self._clock.sleep(delay)
            return
        deadline = self._clock.monotonic() + delay
        while True:
            if unit.commands.empty():
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    return
                getter = asyncio.ensure_future(unit.commands.get())
                sleeper = asyncio.create_task(
                    self._clock.sleep(remaining), name=f"sensor:{unit.name}:wait"
                )
                try:
                    await asyncio.wait((getter, sleeper), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    if not getter.done():
                        getter.cancel()
                if getter.cancelled() or not getter.done():
                    return
                command = getter.result()
            else:
                command = unit.commands.get_nowait()
            await self._run_command(unit, command)

    async def _run_command(self, unit: _Unit, command: commands.Command) -> None:
        unit.counters["commands"] = unit.counters.get("commands", 0) + 1
        if not unit.opened or unit.availability.online is not True:
            why = commands.CommandError("the sensor is not online: nothing was sent")
            await self._command_result(unit, command.name, command.value, why)
            return
        driver = unit.built.driver
        try:
            extra = await unit.worker.call(
                lambda: commands.execute(driver, command), unit.config.timeout
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the chip's refusal is the command's result
            await self._command_result(unit, command.name, command.value, exc)
            return
        log.info(
            "sensor %s: %s %s accepted%s",
            unit.name,
            command.name,
            command.value,
            f" (correction {extra['correction']} ppm)" if "correction" in extra else "",
            extra=fields(sensor=unit.name),
        )
        payload = commands.result(command.name, command.value, extra=extra)
        await self._publish(
            unit, commands.result_topic(unit.topics.state, command.name), payload, retain=False
        )
        if command.name == commands.SELF_CALIBRATION:
            await self._publish_setting(unit, bool(command.value))

    async def _command_result(self, unit: _Unit, name: str, value: object, exc: Exception) -> None:
        unit.counters["commands_refused"] = unit.counters.get("commands_refused", 0) + 1
        # a LAN client can repeat a bad command at will: one line per sensor and command per 10 s
        self._command_log.log(
            logging.WARNING,
            f"{unit.name}/{name}",
            "sensor %s: %s %s refused: %s",
            unit.name,
            name,
            value,
            exc,
            extra=fields(sensor=unit.name),
        )
        payload = commands.result(name, value, reason=str(exc) or type(exc).__name__)
        await self._publish(
            unit, commands.result_topic(unit.topics.state, name), payload, retain=False
        )

    async def _publish_setting(self, unit: _Unit, enabled: bool) -> None:
        await self._publish(
            unit, commands.setting_topic(unit.topics.state), commands.on_off(enabled), retain=True
        )

    # --- GPIO events --------------------------------------------------------------------------------

    def _from_thread(self, unit: _Unit, reading: Reading) -> None:
        """Called in gpiozero's thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            loop.call_soon_threadsafe(self._enqueue, unit, reading)

    def _enqueue(self, unit: _Unit, reading: Reading) -> None:
        unit.event_seq += 1
        try:
            unit.events.put_nowait(reading)
        except asyncio.QueueFull:
            unit.counters["events_dropped"] += 1
            log.warning(
                "sensor %s: event queue full, dropped a change of %s",
                unit.name,
                reading.quantity,
                extra=fields(sensor=unit.name),
            )

    async def _drain_events(self, unit: _Unit) -> None:
        while True:
            reading = await unit.events.get()
            unit.counters["events"] += 1
            unit.latest[reading.quantity] = reading
            readings = list(unit.latest.values())
            now = self._clock.monotonic()
            self._observe(unit, [reading], now)
            await self._publish_state(
                unit,
                readings,
                state_payload(
                    readings,
                    self._clock.time(),
                    unit.config.decimals,
                    self.clock_status.synchronized,
                ),
                now,
            )
            self.last_progress = now

    def _observe(self, unit: _Unit, readings: list[Reading], now: float) -> None:
        for observer in self.observers:
            try:
                observer(unit.name, readings, now)
            except Exception:  # an observer's bug must not stop the sensor
                log.exception("sensor %s: observer failed", unit.name)

    # --- health -------------------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Each sensor's latest values with units, availability, counters, last error and the age
        of its last good read in seconds (web page)."""
        now = self._clock.monotonic()
        out = []
        for u in self._units:
            out.append(
                {
                    "name": u.name,
                    "type": u.config.type,
                    "interval": u.config.interval,
                    "online": u.availability.online,
                    "age": None if u.last_success is None else round(now - u.last_success, 1),
                    "last_error": u.last_error,
                    "reads": u.counters["reads"],
                    "failures": u.counters["failures"],
                    "state_topic": u.topics.state,
                    "values": {q: {"value": r.value, "unit": r.unit} for q, r in u.latest.items()},
                }
            )
        return out

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            any(self._tasks.values()),
            self.last_progress,
            tuple(self._sensor_status(u) for u in self._units),
        )

    def summary(self) -> str:
        """For the service's STATUS= line."""
        online = sum(1 for u in self._units if u.availability.online)
        return f"{online}/{len(self._units)} sensor(s) online"

    def overdue(self, now: float, grace: float = 5.0) -> tuple[str, ...]:
        """Sensors whose task missed its next attempt by more than timeout + grace (a stuck loop)."""
        return tuple(
            u.name
            for u in self._units
            if u.next_due is not None and now > u.next_due + u.config.timeout * 2 + grace
        )

    @staticmethod
    def _sensor_status(u: _Unit) -> SensorStatus:
        c = u.counters
        return SensorStatus(
            u.name,
            u.availability.online,
            c["reads"],
            c["failures"],
            u.availability.consecutive_failures,
            c["timeouts"],
            c["busy"],
            c["published"],
            c["publish_errors"],
            c["events"],
            c["events_dropped"],
            u.last_error,
            u.last_success,
            u.next_due,
        )


def _port_lost(unit: _Unit, exc: Exception) -> bool:
    """A serial port that failed by itself (the USB adapter was pulled: pyserial's SerialException
    or a bare OSError from an ioctl, termios.error from tcflush), not a driver's verdict on the
    data and not a timeout."""
    return (
        unit.device is not None
        and unit.device.key.startswith("serial:")
        and isinstance(exc, (OSError, termios.error))
        and not isinstance(exc, (DriverError, TimeoutError, DeviceUnavailable))
    )


def _bus_stuck(unit: _Unit) -> bool:
    """Every `offline_after` consecutive failures of a sensor on an I2C bus, the bus is reopened
    (a wedged file descriptor, a USB-I2C adapter that went away; see drivers.bus.i2c.recover_bus)."""
    failures = unit.availability.consecutive_failures
    return (
        unit.device is not None
        and unit.device.key.startswith("i2c:")
        and failures % unit.availability.offline_after == 0
    )
