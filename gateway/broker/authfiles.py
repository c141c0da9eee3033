"""What the password, SCRAM credentials and ACL files share: errors that name the file and
line, and an atomic replace that keeps (or tightens) the file's permissions.

Durability: `atomic_write_text` writes a temporary file in the same directory, fsyncs it,
renames it over the target and fsyncs the directory, so after kill -9 or power loss the file
is either the old or the new version, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateway.mqtt.errors import GatewayError

T = TypeVar("T")

SECRET_FILE_MODE = 0o600


class AuthFileError(GatewayError, ValueError):
    """A password, credentials or ACL file could not be read; names the file and line."""

    def __init__(self, source: str | os.PathLike[str], line: int | None, reason: str) -> None:
        where = f"{source}:{line}" if line is not None else f"{source}"
        super().__init__(f"{where}: {reason}")
        self.source = str(source)
        self.line = line
        self.reason = reason


def read_text(path: str | os.PathLike[str]) -> str:
    """Read an auth file as UTF-8, turning I/O and decoding failures into AuthFileError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthFileError(path, None, "file does not exist") from None
    except UnicodeDecodeError as exc:
        raise AuthFileError(path, None, f"not valid UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise AuthFileError(path, None, f"cannot read: {exc.strerror}") from None


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) for every line that is neither blank nor a `#` comment."""
    result = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            result.append((number, line))
    return result


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` atomically; keep an existing file's mode and owner, else use 0600."""
    target = Path(path)
    mode, owner = _existing_mode_and_owner(target)
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
    _fsync_directory(target.parent)


def _existing_mode_and_owner(target: Path) -> tuple[int, tuple[int, int] | None]:
    try:
        st = target.stat()
    except FileNotFoundError:
        return SECRET_FILE_MODE, None
    return st.st_mode & 0o7777, (st.st_uid, st.st_gid)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_entries(text: str, source: str | os.PathLike[str],
                  parse_line: Callable[[str, str | os.PathLike[str], int], tuple[str, T]]
                  ) -> dict[str, T]:
    """`user -> value` from a one-user-per-line file; a user listed twice is an error."""
    entries: dict[str, T] = {}
    for number, line in numbered_lines(text):
        username, value = parse_line(line, source, number)
        if username in entries:
            raise AuthFileError(source, number, f"user {username!r} appears twice")
        entries[username] = value
    return entries
