"""A client's session: the state that outlives one network connection.

How this works: the session owns the client's subscriptions, the QoS 1/2 deliveries in flight
towards the client (by packet identifier, in send order), the queue of deliveries waiting for a free
slot in the client's receive window or for the client to come back, and the identifiers of QoS 2
messages received from the client but not yet released. It talks to whatever `Link` is attached (a
network connection or an in-process client); with none attached it only queues.

Outbound flow [MQTT-4.3, 4.9]: `deliver()` sends at once while the window has room and nothing is
queued (so order is kept), otherwise it queues; every acknowledgement frees a slot and `pump()` sends
the next queued deliveries. Queue limits apply with a named overflow policy; every drop is counted.

Durable sessions (a store is attached and the session outlives its connection): every QoS 1/2
delivery is recorded through `persistence` when queued, sent and acknowledged, and the queue keeps
at most `persistence.memory_window` deliveries in memory. Beyond that they are "spilled": they live
only on disk, all after the in-memory ones (`tail_qid` is the last one in memory), and are paged back
in order when the in-memory part has drained to half the window. A drop-oldest that finds the memory
empty while a page is being read is remembered as `_drop_debt` and applied to the page when it comes.

Send after commit (durable sessions, store durability "sync"): a QoS 2 PUBLISH, and a PUBREL, go on
the wire only after the commit that records the delivery's packet id and state (`ticket_since`, the
same group commit the publisher's PUBREC waits for: at most one commit window later). Otherwise a
kill -9 could leave the client holding a packet id the restarted broker never heard of: the message
comes again under a new id (a duplicate for the client), or its PUBLISH is re-sent after its PUBREL
[MQTT-4.3.3]. The session is the store's gate (`release`). The order rule is per session: once
anything is held, everything the session sends after it (QoS 0/1/2 PUBLISHes, PUBRELs, DUP re-sends)
waits behind it in `_held` and goes out in the order it was made; that keeps the per-topic order
MQTT asks for [MQTT-4.6.0-6] without tracking topics. QoS 1 PUBLISHes are not held on their own
account: a crash can only make one arrive twice, which QoS 1 allows, and holding them would cost
every QoS 1 delivery a commit window. Held packets never reached the client, so a detach drops them
(QoS 1/2 stay in flight and are re-sent with DUP at the next attach; QoS 0 is lost as in a closed
socket), and the re-sends at attach wait for the last commit the session was still waiting for.

Who calls what (underscore names stay inside this class): the core `attach`es and `detach`es
links, `deliver`s, and keeps `subscriptions`, `will`, `will_due` and `expiry_interval`; the
connection reports the client's acknowledgements (`on_puback`, `on_pubrec`, `on_pubcomp`) and its
QoS 2 packet ids (`store_incoming_qos2`, `release_incoming_qos2`); the store answers through
`release`, `paged_in`, `drop_unstored` and `spill_purged`, and saves and restores `durable`,
`next_packet_id` and `tail_qid`; the bridge's forwarder ages out its own queue (`forget`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from gateway.broker.message import Delivery
from gateway.broker.settings import NEVER_EXPIRES, BrokerSettings, QueueOverflow
from gateway.broker.stats import BrokerStats
from gateway.broker.store.persistence import NULL_PERSISTENCE, Persistence
from gateway.logfields import log_fields
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Subscription, Will
from gateway.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
_drops = RateLimitedLog(log)  # a flood of drops: one line per cause per 10 s, the rest counted


class Link(Protocol):
    """What a session needs from the connection attached to it."""

    send_quota: int  # how many QoS 1/2 deliveries may be in flight at once
    acks_immediately: bool  # True for in-process links: nothing stays in flight

    def send_delivery(
        self, delivery: Delivery, packet_id: int | None, dup: bool, now: float
    ) -> bool:
        """Send a PUBLISH; False when it could not be sent (too large for the client)."""

    def send_pubrel(self, packet_id: int) -> None: ...


@dataclass(slots=True)
class HeldSend:
    """A PUBLISH (or, with no delivery, a PUBREL) waiting for the commit `ticket` (0: none)."""

    ticket: int
    packet_id: int | None
    delivery: Delivery | None
    dup: bool
    now: float


class OutState(Enum):
    AWAIT_PUBACK = "puback"
    AWAIT_PUBREC = "pubrec"
    AWAIT_PUBCOMP = "pubcomp"


@dataclass(slots=True)
class OutFlight:
    delivery: Delivery
    state: OutState


@dataclass(frozen=True, slots=True)
class SubscriptionEntry:
    """A subscription as the session holds it: the options and the MQTT 5 identifier."""

    options: Subscription
    subscription_id: int | None = None
    group: str | None = None  # shared subscription group name
    topic_filter: str = ""  # the filter without the $share prefix


class Session:
    def __init__(
        self,
        client_id: str,
        settings: BrokerSettings,
        stats: BrokerStats,
        persistence: Persistence = NULL_PERSISTENCE,
    ) -> None:
        self.client_id = client_id
        self.settings = settings
        self.stats = stats
        self.subscriptions: dict[str, SubscriptionEntry] = {}
        self.expiry_interval = 0
        self.link: Link | None = None
        self.disconnected_at: float | None = None
        self.queue: deque[Delivery] = deque()
        self.queued_bytes = 0
        self.inflight: dict[int, OutFlight] = {}
        self.incoming_qos2: set[int] = set()
        self.will: Will | None = None
        self.will_due: float | None = None  # when a delayed will is to be published
        self.username: str | None = None
        # the gateway's own session (local_link, the bridge): set by those links, never from a
        # name or packet; it skips the ACL and no network client may take it over
        self.in_process = False
        self.next_packet_id = 1  # where the search for a free packet id starts (the store keeps it)
        self.persistence = persistence
        self.durable = False  # set by the store: this session's state is written to disk
        self.spilled = 0  # queued deliveries that live only on disk (after everything in `queue`)
        # store id of the last queued delivery in memory (those on disk only come after it); the
        # store sets it when it writes or reads back the in-memory part of the queue
        self.tail_qid = 0
        self._paging = False
        self._drop_debt = 0
        self._held: deque[HeldSend] = deque()  # sends waiting for a commit, in order
        self._ticket = 0  # the last commit this session's sends wait for (0: none)
        self._holding = False  # registered with the store as a gate

    @property
    def queued_count(self) -> int:
        """Queued deliveries, in memory and on disk (the session's queue limits count these)."""
        return len(self.queue) + self.spilled

    # -- lifetime ----------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self.link is not None

    def expires_at(self) -> float | None:
        if self.link is not None or self.expiry_interval == NEVER_EXPIRES:
            return None
        assert self.disconnected_at is not None
        return self.disconnected_at + self.expiry_interval

    def attach(self, link: Link, now: float) -> None:
        """A connection takes the session over: resend what is unacknowledged [MQTT-4.4.0-1]."""
        self.link = link
        self.disconnected_at = None
        for packet_id, flight in list(self.inflight.items()):
            if flight.delivery.message.expired(now) and flight.state is not OutState.AWAIT_PUBCOMP:
                del self.inflight[packet_id]
                self.forget(flight.delivery)
                self.stats.drop("expired")
                continue
            delivery = None if flight.state is OutState.AWAIT_PUBCOMP else flight.delivery
            self._send(HeldSend(self._ticket, packet_id, delivery, True, now))
        self.pump(now)

    def detach(self, now: float) -> None:
        self.link = None
        self.disconnected_at = now
        self._held.clear()  # never on the wire: in-flight ones are re-sent at the next attach

    # -- outbound ----------------------------------------------------------------------------

    def deliver(self, delivery: Delivery, now: float) -> None:
        link = self.link
        if delivery.qos == QoS.AT_MOST_ONCE:
            if link is not None:
                if self._held:  # behind what waits for a commit, in order
                    self._send(HeldSend(0, None, delivery, False, now))
                else:  # the common case: no HeldSend, no detour through _send/_write
                    link.send_delivery(delivery, None, False, now)
            elif self.settings.queue_qos0_offline:
                self._enqueue(delivery)
            return
        if (
            link is not None
            and not self.queue
            and not self.spilled
            and len(self.inflight) < link.send_quota
        ):
            self._send_new(delivery, now)
        else:
            if link is not None and len(self.inflight) >= link.send_quota:
                self.stats.limit("max_inflight")  # queued, not dropped: the window is full
            self._enqueue(delivery)

    def _send_new(self, delivery: Delivery, now: float) -> None:
        """Give `delivery` a packet id, record it in flight, send it (QoS 2: after its commit)."""
        link = self.link
        assert link is not None
        packet_id = self._allocate_packet_id()
        if link.acks_immediately:  # in-process: nothing stays in flight, nothing is recorded
            link.send_delivery(delivery, packet_id, False, now)
            self.forget(delivery)
            return
        state = (
            OutState.AWAIT_PUBACK if delivery.qos == QoS.AT_LEAST_ONCE else OutState.AWAIT_PUBREC
        )
        self.inflight[packet_id] = OutFlight(delivery, state)
        mark = self.persistence.mark()
        if self.durable:
            self.persistence.delivery_sent(self, delivery, packet_id, state)
        ticket = self.persistence.ticket_since(mark) if state is OutState.AWAIT_PUBREC else None
        self._send(HeldSend(ticket or 0, packet_id, delivery, False, now))

    # -- send after commit (durable sessions) ------------------------------------------------

    def _send(self, held: HeldSend) -> None:
        """Send now, or hold behind the commit `held.ticket` and behind whatever is held already."""
        if not held.ticket and not self._held:
            self._write(held)
            return
        self._held.append(held)
        self._ticket = max(self._ticket, held.ticket)
        if not self._holding:
            self._holding = True
            self.persistence.hold(self)

    def release(self, committed: int) -> bool:
        """The store committed everything up to `committed`: send what waited for it, in order.
        True when nothing waits any more (the store then forgets this gate)."""
        held = self._held
        freed = None
        while held and held[0].ticket <= committed:
            item = held.popleft()
            if not self._write(item):
                freed = item.now
        if self._ticket <= committed:
            self._ticket = 0
        if freed is not None:
            self.pump(freed)  # a refused delivery left a slot in the window
        self._holding = bool(held or self._ticket)
        return not self._holding

    def _write(self, held: HeldSend) -> bool:
        """Put one packet on the link; False when a delivery in flight was refused (too large)."""
        link = self.link
        assert link is not None  # a detach empties `_held`
        if held.delivery is None:
            assert held.packet_id is not None
            link.send_pubrel(held.packet_id)
            return True
        if (
            link.send_delivery(held.delivery, held.packet_id, held.dup, held.now)
            or held.packet_id is None
        ):
            return True
        if self.inflight.pop(held.packet_id, None) is not None:
            self.forget(held.delivery)
        return False

    def forget(self, delivery: Delivery) -> None:
        """`delivery` is done with (acknowledged, dropped or expired): off the durable queue."""
        if delivery.qid:
            self.persistence.queue_remove(self, delivery)

    def _enqueue(self, delivery: Delivery) -> None:
        size = len(delivery.message.payload)
        settings = self.settings
        while (
            self.queued_count >= settings.max_queued_messages
            or self.queued_bytes + size > settings.max_queued_bytes
        ):
            if settings.queue_overflow is QueueOverflow.DROP_OLDEST and self.queued_count:
                self._drop_oldest()
                self._count_drop("queue_full_drop_oldest")
            else:
                self._count_drop("queue_full_drop_new")
                return
        if self.durable and delivery.qos != QoS.AT_MOST_ONCE:
            if not self.persistence.queue_add(self, delivery):
                return  # the store is full: counted and logged by the store
            if not self.keeps_next_in_memory():
                self.spilled += 1  # on disk only, paged in when the memory part drains
                self.queued_bytes += size
                return
            self.tail_qid = delivery.qid
        elif self.spilled and len(self.queue) >= self.persistence.memory_window:
            self._count_drop("queue_memory_window_qos0")  # QoS 0 is never written to disk
            return
        self.queue.append(delivery)
        self.queued_bytes += size

    def keeps_next_in_memory(self) -> bool:
        """Whether a delivery queued now stays in memory (False: it lives on disk only)."""
        return not (
            self.spilled or self._paging or len(self.queue) >= self.persistence.memory_window
        )

    def _drop_oldest(self) -> None:
        if self.queue:
            old = self.queue.popleft()
            self.queued_bytes -= len(old.message.payload)
            self.forget(old)
            self._maybe_page()
        else:  # the oldest is on disk, being paged in: drop it when it arrives
            self.spilled -= 1
            self._drop_debt += 1
            self._maybe_page()

    def _count_drop(self, reason: str) -> None:
        self.stats.drop(reason)
        self.stats.limit("max_queued_messages")
        _drops.log(
            logging.WARNING,
            "dropped_queue_full",
            "queue of %s full: message dropped (%s)",
            self.client_id,
            reason,
            extra=log_fields(self.client_id),
        )

    def pump(self, now: float) -> None:
        """Send queued deliveries while the client's window has room."""
        link = self.link
        if link is None:
            return
        while self.queue and (
            len(self.inflight) < link.send_quota or self.queue[0].qos == QoS.AT_MOST_ONCE
        ):
            delivery = self.queue.popleft()
            self.queued_bytes -= len(delivery.message.payload)
            if delivery.message.expired(now):
                self.stats.drop("expired")
                self.forget(delivery)
                continue
            if delivery.qos == QoS.AT_MOST_ONCE:
                self._send(HeldSend(0, None, delivery, False, now))
            else:
                self._send_new(delivery, now)
            if self.link is None:
                return
        self._maybe_page()

    # -- the memory window (durable sessions) ------------------------------------------------

    def _maybe_page(self) -> None:
        window = self.persistence.memory_window
        if (
            (self.spilled or self._drop_debt)
            and not self._paging
            and len(self.queue) <= window // 2
        ):
            self._paging = True
            limit = max(window - len(self.queue), self._drop_debt + 1)
            self.persistence.page_in(self, self.tail_qid, limit)

    def paged_in(
        self, deliveries: list[Delivery], now: float, unreadable: Sequence[tuple[int, int]] = ()
    ) -> None:
        """Deliveries read back from disk, oldest first (called by the store on the loop);
        `unreadable` (store id, payload bytes) were on disk but did not decode: quarantined."""
        self._paging = False
        if unreadable:
            self.spilled = max(0, self.spilled - len(unreadable))
            self.queued_bytes = max(0, self.queued_bytes - sum(size for _, size in unreadable))
            self.stats.drop("store_unreadable", len(unreadable))
        for delivery in deliveries:
            self.tail_qid = delivery.qid
            if self._drop_debt:
                self._drop_debt -= 1
                self.queued_bytes -= len(delivery.message.payload)
                self.persistence.queue_remove(self, delivery)
                continue
            self.spilled -= 1
            self.queue.append(delivery)
        if unreadable:  # deleted from disk; the next page starts after them
            self.tail_qid = max(self.tail_qid, max(qid for qid, _ in unreadable))
        elif not deliveries and (self.spilled or self._drop_debt):
            log.error(
                "store has no more queued messages for %s although %d were expected: counts reset",
                self.client_id,
                self.spilled,
            )
            self.stats.drop("store_missing", self.spilled)
            self.spilled = self._drop_debt = 0
            self.queued_bytes = sum(len(d.message.payload) for d in self.queue)
        if self.link is not None:
            self.pump(now)
        else:
            self._maybe_page()

    def drop_unstored(self, rows: list[tuple[int, int]], reason: str) -> None:
        """A failed commit did not write these queued deliveries (store id, payload bytes): forget
        them (counted under `reason`); their publishers were refused. One already sent stays in
        flight, no longer durable."""
        sizes = dict(rows)
        kept: deque[Delivery] = deque()
        for delivery in self.queue:
            if delivery.qid in sizes:
                del sizes[delivery.qid]
                self.queued_bytes -= len(delivery.message.payload)
                delivery.qid = 0
            else:
                kept.append(delivery)
        dropped = len(self.queue) - len(kept)
        self.queue = kept
        for flight in self.inflight.values():
            if flight.delivery.qid in sizes:
                del sizes[flight.delivery.qid]
                flight.delivery.qid = 0
        on_disk = [qid for qid in sizes if qid > self.tail_qid]  # spilled: on disk only
        self.spilled = max(0, self.spilled - len(on_disk))
        self.queued_bytes = max(0, self.queued_bytes - sum(sizes[q] for q in on_disk))
        dropped += len(on_disk)
        if dropped:
            self.stats.drop(reason, dropped)
            log.warning(
                "queue of %s: %d message(s) dropped, the store could not write them (%s)",
                self.client_id,
                dropped,
                reason,
                extra=log_fields(self.client_id),
            )

    def purge_spilled_upto(self, upto_qid: int, reason: str) -> bool:
        """Drop the deliveries that live only on disk with store ids up to `upto_qid` (the oldest
        on disk; their owner's age limit), counted under `reason` when the store answers
        (`spill_purged`). False when none can be (none on disk, or a page is being read: ask
        again later)."""
        if not self.spilled or upto_qid <= self.tail_qid or self._paging or self._drop_debt:
            return False
        self.persistence.purge_queued(self, self.tail_qid, upto_qid, reason)
        return True

    def spill_purged(self, count: int, size: int, reason: str = "expired") -> None:
        """The store deleted `count` deliveries (`size` payload bytes) that were on disk only."""
        self.spilled = max(0, self.spilled - count)
        self.queued_bytes = max(0, self.queued_bytes - size)
        if count:
            self.stats.drop(reason, count)
            log.warning(
                "queue of %s: %d message(s) dropped from disk (%s)",
                self.client_id,
                count,
                reason,
                extra=log_fields(self.client_id),
            )

    def _allocate_packet_id(self) -> int:
        pid = self.next_packet_id
        while pid in self.inflight:
            pid = pid % 65535 + 1
        self.next_packet_id = pid % 65535 + 1
        return pid

    # -- acknowledgements from the client ----------------------------------------------------

    def on_puback(self, packet_id: int, now: float) -> bool:
        flight = self.inflight.get(packet_id)
        if flight is None or flight.state is not OutState.AWAIT_PUBACK:
            return False
        self._complete(packet_id, flight, now)
        return True

    def on_pubrec(self, packet_id: int, failed: bool, now: float) -> bool:
        """PUBREC: answer PUBREL once the new state is committed, unless the client refused the
        message (5.0 error code). False for an unknown id (the connection answers that)."""
        flight = self.inflight.get(packet_id)
        if flight is None or flight.state is OutState.AWAIT_PUBACK:
            return False
        if flight.state is OutState.AWAIT_PUBCOMP:  # PUBREC again (after a reconnect): PUBREL again
            self._send(HeldSend(self._ticket, packet_id, None, False, now))
            return True
        if failed:  # [MQTT-4.3.3] a PUBREC with an error code ends the exchange
            self._complete(packet_id, flight, now)
            return True
        flight.state = OutState.AWAIT_PUBCOMP
        mark = self.persistence.mark()
        if flight.delivery.qid:
            self.persistence.delivery_sent(self, flight.delivery, packet_id, flight.state)
        # [MQTT-4.3.3] no PUBLISH after its PUBREL: so the PUBREL waits until a restart knows it
        self._send(HeldSend(self.persistence.ticket_since(mark) or 0, packet_id, None, False, now))
        return True

    def on_pubcomp(self, packet_id: int, now: float) -> bool:
        flight = self.inflight.get(packet_id)
        if flight is None or flight.state is not OutState.AWAIT_PUBCOMP:
            return False
        self._complete(packet_id, flight, now)
        return True

    def _complete(self, packet_id: int, flight: OutFlight, now: float) -> None:
        """An outbound exchange is over: free its slot, forget it durably, send what waits."""
        del self.inflight[packet_id]
        self.forget(flight.delivery)
        self.pump(now)

    # -- QoS 2 from the client [MQTT-4.3.3] -----------------------------------------------------

    def store_incoming_qos2(self, packet_id: int) -> None:
        self.incoming_qos2.add(packet_id)
        if self.durable:
            self.persistence.incoming_add(self, packet_id)

    def release_incoming_qos2(self, packet_id: int) -> bool:
        """PUBREL: forget the packet id; True when it was known."""
        if packet_id not in self.incoming_qos2:
            return False
        self.incoming_qos2.discard(packet_id)
        if self.durable:
            self.persistence.incoming_remove(self, packet_id)
        return True

    def purge_expired(self, now: float) -> int:
        """Drop queued deliveries whose message expiry has passed (MQTT 5 message expiry); those
        on disk only are purged by the store (answered by `spill_purged`)."""
        if self.spilled and not self._paging and not self._drop_debt:
            self.persistence.purge_spilled(self, self.tail_qid, now)
        if not any(d.message.expires_at is not None for d in self.queue):
            return 0
        kept: deque[Delivery] = deque()
        for delivery in self.queue:
            if delivery.message.expired(now):
                self.queued_bytes -= len(delivery.message.payload)
                self.forget(delivery)
            else:
                kept.append(delivery)
        dropped = len(self.queue) - len(kept)
        if dropped:
            self.queue = kept
            self.stats.drop("expired", dropped)
        return dropped
