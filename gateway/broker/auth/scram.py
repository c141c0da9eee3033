"""SCRAM-SHA-256 (RFC 5802, RFC 7677) for MQTT 5.0 enhanced authentication (spec 4.12).

Sans-IO: `ScramServer` takes the bytes of the Authentication Data property and returns the
bytes to send back. The exchange on the wire, with Authentication Method "SCRAM-SHA-256":

    CONNECT  auth data = client-first   ->  server.start(data)   -> AUTH 0x18, data = server-first
    AUTH 0x18 auth data = client-final  ->  server.finish(data)  -> CONNACK 0x00, data = server-final
    any AuthenticationFailed                                      -> CONNACK exc.reason_code (0x87)

Re-authentication (AUTH 0x19) runs the same exchange with a fresh `ScramServer`.

The server never sees the password: it keeps `StoredCredentials` (salt, iterations,
StoredKey = H(ClientKey), ServerKey), RFC 5802 section 3. An unknown user gets a made-up salt
that is stable per username (section 5.1) and fails only at `finish`, so the exchange does not
reveal who exists. Not done: channel binding (SCRAM-SHA-256-PLUS; a client asking for it with
"p=" is refused), authorization identities other than the username, and SASLprep (RFC 4013):
passwords are used as their UTF-8 bytes, so a non-ASCII password must be typed in the same
Unicode normal form on both sides.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from gateway.broker.auth.enhanced import AuthenticationFailed
from gateway.broker.auth.files import (
    AuthFileError,
    atomic_write_text,
    parse_entries,
    read_text,
)
from gateway.broker.auth.passwords import check_username
from gateway.mqtt.enums import ReasonCode

METHOD = "SCRAM-SHA-256"  # the MQTT Authentication Method (RFC 7677 section 3 mechanism name)
DEFAULT_ITERATIONS = 4096  # RFC 7677 section 4: at least 4096
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 16
KEY_BYTES = 32  # SHA-256 output
_MOCK_SECRET = secrets.token_bytes(32)  # per process: unknown users get stable made-up salts


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed(f"{what} is not valid base64") from None


def _check_iterations(iterations: int) -> None:
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between 1 and {MAX_ITERATIONS}, not {iterations}")


def _password_bytes(password: bytes | str) -> bytes:
    return password.encode("utf-8") if isinstance(password, str) else password


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """What the server keeps per user (RFC 5802 section 3); the password cannot be recovered."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(
        cls,
        password: bytes | str,
        *,
        iterations: int = DEFAULT_ITERATIONS,
        salt: bytes | None = None,
    ) -> StoredCredentials:
        _check_iterations(iterations)
        salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
        salted = hashlib.pbkdf2_hmac("sha256", _password_bytes(password), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(salt, iterations, _h(client_key), _hmac(salted, b"Server Key"))


def _mock_credentials(username: str, secret: bytes) -> StoredCredentials:
    seed = _hmac(secret, username.encode("utf-8"))
    return StoredCredentials(
        seed[:SALT_BYTES], DEFAULT_ITERATIONS, _h(seed), _hmac(seed, b"Server Key")
    )


def default_nonce() -> str:
    """24 printable characters without ',' (RFC 5802 section 7, "nonce")."""
    return secrets.token_urlsafe(18)


def _check_nonce(nonce: str) -> None:
    if not nonce or any(not 0x21 <= ord(c) <= 0x7E or c == "," for c in nonce):
        raise AuthenticationFailed("nonce must be printable ASCII without ','")


def escape_saslname(username: str) -> str:
    return username.replace("=", "=3D").replace(",", "=2C")  # RFC 5802 section 5.1


def unescape_saslname(name: str) -> str:
    parts = name.split("=")
    out = [parts[0]]
    for part in parts[1:]:
        if part[:2] == "2C":
            out.append("," + part[2:])
        elif part[:2] == "3D":
            out.append("=" + part[2:])
        else:
            raise AuthenticationFailed("username contains '=' not followed by 2C or 3D")
    return "".join(out)


def _decode(message: bytes) -> str:
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthenticationFailed("SCRAM message is not valid UTF-8") from None


def _attributes(text: str, expected: str) -> list[str]:
    """Split "a=1,b=2,..." and check the leading attribute names are `expected`, in order."""
    fields = text.split(",")
    if len(fields) < len(expected):
        raise AuthenticationFailed(f"SCRAM message {text!r} has too few attributes")
    for field, name in zip(fields, expected, strict=False):  # extensions may follow
        if not field.startswith(name + "="):
            raise AuthenticationFailed(f"expected attribute '{name}=' but got {field[:2]!r}")
    return [field[2:] for field in fields[: len(expected)]]


@dataclass(frozen=True, slots=True)
class ClientFirst:
    gs2_header: str
    bare: str
    username: str
    nonce: str

    @classmethod
    def parse(cls, message: bytes) -> ClientFirst:
        text = _decode(message)
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise AuthenticationFailed("client-first-message needs a GS2 header")
        flag, authzid, bare = parts
        if flag.startswith("p="):
            raise AuthenticationFailed("channel binding is not supported (use SCRAM-SHA-256)")
        if flag not in ("n", "y"):
            raise AuthenticationFailed(f"invalid GS2 channel binding flag {flag!r}")
        if bare.startswith("m="):
            raise AuthenticationFailed("mandatory SCRAM extensions are not supported")
        raw_name, nonce = _attributes(bare, "nr")
        username = unescape_saslname(raw_name)
        if authzid not in ("", "a=" + raw_name):
            raise AuthenticationFailed(
                "an authorization identity other than the username is not supported"
            )
        _check_nonce(nonce)
        return cls(f"{flag},{authzid},", bare, username, nonce)


class _State(enum.Enum):
    INITIAL = enum.auto()
    AWAITING_FINAL = enum.auto()
    SUCCEEDED = enum.auto()
    FAILED = enum.auto()


class ScramServer:
    """One SCRAM-SHA-256 exchange, server side: `start` then `finish`, each at most once."""

    def __init__(
        self,
        lookup: Callable[[str], StoredCredentials | None],
        nonce_factory: Callable[[], str] = default_nonce,
        *,
        mock_secret: bytes = _MOCK_SECRET,
    ) -> None:
        self._lookup = lookup
        self._nonce_factory = nonce_factory
        self._mock_secret = mock_secret
        self._state = _State.INITIAL
        self._username: str | None = None

    @property
    def username(self) -> str | None:
        """The authenticated username once `finish` has succeeded, else None."""
        return self._username if self._state is _State.SUCCEEDED else None

    def start(self, client_first: bytes) -> bytes:
        """client-first-message -> server-first-message (RFC 5802 section 5.1)."""
        self._expect(_State.INITIAL, "start")
        try:
            return self._start(client_first)
        except AuthenticationFailed:
            self._state = _State.FAILED
            raise

    def finish(self, client_final: bytes) -> bytes:
        """client-final-message -> server-final-message, or AuthenticationFailed."""
        self._expect(_State.AWAITING_FINAL, "finish")
        self._state = _State.FAILED
        server_final = self._finish(client_final)
        self._state = _State.SUCCEEDED
        return server_final

    def _expect(self, state: _State, step: str) -> None:
        if self._state is not state:
            self._state = _State.FAILED
            raise AuthenticationFailed(
                f"SCRAM {step}() called out of order", ReasonCode.PROTOCOL_ERROR
            )

    def _start(self, client_first: bytes) -> bytes:
        first = ClientFirst.parse(client_first)
        credentials = self._lookup(first.username)
        self._known = credentials is not None
        self._credentials = credentials or _mock_credentials(first.username, self._mock_secret)
        server_nonce = self._nonce_factory()
        _check_nonce(server_nonce)
        self._first = first
        self._nonce = first.nonce + server_nonce
        salt, iterations = _b64(self._credentials.salt), self._credentials.iterations
        self._server_first = f"r={self._nonce},s={salt},i={iterations}"
        self._state = _State.AWAITING_FINAL
        return self._server_first.encode("ascii")

    def _finish(self, client_final: bytes) -> bytes:
        text = _decode(client_final)
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise AuthenticationFailed("client-final-message has no proof")
        channel_binding, nonce = _attributes(without_proof, "cr")
        if channel_binding != _b64(self._first.gs2_header.encode("utf-8")):
            raise AuthenticationFailed("channel binding data does not match the GS2 header")
        if not hmac.compare_digest(nonce.encode("utf-8"), self._nonce.encode("utf-8")):
            raise AuthenticationFailed("nonce does not match the server's")
        auth_message = f"{self._first.bare},{self._server_first},{without_proof}".encode()
        self._check_proof(_unb64(proof_b64, "proof"), auth_message)
        self._username = self._first.username
        return f"v={_b64(_hmac(self._credentials.server_key, auth_message))}".encode("ascii")

    def _check_proof(self, proof: bytes, auth_message: bytes) -> None:
        if len(proof) != KEY_BYTES:
            raise AuthenticationFailed(f"proof must be {KEY_BYTES} bytes")
        client_key = _xor(proof, _hmac(self._credentials.stored_key, auth_message))
        valid = hmac.compare_digest(_h(client_key), self._credentials.stored_key)
        if not (valid and self._known):
            raise AuthenticationFailed(f"wrong password or unknown user {self._first.username!r}")


class ScramClient:
    """The client side, for tests and the `edge-gateway pub/sub` tools: first, final, verify."""

    def __init__(
        self,
        username: str,
        password: bytes | str,
        *,
        nonce: str | None = None,
        min_iterations: int = DEFAULT_ITERATIONS,
    ) -> None:
        self._username = username
        self._password = _password_bytes(password)
        self._nonce = default_nonce() if nonce is None else nonce
        _check_nonce(self._nonce)
        self._min_iterations = min_iterations
        self._bare = f"n={escape_saslname(username)},r={self._nonce}"
        self._expected_signature: bytes | None = None

    def first(self) -> bytes:
        return f"n,,{self._bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = _decode(server_first)
        if text.startswith("m="):
            raise AuthenticationFailed("server asked for a mandatory extension")
        nonce, salt_b64, iterations_text = _attributes(text, "rsi")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise AuthenticationFailed("server nonce does not extend the client nonce")
        iterations = self._iterations(iterations_text)
        salted = hashlib.pbkdf2_hmac("sha256", self._password, _unb64(salt_b64, "salt"), iterations)
        without_proof = f"c={_b64(b'n,,')},r={nonce}"
        auth_message = f"{self._bare},{text},{without_proof}".encode()
        client_key = _hmac(salted, b"Client Key")
        proof = _xor(client_key, _hmac(_h(client_key), auth_message))
        self._expected_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}".encode("ascii")

    def _iterations(self, text: str) -> int:
        if not text.isdigit() or not self._min_iterations <= int(text) <= MAX_ITERATIONS:
            allowed = f"{self._min_iterations}..{MAX_ITERATIONS}"
            raise AuthenticationFailed(f"server iteration count {text!r} is outside {allowed}")
        return int(text)

    def verify(self, server_final: bytes) -> None:
        """Check the server's signature: proof that the server knows the credentials."""
        if self._expected_signature is None:
            raise AuthenticationFailed("verify() called before final()", ReasonCode.PROTOCOL_ERROR)
        text = _decode(server_final)
        if text.startswith("e="):
            raise AuthenticationFailed(f"server refused: {text[2:]}")
        (signature_b64,) = _attributes(text, "v")
        if not hmac.compare_digest(
            _unb64(signature_b64, "server signature"), self._expected_signature
        ):
            raise AuthenticationFailed(
                "server signature is wrong: the server does not know the credentials"
            )


class ScramCredentialsFile:
    """`user:iterations:salt_b64:storedkey_b64:serverkey_b64` per line; `#` comments skipped."""

    def __init__(self, entries: dict[str, StoredCredentials] | None = None) -> None:
        self._entries: dict[str, StoredCredentials] = dict(entries or {})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ScramCredentialsFile:
        return cls.parse(read_text(path), source=path)

    @classmethod
    def parse(cls, text: str, source: str | os.PathLike[str] = "<string>") -> ScramCredentialsFile:
        return cls(parse_entries(text, source, _parse_credentials_line))

    @property
    def usernames(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    def lookup(self, username: str) -> StoredCredentials | None:
        """Pass as `ScramServer(lookup=file.lookup)`."""
        return self._entries.get(username)

    def set(
        self, username: str, password: bytes | str, *, iterations: int = DEFAULT_ITERATIONS
    ) -> None:
        check_username(username)
        self._entries[username] = StoredCredentials.from_password(password, iterations=iterations)

    def delete(self, username: str) -> None:
        if username not in self._entries:
            raise KeyError(f"no user {username!r} in the SCRAM credentials file")
        del self._entries[username]

    def dumps(self) -> str:
        return "".join(
            f"{user}:{c.iterations}:{_b64(c.salt)}:{_b64(c.stored_key)}:{_b64(c.server_key)}\n"
            for user, c in self._entries.items()
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic replace; an existing file keeps its mode and owner, a new one is 0600."""
        atomic_write_text(path, self.dumps())


def _parse_credentials_line(
    line: str, source: str | os.PathLike[str], number: int
) -> tuple[str, StoredCredentials]:
    fields = line.split(":")
    if len(fields) != 5 or not fields[0]:
        raise AuthFileError(source, number, "expected 'user:iterations:salt:storedkey:serverkey'")
    username, iterations, salt, stored_key, server_key = fields
    try:
        if not iterations.isdigit():
            raise ValueError(f"iteration count {iterations!r} is not a positive integer")
        _check_iterations(int(iterations))
        keys = [_b64_field(stored_key, "stored key"), _b64_field(server_key, "server key")]
        return username, StoredCredentials(_b64_field(salt, "salt", None), int(iterations), *keys)
    except ValueError as exc:
        raise AuthFileError(source, number, f"user {username!r}: {exc}") from None


def _b64_field(text: str, what: str, length: int | None = KEY_BYTES) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    if length is not None and len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes, not {len(raw)}")
    if not raw:
        raise ValueError(f"{what} must not be empty")
    return raw
