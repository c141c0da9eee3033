"""Reading and writing the MQTT 5.0 property block (spec 2.2.2) from `PROPERTY_TABLE`.

How this works: the block is a Variable Byte Integer length followed by (identifier, value) pairs.
Which identifier may appear in which packet, its wire type and whether it may repeat all come from
the table in properties.py; the few value ranges the spec restricts are the second table below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.mqtt.enums import PacketType, ReasonCode
from gateway.mqtt.errors import MalformedPacket, ProtocolError
from gateway.mqtt.primitives import (
    MAX_VARINT,
    Reader,
    encode_binary,
    encode_byte,
    encode_string,
    encode_uint16,
    encode_uint32,
    encode_varint,
)
from gateway.mqtt.properties import (
    NO_PROPERTIES,
    PROPERTY_TABLE,
    Properties,
    PropertySpec,
    WireType,
)

EMPTY_BLOCK = b"\x00"

# Value ranges the spec restricts: field -> (lowest, highest, section). Out of range is a Protocol
# Error, except a Topic Alias of 0, which has its own reason code (3.3.2.3.4, [MQTT-3.3.2-8]).
VALUE_RANGES: dict[str, tuple[int, int, str]] = {
    "payload_format_indicator": (0, 1, "3.3.2.3.2"),
    "request_problem_information": (0, 1, "3.1.2.11.7"),
    "request_response_information": (0, 1, "3.1.2.11.6"),
    "maximum_qos": (0, 1, "3.2.2.3.4"),
    "retain_available": (0, 1, "3.2.2.3.5"),
    "wildcard_subscription_available": (0, 1, "3.2.2.3.11"),
    "subscription_identifier_available": (0, 1, "3.2.2.3.12"),
    "shared_subscription_available": (0, 1, "3.2.2.3.13"),
    "receive_maximum": (1, 0xFFFF, "3.1.2.11.3"),
    "maximum_packet_size": (1, 0xFFFFFFFF, "3.1.2.11.4"),
    "topic_alias": (1, 0xFFFF, "3.3.2.3.4"),
    "subscription_identifiers": (1, MAX_VARINT, "3.3.2.3.8"),
}

# Tables keyed by the wire type: each entry reads or writes the Python type of its own wire type
# (int, str, bytes or a (name, value) pair), which a dict's one value type cannot say; hence Any.
_READERS: dict[WireType, Callable[[Reader], Any]] = {
    WireType.BYTE: lambda r: r.byte("property value"),
    WireType.TWO_BYTE_INT: lambda r: r.uint16("property value"),
    WireType.FOUR_BYTE_INT: lambda r: r.uint32("property value"),
    WireType.VARINT: lambda r: r.varint("property value"),
    WireType.UTF8: lambda r: r.utf8("property value"),
    WireType.BINARY: lambda r: r.binary("property value"),
    WireType.UTF8_PAIR: lambda r: (r.utf8("user property name"), r.utf8("user property value")),
}

_WRITERS: dict[WireType, Callable[[Any], bytes]] = {
    WireType.BYTE: encode_byte,
    WireType.TWO_BYTE_INT: encode_uint16,
    WireType.FOUR_BYTE_INT: encode_uint32,
    WireType.VARINT: encode_varint,
    WireType.UTF8: encode_string,
    WireType.BINARY: encode_binary,
    WireType.UTF8_PAIR: lambda pair: encode_string(pair[0]) + encode_string(pair[1]),
}


def _allowed(spec: PropertySpec, packet_type: PacketType, will: bool) -> bool:
    return spec.will if will else packet_type in spec.packets


def _check_range(field: str, value: int) -> None:
    bounds = VALUE_RANGES.get(field)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        code = (
            ReasonCode.TOPIC_ALIAS_INVALID if field == "topic_alias" else ReasonCode.PROTOCOL_ERROR
        )
        raise ProtocolError(
            code, f"property {field}={value} outside {bounds[0]}..{bounds[1]} (spec {bounds[2]})"
        )


def read_properties(reader: Reader, packet_type: PacketType, *, will: bool = False) -> Properties:
    """Read a property block at the reader's position (spec 2.2.2)."""
    length = reader.varint("property length")
    if length == 0:
        return NO_PROPERTIES
    end = reader.pos + length
    if end > reader.end:  # [MQTT-2.2.2] property length must fit the packet
        raise MalformedPacket("property length runs past the end of the packet")
    block = Reader(reader.buf, reader.pos, end)
    reader.pos = end
    values: dict[str, Any] = {}
    while block.pos < block.end:
        _read_one(block, packet_type, will, values)
    return Properties(**values)


def _read_one(block: Reader, packet_type: PacketType, will: bool, values: dict[str, Any]) -> None:
    identifier = block.varint("property identifier")
    spec = PROPERTY_TABLE.get(identifier)
    if spec is None:  # spec 2.2.2.2: an unknown identifier cannot be skipped
        raise MalformedPacket(f"unknown property identifier 0x{identifier:02X}")
    where = "will properties" if will else packet_type.name
    if not _allowed(spec, packet_type, will):  # spec 2.2.2.2: "not valid for its packet type"
        raise MalformedPacket(f"property {spec.field} not allowed in {where}")
    value = _READERS[spec.wire_type](block)
    if isinstance(value, int):  # the ranges are of integer properties
        _check_range(spec.field, value)
    if spec.repeatable:
        values[spec.field] = (*values.get(spec.field, ()), value)
    elif spec.field in values:  # spec 2.2.2.2: "more than once is a Protocol Error"
        raise ProtocolError(ReasonCode.PROTOCOL_ERROR, f"property {spec.field} repeated in {where}")
    else:
        values[spec.field] = value


def write_properties(
    properties: Properties, packet_type: PacketType, *, will: bool = False
) -> bytes:
    """The property block for `properties`; ValueError if one is not allowed in this packet."""
    if properties is NO_PROPERTIES:
        return EMPTY_BLOCK
    parts: list[bytes] = []
    for spec, value in properties.present():
        if not _allowed(spec, packet_type, will):
            where = "will properties" if will else packet_type.name
            raise ValueError(f"property {spec.field} is not allowed in {where}")
        items = value if spec.repeatable else (value,)
        for item in items:
            if isinstance(item, int):  # the ranges are of integer properties
                _check_encodable(spec.field, item)
            parts.append(encode_varint(spec.identifier))
            parts.append(_WRITERS[spec.wire_type](item))
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def _check_encodable(field: str, value: int) -> None:
    try:
        _check_range(field, value)
    except ProtocolError as exc:
        raise ValueError(exc.message) from None


__all__ = ["EMPTY_BLOCK", "VALUE_RANGES", "read_properties", "write_properties"]
