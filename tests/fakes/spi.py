"""A fake py-spidev `SpiDev` with one chip behind it, and fakes of the SPI chips we support.

Like py-spidev, `mode` and `max_speed_hz` can be set only on an open device, and `xfer2` is one
transfer (chip select low for the whole list): the chip's `transfer(bytes) -> bytes` answers it
byte for byte, as full duplex SPI does. A chip may check the mode and clock it is driven with.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Protocol


class SpiChip(Protocol):
    def transfer(self, data: bytes, mode: int, speed: int) -> bytes: ...


class FakeSpiDev:
    def __init__(self, chip: SpiChip | None = None, *, present: bool = True) -> None:
        self.chip, self.present = chip, present
        self.is_open = False
        self._mode, self._speed = 0, 0
        self.transfers = 0

    def open(self, bus: int, device: int) -> None:
        if not self.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
        self.is_open = True

    def _check_open(self) -> None:
        if not self.is_open:
            raise OSError(errno.EBADF, "Bad file descriptor")

    @property
    def mode(self) -> int:
        return self._mode

    @mode.setter
    def mode(self, value: int) -> None:
        self._check_open()
        self._mode = value

    @property
    def max_speed_hz(self) -> int:
        return self._speed

    @max_speed_hz.setter
    def max_speed_hz(self, value: int) -> None:
        self._check_open()
        self._speed = value

    def xfer2(self, data: Sequence[int]) -> list[int]:
        self._check_open()
        self.transfers += 1
        if self.chip is None:
            return [0xFF] * len(data)  # MISO floats high: no chip
        return list(self.chip.transfer(bytes(data), self._mode, self._speed))

    def close(self) -> None:
        self.is_open = False


class FakeMCP3x08:
    """MCP3008 / MCP3208: samples the channel (or pair) the request selects; undefined bits of the
    first two response bytes read 1, as a line nobody drives, except the null bit (0)."""

    def __init__(self, chip: str = "mcp3008", vref: float = 3.3) -> None:
        self.chip, self.vref = chip, vref
        self.volts = [0.0] * 8
        self.bits = 10 if chip == "mcp3008" else 12

    def _code(self, single: bool, d: int) -> int:
        volts = self.volts[d] if single else self.volts[d] - self.volts[d ^ 1]
        return max(0, min((1 << self.bits) - 1, int(volts / self.vref * (1 << self.bits))))

    def transfer(self, data: bytes, mode: int, speed: int) -> bytes:
        assert mode in (0, 3) and speed <= 3_600_000, (mode, speed)
        if self.chip == "mcp3008":
            assert data[0] == 0x01  # start bit in the last bit of byte 0
            single, d = bool(data[1] & 0x80), data[1] >> 4 & 0x07
        else:
            assert data[0] & 0x04  # start bit
            single, d = bool(data[0] & 0x02), (data[0] & 0x01) << 2 | data[1] >> 6
        code = self._code(single, d)
        high = 0xFF & ~((1 << (self.bits - 7)) - 1)  # undriven bits above the null bit
        return bytes([0xFF, high | code >> 8, code & 0xFF])


class FakeMAX31855:
    """A MAX31855 whose thermocouple and cold junction read `hot` / `cold` °C, or a fault."""

    def __init__(self) -> None:
        self.hot, self.cold = 215.25, 24.5
        self.fault = 0  # 0x1 OC, 0x2 SCG, 0x4 SCV

    def frame(self) -> int:
        word = (round(self.hot / 0.25) & 0x3FFF) << 18 | (round(self.cold / 0.0625) & 0xFFF) << 4
        if self.fault:
            word = word & ~(0x3FFF << 18) | 0x10000 | self.fault
        return word

    def transfer(self, data: bytes, mode: int, speed: int) -> bytes:
        assert mode == 0 and speed <= 5_000_000
        return self.frame().to_bytes(4, "big")[: len(data)]


class FakeMAX31865:
    """A MAX31865 with its register file: one-shot conversions of a PT100/PT1000 of `ohms` only
    while V_BIAS is on, the fault bit and fault status, fault clear through the configuration."""

    def __init__(self, reference: float = 430.0) -> None:
        self.reference = reference
        self.ohms = 100.0
        self.regs = bytearray(8)
        self.regs[3:7] = b"\xff\xff\x00\x00"  # thresholds as after power-up
        self.fault_status = 0
        self.conversions = 0
        self.bias_at_conversion: list[bool] = []

    def _convert(self) -> None:
        self.conversions += 1
        self.bias_at_conversion.append(bool(self.regs[0] & 0x80))
        code = min(0x7FFF, round(self.ohms / self.reference * 32768))
        fault = 1 if self.fault_status else 0
        self.regs[1], self.regs[2] = code >> 7, (code << 1 & 0xFF) | fault
        self.regs[7] = self.fault_status

    def transfer(self, data: bytes, mode: int, speed: int) -> bytes:
        assert mode in (1, 3) and speed <= 5_000_000, (mode, speed)
        address, out = data[0], bytearray([0])
        if address & 0x80:
            register = address & 0x7F
            for i, value in enumerate(data[1:]):
                if register + i == 0:
                    if value & 0x02:  # fault status clear (self-clearing)
                        self.fault_status, self.regs[7] = 0, 0
                        value &= ~0x02
                    self.regs[0] = value & ~0x20  # one-shot clears itself
                    if value & 0x20:
                        self._convert()
                out.append(0)
            return bytes(out)
        for i in range(len(data) - 1):
            out.append(self.regs[(address + i) & 0x07])
        return bytes(out)
