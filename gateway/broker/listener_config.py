"""From a `[[broker.listeners]]` table to what the broker runs: the listener's `ListenerSpec` (with its
TLS context) and its `ListenerPolicy` (who may connect). Used at start-up (gateway.app) and by a
reload (gateway.broker.reload), which also decides from here whether a changed listener must be
reopened or can be changed in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.broker.auth import ListenerPolicy
from gateway.broker.auth.tls import server_context
from gateway.broker.server import ListenerSpec

if TYPE_CHECKING:
    from gateway.config import GatewayConfig, ListenerConfig


def listener_spec(listener: ListenerConfig) -> ListenerSpec:
    """The spec, its TLS context loaded from the certificate and key files (OSError when one is
    missing, ssl.SSLError when one is not a certificate or key or they do not match)."""
    context, stamp = None, 0
    if listener.tls is not None:
        tls = listener.tls
        stamp = tls_stamp(listener)  # before loading: a file replaced meanwhile differs next time
        context = server_context(
            str(tls.certfile),
            str(tls.keyfile),
            str(tls.cafile) if tls.cafile else None,
            require_certificate=tls.require_certificate,
            min_version=tls.min_version,
            ciphers=tls.ciphers,
        )
    return ListenerSpec(
        listener.name,
        listener.host,
        listener.port,
        context,
        str(listener.unix_path) if listener.unix_path else None,
        listener.max_connections,
        stamp,
        listener,
    )


def listener_policy(listener: ListenerConfig) -> ListenerPolicy:
    tls = listener.tls
    return ListenerPolicy(
        allow_anonymous=listener.anonymous_allowed,
        identity_source=tls.use_identity_as_username if tls else "none",
        require_certificate=bool(tls and tls.require_certificate),
    )


def auth_policies(config: GatewayConfig) -> dict[str, ListenerPolicy]:
    """Each listener's policy by name, MQTT over WebSockets on the web listener's included."""
    policies = {listener.name: listener_policy(listener) for listener in config.broker.listeners}
    if config.web.enabled and config.web.mqtt:
        policies[config.web.name] = ListenerPolicy(allow_anonymous=config.web.anonymous_allowed)
    return policies


def tls_stamp(listener: ListenerConfig) -> int:
    """What the certificate, key and CA files hold now, as one number (a renewal replaces them
    in place, under the same names); 0 when one cannot be read (the context load then says why)."""
    tls = listener.tls
    if tls is None:
        return 0
    try:
        return hash(
            tuple(path.read_bytes() for path in (tls.certfile, tls.keyfile, tls.cafile) if path)
        )
    except OSError:
        return 0


def reopen_key(listener: ListenerConfig) -> tuple:
    """What a listener cannot change without closing its socket and its connections: its address,
    whether it speaks TLS and how, who may connect. The rest (its connection limit, the
    certificate, key and CA files) changes in place."""
    tls = listener.tls
    how = None
    if tls is not None:
        how = (tls.require_certificate, tls.use_identity_as_username, tls.min_version, tls.ciphers)
    return (listener.host, listener.port, listener.unix_path, how, listener_policy(listener))
