"""gateway.bridge.orphans on a pure broker core with a fake clock: a bridge session whose bridge
is not configured stops queueing, keeps what it holds until its lifetime is over, and the core's
session expiry then ends it; a configured bridge's session is not touched."""

from __future__ import annotations

from gateway.bridge.orphans import retire, retire_orphans
from gateway.broker.core import BrokerCore
from gateway.broker.session import Session
from gateway.broker.settings import NEVER_EXPIRES, BrokerSettings
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Publish, Subscribe, Subscription


class _Link:
    """What the core reads from a bridge's forwarder when it subscribes its session."""

    version = 5
    username = None
    listener = peer = "bridge"
    connected, closed, acks_immediately, in_process = True, False, False, True

    def __init__(self, session: Session) -> None:
        self.session = session
        self.client_id = session.client_id

    def send(self, packet: object) -> None:
        pass

    def close(self) -> None:
        pass


def bridge_session(core: BrokerCore, name: str) -> Session:
    """A detached `$bridge/<name>` session subscribed to `data/#`, as a forwarder leaves it."""
    session = Session(f"$bridge/{name}", core.settings, core.stats)
    session.expiry_interval = NEVER_EXPIRES
    session.in_process = True
    core.sessions[session.client_id] = session
    core.subscribe(_Link(session), Subscribe(1, (Subscription("data/#", QoS.AT_LEAST_ONCE),)), 0.0)
    session.detach(0.0)
    core.stats.clients_disconnected += 1  # as a session restored from the store is counted
    return session


def publish(core: BrokerCore, now: float) -> None:
    core.route_publish(Publish("data/x", b"1", QoS.AT_LEAST_ONCE), "data/x", "lan", now)


def test_an_unconfigured_bridge_session_stops_queueing_and_expires_after_its_lifetime():
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    old, kept = bridge_session(core, "old"), bridge_session(core, "kept")
    publish(core, 1.0)
    assert (old.queued_count, kept.queued_count) == (1, 1)  # positive control: both queue

    assert retire_orphans(core, {"kept"}, 600, 10.0) == 1
    publish(core, 11.0)
    assert (old.queued_count, kept.queued_count) == (1, 2)  # the orphan queues nothing new
    assert old.subscriptions == {} and old.expires_at() == 610.0
    assert kept.expires_at() is None and list(kept.subscriptions) == ["data/#"]

    retire(core, old, 600, 300.0, counted=True)  # retired again (a restart): the time stays
    assert old.expires_at() == 610.0
    core.tick(609.0)
    assert core.sessions.get("$bridge/old") is old
    core.tick(610.0)
    assert "$bridge/old" not in core.sessions and "$bridge/kept" in core.sessions
    assert core.stats.clients_expired == 1 and core.stats.clients_disconnected == 1
    assert core.stats.dropped["session_ended"] == 1


def test_a_lifetime_already_over_ends_it_at_once():
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    bridge_session(core, "old")
    publish(core, 1.0)
    assert retire_orphans(core, set(), 0, 10.0) == 1
    assert "$bridge/old" not in core.sessions
    assert core.stats.clients_expired == 1 and core.stats.clients_disconnected == 0
