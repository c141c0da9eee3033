"""MQTT 5 enhanced authentication with SCRAM-SHA-256 (spec 4.12, RFC 7677) over a real socket: the
exchange end to end with no password on the wire, and SCRAM beside a mosquitto_passwd file on one
listener. The protocol rules of the exchange (refusals, methods, re-authentication, the connect
timeout, the shared back-off) are tested without sockets in tests/unit/broker/test_scram_rules.py.

paho-mqtt 2.2 has no AUTH packet support, so these tests drive the exchange with RawClient (our
codec) and ScramClient; the RFC 7677 test vector itself is in tests/unit/security/test_scram.py.
"""

from __future__ import annotations

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.scram import METHOD, ScramClient, ScramCredentialsFile
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Auth, Connack
from gateway.mqtt.properties import Properties
from tests.support.raw import RawClient

R = ReasonCode
ACL = "user alice\ntopic readwrite alice/#\n"


@pytest.fixture
def auth_files(tmp_path):
    scram = ScramCredentialsFile()
    scram.set("alice", "wonderland")
    scram.set("bob", "builder")
    scram.save(tmp_path / "scram")
    (tmp_path / "acl").write_text(ACL)
    return tmp_path


@pytest.fixture
def scram_broker(make_broker, auth_files):
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=False)},
        acl_file=auth_files / "acl",
        scram_file=auth_files / "scram",
    )
    return make_broker(
        BrokerSettings(sys_interval=0, connect_timeout=1.0), authenticator=auth, authorizer=auth
    )


class RecordingRaw(RawClient):
    """RawClient that keeps every byte it sent (to prove no password crosses the wire)."""

    def __init__(self, port: int) -> None:
        super().__init__(port, version=5)
        self.sent = bytearray()

    def send(self, packet) -> None:
        from gateway.mqtt.codec import encode

        data = encode(packet, self.version)
        self.sent += data
        self.sock.sendall(data)


def _auth(code: ReasonCode, data: bytes, method: str = METHOD) -> Auth:
    return Auth(code, Properties(authentication_method=method, authentication_data=data))


def scram_connect(port: int, user: str, password: str, client_id: str = "c1"):
    """Run the 4.12 exchange; returns (client, scram client, AUTH from server, final packet)."""
    raw = RecordingRaw(port)
    scram = ScramClient(user, password)
    raw.send(_connect(client_id, scram.first()))
    challenge = raw.recv()
    if not isinstance(challenge, Auth):
        return raw, scram, None, challenge
    data = challenge.properties.authentication_data
    assert data is not None
    raw.send(_auth(R.CONTINUE_AUTHENTICATION, scram.final(data)))
    return raw, scram, challenge, raw.recv()


def _connect(client_id: str, data: bytes | None, method: str = METHOD):
    from gateway.mqtt.packets import Connect

    return Connect(
        client_id,
        protocol_version=5,
        properties=Properties(authentication_method=method, authentication_data=data),
    )


def test_scram_exchange_connects_and_server_proves_it_knows_the_key_MQTT_4_12_0_2(scram_broker):
    raw, scram, challenge, connack = scram_connect(scram_broker.port, "alice", "wonderland")
    assert challenge.reason_code == R.CONTINUE_AUTHENTICATION  # [MQTT-4.12.0-2]
    assert challenge.properties.authentication_method == METHOD  # [MQTT-4.12.0-5]
    assert isinstance(connack, Connack) and connack.reason_code == R.SUCCESS
    assert connack.properties.authentication_method == METHOD  # [MQTT-4.12.0-5]
    scram.verify(connack.properties.authentication_data)  # RFC 5802 server signature
    assert b"wonderland" not in raw.sent  # no password on the wire, even without TLS
    raw.close()


def test_scram_and_passwords_coexist_on_one_listener(make_broker, auth_files):
    import subprocess

    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(auth_files / "pw"), "carol", "secret"],
        check=True,
        timeout=30,
        capture_output=True,
    )
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=False)},
        password_file=auth_files / "pw",
        scram_file=auth_files / "scram",
    )
    thread = make_broker(authenticator=auth, authorizer=auth)
    raw = RawClient(thread.port, version=5)
    assert raw.connect("p", username="carol", password=b"secret").reason_code == R.SUCCESS
    _, _, _, connack = scram_connect(thread.port, "alice", "wonderland", client_id="s")
    assert connack.reason_code == R.SUCCESS
    raw.close()
