"""Hostile clients over real sockets: slow-loris, a connection flood past the limit, oversized
packets, a client that never reads. After each the broker still serves a well-behaved pair of
clients without losing a message, what it holds per connection stays bounded, and the limit that
bit is counted in `$SYS/broker/limits/...`.
"""

from __future__ import annotations

import contextlib
import socket
import time

from gateway.broker.settings import BrokerSettings
from gateway.mqtt.codec import encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Connect, Disconnect, Publish, Subscribe, Subscription
from tests.support.clients import V5, TestClient
from tests.support.raw import RawClient

R = ReasonCode


def limits(thread) -> dict[str, int]:
    return thread.run(lambda: dict(thread.broker.core.stats.limits_hit))


def open_connections(thread) -> int:
    return thread.run(lambda: thread.broker.admission.total)


def well_behaved_pair_exchanges(port: int, count: int = 50, tag: str = "ok") -> None:
    """A subscriber and a publisher exchange `count` QoS 1 messages: none lost, in order."""
    sub = TestClient(port, f"{tag}-sub", version=V5)
    sub.subscribe(f"{tag}/#", 1)
    pub = TestClient(port, f"{tag}-pub")
    for i in range(count):
        pub.publish(f"{tag}/t", str(i).encode(), qos=1)
    assert [m.payload for m in sub.expect(count)] == [str(i).encode() for i in range(count)]
    sub.disconnect()
    pub.disconnect()


def wait_until(predicate, timeout: float = 5.0) -> None:
    """Poll the broker (each call is a round trip through its loop), bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"


def test_slow_loris_connections_are_closed_by_the_connect_timeout(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0, connect_timeout=1.0))
    connect = encode(Connect("loris", keep_alive=60), 4)
    silent = [RawClient(thread.port) for _ in range(20)]
    for raw in silent:
        raw.send_bytes(connect[:1])  # one byte, then nothing
    tricklers = [RawClient(thread.port) for _ in range(10)]
    well_behaved_pair_exchanges(thread.port, tag="during")
    for i in range(min(len(connect) - 1, 8)):  # trickle: a byte every 0.2 s, never complete
        for raw in tricklers:
            with contextlib.suppress(OSError):  # already closed by the broker: that is the point
                raw.send_bytes(connect[i : i + 1])
        time.sleep(0.2)  # the attacker's pace, not synchronisation
    for raw in silent + tricklers:
        assert raw.wait_closed(timeout=5) == []
    assert limits(thread)["connect_timeout"] == 30
    wait_until(lambda: open_connections(thread) == 0)
    well_behaved_pair_exchanges(thread.port, tag="after")


def test_connection_flood_past_the_limit(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0, connect_timeout=1.0), max_connections=20)
    sub = TestClient(thread.port, "steady-sub", version=V5)
    sub.subscribe("steady/#", 1)
    pub = TestClient(thread.port, "steady-pub")
    flood = []
    for _ in range(200):
        try:
            flood.append(socket.create_connection(("127.0.0.1", thread.port), timeout=5))
        except OSError:
            break
    peak = open_connections(thread)
    for i in range(20):  # the connected pair keeps working during the flood
        pub.publish("steady/t", str(i).encode(), qos=1)
    assert [m.payload for m in sub.expect(20)] == [str(i).encode() for i in range(20)]
    for s in flood:  # every flood socket is closed by the broker: refused or timed out
        s.settimeout(5)
        assert s.recv(1) == b""
        s.close()
    assert peak <= 20
    refused = limits(thread)["max_connections"]
    assert refused >= len(flood) - 18 - 18  # at most two rounds of timed-out slots re-admitted
    assert len(flood) == 200
    wait_until(lambda: open_connections(thread) == 2)
    well_behaved_pair_exchanges(thread.port, tag="after")
    sub.disconnect()
    pub.disconnect()


def test_oversized_packets_are_refused_from_the_fixed_header(make_broker):
    thread = make_broker(BrokerSettings(sys_interval=0, max_packet_size=64 * 1024))
    huge = RawClient(thread.port)
    assert huge.connect("huge").reason_code == R.SUCCESS
    huge.send_bytes(b"\x30\xff\xff\xff\x7f")  # PUBLISH announcing 268,435,455 bytes, no body
    assert huge.wait_closed(timeout=5) == []  # closed at once: nothing was buffered
    v5 = RawClient(thread.port, version=5)
    assert v5.connect("big5").reason_code == R.SUCCESS
    v5.send(Publish("t", b"x" * (100 * 1024)))
    (disconnect,) = v5.wait_closed()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.PACKET_TOO_LARGE
    assert limits(thread) == {"max_packet_size": 2}
    well_behaved_pair_exchanges(thread.port)


def test_client_that_never_reads_is_cut_off_at_the_write_buffer_limit(make_broker):
    limit = 256 * 1024
    thread = make_broker(BrokerSettings(sys_interval=0, max_write_buffer=limit))
    deaf = socket.socket()
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.connect(("127.0.0.1", thread.port))
    deaf.sendall(
        encode(Connect("deaf"), 4)
        + encode(Subscribe(1, (Subscription("big/#", QoS.AT_MOST_ONCE),)), 4)
    )
    good = TestClient(thread.port, "good", version=V5)
    good.subscribe("big/#", 1)
    pub = TestClient(thread.port, "pub")
    payload = b"z" * 16 * 1024
    count, worst = 600, 0  # 9.6 MB: more than the kernel's socket buffers can hide

    def buffered() -> int:
        return sum(
            c.io.get_write_buffer_size()
            for c in thread.broker.core.connections
            if c.io is not None and not c.io.is_closing()
        )

    for i in range(count):
        pub.publish("big/x", payload, qos=1)
        if i % 20 == 0:
            worst = max(worst, thread.run(buffered))
    received = good.expect(count, timeout=20)
    assert len(received) == count and all(m.payload == payload for m in received)
    assert limits(thread) == {"max_write_buffer": 1}
    assert worst <= limit + 2 * len(payload) + 1024  # memory held for the deaf client bounded
    wait_until(lambda: open_connections(thread) == 2)  # the deaf client is gone
    deaf.close()
    good.disconnect()
    pub.disconnect()
    well_behaved_pair_exchanges(thread.port)
