"""The bridge's local side: a persistent session of our broker, sent through to the cloud.

How this works: `Forwarder` is the `Link` of the bridge's session (client id `$bridge/<name>`,
expiry never, subscribed with no-local to every outbound mapping). Deliveries are *not*
acknowledged on sending: each QoS 1/2 delivery stays in the session's in-flight table (and, with
the store, on disk) until the cloud's PUBACK / PUBCOMP for the paho message id it went out with
arrives; then `session.on_puback` / `on_pubcomp` frees the slot and pumps the next one. The
session's `send_quota` is the cloud in-flight window (set to 0 while the rate limit has no token).

While the cloud link is down the session is detached, so deliveries queue in the session queue with
the bridge's own limits (count, bytes, overflow policy; age is purged here, from memory and from
disk: `purge_old`). On reconnect paho
resends what it still holds, then `attach` resends the rest of the in-flight table (after a restart
paho holds nothing, so those go out as new PUBLISHes) and pumps the queue at full speed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.bridge.config import BridgeConfig
from gateway.bridge.health import LinkHealth
from gateway.bridge.limits import ArrivalClock, TokenBucket
from gateway.bridge.mapping import Mapper, Routed
from gateway.broker.message import Delivery
from gateway.broker.session import OutState, Session
from gateway.broker.settings import NEVER_EXPIRES, QueueOverflow
from gateway.broker.store.persistence import NULL_PERSISTENCE, Persistence
from gateway.logfields import fields
from gateway.mqtt.enums import QoS, RetainHandling
from gateway.mqtt.packets import Publish, Subscribe, Subscription, Unsubscribe
from gateway.mqtt.properties import Properties

if TYPE_CHECKING:
    from gateway.bridge.cloud import Ack, CloudClient
    from gateway.broker.server import Broker

log = logging.getLogger(__name__)

ROUTE_CACHE = 4096  # topics whose mapping is remembered (the cache starts over when full)

_OVERFLOW = {
    "drop-oldest": QueueOverflow.DROP_OLDEST,
    "drop-newest": QueueOverflow.DROP_NEW,
    "refuse": QueueOverflow.DROP_NEW,
}  # refuse: the publisher is refused before routing


class BridgeCounters:
    """What the bridge has done, for its metrics; `drop`/`limit` also count in the broker's stats
    (the session reports its queue drops through this object)."""

    def __init__(self, broker_stats: Any, name: str) -> None:
        self._broker = broker_stats
        self.name = name
        self.sent = 0  # PUBLISHes to the cloud, first sends
        self.resent = 0  # sent again after a reconnect
        self.acked = 0
        self.rejected = 0  # the cloud acknowledged with an error code
        self.received = 0  # cloud -> local
        self.refused = 0  # local publishers refused (overflow = refuse)
        self.dropped: dict[str, int] = {}
        self.connects = 0
        self.disconnects = 0
        self.stuck = 0

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count
        self._broker.drop(f"bridge_{reason}", count)

    def limit(self, name: str) -> None:
        self._broker.limit(f"bridge_{name}")

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Forwarder:
    # what the core reads from a "connection" when this link subscribes
    version = 5
    username = None
    listener = "bridge"
    peer = "bridge"
    connected = True
    closed = False
    acks_immediately = False
    in_process = True  # the gateway's own session: the core skips the ACL for it

    def __init__(
        self,
        cfg: BridgeConfig,
        broker: Broker,
        counters: BridgeCounters,
        message_id: Callable[[Delivery], str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.broker = broker
        self.core = broker.core
        self.client_id = f"$bridge/{cfg.name}"
        self.mapper = Mapper(tuple(t.to_map() for t in cfg.topics))
        self.counters = counters
        self.window = cfg.inflight
        self.send_quota = 0
        self.cloud: CloudClient | None = None
        self.health = LinkHealth(cfg.ack_timeout)
        now = broker.clock()
        self.bucket = TokenBucket(cfg.rate_limit, cfg.rate_burst, now)
        self.arrivals = ArrivalClock(self.core.sequence, now)  # by broker sequence: memory only
        self.stored_arrivals = ArrivalClock(self._store().last_queue_id(), now)  # by store row
        self._message_id = message_id if cfg.protocol == "5.0" and cfg.message_id_property else None
        self._mid_pid: dict[int, int] = {}
        self._pid_mid: dict[int, int] = {}
        self._routes: dict[tuple[str, QoS, bool], Routed | None] = {}
        self._purge_asked: tuple[int | None, int] | None = None  # (up to, spilled) last asked
        self.session = self._adopt_session(now)

    # -- the session -------------------------------------------------------------------------

    def _adopt_session(self, now: float) -> Session:
        core = self.core
        persistence = getattr(core, "persistence", None)  # the durable store, when configured
        session = core.sessions.get(self.client_id)  # restored from the store after a restart
        self.created_session = session is None  # not counted as a disconnected session
        if session is not None and session.expiry_interval != NEVER_EXPIRES:
            log.info(
                "bridge %s: added back; its kept session sends %d queued message(s)",
                self.cfg.name,
                session.queued_count + len(session.inflight),
                extra=fields(bridge=self.cfg.name),
            )
        if session is None:
            session = (
                Session(self.client_id, core.settings, core.stats)
                if persistence is None
                else Session(self.client_id, core.settings, core.stats, persistence)
            )
            core.sessions[self.client_id] = session
            session.detach(now)
        q = self.cfg.queue
        session.settings = dataclasses.replace(
            core.settings,
            max_queued_messages=q.max_messages,
            max_queued_bytes=q.max_bytes,
            queue_overflow=_OVERFLOW[q.overflow],
            queue_qos0_offline=False,
        )
        session.stats = self.counters  # type: ignore[assignment]  # drops counted per bridge
        session.expiry_interval = NEVER_EXPIRES
        session.in_process = True
        session.will = None
        if persistence is not None:
            persistence.session_changed(session, now)  # expiry never: the store makes it durable
        self._sync_subscriptions(session, now)
        return session

    def _sync_subscriptions(self, session: Session, now: float) -> None:
        wanted = dict(self.mapper.local_subscriptions())
        stale = [f for f in session.subscriptions if f not in wanted]
        if stale:
            self.core.unsubscribe(self._as_conn(session), Unsubscribe(1, tuple(stale)))
        subs = tuple(
            Subscription(
                f,
                q,
                no_local=True,
                retain_as_published=True,
                retain_handling=RetainHandling.SEND_IF_NEW_SUBSCRIPTION,
            )
            for f, q in wanted.items()
        )
        if subs:
            self.core.subscribe(self._as_conn(session), Subscribe(1, subs), now)
        persistence = getattr(self.core, "persistence", None)
        if persistence is not None:
            persistence.subscriptions_changed(session)

    def release(self, now: float, expiry: int) -> None:
        """The bridge was removed (a reload): its session stops queueing, unsubscribed from
        every filter; what it holds stays, for a bridge of the same name to send, until it
        expires `expiry` seconds from now (gateway.bridge.orphans)."""
        from gateway.bridge.orphans import retire

        retire(self.core, self.session, expiry, now, counted=not self.created_session)

    def _as_conn(self, session: Session) -> Forwarder:
        self.session = session
        return self

    def send(self, packet: object) -> None:  # SUBACK / UNSUBACK to ourselves: nothing to do
        pass

    def close(self) -> None:
        pass

    # -- link up / down ----------------------------------------------------------------------

    def up(self, cloud: CloudClient, now: float) -> None:
        """The cloud answered CONNACK: resend what is unacknowledged, then drain the queue."""
        self.cloud = cloud
        self.send_quota = self.window
        self.health.reset(now)
        self.session.attach(self, now)
        self.broker.flush()

    def down(self, now: float) -> None:
        """The cloud link is gone: deliveries queue until `up`."""
        self.cloud = None
        self.send_quota = 0
        if self.session.link is self:
            self.session.detach(now)

    @property
    def is_up(self) -> bool:
        return self.cloud is not None

    # -- Link: the session sends through here ------------------------------------------------

    def send_delivery(
        self, delivery: Delivery, packet_id: int | None, dup: bool, now: float
    ) -> bool:
        cloud = self.cloud
        if cloud is None:  # cannot happen while attached; keep it queued-looking, not lost
            return packet_id is not None
        if packet_id is not None and packet_id in self._pid_mid:
            self.counters.resent += 1  # paho resent it itself on CONNACK (same id, DUP)
            return True
        message = delivery.message
        routed = self._outbound(message.topic, delivery.qos, delivery.retain)
        if routed is None:
            self.counters.drop("unmapped")
            return False
        mid = cloud.publish(
            routed.topic,
            message.payload,
            routed.qos,
            routed.retain,
            self._properties(delivery, now),
        )
        if dup:
            self.counters.resent += 1
        else:
            self.counters.sent += 1
        self._spend_token(now)
        if routed.qos == QoS.AT_MOST_ONCE or packet_id is None:
            return False  # nothing to wait for: the session forgets it now
        self._mid_pid[mid] = packet_id
        self._pid_mid[packet_id] = mid
        self.health.sent(mid, now)
        return True

    def _outbound(self, topic: str, qos: QoS, retain: bool) -> Routed | None:
        """`mapper.outbound`, remembered per (topic, QoS, retain): sensors publish on few topics."""
        key = (topic, qos, retain)
        routes = self._routes
        try:
            return routes[key]
        except KeyError:
            pass
        if len(routes) >= ROUTE_CACHE:
            routes.clear()
        routed = routes[key] = self.mapper.outbound(topic, qos, retain)
        return routed

    def _properties(self, delivery: Delivery, now: float) -> Properties:
        """What travels upstream: the message's properties, the expiry interval counted down
        [MQTT-3.3.2-6], and the message id property (subscription identifiers never go to a
        server [MQTT-3.3.4-6])."""
        message = delivery.message
        props = message.properties
        remaining = message.remaining_expiry(now)
        if remaining is not None:
            props = dataclasses.replace(props, message_expiry_interval=remaining)
        id_property = self.cfg.message_id_property
        if self._message_id is not None and id_property is not None:
            props = dataclasses.replace(
                props,
                user_properties=(
                    *props.user_properties,
                    (id_property, self._message_id(delivery)),
                ),
            )
        return props

    def send_pubrel(self, packet_id: int) -> None:
        """Only a restart leaves a delivery awaiting PUBCOMP that paho does not hold: it was
        republished by `attach` as a new QoS 2 PUBLISH, completed by its PUBCOMP."""

    def _spend_token(self, now: float) -> None:
        if not self.bucket.unlimited and not self.bucket.take(now):
            self.send_quota = 0  # the session queues until `refill` opens the window again
        elif not self.bucket.unlimited and self.bucket.tokens < 1:
            self.send_quota = 0

    def refill(self, now: float) -> float | None:
        """Timer: reopen the window when the rate limit allows; returns when to call again."""
        if self.cloud is None or self.bucket.unlimited or self.send_quota:
            return None
        wait = self.bucket.wait(now)
        if wait > 0:
            return now + wait
        self.send_quota = self.window
        self.session.pump(now)
        self.broker.flush()
        return None

    # -- acknowledgements from the cloud -----------------------------------------------------

    def acked(self, acks: list[Ack], now: float) -> None:
        """The cloud acknowledged these (paho message id, None or the error reason), in order:
        each frees its session slot (and its row in the store), then the window refills."""
        for mid, error in acks:
            self._acked(mid, error, now)
        self.broker.flush()

    def _acked(self, mid: int, error: str | None, now: float) -> None:
        packet_id = self._mid_pid.pop(mid, None)
        if packet_id is None:
            return  # the status message
        self._pid_mid.pop(packet_id, None)
        self.health.acked(mid, now)
        if error is None:
            self.counters.acked += 1
        else:
            self.counters.rejected += 1
            self.counters.drop("rejected_by_cloud")
            log.warning(
                "bridge %s: the cloud refused a message (%s): dropped",
                self.cfg.name,
                error,
                extra=fields(bridge=self.cfg.name),
            )
        session = self.session
        flight = session.inflight.get(packet_id)
        if flight is None:
            return
        if flight.state is OutState.AWAIT_PUBACK:
            session.on_puback(packet_id, now)
        else:  # paho reports QoS 2 at PUBCOMP only
            if flight.state is OutState.AWAIT_PUBREC:
                session.on_pubrec(packet_id, False, now)
            session.on_pubcomp(packet_id, now)

    def forget_cloud_state(self) -> None:
        """The cloud had no session for us (CONNACK session present = 0) and paho dropped its
        copies: `up` resends every delivery in flight as a new PUBLISH, timed from then."""
        self._mid_pid.clear()
        self._pid_mid.clear()
        self.health.forget_all()

    # -- inbound: cloud -> local -------------------------------------------------------------

    def inbound(
        self, topic: str, payload: bytes, qos: int, retain: bool, properties: Properties, now: float
    ) -> None:
        routed = self.mapper.inbound(topic, QoS(qos), retain)
        if routed is None:
            self.counters.drop("inbound_unmapped")
            return
        self.counters.received += 1
        packet = Publish(routed.topic, payload, routed.qos, routed.retain, properties=properties)
        self.core.route_publish(packet, routed.topic, self.client_id, now)
        self.broker.flush()

    # -- limits ------------------------------------------------------------------------------

    def queue_full(self) -> bool:
        session = self.session
        q = self.cfg.queue
        return session.queued_count >= q.max_messages or session.queued_bytes >= q.max_bytes

    def refuse_guard(self, topic: str) -> bool:
        """Core hook (overflow = refuse): True refuses a QoS 1/2 publish bound for a full queue."""
        if not self.queue_full() or self.mapper.outbound(topic, QoS.AT_LEAST_ONCE, False) is None:
            return False
        self.counters.refused += 1
        self.counters.limit("queue_refuse")
        return True

    def _store(self) -> Persistence:
        return getattr(self.core, "persistence", NULL_PERSISTENCE)

    def _age(self, delivery: Delivery, now: float) -> float:
        """How long a delivery has waited: by its store row when it has one (paged in from disk
        or restored, it has no sequence number of this run), else by the broker's sequence."""
        if delivery.qid:
            return self.stored_arrivals.age(delivery.qid, now)
        return self.arrivals.age(delivery.message.seq, now)

    def purge_old(self, now: float) -> int:
        """Drop queued messages older than `queue.max_age`: the oldest in memory, then, once all
        of those are gone, the ones on disk only (older first: one range delete in the store,
        counted when it answers). Returns the count dropped from memory."""
        self.arrivals.record(self.core.sequence, now)
        self.stored_arrivals.record(self._store().last_queue_id(), now)
        max_age = self.cfg.queue.max_age
        if not max_age:
            return 0
        session = self.session
        dropped = 0
        while session.queue and self._age(session.queue[0], now) > max_age:
            delivery = session.queue.popleft()
            session.queued_bytes -= len(delivery.message.payload)
            session.forget(delivery)
            dropped += 1
        if dropped:
            self.counters.drop("max_age", dropped)
            log.warning(
                "bridge %s: %d message(s) older than %g s dropped",
                self.cfg.name,
                dropped,
                max_age,
                extra=fields(bridge=self.cfg.name),
            )
        if not session.queue and session.spilled:  # the rest of the queue is on disk, younger
            upto = self.stored_arrivals.last_before(now - max_age)
            asked = (upto, session.spilled)
            if (
                upto is not None
                and asked != self._purge_asked
                and session.purge_spilled_upto(upto, "max_age")
            ):
                self._purge_asked = asked  # not again while nothing has moved
        return dropped

    def oldest_age(self, now: float) -> float:
        """Age of the oldest message waiting: in flight, queued in memory or on disk only."""
        session = self.session
        waiting = [f.delivery for f in session.inflight.values()]
        if session.queue:
            waiting.append(session.queue[0])
        seqs = [d.message.seq for d in waiting if not d.qid]
        qids = [d.qid for d in waiting if d.qid]
        if session.spilled and not session.queue:
            qids.append(session.tail_qid + 1)  # the first on disk came after the memory tail
        ages = [0.0]
        if seqs:
            self.arrivals.prune(min(seqs))
            ages.append(self.arrivals.age(min(seqs), now))
        if qids:
            self.stored_arrivals.prune(min(qids))
            ages.append(self.stored_arrivals.age(min(qids), now))
        return max(ages)
