"""A raw-socket MQTT client for tests that need exact control over the bytes on the wire
(malformed packets, withheld acknowledgements, DUP flags). Packets are encoded and decoded with our
codec, which has its own golden-byte tests."""

from __future__ import annotations

import socket
import time

from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.packets import Connect, Packet

TIMEOUT = 5.0


class RawClient:
    def __init__(
        self, port: int, version: int = 4, host: str = "127.0.0.1", source: str | None = None
    ) -> None:
        """`source`: a loopback address to connect from (127.0.0.2 is a second client host)."""
        self.sock = socket.create_connection(
            (host, port), timeout=TIMEOUT, source_address=(source, 0) if source else None
        )
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.version = version
        self.decoder = StreamDecoder(version=version)
        self.pending: list[Packet] = []

    def send(self, packet: Packet) -> None:
        self.sock.sendall(encode(packet, self.version))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self, client_id: str = "raw", **kwargs: object) -> Packet:
        self.send(Connect(client_id, protocol_version=self.version, **kwargs))  # type: ignore[arg-type]
        return self.recv()

    def recv(self, timeout: float = TIMEOUT) -> Packet:
        deadline = time.monotonic() + timeout
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no packet from the broker")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def wait_closed(self, timeout: float = TIMEOUT) -> list[Packet]:
        """Read until the broker closes the connection; returns the packets received before."""
        got = list(self.pending)
        self.pending.clear()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("broker did not close the connection")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return got
            if not data:
                return got
            got.extend(self.decoder.feed(data))

    def close(self) -> None:
        self.sock.close()
