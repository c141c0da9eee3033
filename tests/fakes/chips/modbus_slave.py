"""A fake Modbus RTU slave: answers 0x03 / 0x04 requests from its register tables.

The CRC is computed with a lookup table built here (a different method from the driver's
bit loop). Requests for other slave addresses are ignored, as on a real RS-485 bus; registers
outside the tables get exception 2 (illegal data address), other functions exception 1.
`silent`, `corrupt_crc` and `truncate` model a dead device, line noise and a cut-off reply.
"""

from __future__ import annotations


def _table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ (0xA001 if crc & 1 else 0)
        table.append(crc)
    return table


TABLE = _table()


def crc16_table(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ TABLE[(crc ^ byte) & 0xFF]
    return crc


def frame(pdu: bytes) -> bytes:
    return pdu + crc16_table(pdu).to_bytes(2, "little")


class FakeModbusSlave:
    def __init__(self, address: int = 1) -> None:
        self.address = address
        self.holding: dict[int, int] = {}
        self.input: dict[int, int] = {}
        self.silent = self.corrupt_crc = False
        self.truncate: int | None = None
        self.requests: list[bytes] = []

    def respond(self, data: bytes) -> tuple[int, bytes]:
        if len(data) < 8:
            return 0, b""
        request, reply = data[:8], b""
        self.requests.append(request)
        if (
            crc16_table(request[:6]) == int.from_bytes(request[6:], "little")
            and request[0] == self.address
            and not self.silent
        ):
            reply = self._answer(
                request[1], int.from_bytes(request[2:4], "big"), int.from_bytes(request[4:6], "big")
            )
        return 8, reply

    def _answer(self, function: int, start: int, count: int) -> bytes:
        table = {3: self.holding, 4: self.input}.get(function)
        if table is None:
            return self._exception(function, 1)
        if not 1 <= count <= 125 or any(a not in table for a in range(start, start + count)):
            return self._exception(function, 2)
        data = b"".join(table[a].to_bytes(2, "big") for a in range(start, start + count))
        out = frame(bytes([self.address, function, len(data)]) + data)
        if self.corrupt_crc:
            out = out[:-1] + bytes([out[-1] ^ 0xFF])
        return out[: self.truncate] if self.truncate is not None else out

    def _exception(self, function: int, code: int) -> bytes:
        return frame(bytes([self.address, function | 0x80, code]))
