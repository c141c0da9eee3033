"""Decoding one MQTT control packet body, for 3.1 (level 3), 3.1.1 (level 4) and 5.0.

How this works: `DECODERS[packet_type](flags, buf, start, end, version)` turns `buf[start:end]`, the
body that follows the fixed header, into a packet value, enforcing the rules a codec can see (flag
bits, field presence, packet identifiers, reason codes, properties, trailing bytes) and citing them.
A peer's mistake raises `ProtocolError` (usually `MalformedPacket`); nothing else is meant to
escape. PUBLISH and the four acknowledgements are fast paths that index the buffer directly; the
rest use the bounds-checked `Reader`. Offsets instead of slices mean the payload is copied once,
straight out of the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from gateway.mqtt.enums import PacketType, QoS, ReasonCode, RetainHandling
from gateway.mqtt.errors import MalformedPacket, ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
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
    Will,
)
from gateway.mqtt.primitives import Reader
from gateway.mqtt.properties import NO_PROPERTIES, Properties
from gateway.mqtt.property_codec import read_properties
from gateway.mqtt.reason_codes import (
    ALLOWED_REASON_CODES,
    CONNACK_V311_REASON,
    REASON_BY_VALUE,
    SUBACK_V311_REASON,
)

Decoder = Callable[[int, bytes, int, int, int], Packet]  # (flags, buf, start, end, version)

_QOS = (QoS.AT_MOST_ONCE, QoS.AT_LEAST_ONCE, QoS.EXACTLY_ONCE)
_RETAIN_HANDLING = tuple(RetainHandling)
_PROTOCOLS = {("MQIsdp", 3), ("MQTT", 4), ("MQTT", 5)}  # 3.1.1 [MQTT-3.1.2-1] [MQTT-3.1.2-2]
SHARE_PREFIX = "$share/"


class UnsupportedProtocolVersion(ProtocolError):
    """CONNECT with a protocol name/level we do not speak (3.1.1 [MQTT-3.1.2-2], 5.0 3.1.2.2).

    The server answers CONNACK 0x01 (3.1.1 form) or 0x84 (5.0 form) and closes; `protocol_level`
    lets it choose the form (levels above 5 get the 5.0 form, the rest the 3.1.1 form).
    """

    def __init__(self, protocol_name: str, protocol_level: int) -> None:
        super().__init__(
            ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
            f"unsupported protocol {protocol_name!r} level {protocol_level}",
        )
        self.protocol_name = protocol_name
        self.protocol_level = protocol_level


_PUBLISH_FIELDS = ("topic", "payload", "qos", "retain", "dup", "packet_id", "properties")
assert tuple(f.name for f in fields(Publish)) == _PUBLISH_FIELDS, "update new_publish"
_SETTERS = tuple(getattr(Publish, name).__set__ for name in _PUBLISH_FIELDS)


def new_publish(
    topic: str,
    payload: bytes,
    qos: QoS,
    retain: bool,
    dup: bool,
    packet_id: int | None,
    properties: Properties,
) -> Publish:
    """`Publish(...)` at half the cost: fills the slots directly, skipping the frozen dataclass's
    per-field `object.__setattr__` (the hottest allocation in the broker). Same value, same type."""
    packet = object.__new__(Publish)
    set_topic, set_payload, set_qos, set_retain, set_dup, set_packet_id, set_properties = _SETTERS
    set_topic(packet, topic)
    set_payload(packet, payload)
    set_qos(packet, qos)
    set_retain(packet, retain)
    set_dup(packet, dup)
    set_packet_id(packet, packet_id)
    set_properties(packet, properties)
    return packet


def protocol_error(message: str) -> ProtocolError:
    return ProtocolError(ReasonCode.PROTOCOL_ERROR, message)


def reason_code(value: int, packet_type: PacketType) -> ReasonCode:
    """A 5.0 reason code the packet may carry (spec 3.x.2.1 tables), else MalformedPacket."""
    code = REASON_BY_VALUE.get(value)
    if code is None or code not in ALLOWED_REASON_CODES[packet_type]:
        raise MalformedPacket(f"reason code 0x{value:02X} is not valid in {packet_type.name}")
    return code


def _nonzero_id(packet_id: int, what: str) -> int:
    if packet_id == 0:  # 3.1.1 [MQTT-2.3.1-1], 5.0 [MQTT-2.2.1-3]
        raise protocol_error(f"{what} has packet identifier 0 [MQTT-2.2.1-3]")
    return packet_id


# --- PUBLISH and acknowledgements: the fast paths ---------------------------------------------


def decode_publish(flags: int, buf: bytes, start: int, end: int, version: int) -> Publish:
    qos = (flags >> 1) & 3
    if qos == 3:  # [MQTT-3.3.1-4]
        raise MalformedPacket("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
    dup = flags & 8
    if dup and not qos:  # [MQTT-3.3.1-2]
        raise MalformedPacket("PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]")
    topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1]) if end - start >= 2 else end + 1
    pos = topic_end + 2 if qos else topic_end
    if pos > end:
        raise MalformedPacket("PUBLISH ends inside the topic name or packet identifier")
    try:
        topic = buf[start + 2 : topic_end].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("PUBLISH topic is not well-formed UTF-8 [MQTT-1.5.4-1]") from None
    if "\x00" in topic:  # [MQTT-1.5.4-2]
        raise MalformedPacket("PUBLISH topic contains U+0000 [MQTT-1.5.4-2]")
    packet_id = None
    if qos:
        packet_id = _nonzero_id((buf[topic_end] << 8) | buf[topic_end + 1], "PUBLISH at QoS > 0")
    properties = NO_PROPERTIES
    if version == 5:
        if pos < end and buf[pos] == 0:  # no properties: skip the table work
            pos += 1
        else:
            reader = Reader(buf, pos, end)
            properties = read_properties(reader, PacketType.PUBLISH)
            pos = reader.pos
    return new_publish(
        topic, buf[pos:end], _QOS[qos], bool(flags & 1), bool(dup), packet_id, properties
    )


def _ack_factory(cls: type) -> Callable[[int], Packet]:
    """`cls(packet_id)` for an acknowledgement class, filling the slots directly (see new_publish)."""
    assert tuple(f.name for f in fields(cls)) == ("packet_id", "reason_code", "properties")
    set_id, set_code, set_props = (
        getattr(cls, name).__set__ for name in ("packet_id", "reason_code", "properties")
    )

    def make(packet_id: int) -> Packet:
        packet: Packet = object.__new__(cls)
        set_id(packet, packet_id)
        set_code(packet, ReasonCode.SUCCESS)
        set_props(packet, NO_PROPERTIES)
        return packet

    return make


def _ack_decoder(cls: type, packet_type: PacketType) -> Decoder:
    make = _ack_factory(cls)

    def decode(flags: int, buf: bytes, start: int, end: int, version: int) -> Packet:
        size = end - start
        if size < 2 or (size > 2 and version != 5):
            raise MalformedPacket(f"{packet_type.name} must have remaining length 2, not {size}")
        packet_id = (buf[start] << 8) | buf[start + 1]
        if (
            not packet_id
        ):  # it answers a packet that had one [MQTT-2.2.1-3] (Mosquitto: protocol error)
            _nonzero_id(packet_id, packet_type.name)
        if size == 2:  # 5.0 3.4.2.1: Remaining Length 2 means Success and no properties
            return make(packet_id)
        code = reason_code(buf[start + 2], packet_type)
        if size == 3:  # 5.0 3.4.2.2.1: Remaining Length < 4 means no property length
            return cls(packet_id, code)
        reader = Reader(buf, start + 3, end)
        properties = read_properties(reader, packet_type)
        reader.expect_end(f"{packet_type.name} properties")
        return cls(packet_id, code, properties)

    return decode


# --- CONNECT and CONNACK ----------------------------------------------------------------------


def _read_protocol(reader: Reader) -> int:
    name = reader.utf8("protocol name")
    level = reader.byte("protocol level")
    if (name, level) not in _PROTOCOLS:
        raise UnsupportedProtocolVersion(name, level)
    return level


def _check_connect_flags(flags: int, version: int) -> None:
    will_flag, will_qos, will_retain = flags & 0x04, (flags >> 3) & 3, flags & 0x20
    if flags & 0x01:  # [MQTT-3.1.2-3]
        raise MalformedPacket("CONNECT reserved flag is set [MQTT-3.1.2-3]")
    if will_qos == 3:  # 5.0 [MQTT-3.1.2-12], 3.1.1 [MQTT-3.1.2-14]
        raise MalformedPacket("CONNECT will QoS 3 [MQTT-3.1.2-12]")
    if not will_flag and will_qos:  # 5.0 [MQTT-3.1.2-11], 3.1.1 [MQTT-3.1.2-13]
        raise MalformedPacket("CONNECT will QoS set without the will flag [MQTT-3.1.2-11]")
    if not will_flag and will_retain:  # 5.0 [MQTT-3.1.2-13], 3.1.1 [MQTT-3.1.2-15]
        raise MalformedPacket("CONNECT will retain set without the will flag [MQTT-3.1.2-13]")
    if version != 5 and flags & 0x40 and not flags & 0x80:  # 3.1.1 [MQTT-3.1.2-22]
        raise MalformedPacket("CONNECT password without a user name [MQTT-3.1.2-22]")


def _read_will(reader: Reader, flags: int, version: int) -> Will | None:
    if not flags & 0x04:
        return None
    properties = NO_PROPERTIES
    if version == 5:
        properties = read_properties(reader, PacketType.CONNECT, will=True)
    topic = reader.utf8("will topic")  # 5.0 [MQTT-3.1.3-11], 3.1.1 [MQTT-3.1.3-10]
    payload = reader.binary("will payload")
    return Will(topic, payload, _QOS[(flags >> 3) & 3], bool(flags & 0x20), properties)


def decode_connect(flags: int, buf: bytes, start: int, end: int, version: int) -> Connect:
    """CONNECT (spec 3.1). The packet's own protocol level decides the rules, not `version`."""
    reader = Reader(buf, start, end)
    level = _read_protocol(reader)
    connect_flags = reader.byte("connect flags")
    _check_connect_flags(connect_flags, level)
    keep_alive = reader.uint16("keep alive")
    properties = read_properties(reader, PacketType.CONNECT) if level == 5 else NO_PROPERTIES
    if properties.authentication_data is not None and properties.authentication_method is None:
        raise protocol_error("authentication data without an authentication method (3.1.2.11.10)")
    client_id = reader.utf8("client identifier")  # [MQTT-3.1.3-3]; its content is the server's call
    will = _read_will(reader, connect_flags, level)
    username = reader.utf8("user name") if connect_flags & 0x80 else None  # [MQTT-3.1.2-17]
    password = reader.binary("password") if connect_flags & 0x40 else None  # [MQTT-3.1.2-19]
    reader.expect_end("CONNECT payload")
    return Connect(
        client_id,
        level,
        bool(connect_flags & 0x02),
        keep_alive,
        username,
        password,
        will,
        properties,
    )


def decode_connack(flags: int, buf: bytes, start: int, end: int, version: int) -> Connack:
    reader = Reader(buf, start, end)
    ack_flags = reader.byte("connect acknowledge flags")
    if ack_flags & 0xFE:  # [MQTT-3.2.2-1]
        raise MalformedPacket("CONNACK reserved flag bits are set [MQTT-3.2.2-1]")
    value = reader.byte("connect reason code")
    if version == 5:
        code = reason_code(value, PacketType.CONNACK)
        properties = read_properties(reader, PacketType.CONNACK)
    elif value in CONNACK_V311_REASON:
        code, properties = CONNACK_V311_REASON[value], NO_PROPERTIES
    else:  # 3.1.1 section 3.2.2.3: 6-255 are reserved
        raise MalformedPacket(f"CONNACK return code {value} is reserved")
    reader.expect_end("CONNACK")
    if ack_flags and code.is_error:  # 5.0 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]
        raise protocol_error("CONNACK session present with an error code [MQTT-3.2.2-6]")
    return Connack(bool(ack_flags), code, properties)


# --- SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK ---------------------------------------------------


def _subscription(topic_filter: str, options: int, version: int) -> Subscription:
    if version != 5:
        if options & 0xFC or options == 3:  # 3.1.1 [MQTT-3-8.3-4]
            raise MalformedPacket(f"SUBSCRIBE requested QoS byte 0x{options:02X} [MQTT-3-8.3-4]")
        return Subscription(topic_filter, _QOS[options])
    if options & 0xC0:  # [MQTT-3.8.3-5]
        raise MalformedPacket("SUBSCRIBE options reserved bits are set [MQTT-3.8.3-5]")
    qos, handling = options & 3, (options >> 4) & 3
    if qos == 3:  # 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3"
        raise protocol_error("SUBSCRIBE maximum QoS 3 (3.8.3.1)")
    if handling == 3:  # 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3"
        raise protocol_error("SUBSCRIBE retain handling 3 (3.8.3.1)")
    no_local = bool(options & 0x04)
    if no_local and topic_filter.startswith(SHARE_PREFIX):  # [MQTT-3.8.3-4]
        raise protocol_error("No Local on a shared subscription [MQTT-3.8.3-4]")
    return Subscription(
        topic_filter, _QOS[qos], no_local, bool(options & 0x08), _RETAIN_HANDLING[handling]
    )


def decode_subscribe(flags: int, buf: bytes, start: int, end: int, version: int) -> Subscribe:
    reader = Reader(buf, start, end)
    packet_id = _nonzero_id(reader.uint16("packet identifier"), "SUBSCRIBE")
    properties = NO_PROPERTIES
    if version == 5:
        properties = read_properties(reader, PacketType.SUBSCRIBE)
        if len(properties.subscription_identifiers) > 1:  # 3.8.2.1.2
            raise protocol_error("SUBSCRIBE with more than one subscription identifier (3.8.2.1.2)")
    subscriptions = []
    while reader.remaining():
        topic_filter = reader.utf8("topic filter")
        subscriptions.append(
            _subscription(topic_filter, reader.byte("subscription options"), version)
        )
    if not subscriptions:  # 5.0 [MQTT-3.8.3-2], 3.1.1 [MQTT-3.8.3-3]
        raise protocol_error("SUBSCRIBE with no subscriptions [MQTT-3.8.3-2]")
    return Subscribe(packet_id, tuple(subscriptions), properties)


def decode_unsubscribe(flags: int, buf: bytes, start: int, end: int, version: int) -> Unsubscribe:
    reader = Reader(buf, start, end)
    packet_id = _nonzero_id(reader.uint16("packet identifier"), "UNSUBSCRIBE")
    properties = NO_PROPERTIES
    if version == 5:
        properties = read_properties(reader, PacketType.UNSUBSCRIBE)
    topic_filters = []
    while reader.remaining():
        topic_filters.append(reader.utf8("topic filter"))
    if not topic_filters:  # [MQTT-3.10.3-2]
        raise protocol_error("UNSUBSCRIBE with no topic filters [MQTT-3.10.3-2]")
    return Unsubscribe(packet_id, tuple(topic_filters), properties)


def _read_codes(reader: Reader, packet_type: PacketType, version: int) -> tuple[ReasonCode, ...]:
    codes = []
    while reader.remaining():
        value = reader.byte("reason code")
        if version == 5:
            codes.append(reason_code(value, packet_type))
        elif value in SUBACK_V311_REASON:
            codes.append(SUBACK_V311_REASON[value])
        else:  # 3.1.1 section 3.9.3: 0x00, 0x01, 0x02, 0x80 only
            raise MalformedPacket(f"SUBACK return code 0x{value:02X} is reserved")
    if not codes:
        raise protocol_error(f"{packet_type.name} with no reason codes (3.9.3 / 3.11.3)")
    return tuple(codes)


def decode_suback(flags: int, buf: bytes, start: int, end: int, version: int) -> Suback:
    reader = Reader(buf, start, end)
    packet_id = reader.uint16("packet identifier")
    properties = read_properties(reader, PacketType.SUBACK) if version == 5 else NO_PROPERTIES
    return Suback(packet_id, _read_codes(reader, PacketType.SUBACK, version), properties)


def decode_unsuback(flags: int, buf: bytes, start: int, end: int, version: int) -> Unsuback:
    reader = Reader(buf, start, end)
    packet_id = reader.uint16("packet identifier")
    if version != 5:  # 3.1.1 section 3.11: remaining length 2, no payload
        reader.expect_end("UNSUBACK packet identifier")
        return Unsuback(packet_id)
    properties = read_properties(reader, PacketType.UNSUBACK)
    return Unsuback(packet_id, _read_codes(reader, PacketType.UNSUBACK, version), properties)


# --- PINGREQ, PINGRESP, DISCONNECT, AUTH --------------------------------------------------------


def _empty_decoder(packet: Packet) -> Decoder:
    def decode(flags: int, buf: bytes, start: int, end: int, version: int) -> Packet:
        if end != start:  # 3.12.1 / 3.13.1: remaining length 0
            raise MalformedPacket(f"{packet.packet_type.name} must have remaining length 0")
        return packet

    return decode


def decode_disconnect(flags: int, buf: bytes, start: int, end: int, version: int) -> Disconnect:
    size = end - start
    if size == 0:  # 3.14.2.1: Remaining Length 0 means Normal disconnection
        return Disconnect()
    if version != 5:  # 3.1.1 section 3.14: no variable header
        raise MalformedPacket("DISCONNECT must have remaining length 0 in MQTT 3.1.1")
    code = reason_code(buf[start], PacketType.DISCONNECT)
    if size == 1:  # 3.14.2.2.1: Remaining Length < 2 means property length 0
        return Disconnect(code)
    reader = Reader(buf, start + 1, end)
    properties = read_properties(reader, PacketType.DISCONNECT)
    reader.expect_end("DISCONNECT properties")
    return Disconnect(code, properties)


def decode_auth(flags: int, buf: bytes, start: int, end: int, version: int) -> Auth:
    if version != 5:  # 3.1.1 section 2.2.1: packet type 15 is reserved
        raise MalformedPacket("packet type 15 (AUTH) is reserved in MQTT 3.1.1")
    if end == start:  # 3.15.2.1: Remaining Length 0 means Success and no properties
        return Auth()
    reader = Reader(buf, start, end)
    code = reason_code(reader.byte("reason code"), PacketType.AUTH)
    properties = read_properties(reader, PacketType.AUTH)
    reader.expect_end("AUTH properties")
    return Auth(code, properties)


DECODERS: dict[PacketType, Decoder] = {
    PacketType.CONNECT: decode_connect,
    PacketType.CONNACK: decode_connack,
    PacketType.PUBLISH: decode_publish,
    PacketType.PUBACK: _ack_decoder(Puback, PacketType.PUBACK),
    PacketType.PUBREC: _ack_decoder(Pubrec, PacketType.PUBREC),
    PacketType.PUBREL: _ack_decoder(Pubrel, PacketType.PUBREL),
    PacketType.PUBCOMP: _ack_decoder(Pubcomp, PacketType.PUBCOMP),
    PacketType.SUBSCRIBE: decode_subscribe,
    PacketType.SUBACK: decode_suback,
    PacketType.UNSUBSCRIBE: decode_unsubscribe,
    PacketType.UNSUBACK: decode_unsuback,
    PacketType.PINGREQ: _empty_decoder(Pingreq()),
    PacketType.PINGRESP: _empty_decoder(Pingresp()),
    PacketType.DISCONNECT: decode_disconnect,
    PacketType.AUTH: decode_auth,
}
