"""TAOS / ams TSL2561 light-to-digital converter (datasheet TAOS059N).

Addresses 0x29, 0x39 (ADDR floating), 0x49. Every access starts with a command byte: bit 7 CMD,
bit 5 WORD for a 16-bit read, bits 3:0 the register (§"Command Register"). Registers: 0x0 CONTROL
(0x03 powers up, and reads back 0x03), 0x1 TIMING (bit 4 GAIN: 0 = 1×, 1 = 16×; bits 1:0 INTEG:
13.7, 101, 402 ms), 0xA ID (PARTNO in bits 7:4: 0000/0001 CS package, 0100/0101 T, FN and CL),
0xC/0xD DATA0 (CH0, visible + IR), 0xE/0xF DATA1 (CH1, IR).

Lux (§"Calculating Lux"): the channels are first scaled to 16× gain and 402 ms (× 16 at 1×,
× 402/13.7 or × 402/101 for the short times), then, with r = CH1/CH0, for the T/FN/CL package:
r ≤ 0.50: 0.0304 CH0 - 0.062 CH0 r^1.4; ≤ 0.61: 0.0224 CH0 - 0.031 CH1; ≤ 0.80: 0.0128 CH0 -
0.0153 CH1; ≤ 1.30: 0.00146 CH0 - 0.00112 CH1; above: 0. The CS package has its own
coefficients (below). A channel at its maximum count (5047 at 13.7 ms, 37177 at 101 ms, 65535 at
402 ms) is saturated; with `gain = "auto"` the driver then measures again at 1×, else the read
fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x29, 0x39, 0x49)
CMD, WORD = 0x80, 0x20
REG_CONTROL, REG_TIMING, REG_ID, REG_DATA0, REG_DATA1 = 0x0, 0x1, 0xA, 0xC, 0xE
POWER_ON = 0x03
GAIN_16X = 0x10
#: integration time s -> (INTEG bits, maximum count, scale to 402 ms: the datasheet's
#: CHSCALE_TINT0 = 322/11 and CHSCALE_TINT1 = 322/81, from the 322 / 81 / 11 clock cycles)
INTEG = {0.0137: (0b00, 5047, 322 / 11), 0.101: (0b01, 37177, 322 / 81), 0.402: (0b10, 65535, 1.0)}
PACKAGES = {0x0: "cs", 0x1: "cs", 0x4: "t", 0x5: "t"}
#: package -> [(upper bound of r, a, b, uses r^1.4)]: lux = a·CH0 - b·(CH0·r^1.4 or CH1)
COEFFICIENTS = {
    "t": [
        (0.50, 0.0304, 0.062, True),
        (0.61, 0.0224, 0.031, False),
        (0.80, 0.0128, 0.0153, False),
        (1.30, 0.00146, 0.00112, False),
    ],
    "cs": [
        (0.52, 0.0315, 0.0593, True),
        (0.65, 0.0229, 0.0291, False),
        (0.80, 0.0157, 0.0180, False),
        (1.30, 0.00338, 0.00260, False),
    ],
}


def lux(ch0: float, ch1: float, package: str = "t") -> float:
    """Channels normalised to 16× and 402 ms -> lux."""
    if ch0 == 0:
        return 0.0
    r = ch1 / ch0
    for bound, a, b, power in COEFFICIENTS[package]:
        if r <= bound:
            return max(0.0, a * ch0 - b * (ch0 * r**1.4 if power else ch1))
    return 0.0


def normalise(count: int, gain16: bool, integration: float) -> float:
    return count * (1 if gain16 else 16) * INTEG[integration][2]


class TSL2561(Driver):
    quantities = (("illuminance", "lx"), ("infrared", ""), ("broadband", ""))

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x39,
        *,
        gain: str = "auto",
        integration_time: float = 0.402,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if gain not in ("auto", "1x", "16x"):
            raise ValueError("TSL2561: gain must be 'auto', '1x' or '16x'")
        if integration_time not in INTEG:
            raise ValueError(f"TSL2561: integration_time must be one of {sorted(INTEG)} s")
        self.bus, self.address = bus, check_address(address, ADDRESSES, "TSL2561")
        self.gain, self.integration, self.sleep = gain, integration_time, sleep
        self.package = "t"

    def _write(self, register: int, value: int) -> None:
        self.bus.write_byte_data(self.address, CMD | register, value)

    def _word(self, register: int) -> int:
        return self.bus.read_word_data(self.address, CMD | WORD | register)

    def open(self) -> None:
        with missing_as_not_found(self.address, "TSL2561"):
            self._write(REG_CONTROL, POWER_ON)
        if self.bus.read_byte_data(self.address, CMD | REG_CONTROL) & 0x03 != POWER_ON:
            raise DeviceNotFound(
                f"TSL2561: CONTROL does not read back 0x03 at 0x{self.address:02X}"
            )
        part = self.bus.read_byte_data(self.address, CMD | REG_ID) >> 4
        if part not in PACKAGES:
            raise DeviceNotFound(f"TSL2561: ID part number 0x{part:X} is not a TSL2560/TSL2561")
        self.package = PACKAGES[part]

    def _measure(self, gain16: bool) -> tuple[int, int]:
        bits = INTEG[self.integration][0]
        self._write(REG_TIMING, (GAIN_16X if gain16 else 0) | bits)
        self.sleep(self.integration * 1.1 + 0.002)  # one full integration at the new timing
        return self._word(REG_DATA0), self._word(REG_DATA1)

    def read(self) -> list[Reading]:
        maximum = INTEG[self.integration][1]
        gain16 = self.gain != "1x"
        ch0, ch1 = self._measure(gain16)
        if self.gain == "auto" and max(ch0, ch1) >= maximum:
            gain16 = False
            ch0, ch1 = self._measure(gain16)
        if max(ch0, ch1) >= maximum:
            raise InvalidReading(
                f"TSL2561: saturated ({ch0}/{ch1} counts at "
                f"{'16x' if gain16 else '1x'}, {self.integration * 1000:g} ms)"
            )
        value = lux(
            normalise(ch0, gain16, self.integration),
            normalise(ch1, gain16, self.integration),
            self.package,
        )
        return [
            Reading("illuminance", value, "lx"),
            Reading("infrared", ch1),
            Reading("broadband", ch0),
        ]
