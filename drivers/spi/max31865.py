"""Maxim MAX31865 RTD-to-digital converter for PT100 / PT1000 (datasheet 19-6478).

SPI mode 1 or 3, up to 5 MHz. Registers (table 1): 0x00 configuration (write at 0x80 | address),
0x01/0x02 RTD MSB/LSB (15-bit ratio, bit 0 of LSB = fault), 0x07 fault status. Configuration bits:
7 V_BIAS on, 5 one-shot, 4 three-wire, 1 fault status clear, 0 50 Hz filter. A read: bias on,
wait for the input filter to settle (10.5 time constants; 10 ms covers the recommended network),
one-shot, wait the conversion (52 ms at 60 Hz, 62.5 ms at 50 Hz filter), read, bias off again
(no self-heating between reads). R_RTD = code / 2^15 × R_REF. Temperature from the
Callendar-Van Dusen equation with the IEC 60751 coefficients A = 3.9083e-3, B = -5.775e-7,
C = -4.183e-12 (below 0 °C): solved exactly above 0 °C, by Newton's method below. Fault status
bits (table 9): 7 RTD high threshold, 6 RTD low threshold, 5 REFIN- > 0.85 V_BIAS, 4 REFIN- <
0.85 V_BIAS (FORCE- open), 3 RTDIN- < 0.85 V_BIAS (FORCE- open), 2 over/undervoltage; a fault is
a failed read naming them, and is cleared for the next read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.spi import SpiLike, configure

REG_CONFIG, REG_RTD_MSB, REG_FAULT = 0x00, 0x01, 0x07
WRITE = 0x80
BIAS, ONE_SHOT, THREE_WIRE, FAULT_CLEAR, FILTER_50HZ = 0x80, 0x20, 0x10, 0x02, 0x01
A, B, C = 3.9083e-3, -5.775e-7, -4.183e-12
SETTLE_S = 0.010
CONVERT_S = {50: 0.0625, 60: 0.052}
FAULT_BITS = {
    0x80: "RTD above the high threshold (open RTD?)",
    0x40: "RTD below the low threshold (shorted RTD?)",
    0x20: "REFIN- > 0.85 x V_BIAS",
    0x10: "REFIN- < 0.85 x V_BIAS (FORCE- open)",
    0x08: "RTDIN- < 0.85 x V_BIAS (FORCE- open)",
    0x04: "over- or undervoltage",
}
RANGE_C = (-200.0, 850.0)  # IEC 60751 range of the equation


def resistance(t: float, r0: float) -> float:
    """Callendar-Van Dusen: R(T) for a platinum RTD of R0 at 0 °C."""
    if t >= 0:
        return r0 * (1 + A * t + B * t * t)
    return r0 * (1 + A * t + B * t * t + C * (t - 100) * t**3)


def temperature(r: float, r0: float) -> float:
    """Inverse of `resistance`."""
    if r >= r0:
        return (-A + math.sqrt(A * A - 4 * B * (1 - r / r0))) / (2 * B)
    t = (r / r0 - 1) / A  # a start close enough for Newton's method
    for _ in range(20):
        f = resistance(t, r0) - r
        slope = r0 * (A + 2 * B * t + C * (4 * t**3 - 300 * t * t))
        step = f / slope
        t -= step
        if abs(step) < 1e-9:
            break
    return t


class MAX31865(Driver):
    quantities = (("temperature", "°C"), ("resistance", "Ω"))

    def __init__(
        self,
        spi: SpiLike,
        *,
        rtd_nominal: float = 100.0,
        reference: float = 430.0,
        wires: int = 3,
        filter_hz: int = 50,
        max_speed_hz: int = 1_000_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if wires not in (2, 3, 4):
            raise ValueError("MAX31865: wires must be 2, 3 or 4")
        if filter_hz not in CONVERT_S:
            raise ValueError("MAX31865: filter_hz must be 50 or 60 (the mains frequency)")
        if reference <= rtd_nominal:
            raise ValueError(
                "MAX31865: reference must be above rtd_nominal (430 Ω for a PT100, "
                "4300 Ω for a PT1000 on the common boards)"
            )
        self.spi, self.r0, self.reference, self.sleep = spi, rtd_nominal, reference, sleep
        self.base = (THREE_WIRE if wires == 3 else 0) | (FILTER_50HZ if filter_hz == 50 else 0)
        self.convert_s, self.speed = CONVERT_S[filter_hz], max_speed_hz

    def _write(self, register: int, value: int) -> None:
        self.spi.xfer2([WRITE | register, value])

    def _read(self, register: int, count: int) -> list[int]:
        return self.spi.xfer2([register] + [0] * count)[1:]

    def open(self) -> None:
        configure(self.spi, 1, self.speed)
        self._write(REG_CONFIG, self.base | FAULT_CLEAR)
        if self._read(REG_CONFIG, 1)[0] != self.base:
            raise DeviceNotFound(
                "MAX31865: the configuration register does not read back what was "
                "written: no chip answers (wiring, chip select, SPI mode)"
            )

    def read(self) -> list[Reading]:
        self._write(REG_CONFIG, self.base | BIAS)
        self.sleep(SETTLE_S)
        self._write(REG_CONFIG, self.base | BIAS | ONE_SHOT)
        self.sleep(self.convert_s)
        msb, lsb = self._read(REG_RTD_MSB, 2)
        self._write(REG_CONFIG, self.base)  # bias off: no self-heating
        if lsb & 0x01:
            status = self._read(REG_FAULT, 1)[0]
            self._write(REG_CONFIG, self.base | FAULT_CLEAR)
            causes = [text for bit, text in FAULT_BITS.items() if status & bit] or ["fault bit set"]
            raise InvalidReading(f"MAX31865: {', '.join(causes)}")
        ohms = (msb << 7 | lsb >> 1) / 32768 * self.reference
        celsius = temperature(ohms, self.r0)
        if not RANGE_C[0] <= celsius <= RANGE_C[1]:
            raise InvalidReading(
                f"MAX31865: {ohms:.2f} Ω is {celsius:.1f} °C, outside the RTD range -200..850 °C"
            )
        return [Reading("temperature", celsius, "°C"), Reading("resistance", ohms, "Ω")]
