"""The bridge's TLS client context: CA (or the system store), client certificate, SNI, ALPN,
minimum version. Handed to paho with `tls_set_context`."""

from __future__ import annotations

import os
import re
import ssl
from typing import Any

from gateway.bridge.config import BridgeConfig


class _NamedContext(ssl.SSLContext):
    """An SSLContext that sends `sni_name` (and checks the certificate against it) whatever host
    the caller connects to: paho passes the host it dials, which may be an IP or a proxy."""

    sni_name: str | None = None

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if self.sni_name:
            kwargs["server_hostname"] = self.sni_name
        return super().wrap_socket(sock, *args, **kwargs)


def client_context(cfg: BridgeConfig) -> ssl.SSLContext | None:
    tls = cfg.tls
    if not tls.enabled:
        return None
    ctx = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    if tls.ca_file is not None:
        ctx.load_verify_locations(cafile=str(tls.ca_file))
    else:
        trust_system_store(ctx)
    ctx.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    alpn = cfg.effective_alpn()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    ctx.sni_name = tls.server_name
    return ctx


_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.\d+$")  # c_rehash / `openssl rehash` link names


def trust_system_store(ctx: ssl.SSLContext) -> None:
    """Trust the system's CA certificates, loading only the one a handshake needs.

    `load_default_certs` parses the whole bundle (Debian: about 145 certificates, 1.3 MB of RSS
    held for the life of the context); the same certificates as a hashed directory
    (/etc/ssl/certs, kept by update-ca-certificates) are looked up by subject hash during the
    handshake, so only the cloud's CA is read. A CA bundle named by SSL_CERT_FILE, or a system
    without a hashed directory, gets the whole bundle as before."""
    paths = ssl.get_default_verify_paths()
    capath = paths.capath
    if os.environ.get(paths.openssl_cafile_env) is None and capath and _is_hashed_dir(capath):
        ctx.load_verify_locations(capath=capath)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)


def _is_hashed_dir(path: str) -> bool:
    try:
        return any(_HASHED_NAME.match(name) for name in os.listdir(path))
    except OSError:
        return False
