"""Runs the rules: an in-process client of the broker that watches their values and acts.

Each rule subscribes to its sensor's state topic (and the sensor's availability) or to its own
topic; every value goes through the rule's `RuleMachine`, and each transition runs its actions:
a relay action publishes a command to `<base>/relay/<name>/set` (not retained), so it takes the
same path as a command from Home Assistant: the relay's safety rules (interlocks, minimum off
time, maximum on time) win over the rule, and a refusal is reported on the relay's event topic
with its reason. A publish action publishes its message. Every firing is published on
`<base>/rule/<name>/event` and logged (one line). Minimum durations (`for`) are timers: one task
sleeps until the earliest deadline of any rule. Nothing here writes to disk unless an action
publishes a retained message.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Sequence
from typing import Any

from gateway.automation.config import Action, RuleConfig, field_value
from gateway.automation.rules import Condition, RuleMachine, State, Transition
from gateway.broker.local import LocalClient, LocalMessage
from gateway.sensors.clock import Clock, SystemClock
from gateway.sensors.payloads import stamp
from gateway.sensors.topics import topics_for
from gateway.timesync import trusted

log = logging.getLogger(__name__)


class Rule:
    def __init__(self, config: RuleConfig, state_topic: str | None) -> None:
        self.config = config
        self.state_topic = state_topic
        self.machine = RuleMachine(
            Condition(
                config.above, config.below, config.equals, config.until_below, config.until_above
            ),
            config.hold_for,
            config.on_unavailable,
        )
        self.firings = 0
        self.last: dict[str, Any] | None = None

    def value_of(self, message: LocalMessage) -> Any:
        """The watched value in a message, or None when it is not there."""
        c = self.config
        if c.sensor is not None or c.field is not None:
            try:
                document = json.loads(message.payload)
            except (ValueError, UnicodeDecodeError):
                return None
            if c.sensor is not None:
                entry = document.get(c.quantity) if isinstance(document, dict) else None
                return entry.get("value") if isinstance(entry, dict) else None
            assert c.field is not None  # the sensor or the field: one of them is set
            return field_value(document, c.field)
        text = message.payload.decode("utf-8", "replace").strip()
        if isinstance(c.equals, bool):
            lowered = text.lower()
            return (
                True
                if lowered in ("true", "on", "1")
                else False
                if lowered in ("false", "off", "0")
                else text
            )
        if isinstance(c.equals, (int, float)) and not isinstance(c.equals, bool):
            try:
                return float(text)
            except ValueError:
                return text
        return text


class RuleService:
    def __init__(
        self,
        rules: Sequence[RuleConfig],
        client: LocalClient,
        *,
        base_topic: str,
        sensor_topics: dict[str, str | None],
        clock: Clock | None = None,
    ) -> None:
        self._client, self._base, self._clock = client, base_topic, clock or SystemClock()
        self.rules = [
            Rule(
                r,
                topics_for(base_topic, r.sensor, sensor_topics.get(r.sensor)).state
                if r.sensor is not None
                else None,
            )
            for r in rules
        ]
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.clock_status = trusted()  # the gateway's (gateway.timesync): no "ts" until synced
        self.idle = False  # the timer task waits for a deadline or a value (tests settle on it)

    async def start(self) -> None:
        for rule in self.rules:
            if rule.state_topic is not None:
                await self._client.subscribe(
                    rule.state_topic, functools.partial(self._on_value, rule)
                )
                await self._client.subscribe(
                    f"{rule.state_topic}/availability",
                    functools.partial(self._on_availability, rule),
                )
            else:
                assert rule.config.topic is not None  # a rule without a sensor has its topic
                await self._client.subscribe(
                    rule.config.topic, functools.partial(self._on_value, rule)
                )
        self._task = asyncio.create_task(self._timers(), name="rules-timers")
        log.info("rules: started %d rule(s)", len(self.rules))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _on_value(self, rule: Rule, message: LocalMessage) -> None:
        value = rule.value_of(message)
        if value is None:
            return
        now = self._clock.monotonic()
        if rule.config.trigger == "message":
            if rule.machine.condition.activates(value):
                await self._run(rule, [Transition(State.ACTIVE, value, now, "message")])
            return
        await self._run(rule, rule.machine.observe(value, now))
        self._poke()

    async def _on_availability(self, rule: Rule, message: LocalMessage) -> None:
        if message.payload.strip() == b"offline":
            await self._run(rule, rule.machine.unavailable(self._clock.monotonic()))
            self._poke()

    def _poke(self) -> None:
        """Deadlines may have changed: the timer task looks again."""
        self.idle = False
        self._wake.set()

    async def _timers(self) -> None:
        while True:
            deadlines = [d for r in self.rules if (d := r.machine.next_deadline()) is not None]
            now = self._clock.monotonic()
            self._wake.clear()
            if deadlines:
                sleeper = asyncio.create_task(
                    self._clock.sleep(max(0.0, min(deadlines) - now)), name="rules-deadline"
                )
                waker = asyncio.create_task(self._wake.wait(), name="rules-wake")
                await asyncio.sleep(0)  # both started: the deadline is on the clock
                self.idle = True
                _done, pending = await asyncio.wait(
                    {sleeper, waker}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            else:
                self.idle = True
                await self._wake.wait()
            self.idle = False
            now = self._clock.monotonic()
            for rule in self.rules:
                await self._run(rule, rule.machine.tick(now))

    async def _run(self, rule: Rule, transitions: list[Transition]) -> None:
        for transition in transitions:
            actions = (
                rule.config.on_active
                if transition.state is State.ACTIVE
                else rule.config.on_inactive
            )
            done = [await self._act(action) for action in actions]
            rule.firings += 1
            event = {
                "rule": rule.config.name,
                "state": transition.state.value,
                "cause": transition.cause,
                "value": transition.value,
                "actions": done,
                **stamp(self._clock.time(), self.clock_status.synchronized),
            }
            rule.last = event
            log.info(
                "rule %s: %s (%s, value %s): %s",
                rule.config.name,
                transition.state.value,
                transition.cause,
                transition.value,
                "; ".join(done) or "no action",
            )
            await self._client.publish(
                f"{self._base}/rule/{rule.config.name}/event",
                json.dumps(event, separators=(",", ":")),
                qos=0,
            )

    async def _act(self, action: Action) -> str:
        return await perform(
            self._client,
            self._base,
            relay=action.relay,
            state=action.state,
            duration=action.duration,
            publish=action.publish,
            payload=action.payload,
            qos=action.qos,
            retain=action.retain,
        )


async def perform(
    client: LocalClient,
    base: str,
    *,
    relay: str | None = None,
    state: str = "ON",
    duration: float | None = None,
    publish: str | None = None,
    payload: str = "",
    qos: int = 1,
    retain: bool = False,
) -> str:
    """Carry out one action (a rule's or a schedule's); returns what was done, for the event.
    A relay action is a command on the relay's set topic (its safety rules win)."""
    if relay is not None:
        command: dict[str, Any] = {"state": state}
        if duration is not None:
            command["for"] = duration
        await client.publish(
            f"{base}/relay/{relay}/set", json.dumps(command, separators=(",", ":")), qos=1
        )
        return f"relay {relay} {state}" + (f" for {duration:g} s" if duration is not None else "")
    assert publish is not None
    await client.publish(publish, payload, qos=qos, retain=retain)
    return f"published {publish}"
