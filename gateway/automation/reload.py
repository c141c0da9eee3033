"""The rules' and schedules' part of a reload. Each of the two services is restarted as a whole
when anything it depends on changed (its own list; for rules also the state topics of the sensors
they watch; for schedules the [location]); otherwise it is left alone. Restarting a service resets
the state of all its rules (a `for` hold that was counting starts again) or schedules (each one
computes its next time again): simpler than per-rule surgery, and a rule or schedule decides again
from the next value or time, so nothing is switched on its own by the restart."""

from __future__ import annotations

from typing import Any

from gateway.reload import ComponentResult, Outcome, diff_named


async def reload_automation(
    gateway: Any, old_config: Any, new_config: Any
) -> list[ComponentResult]:
    from gateway.automation.schedule_service import ScheduleService
    from gateway.automation.service import RuleService
    from gateway.components import rule_service, schedule_service

    base = gateway.config.gateway.base_topic  # the running one: a new base_topic needs a restart
    topics = _sensor_topics(old_config) != _sensor_topics(new_config)
    rules = await _restart(
        gateway,
        RuleService,
        "rules",
        new_config.rules,
        topics,
        lambda: rule_service(gateway, new_config, base, gateway.services),
    )
    schedules = await _restart(
        gateway,
        ScheduleService,
        "schedules",
        new_config.schedules,
        old_config.location != new_config.location,
        lambda: schedule_service(gateway, new_config, base),
    )
    return [rules, schedules]


def _sensor_topics(config: Any) -> dict[str, Any]:
    return {s.name: s.topic for s in config.sensors}


async def _restart(
    gateway: Any, cls: type[Any], kind: str, new: Any, also: bool, build: Any
) -> ComponentResult:
    """Compared with what runs (a service that failed to start at an earlier reload is tried
    again), restarted when that differs from `new` or what it depends on changed (`also`)."""
    from gateway.components import insert_in_order

    running: Any = next((s for s in gateway.services if isinstance(s, cls)), None)
    items = [] if running is None else getattr(running, kind)  # .rules / .schedules
    diff = diff_named([item.config for item in items], new)
    if not (diff.added or diff.removed or diff.changed or (also and new)):
        return ComponentResult(kind, kind, Outcome.UNCHANGED, f"{len(new)} configured")
    if running is not None:
        await running.stop()
        gateway.services.remove(running)
        await gateway.broker.close_local_client(running._client)
    detail = _describe(diff, also)
    if not new:
        return ComponentResult(kind, kind, Outcome.REMOVED, detail)
    service = build()
    await service.start()
    insert_in_order(gateway.services, service)
    outcome = Outcome.RESTARTED if running is not None else Outcome.ADDED
    return ComponentResult(kind, kind, outcome, detail)


def _describe(diff: Any, also: bool) -> str:
    parts = [
        f"{word}: {', '.join(names)}"
        for word, names in (
            ("added", [r.name for r in diff.added]),
            ("changed", [new.name for _, new in diff.changed]),
            ("removed", [r.name for r in diff.removed]),
        )
        if names
    ]
    if also and not parts:
        parts.append("what they depend on changed")
    return "; ".join(parts)
