"""MQTT 5.0 enhanced authentication (spec 4.12) driven through the AUTH packet; no I/O.

How this works: a CONNECT carrying an Authentication Method does not go to the password check.
`begin()` asks the authenticator for a server-side exchange for that method (for
"SCRAM-SHA-256" a `gateway.broker.auth.scram.ScramServer` over the credentials file); none means the
method is not offered and the client gets CONNACK 0x8C [MQTT-4.12.0-1]. The exchange then runs:

    CONNECT  method, data = client-first  ->  AUTH 0x18  method, data = server-first
    AUTH 0x18 method, data = client-final ->  CONNACK 0x00 method, data = server-final
    a failed step                          ->  CONNACK 0x87 (or the exchange's code), close

Re-authentication [MQTT-4.12.1-1] on a connected client: AUTH 0x19 (client-first) -> AUTH 0x18
(server-first) -> AUTH 0x18 (client-final) -> AUTH 0x00 (server-final). It must name the same
method and authenticate the same user; if it fails the client gets DISCONNECT 0x87 and the
connection closes [MQTT-4.12.1-2]. Until the first exchange succeeds the connection is not
connected: every other packet is a protocol error and the CONNECT timeout keeps running, so a
client that starts an exchange and stalls is closed like one that never sends CONNECT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.broker.connection import Connection, ConnState
from gateway.errors import GatewayError
from gateway.logfields import log_fields
from gateway.mqtt.enums import PacketType as P
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import Auth, Connect, Disconnect
from gateway.mqtt.properties import Properties
from gateway.mqtt.reason_codes import carried_code

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore

log = logging.getLogger(__name__)
R = ReasonCode


class AuthenticationFailed(GatewayError):
    """The exchange failed; the broker answers with CONNACK `reason_code`. (Here rather than in
    gateway.broker.auth.scram, so the broker core does not load hashlib and OpenSSL without
    SCRAM.)"""

    def __init__(self, message: str, reason_code: ReasonCode = ReasonCode.NOT_AUTHORIZED) -> None:
        super().__init__(message)
        self.message = message
        self.reason_code = reason_code


class Exchange(Protocol):
    """A server-side exchange for one method (gateway.broker.auth.scram.ScramServer is one):
    `start` answers the client's first data, `finish` its final data; either raises
    AuthenticationFailed. `username` is whom it authenticated, once finished."""

    @property
    def username(self) -> str | None: ...

    def start(self, data: bytes) -> bytes: ...

    def finish(self, data: bytes) -> bytes: ...


@dataclass(slots=True)
class AuthState:
    """One connection's enhanced authentication: the method and the exchange in progress."""

    method: str
    connect: Connect | None  # held until the first exchange succeeds
    exchange: Exchange | None = None  # None between exchanges


def begin(core: BrokerCore, conn: Connection, packet: Connect, now: float) -> None:
    """CONNECT with an Authentication Method: start the exchange or refuse the method."""
    method = packet.properties.authentication_method
    assert method is not None
    exchange = core.authenticator.start_enhanced(method, conn)
    if exchange is None:
        core.stats.connections_refused += 1
        return conn.refuse(
            R.BAD_AUTHENTICATION_METHOD,  # [MQTT-4.12.0-1]
            f"authentication method {method!r} not offered",
        )
    conn.start_authentication(AuthState(method, packet, exchange))  # AUTHENTICATING
    _start(core, conn, packet.properties.authentication_data, now)


def on_auth(core: BrokerCore, conn: Connection, packet: Auth, now: float) -> None:
    """An AUTH packet from the client (reason 0x18 continue or 0x19 re-authenticate)."""
    state = conn.auth
    if state is None:  # [MQTT-4.12.0-7] no method in CONNECT (or no CONNECT yet): no AUTH
        raise ProtocolError(R.PROTOCOL_ERROR, "AUTH without an authentication method in CONNECT")
    if packet.properties.authentication_method != state.method:  # [MQTT-4.12.0-5]
        raise ProtocolError(R.PROTOCOL_ERROR, "AUTH with a different authentication method")
    data = packet.properties.authentication_data
    if packet.reason_code == R.RE_AUTHENTICATE:
        if conn.state is not ConnState.CONNECTED:  # [MQTT-4.12.1-1] after CONNACK, one at a time
            raise ProtocolError(R.PROTOCOL_ERROR, "re-authentication before CONNACK or during one")
        state.exchange = core.authenticator.start_enhanced(state.method, conn)
        conn.start_reauthentication()  # REAUTHENTICATING
        if state.exchange is None:  # the method was withdrawn by a reload
            return _failed(core, conn, AuthenticationFailed("method no longer offered"))
        return _start(core, conn, data, now)
    if packet.reason_code != R.CONTINUE_AUTHENTICATION or state.exchange is None:
        raise ProtocolError(
            R.PROTOCOL_ERROR,  # [MQTT-4.12.0-3] the client continues with 0x18
            f"unexpected AUTH {packet.reason_code.name}",
        )
    _finish(core, conn, data, now)


def _start(core: BrokerCore, conn: Connection, data: bytes | None, now: float) -> None:
    state = conn.auth
    assert state is not None and state.exchange is not None  # set by begin / on_auth
    try:
        server_first = state.exchange.start(data or b"")
    except AuthenticationFailed as exc:
        return _failed(core, conn, exc)
    conn.send(
        Auth(
            R.CONTINUE_AUTHENTICATION,  # [MQTT-4.12.0-2]
            Properties(authentication_method=state.method, authentication_data=server_first),
        )
    )


def _finish(core: BrokerCore, conn: Connection, data: bytes | None, now: float) -> None:
    state = conn.auth
    assert state is not None and state.exchange is not None  # on_auth checked both
    exchange, state.exchange = state.exchange, None
    reauth = conn.state is ConnState.REAUTHENTICATING
    try:
        server_final = exchange.finish(data or b"")
        username = exchange.username
        if reauth and username != conn.username:
            raise AuthenticationFailed(f"re-authentication as {username!r}, not {conn.username!r}")
    except AuthenticationFailed as exc:
        return _failed(core, conn, exc)
    props = Properties(authentication_method=state.method, authentication_data=server_final)
    if reauth:
        log.info(
            "client %s re-authenticated as %r (%s)",
            conn.client_id,
            username,
            state.method,
            extra=log_fields(conn.client_id, conn, username=username),
        )
        conn.send(Auth(R.SUCCESS, props))
        conn.end_reauthentication()  # CONNECTED
        return
    log.info(
        "client %s authenticated as %r (%s)",
        conn.client_id,
        username,
        state.method,
        extra=log_fields(conn.client_id, conn, username=username),
    )
    conn.username = username
    connect, state.connect = state.connect, None  # the CONNECT is not needed any more
    assert connect is not None  # AUTHENTICATING holds the CONNECT until here
    core.complete_connect(conn, connect, now, props)


def _failed(core: BrokerCore, conn: Connection, exc: AuthenticationFailed) -> None:
    code = exc.reason_code if exc.reason_code.is_error else R.NOT_AUTHORIZED
    core.authenticator.enhanced_failed(conn, exc)  # counts towards the login back-off
    core.ratelog.log(
        logging.WARNING,
        "enhanced_auth_failed",
        "enhanced authentication of %s from %s failed: %s",
        conn.client_id or "-",
        conn.peer,
        exc.message,
        logger=log,
        extra=log_fields(conn.client_id, conn),
    )
    if conn.connected:  # [MQTT-4.12.1-2] a failed re-authentication ends the connection
        conn.send(
            Disconnect(
                carried_code(P.DISCONNECT, code if code != R.PROTOCOL_ERROR else R.NOT_AUTHORIZED)
            )
        )
        conn.close()
        return
    core.stats.connections_refused += 1
    conn.refuse(code, "enhanced authentication failed")  # [MQTT-4.12.0-4]
