"""Maxim DS18B20 temperature sensor through the Linux w1-therm sysfs file `w1_slave`.

Reading `<base>/<device_id>/w1_slave` makes the kernel run a conversion (up to 750 ms at 12-bit,
datasheet table 2) and returns two lines:

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

the 9 scratchpad bytes with the kernel's CRC verdict, then the temperature in m°C. We require
"YES", re-check the Dallas/Maxim CRC-8 ourselves (x^8+x^5+x^4+1, datasheet "CRC generation"),
and reject what the datasheet and the field say is not a measurement: the power-on reset value
+85 °C (temperature register 0x0550, datasheet table 4), an all-zero scratchpad (a shorted data
line passes the CRC), the -127 °C / 4095 °C error markers and anything outside -55..+125 °C.
"""

from __future__ import annotations

import errno
import os
import re

from drivers.base import ChecksumError, DeviceNotFound, Driver, InvalidReading, Reading

#: family codes with the DS18B20's scratchpad layout: 0x28 DS18B20, 0x22 DS1822, 0x42 DS28EA00.
#: (0x10 DS18S20 has a 9-bit register with COUNT_REMAIN and is not supported.)
DEVICE_ID = re.compile(r"^(28|22|42)-[0-9a-f]{12}$")
POWER_ON_RAW = 0x0550  # +85 °C
RANGE_MC = (-55000, 125000)  # -55..+125 °C (datasheet p.1)
LINE1 = re.compile(r"^((?:[0-9a-f]{2} ){9}): crc=([0-9a-f]{2}) (YES|NO)$")
LINE2 = re.compile(r"^((?:[0-9a-f]{2} ){9})t=(-?\d+)$")


def maxim_crc8(data: bytes) -> int:
    """Dallas/Maxim 1-Wire CRC-8: poly 0x31 reflected (0x8C), init 0, LSB first."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def parse_w1_slave(text: str) -> float:
    """The two-line w1_slave text -> °C, or ChecksumError / InvalidReading."""
    lines = text.strip().splitlines()
    if len(lines) != 2 or not (m1 := LINE1.match(lines[0])) or not (m2 := LINE2.match(lines[1])):
        raise InvalidReading(f"DS18B20: unexpected w1_slave contents {text!r}")
    scratchpad = bytes.fromhex(m1.group(1))
    if m1.group(3) != "YES":
        raise ChecksumError(f"DS18B20: kernel reports CRC failure ({lines[0]})")
    if maxim_crc8(scratchpad[:8]) != scratchpad[8]:
        raise ChecksumError(f"DS18B20: scratchpad CRC mismatch ({scratchpad.hex(' ')})")
    if not any(scratchpad):
        raise InvalidReading("DS18B20: all-zero scratchpad (data line shorted to ground?)")
    raw = int.from_bytes(scratchpad[:2], "little")
    if raw == POWER_ON_RAW:
        raise InvalidReading("DS18B20: 85 °C power-on value, no conversion happened")
    for millis in (int(m2.group(2)), temperature_millis(scratchpad)):
        if not RANGE_MC[0] <= millis <= RANGE_MC[1]:
            raise InvalidReading(f"DS18B20: {millis / 1000} °C is an error value / out of range")
    return temperature_millis(scratchpad) / 1000


def temperature_millis(scratchpad: bytes) -> float:
    """Exact temperature in m°C from the scratchpad (the kernel's t= truncates 62.5 to 62).

    The temperature register is two's complement in 1/16 °C; at 9/10/11-bit resolution (config
    byte bits 6:5) the lowest 3/2/1 bits are undefined and masked (datasheet "Configuration").
    """
    raw = int.from_bytes(scratchpad[:2], "little", signed=True)
    undefined = 3 - (scratchpad[4] >> 5 & 0b11)
    return (raw & ~((1 << undefined) - 1)) * 1000 / 16


class DS18B20(Driver):
    quantities = (("temperature", "°C"),)

    def __init__(self, device_id: str, base_path: str = "/sys/bus/w1/devices") -> None:
        if not DEVICE_ID.match(device_id):
            raise ValueError(
                f"DS18B20: device id {device_id!r} is not 28-/22-/42- + 12 hex "
                f"digits (DS18S20, family 10, is not supported)"
            )
        self.device_id = device_id
        self.path = os.path.join(base_path, device_id, "w1_slave")

    def _read_text(self) -> str:
        try:
            with open(self.path, encoding="ascii") as f:
                return f.read()
        except FileNotFoundError as exc:
            raise DeviceNotFound(
                errno.ENOENT,
                f"DS18B20 {self.device_id} not on the bus "
                f"({self.path} missing; is dtoverlay=w1-gpio set?)",
            ) from exc

    def open(self) -> None:
        if not os.path.exists(self.path):
            self._read_text()

    def read(self) -> list[Reading]:
        return [Reading("temperature", parse_w1_slave(self._read_text()), "°C")]
