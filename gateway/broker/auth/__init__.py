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

The names below are the public API. They are loaded on first use: the broker core imports
`enhanced` alone, and a gateway without a password or SCRAM file never loads hashlib (OpenSSL),
nor one without TLS the ssl module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_HOME = {
    "Access": "acl",
    "AclFile": "acl",
    "AclRule": "acl",
    "AuthenticationFailed": "enhanced",
    "AuthFileError": "files",
    "GatewayAuth": "gateway_auth",
    "ListenerPolicy": "gateway_auth",
    "LoginBackoff": "login_backoff",
    "PasswordFile": "passwords",
    "ScramClient": "scram",
    "ScramCredentialsFile": "scram",
    "ScramServer": "scram",
    "SSLError": "tls",
    "ServerTls": "tls",
    "certificate_identity": "tls",
    "server_context": "tls",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
