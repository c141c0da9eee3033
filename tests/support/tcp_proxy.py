"""A TCP proxy the test owns, to simulate cloud outages between the gateway and the cloud broker.

Modes: `pass` (bytes flow), `cut` (every connection is reset and new ones are reset at once, like a
dead route), `blackhole` (connections stay open but every byte vanishes, no RST: only keepalive or
an ack timeout can notice). One selector thread; every wait in it is bounded.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "cut", "blackhole")
        with self._lock:
            self.mode = mode
            if mode == "cut":
                for sock in list(self._pairs):
                    self._reset(sock)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        for sock in list(self._pairs):
            self._reset(sock)
        self._listener.close()

    def _reset(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._pairs.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            with contextlib.suppress(OSError):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        if self.mode == "cut":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if self.mode == "blackhole":  # accepted, never answered (the upstream is never dialled)
            client.settimeout(5)
            self._pairs[client] = None  # type: ignore[assignment]
            self._sel.register(client, selectors.EVENT_READ, "hole")
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        for s in (client, upstream):
            s.settimeout(5)  # recv only when readable; sendall waits for room, at most 5 s
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._sel.register(client, selectors.EVENT_READ, "pipe")
        self._sel.register(upstream, selectors.EVENT_READ, "pipe")

    def _run(self) -> None:
        while not self._stop:
            for key, _ in self._sel.select(timeout=0.1):
                with self._lock:
                    if key.data is None:
                        self._accept()
                    else:
                        self._pump(key.fileobj)  # type: ignore[arg-type]

    def _pump(self, sock: socket.socket) -> None:
        if sock not in self._pairs:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._reset(sock)
            return
        peer = self._pairs.get(sock)
        if self.mode == "blackhole" or peer is None:
            return  # the bytes vanish
        try:
            peer.sendall(data)
        except OSError:
            self._reset(sock)
