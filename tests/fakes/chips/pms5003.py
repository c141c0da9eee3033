"""A fake PMS5003: builds 32-byte frames (Appendix I) and answers passive-mode commands."""

from __future__ import annotations

HEADER = b"\x42\x4d"


def frame(values: list[int], *, corrupt: bool = False) -> bytes:
    """13 data words -> a complete frame with the sum check code."""
    assert len(values) == 13
    body = HEADER + (28).to_bytes(2, "big") + b"".join(v.to_bytes(2, "big") for v in values)
    check = (sum(body) + (1 if corrupt else 0)) & 0xFFFF
    return body + check.to_bytes(2, "big")


class FakePms5003:
    def __init__(self) -> None:
        # CF=1 standard PM1.0/2.5/10, atmospheric PM1.0/2.5/10, six counts, reserved
        self.values = [5, 8, 9, 4, 7, 9, 1200, 350, 60, 6, 2, 1, 0x9700]
        self.passive = False
        self.commands: list[bytes] = []

    def data_frame(self, **kw) -> bytes:
        return frame(self.values, **kw)

    def respond(self, data: bytes) -> tuple[int, bytes]:
        """Host commands are 7 bytes: 42 4D CMD DATAH DATAL LRCH LRCL (Appendix II)."""
        start = data.find(HEADER)
        if start < 0:
            return len(data), b""
        if len(data) - start < 7:
            return 0, b""
        cmd = data[start : start + 7]
        if sum(cmd[:5]) != int.from_bytes(cmd[5:], "big"):
            return start + 1, b""  # bad command: ignored
        self.commands.append(cmd)
        if cmd[2] == 0xE1:
            self.passive = cmd[4] == 0
            return start + 7, b"\x42\x4d\x00\x04\xe1" + bytes([cmd[4]]) + (
                sum(b"\x42\x4d\x00\x04\xe1") + cmd[4]
            ).to_bytes(2, "big")
        if cmd[2] == 0xE2 and self.passive:
            return start + 7, self.data_frame()
        return start + 7, b""
