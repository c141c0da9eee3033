"""Fakes of the serial CO2 and PM sensors, played on a pty by tests.fakes.serial_pty.PtyDevice:
MH-Z19B (9-byte frames with its checksum), SDS011 (19-byte commands, 10-byte frames, query mode,
sleep) and Senseair S8 (Modbus RTU: input registers 0..3, holding register 31, exceptions)."""

from __future__ import annotations

from drivers.serial.mhz19 import checksum
from drivers.serial.modbus_rtu import crc16, with_crc


class FakeMhZ19B:
    def __init__(self) -> None:
        self.ppm, self.abc, self.range = 608, True, 5000
        self.corrupt = False
        self.commands: list[int] = []

    def respond(self, data: bytes) -> tuple[int, bytes]:
        start = data.find(b"\xff\x01")
        if start < 0:
            return len(data), b""
        if len(data) - start < 9:
            return 0, b""
        frame = data[start : start + 9]
        if checksum(frame) != frame[8]:
            return start + 1, b""  # the sensor ignores a bad command
        self.commands.append(frame[2])
        if frame[2] == 0x79:
            self.abc = frame[3] == 0xA0
        elif frame[2] == 0x99:
            self.range = frame[6] << 8 | frame[7]
        elif frame[2] == 0x86:
            body = bytes([0xFF, 0x86, self.ppm >> 8, self.ppm & 0xFF, 0x47, 0, 0, 0])
            crc = checksum(body + b"\x00") ^ (0xFF if self.corrupt else 0)
            return start + 9, body + bytes([crc])
        return start + 9, b""


class FakeSds011:
    def __init__(self) -> None:
        self.pm25, self.pm10 = 123.6, 261.8
        self.query_mode, self.sleeping = False, True
        self.log: list[str] = []

    def _frame(self, kind: int, payload: bytes) -> bytes:
        body = bytes([0xAA, kind]) + payload + b"\xa1\x60"
        return body + bytes([sum(body[2:8]) & 0xFF, 0xAB])

    def respond(self, data: bytes) -> tuple[int, bytes]:
        start = data.find(b"\xaa\xb4")
        if start < 0:
            return len(data), b""
        if len(data) - start < 19:
            return 0, b""
        cmd = data[start : start + 19]
        if sum(cmd[2:17]) & 0xFF != cmd[17] or cmd[18] != 0xAB:
            return start + 1, b""
        kind, set_, value = cmd[2], cmd[3], cmd[4]
        if kind == 6 and set_:
            self.sleeping = value == 0
            self.log.append("sleep" if self.sleeping else "work")
            return start + 19, self._frame(0xC5, bytes([6, 1, value, 0]))
        if self.sleeping:
            return start + 19, b""  # asleep: only "work" wakes it
        if kind == 2 and set_:
            self.query_mode = value == 1
            return start + 19, self._frame(0xC5, bytes([2, 1, value, 0]))
        if kind == 4:
            self.log.append("query")
            pm = round(self.pm25 * 10).to_bytes(2, "little") + round(self.pm10 * 10).to_bytes(
                2, "little"
            )
            return start + 19, self._frame(0xC0, pm)
        return start + 19, b""


class FakeSenseairS8:
    def __init__(self, address: int = 0x68) -> None:
        self.address = address
        self.inputs = [0x0000, 0, 0, 400]  # IR1 MeterStatus .. IR4 CO2
        self.abc_period = 180
        self.writes = 0

    def respond(self, data: bytes) -> tuple[int, bytes]:
        if len(data) < 8:
            return 0, b""
        frame = data[:8]
        if crc16(frame[:6]) != int.from_bytes(frame[6:], "little"):
            return 1, b""
        slave, function = frame[0], frame[1]
        if slave not in (self.address, 0xFE):
            return 8, b""
        address, value = int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[4:6], "big")
        if function == 0x04 and address + value <= 4:
            words = self.inputs[address : address + value]
        elif function == 0x03 and address == 31 and value == 1:
            words = [self.abc_period]
        elif function == 0x06 and address == 31:
            self.abc_period, self.writes = value, self.writes + 1
            return 8, frame  # the echo
        else:
            return 8, with_crc(bytes([slave, function | 0x80, 2]))
        return 8, with_crc(
            bytes([slave, function, 2 * len(words)]) + b"".join(w.to_bytes(2, "big") for w in words)
        )
