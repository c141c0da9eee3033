"""TLS contexts for listeners, and the identity a client certificate carries."""

from __future__ import annotations

import ssl
from typing import Any


def server_context(certfile: str, keyfile: str, cafile: str | None = None, *,
                   require_certificate: bool = False, min_version: str = "1.2",
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, client certificates checked against `cafile`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else \
        ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if ciphers:
        context.set_ciphers(ciphers)
    if cafile:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_certificate else ssl.CERT_OPTIONAL
    return context


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
