"""What the page, the JSON API and /metrics show: read from the same in-process objects the `$SYS`
topics and systemd's STATUS= line come from (the broker core's counters, the store's figures, the
sensor and relay services, each bridge's metrics). Nothing here keeps state of its own except the
host facts, which are read from /sys and /run at the moment they are asked for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import __version__

if TYPE_CHECKING:
    from gateway.app import Gateway

THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
# The Raspberry Pi firmware driver's throttled flags (what `vcgencmd get_throttled` prints), bit 0:
# under-voltage now, 1: frequency capped now, 2: throttled now, 3: soft temperature limit now;
# bits 16-19: the same "has occurred since boot".
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")

THROTTLE_BITS = {
    0: "under-voltage",
    1: "frequency capped",
    2: "throttled",
    3: "soft temperature limit",
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def cpu_temperature() -> float | None:
    raw = _read(THERMAL)
    try:
        return None if raw is None else int(raw) / 1000
    except ValueError:
        return None


def throttling() -> dict[str, Any] | None:
    raw = _read(THROTTLED)
    if raw is None:
        return None
    try:
        flags = int(raw, 16)
    except ValueError:
        return None
    return {
        "raw": f"0x{flags:x}",
        "now": [name for bit, name in THROTTLE_BITS.items() if flags >> bit & 1],
        "since_boot": [name for bit, name in THROTTLE_BITS.items() if flags >> (bit + 16) & 1],
    }


def disk_free(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class GatewayState:
    """Snapshots of everything, as plain JSON-able dicts (times as ages in seconds)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.started = time.monotonic()

    def _service(self, type_name: str) -> Any:
        for service in self.gateway.services:
            if type(service).__name__ == type_name:
                return service
        return None

    def clock_synced(self) -> bool:
        """The gateway's own judgement (gateway.timesync: timesyncd, timedatectl or trusted), the
        one schedules wait for and relay commands with a time are checked against."""
        return self.gateway.clock_status.synchronized

    @property
    def sensors_service(self) -> Any:
        return self._service("SensorService")

    @property
    def relays_service(self) -> Any:
        return self._service("RelayService")

    def status(self) -> dict[str, Any]:
        gw = self.gateway
        config = gw.config
        stats = gw.broker.core.stats
        now = gw.broker.clock()
        sys_values = gw.broker.core.sys_values(now)
        return {
            "id": config.gateway.id,
            "version": __version__,
            "uptime": round(now - stats.started_at, 1),
            "time": time.time(),
            "clock_synced": self.clock_synced(),
            "cpu_temperature": cpu_temperature(),
            "throttling": throttling(),
            "disk_free": disk_free(Path(config.gateway.state_dir)),
            "store": {
                k.removeprefix("store/"): v for k, v in sys_values.items() if k.startswith("store/")
            }
            or None,
            "status_line": gw.status_line(),
        }

    def sensors(self) -> list[dict[str, Any]]:
        service = self.sensors_service
        return [] if service is None else service.snapshot()

    def relays(self) -> list[dict[str, Any]]:
        service = self.relays_service
        if service is None:
            return []
        now = time.time()
        out = service.snapshot()
        for item in out:
            last = item["last"]
            if last is not None:
                item["last"] = {**last, "age": round(now - last["at"], 1)}
        return out

    def bridges(self) -> list[dict[str, Any]]:
        now = self.gateway.broker.clock()
        return [
            {"name": service.name, **service.metrics(now)}
            for service in self.gateway.services
            if type(service).__name__ == "BridgeService"
        ]

    def broker(self) -> dict[str, Any]:
        core = self.gateway.broker.core
        admission = self.gateway.broker.admission
        values = {
            k: v
            for k, v in core.sys_values(self.gateway.broker.clock()).items()
            if not k.startswith("store/")
        }
        values["connections/open"] = admission.total
        values["connections/by listener"] = dict(admission.by_listener)
        return values

    def everything(self) -> dict[str, Any]:
        return {
            "status": self.status(),
            "sensors": self.sensors(),
            "relays": self.relays(),
            "bridges": self.bridges(),
            "broker": self.broker(),
        }
