"""The gateway's access policy: who may connect on which listener, and what each may touch.

It combines the per-listener anonymous rule (anonymous only on loopback unless the config says
otherwise, as Mosquitto 2 does), client-certificate identities, the Mosquitto-format password file
and the Mosquitto-format ACL file. `reload()` re-reads both files (SIGHUP); the caller then asks the
core to drop subscriptions that are no longer allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gateway.broker.acl import AclFile
from gateway.broker.core import Authenticator, Authorizer
from gateway.broker.passwords import PasswordFile
from gateway.broker.tls import certificate_identity
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Connect

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerPolicy:
    allow_anonymous: bool
    identity_source: str = "none"  # "cn" / "san": the certificate names the user
    require_certificate: bool = False


class GatewayAuth(Authenticator, Authorizer):
    def __init__(self, policies: dict[str, ListenerPolicy], password_file: Path | None = None,
                 acl_file: Path | None = None) -> None:
        self.policies = policies
        self.password_path = password_file
        self.acl_path = acl_file
        self.passwords: PasswordFile | None = None
        self.acl = AclFile.allow_all()
        self.reload()

    def reload(self) -> None:
        """(Re)read the password and ACL files; on error the old ones stay in force."""
        if self.password_path is not None:
            self.passwords = PasswordFile.load(self.password_path)
            log.info("password file %s: %d user(s)", self.password_path, len(self.passwords))
        if self.acl_path is not None:
            self.acl = AclFile.load(self.acl_path)
            log.info("ACL file %s loaded", self.acl_path)

    # -- Authenticator ----------------------------------------------------------------------

    def authenticate(self, connect: Connect, conn) -> ReasonCode:  # noqa: ANN001
        policy = self.policies.get(conn.listener, ListenerPolicy(allow_anonymous=False))
        if conn.listener == "local":
            return ReasonCode.SUCCESS
        if policy.identity_source != "none":
            identity = certificate_identity(conn.peer_cert, policy.identity_source)
            if identity is None:
                log.warning("client %s from %s has no certificate identity", connect.client_id,
                            conn.peer)
                return ReasonCode.NOT_AUTHORIZED
            conn.username = identity
            return ReasonCode.SUCCESS
        if connect.username is None:
            if policy.allow_anonymous:
                return ReasonCode.SUCCESS
            log.warning("anonymous client %s refused on listener %s", connect.client_id,
                        conn.listener)
            return ReasonCode.NOT_AUTHORIZED
        if self.passwords is None:
            return ReasonCode.SUCCESS if policy.allow_anonymous else ReasonCode.NOT_AUTHORIZED
        if self.passwords.verify(connect.username, connect.password or b""):
            return ReasonCode.SUCCESS
        log.warning("bad username or password for %r from %s", connect.username, conn.peer)
        return ReasonCode.BAD_USER_NAME_OR_PASSWORD

    # -- Authorizer -------------------------------------------------------------------------

    def can_publish(self, username: str | None, client_id: str, topic: str) -> bool:
        return self.acl.can_publish(username, client_id, topic)

    def can_subscribe(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        return self.acl.can_subscribe(username, client_id, topic_filter)

    def can_receive(self, username: str | None, client_id: str, topic: str) -> bool:
        return self.acl.can_receive(username, client_id, topic)
