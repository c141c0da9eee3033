"""The durable-state hook of the broker core: what the core and sessions tell a store, and nothing else.

How this works: the pure core calls `Persistence` methods on every state change that must survive a
restart (session saved/ended, subscriptions changed, a QoS 1/2 delivery queued / sent / acknowledged,
an incoming QoS 2 packet id stored / released, a retained message set or cleared). The default
`Persistence` does nothing, so a broker without a store behaves exactly as before. The SQLite store
(`gateway.broker.store.sqlite`) records each call as an operation and commits them in groups on its
own thread.

Acknowledgement after commit: `mark()` is taken before a PUBLISH is routed; `ticket_since(mark)`
afterwards says which commit must complete before its PUBACK / PUBREC may go out (None: nothing
durable was written, or the store is "relaxed"). A connection's `AckGate` holds such an ack, and every
ack behind it so the order per connection is kept [MQTT-4.6.0-2], until the store reports the commit.
A durable session is a gate too: it holds its QoS 2 PUBLISHes and PUBRELs (and what it sends after
them) until the commit that records their packet id and state (see `gateway.broker.session`).

A failed commit is not a commit: the store reports the batch as settled (`release(done)`) but moves
`failed_upto` to its last operation. An ack held for operations of that batch (recorded after its
`mark`, before `failed_upto`) is then refused instead of sent: the connection's refusal turns it into
a 5.0 PUBACK / PUBREC with the store's `refusal_code()`, or closes the connection (3.1.1, and a
PUBCOMP) so the client keeps the message and sends it again. A session sends what it held anyway:
its in-flight state stays in the store's retry backlog.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from gateway.mqtt.enums import ReasonCode

if TYPE_CHECKING:
    from gateway.broker.message import Delivery, Message
    from gateway.broker.session import OutState, Session


class Gate(Protocol):
    """Something holding packets until a commit: a connection's `AckGate`, a durable `Session`."""

    def release(self, committed: int) -> bool:
        """Send what waited for commits up to `committed`; True when nothing waits any more."""


class Persistence:
    """No store: every hook is a no-op and no session is durable."""

    enabled = False
    memory_window = 1 << 62  # deliveries a session keeps in memory; the rest stay on disk only
    refused = 0  # queued deliveries refused so far (a store that is full or failing counts them)
    failed_upto = 0  # the last operation of the latest batch whose commit failed

    @property
    def refusing(self) -> str | None:
        """Why the store refuses new queued deliveries now (None: it does not)."""
        return None

    # -- acknowledgement after commit --------------------------------------------------------

    def mark(self) -> int:
        return 0

    def ticket_since(self, mark: int) -> int | None:
        return None

    def hold(self, gate: Gate) -> None:
        """`gate` holds packets waiting for a commit; call `gate.release(committed)` after each
        commit until it answers True."""

    def refusal_code(self) -> ReasonCode:
        """The 5.0 reason code of a PUBACK / PUBREC the store could not make durable."""
        return ReasonCode.QUOTA_EXCEEDED

    # -- sessions ----------------------------------------------------------------------------

    def session_changed(self, session: Session, now: float) -> None:
        """Created, connected, disconnected, will scheduled/cleared, expiry changed."""

    def session_ended(self, session: Session) -> None: ...

    def subscriptions_changed(self, session: Session) -> None: ...

    def incoming_add(self, session: Session, packet_id: int) -> None: ...

    def incoming_remove(self, session: Session, packet_id: int) -> None: ...

    # -- session queues ----------------------------------------------------------------------

    def queue_add(self, session: Session, delivery: Delivery) -> bool:
        """Store a delivery queued for a durable session; False when the store refuses it (full:
        the store counts and logs the drop)."""
        return True

    def delivery_sent(
        self, session: Session, delivery: Delivery, packet_id: int, state: OutState
    ) -> None:
        """A delivery went out (or moved to awaiting PUBCOMP) with `packet_id`."""

    def queue_remove(self, session: Session, delivery: Delivery) -> None:
        """Acknowledged, expired, dropped or refused by the client: forget it."""

    def page_in(self, session: Session, after_qid: int, limit: int) -> None:
        """Read up to `limit` queued deliveries after `after_qid` from disk; the store answers
        with `session.paged_in(deliveries, now)` on the event loop."""

    def purge_spilled(self, session: Session, after_qid: int, now: float) -> None:
        """Delete expired deliveries that live only on disk; answered by `session.spill_purged`."""

    def last_queue_id(self) -> int:
        """Store id of the newest queued delivery (ids increase in queueing order; 0: none)."""
        return 0

    def purge_queued(self, session: Session, after_qid: int, upto_qid: int, reason: str) -> None:
        """Delete the deliveries queued on disk with store ids in (`after_qid`, `upto_qid`], oldest
        first, at most a bounded batch (an age limit); answered by `session.spill_purged`."""

    # -- retained ----------------------------------------------------------------------------

    def retained_changed(self, message: Message) -> None:
        """Set (or, with an empty payload, cleared) retained message."""

    # -- $SYS --------------------------------------------------------------------------------

    def sys_values(self) -> dict[str, object]:
        return {}


NULL_PERSISTENCE = Persistence()


class AckGate:
    """A connection's outgoing PUBACK / PUBREC / PUBCOMP, held in order until their commit."""

    __slots__ = ("_core", "_held", "_refuse", "_send")

    def __init__(self, core: Any, send: Any, refuse: Any = None) -> None:
        self._core = core  # read `core.persistence` late: the store may be attached after us
        self._send = send
        self._refuse = refuse or (lambda packet, code: None)  # (packet, reason code): not stored
        self._held: deque[tuple[int, int, object]] | None = None  # (mark, ticket, packet)

    def send(self, packet: object, mark: int) -> None:
        persistence = self._core.persistence
        ticket = persistence.ticket_since(mark)
        if ticket is None and not self._held:
            self._send(packet)
            return
        if self._held is None:
            self._held = deque()
        was_empty = not self._held
        self._held.append((mark, ticket or 0, packet))
        if was_empty:
            persistence.hold(self)

    def release(self, committed: int) -> bool:
        """Send the acks whose commit is done, refuse those whose operations were in a failed
        commit (in order); True when nothing is held any more."""
        held = self._held
        persistence = self._core.persistence
        failed_upto = persistence.failed_upto
        while held:
            mark, ticket, packet = held[0]
            if ticket and mark < failed_upto:  # something it wrote was in a failed batch
                held.popleft()
                self._refuse(packet, persistence.refusal_code())
            elif ticket <= committed:
                held.popleft()
                self._send(packet)
            else:
                break
        return not held

    @property
    def held(self) -> int:
        return len(self._held) if self._held else 0
