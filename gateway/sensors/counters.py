"""Pulse counter totals that survive restarts (`persist = true`): one small JSON file,
``counters.json`` in the state directory::

    {"version": 1, "counters": {"water": 123456}}

Each value is a sensor's raw pulse count; its total is count × `factor`, so a corrected factor
applies to the whole history. To start a meter from zero again, delete its entry (gateway stopped).

When it is written (gateway.sensors.scheduler): after a successful read, when the count changed and
`persist_interval` seconds passed since the last save, and once more at a clean shutdown. Each save
replaces the file with gateway.fileio.atomic_write_text (temporary file, fsync, rename, directory
fsync), so the file is always a complete old or new version. What survives: everything after a
clean stop (SIGTERM); after kill -9 or a power cut, the count of the last save — the pulses of at
most `persist_interval` seconds are lost (the total resumes a little low, never high). The interval
bounds the SD card writes: one small file per interval, and none while nothing flows.

Entries of sensors that are no longer configured or persisted are kept, not dropped. A file that
cannot be parsed is moved aside to ``counters.json.corrupt`` and logged as an error; the counters
then start from 0 and the gateway starts anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.fileio import StateFile

FILE_NAME = "counters.json"
VERSION = 1


class CounterStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self._file = StateFile(
            self.path, VERSION, "counters", "pulse counter file", "counters start from 0"
        )

    def load(self) -> dict[str, int]:
        """Sensor name -> saved pulse count; {} when there is no file or it is corrupt."""
        return self._file.load(_decode_count)

    def save(self, counts: dict[str, int]) -> None:
        """Replace the saved counts atomically and durably (blocking: run it in a thread)."""
        self._file.save(dict(counts))


def _decode_count(name: str, count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"bad count for {name!r}: {count!r}")
    return count
