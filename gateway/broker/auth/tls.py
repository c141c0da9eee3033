"""TLS contexts for listeners, the sans-IO TLS layer of a TLS listener's connections, and the
identity a client certificate carries."""

from __future__ import annotations

import contextlib
import os
from typing import Any

try:
    import ssl
except ImportError:  # `edge-gateway run` without any TLS keeps ssl out (gateway.cli): nothing here
    ssl = None  # type: ignore[assignment]  # is called then, and no SSLError can be raised
    SSLError: Any = ()  # `except SSLError` matches nothing
else:
    SSLError = ssl.SSLError


def server_context(
    certfile: str,
    keyfile: str,
    cafile: str | None = None,
    *,
    require_certificate: bool = False,
    min_version: str = "1.2",
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, client certificates checked against `cafile`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # a client may not make the server redo a TLS 1.2 handshake (each costs the Pi a signature)
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    _named(context.load_cert_chain, certfile, keyfile)
    if ciphers:
        context.set_ciphers(ciphers)
    if cafile:
        _named(context.load_verify_locations, cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_certificate else ssl.CERT_OPTIONAL
    return context


def _named(load, *paths: str) -> None:  # noqa: ANN001
    """Call an ssl loader; a missing file is reported by name (ssl's own error names none)."""
    try:
        load(*paths)
    except FileNotFoundError as exc:
        missing = next((path for path in paths if not os.path.exists(path)), paths[0])
        raise FileNotFoundError(exc.errno, "TLS file missing", missing) from exc


def certificate_identity(peercert: dict[str, Any] | None, source: str) -> str | None:
    """The username a verified client certificate stands for: its subject CN, or its first
    DNS / email subject-alternative name (`source` = "cn" or "san")."""
    if not peercert:
        return None
    if source == "cn":
        for rdn in peercert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None
    for kind, value in peercert.get("subjectAltName", ()):
        if kind in ("DNS", "email", "URI"):
            return value
    return None


# Plaintext and ciphertext move through the memory BIOs at most this much at a time. OpenSSL's
# memory BIO keeps the largest size it was ever asked to hold, so feeding it one TLS record's
# worth (16 KiB of plaintext, RFC 8446 section 5.1) at a time bounds what an idle connection keeps
# after a burst, instead of keeping a copy as large as the largest write or read ever made.
SLICE = 16 * 1024


class ServerTls:
    """TLS for one accepted connection, sans-IO: ciphertext in, plaintext out and back.

    How this works: the glue feeds the bytes read from the socket to `receive_data()`, which runs
    the handshake until it is `established` and returns the plaintext of complete records; it
    writes `data_to_send()` (handshake messages, encrypted output, close_notify) to the socket.
    `encrypt()` turns the broker's output into records. Failures raise `ssl.SSLError`. Doing this
    ourselves (rather than asyncio's `ssl=` / `start_tls`) lets the listener admit a socket before
    any TLS state exists, time the handshake out, and keep per-connection buffers small: asyncio's
    and uvloop's TLS transports each hold a 256 KiB read buffer per connection.
    """

    __slots__ = ("_in", "_obj", "_out", "established", "peer_closed")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=True)
        self.established = False
        self.peer_closed = False  # the client sent close_notify

    def receive_data(self, data: bytes) -> bytes:
        if len(data) <= SLICE:
            return self._receive(data)
        view = memoryview(data)
        return b"".join(self._receive(view[i : i + SLICE]) for i in range(0, len(data), SLICE))

    def _receive(self, data: bytes | memoryview) -> bytes:
        self._in.write(data)
        obj = self._obj
        if not self.established:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self.established = True
        chunks = []
        while True:
            try:
                chunk = obj.read(SLICE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.peer_closed = True
                break
            if not chunk:  # ssl returns b"" once the peer's close_notify is read
                self.peer_closed = True
                break
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def encrypt(self, data: bytes) -> bytes:
        """`data` as TLS records, with anything else waiting to be sent before it."""
        if len(data) <= SLICE:
            self._obj.write(data)
            return self._out.read()
        out = [self._out.read()]
        view = memoryview(data)
        for i in range(0, len(data), SLICE):
            self._obj.write(view[i : i + SLICE])
            out.append(self._out.read())
        return b"".join(out)

    def data_to_send(self) -> bytes:
        return self._out.read()

    def close(self) -> bytes:
        """Our close_notify (RFC 8446 section 6.1), to send before half-closing the socket."""
        with contextlib.suppress(
            ssl.SSLError
        ):  # SSLWantReadError: the peer's close_notify is not awaited
            self._obj.unwrap()
        return self._out.read()

    def peer_certificate(self) -> dict[str, Any] | None:
        """The verified client certificate (as `ssl.SSLSocket.getpeercert()`), None without one."""
        return self._obj.getpeercert()
