"""Every error the broker reports goes out with a reason code the reporting packet can carry.

A peer's error is reported in CONNACK before the connection is accepted and in DISCONNECT after
(5.0; a 3.1.1 client just sees the close). The two packets carry different sets of codes
(`ALLOWED_REASON_CODES`, spec 3.2.2.2 and 3.14.2.1): 0x94 Topic Alias invalid exists only in
DISCONNECT, 0x8C Bad authentication method only in CONNACK. Checked here on the sans-IO
connection: whatever ProtocolError is raised in whatever state, the bytes written decode (with the
client-side codec, which refuses a code its packet cannot carry) and carry the error's own code
whenever that packet allows it; and a v5 CONNECT followed by anything in the same chunk gets its
CONNACK first.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.broker.core import Authenticator, BrokerCore
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import PacketType, ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import Connack, Connect, Disconnect
from gateway.mqtt.properties import Properties
from gateway.mqtt.reason_codes import ALLOWED_REASON_CODES, carried_code

R = ReasonCode
EXAMPLES = 5000 if os.environ.get("GATEWAY_SOAK") == "1" else 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CARRIERS = {Connack: PacketType.CONNACK, Disconnect: PacketType.DISCONNECT}


class PendingExchange:
    """An enhanced-authentication exchange that never finishes: the CONNECT stays unanswered."""

    def start(self, data: bytes) -> bytes:
        return b"server-first"


class EnhancedAuthenticator(Authenticator):
    def start_enhanced(self, method: str, conn):
        return PendingExchange()


def connection(state: str):
    """A connection in `state`, its greeting already read by the client's decoder."""
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0, EnhancedAuthenticator())
    conn = core.open_connection(0.0, "prop", "default")
    version = 4 if state == "connected-3.1.1" else 5
    if state == "connected-5.0" or state == "connected-3.1.1":
        conn.receive_data(encode(Connect("c", version), version), 0.0)
    elif state == "authenticating":
        connect = Connect("c", 5, properties=Properties(authentication_method="X"))
        conn.receive_data(encode(connect, 5), 0.0)
    client = StreamDecoder(version=version)
    client.feed(conn.data_to_send())
    core.take_dirty()
    return conn, client


@FUZZ
@given(st.sampled_from(list(R)), st.sampled_from([PacketType.CONNACK, PacketType.DISCONNECT]))
def test_carried_code_is_one_the_packet_allows(code: ReasonCode, packet_type: PacketType) -> None:
    carried = carried_code(packet_type, code)
    assert carried in ALLOWED_REASON_CODES[packet_type]
    if code in ALLOWED_REASON_CODES[packet_type]:
        assert carried == code


@FUZZ
@given(
    st.sampled_from(["authenticating", "connected-5.0", "connected-3.1.1"]),
    st.sampled_from([code for code in R if code.is_error]),
)
def test_any_protocol_error_is_reported_with_a_code_its_packet_carries(
    state: str, code: ReasonCode
) -> None:
    conn, client = connection(state)
    conn.protocol_error(ProtocolError(code, "injected"), 1.0)
    assert conn.closed
    out = client.feed(conn.data_to_send())  # the client's codec refuses a code not allowed
    if state == "connected-3.1.1":
        assert out == []  # 3.1.1 has no DISCONNECT from the server: the close says it
        return
    (packet,) = out
    packet_type = CARRIERS[type(packet)]
    assert packet_type == (
        PacketType.CONNACK if state == "authenticating" else PacketType.DISCONNECT
    )
    assert packet.reason_code == carried_code(packet_type, code)


@FUZZ
@given(st.binary(min_size=1, max_size=80))
def test_connect_then_anything_in_one_chunk_gets_its_connack_first(rest: bytes) -> None:
    core = BrokerCore(BrokerSettings(sys_interval=0), 0.0)
    conn = core.open_connection(0.0, "prop", "default")
    conn.receive_data(encode(Connect("c", 5), 5) + rest, 0.0)  # nothing else may escape
    out = StreamDecoder(version=5).feed(conn.data_to_send())
    assert isinstance(out[0], Connack) and out[0].reason_code == R.SUCCESS
    if core.stats.protocol_errors:
        assert conn.closed and isinstance(out[-1], Disconnect)
        assert out[-1].reason_code in ALLOWED_REASON_CODES[PacketType.DISCONNECT]
