"""MQTT over WebSockets at /mqtt: the upgrade, then wsproto frames around a broker `Connection`.

How this works: `upgrade()` checks the handshake (RFC 6455 section 4.2.1: GET, `Upgrade: websocket`,
version 13, a key) and the subprotocol (`mqtt`, or the older `mqttv3.1`; [MQTT-6.0.0-3]) and answers
101. From then on the socket's bytes go to a `wsproto` frame `Connection`; the payload of binary
frames goes, in order and without waiting for whole messages, to a broker `Connection` opened on the
web listener's name, so the broker applies the same packet size limit, keep-alive, authentication
(the web listener's anonymous policy, the password file, SCRAM), ACLs and $SYS counts as on TCP. The
broker writes through `WsIO`, which wraps each write in one binary frame [MQTT-6.0.0-2: a packet may
span frames, frames carry only binary data]. A text frame is a protocol error [MQTT-6.0.0-1]: close
code 1003. A malformed frame closes with the code wsproto names (1002, 1007, 1009); only that
connection is affected. Ping frames are answered by pong.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason, ParseFailed
from wsproto.utilities import LocalProtocolError, generate_accept_token

from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Disconnect
from gateway.web.server import Request, Response

if TYPE_CHECKING:
    from gateway.web.server import HttpProtocol, WebServer

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("mqtt", "mqttv3.1")  # in order of preference


def _tokens(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def upgrade(server: WebServer, request: Request) -> Response | None:
    headers = request.headers
    if "websocket" not in (t.lower() for t in _tokens(headers.get("upgrade", ""))) or \
            "upgrade" not in (t.lower() for t in _tokens(headers.get("connection", ""))):
        return Response(426, b"MQTT over WebSockets: this path needs a WebSocket upgrade\n",
                        headers=[("Upgrade", "websocket")])
    key = headers.get("sec-websocket-key", "")
    if headers.get("sec-websocket-version") != "13" or not key:
        server.count("bad_requests")
        return Response(400, b"WebSocket version 13 with a Sec-WebSocket-Key required\n",
                        headers=[("Sec-WebSocket-Version", "13")], close=True)
    offered = _tokens(headers.get("sec-websocket-protocol", ""))
    chosen = next((p for p in SUBPROTOCOLS if p in offered), None)
    if chosen is None:
        server.count("bad_requests")
        return Response(400, b"subprotocol mqtt required (Sec-WebSocket-Protocol)\n", close=True)
    protocol = request.protocol
    trailing = protocol.switch_protocol(Response(101, content_type="", headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode()),
        ("Sec-WebSocket-Protocol", chosen)]))
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
        broker = server.gateway.broker
        self.broker = broker
        self.conn = broker.core.open_connection(broker.clock(), protocol.peer, server.config.name)
        self.conn.io = self
        if protocol.tls is not None:
            self.conn.peer_cert = protocol.tls.peer_certificate()
        server.counters["websockets"] = server.counters.get("websockets", 0) + 1

    # -- bytes from the socket -----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        ws = self.ws
        if ws.state is ConnectionState.CLOSED:
            return
        ws.receive_data(data)
        try:
            for event in ws.events():
                if isinstance(event, BytesMessage):
                    self.conn.receive_data(bytes(event.data), self.broker.clock())
                    self.broker.flush()
                elif isinstance(event, TextMessage):
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
            self._fail(exc.code, str(exc))

    def _fail(self, code: int, why: str) -> None:
        self.server.count("bad_frames")
        self.broker.ratelog.log(logging.INFO, "web_bad_frame", "web: WebSocket from %s closed: "
                                "%s", self.protocol.peer, why)
        try:
            self.protocol.write(self.ws.send(CloseConnection(code=code, reason=why[:100])))
        except LocalProtocolError:
            pass
        self.conn.close()
        self.protocol.close()

    def connection_lost(self) -> None:
        conn = self.conn
        conn.connection_lost(self.broker.clock())
        conn.io = None
        self.broker.flush()

    def server_stopping(self) -> None:
        conn = self.conn
        if conn.connected and conn.version == 5 and not conn.closed:
            conn.send(Disconnect(ReasonCode.SERVER_SHUTTING_DOWN))
        conn.clean_disconnect = False
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
