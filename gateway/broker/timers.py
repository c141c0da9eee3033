"""The broker core's timers: will delay, session expiry, the message-expiry purge, the `$SYS`
interval and each connection's own timers (CONNECT timeout, keepalive x 1.5); no I/O.

How this works: time is an argument. The glue calls `BrokerCore.tick(now)` whenever `now` has
reached `BrokerCore.next_deadline()` (and at least once a second); both come here. `tick` fires
whatever is due: a delayed will whose delay is over is published [MQTT-3.1.3-9], a session whose
expiry interval has passed since its client left ends (spec 3.1.2.11.2), every `PURGE_INTERVAL`
seconds expired messages are dropped from session queues and the retained store
[MQTT-3.3.2-5], and every `sys_interval` seconds the `$SYS` topics are published
(gateway.broker.sys_tree). `next_deadline` is the earliest of them all, so the glue sleeps exactly
until something is due (Mosquitto's keepalive.c, will_delay.c and session_expiry.c, as one
deadline).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.logfields import log_fields

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore

log = logging.getLogger("gateway.broker.core")  # the lines these timers log were always the core's

PURGE_INTERVAL = 60  # seconds between sweeps for expired queued and retained messages


class CoreTimers:
    """The deadlines of one `BrokerCore` that are not stored on its sessions or connections."""

    def __init__(self, core: BrokerCore, now: float) -> None:
        self.core = core
        self.next_sys = now
        self.next_purge = now + PURGE_INTERVAL

    def tick(self, now: float) -> None:
        core = self.core
        self._check_connections(now)
        for session in list(core.sessions.values()):
            if session.will_due is not None and now >= session.will_due and session.will:
                will, session.will, session.will_due = session.will, None, None
                core.publish_will(will, session.client_id, now)
                core.persistence.session_changed(session, now)
            expires = session.expires_at()
            if expires is not None and now >= expires:
                log.info(
                    "session of %s expired", session.client_id, extra=log_fields(session.client_id)
                )
                core.stats.clients_disconnected -= 1
                core.stats.clients_expired += 1
                core.end_session(session, now)
        if now >= self.next_purge:
            self.next_purge = now + PURGE_INTERVAL
            for session in core.sessions.values():
                session.purge_expired(now)
            core.retained.purge_expired(now)
        if core.settings.sys_interval and now >= self.next_sys:
            self.next_sys = now + core.settings.sys_interval
            core.publish_sys(now)

    def _check_connections(self, now: float) -> None:
        for conn in list(self.core.connections):
            conn.check_timeouts(now)  # CONNECT timeout, keepalive x 1.5 [MQTT-3.1.2-22]

    def next_deadline(self) -> float | None:
        core = self.core
        deadlines = [self.next_purge]
        if core.settings.sys_interval:
            deadlines.append(self.next_sys)
        for conn in core.connections:
            due = conn.deadline()
            if due is not None:
                deadlines.append(due)
        for session in core.sessions.values():
            if session.will_due is not None:
                deadlines.append(session.will_due)
            expires = session.expires_at()
            if expires is not None:
                deadlines.append(expires)
        return min(deadlines)
