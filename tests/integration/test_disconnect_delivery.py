"""The client learns why it was disconnected, over real sockets.

- A v5 CONNECT and a bad PUBLISH in one TCP segment: the CONNECT is handled first (CONNACK
  success), then the PUBLISH's error closes the connection with DISCONNECT carrying its code; no
  traceback is logged.
- A client that keeps writing after its offence still reads the DISCONNECT: the broker
  half-closes (FIN after the DISCONNECT) and drains the client's input for a moment, instead of
  closing a socket with unread input, which makes the kernel send RST.
"""

from __future__ import annotations

import logging
import socket
import time

from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Connack, Disconnect, Packet, Publish, Pubrec
from tests.support.raw import RawClient

R = ReasonCode

# CONNECT (5.0, client id "c6", keepalive 60) and PUBLISH "t" with property Topic Alias = 0,
# which 5.0 forbids [MQTT-3.3.2-8]: 0x94 Topic Alias invalid, a code DISCONNECT can carry and
# CONNACK cannot
CONNECT_THEN_BAD_PUBLISH = bytes.fromhex("100f00044d5154540502003c000002633630080001740323000078")


def no_tracebacks(records: list[logging.LogRecord]) -> bool:
    return not any(r.exc_info or r.levelno >= logging.ERROR for r in records)


def read_to_close(sock: socket.socket, version: int, timeout: float = 5.0) -> tuple[list, str]:
    """Every packet until the broker's close, and how it closed: "eof" (FIN) or "reset"."""
    decoder, got = StreamDecoder(version=version), list[Packet]()
    sock.settimeout(timeout)
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return got, "reset"
        if not data:
            return got, "eof"
        got += decoder.feed(data)


def test_connect_and_a_bad_publish_in_one_segment_get_connack_then_disconnect(broker, caplog):
    with (
        caplog.at_level(logging.INFO),
        socket.create_connection(("127.0.0.1", broker.port), 5) as sock,
    ):
        sock.sendall(CONNECT_THEN_BAD_PUBLISH)  # one send, one segment on loopback
        packets, how = read_to_close(sock, 5)
    assert [type(p) for p in packets] == [Connack, Disconnect]
    assert packets[0].reason_code == R.SUCCESS
    assert packets[1].reason_code == R.TOPIC_ALIAS_INVALID
    assert how == "eof"
    assert no_tracebacks(caplog.records)
    assert any("topic_alias=0" in r.getMessage() for r in caplog.records)  # the one-line reason


def test_a_client_still_writing_after_its_offence_reads_the_disconnect(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0, receive_maximum=2))
    raw = RawClient(thread.port, version=5)
    assert raw.connect("eager").reason_code == R.SUCCESS
    # three QoS 2 publishes unreleased with a receive maximum of 2 [MQTT-3.3.4-9]
    raw.send_bytes(
        b"".join(encode(Publish("q", b"x", QoS.EXACTLY_ONCE, packet_id=i), 5) for i in (1, 2, 3))
    )
    more = encode(Publish("t", b"y" * 200), 5) * 5
    for _ in range(30):  # the client goes on writing, unaware (about 30 KB in 0.3 s)
        raw.send_bytes(more)  # a reset would raise here (BrokenPipeError / ConnectionReset)
        time.sleep(0.01)
    packets, how = read_to_close(raw.sock, 5)
    assert [type(p) for p in packets] == [Pubrec, Pubrec, Disconnect]
    assert packets[2].reason_code == R.RECEIVE_MAXIMUM_EXCEEDED
    assert how == "eof"
    raw.close()
    deadline = time.monotonic() + 5  # the client's close ends the drain: the slot is freed
    while thread.run(lambda: thread.broker.admission.total):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_protocol_errors_are_logged_one_line_per_reason_code_per_interval(broker, caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", broker.port), 5) as sock:
                sock.sendall(CONNECT_THEN_BAD_PUBLISH)
                packets, _ = read_to_close(sock, 5)
                assert packets[-1].reason_code == R.TOPIC_ALIAS_INVALID  # every one answered
    lines = [r.getMessage() for r in caplog.records if "protocol error" in r.getMessage()]
    assert len(lines) == 1  # not 30: a client repeating a mistake cannot flood the journal
    assert broker.run(lambda: broker.broker.core.stats.protocol_errors) == 30  # all counted
