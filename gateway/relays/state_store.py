"""The last state of every output on disk, for `power_on = "restore"`.

One small JSON file, ``relays.json`` in the state directory::

    {"version": 1, "outputs": {"pump": {"level": 1.0, "timed": false}}}

Durability: `save()` replaces the file with gateway.fileio.atomic_write_text (a temporary file in
the same directory, fsynced, renamed over the old one, the directory fsynced), so after `save()`
returns the new state survives kill -9 and power loss, and at any moment the file is either the old
or the new version, never a mix.
`timed` marks a state reached by a timed on ("for"): its timer cannot survive a restart, so such a
state restores as off.

A file that cannot be read or parsed is moved aside to ``relays.json.corrupt`` and logged as an
error; every output then starts as if nothing was stored (i.e. off), and the gateway starts anyway.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.fileio import StateFile

FILE_NAME = "relays.json"
VERSION = 1
STATE_FILE_MODE = 0o644  # nothing secret in it


@dataclass(frozen=True, slots=True)
class StoredState:
    level: float
    timed: bool = False

    @property
    def restore_level(self) -> float:
        return 0.0 if self.timed else self.level


class StateStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self._file = StateFile(
            self.path,
            VERSION,
            "outputs",
            "relay state file",
            "outputs start without restored state",
            STATE_FILE_MODE,
        )

    def load(self) -> dict[str, StoredState]:
        """The stored states; {} when there is no file or it is corrupt (then quarantined)."""
        return self._file.load(_decode_state)

    def save(self, states: dict[str, StoredState]) -> None:
        """Replace the stored states atomically and durably (see the module docstring)."""
        self._file.save({n: {"level": s.level, "timed": s.timed} for n, s in states.items()})


def _decode_state(name: str, entry: object) -> StoredState:
    if not isinstance(entry, dict):
        raise ValueError(f"bad stored state for {name!r}: {entry!r}")
    level, timed = entry["level"], entry.get("timed", False)
    if (
        isinstance(level, bool)
        or not isinstance(level, int | float)
        or not 0 <= level <= 1
        or not math.isfinite(level)
        or not isinstance(timed, bool)
    ):
        raise ValueError(f"bad stored state for {name!r}: {entry!r}")
    return StoredState(float(level), timed)
