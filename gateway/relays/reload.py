"""Reload of the `[[relays]]` tables without a restart: what changed, and applying it.

How it works: `plan` compares the running and the new relay configs by name (pure): a relay only
in the new file is added, one only in the old is removed, an identical one is unchanged. A changed
one whose *output* is the same — same kind, pin, expander address and bus, active_low, PWM
frequency — is reconfigured: the pin is not touched (no power-on rule, no write, no glitch) and its
state, timers and off-time go on under the new rules (interlocks, max/min times, power_on and
on_stop for later, its title and discovery component). One whose output changed is restarted: its
stop state on the old output, then its power-on rule on the new one. A renamed relay is a removal
plus an addition (its topics are derived from its name). `reload_relays` applies the plan to the
running `RelayService` (gateway.relays.controller), or starts one when the gateway ran none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.relays.config import OutputConfig
from gateway.relays.hardware import where
from gateway.reload import ComponentResult, Outcome, diff_named, running_section

if TYPE_CHECKING:
    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

KIND = "relay"
OUTPUT_FIELDS = ("kind", "pin", "address", "bus", "active_low", "frequency")  # the hardware


def same_output(old: OutputConfig, new: OutputConfig) -> bool:
    """Whether both configs drive the same output in the same way (so it can stay as it is)."""
    return all(getattr(old, f) == getattr(new, f) for f in OUTPUT_FIELDS)


def changed_fields(old: OutputConfig, new: OutputConfig) -> list[str]:
    return [f for f in type(new).model_fields if getattr(old, f) != getattr(new, f)]


def plan(old: Sequence[OutputConfig], new: Sequence[OutputConfig]) -> dict[str, Outcome]:
    """Relay name -> what a reload from `old` to `new` does to it (new config order, then the
    removed ones)."""
    diff = diff_named(old, new)
    out = {o.name: Outcome.ADDED for o in diff.added}
    out.update({o.name: Outcome.UNCHANGED for o in diff.unchanged})
    out.update(
        {
            n.name: Outcome.RECONFIGURED if same_output(o, n) else Outcome.RESTARTED
            for o, n in diff.changed
        }
    )
    order = [o.name for o in new] + [o.name for o in diff.removed]
    out.update({o.name: Outcome.REMOVED for o in diff.removed})
    return {name: out[name] for name in order}


def describe(outcome: Outcome, old: OutputConfig | None, new: OutputConfig | None) -> str:
    """The detail of one relay's result line."""
    if outcome is Outcome.RECONFIGURED and old and new:
        return f"{', '.join(changed_fields(old, new))} changed; the output kept its state"
    if outcome is Outcome.RESTARTED and old and new:
        return f"{where(old)} -> {where(new)}: stop state on the old output, power-on on the new"
    return ""


async def reload_relays(
    gateway: Any, old_config: GatewayConfig, new_config: GatewayConfig
) -> list[ComponentResult]:
    """Apply the relay part of a reload to the running gateway; one result per relay. Topics and
    the state file stay where the gateway started them: a new `base_topic` or `state_dir` takes
    effect at the next start (the reloader reports it)."""
    from gateway.relays.controller import RelayService

    old, new = tuple(old_config.relays), tuple(new_config.relays)
    outcomes = plan(old, new)
    if all(o is Outcome.UNCHANGED for o in outcomes.values()):
        return [ComponentResult(KIND, n, o) for n, o in outcomes.items()]
    if new and getattr(gateway, "pin_factory", None) is None:  # GPIO outputs may come now
        from gateway.components import pin_factory_for

        gateway.pin_factory = pin_factory_for(new_config)
    service = next((s for s in gateway.services if isinstance(s, RelayService)), None)
    failed: dict[str, str] = {}
    if service is None:
        await _start_service(gateway, new, running_section(gateway, old_config))
    else:
        if service.pin_factory is None:
            service.pin_factory = gateway.pin_factory
        failed = await service.reconfigure(new, outcomes)
        outcomes.update(dict.fromkeys(failed, Outcome.FAILED))
    olds, news = {o.name: o for o in old}, {o.name: o for o in new}
    results = []
    for name, outcome in outcomes.items():
        detail = failed.get(name) or describe(outcome, olds.get(name), news.get(name))
        results.append(ComponentResult(KIND, name, outcome, detail))
    return results


async def _start_service(gateway: Any, relays: Sequence[OutputConfig], section: Any) -> None:
    """The gateway ran no relays: start the service as start-up does, in its place in the
    services (stopped after the sensors, rules and bridges that use it)."""
    from gateway.components import insert_in_order
    from gateway.relays.controller import RelayService

    service = RelayService(
        relays,
        gateway.broker.local_client("relays"),
        section.base_topic,
        Path(section.state_dir),
        pin_factory=gateway.pin_factory,
    )
    service.clock_status = gateway.clock_status
    await service.start()
    insert_in_order(gateway.services, service)
    beat = gateway.watchdog.register("relays")

    def check() -> None:
        if service.alive():
            beat.beat()

    gateway.heartbeat_checks.append(check)
