"""The bridge's TLS client context: CA (or the system store), client certificate, SNI, ALPN,
minimum version. Handed to paho with `tls_set_context`."""

from __future__ import annotations

import ssl
from typing import Any

from gateway.bridge.config import BridgeConfig


class _NamedContext(ssl.SSLContext):
    """An SSLContext that sends `sni_name` (and checks the certificate against it) whatever host
    the caller connects to: paho passes the host it dials, which may be an IP or a proxy."""

    sni_name: str | None = None

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
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
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
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
