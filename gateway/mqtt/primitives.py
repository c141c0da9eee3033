"""MQTT data representations (3.1.1 section 1.5, 5.0 section 1.5): integers, UTF-8 strings,
binary data and the Variable Byte Integer, for reading and for writing.

How this works: decoding goes through a `Reader`, a cursor over a bytes/memoryview body that raises
`MalformedPacket` the moment a field would run past the end, so a truncated or lying length never
escapes as IndexError. Encoding functions return `bytes`; they raise `ValueError` for values our own
code should never try to send (a bug of the caller, not the peer's mistake).
"""

from __future__ import annotations

import struct

from gateway.mqtt.errors import MalformedPacket

MAX_VARINT = 268_435_455  # [MQTT-1.5.5] four bytes of seven bits
MAX_STRING_BYTES = 65_535  # [MQTT-1.5.4] two-byte length prefix

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")

_ONE_BYTE = tuple(bytes((n,)) for n in range(128))


def encode_varint(value: int) -> bytes:
    """The Variable Byte Integer encoding, minimal length [MQTT-1.5.5-1]."""
    if value < 128:
        if value < 0:
            raise ValueError(f"variable byte integer must be >= 0, got {value}")
        return _ONE_BYTE[value]
    if value > MAX_VARINT:
        raise ValueError(f"variable byte integer must be <= {MAX_VARINT}, got {value}")
    out = bytearray()
    while True:
        digit = value & 0x7F
        value >>= 7
        if value:
            out.append(digit | 0x80)
        else:
            out.append(digit)
            return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int] | None:
    """(value, next position), or None when `buf[pos:end]` ends before the integer does.

    Raises MalformedPacket for a fifth byte [MQTT-1.5.5] or a non-minimal encoding [MQTT-1.5.5-1].
    """
    value = 0
    shift = 0
    for index in range(pos, min(end, pos + 4)):
        byte = buf[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and index > pos:
                raise MalformedPacket(
                    "variable byte integer not in its minimal form [MQTT-1.5.5-1]"
                )
            return value, index + 1
        shift += 7
    if end - pos >= 4:
        raise MalformedPacket("variable byte integer longer than 4 bytes [MQTT-1.5.5]")
    return None


def encode_uint16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"two byte integer out of range: {value}")
    return U16.pack(value)


def encode_uint32(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"four byte integer out of range: {value}")
    return U32.pack(value)


def encode_byte(value: int) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"byte out of range: {value}")
    return _ONE_BYTE[value] if value < 128 else bytes((value,))


def encode_string(text: str) -> bytes:
    """A UTF-8 Encoded String: two-byte length then the bytes [MQTT-1.5.4]."""
    if "\x00" in text:  # [MQTT-1.5.4-2]
        raise ValueError(f"UTF-8 string must not contain U+0000: {text!r}")
    data = text.encode("utf-8")  # lone surrogates raise UnicodeEncodeError [MQTT-1.5.4-1]
    if len(data) > MAX_STRING_BYTES:
        raise ValueError(f"UTF-8 string longer than {MAX_STRING_BYTES} bytes: {len(data)}")
    return U16.pack(len(data)) + data


def encode_binary(data: bytes) -> bytes:
    """Binary Data: two-byte length then the bytes [MQTT-1.5.6]."""
    if len(data) > MAX_STRING_BYTES:
        raise ValueError(f"binary data longer than {MAX_STRING_BYTES} bytes: {len(data)}")
    return U16.pack(len(data)) + bytes(data)


def decode_utf8(raw: bytes | memoryview) -> str:
    """Checked UTF-8: well formed, no surrogates [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]."""
    try:
        text = str(raw, "utf-8")  # the strict codec rejects encoded surrogates (ED A0..BF xx)
    except UnicodeDecodeError as exc:
        raise MalformedPacket(
            f"UTF-8 string is not well formed: {exc.reason} [MQTT-1.5.4-1]"
        ) from None
    if "\x00" in text:
        raise MalformedPacket("UTF-8 string contains U+0000 [MQTT-1.5.4-2]")
    return text


class Reader:
    """A bounds-checked cursor over one packet body."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _take(self, size: int, what: str) -> int:
        start = self.pos
        if start + size > self.end:
            raise MalformedPacket(f"packet ends inside the {what}")
        self.pos = start + size
        return start

    def byte(self, what: str = "byte") -> int:
        return self.buf[self._take(1, what)]

    def uint16(self, what: str = "two byte integer") -> int:
        start = self._take(2, what)
        return (self.buf[start] << 8) | self.buf[start + 1]

    def uint32(self, what: str = "four byte integer") -> int:
        return U32.unpack_from(self.buf, self._take(4, what))[0]

    def varint(self, what: str = "variable byte integer") -> int:
        result = decode_varint(self.buf, self.pos, self.end)
        if result is None:
            raise MalformedPacket(f"packet ends inside the {what}")
        value, self.pos = result
        return value

    def raw(self, size: int, what: str) -> memoryview | bytes:
        start = self._take(size, what)
        return self.buf[start : start + size]

    def utf8(self, what: str = "UTF-8 string") -> str:
        return decode_utf8(self.raw(self.uint16(what), what))

    def binary(self, what: str = "binary data") -> bytes:
        return bytes(self.raw(self.uint16(what), what))

    def rest(self) -> bytes:
        data = bytes(self.buf[self.pos : self.end])
        self.pos = self.end
        return data

    def expect_end(self, what: str) -> None:
        """Trailing bytes after the last field are malformed (spec 2.1.4 Remaining Length)."""
        if self.pos != self.end:
            raise MalformedPacket(f"{self.end - self.pos} unexpected byte(s) after the {what}")
