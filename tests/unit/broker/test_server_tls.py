"""The sans-IO TLS layer of TLS listeners, against a client over memory BIOs (no sockets)."""

from __future__ import annotations

import contextlib
import ssl

import pytest
import trustme

from gateway.broker.auth.tls import SLICE, ServerTls, server_context


@pytest.fixture(scope="module")
def contexts(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(d / "server.pem")
    server = server_context(str(d / "server.pem"), str(d / "server.pem"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


class Client:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")

    def handshake(self) -> bool:
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def read_all(self, data: bytes) -> bytes:
        self.incoming.write(data)
        out = b""
        while True:
            try:
                chunk = self.obj.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                return out
            if not chunk:
                return out
            out += chunk


def established(contexts) -> tuple[ServerTls, Client]:
    server = ServerTls(contexts[0])
    client = Client(contexts[1])
    while not (client.handshake() and server.established):
        assert server.receive_data(client.outgoing.read()) == b""
        client.incoming.write(server.data_to_send())
    return server, client


def test_handshake_then_data_both_ways_in_record_sized_slices(contexts) -> None:
    server, client = established(contexts)
    big = bytes(range(256)) * 1000  # 256,000 bytes: sixteen records and a bit
    client.obj.write(big)
    assert server.receive_data(client.outgoing.read()) == big
    assert client.read_all(server.encrypt(big)) == big
    assert client.read_all(server.encrypt(b"x")) == b"x"
    assert SLICE == 16 * 1024  # one TLS record of plaintext [RFC 8446 section 5.1]


def test_a_record_split_across_reads_is_returned_when_complete(contexts) -> None:
    server, client = established(contexts)
    client.obj.write(b"hello")
    wire = client.outgoing.read()
    assert server.receive_data(wire[:3]) == b""
    assert server.receive_data(wire[3:]) == b"hello"


def test_garbage_instead_of_a_client_hello_raises_ssl_error(contexts) -> None:
    server = ServerTls(contexts[0])
    with pytest.raises(ssl.SSLError):
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not server.established


def test_close_sends_close_notify_and_the_peers_is_seen(contexts) -> None:
    server, client = established(contexts)
    alert = server.close()
    assert alert  # an encrypted close_notify record
    client.incoming.write(alert)
    assert client.obj.read(10) == b""  # ssl's answer to a close_notify
    server2, client2 = established(contexts)
    with contextlib.suppress(ssl.SSLWantReadError):
        client2.obj.unwrap()
    assert server2.receive_data(client2.outgoing.read()) == b""
    assert server2.peer_closed
