"""MQTT over WebSockets at /mqtt: the upgrade, then wsproto frames around a broker `Connection`.

How this works: `upgrade()` checks the handshake (RFC 6455 section 4.2.1: GET, `Upgrade: websocket`,
version 13, a key) and the subprotocol (`mqtt`, or the older `mqttv3.1`; [MQTT-6.0.0-3]) and answers
101. From then on the socket's bytes are cut into whole frames (at most the broker's maximum packet
size plus 1 KiB each: larger closes with 1009); plain binary frames are unmasked by
`gateway.web.frames`, every other frame goes to a `wsproto` frame `Connection`. The payload of
binary frames goes, in order and without waiting for whole messages, to a broker `Connection` on the
web listener's name, so the broker applies the same packet size limit, keep-alive, authentication
(the web listener's anonymous policy, the password file, SCRAM), ACLs and $SYS counts as on TCP. The
broker writes through `WsIO`, which wraps each write in one binary frame [MQTT-6.0.0-2: a packet may
span frames, frames carry only binary data]. A text frame is a protocol error [MQTT-6.0.0-1]: close
code 1003. A malformed frame closes with the code wsproto names (1002, 1007, 1009); only that
connection is affected. Ping frames are answered by pong.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason, ParseFailed
from wsproto.utilities import LocalProtocolError, generate_accept_token

from gateway.web import frames
from gateway.web.server import Request, Response

if TYPE_CHECKING:
    from gateway.web.server import HttpProtocol, WebServer

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("mqtt", "mqttv3.1")  # in order of preference


def _tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def upgrade(server: WebServer, request: Request) -> Response | None:
    headers = request.headers
    if "websocket" not in (
        t.lower() for t in _tokens(headers.get("upgrade", ""))
    ) or "upgrade" not in (t.lower() for t in _tokens(headers.get("connection", ""))):
        return Response(
            426,
            b"MQTT over WebSockets: this path needs a WebSocket upgrade\n",
            headers=[("Upgrade", "websocket")],
        )
    key = headers.get("sec-websocket-key", "")
    if headers.get("sec-websocket-version") != "13" or not key:
        server.count("bad_requests")
        return Response(
            400,
            b"WebSocket version 13 with a Sec-WebSocket-Key required\n",
            headers=[("Sec-WebSocket-Version", "13")],
            close=True,
        )
    offered = _tokens(headers.get("sec-websocket-protocol", ""))
    chosen = next((p for p in SUBPROTOCOLS if p in offered), None)
    if chosen is None:
        server.count("bad_requests")
        return Response(400, b"subprotocol mqtt required (Sec-WebSocket-Protocol)\n", close=True)
    protocol = request.protocol
    trailing = protocol.switch_protocol(
        Response(
            101,
            content_type="",
            headers=[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode()),
                ("Sec-WebSocket-Protocol", chosen),
            ],
        )
    )
    link = MqttOverWebSocket(server, protocol)
    protocol.upgraded = link
    if trailing:
        link.receive_data(trailing)
    return None


class MqttOverWebSocket:
    """The upgraded socket: wsproto in, the broker `Connection` above it; also that
    Connection's `io` (write, close, abort, is_closing, get_write_buffer_size)."""

    def __init__(self, server: WebServer, protocol: HttpProtocol) -> None:
        self.server = server
        self.protocol = protocol
        self.ws = WsConnection(ConnectionType.SERVER)
        self.pending = bytearray()  # received bytes not yet taken apart into frames
        self.fragmented = False  # wsproto holds the first frames of a message
        # a frame is buffered whole before it is parsed: one may carry a packet of the broker's
        # maximum size plus a little framing, no more (larger: close 1009)
        self.max_frame = server.gateway.broker.settings.max_packet_size + 1024
        broker = server.gateway.broker
        self.broker = broker
        self.conn = broker.core.open_connection(broker.clock(), protocol.peer, server.config.name)
        self.conn.io = self
        if protocol.tls is not None:
            self.conn.peer_cert = protocol.tls.peer_certificate()
        server.counters["websockets"] = server.counters.get("websockets", 0) + 1

    # -- bytes from the socket -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Plain binary frames through `frames.split`; any other frame, whole, through wsproto
        (and every frame while a fragmented message is open there)."""
        if self.ws.state is ConnectionState.CLOSED:
            return
        pending = self.pending
        pending += data
        while pending and not self.conn.closed and self.ws.state is ConnectionState.OPEN:
            if not self.fragmented:
                payloads, used = frames.split(pending)
                if used:
                    del pending[:used]
                    self._deliver(payloads)
                    continue
            size = frames.frame_length(pending)
            if size is not None and size > self.max_frame:
                self._fail(CloseReason.MESSAGE_TOO_BIG, f"frame of {size} bytes")
                return
            if size is None or size > len(pending):
                return  # wait for the rest of this frame (at most max_frame bytes)
            one = bytes(pending[:size])
            del pending[:size]
            opcode, fin = one[0] & 0x0F, one[0] & 0x80
            if opcode in (0, 1, 2):
                self.fragmented = not fin
            self._wsproto(one)

    def _wsproto(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        payload: list[bytes] = []  # the binary data of this frame, handed on in one piece
        try:
            for event in ws.events():
                if isinstance(event, BytesMessage):
                    payload.append(bytes(event.data))  # wsproto may hand a bytearray
                    continue
                self._deliver(payload)
                if isinstance(event, TextMessage):
                    self._fail(CloseReason.UNSUPPORTED_DATA, "text frame (MQTT needs binary)")
                    return
                elif isinstance(event, Ping):
                    self.protocol.write(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.OPEN:  # wsproto's verdict on a bad frame
                        self._fail(event.code, event.reason or "malformed frame")
                        return
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        self.protocol.write(ws.send(event.response()))
                    self.protocol.close()
                    return
                if self.conn.closed:
                    return
        except ParseFailed as exc:
            self._deliver(payload)
            self._fail(exc.code, str(exc))
            return
        self._deliver(payload)

    def _deliver(self, payload: list[bytes]) -> None:
        """Frames carry a byte stream [MQTT-6.0.0-2]: what arrived in one read goes to the broker
        at once, and the broker's answers go out in one frame (one flush), not one per frame."""
        if not payload or self.conn.closed:
            payload.clear()
            return
        data = payload[0] if len(payload) == 1 else b"".join(payload)
        payload.clear()
        self.conn.receive_data(bytes(data), self.broker.clock())
        self.broker.flush()

    def _fail(self, code: int, why: str) -> None:
        self.server.count("bad_frames")
        self.broker.ratelog.log(
            logging.INFO,
            "web_bad_frame",
            "web: WebSocket from %s closed: %s",
            self.protocol.peer,
            why,
        )
        with contextlib.suppress(LocalProtocolError):
            self.protocol.write(self.ws.send(CloseConnection(code=code, reason=why[:100])))
        self.conn.close()
        self.protocol.close()

    def connection_lost(self) -> None:
        conn = self.conn
        conn.connection_lost(self.broker.clock())
        conn.io = None
        self.broker.flush()

    def server_stopping(self) -> None:
        self.conn.announce_shutdown()
        self.broker.flush()

    # -- the broker Connection's io ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.ws.state is ConnectionState.OPEN:
            self.protocol.write(self.ws.send(BytesMessage(data=data)))

    def close(self) -> None:
        if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self.protocol.write(self.ws.send(CloseConnection(code=CloseReason.NORMAL_CLOSURE)))
        self.protocol.close()

    def abort(self) -> None:
        self.protocol.abort()

    def is_closing(self) -> bool:
        return self.protocol.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.protocol.get_write_buffer_size()
