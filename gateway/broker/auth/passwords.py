"""Mosquitto password files (`password_file`), read and written in mosquitto_passwd's format.

One `username:hash` per line; Mosquitto 2.0 writes (src/password_mosq.c, security_default.c):

    $7$<iterations>$<base64 12-byte salt>$<base64 64-byte PBKDF2-HMAC-SHA512>   (default, 101)
    $6$<base64 12-byte salt>$<base64 64-byte SHA-512(password || salt)>         (1.6 and older)

How verification works: the stored digest is recomputed from the offered password and compared
with `hmac.compare_digest`. An unknown user is checked against a dummy hash of the default
kind, so the time taken does not reveal which users exist. Blank lines and `#` comments are
skipped on load and not written back on save. Unlike Mosquitto, which skips bad lines with a
log message, a malformed line is an error naming the file and line.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from gateway.broker.auth.files import (
    AuthFileError,
    atomic_write_text,
    parse_entries,
    read_text,
)

PBKDF2_ITERATIONS = 101  # mosquitto_passwd 2.0's default (PW_DEFAULT_ITERATIONS)
SALT_BYTES = 12  # Mosquitto refuses any other salt length
DIGEST_BYTES = 64  # SHA-512
MAX_ITERATIONS = 10_000_000  # a guard against a file that would stall every CONNECT


class HashScheme(enum.Enum):
    SHA512 = "6"
    PBKDF2_SHA512 = "7"


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """One stored password; `iterations` is 0 for the unsalted-iteration `$6$` scheme."""

    scheme: HashScheme
    salt: bytes
    digest: bytes
    iterations: int = 0

    @classmethod
    def create(
        cls, password: bytes, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None
    ) -> PasswordHash:
        """A new `$7$` hash with a random 12-byte salt."""
        salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        _check_iterations(iterations)
        digest = hashlib.pbkdf2_hmac("sha512", password, salt, iterations)
        return cls(HashScheme.PBKDF2_SHA512, salt, digest, iterations)

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Parse `$7$...` or `$6$...`; raises ValueError saying what is wrong."""
        parts = text.split("$")
        if len(parts) < 2 or parts[0] != "":
            raise ValueError("password hash must start with '$6$' or '$7$'")
        if parts[1] == HashScheme.PBKDF2_SHA512.value and len(parts) == 5:
            iterations = _parse_iterations(parts[2])
            return cls(HashScheme.PBKDF2_SHA512, _salt(parts[3]), _digest(parts[4]), iterations)
        if parts[1] == HashScheme.SHA512.value and len(parts) == 4:
            return cls(HashScheme.SHA512, _salt(parts[2]), _digest(parts[3]))
        if parts[1] in ("6", "7"):
            raise ValueError(f"wrong number of '$' fields for a ${parts[1]}$ hash")
        raise ValueError(f"unknown hash type '${parts[1]}$' (expected $6$ or $7$)")

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        if self.scheme is HashScheme.SHA512:
            return f"$6${salt}${digest}"
        return f"$7${self.iterations}${salt}${digest}"

    def compute(self, password: bytes) -> bytes:
        if self.scheme is HashScheme.SHA512:
            return hashlib.sha512(password + self.salt).digest()
        return hashlib.pbkdf2_hmac("sha512", password, self.salt, self.iterations)

    def matches(self, password: bytes) -> bool:
        return hmac.compare_digest(self.compute(password), self.digest)


def _check_iterations(iterations: int) -> None:
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between 1 and {MAX_ITERATIONS}, not {iterations}")


def _parse_iterations(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"iteration count {text!r} is not a positive integer")
    iterations = int(text)
    _check_iterations(iterations)
    return iterations


def _b64(text: str, what: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes, not {len(raw)}")
    return raw


def _salt(text: str) -> bytes:
    return _b64(text, "salt", SALT_BYTES)


def _digest(text: str) -> bytes:
    return _b64(text, "hash", DIGEST_BYTES)


def check_username(username: str) -> None:
    """Usernames must survive the `user:hash` line format unchanged."""
    if not username:
        raise ValueError("username must not be empty")
    if ":" in username:
        raise ValueError(f"username {username!r} must not contain ':'")
    if username != username.strip() or any(ord(c) < 0x20 or c == "\x7f" for c in username):
        raise ValueError(
            f"username {username!r} must not contain control characters or surrounding blanks"
        )


class PasswordFile:
    """The users and password hashes of one Mosquitto password file."""

    def __init__(self, entries: dict[str, PasswordHash] | None = None) -> None:
        self._entries: dict[str, PasswordHash] = dict(entries or {})
        self._dummy = PasswordHash.create(secrets.token_bytes(16))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PasswordFile:
        return cls.parse(read_text(path), source=path)

    @classmethod
    def parse(cls, text: str, source: str | os.PathLike[str] = "<string>") -> PasswordFile:
        return cls(parse_entries(text, source, _parse_line))

    @property
    def usernames(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, username: str) -> PasswordHash | None:
        return self._entries.get(username)

    def verify(self, username: str, password: bytes) -> bool:
        """True when `password` is this user's; unknown users cost the same time as known ones."""
        stored = self._entries.get(username)
        if stored is None:
            self._dummy.matches(password)
            return False
        return stored.matches(password)

    def set(
        self, username: str, password: bytes | str, *, iterations: int = PBKDF2_ITERATIONS
    ) -> None:
        """Add the user or replace their password with a new `$7$` hash."""
        check_username(username)
        if isinstance(password, str):
            password = password.encode("utf-8")
        self._entries[username] = PasswordHash.create(password, iterations=iterations)

    def delete(self, username: str) -> None:
        """Remove the user; KeyError if there is no such user."""
        if username not in self._entries:
            raise KeyError(f"no user {username!r} in the password file")
        del self._entries[username]

    def dumps(self) -> str:
        return "".join(f"{user}:{hashed.encode()}\n" for user, hashed in self._entries.items())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic replace; an existing file keeps its mode and owner, a new one is 0600."""
        atomic_write_text(path, self.dumps())


def _parse_line(line: str, source: str | os.PathLike[str], number: int) -> tuple[str, PasswordHash]:
    username, sep, hashed = line.partition(":")
    username = username.strip()
    if not sep or not username:
        raise AuthFileError(source, number, "expected 'username:hash'")
    try:
        return username, PasswordHash.parse(hashed.strip())
    except ValueError as exc:
        raise AuthFileError(source, number, f"user {username!r}: {exc}") from None
