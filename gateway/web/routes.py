"""What the web listener serves: one table of (method, path) -> handler, plus two prefixes.

    GET  /                         the status page (gateway.web.page)
    GET  /app.js                   its script (vendored in the package, no CDN)
    GET  /login, POST /login       the login form; POST /logout
    GET  /api/status|sensors|relays|bridges|broker|all    JSON snapshots (gateway.web.state)
    GET  /api/sensors/<name>/history                       the in-memory plot data
    POST /api/relays/<name>        switch a relay (body: ON / OFF / TOGGLE or the JSON command)
    GET  /api/events               server-sent events: a snapshot every LIVE_PERIOD seconds
    GET  /metrics                  Prometheus text exposition (gateway.web.metrics)
    GET  /mqtt                     MQTT over WebSockets (gateway.web.websocket)

Anything else is 404; a known path with another method is 405.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from gateway.web.access import Access
from gateway.web.history import History
from gateway.web.server import Request, Response
from gateway.web.state import GatewayState

if TYPE_CHECKING:
    from gateway.web.server import WebServer

log = logging.getLogger(__name__)

LIVE_PERIOD = 2.0  # seconds between two snapshots on /api/events
MAX_EVENT_STREAMS = 8  # open /api/events streams; overflow policy: the newest is refused (503)
JSON = "application/json"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def host_allowed(host: str) -> bool:
    """Whether a loopback request's Host header names this machine. Loopback visitors get read
    access (and, without a password file, may switch relays): a web page that points a name of
    its own at 127.0.0.1 (DNS rebinding) must not get the same through the visitor's browser, and
    its requests carry that name in Host."""
    name = host.strip().lower()
    if name.startswith("["):  # [v6]:port
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if not name:
        return True  # HTTP/1.0 without Host: not a browser
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    own = socket.gethostname().lower()
    return name in ("localhost", own, f"{own}.local") or name.endswith(".localhost")


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":"), default=str).encode(), JSON)


def error(status: int, message: str, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)


class Routes:
    def __init__(self, server: WebServer) -> None:
        self.server = server
        gateway = server.gateway
        self.state = GatewayState(gateway)
        self.access = Access(gateway.auth, server.config.session_hours * 3600)
        hours = server.config.history_hours
        self.history = History(hours * 3600, server.config.history_points, time.monotonic())
        self.streams: set[Any] = set()
        self._live: asyncio.Task | None = None
        self.table = {
            ("GET", "/"): self.page,
            ("GET", "/app.js"): self.script,
            ("GET", "/favicon.ico"): lambda request: Response(204, content_type=""),
            ("GET", "/login"): self.login_form,
            ("POST", "/login"): self.login,
            ("POST", "/logout"): self.logout,
            ("GET", "/api/status"): self.api(lambda: self.state.status()),
            ("GET", "/api/sensors"): self.api(lambda: self.state.sensors()),
            ("GET", "/api/relays"): self.api(lambda: self.state.relays()),
            ("GET", "/api/bridges"): self.api(lambda: self.state.bridges()),
            ("GET", "/api/broker"): self.api(lambda: self.state.broker()),
            ("GET", "/api/all"): self.api(lambda: self.state.everything()),
            ("GET", "/api/events"): self.events,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/mqtt"): self.mqtt,
        }

    async def start(self) -> None:
        sensors = self.state.sensors_service
        if sensors is not None:
            for item in sensors.snapshot():
                self.history.intervals[item["name"]] = item["interval"]
            sensors.observers.append(self.history.record)

    async def stop(self) -> None:
        sensors = self.state.sensors_service
        if sensors is not None and self.history.record in sensors.observers:
            sensors.observers.remove(self.history.record)
        if self._live is not None:
            self._live.cancel()
            self._live = None

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Any:
        # (not /mqtt: MQTT clients send any Host, and a browser may open a WebSocket to any
        # origin anyway; MQTT's own authentication and ACLs apply there)
        if (
            request.loopback
            and request.path != "/mqtt"
            and not host_allowed(request.headers.get("host", ""))
        ):
            self.server.count("bad_host")
            return error(
                421,
                "a loopback request must name this machine in Host (an IP address, "
                "localhost or the host name)",
            )
        method = "GET" if request.method == "HEAD" else request.method
        handler = self.table.get((method, request.path))
        if handler is not None:
            return handler(request)
        if request.path.startswith("/api/relays/") and method == "POST":
            return self.switch(request, request.path.removeprefix("/api/relays/"))
        if (
            request.path.startswith("/api/sensors/")
            and request.path.endswith("/history")
            and method == "GET"
        ):
            return self.sensor_history(
                request, request.path[len("/api/sensors/") : -len("/history")]
            )
        if any(path == request.path for _, path in self.table):
            allowed = ", ".join(sorted(m for m, p in self.table if p == request.path))
            return Response(405, b"method not allowed\n", headers=[("Allow", allowed)])
        return Response(404, b"not found\n")

    def _denied(self, request: Request) -> Response | None:
        if self.access.can_read(request):
            return None
        if request.path.startswith("/api/") or request.path in ("/metrics", "/mqtt"):
            return error(401, "login required")
        return Response(303, b"", headers=[("Location", "/login")])

    def api(self, build: Any) -> Any:
        def handler(request: Request) -> Response:
            return self._denied(request) or json_response(build())

        return handler

    # -- the page ------------------------------------------------------------------------------

    def page(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        from gateway.web.page import render_page

        html = render_page(
            self.state.everything(),
            self.history,
            time.monotonic(),
            csrf=self.access.csrf_token(request) or "",
            user=self.access.user(request),
            logins=self.access.logins_possible,
        )
        return Response(
            200,
            html.encode(),
            "text/html; charset=utf-8",
            headers=[("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer")],
        )

    def script(self, request: Request) -> Response:
        from gateway.web.page import SCRIPT

        return Response(200, SCRIPT.encode(), "text/javascript; charset=utf-8")

    def login_form(self, request: Request, message: str = "", status: int = 200) -> Response:
        from gateway.web.page import render_login

        html = render_login(message, self.access.logins_possible)
        return Response(
            status,
            html.encode(),
            "text/html; charset=utf-8",
            headers=[("Content-Security-Policy", CSP)],
        )

    async def login(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        address = request.protocol.peer_ip
        if self.access.busy(address):
            self.server.count("logins_refused")
            return Response(
                429,
                b"a login from this address is still being answered\n",
                headers=[("Retry-After", "1")],
            )
        sid = await self.access.login(address, form.get("user", ""), form.get("password", ""))
        if sid is None:
            self.server.count("logins_failed")
            log.warning("web: failed login for %r from %s", form.get("user", ""), request.peer)
            return self.login_form(request, "Wrong user name or password.", 403)
        log.info("web: %s logged in from %s", form.get("user"), request.peer)
        return Response(
            303,
            b"",
            headers=[("Location", "/"), ("Set-Cookie", self.access.cookie(sid, request.tls))],
        )

    def logout(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if not self.access.csrf_ok(request, form):
            return error(403, "missing or wrong CSRF token")
        self.access.logout(request)
        return Response(
            303, b"", headers=[("Location", "/login"), ("Set-Cookie", self.access.expired_cookie())]
        )

    # -- the API that is not a plain snapshot --------------------------------------------------

    def sensor_history(self, request: Request, name: str) -> Response:
        if denied := self._denied(request):
            return denied
        if not any(item["name"] == name for item in self.state.sensors()):
            return error(404, f"no sensor named {name!r}")
        return json_response(
            {
                "sensor": name,
                "span": self.history.span,
                "series": self.history.of(name, time.monotonic()),
            }
        )

    async def switch(self, request: Request, name: str) -> Response:
        if denied := self._denied(request):
            return denied
        if not self.access.csrf_ok(request):
            return error(403, "missing or wrong CSRF token (X-CSRF-Token header)")
        relays = self.state.relays_service
        if relays is None or name not in {item["name"] for item in relays.snapshot()}:
            return error(404, f"no relay named {name!r}")
        topic = f"{self.server.gateway.config.gateway.base_topic}/relay/{name}/set"
        if not self.access.can_write(request, topic):
            return error(403, f"not allowed to publish to {topic}")
        outcome = await relays.command(name, request.body)
        body = json.loads(outcome.to_json(None))
        log.info(
            "web: relay %s command %r from %s (%s): %s",
            name,
            request.body[:40],
            self.access.user(request) or "anonymous",
            request.peer,
            outcome.result.value,
        )
        return json_response(body, 200 if outcome.result.value == "done" else 409)

    def metrics(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        from gateway.web.metrics import CONTENT_TYPE, exposition

        return Response(200, exposition(self.state, self.server), CONTENT_TYPE)

    # -- live updates --------------------------------------------------------------------------

    def events(self, request: Request) -> Response | None:
        if denied := self._denied(request):
            return denied
        if len(self.streams) >= MAX_EVENT_STREAMS:
            self.server.count("streams_refused")
            return error(503, f"too many event streams open ({MAX_EVENT_STREAMS})")
        protocol = request.protocol
        protocol.start_stream(Response(200, content_type="text/event-stream"))
        self.streams.add(protocol)
        protocol.send_chunk(self._snapshot_event())
        if self._live is None:
            self._live = asyncio.create_task(self._run_live(), name="web-live")
        return None

    def _snapshot_event(self) -> bytes:
        data = json.dumps(self.state.everything(), separators=(",", ":"), default=str)
        return f"event: snapshot\ndata: {data}\n\n".encode()

    async def _run_live(self) -> None:
        """One snapshot for every open stream each period; stops when the last stream is gone."""
        try:
            while self.streams:
                await asyncio.sleep(LIVE_PERIOD)
                event = self._snapshot_event()
                for protocol in list(self.streams):
                    if not protocol.send_chunk(event):
                        self.streams.discard(protocol)
        finally:
            self._live = None

    # -- MQTT over WebSockets ------------------------------------------------------------------

    def mqtt(self, request: Request) -> Response | None:
        if not self.server.config.mqtt:
            return Response(404, b"not found\n")
        from gateway.web.websocket import upgrade

        return upgrade(self.server, request)
