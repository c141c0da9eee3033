"""The gateway's access policy: who may connect on which listener, and what each may touch.

It combines the per-listener anonymous rule (anonymous only on loopback unless the config says
otherwise, as Mosquitto 2 does), client-certificate identities, the Mosquitto-format password file
and the Mosquitto-format ACL file, and offers SCRAM-SHA-256 for MQTT 5 enhanced authentication
(gateway.broker.auth.enhanced) when a SCRAM credentials file is configured. `reload()` re-reads
all three files (SIGHUP); the caller then has the core name the subscriptions that can deliver
nothing under the new ACL (they are kept: see gateway.broker.auth.acl). Listeners that take the
username from the client certificate do not offer SCRAM: the certificate is the identity there. Failed password logins slow their source address down
(gateway.broker.auth.login_backoff); the lines about refusals are rate-limited (gateway.ratelog).

No listener name means anything here: the in-process clients (sensors, relays, Home Assistant
discovery, the bridge) never pass through `authenticate` at all, and the core skips the ACL for
them by a marker only their link objects carry (`in_process`), never by a name a config can hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.broker.auth.acl import AclFile
from gateway.broker.auth.login_backoff import LoginBackoff, peer_address
from gateway.broker.auth.tls import certificate_identity
from gateway.broker.core import Authenticator, Authorizer
from gateway.logfields import log_fields
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Connect
from gateway.ratelog import RateLimitedLog

if TYPE_CHECKING:  # imported when a password or SCRAM file is set: hashlib and hmac load OpenSSL's
    # libcrypto (about 1 MB of RSS a gateway without passwords does not need)
    from gateway.broker.auth.enhanced import Exchange
    from gateway.broker.auth.passwords import PasswordFile
    from gateway.broker.auth.scram import ScramCredentialsFile

SCRAM_METHOD = "SCRAM-SHA-256"  # gateway.broker.auth.scram.METHOD (a test keeps the two equal)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ListenerPolicy:
    allow_anonymous: bool
    identity_source: str = "none"  # "cn" / "san": the certificate names the user
    require_certificate: bool = False


class GatewayAuth(Authenticator, Authorizer):
    def __init__(
        self,
        policies: dict[str, ListenerPolicy],
        password_file: Path | None = None,
        acl_file: Path | None = None,
        scram_file: Path | None = None,
        *,
        backoff: LoginBackoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policies = policies
        # per address, after failed password logins
        self.backoff = LoginBackoff() if backoff is None else backoff
        self.clock = clock
        self.ratelog = RateLimitedLog(log, clock=clock)  # a guessing flood: one line per 10 s
        self.password_path = password_file
        self.acl_path = acl_file
        self.scram_path = scram_file
        self.passwords: PasswordFile | None = None
        self.scram: ScramCredentialsFile | None = None
        self.acl = AclFile.allow_all()
        # what each file held when it was read ("password_file", "acl_file", "scram_file")
        self.stamps: dict[str, int] = {}
        self.reload()

    def reload(self) -> None:
        """(Re)read the password, SCRAM and ACL files; if any fails to load, none changes."""
        self.use_files(self.password_path, self.acl_path, self.scram_path)

    def use_files(
        self, password_file: Path | None, acl_file: Path | None, scram_file: Path | None
    ) -> None:
        """Read these files (None: that file is no longer used) and use them from now on; if any
        fails to load, nothing changes, the paths neither."""
        passwords, scram, acl = None, None, AclFile.allow_all()
        stamps = {}
        if password_file is not None:
            from gateway.broker.auth.passwords import PasswordFile

            stamps["password_file"] = _stamp(password_file)
            passwords = PasswordFile.load(password_file)
            log.info("password file %s: %d user(s)", password_file, len(passwords))
        if scram_file is not None:
            from gateway.broker.auth.scram import ScramCredentialsFile

            stamps["scram_file"] = _stamp(scram_file)
            scram = ScramCredentialsFile.load(scram_file)
            log.info("SCRAM file %s: %d user(s)", scram_file, len(scram.usernames))
        if acl_file is not None:
            stamps["acl_file"] = _stamp(acl_file)
            acl = AclFile.load(acl_file)
            log.info("ACL file %s loaded", acl_file)
        self.password_path, self.acl_path, self.scram_path = password_file, acl_file, scram_file
        self.passwords, self.scram, self.acl = passwords, scram, acl
        self.stamps = stamps

    # -- Authenticator ----------------------------------------------------------------------

    def authenticate(self, connect: Connect, conn) -> ReasonCode:  # noqa: ANN001
        policy = self.policies.get(conn.listener, ListenerPolicy(allow_anonymous=False))
        if policy.identity_source != "none":
            identity = certificate_identity(conn.peer_cert, policy.identity_source)
            if identity is None:
                self.ratelog.log(
                    logging.WARNING,
                    "no_identity",
                    "client %s from %s has no certificate identity",
                    connect.client_id,
                    conn.peer,
                    extra=log_fields(connect.client_id, conn),
                )
                return ReasonCode.NOT_AUTHORIZED
            conn.username = identity
            return ReasonCode.SUCCESS
        if connect.username is None:
            if policy.allow_anonymous:
                return ReasonCode.SUCCESS
            self.ratelog.log(
                logging.WARNING,
                "anonymous_refused",
                "anonymous client %s refused on listener %s",
                connect.client_id,
                conn.listener,
                extra=log_fields(connect.client_id, conn),
            )
            return ReasonCode.NOT_AUTHORIZED
        if self.passwords is None:
            return ReasonCode.SUCCESS if policy.allow_anonymous else ReasonCode.NOT_AUTHORIZED
        return self._check_password(connect, conn, self.passwords, connect.username)

    def _check_password(
        self,
        connect: Connect,
        conn,  # noqa: ANN001
        passwords: PasswordFile,
        username: str,
    ) -> ReasonCode:
        address, now = peer_address(conn.peer), self.clock()
        wait = self.backoff.blocked_for(address, now)
        fields = log_fields(connect.client_id, conn, username=connect.username)
        if wait > 0:  # not even looked at: neither parallel guesses nor a lucky one get through
            _count_limit(conn, "login_backoff")
            self.ratelog.log(
                logging.WARNING,
                "login_backoff",
                "login of %r from %s refused: %.0f s more of back-off after failed logins",
                connect.username,
                address,
                wait,
                extra=fields,
            )
            return ReasonCode.CONNECTION_RATE_EXCEEDED
        if passwords.verify(username, connect.password or b""):
            return ReasonCode.SUCCESS
        evicted = self.backoff.evicted
        window = self.backoff.failed(address, now)
        if self.backoff.evicted > evicted:
            _count_limit(conn, "login_backoff_addresses")
        self.ratelog.log(
            logging.WARNING,
            "bad_password",
            "bad username or password for %r from %s (back-off %.0f s)",
            connect.username,
            conn.peer,
            window,
            extra=fields,
        )
        return ReasonCode.BAD_USER_NAME_OR_PASSWORD

    def start_enhanced(self, method: str, conn) -> Exchange | None:  # noqa: ANN001
        """SCRAM-SHA-256 when credentials are configured and the listener does not take the
        identity from the certificate; anything else is not offered (CONNACK 0x8C)."""
        policy = self.policies.get(conn.listener, ListenerPolicy(allow_anonymous=False))
        if method != SCRAM_METHOD or self.scram is None or policy.identity_source != "none":
            return None
        from gateway.broker.auth.scram import ScramServer

        address = peer_address(conn.peer)
        wait = self.backoff.blocked_for(address, self.clock())
        if wait > 0:  # the same back-off as for passwords: the exchange fails at its first step
            _count_limit(conn, "login_backoff")
            self.ratelog.log(
                logging.WARNING,
                "login_backoff",
                "SCRAM login from %s refused: %.0f s more of back-off after failed logins",
                address,
                wait,
                extra=log_fields(conn.client_id, conn),
            )
            return _ShutOut()
        return ScramServer(self.scram.lookup)

    def enhanced_failed(self, conn, exc) -> None:  # noqa: ANN001
        """A failed SCRAM exchange (not one refused by the back-off) is a failed login."""
        if exc.reason_code != ReasonCode.CONNECTION_RATE_EXCEEDED:
            self.backoff.failed(peer_address(conn.peer), self.clock())

    # -- Authorizer -------------------------------------------------------------------------

    def can_publish(self, username: str | None, client_id: str, topic: str) -> bool:
        return self.acl.can_publish(username, client_id, topic)

    def can_subscribe(self, username: str | None, client_id: str, topic_filter: str) -> bool:
        return self.acl.can_subscribe(username, client_id, topic_filter)

    def can_receive(self, username: str | None, client_id: str, topic: str) -> bool:
        return self.acl.can_receive(username, client_id, topic)


class _ShutOut:
    """The exchange offered to an address inside its back-off window: fails at once, 0x9F."""

    username = None

    def start(self, data: bytes) -> bytes:
        from gateway.broker.auth.scram import AuthenticationFailed

        raise AuthenticationFailed(
            "back-off after failed logins", ReasonCode.CONNECTION_RATE_EXCEEDED
        )

    finish = start


def _stamp(path: Path) -> int:
    """What a file holds, as one number (read before it is loaded: a file replaced meanwhile
    differs the next time); 0 when it cannot be read (its loader then says why)."""
    try:
        return hash(Path(path).read_bytes())
    except OSError:
        return 0


def _count_limit(conn, name: str) -> None:  # noqa: ANN001
    core = getattr(conn, "core", None)
    if core is not None:
        core.stats.limit(name)  # $SYS/broker/limits/<name>
