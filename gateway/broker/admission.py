"""Who may open a connection: the broker-wide, per-listener and per-address connection limits.

How this works: every listener kind (MQTT over TCP, TLS, a Unix socket, WebSocket) asks `admit()`
the moment the kernel hands it an accepted socket, before it spends anything on the connection (a
TLS handshake, an HTTP request, a broker `Connection`). A refusal is counted under
`$SYS/broker/limits/<name>` and the glue closes the socket at once; an admitted connection holds a
`Slot` until `release()` (called exactly when the socket is gone; a second call does nothing). The
counts are therefore of open sockets, whatever stage they are in, so half-open TLS connections
that never send a ClientHello use up the same slots as connected MQTT clients.
"""

from __future__ import annotations

from gateway.broker.stats import BrokerStats

LIMIT_TOTAL = "max_connections"
LIMIT_PER_ADDRESS = "max_connections_per_address"


def listener_limit_name(listener: str) -> str:
    return f"max_connections_{listener}"


class Slot:
    """One admitted connection's place in the counts."""

    __slots__ = ("address", "listener", "released")

    def __init__(self, listener: str, address: str | None) -> None:
        self.listener = listener
        self.address = address
        self.released = False


class Admission:
    """The connection limits; 0 means no limit. Addresses are IP addresses as text (None for a
    Unix socket, which has no per-address limit)."""

    def __init__(
        self, stats: BrokerStats, max_connections: int = 0, max_per_address: int = 0
    ) -> None:
        self.stats = stats
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.total = 0
        self.listener_limits: dict[str, int] = {}
        self.by_listener: dict[str, int] = {}
        self.by_address: dict[str, int] = {}

    def add_listener(self, name: str, max_connections: int = 0) -> None:
        self.listener_limits[name] = max_connections
        self.by_listener.setdefault(name, 0)

    def remove_listener(self, name: str) -> None:
        """No more connections on `name`; those it has keep their slots until released."""
        self.listener_limits.pop(name, None)
        if not self.by_listener.get(name):
            self.by_listener.pop(name, None)

    def refusal(self, listener: str, address: str | None) -> str | None:
        """The name of the limit a new connection would break, or None."""
        if self.max_connections and self.total >= self.max_connections:
            return LIMIT_TOTAL
        limit = self.listener_limits.get(listener, 0)
        if limit and self.by_listener.get(listener, 0) >= limit:
            return listener_limit_name(listener)
        if (
            address is not None
            and self.max_per_address
            and self.by_address.get(address, 0) >= self.max_per_address
        ):
            return LIMIT_PER_ADDRESS
        return None

    def admit(self, listener: str, address: str | None) -> Slot | str:
        """A `Slot` for the new connection, or the name of the limit that refused it (counted)."""
        refused = self.refusal(listener, address)
        if refused is not None:
            self.stats.limit(refused)
            return refused
        self.total += 1
        self.by_listener[listener] = self.by_listener.get(listener, 0) + 1
        if address is not None:
            self.by_address[address] = self.by_address.get(address, 0) + 1
        return Slot(listener, address)

    def release(self, slot: Slot) -> None:
        if slot.released:
            return
        slot.released = True
        self.total -= 1
        left = self.by_listener[slot.listener] - 1
        if left or slot.listener in self.listener_limits:
            self.by_listener[slot.listener] = left
        else:  # the last connection of a listener a reload removed
            del self.by_listener[slot.listener]
        if slot.address is not None:
            left = self.by_address[slot.address] - 1
            if left:
                self.by_address[slot.address] = left
            else:
                del self.by_address[slot.address]  # the table holds only addresses now connected
