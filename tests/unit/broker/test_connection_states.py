"""The connection's states (gateway.broker.connection.ConnState) and its (state, packet type)
table, driven with bytes through the core and an injected clock: no sockets, no sleeps."""

from __future__ import annotations

import pytest

from gateway.broker.auth.enhanced import AuthenticationFailed
from gateway.broker.connection import HANDLERS, Connection, ConnState
from gateway.broker.core import Authenticator, BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
)
from gateway.mqtt.properties import Properties

S = ConnState
R = ReasonCode
METHOD = "TOY"


class ToyExchange:
    """A two-step exchange: the client's final data must be b"ok"; it names user `who`."""

    def __init__(self, who: str) -> None:
        self.username = who

    def start(self, data: bytes) -> bytes:
        return b"server-first"

    def finish(self, data: bytes) -> bytes:
        if data != b"ok":
            raise AuthenticationFailed("wrong proof")
        return b"server-final"


class ToyAuthenticator(Authenticator):
    def __init__(self) -> None:
        self.who = "alice"

    def start_enhanced(self, method: str, conn: Connection) -> ToyExchange | None:
        return ToyExchange(self.who) if method == METHOD else None


def _core() -> BrokerCore:
    return BrokerCore(BrokerSettings(sys_interval=0, connect_timeout=10), 0.0, ToyAuthenticator())


def _answers(conn: Connection, version: int = 5) -> list:
    return list(StreamDecoder(version=version).feed(conn.data_to_send()))


def _auth(reason: ReasonCode, data: bytes) -> bytes:
    props = Properties(authentication_method=METHOD, authentication_data=data)
    return encode(Auth(reason, props), 5)


def _enhanced_connect(conn: Connection, now: float = 0.0) -> None:
    props = Properties(authentication_method=METHOD, authentication_data=b"client-first")
    conn.receive_data(encode(Connect("c", protocol_version=5, properties=props), 5), now)


def test_connect_moves_await_connect_to_connected_and_disconnect_to_closed():
    core = _core()
    conn = core.open_connection(0.0)
    assert conn.state is S.AWAIT_CONNECT and not conn.connected and not conn.closed
    conn.receive_data(encode(Connect("c", protocol_version=5), 5), 0.0)
    assert conn.state is S.CONNECTED and conn.connected
    assert conn.session is core.sessions["c"]
    conn.receive_data(encode(Disconnect(), 5), 1.0)
    assert conn.state is S.CLOSED and conn.closed and conn.clean_disconnect


def test_a_refused_connect_closes_with_a_connack_error():
    core = _core()
    conn = core.open_connection(0.0)
    conn.receive_data(encode(Connect("$bridge/x", protocol_version=5), 5), 0.0)
    assert conn.state is S.CLOSED
    assert [p.reason_code for p in _answers(conn)] == [R.CLIENT_IDENTIFIER_NOT_VALID]


@pytest.mark.parametrize(
    "packet",
    [Publish("t", b"x"), Subscribe(1, (Subscription("t"),)), Pingreq(), Disconnect(), Puback(1)],
    ids=lambda p: type(p).__name__,
)
def test_before_connect_every_other_packet_is_a_protocol_error(packet):  # [MQTT-3.1.0-1]
    core = _core()
    conn = core.open_connection(0.0)
    errors = core.stats.protocol_errors
    conn.receive_data(encode(packet, 4), 0.0)
    assert conn.state is S.CLOSED and core.stats.protocol_errors == errors + 1


def test_enhanced_authentication_runs_in_authenticating_then_connects():  # [MQTT-4.12.0-2,5]
    core = _core()
    conn = core.open_connection(0.0)
    _enhanced_connect(conn)
    assert conn.state is S.AUTHENTICATING and not conn.connected and conn.session is None
    assert [type(p) for p in _answers(conn)] == [Auth]
    conn.receive_data(encode(Pingreq(), 5), 0.5)  # not yet: the exchange is not over
    assert conn.state is S.CLOSED


def test_enhanced_authentication_success_and_reauthentication_round_trip():  # [MQTT-4.12.1-1]
    core = _core()
    conn = core.open_connection(0.0)
    _enhanced_connect(conn)
    conn.receive_data(_auth(R.CONTINUE_AUTHENTICATION, b"ok"), 0.5)
    assert conn.state is S.CONNECTED and conn.username == "alice"
    conn.data_to_send()
    conn.receive_data(_auth(R.RE_AUTHENTICATE, b"client-first"), 1.0)
    assert conn.state is S.REAUTHENTICATING and conn.connected
    conn.receive_data(encode(Pingreq(), 5), 1.1)  # still served while re-authenticating
    conn.receive_data(_auth(R.RE_AUTHENTICATE, b"again"), 1.2)  # one at a time
    assert conn.state is S.CLOSED
    assert [type(p) for p in _answers(conn)] == [Auth, Pingresp, Disconnect]


def test_reauthentication_ends_in_connected_or_closes_on_failure():  # [MQTT-4.12.1-2]
    core = _core()
    conn = core.open_connection(0.0)
    _enhanced_connect(conn)
    conn.receive_data(_auth(R.CONTINUE_AUTHENTICATION, b"ok"), 0.5)
    conn.receive_data(_auth(R.RE_AUTHENTICATE, b"client-first"), 1.0)
    conn.receive_data(_auth(R.CONTINUE_AUTHENTICATION, b"ok"), 1.1)
    assert conn.state is S.CONNECTED
    conn.data_to_send()
    conn.receive_data(_auth(R.RE_AUTHENTICATE, b"client-first"), 2.0)
    conn.receive_data(_auth(R.CONTINUE_AUTHENTICATION, b"wrong"), 2.1)
    assert conn.state is S.CLOSED
    assert [p.reason_code for p in _answers(conn)][-1] == R.NOT_AUTHORIZED


def test_the_connect_timeout_covers_authenticating_and_keepalive_covers_connected():
    core = _core()
    stalled, silent = core.open_connection(0.0), core.open_connection(0.0)
    _enhanced_connect(stalled)
    silent.receive_data(encode(Connect("s", protocol_version=5, keep_alive=4), 5), 0.0)
    assert stalled.deadline() == 10.0 and silent.deadline() == 6.0  # CONNECT timeout, 1.5 x 4 s
    assert core.next_deadline() == 6.0
    core.tick(6.5)
    assert silent.state is S.CLOSED and stalled.state is S.AUTHENTICATING
    assert silent.deadline() is None  # closed: no timer left for it
    core.tick(10.5)
    assert stalled.state is S.CLOSED


def test_a_takeover_closes_the_older_connection():  # [MQTT-3.1.4-3]
    core = _core()
    old, new = core.open_connection(0.0), core.open_connection(0.0)
    old.receive_data(encode(Connect("c", protocol_version=5), 5), 0.0)
    new.receive_data(encode(Connect("c", protocol_version=5), 5), 1.0)
    assert old.state is S.CLOSED and old.session is None and new.state is S.CONNECTED
    assert [p.reason_code for p in _answers(old)][-1] == R.SESSION_TAKEN_OVER


def test_a_transition_the_diagram_does_not_have_is_a_bug_not_a_protocol_error():
    conn = _core().open_connection(0.0)
    with pytest.raises(RuntimeError, match="AWAIT_CONNECT -> REAUTHENTICATING"):
        conn.start_reauthentication()
    conn.close()
    with pytest.raises(RuntimeError, match="CLOSED -> CONNECTED"):
        conn.end_reauthentication()


CLIENT_PACKETS: tuple[type, ...] = (Connect, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe)
CLIENT_PACKETS += (Unsubscribe, Pingreq, Disconnect, Auth)
SERVER_PACKETS: tuple[type, ...] = (Connack, Suback, Unsuback, Pingresp)


def test_every_packet_type_has_a_handler_in_every_state_that_reads():
    for state in S:
        row = HANDLERS[state]
        if state is S.CLOSED:
            assert row == {}  # nothing is read once closed
            continue
        assert set(row) == set(CLIENT_PACKETS + SERVER_PACKETS), state
    assert HANDLERS[S.CONNECTED] == HANDLERS[S.REAUTHENTICATING]


@pytest.mark.parametrize("packet", [Connack(), Suback(1, (R.SUCCESS,)), Pingresp()], ids=repr)
def test_a_packet_only_a_server_sends_closes_a_connected_client(packet):
    core = _core()
    conn = core.open_connection(0.0)
    conn.receive_data(encode(Connect("c", protocol_version=5), 5), 0.0)
    conn.receive_data(encode(packet, 5), 1.0)
    assert conn.state is S.CLOSED
    assert [p.reason_code for p in _answers(conn)][-1] == R.PROTOCOL_ERROR
