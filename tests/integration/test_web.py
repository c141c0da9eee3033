"""The web listener of a running gateway (a subprocess, as users run it): the JSON API, /metrics
checked by promtool, relays switched through the API as through MQTT, MQTT over WebSockets with
paho (3.1.1 and 5.0, ws and wss), bad input closing one connection only, slow clients cut off, the
web listener inside the connection limits, and logins with a broker user."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from gateway.broker.auth.passwords import PasswordFile
from tests.support.clients import V5, V311, TestClient
from tests.support.gateway_process import free_port, run_gateway

PROMTOOL = shutil.which("promtool")


def _config(tmp_path: Path, *, extra_web: str = "", extra: str = "") -> tuple[Path, int, int]:
    mqtt_port, web_port = free_port(), free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "web-gw"
state_dir = "{tmp_path / "state"}"
demo = true
[[broker.listeners]]
name = "local"
port = {mqtt_port}
[[sensors]]
type = "simulated"
name = "room"
quantities = ["temperature", "humidity"]
interval = 0.5
[[relays]]
name = "lamp"
pin = 17
max_on_seconds = 600
[[relays]]
name = "pump"
pin = 18
min_off_seconds = 300
[web]
enabled = true
port = {web_port}
request_timeout = 1.5
idle_timeout = 3
max_connections = 12
{extra_web}
{extra}
""")
    return config, mqtt_port, web_port


def _ready(proc, notify) -> None:
    notify.wait_for("READY=1")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("web")
    config, mqtt_port, web_port = _config(tmp_path)
    with run_gateway(config) as (proc, notify):
        _ready(proc, notify)
        yield {"mqtt": mqtt_port, "web": web_port, "proc": proc}


def request(
    port: int, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str):
    status, _, body = request(port, "GET", path)
    assert status == 200, body
    return json.loads(body)


def csrf_of(port: int, cookie: str = "") -> str:
    _, _, page = request(port, "GET", "/", headers={"Cookie": cookie} if cookie else None)
    marker = b'name="csrf-token" content="'
    start = page.index(marker) + len(marker)
    return page[start : page.index(b'"', start)].decode()


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


# -- the API -----------------------------------------------------------------------------------


def test_api_reads_the_live_state(gateway):
    port = gateway["web"]
    status = get_json(port, "/api/status")
    assert status["id"] == "web-gw" and status["uptime"] >= 0
    assert status["store"]["state"] == "ok"
    sensors = wait_for(lambda: [s for s in get_json(port, "/api/sensors") if s["values"]])
    room = sensors[0]
    assert room["name"] == "room" and room["online"] is True
    assert room["values"]["temperature"]["unit"] == "°C"
    relays = {r["name"]: r for r in get_json(port, "/api/relays")}
    assert set(relays) == {"lamp", "pump"}
    assert relays["lamp"]["limits"]["max_on_seconds"] == 600
    assert get_json(port, "/api/bridges") == []
    broker = get_json(port, "/api/broker")
    assert broker["connections/by listener"]["web"] >= 1  # this very request
    everything = get_json(port, "/api/all")
    assert set(everything) == {"status", "sensors", "relays", "bridges", "broker"}


def test_history_is_kept_and_unknown_paths_are_404(gateway):
    port = gateway["web"]
    history = wait_for(lambda: get_json(port, "/api/sensors/room/history")["series"])
    assert set(history) == {"temperature", "humidity"}
    age, value = history["temperature"][-1]
    assert 0 <= age < 30 and isinstance(value, float)
    assert request(port, "GET", "/api/sensors/nope/history")[0] == 404
    assert request(port, "GET", "/no/such/page")[0] == 404
    status, headers, _ = request(port, "DELETE", "/api/status")
    assert status == 405 and headers["allow"] == "GET"


def test_relay_switched_through_the_api_is_seen_on_mqtt(gateway):
    port = gateway["web"]
    watcher = TestClient(gateway["mqtt"], "watcher")
    watcher.subscribe("edge/relay/lamp/event", 1)
    token = csrf_of(port)
    status, _, body = request(port, "POST", "/api/relays/lamp", "ON", {"X-CSRF-Token": token})
    assert status == 200, body
    assert json.loads(body) == {
        "output": "lamp",
        "result": "done",
        "reason": "command",
        "state": "ON",
    }
    event = json.loads(watcher.expect_one().payload)
    assert event == {"event": "switched", "state": "ON", "reason": "command"}
    relay = {r["name"]: r for r in get_json(port, "/api/relays")}["lamp"]
    assert relay["state"] == "ON" and relay["switches"] >= 1
    request(port, "POST", "/api/relays/lamp", "OFF", {"X-CSRF-Token": token})
    watcher.disconnect()


def test_relay_refusals_come_back_with_the_reason(gateway):
    port = gateway["web"]
    token = csrf_of(port)
    status, _, body = request(port, "POST", "/api/relays/lamp", "BOGUS", {"X-CSRF-Token": token})
    assert status == 409 and json.loads(body)["reason"] == "invalid"
    # pump has min_off_seconds = 300 and has been off only since start-up: the safety rule refuses
    status, _, body = request(port, "POST", "/api/relays/pump", "ON", {"X-CSRF-Token": token})
    assert status == 409, body
    assert json.loads(body)["result"] == "refused" and "off" in json.loads(body)["detail"]
    assert request(port, "POST", "/api/relays/nope", "ON", {"X-CSRF-Token": token})[0] == 404


def test_state_changes_need_the_csrf_token(gateway):
    port = gateway["web"]
    before = {r["name"]: r for r in get_json(port, "/api/relays")}["lamp"]["switches"]
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        status, _, body = request(port, "POST", "/api/relays/lamp", "TOGGLE", headers)
        assert status == 403 and b"CSRF" in body
    # a cross-site form post carries the body as a form field without the right token
    status, _, _ = request(
        port,
        "POST",
        "/api/relays/lamp",
        "csrf=x",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 403
    assert {r["name"]: r for r in get_json(port, "/api/relays")}["lamp"]["switches"] == before


def test_a_rebound_host_name_gets_nothing_from_loopback(gateway):
    # a page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding) sends its own
    # name in Host: no read, no CSRF token, no switch
    port = gateway["web"]
    for method, path in (("GET", "/"), ("GET", "/api/status"), ("POST", "/api/relays/lamp")):
        status, _, _ = request(port, method, path, "ON", {"Host": "evil.example:8080"})
        assert status == 421, (method, path)
    assert request(port, "GET", "/api/status", headers={"Host": f"localhost:{port}"})[0] == 200


# -- /metrics --------------------------------------------------------------------------------------


def test_metrics_have_help_and_type_and_pass_promtool(gateway):
    status, headers, body = request(gateway["web"], "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    assert names == helps
    for expected in (
        "edge_broker_clients_connected",
        "edge_sensor_read_errors_total",
        "edge_sensor_last_read_age_seconds",
        "edge_relay_switches_total",
        "edge_store_state",
        "edge_broker_dropped_messages_total",
        "edge_broker_connections_open",
        "edge_bridge_queue_messages",
    ):
        assert expected in names, expected
    assert 'edge_sensor_value{quantity="temperature",sensor="room",unit="°C"}' in text
    if PROMTOOL is None:
        pytest.skip("promtool not installed (apt prometheus)")
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- MQTT over WebSockets ----------------------------------------------------------------------


@pytest.mark.parametrize("version", [V311, V5])
def test_mqtt_over_websockets_with_paho_reaches_tcp_clients_and_relays(gateway, version):
    tcp = TestClient(gateway["mqtt"], "tcp-side", version=version)
    tcp.subscribe("web/test", 1)
    ws = TestClient(gateway["web"], f"ws-{version}", version=version, websocket="/mqtt")
    ws.subscribe("edge/relay/lamp", 1)
    assert ws.expect_one().payload in (b"ON", b"OFF")  # the retained state
    ws.publish("web/test", b"x" * 70_000, qos=1)  # larger than one frame's worth of TLS slice
    got = tcp.expect_one()
    assert got.topic == "web/test" and got.payload == b"x" * 70_000
    tcp.publish("edge/relay/lamp/set", "TOGGLE", qos=1)
    assert ws.expect_one().topic == "edge/relay/lamp"
    clients = get_json(gateway["web"], "/api/broker")["clients/connected"]
    assert clients >= 2
    ws.disconnect()
    tcp.disconnect()


def test_websocket_needs_the_mqtt_subprotocol(gateway):
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    status, _, body = request(
        gateway["web"], "GET", "/mqtt", headers={**headers, "Sec-WebSocket-Protocol": "chat"}
    )
    assert status == 400 and b"mqtt" in body
    assert request(gateway["web"], "GET", "/mqtt")[0] == 426
    with socket.create_connection(("127.0.0.1", gateway["web"]), timeout=5) as sock:
        lines = [f"{k}: {v}" for k, v in {**headers, "Sec-WebSocket-Protocol": "mqttv3.1"}.items()]
        sock.sendall(
            ("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer  # RFC 6455 §1.3
    assert b"Sec-WebSocket-Protocol: mqttv3.1" in answer


# -- bad input ---------------------------------------------------------------------------------


def _raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_and_oversized_requests_close_that_connection_only(gateway):
    port = gateway["web"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as bystander:
        bystander.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(bystander).startswith(b"HTTP/1.1 200")
        assert _raw(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert _raw(
            port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * 40_000 + b"\r\n\r\n"
        ).startswith(b"HTTP/1.1 431")
        big = b"POST /api/relays/lamp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999\r\n\r\n"
        assert _raw(port, big).startswith(b"HTTP/1.1 413")
        bystander.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # still served
        assert _response(bystander).startswith(b"HTTP/1.1 200")
    counters = _metric_values(port, "edge_web_events_total")
    assert counters['kind="bad_requests"'] >= 1 and counters['kind="too_large"'] >= 2


def _response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _metric_values(port: int, name: str) -> dict[str, float]:
    _, _, body = request(port, "GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def test_slow_clients_are_cut_off(gateway):
    port = gateway["web"]
    started = time.monotonic()
    # half a request line, then nothing: closed after request_timeout (1.5 s) with 408
    answer = _raw(port, b"GET /api/sta", timeout=10)
    assert answer.startswith(b"HTTP/1.1 408")
    assert 1.0 < time.monotonic() - started < 8
    # an idle keep-alive connection is closed after idle_timeout (3 s)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the response, then the end: the server closed it
            received += chunk
        assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"}")
        assert 2 < time.monotonic() - started < 8


def test_web_connections_count_toward_the_limits(gateway):
    port = gateway["web"]
    socks = []
    try:
        for _ in range(12):  # [web] max_connections = 12
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(sock)
        wait_for(lambda: _probe_refused(port))
    finally:
        for sock in socks:
            sock.close()
    wait_for(lambda: not _probe_refused(port))  # slots come back when the sockets go
    assert get_json(port, "/api/broker")["limits/max_connections_web"] >= 1


def _probe_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_the_gateway_is_fine_after_all_that(gateway):
    assert gateway["proc"].poll() is None
    client = TestClient(gateway["mqtt"], "after")
    client.sync()
    client.disconnect()
    assert get_json(gateway["web"], "/api/status")["id"] == "web-gw"


# -- TLS: https and wss ----------------------------------------------------------------------------


def test_https_and_wss_with_the_configured_certificate(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    config, _, web_port = _config(
        tmp_path,
        extra_web=f'certfile = "{tmp_path / "server.pem"}"\nkeyfile = "{tmp_path / "server.pem"}"',
    )
    with run_gateway(config) as (proc, notify):
        _ready(proc, notify)
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        conn = http.client.HTTPSConnection("127.0.0.1", web_port, context=context, timeout=10)
        conn.request("GET", "/api/status")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["id"] == "web-gw"
        conn.close()
        ws = TestClient(
            web_port,
            "wss",
            version=V5,
            websocket="/mqtt",
            tls={"ca_certs": str(tmp_path / "ca.pem")},
        )
        ws.subscribe("edge/relay/lamp", 1)
        assert ws.expect_one().payload in (b"ON", b"OFF")
        ws.disconnect()


# -- access: logins with a broker user ---------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("websec")
    passwords = PasswordFile()
    passwords.set("alice", "alice-pw", iterations=1000)
    passwords.set("bob", "bob-pw", iterations=1000)
    passwords.save(tmp_path / "pw")
    (tmp_path / "acl").write_text(
        "user alice\ntopic readwrite edge/#\nuser bob\ntopic read edge/#\n"
    )
    config, mqtt_port, web_port = _config(
        tmp_path,
        extra=f'[auth]\npassword_file = "{tmp_path / "pw"}"\nacl_file = "{tmp_path / "acl"}"\n',
    )
    with run_gateway(config) as (proc, notify):
        _ready(proc, notify)
        yield {"mqtt": mqtt_port, "web": web_port}


def login(port: int, user: str, password: str) -> tuple[int, str]:
    status, headers, _ = request(
        port,
        "POST",
        "/login",
        f"user={user}&password={password}",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status, headers.get("set-cookie", "")


def test_loopback_reads_but_needs_a_login_to_switch(secured):
    port = secured["web"]
    assert request(port, "GET", "/api/status")[0] == 200  # loopback: read-only without a login
    token = csrf_of(port)
    status, _, body = request(port, "POST", "/api/relays/lamp", "ON", {"X-CSRF-Token": token})
    assert status == 403 and b"not allowed" in body


def test_login_sets_a_strict_http_only_cookie_and_acl_decides(secured):
    port = secured["web"]
    status, cookie = login(port, "alice", "alice-pw")
    assert status == 303
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    token = csrf_of(port, session)
    status, _, body = request(
        port, "POST", "/api/relays/lamp", "ON", {"Cookie": session, "X-CSRF-Token": token}
    )
    assert status == 200, body
    # the anonymous page's token is not the session's
    anonymous = csrf_of(port)
    assert anonymous != token
    assert (
        request(
            port, "POST", "/api/relays/lamp", "OFF", {"Cookie": session, "X-CSRF-Token": anonymous}
        )[0]
        == 403
    )
    # bob may read edge/# but not write: refused by the ACL, like his MQTT publish would be
    _, bob_cookie = login(port, "bob", "bob-pw")
    bob = bob_cookie.split(";")[0]
    status, _, body = request(
        port, "POST", "/api/relays/lamp", "OFF", {"Cookie": bob, "X-CSRF-Token": csrf_of(port, bob)}
    )
    assert status == 403 and b"edge/relay/lamp/set" in body


def test_failed_logins_back_off(secured):
    port = secured["web"]
    timings = []
    for _ in range(2):  # the answer to the n-th failure in a row waits 1 s, 2 s, ... (doubling)
        started = time.monotonic()
        assert login(port, "alice", "wrong")[0] == 403
        timings.append(time.monotonic() - started)
    assert timings[0] >= 0.9 and timings[1] >= 1.9, timings
    body = b"user=alice&password=wrong"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:  # answered in 4 s
        slow.sendall(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/"
            b"x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        # meanwhile even the right password is refused: one attempt at a time per address
        assert login(port, "alice", "alice-pw")[0] == 429
        assert _response(slow).startswith(b"HTTP/1.1 403")
    assert login(port, "alice", "alice-pw")[0] == 303  # once the wait is over


def test_mqtt_over_websockets_uses_the_password_file(secured):
    ok = TestClient(
        secured["web"], "alice-ws", websocket="/mqtt", username="alice", password="alice-pw"
    )
    ok.subscribe("edge/relay/lamp", 1)
    assert ok.expect_one().topic == "edge/relay/lamp"  # the positive control for the one below
    ok.disconnect()
    bad = TestClient(
        secured["web"],
        "mallory",
        websocket="/mqtt",
        username="alice",
        password="nope",
        connect=False,
    )
    bad.connect(expect_rc=0x86)  # Bad user name or password (3.1.1: return code 4)
    # the web listener is on loopback, so anonymous clients are allowed there, as on an MQTT
    # loopback listener; the ACL file still decides what they may do
    anonymous = TestClient(secured["web"], "anon-ws", websocket="/mqtt", version=V5)
    anonymous.subscribe("edge/relay/lamp", 1)
    anonymous.expect_none()  # no ACL rule for anonymous clients: nothing is delivered
    anonymous.disconnect()


def test_without_tls_the_web_surface_keeps_openssl_out(tmp_path):
    # asyncio as the .deb runs it: no TLS anywhere means no ssl module and no OpenSSL (4.5 MB);
    # prometheus-client imports ssl at load, and /metrics must work without it
    import os
    import sys

    config, _, web_port = _config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(config), "--loop", "asyncio"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(web_port), timeout=30)
        status, _, body = request(web_port, "GET", "/metrics")
        assert status == 200 and b"# TYPE edge_broker_clients_connected gauge" in body
        assert request(web_port, "GET", "/")[0] == 200
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "libssl" not in maps and "_ssl" not in maps
    finally:
        proc.terminate()
        proc.wait(30)


def _answers(port: int) -> bool:
    try:
        return request(port, "GET", "/api/status")[0] == 200
    except OSError:
        return False
