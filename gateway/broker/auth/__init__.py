"""Who may connect and what each may touch: authentication, authorisation and TLS.

How this package is laid out (one module per concern):

    gateway_auth   `GatewayAuth`: the policy the broker core asks (per-listener anonymous rule,
                   certificate identities, password file, ACL, SCRAM), and `ListenerPolicy`
    files          reading and atomically writing the Mosquitto-format files; `AuthFileError`
    passwords      the Mosquitto password file (PBKDF2-SHA512 and SHA512 hashes)
    acl            the Mosquitto ACL file and its topic/filter matching
    scram          SCRAM-SHA-256 (RFC 7677): server and client exchanges, the credentials file
    enhanced       MQTT 5.0 enhanced authentication over AUTH packets (spec 4.12); no I/O
    login_backoff  the per-address slow-down after failed password logins
    tls            listener TLS contexts, the sans-IO TLS layer, client-certificate identities

The names in `__all__` are the public API. They are loaded on first use (gateway.lazyexports):
the broker core imports `enhanced` alone, and a gateway without a password or SCRAM file never
loads hashlib (OpenSSL), nor one without TLS the ssl module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.broker.auth.acl import Access, AclFile, AclRule
    from gateway.broker.auth.enhanced import AuthenticationFailed
    from gateway.broker.auth.files import AuthFileError
    from gateway.broker.auth.gateway_auth import GatewayAuth, ListenerPolicy
    from gateway.broker.auth.login_backoff import LoginBackoff
    from gateway.broker.auth.passwords import PasswordFile
    from gateway.broker.auth.scram import ScramClient, ScramCredentialsFile, ScramServer
    from gateway.broker.auth.tls import ServerTls, SSLError, certificate_identity, server_context

__all__ = [
    "Access",
    "AclFile",
    "AclRule",
    "AuthFileError",
    "AuthenticationFailed",
    "GatewayAuth",
    "ListenerPolicy",
    "LoginBackoff",
    "PasswordFile",
    "SSLError",
    "ScramClient",
    "ScramCredentialsFile",
    "ScramServer",
    "ServerTls",
    "certificate_identity",
    "server_context",
]

_HOMES = {
    "acl": (
        "Access",
        "AclFile",
        "AclRule",
    ),
    "enhanced": ("AuthenticationFailed",),
    "files": ("AuthFileError",),
    "gateway_auth": (
        "GatewayAuth",
        "ListenerPolicy",
    ),
    "login_backoff": ("LoginBackoff",),
    "passwords": ("PasswordFile",),
    "scram": (
        "ScramClient",
        "ScramCredentialsFile",
        "ScramServer",
    ),
    "tls": (
        "SSLError",
        "ServerTls",
        "certificate_identity",
        "server_context",
    ),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
