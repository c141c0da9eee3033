"""The MQTT wire codec: packets to bytes and bytes to packets, for 3.1, 3.1.1 and 5.0. No I/O.

How this works: `encode(packet, version)` dispatches to encoder.py. `StreamDecoder.feed(data)`
frames the byte stream: it reads each fixed header (spec 2.1), rejects a packet larger than the
maximum packet size as soon as its header is known (before buffering the body), waits until the
whole body has arrived, then hands the buffer and the body's offsets to decoder.py (no intermediate
slices: the payload is copied once, straight out of the received bytes). Chunks that only extend a
partial packet are kept in a list and joined once the packet is complete, so a large packet arriving
in small pieces costs O(n), not O(n^2).

On a ProtocolError the decoder stays failed: every later feed raises the same error. The packets
before the bad one are not lost: when a chunk holds good packets and then a bad one, `feed` returns
the good ones and keeps the error in `error` (raised by the next feed), so that a receiver handles
them in order, as if they had arrived one by one, and checks `error` afterwards — a CONNECT and a
bad PUBLISH in one TCP segment get a CONNACK and then the DISCONNECT the PUBLISH deserves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.mqtt.decoder import DECODERS, Decoder, UnsupportedProtocolVersion, protocol_error
from gateway.mqtt.encoder import ENCODERS, VERSIONS, encode_ack, encode_publish
from gateway.mqtt.enums import PacketType
from gateway.mqtt.errors import MalformedPacket, PacketTooLarge, ProtocolError
from gateway.mqtt.packets import Connect, Packet, Puback, Pubcomp, Publish, Pubrec, Pubrel
from gateway.mqtt.primitives import decode_varint

MAX_PACKET_SIZE = 268_435_460  # 1 + 4 + 268,435,455: the largest packet the framing can express

_PUBLISH = PacketType.PUBLISH
_CONNECT = PacketType.CONNECT
# keyed by class: hashing a type is cheaper than hashing an IntEnum member (each encoder takes
# packets of its key's class, which one dict value type cannot say: Any)
_FAST_ENCODERS: dict[type, Callable[[Any, int], bytes]] = {
    Publish: encode_publish,
    Puback: encode_ack,
    Pubrec: encode_ack,
    Pubrel: encode_ack,
    Pubcomp: encode_ack,
}

# Required fixed-header flags per packet type; None = PUBLISH, whose flags are fields (spec 2.1.3).
# 5.0 [MQTT-2.1.3-1], 3.1.1 [MQTT-2.2.2-1]; PUBREL [MQTT-3.6.1-1], SUBSCRIBE [MQTT-3.8.1-1],
# UNSUBSCRIBE [MQTT-3.10.1-1] must be 0b0010.
_REQUIRED_FLAGS: tuple[int | None, ...] = (
    -1,  # 0: reserved packet type
    0,
    0,
    None,
    0,
    0,
    0b0010,
    0,
    0b0010,
    0,
    0b0010,
    0,
    0,
    0,
    0,
    0,
)
# first byte -> packet type when its flags are valid, else 0: one lookup on the hot path
_VALID_FIRST_BYTE = tuple(
    (b >> 4) if _REQUIRED_FLAGS[b >> 4] is None or _REQUIRED_FLAGS[b >> 4] == b & 0x0F else 0
    for b in range(256)
)


def _reserved(flags: int, buf: bytes, start: int, end: int, version: int) -> Packet:
    raise MalformedPacket("packet type 0 is reserved (spec 2.1.2)")  # _check_header says it first


_DECODER_BY_TYPE: tuple[Decoder, ...] = (_reserved, *tuple(DECODERS[t] for t in PacketType))


def encode(packet: Packet, version: int) -> bytes:
    """The wire bytes of `packet` for protocol level `version` (3, 4 or 5).

    Raises ValueError for a packet the protocol cannot carry (our bug, not the peer's).
    """
    fast = _FAST_ENCODERS.get(type(packet))
    if fast is not None and (version == 4 or version == 5 or version == 3):
        return fast(packet, version)
    if version not in VERSIONS:
        raise ValueError(f"protocol version must be 3, 4 or 5, got {version!r}")
    return ENCODERS[packet.packet_type](packet, version)


def _check_header(first_byte: int, version: int | None) -> int:
    """The packet type of a fixed header's first byte, after the flag and version checks."""
    packet_type = first_byte >> 4
    required = _REQUIRED_FLAGS[packet_type]
    if required == -1:  # 5.0 2.1.2 / 3.1.1 2.2.1: type 0 is reserved
        raise MalformedPacket("packet type 0 is reserved (spec 2.1.2)")
    if required is not None and first_byte & 0x0F != required:  # [MQTT-2.1.3-1]
        raise MalformedPacket(
            f"{PacketType(packet_type).name} fixed header flags "
            f"0b{first_byte & 0x0F:04b}, must be 0b{required:04b} [MQTT-2.1.3-1]"
        )
    if version is None and packet_type != _CONNECT:  # [MQTT-3.1.0-1]
        raise protocol_error(
            f"first packet must be CONNECT, got {PacketType(packet_type).name} [MQTT-3.1.0-1]"
        )
    return packet_type


def decode_packet(first_byte: int, body: bytes | memoryview, version: int) -> Packet:
    """Decode one packet from its fixed header's first byte and its body (without the header)."""
    if version != 4 and version != 5 and version != 3:
        raise ValueError(f"protocol version must be 3, 4 or 5, got {version!r}")
    packet_type = _VALID_FIRST_BYTE[first_byte]
    if not packet_type:
        _check_header(first_byte, version)  # raises with the reason
    data = body if type(body) is bytes else bytes(body)
    return _DECODER_BY_TYPE[packet_type](first_byte & 0x0F, data, 0, len(data), version)


class StreamDecoder:
    """Turns a byte stream into packets; see the module docstring.

    `version` is the protocol level to decode with. A server passes None: only a CONNECT is then
    accepted [MQTT-3.1.0-1], and its protocol level becomes `version` for the packets after it.
    """

    __slots__ = ("_buffered", "_chunks", "_need", "error", "max_packet_size", "version")

    def __init__(
        self, *, max_packet_size: int = MAX_PACKET_SIZE, version: int | None = None
    ) -> None:
        if version is not None and version not in VERSIONS:
            raise ValueError(f"protocol version must be 3, 4, 5 or None, got {version!r}")
        if max_packet_size < 2:
            raise ValueError(f"max_packet_size must be at least 2, got {max_packet_size}")
        self.version = version
        self.max_packet_size = max_packet_size
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._need = 2  # bytes needed in the buffer before parsing can make progress
        self.error: ProtocolError | None = None  # set once the stream broke the protocol

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """All complete packets in the data received so far; raises ProtocolError when the first
        new packet is bad, and returns the good ones before a bad one (leaving `error` set)."""
        if self.error is not None:
            raise self.error
        if data:
            self._chunks.append(bytes(data) if type(data) is not bytes else data)
            self._buffered += len(data)
        if self._buffered < self._need:
            return []
        chunks = self._chunks
        buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            packets, pos = self._parse(buf)
        except ProtocolError as exc:
            self.error = exc
            self._chunks = []
            raise
        if self.error is not None:  # good packets, then a bad one: the rest is not read
            self._chunks = []
            self._buffered = 0
            return packets
        rest = buf[pos:] if pos else buf
        self._chunks = [rest] if rest else []
        self._buffered = len(rest)
        self._need -= pos
        return packets

    def _parse(self, buf: bytes) -> tuple[list[Packet], int]:
        """Decode every complete packet in `buf`; sets `_need` (absolute) for the first incomplete one."""
        packets: list[Packet] = []
        size = len(buf)
        pos = 0
        version = self.version
        limit = self.max_packet_size
        try:
            while True:
                if size - pos < 2:
                    self._need = pos + 2
                    return packets, pos
                first = buf[pos]
                length = buf[pos + 1]
                if length < 0x80:
                    body_start = pos + 2
                else:
                    header = decode_varint(buf, pos + 1, size)
                    if header is None:  # the remaining length continues past the data we have
                        self._need = size + 1
                        return packets, pos
                    length, body_start = header
                end = body_start + length
                if end - pos > limit:  # 5.0 [MQTT-3.1.2-24]: checked before buffering the body
                    raise PacketTooLarge(
                        f"packet of {end - pos} bytes exceeds the maximum "
                        f"packet size {limit} [MQTT-3.1.2-24]"
                    )
                packet_type = _VALID_FIRST_BYTE[first]
                if not packet_type or (version is None and packet_type != _CONNECT):
                    packet_type = _check_header(first, version)  # raises with the reason
                if end > size:
                    self._need = end
                    return packets, pos
                packet = _DECODER_BY_TYPE[packet_type](
                    first & 0x0F, buf, body_start, end, version if version is not None else 0
                )
                if version is None and isinstance(packet, Connect):  # the first: a CONNECT
                    version = self.version = packet.protocol_version
                packets.append(packet)
                pos = end
        except ProtocolError as exc:
            if not packets:
                raise
            self.error = exc  # raised by the next feed, after these packets are handled
            return packets, pos


__all__ = [
    "MAX_PACKET_SIZE",
    "StreamDecoder",
    "UnsupportedProtocolVersion",
    "decode_packet",
    "encode",
]
