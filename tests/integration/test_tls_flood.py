"""Connection admission before the TLS handshake, over real sockets.

Half-open TLS sockets (a TCP connection that never sends a ClientHello) take a connection slot
from the moment they are accepted; past `max_connections` they are closed at once; the admitted
ones are closed by the handshake timeout; failed handshakes are counted in `$SYS` and logged
rate-limited; a DISCONNECT over TLS is followed by close_notify and a FIN, not a reset. The broker
is built from a config dict as the gateway builds it.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time

import pytest
import trustme

from gateway.app import listener_specs
from gateway.config import parse
from tests.support.broker_thread import BrokerThread
from tests.support.raw import TIMEOUT


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(d / "server.pem")
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return d / "server.pem", client


@pytest.fixture
def tls_broker(pki):
    started = []

    def _start(**broker) -> BrokerThread:
        config = parse(
            {
                "broker": {
                    "sys_interval": 0,
                    **broker,
                    "listeners": [
                        {
                            "name": "tls",
                            "host": "127.0.0.1",
                            "port": 0,
                            "allow_anonymous": True,
                            "tls": {"certfile": str(pki[0]), "keyfile": str(pki[0])},
                        }
                    ],
                }
            }
        )
        thread = BrokerThread(
            config.broker.settings("test"),
            listener_specs(config),
            max_connections=config.broker.max_connections,
            max_connections_per_address=config.broker.max_connections_per_address,
        ).start()
        started.append(thread)
        return thread

    yield _start
    for thread in started:
        thread.stop()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def closed_by_broker(sock: socket.socket, timeout: float = TIMEOUT) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def is_closed(sock: socket.socket) -> bool:
    """Without waiting: the broker closed it (EOF or reset is ready to read)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def half_open(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    out = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        out.append(sock)
    return out


def mqtt_over_tls(port: int, client: ssl.SSLContext, client_id: str) -> bytes:
    """Handshake, CONNECT (3.1.1), and the CONNACK's bytes."""
    with (
        socket.create_connection(("127.0.0.1", port), TIMEOUT) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cid = client_id.encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
        tls.sendall(bytes([0x10, len(body)]) + body)
        return tls.recv(4)


def sys_counters(thread: BrokerThread) -> tuple[int, dict[str, int]]:
    broker = thread.broker
    assert broker is not None
    return thread.run(
        lambda: (
            broker.core.stats.tls_handshakes_failed,
            dict(broker.core.stats.limits_hit),
        )
    )


def test_half_open_tls_flood_is_admitted_up_to_the_limit_then_timed_out(tls_broker, pki, caplog):
    thread = tls_broker(
        max_connections=50, max_connections_per_address=0, tls_handshake_timeout=3.0
    )
    peak = 0

    def admitted() -> int:
        nonlocal peak
        total = thread.run(lambda: thread.broker.admission.total)
        peak = max(peak, total)
        return total

    with caplog.at_level(logging.INFO, "gateway.broker.server"):
        flood = half_open(thread.port, 300)
        wait_until(
            lambda: (
                thread.run(lambda: thread.broker.core.stats.limits_hit.get("max_connections", 0))
                == 250
            )
        )
        assert admitted() == 50
        # the 250 refused were closed at once, the 50 admitted are still waiting for a ClientHello
        wait_until(lambda: sum(map(is_closed, flood)) == 250)
        refused = [s for s in flood if is_closed(s)]
        assert len(refused) == 250
        with pytest.raises(OSError):  # reset or EOF in the handshake: the limit holds for all
            mqtt_over_tls(thread.port, pki[1], "blocked")
        waiting = [s for s in flood if s not in refused]
        assert all(closed_by_broker(s) for s in waiting)  # by the 1 s handshake timeout
        wait_until(lambda: admitted() == 0)
    assert peak <= 50
    failed, limits = sys_counters(thread)
    assert limits["tls_handshake_timeout"] == 50 and failed == 50
    assert limits["max_connections"] == 251  # 250 of the flood and the blocked client
    assert thread.run(lambda: thread.broker.core.sys_values(0)["tls/handshakes/failed"]) == 50
    # one line per cause, the rest counted: no log flood
    lines = [r.getMessage() for r in caplog.records]
    assert sum("refused: max_connections reached" in line for line in lines) == 1
    assert sum("not done in 3 s" in line for line in lines) == 1
    assert mqtt_over_tls(thread.port, pki[1], "after") == b"\x20\x02\x00\x00"  # served again
    for sock in flood:
        sock.close()


def test_the_per_address_limit_leaves_other_hosts_in(tls_broker, pki):
    thread = tls_broker(max_connections=100, max_connections_per_address=5)
    mine = half_open(thread.port, 6)
    assert closed_by_broker(mine[5], 2) and not closed_by_broker(mine[0], 0.2)
    other = half_open(thread.port, 1, source="127.0.0.2")  # another host (still loopback)
    assert not closed_by_broker(other[0], 0.2)
    assert sys_counters(thread)[1] == {"max_connections_per_address": 1}
    assert thread.run(lambda: dict(thread.broker.admission.by_address)) == {
        "127.0.0.1": 5,
        "127.0.0.2": 1,
    }
    for sock in mine + other:
        sock.close()


def test_failed_handshakes_are_counted_and_logged_rate_limited(tls_broker, pki, caplog):
    thread = tls_broker()
    with caplog.at_level(logging.INFO, "gateway.broker.server"):
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", thread.port), TIMEOUT) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: gateway\r\n\r\n")  # not a ClientHello
                assert closed_by_broker(sock)
        expired = trustme.CA()  # a client that does not trust the server's CA gives up
        untrusting = ssl.create_default_context()
        expired.configure_trust(untrusting)
        with pytest.raises(ssl.SSLCertVerificationError):
            mqtt_over_tls(thread.port, untrusting, "x")
        wait_until(lambda: sys_counters(thread)[0] == 21)
    lines = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(lines) == 1 and "failed" in lines[0]
    assert mqtt_over_tls(thread.port, pki[1], "good") == b"\x20\x02\x00\x00"
    assert sys_counters(thread)[0] == 21


def test_over_tls_the_disconnect_is_followed_by_close_notify_not_a_reset(tls_broker, pki):
    thread = tls_broker()
    connect_then_bad_publish = bytes.fromhex(
        "100f00044d5154540502003c000002633630080001740323000078"
    )  # topic alias 0: 0x94
    with (
        socket.create_connection(("127.0.0.1", thread.port), TIMEOUT) as raw,
        pki[1].wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as tls,
    ):  # a bare EOF raises
        tls.sendall(connect_then_bad_publish)
        got = b""
        while True:
            data = tls.recv(4096)  # b"" only after the broker's close_notify [RFC 8446 6.1]
            if not data:
                break
            got += data
    # CONNACK 0x00 (with properties), then DISCONNECT 0x94 with a reason string
    assert got[0] == 0x20 and got[3] == 0x00
    disconnect = got[2 + got[1] :]
    assert disconnect[0] == 0xE0 and disconnect[2] == 0x94
