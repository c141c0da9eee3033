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
import os
import tempfile
from pathlib import Path

SECRET_FILE_MODE = 0o600


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      new_mode: int = SECRET_FILE_MODE) -> None:
    """Replace `path` atomically and durably; keep an existing file's mode and owner."""
    target = Path(path)
    mode, owner = _existing_mode_and_owner(target, new_mode)
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
