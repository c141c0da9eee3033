"""Relay controller: the asyncio glue between command topics, the safety rules and the outputs.

How it works:
* start-up — load the stored states, ask `RelayLogic.power_on` for each output's start level, open
  every output *at* that level (no glitch), read each one back and publish the truth (retained) on
  `<base>/relay/<name>`, then subscribe `<base>/relay/+/set`;
* absent hardware — an output that cannot be opened (an expander that does not answer, a missing
  /dev/i2c-N) is `offline` on `.../availability` and commands to it are refused (reason
  `unavailable`); the rest starts normally. It is tried again after `retry_first` seconds, doubling
  up to `retry_max`; once it opens (at off) its state is published, and the power-on rule is applied
  to it then, through the same safety checks (interlocks, min_off_seconds). A missing library or a
  bad address is not absent hardware: `RelaySetupError` stops start-up (gateway.relays.hardware);
* expanders lost while running — every `check_interval` seconds, and at once after an I/O error on
  one of its outputs, each expander's registers are read back (gateway.relays.watch says when). A
  chip that does not answer makes all its outputs `offline` (an `unavailable` event, reason
  `device_lost`) and is tried again with the same backoff; the logic holds their state meanwhile
  (`RelayLogic.lose`). When it answers — or answers with registers that are not what we wrote, a
  reset behind our back (logged at WARNING) — it is set up again and its outputs are driven to the
  state the logic holds (`RelayLogic.restore`), then read back and published `online`, each with a
  `switched` event, reason `restored`;
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from drivers.gpio.outputs import Output
from gateway.broker.local import LocalClient, LocalMessage
from gateway.logfields import fields
from gateway.mqtt.properties import Properties
from gateway.relays.clock import SYSTEM_CLOCK, Clock
from gateway.relays.commands import CommandError, admit, parse
from gateway.relays.config import OutputConfig, check_outputs
from gateway.relays.hardware import ChipKey, RelayHardware, RelaySetupError, chip_key, where, why
from gateway.relays.logic import Decision, Reason, Refusal, RelayLogic, Switch
from gateway.relays.state_store import StateStore, StoredState
from gateway.relays.topics import Topics
from gateway.relays.watch import DeviceWatch
from gateway.reload import Outcome as ReloadOutcome
from gateway.retry import doubling_delay
from gateway.timesync import trusted

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST = 5.0  # seconds before an output that did not open is tried again
RETRY_MAX = 60.0  # the retry interval doubles up to this
COMPACT = (",", ":")  # JSON without spaces, as sensor readings are published


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
            body["state"] = (
                json.loads(state_payload(cfg, self.level))
                if cfg and cfg.pwm
                else ("ON" if self.level > 0 else "OFF")
            )
        return json.dumps(body, separators=COMPACT)


def state_payload(cfg: OutputConfig | None, level: float) -> str:
    """ON/OFF for a binary output; {"state": ..., "brightness": percent} for a PWM output."""
    state = "ON" if level > 0 else "OFF"
    if cfg is not None and cfg.pwm:
        return json.dumps({"state": state, "brightness": round(level * 100, 1)}, separators=COMPACT)
    return state


class RelayService:
    def __init__(
        self,
        config: Sequence[OutputConfig],
        client: LocalClient,
        base_topic: str,
        state_dir: str | Path,
        pin_factory: Any = None,
        open_i2c: Callable[[int], Any] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        *,
        io_timeout: float = 5.0,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
    ) -> None:
        if not base_topic or any(c in base_topic for c in "+#") or base_topic.endswith("/"):
            raise ValueError(
                f"base_topic must be a topic name without wildcards, got {base_topic!r}"
            )
        self._configs = tuple(check_outputs(tuple(config)))
        self.clock_status = trusted()  # the gateway's (gateway.timesync), set by the components
        self._cfg = {c.name: c for c in self._configs}
        self._topics = {c.name: Topics.of(base_topic, c.name) for c in self._configs}
        self._client, self._base, self._clock = client, base_topic, clock
        self._store = StateStore(state_dir)
        self._hw = RelayHardware(pin_factory, open_i2c)
        self._chip_of = {c.name: key for c in self._configs if (key := chip_key(c)) is not None}
        self._io_timeout = io_timeout
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="relays-io")
        self._io_started: dict[Future[Any], float] = {}
        self._outputs: dict[str, Output] = {}
        self._kept: dict[tuple, Output] = {}  # outputs stopped but left driven, by pin
        self._parked: dict[str, Output] = {}  # outputs whose expander is lost
        self._stored: dict[str, StoredState] = {}
        self._restored: dict[str, float] = {}  # what power_on = "restore" restores
        self._missing: dict[str, int] = {}  # outputs that did not open -> attempts
        self._retry_first, self._retry_max = retry_first, retry_max
        self._retry_at: float | None = None
        self._retry_round = 0
        self._watch: DeviceWatch[ChipKey] = DeviceWatch(retry_first, retry_max)
        self._readback: dict[str, float] = {}
        self._last: dict[
            str, dict[str, Any]
        ] = {}  # output -> its last switch or refusal (web page)
        self._switches: dict[str, int] = {}  # output -> switches read back (metrics)
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
        try:
            await self._io(self._open_all, initial)
        except RelaySetupError:
            self._executor.shutdown(wait=False)
            raise
        self._track_chips(now)
        for name in self._missing:
            self._logic.observe(name, 0.0, now)  # it never opened, so it cannot be on
        if self._missing:
            self._retry_at = now + self._retry_first
        async with self._lock:
            for d in decisions:
                if isinstance(d, Refusal):
                    await self._report_refusal(d)
            for cfg in self._configs:
                await self._refresh(cfg.name, Reason.POWER_ON)
            await self._save()
        await self._client.subscribe(self.command_filter, self._on_message, qos=1)
        self._running = True
        self._timer_task = asyncio.create_task(self._timer_loop(), name="relays-timers")
        log.info(
            "relays: %d outputs started, commands on %s", len(self._outputs), self.command_filter
        )

    def summary(self) -> str:
        """For the service's STATUS= line."""
        return f"{len(self._outputs)}/{len(self._configs)} relay(s) available"

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
                await self._client.publish(
                    self._topics[cfg.name].availability, "offline", qos=1, retain=True
                )
        await self._io(self._close_all)
        self._executor.shutdown(wait=False)
        log.info("relays: stopped")

    @property
    def pin_factory(self) -> Any:
        return self._hw.factory

    @pin_factory.setter
    def pin_factory(self, factory: Any) -> None:
        self._hw.factory = factory

    async def reconfigure(
        self, configs: Sequence[OutputConfig], outcomes: Mapping[str, ReloadOutcome]
    ) -> dict[str, str]:
        """A reload (gateway.relays.reload made `outcomes`, name -> what to do): removed and
        restarted outputs get their stop state and are closed; the logic takes the new rules with
        the state of the outputs that stay (their pins are not touched); added and restarted
        outputs open at their power-on level. Returns the outputs that could not be built (a
        RelaySetupError: they stay unavailable), with the reason."""
        new = tuple(check_outputs(tuple(configs)))
        gone = [
            n for n, o in outcomes.items() if o in (ReloadOutcome.REMOVED, ReloadOutcome.RESTARTED)
        ]
        fresh = [
            n for n, o in outcomes.items() if o in (ReloadOutcome.ADDED, ReloadOutcome.RESTARTED)
        ]
        kept = [
            n
            for n, o in outcomes.items()
            if o in (ReloadOutcome.UNCHANGED, ReloadOutcome.RECONFIGURED)
        ]
        removed = [n for n, o in outcomes.items() if o is ReloadOutcome.REMOVED]
        async with self._lock:
            now = self._clock.monotonic()
            for d in self._logic.stop(now, gone):
                await (self._apply(d) if isinstance(d, Switch) else self._report_refusal(d))
            await self._io(self._close_some, gone)
            for name in gone:
                await self._forget(name, cleared=name in removed)
            self._configs, self._cfg = new, {c.name: c for c in new}
            self._topics = {c.name: Topics.of(self._base, c.name) for c in new}
            self._chip_of = {c.name: key for c in new if (key := chip_key(c)) is not None}
            self._logic, switches = self._logic.reconfigured(new, kept, now)
            for d in switches:
                await self._apply(d)
            failed = await self._open_fresh(fresh, now)
            self._track_chips(now, retune=True)
            await self._save()
        self._wake.set()
        return failed

    async def _forget(self, name: str, *, cleared: bool) -> None:
        """An output that is gone (removed, or restarted on other hardware): forget its state;
        a removed one's retained state and availability are cleared (an empty retained
        message), as its topics are no longer the gateway's."""
        for table in (self._readback, self._missing, self._parked, self._last, self._switches):
            table.pop(name, None)
        if not cleared:
            return
        self._stored.pop(name, None)
        self._restored.pop(name, None)
        topics = self._topics[name]
        await self._client.publish(topics.availability, "offline", qos=1, retain=True)
        for topic in (topics.state, topics.availability):
            await self._client.publish(topic, b"", qos=1, retain=True)

    async def _open_fresh(self, names: Sequence[str], now: float) -> dict[str, str]:
        """Added (or restarted) outputs: the power-on rule, as at start-up, for them alone."""
        decisions = [d for n in names for d in self._logic.power_on_one(n, self._restored, now)]
        initial = {d.output: d.level for d in decisions if isinstance(d, Switch)}
        failed = {}
        for name in names:
            try:
                await self._io(self._open_one, self._cfg[name], initial.get(name, 0.0))
            except RelaySetupError as exc:
                failed[name] = str(exc)
                log.error("relays: %s; it stays unavailable", exc, extra=fields(relay=name))
        for name in (*self._missing, *failed):
            if name in names:
                self._logic.observe(name, 0.0, now)
        if self._missing and self._retry_at is None:
            self._retry_at = now + self._retry_first
        for d in decisions:
            if isinstance(d, Refusal):
                await self._report_refusal(d)
        for name in names:
            await self._refresh(name, Reason.POWER_ON)
        return failed

    def alive(self) -> bool:
        """For the systemd watchdog: running, timer task alive, no hardware call stuck."""
        now = self._clock.monotonic()
        stuck = any(now - started > self._io_timeout for started in self._io_started.values())
        return (
            self._running
            and self._timer_task is not None
            and not self._timer_task.done()
            and not stuck
        )

    async def settled(self) -> None:
        """Return once no timer is due at the current clock time (for tests with a fake clock)."""
        async with self._idle:
            await self._idle.wait_for(self._nothing_due)

    # -- commands --------------------------------------------------------------------------------
    async def command(self, name: str, payload: bytes) -> Outcome:
        """A command that did not come over MQTT (the web API): the same parsing, admission and
        safety rules as a message on `<base>/relay/<name>/set`; the caller checked the ACL."""
        return await self._handle(name, LocalMessage(f"{self._base}/relay/{name}/set", payload))

    def snapshot(self) -> list[dict[str, Any]]:
        """Each output's read-back state, availability, safety limits and last switch (web page)."""
        out = []
        for cfg in self._configs:
            level = self._readback.get(cfg.name)
            out.append(
                {
                    "name": cfg.name,
                    "title": cfg.title or cfg.name,
                    "kind": cfg.kind,
                    "available": cfg.name in self._outputs and level is not None,
                    "state": None if level is None else ("ON" if level > 0 else "OFF"),
                    "level": level,
                    "pwm": cfg.pwm,
                    "limits": {
                        "max_on_seconds": cfg.max_on_seconds,
                        "min_off_seconds": cfg.min_off_seconds,
                        "interlock": list(cfg.interlock),
                    },
                    "switches": self._switches.get(cfg.name, 0),
                    "last": self._last.get(cfg.name),
                }
            )
        return out

    async def _on_message(self, message: LocalMessage) -> None:
        name = message.topic.rsplit("/", 2)[-2]
        outcome = await self._handle(name, message)
        await self._respond(message, outcome)

    async def _handle(self, name: str, message: LocalMessage) -> Outcome:
        cfg = self._cfg.get(name)
        if cfg is None:
            log.warning("relays: command for unknown output %r ignored", name)
            return Outcome(name, Result.REFUSED, Reason.UNKNOWN_OUTPUT, f"no output named {name!r}")
        try:
            envelope = parse(name, message.payload)
        except CommandError as exc:
            return await self._refused(Refusal(name, Reason.INVALID, str(exc)))
        if ignored := admit(
            envelope,
            cfg,
            retained=message.retain,
            wall_now=self._clock.time(),
            clock_synced=self.clock_status.synchronized,
        ):
            return await self._ignored(name, *ignored)
        if name not in self._outputs:
            return await self._refused(
                Refusal(name, Reason.UNAVAILABLE, "the output's device cannot be opened; retrying")
            )
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
        return Outcome(
            refusal.output,
            Result.REFUSED,
            refusal.reason,
            refusal.detail,
            self._readback.get(refusal.output),
        )

    async def _ignored(self, name: str, reason: Reason, detail: str) -> Outcome:
        log.warning("relay %s: command ignored: %s", name, detail, extra=fields(relay=name))
        await self._event(name, {"event": "ignored", "reason": reason.value, "detail": detail})
        return Outcome(name, Result.IGNORED, reason, detail, self._readback.get(name))

    async def _respond(self, message: LocalMessage, outcome: Outcome) -> None:
        topic = message.properties.response_topic
        if not topic:
            return
        if any(c in topic for c in "+#"):
            log.warning("relays: response topic %r has wildcards; no response sent", topic)
            return
        props = Properties(correlation_data=message.properties.correlation_data)
        await self._client.publish(
            topic, outcome.to_json(self._cfg.get(outcome.output)), qos=1, properties=props
        )

    # -- timers ----------------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        # Not `while True`: Python 3.11's wait_for (in _io) can swallow the cancel from stop() when
        # the I/O finishes at that moment, so the loop also ends on `_running`.
        while self._running:
            self._wake.clear()
            deadline = self._next_deadline()
            waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
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
            checks, retries = self._watch.due(self._clock.monotonic())
            for key in retries:
                await self._retry_chip(key)
            for key in checks:
                await self._check_chip(key)
        async with self._idle:
            self._idle.notify_all()

    def _next_deadline(self) -> float | None:
        deadlines = [
            d
            for d in (self._logic.next_deadline(), self._retry_at, self._watch.next_deadline())
            if d is not None
        ]
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
            except OSError as exc:  # still absent: retried later
                self._missing[name] += 1
                log.debug(
                    "relay %s: still cannot open %s: %s (attempt %d)",
                    name,
                    where(cfg),
                    why(exc),
                    self._missing[name],
                    extra=fields(relay=name),
                )
                continue
            except RelaySetupError as exc:  # not hardware: trying again will not help
                del self._missing[name]
                log.error("relays: %s; it stays unavailable", exc, extra=fields(relay=name))
                continue
            log.info(
                "relay %s: %s opened after %d failed attempt(s)",
                name,
                where(cfg),
                self._missing.pop(name),
                extra=fields(relay=name),
            )
            self._track_chips(self._clock.monotonic())
            await self._late_power_on(name)
        self._retry_round += 1
        delay = doubling_delay(self._retry_first, self._retry_round, self._retry_max)
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

    # -- expanders lost while running ------------------------------------------------------------
    def _track_chips(self, now: float, *, retune: bool = False) -> None:
        """Watch every chip that answered, checked at the shortest check_interval of its outputs
        (`retune`: after a reload, which may have changed the intervals)."""
        for key in self._hw.chips():
            if key not in self._chip_of.values():  # its outputs were removed by a reload
                self._watch.untrack(key)
                continue
            intervals = [
                self._cfg[n].check_interval
                for n, k in self._chip_of.items()
                if k == key and self._cfg[n].check_interval > 0
            ]
            self._watch.track(key, min(intervals, default=None), now)
            if retune:
                self._watch.retune(key, min(intervals, default=None), now)

    def _on_chip(self, key: ChipKey) -> list[str]:
        """The outputs of chip `key` that were opened (usable or parked)."""
        return [
            n
            for n, k in self._chip_of.items()
            if k == key and (n in self._outputs or n in self._parked)
        ]

    def _suspect(self, name: str) -> None:
        """An I/O error or an odd read-back on output `name`: check its expander at once."""
        key = self._chip_of.get(name)
        if key is not None:
            self._watch.suspect(key, self._clock.monotonic())
            self._wake.set()

    async def _check_chip(self, key: ChipKey) -> None:
        """The periodic read-back of an expander that answers."""
        try:
            difference = await self._io(self._hw.check, key)
        except OSError as exc:
            await self._lose_chip(key, why(exc))
            return
        self._watch.checked(key, self._clock.monotonic())
        if difference is not None:
            for name in self._on_chip(key):
                log.warning(
                    "relay %s: %s does not hold what was written (%s): it reset; setting it "
                    "up again",
                    name,
                    where(self._cfg[name]),
                    difference,
                    extra=fields(relay=name),
                )
            await self._restore_chip(key, reset=True, cause=f"the chip had reset ({difference})")
            return
        for name in self._on_chip(key):
            if name not in self._readback and await self._refresh(name, Reason.READBACK) is None:
                await self._lose_chip(key, "it answers, but its outputs cannot be read back")
                return

    async def _lose_chip(self, key: ChipKey, reason: str) -> None:
        """The chip does not answer: its outputs are unavailable, the logic holds their state."""
        now = self._clock.monotonic()
        names = self._on_chip(key)
        for name in names:
            self._logic.lose(name)
            self._readback.pop(name, None)
            if name in self._outputs:
                self._parked[name] = self._outputs.pop(name)
        if self._watch.is_lost(key):  # a try to set it up again failed half-way
            self._watch.still_lost(key, now)
            return
        self._watch.lose(key, now)
        for name in names:
            log.warning(
                "relay %s: %s does not answer (%s); unavailable, retrying every %g s at most",
                name,
                where(self._cfg[name]),
                reason,
                self._retry_max,
                extra=fields(relay=name),
            )
            await self._client.publish(
                self._topics[name].availability, "offline", qos=1, retain=True
            )
            await self._event(
                name,
                {
                    "event": "unavailable",
                    "reason": Reason.DEVICE_LOST.value,
                    "detail": f"{where(self._cfg[name])} does not answer: {reason}",
                },
            )

    async def _retry_chip(self, key: ChipKey) -> None:
        """A lost chip's next try: probe it, see whether it kept its registers, set it up again."""
        try:
            await self._io(self._hw.probe, key)
            difference = await self._io(self._hw.check, key)
        except OSError as exc:
            failures = self._watch.still_lost(key, self._clock.monotonic())
            log.debug(
                "relays: %s still does not answer: %s (attempt %d)",
                _chip_name(key),
                why(exc),
                failures,
            )
            return
        lost_for = self._clock.monotonic() - (self._watch.lost_since(key) or 0.0)
        if difference is None:
            cause = f"it answered again after {lost_for:.0f} s and had kept its outputs"
        else:
            cause = f"it answered again after {lost_for:.0f} s and had reset ({difference})"
        for name in self._on_chip(key):
            (log.warning if difference else log.info)(
                "relay %s: %s: %s; setting it up again",
                name,
                where(self._cfg[name]),
                cause,
                extra=fields(relay=name),
            )
        await self._restore_chip(key, reset=difference is not None, cause=cause)

    async def _restore_chip(self, key: ChipKey, *, reset: bool, cause: str) -> None:
        """Set the chip up again with its outputs at the state the logic holds; read back, publish."""
        now = self._clock.monotonic()
        names = self._on_chip(key)
        built = {n: self._outputs.get(n) or self._parked[n] for n in names}
        decisions: list[Decision] = [
            d for n in names for d in self._logic.restore(n, now, reset=reset)
        ]
        for refusal in (d for d in decisions if isinstance(d, Refusal)):
            await self._report_refusal(refusal)
        levels = {built[d.output]: d.level for d in decisions if isinstance(d, Switch)}
        try:
            await self._io(self._hw.reinit, key, levels)
        except OSError as exc:
            await self._lose_chip(key, f"setting it up again failed: {why(exc)}")
            return
        self._watch.answered(key, now)
        self._outputs.update(built)
        for name in names:
            self._parked.pop(name, None)
        for name in names:
            level = await self._refresh(name, Reason.RESTORED)
            if level is None:
                await self._lose_chip(key, "its outputs cannot be read back")
                return
            await self._event(
                name,
                {
                    "event": "switched",
                    "state": "ON" if level > 0 else "OFF",
                    "reason": Reason.RESTORED.value,
                    "detail": f"restored after device loss: {cause}",
                },
            )
        await self._save()

    # -- applying and reporting ------------------------------------------------------------------
    async def _apply(self, switch: Switch) -> str | None:
        """Write, read back, record, publish. Returns the error text if the write failed."""
        name, output = switch.output, self._outputs.get(switch.output)
        if output is None:  # its device is absent or lost: it is not on, whatever was decided
            self._logic.observe(name, 0.0, self._clock.monotonic())
            log.info(
                "relay %s: %s (%s) not written: its device is unavailable",
                name,
                "ON" if switch.level > 0 else "OFF",
                switch.reason.value,
                extra=fields(relay=name),
            )
            return "output unavailable"
        error = None
        try:
            await self._io(output.set, switch.level)
        except Exception as exc:  # noqa: BLE001 - a bus error, a timeout: the read-back tells the truth
            error = f"{type(exc).__name__}: {exc}"
            log.error(
                "relay %s: writing %g failed: %s",
                name,
                switch.level,
                error,
                extra=fields(relay=name),
            )
            if isinstance(exc, OSError):
                self._suspect(name)
        level = await self._refresh(name, switch.reason)
        if (
            error is not None and level is None
        ):  # neither written nor read: the switch is not current
            self._logic.observe(name, 0.0, self._clock.monotonic())
        if error is None and level is not None and (level > 0) != (switch.level > 0):
            error = f"read back {'ON' if level > 0 else 'OFF'} after switching {'ON' if switch.level > 0 else 'OFF'}"
            log.error("relay %s: %s", name, error, extra=fields(relay=name))
            self._suspect(name)
        if level is not None:
            log.info(
                "relay %s: %s (%s)",
                name,
                "ON" if level > 0 else "OFF",
                switch.reason.value,
                extra=fields(relay=name),
            )
            self._switches[name] = self._switches.get(name, 0) + 1
            self._last[name] = {
                "event": "switched",
                "reason": switch.reason.value,
                "detail": error,
                "at": self._clock.time(),
            }
            await self._event(
                name,
                {
                    "event": "switched",
                    "state": "ON" if level > 0 else "OFF",
                    "reason": switch.reason.value,
                    **({"detail": error} if error else {}),
                },
            )
        if (
            switch.reason is not Reason.STOP
        ):  # the stored state is what to restore, not the stop state
            await self._save()
        return error

    async def _refresh(self, name: str, reason: Reason) -> float | None:
        """Read output `name` back, tell the logic, publish the state (retained) and availability."""
        output = self._outputs.get(name)
        level = None
        if output is not None:
            try:
                level = await self._io(output.read)
            except Exception as exc:  # noqa: BLE001 - logged; an OSError marks the device suspect
                log.error("relay %s: read-back failed: %s", name, exc, extra=fields(relay=name))
                if isinstance(exc, OSError):
                    self._suspect(name)
        topics = self._topics[name]
        if level is None:
            self._readback.pop(name, None)
            await self._client.publish(topics.availability, "offline", qos=1, retain=True)
            return None
        self._logic.observe(name, level, self._clock.monotonic())
        self._readback[name] = level
        self._stored[name] = StoredState(level, self._logic.is_timed(name))
        await self._client.publish(
            topics.state, state_payload(self._cfg[name], level), qos=1, retain=True
        )
        await self._client.publish(topics.availability, "online", qos=1, retain=True)
        return level

    async def _report_refusal(self, refusal: Refusal) -> None:
        log.warning(
            "relay %s: refused (%s): %s",
            refusal.output,
            refusal.reason.value,
            refusal.detail,
            extra=fields(relay=refusal.output),
        )
        if refusal.output in self._cfg:
            self._last[refusal.output] = {
                "event": "refused",
                "reason": refusal.reason.value,
                "detail": refusal.detail,
                "at": self._clock.time(),
            }
            await self._event(
                refusal.output,
                {"event": "refused", "reason": refusal.reason.value, "detail": refusal.detail},
            )

    async def _event(self, name: str, body: dict[str, Any]) -> None:
        await self._client.publish(
            self._topics[name].event, json.dumps(body, separators=COMPACT), qos=1
        )

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
            self._open_one(cfg, initial.get(cfg.name, 0.0))

    def _open_one(self, cfg: OutputConfig, level: float) -> None:
        try:
            self._open_output(cfg, level)
        except OSError as exc:  # absent hardware must not keep the others from starting
            self._missing[cfg.name] = 1
            log.warning(
                "relay %s: cannot open %s: %s; unavailable, retrying every %g s at most",
                cfg.name,
                where(cfg),
                why(exc),
                self._retry_max,
                extra=fields(relay=cfg.name),
            )

    def _open_output(self, cfg: OutputConfig, level: float) -> None:
        kept = self._kept.pop(_pin_key(cfg), None)  # a reload removed it, left driven
        if kept is not None:
            kept.close()
        self._outputs[cfg.name] = self._hw.open(cfg, level)

    def _close_all(self) -> None:
        self._close_some(list({*self._outputs, *self._parked}))

    def _close_some(self, names: Sequence[str]) -> None:
        """Close these outputs (a lost chip's pins are released too, with no I/O); those whose
        on_stop is not "off" stay driven while the process lives, or until an output on the same
        pin opens (a reload that moved or added one there)."""
        for name in names:
            output = self._outputs.pop(name, None) or self._parked.pop(name, None)
            if output is None:
                continue
            if self._cfg[name].on_stop != "off":
                # driven while the process lives (gpiozero would close a device that is
                # garbage-collected), until an output on the same pin opens (a reload)
                self._kept[_pin_key(self._cfg[name])] = output
                continue
            try:
                output.close()
            except Exception as exc:  # noqa: BLE001 - logged; the other outputs still close
                log.error("relay %s: closing failed: %s", name, exc, extra=fields(relay=name))


def _pin_key(cfg: OutputConfig) -> tuple:
    """The pin an output drives, whatever its kind: a GPIO pin, or an expander's."""
    return (chip_key(cfg) or ("gpio",), cfg.pin)


def _chip_name(key: ChipKey) -> str:
    kind, bus, address = key
    return f"{kind} 0x{address:02X} on /dev/i2c-{bus}"
