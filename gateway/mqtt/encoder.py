"""Encoding MQTT control packets to bytes, for 3.1 (level 3), 3.1.1 (level 4) and 5.0.

How this works: one function per packet type builds the variable header and payload; `frame`
prepends the fixed header. PUBLISH and the four acknowledgements have hand-written fast paths
(precompiled structs, no property work when there are no properties). For 3.1/3.1.1, properties
and acknowledgement reason codes are not written; CONNACK and SUBACK codes are translated.
Our own bad input (a value the protocol cannot carry) raises ValueError with the rule it breaks.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from gateway.mqtt.enums import PacketType, ReasonCode
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
)
from gateway.mqtt.primitives import (
    MAX_STRING_BYTES,
    U16,
    encode_binary,
    encode_string,
    encode_uint16,
    encode_varint,
)
from gateway.mqtt.properties import NO_PROPERTIES
from gateway.mqtt.property_codec import write_properties
from gateway.mqtt.reason_codes import (
    ALLOWED_REASON_CODES,
    CONNACK_V311_NOT_AUTHORIZED,
    CONNACK_V311_RETURN_CODE,
    suback_v311_code,
)

VERSIONS = (3, 4, 5)
PROTOCOL_NAMES = {3: b"\x00\x06MQIsdp", 4: b"\x00\x04MQTT", 5: b"\x00\x04MQTT"}

_FIRST_BYTE_FLAGS = {
    PacketType.PUBREL: 0b0010,
    PacketType.SUBSCRIBE: 0b0010,
    PacketType.UNSUBSCRIBE: 0b0010,
}  # [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
_HEADER_SHORT = struct.Struct(">BB")  # first byte, one-byte remaining length
_ACK = struct.Struct(">BBH")  # first byte, remaining length 2, packet identifier
_ACK_REASON = struct.Struct(">BBHB")  # first byte, remaining length 3, identifier, reason code
_PUB_SHORT = struct.Struct(">BBH")  # first byte, one-byte remaining length, topic length
_ACK_FIRST_BYTE = {Puback: 0x40, Pubrec: 0x50, Pubrel: 0x62, Pubcomp: 0x70}  # keyed by class


def frame(packet_type: PacketType, body: bytes) -> bytes:
    """Fixed header (spec 2.1) + body."""
    first = (packet_type << 4) | _FIRST_BYTE_FLAGS.get(packet_type, 0)
    if len(body) < 128:
        return _HEADER_SHORT.pack(first, len(body)) + body
    return bytes((first,)) + encode_varint(len(body)) + body


def _packet_id(packet_id: int | None, what: str) -> bytes:
    if packet_id is None or not 0 < packet_id <= 0xFFFF:  # [MQTT-2.2.1-3]
        raise ValueError(f"{what} needs a packet identifier in 1..65535, got {packet_id!r}")
    return U16.pack(packet_id)


def _reason(code: ReasonCode, packet_type: PacketType) -> bytes:
    if code not in ALLOWED_REASON_CODES[packet_type]:
        raise ValueError(f"reason code {code.name} is not allowed in {packet_type.name}")
    return bytes((code,))


def encode_publish(packet: Publish, version: int) -> bytes:
    topic = packet.topic.encode("utf-8")
    if len(topic) > MAX_STRING_BYTES or "\x00" in packet.topic:  # [MQTT-1.5.4-2]
        raise ValueError(f"topic not encodable as an MQTT string: {packet.topic[:50]!r}")
    qos = packet.qos
    payload = packet.payload
    first = 0x30 | (packet.dup << 3) | (qos << 1) | packet.retain
    if not qos:
        if packet.dup or packet.packet_id is not None:  # [MQTT-3.3.1-2] [MQTT-2.2.1-2]
            raise ValueError("PUBLISH at QoS 0 must have dup=False and packet_id=None")
        if version != 5:  # 3.1.1 QoS 0: the hottest path
            length = 2 + len(topic) + len(payload)
            if length < 128:
                return _PUB_SHORT.pack(first, length, len(topic)) + topic + payload
    elif not 0 < qos < 3:  # [MQTT-3.3.1-4]
        raise ValueError(f"PUBLISH QoS must be 0, 1 or 2, got {qos}")
    head = U16.pack(len(topic)) + topic
    if qos:
        head += _packet_id(packet.packet_id, "PUBLISH at QoS > 0")
    if version == 5:
        props = packet.properties
        head += b"\x00" if props is NO_PROPERTIES else write_properties(props, PacketType.PUBLISH)
    length = len(head) + len(payload)
    if length < 128:
        return _HEADER_SHORT.pack(first, length) + head + payload
    return b"".join((bytes((first,)), encode_varint(length), head, payload))


def encode_ack(packet: Puback | Pubrec | Pubrel | Pubcomp, version: int) -> bytes:
    """PUBACK, PUBREC, PUBREL, PUBCOMP (spec 3.4-3.7), with the 5.0 short forms."""
    first = _ACK_FIRST_BYTE[type(packet)]
    packet_id = packet.packet_id
    if not 0 < packet_id <= 0xFFFF:
        raise ValueError(
            f"{packet.packet_type.name} needs a packet identifier in 1..65535, got {packet_id}"
        )
    if version != 5:
        return _ACK.pack(first, 2, packet_id)
    code = packet.reason_code
    props = packet.properties
    if props is NO_PROPERTIES or not props:
        if code == 0:  # 3.4.2.1: Remaining Length 2 means Success and no properties
            return _ACK.pack(first, 2, packet_id)
        packet_type = packet.packet_type
        _reason(code, packet_type)
        return _ACK_REASON.pack(first, 3, packet_id, code)
    packet_type = packet.packet_type
    body = U16.pack(packet_id) + _reason(code, packet_type) + write_properties(props, packet_type)
    return frame(packet_type, body)


def _encode_will(packet: Connect, version: int) -> bytes:
    will = packet.will
    assert will is not None
    props = (
        write_properties(will.properties, PacketType.CONNECT, will=True) if version == 5 else b""
    )
    return props + encode_string(will.topic) + encode_binary(will.payload)


def _connect_flags(packet: Connect, version: int) -> int:
    flags = 0x02 if packet.clean_start else 0
    if packet.will is not None:
        if packet.will.qos not in (0, 1, 2):  # [MQTT-3.1.2-12]
            raise ValueError(f"will QoS must be 0, 1 or 2, got {packet.will.qos}")
        flags |= 0x04 | (packet.will.qos << 3) | (0x20 if packet.will.retain else 0)
    if packet.username is not None:
        flags |= 0x80
    if packet.password is not None:
        if packet.username is None and version != 5:  # 3.1.1 [MQTT-3.1.2-22]
            raise ValueError("MQTT 3.1/3.1.1 CONNECT cannot carry a password without a user name")
        flags |= 0x40
    return flags


def encode_connect(packet: Connect, version: int) -> bytes:
    if packet.protocol_version != version:
        raise ValueError(
            f"Connect.protocol_version={packet.protocol_version} but encoding for version {version}"
        )
    parts = [
        PROTOCOL_NAMES[version],
        bytes((version, _connect_flags(packet, version))),
        encode_uint16(packet.keep_alive),
    ]
    if version == 5:
        parts.append(write_properties(packet.properties, PacketType.CONNECT))
    parts.append(encode_string(packet.client_id))
    if packet.will is not None:
        parts.append(_encode_will(packet, version))
    if packet.username is not None:
        parts.append(encode_string(packet.username))
    if packet.password is not None:
        parts.append(encode_binary(packet.password))
    return frame(PacketType.CONNECT, b"".join(parts))


def encode_connack(packet: Connack, version: int) -> bytes:
    code = packet.reason_code
    _reason(code, PacketType.CONNACK)
    if packet.session_present and code.is_error:  # [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4])
        raise ValueError("CONNACK with an error reason code must have session_present=False")
    flags = b"\x01" if packet.session_present else b"\x00"
    if version != 5:
        rc = CONNACK_V311_RETURN_CODE.get(code, CONNACK_V311_NOT_AUTHORIZED)
        return frame(PacketType.CONNACK, flags + bytes((rc,)))
    body = flags + bytes((code,)) + write_properties(packet.properties, PacketType.CONNACK)
    return frame(PacketType.CONNACK, body)


def _subscription_options(sub: Subscription, version: int) -> int:
    if sub.qos not in (0, 1, 2):
        raise ValueError(f"subscription QoS must be 0, 1 or 2, got {sub.qos}")
    if version != 5:
        return int(sub.qos)
    if sub.retain_handling not in (0, 1, 2):
        raise ValueError(f"retain handling must be 0, 1 or 2, got {sub.retain_handling}")
    return (
        sub.qos | (sub.no_local << 2) | (sub.retain_as_published << 3) | (sub.retain_handling << 4)
    )


def encode_subscribe(packet: Subscribe, version: int) -> bytes:
    if not packet.subscriptions:  # [MQTT-3.8.3-2]
        raise ValueError("SUBSCRIBE needs at least one subscription")
    parts = [_packet_id(packet.packet_id, "SUBSCRIBE")]
    if version == 5:
        parts.append(write_properties(packet.properties, PacketType.SUBSCRIBE))
    for sub in packet.subscriptions:
        parts.append(encode_string(sub.topic_filter))
        parts.append(bytes((_subscription_options(sub, version),)))
    return frame(PacketType.SUBSCRIBE, b"".join(parts))


def encode_suback(packet: Suback, version: int) -> bytes:
    if not packet.reason_codes:
        raise ValueError("SUBACK needs one reason code per subscription")
    for code in packet.reason_codes:
        _reason(code, PacketType.SUBACK)
    head = _packet_id(packet.packet_id, "SUBACK")
    if version != 5:
        return frame(
            PacketType.SUBACK, head + bytes(suback_v311_code(c) for c in packet.reason_codes)
        )
    body = (
        head + write_properties(packet.properties, PacketType.SUBACK) + bytes(packet.reason_codes)
    )
    return frame(PacketType.SUBACK, body)


def encode_unsubscribe(packet: Unsubscribe, version: int) -> bytes:
    if not packet.topic_filters:  # [MQTT-3.10.3-2]
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    parts = [_packet_id(packet.packet_id, "UNSUBSCRIBE")]
    if version == 5:
        parts.append(write_properties(packet.properties, PacketType.UNSUBSCRIBE))
    parts.extend(encode_string(f) for f in packet.topic_filters)
    return frame(PacketType.UNSUBSCRIBE, b"".join(parts))


def encode_unsuback(packet: Unsuback, version: int) -> bytes:
    head = _packet_id(packet.packet_id, "UNSUBACK")
    if version != 5:
        return frame(PacketType.UNSUBACK, head)  # 3.1.1 section 3.11.3: no payload
    if not packet.reason_codes:
        raise ValueError("5.0 UNSUBACK needs one reason code per topic filter")
    for code in packet.reason_codes:
        _reason(code, PacketType.UNSUBACK)
    body = (
        head + write_properties(packet.properties, PacketType.UNSUBACK) + bytes(packet.reason_codes)
    )
    return frame(PacketType.UNSUBACK, body)


def _encode_reason_and_properties(packet: Disconnect | Auth, version: int) -> bytes:
    """DISCONNECT and AUTH: Remaining Length 0 means Success/Normal and no properties; a
    DISCONNECT may also stop after its reason code (AUTH may not: 3.15.2.1)."""
    packet_type = packet.packet_type
    if version != 5:
        if packet_type is PacketType.AUTH:
            raise ValueError("AUTH exists only in MQTT 5.0")
        return frame(packet_type, b"")
    props = packet.properties
    no_props = props is NO_PROPERTIES or not props
    if packet.reason_code == ReasonCode.SUCCESS and no_props:
        return frame(packet_type, b"")
    if no_props and packet_type is PacketType.DISCONNECT:  # 3.14.2.2.1: property length omitted
        return frame(packet_type, _reason(packet.reason_code, packet_type))
    body = _reason(packet.reason_code, packet_type) + write_properties(props, packet_type)
    return frame(packet_type, body)


_PING = {PacketType.PINGREQ: b"\xc0\x00", PacketType.PINGRESP: b"\xd0\x00"}

ENCODERS: dict[PacketType, Callable[..., bytes]] = {
    PacketType.CONNECT: encode_connect,
    PacketType.CONNACK: encode_connack,
    PacketType.PUBLISH: encode_publish,
    PacketType.PUBACK: encode_ack,
    PacketType.PUBREC: encode_ack,
    PacketType.PUBREL: encode_ack,
    PacketType.PUBCOMP: encode_ack,
    PacketType.SUBSCRIBE: encode_subscribe,
    PacketType.SUBACK: encode_suback,
    PacketType.UNSUBSCRIBE: encode_unsubscribe,
    PacketType.UNSUBACK: encode_unsuback,
    PacketType.PINGREQ: lambda packet, version: _PING[PacketType.PINGREQ],
    PacketType.PINGRESP: lambda packet, version: _PING[PacketType.PINGRESP],
    PacketType.DISCONNECT: _encode_reason_and_properties,
    PacketType.AUTH: _encode_reason_and_properties,
}

__all__ = ["ENCODERS", "PROTOCOL_NAMES", "VERSIONS", "encode_ack", "encode_publish", "frame"]
