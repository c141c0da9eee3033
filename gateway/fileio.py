"""Small files that must survive kill -9 and power loss: one atomic, durable replace.

How it works: `atomic_write_text` writes a temporary file in the target's directory, fsyncs it,
renames it over the target and fsyncs the directory (the rename itself is only durable once the
directory is). After it returns, the new content survives kill -9 and power loss; at any moment
the file is either the old or the new version, never a mix. An existing file's mode and owner are
kept; a new file gets `new_mode`. Used by the broker's password / SCRAM files and by the state
files in the state directory (relay states, pulse counter totals), which move a file they cannot
parse aside with `quarantine()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

SECRET_FILE_MODE = 0o600


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, new_mode: int = SECRET_FILE_MODE
) -> None:
    """Replace `path` atomically and durably; keep an existing file's mode and owner."""
    target = Path(path)
    mode, owner = _existing_mode_and_owner(target, new_mode)
    import tempfile  # here: it loads shutil, random, bz2 and lzma, which only this needs

    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            os.fchmod(tmp.fileno(), mode)
            if owner is not None:
                with contextlib.suppress(PermissionError):
                    os.fchown(tmp.fileno(), *owner)
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(target.parent)


class StateFile:
    """A small JSON file in the state directory, ``{"version": N, "<key>": {name: entry}}``:
    `save` replaces it atomically and durably; `load` gives {} when it is missing, and when it
    cannot be read (bad JSON, another version, an entry `decode` refuses with ValueError) moves it
    aside with `quarantine()` and logs at ERROR what the owner starts without."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        version: int,
        key: str,
        what: str,
        consequence: str,
        mode: int = 0o644,
    ) -> None:
        self.path = Path(path)
        self.version, self.key, self.what, self.consequence = version, key, what, consequence
        self.mode = mode

    def load(self, decode: Callable[[str, object], T]) -> dict[str, T]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != self.version:
                raise ValueError(f"not a version {self.version} {self.what}")
            return {name: decode(name, entry) for name, entry in data[self.key].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            target = quarantine(self.path)
            log.error(
                "%s %s is unreadable (%s); moved to %s, %s",
                self.what,
                self.path,
                exc,
                target,
                self.consequence,
            )
            return {}

    def save(self, entries: dict[str, object]) -> None:
        """Blocking (fsyncs): run it in a thread from the event loop."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": self.version, self.key: dict(sorted(entries.items()))}
        atomic_write_text(self.path, json.dumps(data, indent=1), new_mode=self.mode)


def quarantine(path: str | os.PathLike[str]) -> Path:
    """Move an unreadable state file aside to `<name>.corrupt` (kept for a post-mortem, replacing
    an older one) and return where it went."""
    source = Path(path)
    target = source.with_name(source.name + ".corrupt")
    os.replace(source, target)
    return target


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing_mode_and_owner(target: Path, new_mode: int) -> tuple[int, tuple[int, int] | None]:
    try:
        st = target.stat()
    except FileNotFoundError:
        return new_mode, None
    return st.st_mode & 0o7777, (st.st_uid, st.st_gid)
