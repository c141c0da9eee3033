"""Relay controller: the asyncio glue between command topics, the safety rules and the outputs.

How it works:
* start-up — load the stored states, ask `RelayLogic.power_on` for each output's start level, open
  every output *at* that level (no glitch), read each one back and publish the truth (retained) on
  `<base>/relay/<name>`, announce it to Home Assistant, then subscribe `<base>/relay/+/set`;
* absent hardware — an output that cannot be opened (an expander that does not answer, a missing
  /dev/i2c-N) is `offline` on `.../available` and commands to it are refused (reason
  `unavailable`); the rest starts normally. It is tried again after `retry_first` seconds, doubling
  up to `retry_max`; once it opens (at off) its state is published, and the power-on rule is applied
  to it then, through the same safety checks (interlocks, min_off_seconds);
* a command — parse and admit it (commands.py), let the logic decide, write the output and read it
  back in the worker thread, publish the read-back state, store it, report on
  `<base>/relay/<name>/event`, and answer on the MQTT 5 response topic when the command had one;
* timers — one task sleeps until `next_deadline()` (or the next retry of an absent output) on the
  injected clock, or until a command moved the deadline, and applies what `tick()` returns;
* stop — unsubscribe, stop the timer task, apply the on_stop states ("off" ones first), publish
  availability "offline", close the outputs that end off.

Everything that touches hardware or disk runs in one worker thread, in order, under `io_timeout`.
Commands and timer work are serialised by one lock, so each decision sees the previous result.
The controller does not know whether a command came from a LAN client or through the cloud bridge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from drivers.gpio.outputs import GpioOutput, Output, PwmOutput
from drivers.i2c.mcp23017 import MCP23017
from drivers.i2c.pcf8574 import PCF8574
from gateway.logfields import fields
from gateway.broker.local import LocalClient, Message
from gateway.mqtt.properties import Properties
from gateway.relays.clock import SYSTEM_CLOCK, Clock
from gateway.relays.commands import CommandError, admit, parse
from gateway.relays.config import OutputConfig, check_outputs
from gateway.relays.discovery import Topics, discovery_config
from gateway.relays.logic import Reason, Refusal, RelayLogic, Switch
from gateway.relays.state_store import StateStore, StoredState

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST = 5.0   # seconds before an output that did not open is tried again
RETRY_MAX = 60.0    # the retry interval doubles up to this


class Result(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    IGNORED = "ignored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command; sent on the response topic."""

    output: str
    result: Result
    reason: Reason | None = None
    detail: str = ""
    level: float | None = None

    def to_json(self, cfg: OutputConfig | None) -> str:
        body: dict[str, Any] = {"output": self.output, "result": self.result.value}
        if self.reason is not None:
            body["reason"] = self.reason.value
        if self.detail:
            body["detail"] = self.detail
        if self.level is not None:
            body["state"] = json.loads(state_payload(cfg, self.level)) if cfg and cfg.pwm \
                else ("ON" if self.level > 0 else "OFF")
        return json.dumps(body)


def state_payload(cfg: OutputConfig | None, level: float) -> str:
    """ON/OFF for a binary output; {"state": ..., "brightness": percent} for a PWM output."""
    state = "ON" if level > 0 else "OFF"
    if cfg is not None and cfg.pwm:
        return json.dumps({"state": state, "brightness": round(level * 100, 1)})
    return state


class RelayService:
    def __init__(self, config: Sequence[OutputConfig], client: LocalClient, base_topic: str,
                 state_dir: str | Path, pin_factory: Any = None,
                 open_i2c: Callable[[int], Any] | None = None, clock: Clock = SYSTEM_CLOCK, *,
                 node_id: str | None = None, io_timeout: float = 5.0,
                 retry_first: float = RETRY_FIRST, retry_max: float = RETRY_MAX) -> None:
        if not base_topic or any(c in base_topic for c in "+#") or base_topic.endswith("/"):
            raise ValueError(f"base_topic must be a topic name without wildcards, got {base_topic!r}")
        self._configs = tuple(check_outputs(tuple(config)))
        self._cfg = {c.name: c for c in self._configs}
        self._topics = {c.name: Topics.of(base_topic, c.name) for c in self._configs}
        self._client, self._base, self._clock = client, base_topic, clock
        self._store = StateStore(state_dir)
        self._factory = pin_factory
        self._open_i2c = open_i2c or _open_bus
        self._buses: dict[int, Any] = {}
        self.node_id = node_id or re.sub(r"[^A-Za-z0-9_-]", "_", base_topic)
        self._io_timeout = io_timeout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="relays-io")
        self._io_started: dict[Future[Any], float] = {}
        self._outputs: dict[str, Output] = {}
        self._kept: list[Output] = []
        self._chips: dict[tuple[str, int, int], Any] = {}
        self._stored: dict[str, StoredState] = {}
        self._restored: dict[str, float] = {}          # what power_on = "restore" restores
        self._missing: dict[str, int] = {}             # outputs that did not open -> attempts
        self._retry_first, self._retry_max = retry_first, retry_max
        self._retry_at: float | None = None
        self._retry_round = 0
        self._readback: dict[str, float] = {}
        self._logic = RelayLogic(self._configs, clock.monotonic())
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._idle = asyncio.Condition()
        self._timer_task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def command_filter(self) -> str:
        return f"{self._base}/relay/+/set"

    def readback(self, name: str) -> float | None:
        """The level last read back from output `name` (None if it could not be read)."""
        return self._readback.get(name)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        now = self._clock.monotonic()
        self._stored = await self._io(self._store.load)
        self._restored = {n: s.restore_level for n, s in self._stored.items()}
        self._logic = RelayLogic(self._configs, now)
        decisions = self._logic.power_on(self._restored, now)
        initial = {d.output: d.level for d in decisions if isinstance(d, Switch)}
        await self._io(self._open_all, initial)
        for name in self._missing:
            self._logic.observe(name, 0.0, now)  # it never opened, so it cannot be on
        if self._missing:
            self._retry_at = now + self._retry_first
        async with self._lock:
            for d in decisions:
                if isinstance(d, Refusal):
                    await self._report_refusal(d)
            for cfg in self._configs:
                await self._announce(cfg)
                await self._refresh(cfg.name, Reason.POWER_ON)
            await self._save()
        await self._client.subscribe(self.command_filter, self._on_message, qos=1)
        self._running = True
        self._timer_task = asyncio.create_task(self._timer_loop(), name="relays-timers")
        log.info("relays: %d outputs started, commands on %s", len(self._outputs), self.command_filter)

    async def stop(self) -> None:
        """Ordered stop: no more commands, no more timers, on_stop states, offline, close."""
        if not self._running:
            return
        self._running = False
        await self._client.unsubscribe(self.command_filter)
        if self._timer_task is not None:
            self._timer_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._timer_task
        async with self._lock:
            for d in self._logic.stop(self._clock.monotonic()):
                await (self._apply(d) if isinstance(d, Switch) else self._report_refusal(d))
            for cfg in self._configs:
                await self._client.publish(self._topics[cfg.name].available, "offline", qos=1, retain=True)
        await self._io(self._close_all)
        self._executor.shutdown(wait=False)
        log.info("relays: stopped")

    def alive(self) -> bool:
        """For the systemd watchdog: running, timer task alive, no hardware call stuck."""
        now = self._clock.monotonic()
        stuck = any(now - started > self._io_timeout for started in self._io_started.values())
        return self._running and self._timer_task is not None and not self._timer_task.done() \
            and not stuck

    async def settled(self) -> None:
        """Return once no timer is due at the current clock time (for tests with a fake clock)."""
        async with self._idle:
            await self._idle.wait_for(self._nothing_due)

    # -- commands --------------------------------------------------------------------------------
    async def _on_message(self, message: Message) -> None:
        name = message.topic.rsplit("/", 2)[-2]
        outcome = await self._handle(name, message)
        await self._respond(message, outcome)

    async def _handle(self, name: str, message: Message) -> Outcome:
        cfg = self._cfg.get(name)
        if cfg is None:
            log.warning("relays: command for unknown output %r ignored", name)
            return Outcome(name, Result.REFUSED, Reason.UNKNOWN_OUTPUT, f"no output named {name!r}")
        try:
            envelope = parse(name, message.payload)
        except CommandError as exc:
            return await self._refused(Refusal(name, Reason.INVALID, str(exc)))
        if ignored := admit(envelope, cfg, retained=message.retain, wall_now=self._clock.time()):
            return await self._ignored(name, *ignored)
        if name not in self._outputs:
            return await self._refused(Refusal(name, Reason.UNAVAILABLE,
                                               "the output's device cannot be opened; retrying"))
        async with self._lock:
            decision = self._logic.command(envelope.command, self._clock.monotonic())
            if isinstance(decision, Refusal):
                return await self._refused(decision)
            error = await self._apply(decision)
        self._wake.set()
        level = self._readback.get(name)
        if error is not None:
            return Outcome(name, Result.FAILED, Reason.COMMAND, error, level)
        return Outcome(name, Result.DONE, Reason.COMMAND, level=level)

    async def _refused(self, refusal: Refusal) -> Outcome:
        await self._report_refusal(refusal)
        return Outcome(refusal.output, Result.REFUSED, refusal.reason, refusal.detail,
                       self._readback.get(refusal.output))

    async def _ignored(self, name: str, reason: Reason, detail: str) -> Outcome:
        log.warning("relay %s: command ignored: %s", name, detail, extra=fields(relay=name))
        await self._event(name, {"event": "ignored", "reason": reason.value, "detail": detail})
        return Outcome(name, Result.IGNORED, reason, detail, self._readback.get(name))

    async def _respond(self, message: Message, outcome: Outcome) -> None:
        topic = message.properties.response_topic
        if not topic:
            return
        if any(c in topic for c in "+#"):
            log.warning("relays: response topic %r has wildcards; no response sent", topic)
            return
        props = Properties(correlation_data=message.properties.correlation_data)
        await self._client.publish(topic, outcome.to_json(self._cfg.get(outcome.output)), qos=1,
                                   properties=props)

    # -- timers ----------------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while True:
            self._wake.clear()
            deadline = self._next_deadline()
            waits = [asyncio.ensure_future(self._wake.wait())]
            if deadline is not None:
                waits.append(asyncio.ensure_future(self._clock.sleep_until(deadline)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            await self._run_due()

    async def _run_due(self) -> None:
        async with self._lock:
            for d in self._logic.tick(self._clock.monotonic()):
                await (self._apply(d) if isinstance(d, Switch) else self._report_refusal(d))
            if self._retry_at is not None and self._retry_at <= self._clock.monotonic():
                await self._retry_missing()
        async with self._idle:
            self._idle.notify_all()

    def _next_deadline(self) -> float | None:
        deadlines = [d for d in (self._logic.next_deadline(), self._retry_at) if d is not None]
        return min(deadlines, default=None)

    def _nothing_due(self) -> bool:
        deadline = self._next_deadline()
        return deadline is None or deadline > self._clock.monotonic()

    # -- outputs whose device was absent ---------------------------------------------------------
    async def _retry_missing(self) -> None:
        """Try to open every output that did not open; the ones that do get the power-on rule."""
        for name in list(self._missing):
            cfg = self._cfg[name]
            try:
                await self._io(self._open_output, cfg, 0.0)
            except Exception as exc:  # noqa: BLE001 - still absent: retried later
                self._missing[name] += 1
                log.debug("relay %s: still cannot open %s: %s (attempt %d)", name, _where(cfg),
                          _why(exc), self._missing[name], extra=fields(relay=name))
                continue
            log.info("relay %s: %s opened after %d failed attempt(s)", name, _where(cfg),
                     self._missing.pop(name), extra=fields(relay=name))
            await self._late_power_on(name)
        self._retry_round += 1
        delay = min(self._retry_max, self._retry_first * 2 ** min(self._retry_round, 20))
        self._retry_at = self._clock.monotonic() + delay if self._missing else None

    async def _late_power_on(self, name: str) -> None:
        """The output opened at off: publish that, then apply its power-on rule as at start-up."""
        await self._refresh(name, Reason.POWER_ON)
        switched = False
        for d in self._logic.power_on_one(name, self._restored, self._clock.monotonic()):
            if isinstance(d, Refusal):
                await self._report_refusal(d)
            elif d.level > 0:
                await self._apply(d)  # saves the state
                switched = True
        if not switched:
            await self._save()

    # -- applying and reporting ------------------------------------------------------------------
    async def _apply(self, switch: Switch) -> str | None:
        """Write, read back, record, publish. Returns the error text if the write failed."""
        name, output = switch.output, self._outputs.get(switch.output)
        if output is None:  # its device is absent: it is not on, whatever was decided
            self._logic.observe(name, 0.0, self._clock.monotonic())
            return "output unavailable"
        error = None
        try:
            await self._io(output.set, switch.level)
        except Exception as exc:  # a bus error, a timeout: the read-back below tells the truth
            error = f"{type(exc).__name__}: {exc}"
            log.error("relay %s: writing %g failed: %s", name, switch.level, error,
                      extra=fields(relay=name))
        level = await self._refresh(name, switch.reason)
        if error is None and level is not None and (level > 0) != (switch.level > 0):
            error = f"read back {'ON' if level > 0 else 'OFF'} after switching {'ON' if switch.level > 0 else 'OFF'}"
            log.error("relay %s: %s", name, error, extra=fields(relay=name))
        if level is not None:
            log.info("relay %s: %s (%s)", name, "ON" if level > 0 else "OFF", switch.reason.value,
                     extra=fields(relay=name))
            await self._event(name, {"event": "switched", "state": "ON" if level > 0 else "OFF",
                                     "reason": switch.reason.value, **({"detail": error} if error else {})})
        if switch.reason is not Reason.STOP:  # the stored state is what to restore, not the stop state
            await self._save()
        return error

    async def _refresh(self, name: str, reason: Reason) -> float | None:
        """Read output `name` back, tell the logic, publish the state (retained) and availability."""
        output = self._outputs.get(name)
        level = None
        if output is not None:
            try:
                level = await self._io(output.read)
            except Exception as exc:
                log.error("relay %s: read-back failed: %s", name, exc, extra=fields(relay=name))
        topics = self._topics[name]
        if level is None:
            self._readback.pop(name, None)
            await self._client.publish(topics.available, "offline", qos=1, retain=True)
            return None
        self._logic.observe(name, level, self._clock.monotonic())
        self._readback[name] = level
        self._stored[name] = StoredState(level, self._logic.is_timed(name))
        await self._client.publish(topics.state, state_payload(self._cfg[name], level), qos=1, retain=True)
        await self._client.publish(topics.available, "online", qos=1, retain=True)
        return level

    async def _report_refusal(self, refusal: Refusal) -> None:
        log.warning("relay %s: refused (%s): %s", refusal.output, refusal.reason.value, refusal.detail,
                    extra=fields(relay=refusal.output))
        if refusal.output in self._cfg:
            await self._event(refusal.output, {"event": "refused", "reason": refusal.reason.value,
                                               "detail": refusal.detail})

    async def _event(self, name: str, body: dict[str, Any]) -> None:
        await self._client.publish(self._topics[name].event, json.dumps(body), qos=1)

    async def _announce(self, cfg: OutputConfig) -> None:
        found = discovery_config(cfg, self._topics[cfg.name], self.node_id)
        if found is not None:
            topic, payload = found
            await self._client.publish(topic, json.dumps(payload), qos=1, retain=True)

    async def _save(self) -> None:
        try:
            await self._io(self._store.save, dict(self._stored))
        except OSError as exc:
            log.error("relays: saving state to %s failed: %s", self._store.path, exc)

    # -- the worker thread -----------------------------------------------------------------------
    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        future = self._executor.submit(fn, *args)
        self._io_started[future] = self._clock.monotonic()
        future.add_done_callback(self._io_started.pop)
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self._io_timeout)

    def _open_all(self, initial: dict[str, float]) -> None:
        for cfg in self._configs:
            try:
                self._open_output(cfg, initial.get(cfg.name, 0.0))
            except Exception as exc:  # one broken output must not keep the others from starting
                self._missing[cfg.name] = 1
                log.warning("relay %s: cannot open %s: %s; unavailable, retrying every %g s at "
                            "most", cfg.name, _where(cfg), _why(exc), self._retry_max,
                            extra=fields(relay=cfg.name))

    def _open_output(self, cfg: OutputConfig, level: float) -> None:
        self._outputs[cfg.name] = self._build(cfg, level)

    def _build(self, cfg: OutputConfig, level: float) -> Output:
        if cfg.kind == "gpio":
            return GpioOutput(cfg.pin, active_low=cfg.active_low, initial=level,
                              pin_factory=self._pin_factory())
        if cfg.kind == "pwm":
            return PwmOutput(cfg.pin, active_low=cfg.active_low, initial=level, frequency=cfg.frequency,
                             pin_factory=self._pin_factory())
        return self._chip(cfg).output(cfg.pin, active_low=cfg.active_low, initial=level)

    def _chip(self, cfg: OutputConfig) -> Any:
        assert cfg.address is not None  # the config model guarantees it for expanders
        key = (cfg.kind, cfg.bus, cfg.address)
        if key not in self._chips:
            chip = _EXPANDERS[cfg.kind](self._i2c_bus(cfg.bus), cfg.address)
            chip.open()  # DeviceNotFound while the chip does not answer: not cached, probed again
            self._chips[key] = chip
        return self._chips[key]

    def _pin_factory(self) -> Any:
        if self._factory is None:
            from drivers.bus.gpio import default_factory

            self._factory = default_factory()
        return self._factory

    def _i2c_bus(self, number: int) -> Any:
        if number not in self._buses:  # a bus that will not open is not cached: opened again later
            self._buses[number] = self._open_i2c(number)
        return self._buses[number]

    def _close_all(self) -> None:
        for name, output in self._outputs.items():
            if self._cfg[name].on_stop != "off":
                self._kept.append(output)  # stays driven while the process lives; gpiozero would
                continue                   # close a device that is garbage-collected
            try:
                output.close()
            except Exception as exc:
                log.error("relay %s: closing failed: %s", name, exc, extra=fields(relay=name))
        self._outputs.clear()


_EXPANDERS: dict[str, type[PCF8574] | type[MCP23017]] = {"pcf8574": PCF8574, "mcp23017": MCP23017}


def _open_bus(number: int) -> Any:
    from drivers.bus.i2c import open_bus

    return open_bus(number)


def _where(cfg: OutputConfig) -> str:
    if cfg.kind in ("gpio", "pwm"):
        return f"{cfg.kind} pin {cfg.pin}"
    return f"{cfg.kind} 0x{cfg.address:02X} pin {cfg.pin} on /dev/i2c-{cfg.bus}"


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
