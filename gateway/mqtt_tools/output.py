"""How mosquitto_sub prints a message (client/sub_client_output.c of Mosquitto 2.0), as pure code.

`render(opts, message, now)` returns the bytes to write, or None for nothing: the payload alone
(nothing at all for an empty one), `topic payload` with -v (`topic (null)` for an empty one), no
newline with -N, or the -F format: `%t` topic, `%p` payload, `%x`/`%X` payload in hex, `%l` length,
`%m` message id, `%q` QoS, `%r` retain, `%I` ISO 8601 time, `%U` Unix time with nanoseconds, `%j`
JSON with the payload as a string, `%J` JSON with a JSON payload, MQTT 5 properties `%A %C %D %E
%F %P %R %S`, `%%`; `@` + a strftime letter (`@@` for @, `@N` nanoseconds); escapes `\\n \\t \\0`
...; and printf's `-` (left-align), `0` (zero-pad), width and `.precision`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

_SPECIFIERS = set("%ACDEFIlmPpqRSrtjJUxX")
_ESCAPES = {
    "\\": b"\\",
    "0": b"\0",
    "a": b"\a",
    "e": b"\033",
    "n": b"\n",
    "r": b"\r",
    "t": b"\t",
    "v": b"\v",
}


class FormatError(ValueError):
    """A -F string Mosquitto refuses (its text)."""


#: an MQTT 5 property's value as paho gives it: a number, a string, binary data or a user property
PropertyValue = int | str | bytes | tuple[str, str]


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    mid: int = 0
    # MQTT 5 properties in the order received: (Mosquitto's name, value)
    properties: tuple[tuple[str, PropertyValue], ...] = field(default=())

    def prop(self, name: str) -> PropertyValue | None:
        return next((v for n, v in self.properties if n == name), None)


def check_format(fmt: str) -> None:
    """Refuse what Mosquitto's check_format refuses, with its messages."""
    i, n = 0, len(fmt)
    while i < n:
        char = fmt[i]
        if char == "%":
            i = _check_percent(fmt, i)
        elif char == "@":
            if i == n - 1:
                raise FormatError("Error: Incomplete format specifier.")
            i += 1
        elif char == "\\":
            if i == n - 1:
                raise FormatError("Error: Incomplete escape specifier.")
            if fmt[i + 1] not in _ESCAPES:
                raise FormatError(f"Error: Invalid escape specifier '{fmt[i + 1]}'.")
            i += 1
        i += 1


def _check_percent(fmt: str, i: int) -> int:
    n = len(fmt)
    incomplete = FormatError("Error: Incomplete format specifier.")
    if i == n - 1:
        raise incomplete
    if fmt[i + 1] in "0-":
        i += 1
        if i == n - 1:
            raise incomplete
    while fmt[i + 1].isdigit():
        i += 1
        if i == n - 1:
            raise incomplete
    if fmt[i + 1] == ".":
        i += 1
        if i == n - 1:
            raise incomplete
        while fmt[i + 1].isdigit():
            i += 1
            if i == n - 1:
                raise incomplete
    if fmt[i + 1] not in _SPECIFIERS:
        raise FormatError(f"Error: Invalid format specifier '{fmt[i + 1]}'.")
    return i + 1


def render(
    fmt: str | None, verbose: bool, eol: bool, message: Message, now: float, pretty: bool = False
) -> bytes | None:
    if fmt is not None:
        return _formatted(fmt, message, now, pretty) + (b"\n" if eol else b"")
    end = b"\n" if eol else b""
    if verbose:
        if message.payload:
            return message.topic.encode() + b" " + message.payload + end
        return message.topic.encode() + b" (null)\n" if eol else None
    if message.payload:
        return message.payload + end
    return None


@dataclass
class _Spec:
    align: str = ""
    pad: str = " "
    width: int = 0
    precision: int = -1


def _formatted(fmt: str, message: Message, now: float, pretty: bool) -> bytes:
    out = bytearray()
    i, n = 0, len(fmt)
    while i < n:
        char = fmt[i]
        if char == "%" and i < n - 1:
            spec, i = _parse_spec(fmt, i + 1)
            if i < n:
                out += _percent(fmt[i], spec, message, now, pretty)
        elif char == "@" and i < n - 1:
            i += 1
            out += _at(fmt[i], now)
        elif char == "\\" and i < n - 1:
            i += 1
            out += _ESCAPES.get(fmt[i], b"")
        elif char not in "%@\\":
            out += char.encode()
        i += 1
    return bytes(out)


def _parse_spec(fmt: str, i: int) -> tuple[_Spec, int]:
    """Mosquitto's formatted_print: flags, width and precision after a %; returns the index of
    the conversion letter."""
    n, spec = len(fmt), _Spec()
    if fmt[i] == "-":
        spec.align = "-"
        i = min(i + 1, n - 1)
    if fmt[i] == "0":
        spec.pad = "0"
        i = min(i + 1, n - 1)
    while i < n - 1 and fmt[i].isdigit():
        spec.width = spec.width * 10 + int(fmt[i])
        i += 1
    if fmt[i] == "." and i < n - 1:
        i += 1
        spec.precision = 0
        while i < n - 1 and fmt[i].isdigit():
            spec.precision = spec.precision * 10 + int(fmt[i])
            i += 1
    return spec, i


def _int(value: int, spec: _Spec) -> bytes:
    if not spec.width:
        return str(value).encode()
    if spec.align == "-":
        return f"{value:<{spec.width}d}".encode()
    return (f"{value:0{spec.width}d}" if spec.pad == "0" else f"{value:>{spec.width}d}").encode()


def _str(value: str, spec: _Spec) -> bytes:
    if spec.precision >= 0:
        value = value[: spec.precision]
    if spec.align == "-":
        return f"{value:<{spec.width}}".encode()
    return f"{value:>{spec.width}}".encode()


def _blank(spec: _Spec, pad: str | None = None) -> bytes:
    return ((pad or spec.pad) * spec.width).encode()


def _payload(payload: bytes, spec: _Spec, hexcase: str = "") -> bytes:
    """Mosquitto's write_payload: a width truncates the payload (in hex, to width/2 bytes)."""
    length = len(payload)
    if spec.width > 0:
        length = min(length, spec.width)
        if hexcase:
            length //= 2
        padlen = spec.width - (length * 2 if hexcase else length)
    else:
        padlen = 0
    body = payload[:length]
    data = (
        body.hex().encode() if hexcase == "x" else body.hex().upper().encode() if hexcase else body
    )
    if spec.align == "-":
        return data + b" " * padlen
    return spec.pad.encode() * padlen + data


def _percent(letter: str, spec: _Spec, message: Message, now: float, pretty: bool) -> bytes:
    if letter == "%":
        return b"%"
    if letter in _PROPERTY_INTS:
        value = message.prop(_PROPERTY_INTS[letter])
        return _int(value, spec) if isinstance(value, int) else _blank(spec)
    if letter in ("C", "R"):
        value = message.prop("content-type" if letter == "C" else "response-topic")
        if value is not None:
            return _str(str(value), spec)
        return _blank(spec, " ") if letter == "C" else b""
    simple = {
        "D": lambda: _binary(message.prop("correlation-data")),
        "I": lambda: _str(time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)), spec),
        "j": lambda: _json(message, now, escaped=True, pretty=pretty),
        "J": lambda: _json(message, now, escaped=False, pretty=pretty),
        "l": lambda: _int(len(message.payload), spec),
        "m": lambda: _int(message.mid, spec),
        "P": lambda: " ".join(f"{k}:{v}" for k, v in _user_properties(message)).encode(),
        "p": lambda: _payload(message.payload, spec),
        "q": lambda: str(message.qos).encode(),
        "r": lambda: b"1" if message.retain else b"0",
        "t": lambda: _str(message.topic, spec),
        "U": lambda: _unix_time(now).encode(),
        "x": lambda: _payload(message.payload, spec, "x"),
        "X": lambda: _payload(message.payload, spec, "X"),
    }
    return simple[letter]() if letter in simple else b""


_PROPERTY_INTS = {
    "A": "topic-alias",
    "E": "message-expiry-interval",
    "F": "payload-format-indicator",
    "S": "subscription-identifier",
}


def _user_properties(message: Message) -> list[tuple[str, str]]:
    return [v for n, v in message.properties if n == "user-property" and isinstance(v, tuple)]


def _binary(value: PropertyValue | None) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else b""


def _unix_time(now: float) -> str:
    seconds = int(now)
    return f"{seconds}.{round((now - seconds) * 1e9) % 1_000_000_000:09d}"


def _at(letter: str, now: float) -> bytes:
    if letter == "@":
        return b"@"
    if letter == "N":
        return f"{round((now - int(now)) * 1e9) % 1_000_000_000:09d}".encode()
    return time.strftime(f"%{letter}", time.localtime(now)).encode()


def _json(message: Message, now: float, *, escaped: bool, pretty: bool) -> bytes:
    """Mosquitto's json_print (cJSON): tst (local time, labelled Z as Mosquitto 2.0 does), topic,
    qos, retain, payloadlen, mid (QoS > 0), properties (MQTT 5), payload."""
    micro = round((now - int(now)) * 1e6) % 1_000_000
    stamp = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        + f".{micro:06d}Z"
        + time.strftime("%z", time.localtime(now))
    )
    doc: dict[str, object] = {
        "tst": stamp,
        "topic": message.topic,
        "qos": message.qos,
        "retain": int(message.retain),
        "payloadlen": len(message.payload),
    }
    if message.qos > 0:
        doc["mid"] = message.mid
    if message.properties:
        doc["properties"] = _json_properties(message)
    if escaped:
        doc["payload"] = message.payload.decode("utf-8", "replace")
    else:
        try:
            doc["payload"] = json.loads(message.payload) if message.payload else None
        except ValueError:
            raise FormatError(
                f"Error: Message payload is not valid JSON on topic {message.topic}."
            ) from None
    if pretty:
        return json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ":\t")).encode()
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _json_properties(message: Message) -> dict[str, object]:
    out: dict[str, object] = {}
    users: dict[str, str] = {}  # in `out` where the first one came, as Mosquitto places it
    for name, value in message.properties:
        if name == "user-property" and isinstance(value, tuple):
            key, val = value
            users[key] = val
            out.setdefault("user-properties", users)
        elif name == "correlation-data":
            out[name] = _binary(value).decode("utf-8", "replace")
        else:
            out[name] = value
    return out
