"""TLS and mTLS listeners, certificate identities, the Unix socket listener and the per-listener
anonymous policy, over real sockets with paho clients.

Every broker here is built the way the gateway builds it: a config dict -> `gateway.config.parse`
-> `gateway.app.listener_specs` / `build_auth`. Certificates are made per test module by trustme.
"""

from __future__ import annotations

import datetime
import queue
import ssl
import warnings
from typing import Literal

import paho.mqtt.client as mqtt
import pytest
import trustme
from paho.mqtt.enums import CallbackAPIVersion

from gateway.app import build_auth, listener_specs
from gateway.config import parse
from tests.support.broker_thread import BrokerThread
from tests.support.clients import V5, V311, TestClient

REFUSED = "refused"  # the TLS handshake or the socket failed before any CONNACK


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    now = datetime.datetime.now(datetime.UTC)
    files = {"ca": d / "ca.pem", "other_ca": d / "other_ca.pem"}
    ca.cert_pem.write_to_path(files["ca"])
    other_ca.cert_pem.write_to_path(files["other_ca"])
    leaves = {
        "server": ca.issue_cert("127.0.0.1", "localhost"),
        "good": ca.issue_cert("device-7.example", common_name="sensor-1"),
        "other": ca.issue_cert("device-8.example", common_name="sensor-2"),
        "expired": ca.issue_cert(
            "old.example",
            common_name="sensor-1",
            not_before=now - datetime.timedelta(days=10),
            not_after=now - datetime.timedelta(days=1),
        ),
        "wrong_ca": other_ca.issue_cert("device-7.example", common_name="sensor-1"),
        "server_other_ca": other_ca.issue_cert("127.0.0.1"),
    }
    for name, leaf in leaves.items():
        leaf.private_key_and_cert_chain_pem.write_to_path(d / f"{name}.pem")
        files[name] = d / f"{name}.pem"
    return files


def start(data: dict) -> BrokerThread:
    data = {
        "broker": {"sys_interval": 0, **data.get("broker", {})},
        **{k: v for k, v in data.items() if k != "broker"},
    }
    config = parse(data)
    auth = build_auth(config)
    return BrokerThread(
        config.broker.settings("test"),
        listener_specs(config),
        authenticator=auth,
        authorizer=auth,
        max_connections=config.broker.max_connections,
    ).start()


@pytest.fixture
def brokers():
    started: list[BrokerThread] = []

    def _start(data: dict) -> BrokerThread:
        thread = start(data)
        started.append(thread)
        return thread

    yield _start
    for thread in started:
        thread.stop()


def tls_listener(pki, **tls) -> dict:
    return {
        "name": "tls",
        "host": "127.0.0.1",
        "port": 0,
        "tls": {"certfile": str(pki["server"]), "keyfile": str(pki["server"]), **tls},
    }


def client_tls(pki, cert: str | None = None, ca: str = "ca", **kw) -> dict:
    out = {"ca_certs": str(pki[ca]), **kw}
    if cert is not None:
        out["certfile"] = out["keyfile"] = str(pki[cert])
    return out


def attempt(
    port: int,
    *,
    tls: dict | None = None,
    version: int = V5,
    username: str | None = None,
    password: str | None = None,
    host: str = "127.0.0.1",
    transport: Literal["tcp", "unix"] = "tcp",
):
    """Connect once with paho: the CONNACK reason code as an int, or REFUSED."""
    events: queue.Queue = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="probe",
        protocol=mqtt.MQTTProtocolVersion(version),
        transport=transport,
    )
    client.on_connect = lambda c, u, f, rc, p: events.put(("connack", rc))
    client.on_disconnect = lambda c, u, f, rc, p: events.put(("disconnect", rc))
    if tls is not None:
        client.tls_set(**tls)
    if username is not None:
        client.username_pw_set(username, password)
    try:
        client.connect(host, port, 30)
    except (ssl.SSLError, OSError):
        return REFUSED
    client.loop_start()
    try:
        kind, rc = events.get(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()
    if kind != "connack":
        return REFUSED
    return int(getattr(rc, "value", rc))


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_listener_serves_a_client_that_trusts_its_ca(brokers, pki):
    thread = brokers({"broker": {"listeners": [tls_listener(pki)]}, "auth": {}})
    tls = client_tls(pki)
    sub = TestClient(thread.port, "sub", tls=tls)
    sub.subscribe("t/#", 1)
    pub = TestClient(thread.port, "pub", tls=tls, version=V5)
    pub.publish("t/1", b"over tls", qos=1)
    assert sub.expect_one().payload == b"over tls"
    sub.disconnect()
    pub.disconnect()


def test_client_refuses_a_server_certificate_from_another_ca(brokers, pki):
    listener = tls_listener(pki)
    listener["tls"].update(
        certfile=str(pki["server_other_ca"]), keyfile=str(pki["server_other_ca"])
    )
    thread = brokers({"broker": {"listeners": [listener]}})
    assert attempt(thread.port, tls=client_tls(pki)) == REFUSED
    assert attempt(thread.port, tls=client_tls(pki, ca="other_ca")) == 0


def test_minimum_tls_version_is_enforced(brokers, pki):
    thread = brokers({"broker": {"listeners": [tls_listener(pki, min_version="1.3")]}})
    old = ssl.create_default_context(cafile=str(pki["ca"]))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old")
    client.tls_set_context(old)
    with pytest.raises((ssl.SSLError, OSError)):
        client.connect("127.0.0.1", thread.port, 30)
    assert attempt(thread.port, tls=client_tls(pki)) == 0


def test_default_minimum_refuses_tls_1_1(brokers, pki):
    thread = brokers({"broker": {"listeners": [tls_listener(pki)]}})
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(pki["ca"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is what we test refusing
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old")
    client.tls_set_context(old)
    with pytest.raises((ssl.SSLError, OSError)):
        client.connect("127.0.0.1", thread.port, 30)


def test_cipher_setting_limits_tls_1_2_suites(brokers, pki):
    suite = "ECDHE-ECDSA-AES256-GCM-SHA384"
    thread = brokers({"broker": {"listeners": [tls_listener(pki, ciphers=suite)]}})
    for ciphers, expected in (("ECDHE-ECDSA-AES128-GCM-SHA256", REFUSED), (suite, 0)):
        context = ssl.create_default_context(cafile=str(pki["ca"]))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
        events: queue.Queue = queue.Queue()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c")
        client.tls_set_context(context)
        client.on_connect = lambda c, u, f, rc, p, events=events: events.put(
            int(getattr(rc, "value", rc))
        )
        try:
            client.connect("127.0.0.1", thread.port, 30)
        except (ssl.SSLError, OSError):
            got = REFUSED
        else:
            client.loop_start()
            got = events.get(timeout=5)
            client.disconnect()
            client.loop_stop()
        assert got == expected, ciphers


# --- mTLS --------------------------------------------------------------------------------------


@pytest.fixture
def mtls(brokers, pki):
    return brokers(
        {
            "broker": {
                "listeners": [tls_listener(pki, cafile=str(pki["ca"]), require_certificate=True)]
            },
            "auth": {},
        }
    )


def test_mtls_good_certificate_connects(mtls, pki):
    assert attempt(mtls.port, tls=client_tls(pki, "good")) == 0


@pytest.mark.parametrize("cert", ["wrong_ca", "expired", None])
def test_mtls_refuses_wrong_ca_expired_or_missing_certificate(mtls, pki, cert):
    assert attempt(mtls.port, tls=client_tls(pki, cert)) == REFUSED
    # the broker still serves a well-behaved client afterwards, and kept nothing of the refused one
    good = TestClient(mtls.port, "good", tls=client_tls(pki, "good"))
    assert mtls.run(lambda: len(mtls.broker.core.connections)) == 1
    good.disconnect()


def test_mtls_listener_does_not_let_anonymous_in_without_identity(brokers, pki):
    # a non-loopback-style listener (allow_anonymous false) with mTLS but no identity mapping:
    # the certificate gets a client through TLS, the MQTT layer still wants a username
    listener = tls_listener(pki, cafile=str(pki["ca"]), require_certificate=True)
    listener["allow_anonymous"] = False
    thread = brokers({"broker": {"listeners": [listener]}})
    assert attempt(thread.port, tls=client_tls(pki, "good")) == 0x87


# --- certificate identity as username, with an ACL ---------------------------------------------

ACL = """\
user sensor-1
topic readwrite sensors/sensor-1/#
user device-7.example
topic readwrite devices/device-7.example/#
"""


@pytest.mark.parametrize(
    ("source", "own", "foreign"),
    [
        ("cn", "sensors/sensor-1/temp", "sensors/sensor-2/temp"),
        ("san", "devices/device-7.example/temp", "sensors/sensor-1/temp"),
    ],
)
@pytest.mark.parametrize("version", [V311, V5])
def test_certificate_identity_is_the_username_for_the_acl(
    brokers, pki, tmp_path, source, own, foreign, version
):
    (tmp_path / "acl").write_text(ACL)
    listener = tls_listener(
        pki, cafile=str(pki["ca"]), require_certificate=True, use_identity_as_username=source
    )
    thread = brokers(
        {"broker": {"listeners": [listener]}, "auth": {"acl_file": str(tmp_path / "acl")}}
    )
    # the username in CONNECT is ignored: the certificate names the user
    client = TestClient(
        thread.port,
        "dev",
        version=version,
        tls=client_tls(pki, "good"),
        username="someone-else",
        password="x",
    )
    granted, refused = client.subscribe([(own, 1), (foreign, 1)])
    assert granted == 1
    assert refused == (0x87 if version == V5 else 0x80)  # [MQTT-3.9.3-1]
    client.publish(own, b"mine", qos=1)
    assert client.expect_one().payload == b"mine"
    client.disconnect()


def test_identity_listener_refuses_a_client_without_a_certificate(brokers, pki):
    listener = tls_listener(pki, cafile=str(pki["ca"]), use_identity_as_username="cn")
    thread = brokers({"broker": {"listeners": [listener]}})
    assert attempt(thread.port, tls=client_tls(pki), username="sensor-1", password="x") == 0x87
    assert attempt(thread.port, tls=client_tls(pki, "good")) == 0


# --- Unix socket and the per-listener anonymous policy -----------------------------------------


def test_unix_socket_listener_allows_local_tools_anonymously(brokers, tmp_path):
    path = tmp_path / "mqtt.sock"
    thread = brokers(
        {
            "broker": {
                "listeners": [
                    {"name": "tcp", "host": "127.0.0.1", "port": 0},
                    {"name": "local", "unix_path": str(path)},
                ]
            }
        }
    )
    assert path.exists()
    assert attempt(1, host=str(path), transport="unix", version=V311) == 0  # port unused
    connected = thread.run(lambda: thread.broker.core.stats.clients_maximum)
    assert connected == 1


def test_anonymous_refused_where_the_config_defaults_say_so(brokers, tmp_path):
    """A listener on a non-loopback address refuses anonymous clients by default (Mosquitto 2's
    stance). The policy comes from the config; the socket is bound to loopback here so the test
    does not listen on the LAN, under the name of the non-loopback listener."""
    config = parse({"broker": {"listeners": [{"name": "lan", "host": "0.0.0.0", "port": 1883}]}})
    auth = build_auth(config)
    assert auth.policies["lan"].allow_anonymous is False
    from gateway.broker.server import ListenerSpec

    thread = BrokerThread(
        listeners=[ListenerSpec("lan", "127.0.0.1", 0)], authenticator=auth, authorizer=auth
    ).start()
    try:
        assert attempt(thread.port, version=V311) == 0x87
        assert attempt(thread.port, version=V5) == 0x87
    finally:
        thread.stop()
    loopback = brokers({"broker": {"listeners": [{"name": "lo", "host": "127.0.0.1", "port": 0}]}})
    assert attempt(loopback.port, version=V5) == 0


def test_explicit_allow_anonymous_on_a_listener(brokers):
    thread = brokers(
        {
            "broker": {
                "listeners": [
                    {"name": "open", "host": "127.0.0.1", "port": 0, "allow_anonymous": True},
                    {"name": "closed", "host": "127.0.0.1", "port": 0, "allow_anonymous": False},
                ]
            }
        }
    )
    open_port, closed_port = (port for _, port in thread.broker.addresses)
    assert attempt(open_port) == 0
    assert attempt(closed_port) == 0x87
