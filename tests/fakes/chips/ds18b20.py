"""A fake w1-therm sysfs tree: writes `<base>/<id>/w1_slave` as the kernel formats it.

The scratchpad is built per the DS18B20 datasheet (temperature LSB/MSB, TH, TL, config, 0xFF,
reserved, 0x10, CRC) with a CRC-8 computed here by a table-free shift register.
"""

from __future__ import annotations

from pathlib import Path

RESOLUTION_CONFIG = {9: 0x1F, 10: 0x3F, 11: 0x5F, 12: 0x7F}


def dallas_crc(data: bytes) -> int:
    crc = 0
    for bit in (byte >> i & 1 for byte in data for i in range(8)):
        feedback = (crc ^ bit) & 1
        crc = (crc >> 1) ^ (0x8C if feedback else 0)
    return crc


def scratchpad(raw: int, resolution: int = 12) -> bytes:
    body = (raw & 0xFFFF).to_bytes(2, "little") + bytes(
        [0x4B, 0x46, RESOLUTION_CONFIG[resolution], 0xFF, 0x0E, 0x10]
    )
    return body + bytes([dallas_crc(body)])


def w1_slave_text(pad: bytes, millis: int, verdict: str | None = None) -> str:
    hexes = " ".join(f"{b:02x}" for b in pad) + " "
    ok = verdict or ("YES" if dallas_crc(pad[:8]) == pad[8] else "NO")
    return f"{hexes}: crc={pad[8]:02x} {ok}\n{hexes}t={millis}\n"


class FakeW1Bus:
    def __init__(self, base: Path) -> None:
        self.base = base

    def set_temperature(self, device_id: str, celsius: float, resolution: int = 12) -> None:
        raw = round(celsius * 16)
        self.write(device_id, w1_slave_text(scratchpad(raw, resolution), raw * 1000 // 16))

    def write(self, device_id: str, text: str) -> None:
        folder = self.base / device_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "w1_slave").write_text(text, encoding="ascii")
