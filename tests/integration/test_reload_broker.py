"""The broker's part of a reload (gateway.broker.reload) against a running gateway, with paho
clients on loopback: listeners added, removed, reopened and renewed without touching the clients
of the others; live limits taking effect; keys that need a restart reported and left alone.

"The same connection" is checked from both ends: the client saw no new CONNACK and no disconnect,
and the broker's session still has the very Connection object it had before the reload.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.broker.reload import reload_broker
from gateway.config import parse
from gateway.reload import Outcome
from tests.support.clients import V5, V311, TestClient
from tests.support.gateway_thread import GatewayThread

SHUTTING_DOWN = 0x8B
PACKET_TOO_LARGE = 0x95
TOPIC_ALIAS_INVALID = 0x94
NOT_AUTHORIZED = 0x87
RETAIN_NOT_SUPPORTED = 0x9A


def listener(name: str, **kw) -> dict:
    return {"name": name, "host": "127.0.0.1", "port": 0, **kw}


def config_data(tmp_path, listeners: list[dict], broker: dict | None = None, **rest) -> dict:
    return {
        "gateway": {"id": "t", "state_dir": str(tmp_path), "clock_check": "trust"},
        "broker": {"sys_interval": 0, "listeners": listeners, **(broker or {})},
        "homeassistant": {"discovery": False},
        **rest,
    }


@pytest.fixture
def gateway(tmp_path):
    started: list[GatewayThread] = []

    def _start(data: dict) -> GatewayThread:
        thread = GatewayThread(parse(data)).start()
        started.append(thread)
        return thread

    yield _start
    for thread in started:
        thread.stop()


@pytest.fixture
def clients():
    made: list[TestClient] = []

    def _make(*args, **kw) -> TestClient:
        client = TestClient(*args, **kw)
        made.append(client)
        return client

    yield _make
    for client in made:
        client.client.loop_stop()
        client.client.disconnect()


def reload(thread: GatewayThread, data: dict) -> dict:
    """Apply `data` as the new config; the rows by (kind, name)."""
    new = parse(data)
    gateway = thread.gateway
    assert gateway is not None
    rows = thread.call(reload_broker(gateway, gateway.config, new))
    gateway.config = new
    return {(row.kind, row.name): row for row in rows}


def link_of(thread: GatewayThread, client_id: str):
    gateway = thread.gateway
    assert gateway is not None
    return thread.run(lambda: gateway.broker.core.sessions[client_id].link)


def round_trip(publisher: TestClient, subscriber: TestClient, payloads: list[bytes]) -> None:
    """Each payload published at QoS 1 arrives exactly once, in order: a last one sent after them
    is the next thing the subscriber gets (a duplicate would come before it)."""
    for payload in [*payloads, b"end"]:
        publisher.publish("t/x", payload, qos=1)
    got = [subscriber.messages.get(timeout=5).payload for _ in range(len(payloads) + 1)]
    assert got == [*payloads, b"end"]
    assert subscriber.messages.empty()


def stayed(client: TestClient) -> None:
    """No disconnect and no second CONNACK since it connected."""
    assert client.disconnects.empty()
    assert client.connack.empty()


def test_listener_added_and_removed_clients_of_the_other_stay(gateway, clients, tmp_path):
    data = config_data(tmp_path, [listener("a")])
    thread = gateway(data)
    a = thread.port("a")
    sub = clients(a, "sub", version=V5, clean=False, session_expiry=300)
    sub.subscribe("t/#", qos=1)
    pub = clients(a, "pub", version=V311)
    round_trip(pub, sub, [b"before"])
    link = link_of(thread, "sub")

    rows = reload(thread, config_data(tmp_path, [listener("a"), listener("b")]))
    assert rows["listener", "a"].outcome is Outcome.UNCHANGED
    assert rows["listener", "b"].outcome is Outcome.ADDED
    assert rows["broker", "limits"].outcome is Outcome.UNCHANGED
    b = thread.port("b")
    on_b5 = clients(b, "b5", version=V5)
    on_b3 = clients(b, "b3", version=V311)
    round_trip(pub, sub, [b"after add"])

    rows = reload(thread, data)
    assert rows["listener", "b"].outcome is Outcome.REMOVED
    assert rows["listener", "b"].detail == "2 connection(s) closed"
    assert on_b5.disconnects.get(timeout=5) == SHUTTING_DOWN  # as at a stop
    on_b3.disconnects.get(timeout=5)  # 3.1.1 has no server DISCONNECT: the socket closes
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b), timeout=2).close()
    round_trip(pub, sub, [b"after remove"])
    stayed(sub)
    stayed(pub)
    assert link_of(thread, "sub") is link
    assert thread.run(lambda: dict(thread.gateway.broker.admission.by_listener)) == {"a": 2}


def test_changed_listener_reopens_alone(gateway, clients, tmp_path):
    thread = gateway(config_data(tmp_path, [listener("a"), listener("b")]))
    a, b = thread.port("a"), thread.port("b")
    sub = clients(a, "sub", version=V5)
    sub.subscribe("t/#", qos=1)
    pub = clients(a, "pub")
    on_b = clients(b, "on-b", version=V5)
    link = link_of(thread, "sub")
    with socket.socket() as probe:  # a free port for b to move to
        probe.bind(("127.0.0.1", 0))
        moved_to = probe.getsockname()[1]

    rows = reload(thread, config_data(tmp_path, [listener("a"), listener("b", port=moved_to)]))
    row = rows["listener", "b"]
    assert row.outcome is Outcome.RESTARTED, row
    assert row.detail == (
        f"mqtt://127.0.0.1:{b} -> mqtt://127.0.0.1:{moved_to}: 1 connection(s) closed"
    )
    assert on_b.disconnects.get(timeout=5) == SHUTTING_DOWN
    clients(moved_to, "new-b")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", b), timeout=2).close()
    round_trip(pub, sub, [b"one"])
    stayed(sub)
    assert link_of(thread, "sub") is link


def test_renamed_listener_takes_over_its_port(gateway, clients, tmp_path):
    """A rename is a removal and an addition: the old name closes first, so the new one can bind
    the same port."""
    thread = gateway(config_data(tmp_path, [listener("a"), listener("b")]))
    b = thread.port("b")
    on_b = clients(b, "on-b", version=V5)
    rows = reload(thread, config_data(tmp_path, [listener("a"), listener("c", port=b)]))
    assert rows["listener", "b"].outcome is Outcome.REMOVED
    assert rows["listener", "c"].outcome is Outcome.ADDED
    assert rows["listener", "c"].detail == f"mqtt://127.0.0.1:{b}"
    assert on_b.disconnects.get(timeout=5) == SHUTTING_DOWN
    clients(b, "on-c")
    assert thread.run(lambda: list(thread.gateway.broker.specs)) == ["a", "c"]


def test_policy_change_reopens_on_the_same_port(gateway, clients, tmp_path):
    thread = gateway(config_data(tmp_path, [listener("a"), listener("b")]))
    a, b = thread.port("a"), thread.port("b")
    sub = clients(a, "sub", version=V5)
    sub.subscribe("t/#", qos=1)
    pub = clients(a, "pub")
    anonymous = clients(b, "anon", version=V5)
    clients(b, "probe-before", version=V5)  # positive control: anonymous is welcome before

    new = config_data(tmp_path, [listener("a"), listener("b", port=b, allow_anonymous=False)])
    rows = reload(thread, new)
    assert rows["listener", "b"].outcome is Outcome.RESTARTED
    assert anonymous.disconnects.get(timeout=5) == SHUTTING_DOWN
    refused = clients(b, "probe-after", version=V5, connect=False)
    refused.connect(expect_rc=NOT_AUTHORIZED)
    round_trip(pub, sub, [b"one"])
    stayed(sub)


def test_port_in_use_fails_and_the_old_listener_keeps_running(gateway, clients, tmp_path):
    thread = gateway(config_data(tmp_path, [listener("a"), listener("b")]))
    b = thread.port("b")
    on_b = clients(b, "on-b", version=V5)
    sub = clients(b, "sub", version=V5)
    sub.subscribe("t/#", qos=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        rows = reload(thread, config_data(tmp_path, [listener("a"), listener("b", port=busy)]))
    row = rows["listener", "b"]
    assert row.outcome is Outcome.FAILED
    assert "in use" in row.detail and f"mqtt://127.0.0.1:{b} keeps running" in row.detail
    round_trip(on_b, sub, [b"still here"])
    clients(b, "new-on-b")
    stayed(on_b)
    # the failed change is tried again by the next reload (it compares with what runs)
    rows = reload(thread, config_data(tmp_path, [listener("a"), listener("b", port=busy)]))
    assert rows["listener", "b"].outcome is Outcome.RESTARTED


# -- TLS certificate renewal ---------------------------------------------------------------------


def handshake(port: int, cafile) -> dict | None:
    """A fresh TLS handshake verified against `cafile`: the server certificate it got."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.getpeercert()


def test_certificate_renewal_keeps_the_socket_and_its_connections(gateway, clients, tmp_path):
    old_ca, new_ca = trustme.CA(), trustme.CA()
    old_ca.cert_pem.write_to_path(tmp_path / "old-ca.pem")
    new_ca.cert_pem.write_to_path(tmp_path / "new-ca.pem")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf = old_ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    tls = {"certfile": str(cert), "keyfile": str(key)}
    data = config_data(tmp_path, [listener("plain"), listener("tls", tls=tls)])
    thread = gateway(data)
    port = thread.port("tls")
    before = clients(port, "before", version=V5, tls={"ca_certs": str(tmp_path / "old-ca.pem")})
    before.subscribe("t/#", qos=1)
    pub = clients(thread.port("plain"), "pub")
    link = link_of(thread, "before")
    with pytest.raises(ssl.SSLCertVerificationError):  # positive control: the old one is served
        handshake(port, tmp_path / "new-ca.pem")
    assert reload(thread, data)["listener", "tls"].outcome is Outcome.UNCHANGED

    renewed = new_ca.issue_cert("127.0.0.1")  # certbot renews in place, under the same names
    renewed.cert_chain_pems[0].write_to_path(cert)
    renewed.private_key_pem.write_to_path(key)
    row = reload(thread, data)["listener", "tls"]
    assert row.outcome is Outcome.RECONFIGURED
    assert row.detail == "certificate reloaded: new handshakes use it, 1 connection(s) kept"
    assert handshake(port, tmp_path / "new-ca.pem")["subjectAltName"] == (
        ("IP Address", "127.0.0.1"),
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(port, tmp_path / "old-ca.pem")
    round_trip(pub, before, [b"after renewal"])
    stayed(before)
    assert link_of(thread, "before") is link


def test_broken_renewal_keeps_the_certificate_in_use(gateway, clients, tmp_path):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    data = config_data(
        tmp_path, [listener("tls", tls={"certfile": str(cert), "keyfile": str(key)})]
    )
    thread = gateway(data)
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(key)  # a key of another cert
    row = reload(thread, data)["listener", "tls"]
    assert row.outcome is Outcome.FAILED
    assert row.detail.startswith("certificate not reloaded: ")
    assert handshake(thread.port("tls"), tmp_path / "ca.pem")


# -- limits -------------------------------------------------------------------------------------


def test_lowered_limits_apply_to_new_connections_announced_ones_stay(gateway, clients, tmp_path):
    data = config_data(tmp_path, [listener("a")])
    thread = gateway(data)
    port = thread.port("a")
    old = clients(port, "old", version=V5)
    sub = clients(port, "sub", version=V5)
    sub.subscribe("t/#", qos=1)
    big = b"x" * 1000

    limits = {
        "max_packet_size": 256,
        "topic_alias_maximum": 2,
        "max_queued_messages": 5,
        "queue_overflow": "drop-oldest",
        "retain_available": False,
    }
    rows = reload(thread, config_data(tmp_path, [listener("a")], broker=limits))
    assert rows["broker", "max_packet_size"].outcome is Outcome.RECONFIGURED
    assert rows["broker", "max_packet_size"].detail == (
        "1048576 -> 256 (for connections opened from now on)"
    )
    assert rows["broker", "max_queued_messages"].detail == "1000 -> 5 (at once)"
    assert rows["broker", "queue_overflow"].detail == "drop-new -> drop-oldest (at once)"
    assert rows["broker", "retain_available"].detail == (
        "true -> false (for connections opened from now on)"
    )
    assert ("broker", "limits") not in rows
    queue_limit = thread.run(
        lambda: {
            s.settings.max_queued_messages for s in thread.gateway.broker.core.sessions.values()
        }
    )
    assert queue_limit == {5}

    alias = Properties(PacketTypes.PUBLISH)
    alias.TopicAlias = 5
    old.publish("t/x", big, qos=1)  # its CONNACK said 1 MiB and 16 aliases: that holds
    old.publish("t/x", b"aliased", qos=1, properties=alias)
    old.publish("t/x", b"retained", qos=1, retain=True)
    got = [sub.messages.get(timeout=5).payload for _ in range(3)]
    assert got == [big, b"aliased", b"retained"]
    stayed(old)

    new = clients(port, "new", version=V5)
    assert new.connack_properties.MaximumPacketSize == 256
    assert new.connack_properties.TopicAliasMaximum == 2
    assert new.connack_properties.RetainAvailable == 0
    new.publish("t/x", b"small", qos=1)
    assert sub.messages.get(timeout=5).payload == b"small"
    new.publish("t/x", big, qos=1, wait=False)
    assert new.disconnects.get(timeout=5) == PACKET_TOO_LARGE
    aliased = clients(port, "aliased", version=V5)
    aliased.publish("t/x", b"aliased", qos=1, properties=alias, wait=False)
    assert aliased.disconnects.get(timeout=5) == TOPIC_ALIAS_INVALID
    retaining = clients(port, "retaining", version=V5)
    retaining.publish("t/x", b"retained", qos=1, retain=True, wait=False)
    assert retaining.disconnects.get(timeout=5) == RETAIN_NOT_SUPPORTED
    assert sub.messages.empty()


def test_connection_limits_are_live(gateway, clients, tmp_path):
    thread = gateway(config_data(tmp_path, [listener("a")]))
    port = thread.port("a")
    first = clients(port, "first")
    rows = reload(thread, config_data(tmp_path, [listener("a", max_connections=1)]))
    assert rows["listener", "a"].outcome is Outcome.RECONFIGURED
    assert rows["listener", "a"].detail == "max_connections 0 -> 1"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as refused:
        refused.settimeout(5)
        assert refused.recv(1) == b""  # closed at once: the listener is full
    stayed(first)
    rows = reload(thread, config_data(tmp_path, [listener("a", allow_anonymous=True)]))
    assert rows["listener", "a"].outcome is Outcome.RECONFIGURED  # its limit back to 0
    rows = reload(thread, config_data(tmp_path, [listener("a")], broker={"max_connections": 2}))
    assert rows["listener", "a"].outcome is Outcome.UNCHANGED  # loopback: anonymous by default
    assert rows["broker", "max_connections"].detail == "1000 -> 2 (at once)"
    clients(port, "second")
    assert thread.run(lambda: thread.gateway.broker.admission.max_connections) == 2


def test_store_keys_live_and_restart(gateway, tmp_path):
    thread = gateway(config_data(tmp_path, [listener("a")]))
    store = {"durability": "relaxed", "memory_window": 50, "path": str(tmp_path / "other.db")}
    rows = reload(thread, config_data(tmp_path, [listener("a")], store=store))
    assert rows["store", "durability"].outcome is Outcome.RECONFIGURED
    assert rows["store", "memory_window"].outcome is Outcome.NEEDS_RESTART
    assert rows["store", "memory_window"].detail == (
        "1000 -> 50: 1000 stays in use until a restart"
    )
    assert rows["store", "path"].outcome is Outcome.NEEDS_RESTART
    running = thread.run(lambda: thread.gateway.store.settings)
    assert running.durability == "relaxed"
    assert thread.run(lambda: thread.gateway.store.relaxed)
    assert (running.memory_window, running.path) == (1000, tmp_path / "broker.db")
    # still waiting for a restart: said again by the next reload
    rows = reload(thread, config_data(tmp_path, [listener("a")], store=store))
    assert rows["store", "memory_window"].outcome is Outcome.NEEDS_RESTART
    assert ("store", "durability") not in rows
    # a size limit is checked at once against the store as it is
    assert thread.run(lambda: thread.gateway.store.full_reason) is None
    rows = reload(thread, config_data(tmp_path, [listener("a")], store={**store, "max_bytes": 1}))
    assert rows["store", "max_bytes"].detail == "0 -> 1 (at once)"
    assert thread.run(lambda: thread.gateway.store.full_reason) == "store_max_bytes"
    reload(thread, config_data(tmp_path, [listener("a")], store=store))
    assert thread.run(lambda: thread.gateway.store.full_reason) is None


# -- auth files ---------------------------------------------------------------------------------


def test_password_file_switched_on_and_changed(gateway, clients, tmp_path):
    from gateway.broker.auth.passwords import PasswordFile

    def passwords(path, user, password):
        users = PasswordFile()
        users.set(user, password, iterations=1000)  # fast: the test is not about hashing
        users.save(path)
        return str(path)

    anon = listener("a", allow_anonymous=False)
    thread = gateway(config_data(tmp_path, [listener("open"), anon]))
    port = thread.port("a")
    stays = clients(thread.port("open"), "stays")
    first = passwords(tmp_path / "one", "ann", "pw1")
    rows = reload(
        thread, config_data(tmp_path, [listener("open"), anon], auth={"password_file": first})
    )
    assert rows["auth", "password_file"].outcome is Outcome.ADDED
    assert rows["auth", "password_file"].detail == f"{first}: 1 user(s)"
    clients(port, "ann", username="ann", password="pw1")

    second = passwords(tmp_path / "two", "bob", "pw2")
    rows = reload(
        thread, config_data(tmp_path, [listener("open"), anon], auth={"password_file": second})
    )
    assert rows["auth", "password_file"].outcome is Outcome.RECONFIGURED
    clients(port, "bob", username="bob", password="pw2")
    clients(port, "ann2", username="ann", password="pw1", connect=False).connect(
        expect_rc=0x86
    )  # Bad user name or password (3.1.1: 4)
    rows = reload(
        thread, config_data(tmp_path, [listener("open"), anon], auth={"password_file": second})
    )
    assert rows["auth", "password_file"].outcome is Outcome.UNCHANGED
    rows = reload(thread, config_data(tmp_path, [listener("open"), anon]))
    assert rows["auth", "password_file"].outcome is Outcome.REMOVED
    stayed(stays)


def test_unreadable_auth_file_changes_nothing(gateway, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite #\n")
    thread = gateway(config_data(tmp_path, [listener("a")], auth={"acl_file": str(acl)}))
    rows = reload(
        thread,
        config_data(tmp_path, [listener("a")], auth={"acl_file": str(tmp_path / "missing")}),
    )
    assert rows["auth", "files"].outcome is Outcome.FAILED
    assert thread.run(lambda: thread.gateway.auth.acl_path) == acl


def test_unix_socket_listener_added_and_removed(gateway, tmp_path):
    from tests.integration.test_security_tls import attempt

    data = config_data(tmp_path, [listener("a")])
    thread = gateway(data)
    path = tmp_path / "mqtt.sock"
    rows = reload(
        thread, config_data(tmp_path, [listener("a"), {"name": "tools", "unix_path": str(path)}])
    )
    assert rows["listener", "tools"].outcome is Outcome.ADDED
    assert rows["listener", "tools"].detail == str(path)
    assert attempt(1, host=str(path), transport="unix", version=V311) == 0
    rows = reload(thread, data)
    assert rows["listener", "tools"].outcome is Outcome.REMOVED
    assert not path.exists()


def test_tls_without_the_ssl_module_needs_a_restart(gateway, clients, tmp_path, monkeypatch):
    """`edge-gateway run` keeps Python's ssl module out when nothing in the config uses TLS."""
    from gateway.broker.auth import tls

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(tmp_path / "server.pem")
    data = config_data(tmp_path, [listener("a")])
    thread = gateway(data)
    monkeypatch.setattr(tls, "ssl", None)
    server = str(tmp_path / "server.pem")
    tls_listener = listener("secure", tls={"certfile": server, "keyfile": server})
    rows = reload(thread, config_data(tmp_path, [listener("a"), tls_listener]))
    assert rows["listener", "secure"].outcome is Outcome.NEEDS_RESTART
    assert "ssl module" in rows["listener", "secure"].detail
    assert thread.run(lambda: list(thread.gateway.broker.specs)) == ["a"]
    monkeypatch.undo()  # positive control: with ssl loaded the same reload adds it
    rows = reload(thread, config_data(tmp_path, [listener("a"), tls_listener]))
    assert rows["listener", "secure"].outcome is Outcome.ADDED


def test_reload_storm_leaves_the_broker_as_the_last_file_says(gateway, clients, tmp_path):
    """20 reloads in a row, each undoing the last: the clients of the listener that stays keep
    their connection, and the broker ends up as the last config says."""
    one = config_data(tmp_path, [listener("a")])
    two = config_data(
        tmp_path,
        [listener("a", max_connections=50), listener("b")],
        broker={"max_queued_messages": 7},
    )
    thread = gateway(one)
    a = thread.port("a")
    sub = clients(a, "sub", version=V5, clean=False, session_expiry=300)
    sub.subscribe("t/#", qos=1)
    pub = clients(a, "pub")
    link = link_of(thread, "sub")
    for i in range(20):
        rows = reload(thread, two if i % 2 == 0 else one)
        assert not [row for row in rows.values() if row.outcome is Outcome.FAILED]
        pub.publish("t/x", str(i).encode(), qos=1)
    got = [sub.messages.get(timeout=5).payload for _ in range(20)]
    assert got == [str(i).encode() for i in range(20)]
    round_trip(pub, sub, [b"last"])
    stayed(sub)
    assert link_of(thread, "sub") is link

    def state() -> tuple:
        broker = thread.gateway.broker
        return (
            list(broker.specs),
            dict(broker.admission.listener_limits),
            broker.settings.max_queued_messages,
            broker.core.sessions["sub"].settings.max_queued_messages,
        )

    assert thread.run(state) == (["a"], {"a": 0}, 1000, 1000)


# -- end to end: `edge-gateway run` and SIGHUP ----------------------------------------------------


def test_sighup_applies_the_broker_part_in_the_running_service(tmp_path):
    """The service as systemd runs it (config records without pydantic, uvloop when installed):
    SIGHUP adds a listener, renews a certificate in place, lowers a limit for new connections and
    reports a store key that needs a restart; the client connected before stays connected."""
    import signal

    from tests.integration.test_reload import WAIT, outcomes, result_of, wait_for, write
    from tests.support.gateway_process import free_port, run_gateway

    old_ca, new_ca = trustme.CA(), trustme.CA()
    new_ca.cert_pem.write_to_path(tmp_path / "new-ca.pem")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf = old_ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    port, tls_port, added = free_port(), free_port(), free_port()

    def text(extra_listener: str = "", broker: str = "", store: str = "") -> str:
        return f"""
[gateway]
id = "gw"
state_dir = "{tmp_path / "state"}"
[broker]
sys_interval = 0
{broker}
[[broker.listeners]]
name = "a"
port = {port}
[[broker.listeners]]
name = "secure"
port = {tls_port}
[broker.listeners.tls]
certfile = "{cert}"
keyfile = "{key}"
{extra_listener}
[store]
{store}
[homeassistant]
discovery = false
"""

    config = tmp_path / "gateway.toml"
    write(config, text())
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1", WAIT)
        watcher = TestClient(port, "watcher", version=V5)
        watcher.subscribe([("edge/gateway/reload", 1), ("t/#", 1)])
        renewed = new_ca.issue_cert("127.0.0.1")
        renewed.cert_chain_pems[0].write_to_path(cert)
        renewed.private_key_pem.write_to_path(key)
        b = f'[[broker.listeners]]\nname = "b"\nport = {added}\n'
        write(config, text(b, "max_packet_size = 256", "memory_window = 50"))
        proc.send_signal(signal.SIGHUP)
        result = result_of(watcher)
        notify.wait_for("READY=1", WAIT)

        assert result["ok"] is True
        assert outcomes(result, "listener") == {
            "a": "unchanged",
            "secure": "reconfigured",
            "b": "added",
        }
        assert outcomes(result, "broker") == {"max_packet_size": "reconfigured"}
        assert outcomes(result, "store") == {"memory_window": "needs restart"}
        assert handshake(tls_port, tmp_path / "new-ca.pem")
        fresh = TestClient(added, "fresh", version=V5)
        assert fresh.connack_properties.MaximumPacketSize == 256
        fresh.publish("t/x", b"via b", qos=1)
        wait_for(watcher, lambda m: m.payload == b"via b")
        stayed(watcher)
        for client in (watcher, fresh):
            client.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output = proc.stdout.read()
    assert "reload: listener b: added" in output
