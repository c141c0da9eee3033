"""A fake of the kernel dht11 IIO driver's sysfs: iio:deviceN directories with `name`,
`in_temp_input` and `in_humidityrelative_input` in milli-units, and a `read_file` that fails
the way the driver does (EIO on a checksum or timing error, ETIMEDOUT when the sensor is silent)."""

from __future__ import annotations

import os
from pathlib import Path


class FakeIIO:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.fail: dict[str, int] = {}  # device -> errno for its next reads
        self.reads = 0

    def add(
        self, index: int, name: str = "dht11@4", celsius: float = 21.3, rh: float = 48.2
    ) -> str:
        device = f"iio:device{index}"
        path = self.base / device
        path.mkdir(parents=True)
        (path / "name").write_text(name + "\n")
        self.set(device, celsius, rh)
        return device

    def set(self, device: str, celsius: float, rh: float) -> None:
        path = self.base / device
        (path / "in_temp_input").write_text(f"{round(celsius * 1000)}\n")
        (path / "in_humidityrelative_input").write_text(f"{round(rh * 1000)}\n")

    def read_file(self, path: str) -> str:
        device = Path(path).parent.name
        if device in self.fail and not path.endswith("name"):
            code = self.fail[device]
            raise OSError(code, os.strerror(code))
        self.reads += 1
        return Path(path).read_text()
