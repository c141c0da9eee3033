"""The two kinds of errors, as h11 separates a peer's mistake from its own bugs.

`ProtocolError` is the peer's mistake: it carries the reason code the connection glue sends in
DISCONNECT (5.0) or implies by closing (3.1.1), in exactly one place. Anything else escaping the
codec is our bug, never the peer's (a Hypothesis test feeds random bytes and checks that).
Both derive from `gateway.errors.GatewayError`, the base of every error of the gateway.
"""

from __future__ import annotations

from gateway.errors import GatewayError
from gateway.mqtt.enums import ReasonCode

__all__ = ["MalformedPacket", "PacketTooLarge", "ProtocolError"]


class ProtocolError(GatewayError):
    """The peer broke the protocol; close its connection with `reason_code`."""

    def __init__(self, reason_code: ReasonCode, message: str) -> None:
        super().__init__(f"{message} ({reason_code.name}, 0x{int(reason_code):02X})")
        self.reason_code = reason_code
        self.message = message


class MalformedPacket(ProtocolError):
    def __init__(self, message: str) -> None:
        super().__init__(ReasonCode.MALFORMED_PACKET, message)


class PacketTooLarge(ProtocolError):
    def __init__(self, message: str) -> None:
        super().__init__(ReasonCode.PACKET_TOO_LARGE, message)
