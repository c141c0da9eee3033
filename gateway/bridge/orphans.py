"""Sessions of bridges that are no longer configured: they stop queueing, are kept for a bounded
time, then deleted.

How this works: a bridge's durable queue is the broker session `$bridge/<name>`
(gateway.bridge.forwarder), which the store restores at every start whether or not the config
still names the bridge. `retire_orphans` runs at start-up, after the store restored the sessions
and before the listeners open: every `$bridge/...` session whose bridge is not configured is
retired as a reload removal retires one (`retire`): its subscriptions are dropped, so it queues
nothing new, and what it holds is kept until `[store] removed_bridge_expiry` seconds (7 days by
default) after the bridge was removed. That limit is the broker's own session expiry (the
session's expiry interval, counted from its `disconnected_at`, both written to the store in wall
time), so the core's timer deletes the session and its rows when it passes, across restarts: a
restart does not start the time again, because a session whose expiry is already finite was
retired before and keeps its removal time. A bridge of the same name added back (by a reload or
at a start) adopts the session, whose expiry becomes "never" again, and sends what it holds.
Mosquitto keeps nothing of a removed bridge (its queue lives in the bridge's own client); we keep
it for a while because a bridge commented out or renamed by mistake should not lose what the
gateway accepted for the cloud, and no longer because an orphan's queue costs disk space forever.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from gateway.broker.core import RESERVED_CLIENT_ID_PREFIX as PREFIX
from gateway.broker.settings import NEVER_EXPIRES
from gateway.logfields import fields

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore
    from gateway.broker.session import Session

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = (
    7 * 86400
)  # seconds a removed bridge's queue is kept ([store] removed_bridge_expiry)


def expiry_of(gateway: Any) -> int:
    """The running `[store] removed_bridge_expiry` (a reload applies the broker's part, and so
    the store's settings, before the bridges')."""
    store = getattr(gateway, "store", None)
    if store is not None:
        return int(store.settings.removed_bridge_expiry)
    return int(gateway.config.store.removed_bridge_expiry)


def orphans(core: BrokerCore, configured: Collection[str]) -> list[Session]:
    """The bridge sessions whose bridge is not in `configured` (names)."""
    return [
        s
        for cid, s in core.sessions.items()
        if cid.startswith(PREFIX) and cid[len(PREFIX) :] not in configured
    ]


def held(session: Session) -> int:
    return session.queued_count + len(session.inflight)


def retire_orphans(core: BrokerCore, configured: Collection[str], expiry: int, now: float) -> int:
    """At start-up: retire every bridge session that no configured bridge owns; log each once.
    Returns how many there were."""
    found = orphans(core, configured)
    for session in found:
        retire(core, session, expiry, now, counted=True)
    return len(found)


def retire(core: BrokerCore, session: Session, expiry: int, now: float, *, counted: bool) -> None:
    """Stop `session` queueing and let it expire `expiry` seconds after its bridge was removed
    (now, unless it was retired before: a restart keeps that time). `counted`: it is already
    counted as a disconnected persistent session (restored from the store), as the core's
    expiry expects."""
    for entry in session.subscriptions.values():
        core.subs.remove(entry.topic_filter, session.client_id, entry.group)
    if session.subscriptions:
        session.subscriptions.clear()
        core.persistence.subscriptions_changed(session)
    if not counted:
        core.stats.clients_disconnected += 1
    first = session.expiry_interval == NEVER_EXPIRES or session.disconnected_at is None
    if first:
        session.disconnected_at = now
    name = session.client_id[len(PREFIX) :]
    assert session.disconnected_at is not None
    if session.disconnected_at + expiry <= now:
        log.warning(
            "bridge session %s is not configured and its %d s are over: deleted with %d queued "
            "message(s)",
            session.client_id,
            expiry,
            held(session),
            extra=fields(bridge=name),
        )
        core.stats.clients_disconnected -= 1
        core.stats.clients_expired += 1
        core.end_session(session, now)
        return
    session.expiry_interval = expiry
    core.persistence.session_changed(session, now)
    log.warning(
        "bridge session %s has %d queued message(s) and is not configured: kept until %s, then "
        "deleted; re-add the bridge named %s to send them",
        session.client_id,
        held(session),
        _wall(session.disconnected_at + expiry, now),
        name,
        extra=fields(bridge=name),
    )


def _wall(t: float, now: float) -> str:
    """`t` on the core's clock as a UTC time."""
    at = time.time() + (t - now)
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
