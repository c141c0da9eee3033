"""Vishay VEML7700 ambient light sensor (datasheet doc. 84286; application note "Designing the
VEML7700 Into an Application", doc. 84323).

Address 0x10. 16-bit registers, least significant byte first (SMBus words): 0x00 ALS_CONF_0
(bits 12:11 gain: 00 ×1, 01 ×2, 10 ×1/8, 11 ×1/4; bits 9:6 integration time: 1100 25 ms, 1000 50,
0000 100, 0001 200, 0010 400, 0011 800 ms; bit 0 shut down), 0x04 ALS count, 0x07 ID (low byte
0x81). Resolution (app note table 1): 0.0036 lx per count at gain 2 and 800 ms, doubling with
each halving of gain or integration time, up to 1.8432 lx at gain 1/8 and 25 ms.

Auto gain (app note, "flow chart"): start at gain 1/8 and 100 ms; while the count is at most 100,
raise the gain (1/4, 1, 2), then the integration time (200, 400, 800 ms); above 10,000 counts,
go back down that ladder, to 50 and 25 ms at gain 1/8. Unlike the flow chart, which starts over
each time, the driver starts from the setting of its previous read, so a steady light costs one
integration per read; a saturated count jumps back to the start. At gains 1/8 and 1/4 the app
note's correction for the sensor's non-linearity is applied:
lux = 6.0135e-13 x^4 - 9.3924e-9 x^3 + 8.1488e-5 x^2 + 1.0023 x.
A full-scale count at the least sensitive setting is saturation: a failed read. Vishay's later
datasheet revisions give 0.0042 lx/count for the same setting; `resolution` can be set to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.base import DeviceNotFound, Driver, InvalidReading, Reading
from drivers.bus.i2c import SMBusLike, check_address, missing_as_not_found

ADDRESSES = (0x10,)
REG_CONF, REG_ALS, REG_ID = 0x00, 0x04, 0x07
DEVICE_ID = 0x81
GAIN_BITS = {2.0: 0b01, 1.0: 0b00, 0.25: 0b11, 0.125: 0b10}
IT_BITS = {0.025: 0b1100, 0.050: 0b1000, 0.100: 0b0000, 0.200: 0b0001, 0.400: 0b0010, 0.800: 0b0011}
#: auto gain's ladder, least to most sensitive (app note flow chart)
LADDER = [
    (0.125, 0.025),
    (0.125, 0.050),
    (0.125, 0.100),
    (0.25, 0.100),
    (1.0, 0.100),
    (2.0, 0.100),
    (2.0, 0.200),
    (2.0, 0.400),
    (2.0, 0.800),
]
START = LADDER.index((0.125, 0.100))
LOW, HIGH, FULL = 100, 10_000, 0xFFFF
MAX_STEPS = len(LADDER)


def lux_per_count(gain: float, it: float, resolution: float = 0.0036) -> float:
    return resolution * (2.0 / gain) * (0.800 / it)


def correct(lux: float) -> float:
    """The app note's non-linearity correction, for gains 1/8 and 1/4."""
    return 6.0135e-13 * lux**4 - 9.3924e-9 * lux**3 + 8.1488e-5 * lux**2 + 1.0023 * lux


def conf_word(gain: float, it: float) -> int:
    return GAIN_BITS[gain] << 11 | IT_BITS[it] << 6


class VEML7700(Driver):
    quantities = (("illuminance", "lx"),)

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x10,
        *,
        gain: float | None = None,
        integration_time: float | None = None,
        resolution: float = 0.0036,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (gain is None) != (integration_time is None):
            raise ValueError("VEML7700: give both gain and integration_time, or neither (auto)")
        if gain is not None and (gain not in GAIN_BITS or integration_time not in IT_BITS):
            raise ValueError(
                f"VEML7700: gain one of {sorted(GAIN_BITS)}, integration_time one "
                f"of {sorted(IT_BITS)} s"
            )
        self.bus, self.address = bus, check_address(address, ADDRESSES, "VEML7700")
        self.auto = gain is None
        self.setting: tuple[float, float] = (
            (gain, integration_time)
            if gain is not None and integration_time is not None
            else LADDER[START]
        )
        self.resolution, self.sleep = resolution, sleep

    def _write(self, gain: float, it: float) -> None:
        word = conf_word(gain, it)
        self.bus.write_i2c_block_data(self.address, REG_CONF, [word & 0xFF, word >> 8])
        self.setting = (gain, it)
        self.sleep(2 * it + 0.005)  # the running integration, then one at the new setting

    def _count(self) -> int:
        return int.from_bytes(
            bytes(self.bus.read_i2c_block_data(self.address, REG_ALS, 2)), "little"
        )

    def open(self) -> None:
        with missing_as_not_found(self.address, "VEML7700"):
            ident = self.bus.read_i2c_block_data(self.address, REG_ID, 2)[0]
        if ident != DEVICE_ID:
            raise DeviceNotFound(
                f"VEML7700: ID 0x{ident:02X} at 0x{self.address:02X}, expected 0x81"
            )
        self._write(*(self.setting if not self.auto else LADDER[START]))

    def _auto_count(self) -> int:
        step = LADDER.index(self.setting)
        for _ in range(MAX_STEPS):
            count = self._count()
            if count >= FULL and step > START:
                step = START  # saturated: back to the app note's starting point
            elif count > HIGH and step > 0:
                step -= 1
            elif count <= LOW and step < len(LADDER) - 1:
                step += 1
            else:
                return count
            self._write(*LADDER[step])
        return self._count()

    def read(self) -> list[Reading]:
        count = self._auto_count() if self.auto else self._count()
        gain, it = self.setting
        if count >= FULL:
            raise InvalidReading(f"VEML7700: saturated at gain {gain:g}, {it * 1000:g} ms")
        lux = count * lux_per_count(gain, it, self.resolution)
        if gain in (0.125, 0.25):
            lux = correct(lux)
        return [Reading("illuminance", lux, "lx")]
