"""MQTT control packets as frozen value types, one class per packet type (3.1.1 and 5.0).

The same classes serve both protocol versions; fields that only exist in 5.0 (properties, reason
codes on acknowledgements) take their neutral default for 3.1.1 and the codec ignores them there.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mqtt.enums import PacketType, QoS, ReasonCode, RetainHandling
from gateway.mqtt.properties import NO_PROPERTIES, Properties


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: QoS = QoS.AT_MOST_ONCE
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    protocol_version: int = 4  # 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.CONNECT


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool = False
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.CONNACK


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes = b""
    qos: QoS = QoS.AT_MOST_ONCE
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.PUBLISH


@dataclass(frozen=True, slots=True)
class Puback:
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.PUBACK


@dataclass(frozen=True, slots=True)
class Pubrec:
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.PUBREC


@dataclass(frozen=True, slots=True)
class Pubrel:
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.PUBREL


@dataclass(frozen=True, slots=True)
class Pubcomp:
    packet_id: int
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.PUBCOMP


@dataclass(frozen=True, slots=True)
class Subscription:
    """One entry of a SUBSCRIBE payload: a filter and its options (spec 3.8.3.1)."""

    topic_filter: str
    qos: QoS = QoS.AT_MOST_ONCE
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: RetainHandling = RetainHandling.SEND_ON_SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Suback:
    packet_id: int
    reason_codes: tuple[ReasonCode, ...]
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.SUBACK


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.UNSUBSCRIBE


@dataclass(frozen=True, slots=True)
class Unsuback:
    packet_id: int
    reason_codes: tuple[ReasonCode, ...] = ()  # empty on 3.1.1, which has no payload
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.UNSUBACK


@dataclass(frozen=True, slots=True)
class Pingreq:
    packet_type = PacketType.PINGREQ


@dataclass(frozen=True, slots=True)
class Pingresp:
    packet_type = PacketType.PINGRESP


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason_code: ReasonCode = ReasonCode.NORMAL_DISCONNECTION
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.DISCONNECT


@dataclass(frozen=True, slots=True)
class Auth:
    reason_code: ReasonCode = ReasonCode.SUCCESS
    properties: Properties = NO_PROPERTIES
    packet_type = PacketType.AUTH


Packet = (
    Connect
    | Connack
    | Publish
    | Puback
    | Pubrec
    | Pubrel
    | Pubcomp
    | Subscribe
    | Suback
    | Unsubscribe
    | Unsuback
    | Pingreq
    | Pingresp
    | Disconnect
    | Auth
)

__all__ = [
    "Auth",
    "Connack",
    "Connect",
    "Disconnect",
    "Packet",
    "Pingreq",
    "Pingresp",
    "Puback",
    "Pubcomp",
    "Publish",
    "Pubrec",
    "Pubrel",
    "Suback",
    "Subscribe",
    "Subscription",
    "Unsuback",
    "Unsubscribe",
    "Will",
]
