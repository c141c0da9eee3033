"""The web listener: HTTP/1.1 with h11 (sans-IO), one `asyncio.Protocol` per socket.

How this works: an accepted socket asks the broker's `Admission` first, like every MQTT listener
(the web listener is one more listener in `broker.max_connections`, with its own
`max_connections` and the per-address limit), then runs TLS itself when configured (the broker's
`ServerTls`, so the handshake is timed out and the buffers stay small). Bytes go to an
`h11.Connection`; a complete request (head and body within `max_request_bytes`, whole within
`request_timeout`) goes to `gateway.web.routes`, whose answer is sent before the next request is
read (HTTP/1.1 keep-alive, no pipelining in parallel). A keep-alive connection idle for
`idle_timeout` is closed. A request that h11 cannot parse, or one that is too large, gets 400/413/431
and that connection is closed; nothing else is affected. Two kinds of responses outlive the request:
`/api/events` (server-sent events, written by `gateway.web.live`) and the upgrade of `/mqtt` to a
WebSocket, after which the socket carries MQTT for a broker `Connection` (`gateway.web.websocket`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import h11

from gateway.broker.auth.tls import ServerTls, SSLError
from gateway.web.config import WebConfig

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from gateway.app import Gateway
    from gateway.broker.admission import Slot

log = logging.getLogger(__name__)

SERVER_HEADER = b"edge-gateway"
MAX_WRITE_BUFFER = 1024 * 1024  # a streaming client that reads nothing is cut off past this


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: str
    loopback: bool
    tls: bool
    protocol: HttpProtocol


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


Handler = Any  # (Request) -> Response | Awaitable[Response] | None (the handler took the socket)


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: WebServer) -> None:
        self.server = server
        self.config = server.config
        self.transport: asyncio.Transport | None = None
        self.slot: Slot | None = None
        self.tls: ServerTls | None = None
        self.h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.config.max_request_bytes
        )
        self.peer = ""
        self.peer_ip = ""
        self.timer: asyncio.TimerHandle | None = None
        self.request: Request | None = None
        self.body: list[bytes] = []
        self.body_size = 0
        self.busy = False  # a request is being answered
        self.upgraded: Any = None  # the WebSocket glue once /mqtt switched protocols
        self.streaming = False  # an open server-sent-events response
        self.closed = False

    # -- socket events -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server's protocol: its transport is a Transport (asyncio's and uvloop's)
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        inet = isinstance(peer, tuple)
        self.peer_ip = peer[0] if inet else ""
        self.peer = f"{peer[0]}:{peer[1]}" if inet else str(peer or "unix")
        broker = self.server.gateway.broker
        admitted = broker.admission.admit(self.config.name, self.peer_ip or None)
        if isinstance(admitted, str):
            broker.ratelog.log(
                logging.WARNING,
                admitted,
                "web connection from %s refused: %s reached",
                self.peer,
                admitted,
            )
            self.transport.abort()
            return
        self.slot = admitted
        self.server.protocols.add(self)
        if inet:
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.ssl_context is not None:
            self.tls = ServerTls(self.server.ssl_context)
        self._arm(self.config.request_timeout, "request")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.tls is not None:
            try:
                data = self.tls.receive_data(data)
            except SSLError as exc:
                self.server.count("tls_errors")
                log.info("web: TLS error from %s: %s", self.peer, exc.reason or exc)
                self.abort()
                return
            out = self.tls.data_to_send()
            if out and self.transport is not None:
                self.transport.write(out)
            if not data:
                return
        if self.upgraded is not None:
            self.upgraded.receive_data(data)
            return
        if self.streaming:
            return  # an SSE client has nothing to say; ignore what it sends
        if self.timer is None or self.timer_kind == "idle":
            self._arm(self.config.request_timeout, "request")
        try:
            self.h11.receive_data(data)
        except h11.RemoteProtocolError:  # data after the peer's own close
            self.abort()
            return
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        if self.upgraded is not None:
            self.upgraded.connection_lost()
        self.server.routes.streams.discard(self)
        if self.slot is not None:
            self.server.gateway.broker.admission.release(self.slot)
            self.server.protocols.discard(self)

    # -- requests ------------------------------------------------------------------------------

    def _pump(self) -> None:
        while not self.busy and not self.closed and self.upgraded is None:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._start_request(event)
            elif isinstance(event, h11.Data):
                self.body_size += len(event.data)
                if self.body_size > self.config.max_request_bytes:
                    self.server.count("too_large")
                    self.respond(Response(413, b"request body too large\n", close=True))
                    return
                self.body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def _start_request(self, event: h11.Request) -> None:
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.request = Request(
            event.method.decode("latin-1"),
            path,
            query,
            headers,
            b"",
            self.peer,
            _is_loopback(self.peer_ip),
            self.tls is not None,
            self,
        )
        self.body, self.body_size = [], 0
        # h11 bounds a head that arrives in pieces (max_incomplete_event_size); one that arrives
        # in one read is measured here
        head = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
        if head > self.config.max_request_bytes:
            self.server.count("too_large")
            self.respond(Response(431, b"request header fields too large\n", close=True))
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.config.max_request_bytes:
            self.server.count("too_large")
            self.respond(Response(413, b"request body too large\n", close=True))

    def _dispatch(self) -> None:
        request = self.request
        assert request is not None
        request.body = b"".join(self.body)
        self._disarm()  # the handler is ours to finish; no client timeout meanwhile
        self.busy = True
        self.server.count("requests")
        try:
            result = self.server.routes.handle(request)
        except Exception:  # a bug in a handler: that request fails, the listener goes on
            log.exception("web: %s %s failed", request.method, request.path)
            result = Response(500, b"internal error\n", close=True)
        if isinstance(result, Awaitable):
            task = asyncio.ensure_future(result)
            self.server.tasks.add(task)
            task.add_done_callback(self._handler_done)
        elif result is not None:
            self.respond(result)

    def _handler_done(self, task: asyncio.Future) -> None:
        self.server.tasks.discard(task)
        if task.cancelled() or self.closed:
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "web: %s %s failed: %r",
                self.request and self.request.method,
                self.request and self.request.path,
                exc,
            )
            self.respond(Response(500, b"internal error\n", close=True))
        elif task.result() is not None:
            self.respond(task.result())

    def _bad_request(self, exc: h11.RemoteProtocolError) -> None:
        status = exc.error_status_hint
        self.server.count("too_large" if status == 431 else "bad_requests")
        self.server.gateway.broker.ratelog.log(
            logging.INFO, "web_bad_request", "web: bad request from %s: %s", self.peer, exc
        )
        self.respond(Response(status, f"{exc}\n".encode(), close=True))

    # -- responses -----------------------------------------------------------------------------

    def respond(self, response: Response) -> None:
        """Send a whole response; then read the next request, or close."""
        if self.closed:
            return
        headers = self._headers(response)
        headers.append(("Content-Length", str(len(response.body))))
        try:
            out = [
                self.h11.send(
                    h11.Response(
                        status_code=response.status,
                        headers=headers,
                        reason=_reason(response.status),
                    )
                )
            ]
            if response.body and (self.request is None or self.request.method != "HEAD"):
                out.append(self.h11.send(h11.Data(data=response.body)))
            out.append(self.h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # e.g. the request was never whole: just close
            self.close()
            return
        self.write(b"".join(x for x in out if x))  # one write: one segment, one TLS record
        self.busy = False
        if response.close or self.h11.our_state is h11.MUST_CLOSE:
            self.close()
            return
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            self.close()
            return
        self._arm(self.config.idle_timeout, "idle")
        self._pump()

    def start_stream(self, response: Response) -> None:
        """Send the head of a response whose body follows in pieces (`send_chunk`)."""
        headers = self._headers(response)
        self.write(
            self.h11.send(
                h11.Response(
                    status_code=response.status, headers=headers, reason=_reason(response.status)
                )
            )
        )
        self.streaming = True

    def send_chunk(self, data: bytes) -> bool:
        """One piece of a streaming body; False once the connection is gone or too far behind."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.server.count("slow_clients")
            log.info("web: %s is not reading its event stream: closed", self.peer)
            self.abort()
            return False
        self.write(self.h11.send(h11.Data(data=data)))
        return True

    def switch_protocol(self, response: Response) -> bytes:
        """Send 101 Switching Protocols; returns what the client sent after its request."""
        self.write(
            self.h11.send(
                h11.InformationalResponse(
                    status_code=101,
                    headers=self._headers(response, server=False),
                    reason=b"Switching Protocols",
                )
            )
        )
        self.busy = False
        data, _closed = self.h11.trailing_data
        return bytes(data)

    def _headers(self, response: Response, server: bool = True) -> list[tuple[str, str]]:
        headers = [("Server", SERVER_HEADER.decode())] if server else []
        if response.content_type and response.status >= 200:
            headers.append(("Content-Type", response.content_type))
        if response.status >= 200:
            headers += [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
        headers += response.headers
        if response.close:
            headers.append(("Connection", "close"))
        return headers

    # -- the transport -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not data or self.transport is None or self.transport.is_closing():
            return
        if self.tls is not None:
            data = self.tls.encrypt(data)
        self.transport.write(data)

    def get_write_buffer_size(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.closed or self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        self._disarm()
        if self.transport is not None and not self.transport.is_closing():
            if self.tls is not None and self.tls.established:
                with contextlib.suppress(SSLError):
                    self.transport.write(self.tls.close())
            self.transport.close()

    def abort(self) -> None:
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    # -- timeouts ------------------------------------------------------------------------------

    timer_kind = ""

    def _arm(self, seconds: float, kind: str) -> None:
        self._disarm()
        self.timer_kind = kind
        self.timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        if self.timer_kind == "request":
            self.server.count("timeouts")
            self.server.gateway.broker.ratelog.log(
                logging.INFO,
                "web_timeout",
                "web: %s sent no whole request in %g s: closed",
                self.peer,
                self.config.request_timeout,
            )
            if self.h11.our_state is h11.SEND_RESPONSE or self.h11.our_state is h11.IDLE:
                try:
                    self.respond(Response(408, b"request timeout\n", close=True))
                    return
                except h11.LocalProtocolError:
                    pass
        self.abort()


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _is_loopback(ip: str) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class WebServer:
    """The listener and everything it serves; `start()` binds, `stop()` closes every connection."""

    def __init__(self, gateway: Gateway, config: WebConfig) -> None:
        from gateway.web.routes import Routes

        self.gateway = gateway
        self.config = config
        self.ssl_context = _ssl_context(config)
        self.protocols: set[HttpProtocol] = set()
        self.tasks: set[asyncio.Future] = set()
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "requests",
                "bad_requests",
                "too_large",
                "timeouts",
                "slow_clients",
                "tls_errors",
                "logins_failed",
            ),
            0,
        )
        self.routes = Routes(self)
        self._server: asyncio.Server | None = None
        self.metrics_registry: CollectorRegistry | None = None  # made at the first scrape
        gateway.broker.admission.add_listener(config.name, config.max_connections)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self), self.config.host, self.config.port, reuse_address=True
        )
        await self.routes.start()
        host, port = self.address
        log.info(
            "web: listening on %s://%s:%d", "https" if self.ssl_context else "http", host, port
        )

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self.routes.stop()
        for task in list(self.tasks):
            task.cancel()
        for protocol in list(self.protocols):
            if protocol.upgraded is not None:
                protocol.upgraded.server_stopping()
            protocol.close()
        await self._server.wait_closed()
        self._server = None


def _ssl_context(config: WebConfig) -> Any:  # ssl.SSLContext; ssl may be kept out
    if not config.tls:
        return None
    from gateway.broker.auth.tls import server_context

    return server_context(str(config.certfile), str(config.keyfile))
