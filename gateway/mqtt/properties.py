"""MQTT 5.0 properties (spec 2.2.2.2): one value type and one table.

`Properties` is a frozen value with one optional field per property. `PROPERTY_TABLE` says, for each
property identifier, the field it maps to, its wire type and the packets it may appear in; the codec
reads this table and nothing else to know what is allowed where, so the rule lives in one place
that reads like the spec's table, not in an `if` chain per packet.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from gateway.mqtt.enums import PacketType

P = PacketType


class WireType(Enum):
    BYTE = "byte"
    TWO_BYTE_INT = "two-byte-int"
    FOUR_BYTE_INT = "four-byte-int"
    VARINT = "varint"
    UTF8 = "utf8"
    BINARY = "binary"
    UTF8_PAIR = "utf8-pair"


@dataclass(frozen=True, slots=True)
class PropertySpec:
    identifier: int
    field: str
    wire_type: WireType
    packets: frozenset[PacketType]
    will: bool = False  # allowed in the CONNECT will properties
    repeatable: bool = False


def _spec(
    identifier: int,
    field: str,
    wire_type: WireType,
    *packets: PacketType,
    will: bool = False,
    repeatable: bool = False,
) -> PropertySpec:
    return PropertySpec(identifier, field, wire_type, frozenset(packets), will, repeatable)


# [MQTT-2.2.2] Spec table 2-4 "Properties": identifier, name, type, where it may appear.
PROPERTY_TABLE: dict[int, PropertySpec] = {
    s.identifier: s
    for s in (
        _spec(0x01, "payload_format_indicator", WireType.BYTE, P.PUBLISH, will=True),
        _spec(0x02, "message_expiry_interval", WireType.FOUR_BYTE_INT, P.PUBLISH, will=True),
        _spec(0x03, "content_type", WireType.UTF8, P.PUBLISH, will=True),
        _spec(0x08, "response_topic", WireType.UTF8, P.PUBLISH, will=True),
        _spec(0x09, "correlation_data", WireType.BINARY, P.PUBLISH, will=True),
        _spec(
            0x0B,
            "subscription_identifiers",
            WireType.VARINT,
            P.PUBLISH,
            P.SUBSCRIBE,
            repeatable=True,
        ),
        _spec(
            0x11,
            "session_expiry_interval",
            WireType.FOUR_BYTE_INT,
            P.CONNECT,
            P.CONNACK,
            P.DISCONNECT,
        ),
        _spec(0x12, "assigned_client_identifier", WireType.UTF8, P.CONNACK),
        _spec(0x13, "server_keep_alive", WireType.TWO_BYTE_INT, P.CONNACK),
        _spec(0x15, "authentication_method", WireType.UTF8, P.CONNECT, P.CONNACK, P.AUTH),
        _spec(0x16, "authentication_data", WireType.BINARY, P.CONNECT, P.CONNACK, P.AUTH),
        _spec(0x17, "request_problem_information", WireType.BYTE, P.CONNECT),
        _spec(0x18, "will_delay_interval", WireType.FOUR_BYTE_INT, will=True),
        _spec(0x19, "request_response_information", WireType.BYTE, P.CONNECT),
        _spec(0x1A, "response_information", WireType.UTF8, P.CONNACK),
        _spec(0x1C, "server_reference", WireType.UTF8, P.CONNACK, P.DISCONNECT),
        _spec(
            0x1F,
            "reason_string",
            WireType.UTF8,
            P.CONNACK,
            P.PUBACK,
            P.PUBREC,
            P.PUBREL,
            P.PUBCOMP,
            P.SUBACK,
            P.UNSUBACK,
            P.DISCONNECT,
            P.AUTH,
        ),
        _spec(0x21, "receive_maximum", WireType.TWO_BYTE_INT, P.CONNECT, P.CONNACK),
        _spec(0x22, "topic_alias_maximum", WireType.TWO_BYTE_INT, P.CONNECT, P.CONNACK),
        _spec(0x23, "topic_alias", WireType.TWO_BYTE_INT, P.PUBLISH),
        _spec(0x24, "maximum_qos", WireType.BYTE, P.CONNACK),
        _spec(0x25, "retain_available", WireType.BYTE, P.CONNACK),
        _spec(
            0x26,
            "user_properties",
            WireType.UTF8_PAIR,
            P.CONNECT,
            P.CONNACK,
            P.PUBLISH,
            P.PUBACK,
            P.PUBREC,
            P.PUBREL,
            P.PUBCOMP,
            P.SUBSCRIBE,
            P.SUBACK,
            P.UNSUBSCRIBE,
            P.UNSUBACK,
            P.DISCONNECT,
            P.AUTH,
            will=True,
            repeatable=True,
        ),
        _spec(0x27, "maximum_packet_size", WireType.FOUR_BYTE_INT, P.CONNECT, P.CONNACK),
        _spec(0x28, "wildcard_subscription_available", WireType.BYTE, P.CONNACK),
        _spec(0x29, "subscription_identifier_available", WireType.BYTE, P.CONNACK),
        _spec(0x2A, "shared_subscription_available", WireType.BYTE, P.CONNACK),
    )
}

PROPERTY_BY_FIELD: dict[str, PropertySpec] = {s.field: s for s in PROPERTY_TABLE.values()}


@dataclass(frozen=True, slots=True)
class Properties:
    """All MQTT 5.0 properties of one packet; None (or an empty tuple) means absent."""

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def present(self) -> list[tuple[PropertySpec, Any]]:
        """(spec, value) for every property that is set, in table order (each value of its own
        field's type, which spec.wire_type tells)."""
        out = []
        for spec in PROPERTY_TABLE.values():
            value = getattr(self, spec.field)
            if value is None or value == ():
                continue
            out.append((spec, value))
        return out

    def __bool__(self) -> bool:
        return self != NO_PROPERTIES


NO_PROPERTIES = Properties()

assert {f.name for f in fields(Properties)} == set(PROPERTY_BY_FIELD), "table and fields disagree"
