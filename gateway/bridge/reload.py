"""Reload of the `[[bridges]]` tables without a restart: each bridge added, removed or changed
alone; the others keep their connection.

How it works: `plan` compares the running and the new bridge configs by name (pure) and says, for
each changed bridge, what changed: its connection (host, port, TLS files, credentials, keepalive,
client id, session), its topic mappings, or its queue, rate and timing settings. Every changed
bridge is restarted the same way: its `BridgeService` stops (`offline` status to the cloud,
DISCONNECT), and a new one starts with the new config and reconnects with backoff. The durable
queue is not the service's: it is the broker session `$bridge/<name>` (gateway.bridge.forwarder),
which the new service adopts, so the messages buffered while the link was down — in memory, on
disk, in flight — go out after the reload in their order. Changed mappings re-subscribe that
session (new filters in, dropped ones out); a queued message that no outbound mapping matches any
more is dropped as `unmapped` (counted). The counters carry over, so the metrics stay monotonic.

A removed bridge stops and its session stops queueing (unsubscribed), but what it had queued is
kept — in memory and in the store — for `[store] removed_bridge_expiry` seconds, then deleted by
the broker's session expiry (gateway.bridge.orphans, which retires the same way at start-up the
session of a bridge missing from the file): adding a bridge of the same name back within that
time (a typo fixed, a bridge commented out while testing) sends it. Mosquitto drops a removed
bridge's queue with the bridge; we keep it for a while because the durable buffer's promise is
that nothing the gateway accepted for the cloud is lost silently, and the kept queue is bounded by
the limits it had. The removed bridge's metric topics (retained) are cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.bridge.config import BridgeConfig
from gateway.logfields import fields
from gateway.reload import ComponentResult, Outcome, diff_named, running_section

if TYPE_CHECKING:
    from gateway.bridge.service import BridgeService
    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

KIND = "bridge"
CONNECTION = (
    "profile",
    "host",
    "port",
    "client_id",
    "thing_name",
    "protocol",
    "keepalive",
    "clean_start",
    "session_expiry",
    "username",
    "password_file",
    "tls",
    "azure",
    "connect_timeout",
)
MAPPINGS = ("topics",)


def changes(old: BridgeConfig, new: BridgeConfig) -> str:
    """What changed in one bridge, in words: connection details, topic mappings, the rest (queue
    limits, rate, timers, status and message id settings) by name."""
    changed = [f for f in type(new).model_fields if getattr(old, f) != getattr(new, f)]
    connection = [f for f in changed if f in CONNECTION]
    rest = [f for f in changed if f not in CONNECTION and f not in MAPPINGS]
    parts = []
    if connection:
        parts.append(f"connection details ({', '.join(connection)})")
    if any(f in MAPPINGS for f in changed):
        parts.append("topic mappings")
    parts += rest
    return ", ".join(parts) + " changed"


def plan(
    old: Sequence[BridgeConfig], new: Sequence[BridgeConfig]
) -> dict[str, tuple[Outcome, str]]:
    """Bridge name -> (what a reload from `old` to `new` does to it, why)."""
    diff = diff_named(old, new)
    out: dict[str, tuple[Outcome, str]] = {b.name: (Outcome.ADDED, "") for b in diff.added}
    out.update({b.name: (Outcome.UNCHANGED, "") for b in diff.unchanged})
    out.update({n.name: (Outcome.RESTARTED, changes(o, n)) for o, n in diff.changed})
    ordered = {b.name: out[b.name] for b in new}
    ordered.update({b.name: (Outcome.REMOVED, "") for b in diff.removed})
    return ordered


async def reload_bridges(
    gateway: Any, old_config: GatewayConfig, new_config: GatewayConfig
) -> list[ComponentResult]:
    """Apply the bridge part of a reload to the running gateway; one result per bridge."""
    from gateway.bridge.service import BridgeService

    steps = plan(old_config.bridges, new_config.bridges)
    section = running_section(gateway, old_config)
    running = {s.name: s for s in gateway.services if isinstance(s, BridgeService)}
    configs = {b.name: b for b in new_config.bridges}
    results = []
    for name, (outcome, detail) in steps.items():
        try:
            done = await _apply(gateway, section, running.get(name), configs.get(name), outcome)
            detail = "; ".join(d for d in (detail, done) if d)
        except Exception as exc:  # one bridge's failure must not stop the others
            log.exception("bridge %s: reload failed", name, extra=fields(bridge=name))
            outcome, detail = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
        results.append(ComponentResult(KIND, name, outcome, detail))
    return results


async def _apply(
    gateway: Any,
    section: Any,
    running: BridgeService | None,
    cfg: BridgeConfig | None,
    outcome: Outcome,
) -> str:
    from gateway.bridge.service import start_bridge, stop_bridge
    from gateway.components import insert_in_order

    if outcome is Outcome.UNCHANGED:
        return ""
    if outcome is Outcome.REMOVED:
        assert running is not None
        kept = await stop_bridge(gateway, running, removed=True)
        return f"{kept} queued message(s) kept for a bridge of this name"
    assert cfg is not None
    counters = None
    if running is not None:  # RESTARTED: the same session (queue), the same counters
        counters = running.counters
        await stop_bridge(gateway, running, removed=False)
    bridge = await start_bridge(
        gateway, cfg, gateway_id=section.id, base_topic=section.base_topic, counters=counters
    )
    insert_in_order(gateway.services, bridge)
    queued = bridge.queued()
    return f"{queued} queued message(s) kept" if running is not None and queued else ""
