"""What `check-config` checks beyond the schema, and what `run` checks before it starts anything.

The schema (gateway.config) says whether each key is allowed; this package says whether the config
can run here: every file it names loads the way the gateway will load it (gateway.preflight.files),
no GPIO pin is claimed twice (gateway.preflight.pins), and the driver constructors accept their
options. Warnings are what is allowed but probably wrong: a bridge mapping that matches nothing
the gateway publishes (gateway.preflight.topics), a `min_free_bytes` larger than the disk.

Both commands run the same `check()` and print its lines as `FILE: key: problem`, so a config that
`check-config` passes starts, and one that `run` refuses is refused with the same line and no
traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.preflight.files import FileCheck, file_findings
from gateway.preflight.pins import pin_problems
from gateway.preflight.topics import mapping_warnings

__all__ = ["Findings", "check"]  # the rest are the steps of check(), public for its tests

EMPTY_CONFIG = (
    "the file sets nothing; an empty config is refused so that a wrong path or a "
    "truncated file does not start a gateway on every default (state in "
    "/var/lib/edge-gateway, a broker on 127.0.0.1:1883): set at least [gateway] "
    "state_dir (config/gateway.toml documents every key)"
)


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(config: GatewayConfig, *, root: Path | None = None, drivers: bool = True) -> Findings:
    """Every problem that would stop `run`, and every warning, as `key: problem` lines. `root`
    resolves the absolute paths the config names under another root file system (an image)."""
    found = Findings()
    if not config.model_fields_set:  # no table and no key at all
        found.errors.append(EMPTY_CONFIG)
        return found
    files = file_findings(config, FileCheck(root))
    found.errors += files.errors
    found.errors += pin_problems(config)
    found.errors += port_problems(config)
    found.errors += state_dir_problems(config, root)
    if drivers:
        found.errors += driver_problems(config)
    found.warnings += config.warnings()
    found.warnings += files.warnings
    found.warnings += mapping_warnings(config)
    found.warnings += disk_warnings(config, root)
    return found


def driver_problems(config: GatewayConfig) -> list[str]:
    """What only building the drivers finds (a serial URL scheme, an option a driver refuses, a
    chip address, a missing library), as `sensors[name]: problem` lines, and the rules' sensors,
    relays and quantities that do not exist. No device is opened: buses and ports are created
    closed, expander chips are not probed, no GPIO pin is claimed."""
    from gateway.automation.config import quantity_problems
    from gateway.relays.hardware import setup_problems as relay_problems
    from gateway.sensors.registry import setup_problems as sensor_problems

    quantities: dict = {}
    return (
        [
            f"sensors[{e.sensor}]: {e.problem}"
            for e in sensor_problems(config.sensors, quantities=quantities)
        ]
        + [f"relays[{e.relay}]: {e.problem}" for e in relay_problems(config.relays)]
        + quantity_problems(config.rules, quantities)
    )


def port_problems(config: GatewayConfig) -> list[str]:
    """Two listeners of the config on one TCP port of one address (0.0.0.0 and :: take the port
    on every address): the second could never bind."""
    wildcard = ("0.0.0.0", "::", "")  # noqa: S104 - compared with, never bound
    taken: list[tuple[str, str, int]] = []  # (key, host, port)
    out = []
    ports = [
        (f"broker.listeners[{lis.name}]", lis.host, lis.port)
        for lis in config.broker.listeners
        if lis.unix_path is None and lis.port != 0
    ]
    if config.web.enabled and config.web.port != 0:
        ports.append(("web", config.web.host, config.web.port))
    for key, host, port in ports:
        clash = next(
            (
                k
                for k, h, p in taken
                if p == port and (h == host or h in wildcard or host in wildcard)
            ),
            None,
        )
        if clash is not None:
            out.append(f"{key}: port {port} on {host} is also {clash}'s")
        taken.append((key, host, port))
    return out


def state_dir_problems(config: GatewayConfig, root: Path | None = None) -> list[str]:
    """A state_dir (or store path) under a file: it can never be made."""
    paths = [("gateway.state_dir", Path(config.gateway.state_dir))]
    if config.store.enabled and config.store.path is not None:
        paths.append(("store.path", Path(config.store.path).parent))
    out = []
    for key, path in paths:
        where = _existing_ancestor(FileCheck(root).resolve(path))
        if not where.is_dir():
            out.append(f"{key}: {path} cannot be made: {where} is a file")
    return out


def disk_warnings(config: GatewayConfig, root: Path | None = None) -> list[str]:
    """`store.min_free_bytes` larger than the whole file system the store is on: every queued
    QoS 1/2 message would be refused from the first one."""
    store = config.store
    if not store.enabled or store.min_free_bytes == 0:
        return []
    path = store.path or Path(config.gateway.state_dir) / "broker.db"
    where = _existing_ancestor(FileCheck(root).resolve(path))
    try:
        stat = os.statvfs(where)
    except OSError:
        return []
    size = stat.f_blocks * stat.f_frsize
    if store.min_free_bytes < size:
        return []
    return [
        f"store.min_free_bytes: {store.min_free_bytes} ({_mib(store.min_free_bytes)}) is not "
        f"less than the whole file system holding {path} ({_mib(size)} at {where}): the store "
        "would refuse every queued QoS 1/2 message as 'full'"
    ]


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB" if size % 1048576 else f"{size // 1048576} MiB"
