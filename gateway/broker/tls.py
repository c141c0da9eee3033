"""TLS contexts for listeners, and the identity a client certificate carries."""

from __future__ import annotations

import os
import ssl
from typing import Any


def server_context(certfile: str, keyfile: str, cafile: str | None = None, *,
                   require_certificate: bool = False, min_version: str = "1.2",
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, client certificates checked against `cafile`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else \
        ssl.TLSVersion.TLSv1_2
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
