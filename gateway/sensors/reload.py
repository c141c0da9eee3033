"""The sensors' part of a reload: each sensor added, removed or changed is started, stopped or
restarted alone; the others keep their task and their schedule (their next reading time is not
reset). Removed and changed sensors stop first (their offline state published, their driver
closed, a GPIO pin or a serial port freed), then the added and changed ones start, one at a time,
so that one that cannot be built fails alone."""

from __future__ import annotations

import logging
from typing import Any

from gateway.reload import ComponentResult, Outcome, diff_named

log = logging.getLogger(__name__)


async def reload_sensors(gateway: Any, old_config: Any, new_config: Any) -> list[ComponentResult]:
    """Compared with the sensors that run (not `old_config`): one that failed to start at an
    earlier reload is tried again."""
    running = _running(gateway)
    diff = diff_named(running.configs if running else old_config.sensors, new_config.sensors)
    results = [ComponentResult("sensor", s.name, Outcome.UNCHANGED) for s in diff.unchanged]
    if not (diff.added or diff.removed or diff.changed):
        return results
    service = running or await _service(gateway, new_config)
    factory = _pin_factory(gateway, new_config)
    await service.remove([s.name for s in diff.removed] + [old.name for old, _ in diff.changed])
    results += [ComponentResult("sensor", s.name, Outcome.REMOVED) for s in diff.removed]
    for config, outcome in [(s, Outcome.ADDED) for s in diff.added] + [
        (new, Outcome.RESTARTED) for _, new in diff.changed
    ]:
        try:
            await service.add([config], factory)
        except Exception as exc:  # noqa: BLE001 - the other sensors go on
            detail = f"{exc}" if outcome is Outcome.ADDED else f"stopped; the new settings: {exc}"
            results.append(ComponentResult("sensor", config.name, Outcome.FAILED, detail))
        else:
            results.append(ComponentResult("sensor", config.name, outcome, _what(diff, config)))
    service.reorder([s.name for s in new_config.sensors])
    return results


def _what(diff: Any, config: Any) -> str:
    """Which keys of a changed sensor changed (for the result line)."""
    for old, new in diff.changed:
        if new is config:
            keys = [
                k for k in type(new).model_fields if getattr(old, k, None) != getattr(new, k, None)
            ]
            return "changed: " + ", ".join(keys) if keys else "type changed"
    return ""


def _pin_factory(gateway: Any, new_config: Any) -> Any:
    """The gateway's pin factory (the relays' too), made now if the new file is the first to use
    GPIO (a demo gateway gets its mock pins)."""
    from gateway.components import pin_factory_for

    if getattr(gateway, "pin_factory", None) is None:
        gateway.pin_factory = pin_factory_for(new_config)
    return gateway.pin_factory


def _running(gateway: Any) -> Any:
    from gateway.sensors.scheduler import SensorService

    return next((s for s in gateway.services if isinstance(s, SensorService)), None)


async def _service(gateway: Any, new_config: Any) -> Any:
    """A new empty sensor service, when the gateway started without sensors."""
    from gateway.components import insert_in_order, sensor_service

    base = gateway.config.gateway.base_topic  # the running one: a new base_topic needs a restart
    service = sensor_service(gateway, [], base, _pin_factory(gateway, new_config))
    await service.start()
    insert_in_order(gateway.services, service)
    return service
