"""Broker counters, published under `$SYS/broker/...` (the names Mosquitto uses where it has one)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class BrokerStats:
    started_at: float = 0.0
    messages_received: int = 0
    messages_sent: int = 0
    publish_received: int = 0
    publish_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    clients_connected: int = 0
    clients_maximum: int = 0
    clients_disconnected: int = 0  # persistent sessions with no connection
    clients_expired: int = 0
    connections_refused: int = 0
    protocol_errors: int = 0
    keepalive_timeouts: int = 0
    tls_handshakes_failed: int = 0  # TLS errors, timeouts, clients gone during the handshake
    # every drop is counted by reason, and each reason is a $SYS topic of its own
    dropped: dict[str, int] = field(default_factory=dict)
    limits_hit: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def limit(self, name: str) -> None:
        self.limits_hit[name] = self.limits_hit.get(name, 0) + 1

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())
