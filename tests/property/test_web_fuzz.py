"""Random HTTP requests and WebSocket frames against a running gateway's web listener: each one
closes (at most) its own connection; nothing escapes the parsers (the gateway's log has no
traceback), no request gets a 500, and the gateway serves HTTP and MQTT as before."""

from __future__ import annotations

import os
import signal
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_web import _config, get_json
from tests.support.clients import TestClient
from tests.support.gateway_process import run_gateway

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("webfuzz")
    config, mqtt_port, web_port = _config(tmp_path)
    state = {"mqtt": mqtt_port, "web": web_port, "statuses": []}
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        yield state
        # the gateway is fine: it answers HTTP and MQTT, then stops cleanly with a clean log
        assert (
            get_json(web_port, "/api/status")["id"] == "web-gw"
        )  # (fuzz: the gateway still serves)
        client = TestClient(mqtt_port, "after-fuzz")
        client.sync()
        client.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        log = proc.stdout.read()
        assert "Traceback" not in log and "Exception in callback" not in log, log[-3000:]
        assert 500 not in state["statuses"], (
            "a fuzzed request got 500 (see the log): " + log[-3000:]
        )


def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, half-close, read until the server closes (or 5 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    out = []
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.1 ") and line[9:12].isdigit():
            out.append(int(line[9:12]))
    return out


token = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz-ABC0123456789"), min_size=1, max_size=12
)
header_value = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
method = st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"BREW", b""])
target = st.one_of(
    st.sampled_from(
        [
            b"/",
            b"/api/status",
            b"/api/relays/lamp",
            b"/metrics",
            b"/mqtt",
            b"/api/events",
            b"/login",
            b"/api/sensors/room/history",
            b"*",
            b"http://x/",
        ]
    ),
    st.binary(max_size=40),
)
version = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1x", b""])


@st.composite
def requests(draw) -> bytes:
    headers = draw(st.lists(st.tuples(token.map(str.encode), header_value), max_size=6))
    if draw(st.booleans()):
        headers.append((b"Host", b"x"))
    body = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        headers.append(
            (
                b"Content-Length",
                str(draw(st.integers(-5, 400)) if draw(st.booleans()) else len(body)).encode(),
            )
        )
    elif draw(st.booleans()):
        headers.append((b"Transfer-Encoding", draw(st.sampled_from([b"chunked", b"gzip", b"x"]))))
    head = draw(method) + b" " + draw(target) + b" " + draw(version) + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    data = head + body
    if draw(st.booleans()):  # cut anywhere
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.one_of(requests(), st.binary(max_size=600)))
def test_random_http_closes_one_connection_only(gateway, data):
    answer = exchange(gateway["web"], data)
    got = statuses(answer)
    gateway["statuses"].extend(got)
    assert all(100 <= code < 600 for code in got)


UPGRADE = (
    b"GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Protocol: mqtt\r\n\r\n"
)
CONNECT = bytes.fromhex("101000044d5154540402003c000466757a7a")  # MQTT 3.1.1 CONNECT "fuzz"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bytes | None = b"abcd",
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


frames = st.lists(
    st.one_of(
        st.builds(
            frame,
            st.sampled_from([0, 1, 2, 8, 9, 10, 3, 11, 15]),
            st.binary(max_size=200),
            fin=st.booleans(),
            mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
            rsv=st.integers(0, 7),
            length=st.one_of(st.none(), st.integers(0, 70000)),
        ),
        st.just(frame(2, CONNECT)),
        st.binary(max_size=100),
    ),
    max_size=8,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=frames)
def test_random_websocket_frames_close_one_connection_only(gateway, parts):
    answer = exchange(gateway["web"], UPGRADE + b"".join(parts))
    assert answer.startswith(b"HTTP/1.1 101 ")


def test_a_websocket_text_frame_is_closed_with_1003(gateway):
    answer = exchange(gateway["web"], UPGRADE + frame(1, b"CONNECT as text"))
    close = answer[answer.index(b"\r\n\r\n") + 4 :]
    assert close[0] == 0x88 and struct.unpack("!H", close[2:4])[0] == 1003  # [MQTT-6.0.0-1]


def test_an_mqtt_packet_split_across_frames_is_one_packet(gateway):
    # [MQTT-6.0.0-2]: the receiver must not assume packets are aligned on frame boundaries
    half = len(CONNECT) // 2
    answer = exchange(
        gateway["web"],
        UPGRADE
        + frame(2, CONNECT[:half])
        + frame(2, CONNECT[half:])
        + frame(2, bytes.fromhex("e000")),
    )
    body = answer[answer.index(b"\r\n\r\n") + 4 :]
    assert body[:2] == b"\x82\x04" and body[2:6] == bytes.fromhex("20020000")  # CONNACK accepted
