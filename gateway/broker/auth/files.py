"""What the password, SCRAM credentials and ACL files share: errors that name the file and
line, and an atomic replace that keeps (or tightens) the file's permissions.

Durability: `atomic_write_text` (gateway.fileio, re-exported here) writes a temporary file in the
same directory, fsyncs it, renames it over the target and fsyncs the directory, so after kill -9 or
power loss the file is either the old or the new version, never a mix; a new file is 0600.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateway.errors import GatewayError
from gateway.fileio import atomic_write_text

__all__ = ["AuthFileError", "atomic_write_text", "numbered_lines", "parse_entries", "read_text"]

T = TypeVar("T")


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


def parse_entries(
    text: str,
    source: str | os.PathLike[str],
    parse_line: Callable[[str, str | os.PathLike[str], int], tuple[str, T]],
) -> dict[str, T]:
    """`user -> value` from a one-user-per-line file; a user listed twice is an error."""
    entries: dict[str, T] = {}
    for number, line in numbered_lines(text):
        username, value = parse_line(line, source, number)
        if username in entries:
            raise AuthFileError(source, number, f"user {username!r} appears twice")
        entries[username] = value
    return entries
