"""ST VL53L1X time-of-flight distance sensor (datasheet DS12385; ST's ultra-lite driver, UM2510).

How this works: the chip has 16-bit register indices, sent MSB first in front of the data of a
write, or written alone before a read (a repeated-start read, one `i2c_rdwr`). ST documents the
chip's behaviour at the level of its ultra-lite driver's functions (UM2510 §2), not as a register
datasheet; the registers and values below are the ones those functions use, named as ST names them.

- IDENTIFICATION__MODEL_ID 0x010F reads 0xEA 0xCC (UM2510 GetSensorId: 0xEACC).
- FIRMWARE__SYSTEM_STATUS 0x00E5 bit 0 is 1 once the chip has booted (BootState).
- Distance mode (SetDistanceMode): short (up to 1.3 m) or long (up to 4 m), six registers each.
- Timing budget (SetTimingBudgetInMs): RANGE_CONFIG__TIMEOUT_MACROP_A_HI 0x005E and _B_HI 0x0061,
  one pair of 16-bit values per budget and distance mode (TIMING_BUDGETS below); 15 ms is short
  mode only.
- Inter-measurement period (SetInterMeasurementInMs): SYSTEM__INTERMEASUREMENT_PERIOD 0x006C, 32
  bits, = period_ms × (RESULT__OSC_CALIBRATE_VAL 0x00DE & 0x3FF) × 1.075; it must be at least the
  timing budget. Here it equals the budget: the chip ranges back to back.
- Start/stop (StartRanging/StopRanging): SYSTEM__MODE_START 0x0087 = 0x40 / 0x00.
- Data ready (CheckForDataReady): GPIO__TIO_HV_STATUS 0x0031 bit 0 equals the interrupt polarity,
  which is GPIO_HV_MUX__CTRL 0x0030 bit 4 inverted.
- Result (GetRangeStatus, GetDistance): RESULT__RANGE_STATUS 0x0089 bits 4:0, mapped to UM2510's
  range status by RANGE_STATUS below; the distance in mm at
  RESULT__FINAL_CROSSTALK_CORRECTED_RANGE_MM_SD0 0x0096 (16 bits).
- Clear (ClearInterrupt): SYSTEM__INTERRUPT_CLEAR 0x0086 = 0x01 arms the next data-ready.

UM2510's range statuses: 0 valid, 1 sigma failure, 2 signal failure, 3 target below the minimum
range, 4 out of bounds (phase out of its valid limits), 5 hardware failure, 7 wrap-around (the
target may be farther than the mode's range). Every status but 0 is a failed read here.

Left out (and said in the README): the ultra-lite driver's SensorInit writes a 91-byte default
configuration to 0x2D..0x87 that ST publishes only as values in its C source, most bytes marked
"not user-modifiable" with no meaning given. It is not copied here: the driver relies on the chip's
own power-on values for those registers and writes only the documented settings above. Offset and
crosstalk calibration, the region of interest, distance thresholds and changing the I2C address
are not implemented either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from drivers.base import DeviceNotFound, Driver, DriverError, InvalidReading, Reading
from drivers.bus.i2c import (
    SMBusLike,
    check_address,
    missing_as_not_found,
    read_msg,
    write_msg,
    write_raw,
)

ADDRESSES = (0x29,)
MODEL_ID, MODEL_ID_VALUE = 0x010F, 0xEACC
FIRMWARE_SYSTEM_STATUS = 0x00E5
GPIO_HV_MUX_CTRL, GPIO_TIO_HV_STATUS = 0x0030, 0x0031
TIMEOUT_MACROP_A_HI, TIMEOUT_MACROP_B_HI = 0x005E, 0x0061
INTERMEASUREMENT_PERIOD, OSC_CALIBRATE_VAL = 0x006C, 0x00DE
INTERRUPT_CLEAR, MODE_START = 0x0086, 0x0087
RANGE_STATUS_REG, RANGE_MM = 0x0089, 0x0096
START_BACK_TO_BACK, STOP = 0x40, 0x00

#: SetDistanceMode: register -> bytes written, per mode
DISTANCE_MODES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "short": (
        (0x004B, b"\x14"),  # PHASECAL_CONFIG__TIMEOUT_MACROP
        (0x0060, b"\x07"),  # RANGE_CONFIG__VCSEL_PERIOD_A
        (0x0063, b"\x05"),  # RANGE_CONFIG__VCSEL_PERIOD_B
        (0x0069, b"\x38"),  # RANGE_CONFIG__VALID_PHASE_HIGH
        (0x0078, b"\x07\x05"),  # SD_CONFIG__WOI_SD0, _SD1
        (0x007A, b"\x06\x06"),  # SD_CONFIG__INITIAL_PHASE_SD0, _SD1
    ),
    "long": (
        (0x004B, b"\x0a"),
        (0x0060, b"\x0f"),
        (0x0063, b"\x0d"),
        (0x0069, b"\xb8"),
        (0x0078, b"\x0f\x0d"),
        (0x007A, b"\x0e\x0e"),
    ),
}

#: SetTimingBudgetInMs: (mode, ms) -> (TIMEOUT_MACROP_A_HI, TIMEOUT_MACROP_B_HI)
TIMING_BUDGETS: dict[tuple[str, int], tuple[int, int]] = {
    ("short", 15): (0x001D, 0x0027),
    ("short", 20): (0x0051, 0x006E),
    ("short", 33): (0x00D6, 0x006E),
    ("short", 50): (0x01AE, 0x01E8),
    ("short", 100): (0x02E1, 0x0388),
    ("short", 200): (0x03E1, 0x0496),
    ("short", 500): (0x0591, 0x05C1),
    ("long", 20): (0x001E, 0x0022),
    ("long", 33): (0x0060, 0x006E),
    ("long", 50): (0x00AD, 0x00C6),
    ("long", 100): (0x01CC, 0x01EA),
    ("long", 200): (0x02D9, 0x02F8),
    ("long", 500): (0x048F, 0x04A4),
}

#: RESULT__RANGE_STATUS bits 4:0 -> UM2510 range status (GetRangeStatus); absent: 255 (none)
RANGE_STATUS = {
    3: 5,
    4: 2,
    5: 4,
    6: 1,
    7: 7,
    8: 3,
    9: 0,
    12: 9,
    13: 13,
    18: 10,
    19: 6,
    22: 11,
    23: 12,
}
STATUS_NAMES = {
    1: "sigma failure (the estimate's standard deviation is over its limit)",
    2: "signal failure (too little light came back)",
    3: "target below the minimum range",
    4: "out of bounds (phase out of its valid limits: nothing in range)",
    5: "hardware failure",
    7: "wrap-around (the target may be beyond the mode's range)",
}
BOOT_POLL_S, BOOT_WAIT_S = 0.002, 0.1
READY_POLL_S = 0.005


def range_status(raw: int) -> int:
    """RESULT__RANGE_STATUS (bits 4:0) -> UM2510's range status; 255: not a result."""
    return RANGE_STATUS.get(raw & 0x1F, 255)


def check_range(raw_status: int, millimetres: int) -> float:
    """A result -> metres, or InvalidReading naming the range status."""
    status = range_status(raw_status)
    if status != 0:
        why = STATUS_NAMES.get(status, "not a valid range")
        raise InvalidReading(f"VL53L1X: range status {status}: {why}")
    return millimetres / 1000


def intermeasurement_value(period_ms: int, osc_calibrate: int) -> int:
    """SYSTEM__INTERMEASUREMENT_PERIOD for `period_ms`, from RESULT__OSC_CALIBRATE_VAL."""
    return int(period_ms * (osc_calibrate & 0x3FF) * 1.075)


class VL53L1X(Driver):
    quantities = (("distance", "m"),)

    def __init__(
        self,
        bus: SMBusLike,
        address: int = 0x29,
        *,
        distance_mode: str = "long",
        timing_budget: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if distance_mode not in DISTANCE_MODES:
            raise ValueError("VL53L1X: distance_mode must be 'short' or 'long'")
        if (distance_mode, timing_budget) not in TIMING_BUDGETS:
            budgets = sorted(ms for mode, ms in TIMING_BUDGETS if mode == distance_mode)
            raise ValueError(
                f"VL53L1X: timing_budget in {distance_mode} mode must be one of {budgets} ms"
            )
        self.bus, self.address = bus, check_address(address, ADDRESSES, "VL53L1X")
        self.distance_mode, self.timing_budget, self.sleep = distance_mode, timing_budget, sleep
        self.ranging = False
        self.ready_level = 1

    # -- 16-bit register access --
    def _write(self, register: int, data: bytes) -> None:
        write_raw(self.bus, self.address, [register >> 8, register & 0xFF, *data])

    def _read(self, register: int, length: int) -> bytes:
        msg = read_msg(self.address, length)
        self.bus.i2c_rdwr(write_msg(self.address, [register >> 8, register & 0xFF]), msg)
        return bytes(msg)

    def _read_int(self, register: int, length: int) -> int:
        return int.from_bytes(self._read(register, length), "big")

    def _write_all(self, writes: Sequence[tuple[int, bytes]]) -> None:
        for register, data in writes:
            self._write(register, data)

    def open(self) -> None:
        with missing_as_not_found(self.address, "VL53L1X"):
            model = self._read_int(MODEL_ID, 2)
        if model != MODEL_ID_VALUE:
            raise DeviceNotFound(f"VL53L1X: model id 0x{model:04X} is not 0xEACC")
        self._wait_booted()
        self._write(MODE_START, bytes([STOP]))  # it may still be ranging from before
        self._write_all(DISTANCE_MODES[self.distance_mode])
        a, b = TIMING_BUDGETS[self.distance_mode, self.timing_budget]
        self._write(TIMEOUT_MACROP_A_HI, a.to_bytes(2, "big"))
        self._write(TIMEOUT_MACROP_B_HI, b.to_bytes(2, "big"))
        period = intermeasurement_value(self.timing_budget, self._read_int(OSC_CALIBRATE_VAL, 2))
        self._write(INTERMEASUREMENT_PERIOD, period.to_bytes(4, "big"))
        # interrupt polarity: GPIO_HV_MUX__CTRL bit 4 = 1 is active low (data ready reads 0)
        self.ready_level = 0 if self._read_int(GPIO_HV_MUX_CTRL, 1) & 0x10 else 1
        self._write(INTERRUPT_CLEAR, b"\x01")
        self._write(MODE_START, bytes([START_BACK_TO_BACK]))
        self.ranging = True

    def _wait_booted(self) -> None:
        for _ in range(round(BOOT_WAIT_S / BOOT_POLL_S)):
            if self._read_int(FIRMWARE_SYSTEM_STATUS, 1) & 0x01:
                return
            self.sleep(BOOT_POLL_S)
        raise DriverError("VL53L1X: the firmware did not report booted within 100 ms")

    def close(self) -> None:
        if self.ranging:
            self._write(MODE_START, bytes([STOP]))
            self.ranging = False

    def _data_ready(self) -> bool:
        return self._read_int(GPIO_TIO_HV_STATUS, 1) & 0x01 == self.ready_level

    def read(self) -> list[Reading]:
        if not self.ranging:
            self.open()
        # a result waiting since the last read is stale: clear it and take the next one
        self._write(INTERRUPT_CLEAR, b"\x01")
        polls = round((3 * self.timing_budget / 1000 + 0.05) / READY_POLL_S)
        for _ in range(polls):
            if self._data_ready():
                break
            self.sleep(READY_POLL_S)
        else:
            raise DriverError(f"VL53L1X: no result within 3 timing budgets ({polls} polls)")
        raw_status = self._read_int(RANGE_STATUS_REG, 1)
        millimetres = self._read_int(RANGE_MM, 2)
        self._write(INTERRUPT_CLEAR, b"\x01")
        return [Reading("distance", check_range(raw_status, millimetres), "m")]
