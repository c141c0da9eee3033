"""What a reload reports for each component, and how a component's part of a reload is called.

How this works: on SIGHUP the gateway validates the config file again (as `edge-gateway run` did)
and, when it is valid, hands the old and the new config to each component's reload function in a
fixed order: broker (listeners, limits, auth files), relays, sensors, rules and schedules, bridges,
diagnostics, Home Assistant discovery last. Each returns one `ComponentResult` per thing it owns
(one per sensor, relay, bridge, listener ...), so the journal and the result topic get one line per
component. A component that cannot apply its part reports `Outcome.FAILED` with the reason and the
others carry on; a setting that only takes effect at start reports `Outcome.NEEDS_RESTART`.

A component's reload function has this shape (all `async`, called on the event loop):

    async def reload_relays(gateway, old_config, new_config) -> list[ComponentResult]

`diff_named` splits two lists of named config records into what was added, removed, changed and
left alone, which every per-name component needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter
from typing import Any, Generic, TypeVar

__all__ = ["ComponentResult", "NamedDiff", "Outcome", "diff_named", "running_section"]


class Outcome(StrEnum):
    UNCHANGED = "unchanged"
    RESTARTED = "restarted"  # stopped and started again with its new settings
    RECONFIGURED = "reconfigured"  # changed in place, without a stop
    ADDED = "added"
    REMOVED = "removed"
    NEEDS_RESTART = "needs restart"  # changed in the file; takes effect at the next start
    FAILED = "failed"  # could not be applied; `detail` says why


@dataclass(frozen=True)
class ComponentResult:
    kind: str  # "sensor", "relay", "bridge", "listener", "broker", "rules", "schedule", ...
    name: str
    outcome: Outcome
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "outcome": str(self.outcome),
            "detail": self.detail,
        }


T = TypeVar("T")


@dataclass(frozen=True)
class NamedDiff(Generic[T]):
    """Two configs' lists compared by name; `changed` holds (old, new) pairs."""

    added: list[T] = field(default_factory=list)
    removed: list[T] = field(default_factory=list)
    changed: list[tuple[T, T]] = field(default_factory=list)
    unchanged: list[T] = field(default_factory=list)


def diff_named(
    old: Iterable[T], new: Iterable[T], key: Callable[[T], Any] = attrgetter("name")
) -> NamedDiff[T]:
    """Compare by `key` (the name), then by equality of the records; new order is kept."""
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    diff: NamedDiff[T] = NamedDiff()
    for name, item in after.items():
        if name not in before:
            diff.added.append(item)
        elif before[name] == item:
            diff.unchanged.append(item)
        else:
            diff.changed.append((before[name], item))
    diff.removed.extend(item for name, item in before.items() if name not in after)
    return diff


def running_section(gateway: Any, old_config: Any) -> Any:
    """The [gateway] section the components run with: the one the gateway started with (its id,
    base_topic and state_dir change only at a restart), else the running config's."""
    reloader = getattr(gateway, "reloader", None)
    return (old_config if reloader is None else reloader.started_config).gateway
