"""Topic mappings, as in Mosquitto's `topic PATTERN DIR QOS LOCAL-PREFIX REMOTE-PREFIX` (pure).

How this works: a mapping with pattern `p`, local prefix `L` and remote prefix `R` subscribes to
`L + p` on the side messages come from and rewrites a matching topic `L + rest` to `R + rest` going
out (and `R + rest` to `L + rest` coming in). The QoS on each side caps the QoS of the copy; the
retain flag is forwarded only when the mapping says so. The first mapping that matches a topic wins
(config order), so one message is forwarded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gateway.mqtt.enums import QoS
from gateway.mqtt.topics import topic_matches


class Direction(str, Enum):
    OUT = "out"  # local -> cloud
    IN = "in"  # cloud -> local
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class TopicMap:
    pattern: str
    direction: Direction = Direction.OUT
    local_prefix: str = ""
    remote_prefix: str = ""
    local_qos: QoS = QoS.AT_LEAST_ONCE
    remote_qos: QoS = QoS.AT_LEAST_ONCE
    retain: bool = True  # forward the retain flag

    @property
    def outbound(self) -> bool:
        return self.direction in (Direction.OUT, Direction.BOTH)

    @property
    def inbound(self) -> bool:
        return self.direction in (Direction.IN, Direction.BOTH)

    @property
    def local_filter(self) -> str:
        return self.local_prefix + self.pattern

    @property
    def remote_filter(self) -> str:
        return self.remote_prefix + self.pattern


@dataclass(frozen=True, slots=True)
class Routed:
    """Where and how a message goes on the other side."""

    topic: str
    qos: QoS
    retain: bool


def _rewrite(topic: str, src_prefix: str, dst_prefix: str, pattern: str) -> str | None:
    if not topic.startswith(src_prefix):
        return None
    rest = topic[len(src_prefix) :]
    if not rest or not topic_matches(pattern, rest):
        return None
    return dst_prefix + rest


class Mapper:
    """All mappings of one bridge; `outbound()` and `inbound()` pick the first that matches."""

    def __init__(self, maps: tuple[TopicMap, ...]) -> None:
        self.maps = maps
        self._out = [m for m in maps if m.outbound]
        self._in = [m for m in maps if m.inbound]

    def local_subscriptions(self) -> list[tuple[str, QoS]]:
        """Filters the bridge's local session subscribes to (one per outbound mapping)."""
        return [(m.local_filter, m.local_qos) for m in self._out]

    def remote_subscriptions(self) -> list[tuple[str, QoS]]:
        return [(m.remote_filter, m.remote_qos) for m in self._in]

    def outbound(self, topic: str, qos: QoS, retain: bool) -> Routed | None:
        for m in self._out:
            remote = _rewrite(topic, m.local_prefix, m.remote_prefix, m.pattern)
            if remote is not None:
                return Routed(remote, QoS(min(qos, m.remote_qos)), retain and m.retain)
        return None

    def inbound(self, topic: str, qos: QoS, retain: bool) -> Routed | None:
        for m in self._in:
            local = _rewrite(topic, m.remote_prefix, m.local_prefix, m.pattern)
            if local is not None:
                return Routed(local, QoS(min(qos, m.local_qos)), retain and m.retain)
        return None
