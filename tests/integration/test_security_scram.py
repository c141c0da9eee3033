"""MQTT 5 enhanced authentication with SCRAM-SHA-256 (spec 4.12, RFC 7677) over a real socket.

paho-mqtt 2.2 has no AUTH packet support, so these tests drive the exchange with RawClient (our
codec) and ScramClient; the RFC 7677 test vector itself is in tests/unit/security/test_scram.py.
"""

from __future__ import annotations

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.scram import METHOD, ScramClient, ScramCredentialsFile
from gateway.broker.settings import BrokerSettings
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Disconnect,
    Pingreq,
    Pingresp,
    Publish,
    Suback,
    Subscribe,
    Subscription,
)
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
    raw.send(
        _auth(R.CONTINUE_AUTHENTICATION, scram.final(challenge.properties.authentication_data))
    )
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


def test_scram_identity_is_the_username_for_the_acl(scram_broker):
    raw, _, _, connack = scram_connect(scram_broker.port, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    raw.send(
        Subscribe(
            1, (Subscription("alice/x", QoS.AT_MOST_ONCE), Subscription("bob/x", QoS.AT_MOST_ONCE))
        )
    )
    suback = raw.recv()
    assert isinstance(suback, Suback)
    assert suback.reason_codes == (R.SUCCESS, R.NOT_AUTHORIZED)
    raw.send(Publish("alice/x", b"hi"))
    assert raw.recv().payload == b"hi"
    raw.close()


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "wonderland")])
def test_wrong_password_or_unknown_user_gets_connack_0x87_MQTT_4_12_0_4(
    scram_broker, user, password
):
    raw, _, challenge, connack = scram_connect(scram_broker.port, user, password)
    assert challenge is not None  # an unknown user is not revealed before the proof
    assert isinstance(connack, Connack) and connack.reason_code == R.NOT_AUTHORIZED
    assert raw.wait_closed() == []
    stats = scram_broker.run(lambda: scram_broker.broker.core.stats.connections_refused)
    assert stats == 1


def test_unknown_method_gets_connack_0x8c_MQTT_4_12_0_1(scram_broker):
    raw = RawClient(scram_broker.port, version=5)
    raw.send(_connect("c1", b"x", method="GS2-KRB5"))
    connack = raw.recv()
    assert isinstance(connack, Connack) and connack.reason_code == R.BAD_AUTHENTICATION_METHOD
    raw.wait_closed()


def test_without_a_scram_file_scram_is_not_offered(make_broker):
    auth = GatewayAuth({"default": ListenerPolicy(allow_anonymous=True)})
    thread = make_broker(authenticator=auth, authorizer=auth)
    _raw, _, challenge, connack = scram_connect(thread.port, "alice", "wonderland")
    assert challenge is None
    assert connack.reason_code == R.BAD_AUTHENTICATION_METHOD


def test_auth_without_method_in_connect_is_a_protocol_error_MQTT_4_12_0_7(make_broker):
    open_broker = make_broker()
    raw = RawClient(open_broker.port, version=5)
    assert raw.connect("plain").reason_code == R.SUCCESS
    raw.send(_auth(R.RE_AUTHENTICATE, b"n,,n=alice,r=abc"))
    (disconnect,) = raw.wait_closed()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.PROTOCOL_ERROR


def test_auth_with_another_method_is_a_protocol_error_MQTT_4_12_0_5(scram_broker):
    raw = RawClient(scram_broker.port, version=5)
    scram = ScramClient("alice", "wonderland")
    raw.send(_connect("c1", scram.first()))
    challenge = raw.recv()
    raw.send(
        _auth(
            R.CONTINUE_AUTHENTICATION,
            scram.final(challenge.properties.authentication_data),
            method="OTHER",
        )
    )
    (connack,) = raw.wait_closed()
    assert isinstance(connack, Connack) and connack.reason_code == R.PROTOCOL_ERROR


def test_other_packets_during_the_exchange_are_refused_MQTT_3_1_0_1(scram_broker):
    raw = RawClient(scram_broker.port, version=5)
    raw.send(_connect("c1", ScramClient("alice", "wonderland").first()))
    assert isinstance(raw.recv(), Auth)
    raw.send(Subscribe(1, (Subscription("alice/x", QoS.AT_MOST_ONCE),)))
    (connack,) = raw.wait_closed()
    assert isinstance(connack, Connack) and connack.reason_code == R.PROTOCOL_ERROR


def test_a_stalled_exchange_is_closed_by_the_connect_timeout(scram_broker):
    raw = RawClient(scram_broker.port, version=5)
    raw.send(_connect("c1", ScramClient("alice", "wonderland").first()))
    assert isinstance(raw.recv(), Auth)
    assert raw.wait_closed(timeout=5) == []  # connect_timeout is 1 s in this fixture
    limits = scram_broker.run(lambda: dict(scram_broker.broker.core.stats.limits_hit))
    assert limits["connect_timeout"] == 1


def _reauth(raw: RawClient, user: str, password: str):
    scram = ScramClient(user, password)
    raw.send(_auth(R.RE_AUTHENTICATE, scram.first()))  # [MQTT-4.12.1-1]
    challenge = raw.recv()
    assert isinstance(challenge, Auth) and challenge.reason_code == R.CONTINUE_AUTHENTICATION
    raw.send(
        _auth(R.CONTINUE_AUTHENTICATION, scram.final(challenge.properties.authentication_data))
    )
    return scram


def test_reauthentication_succeeds_with_auth_0x00_MQTT_4_12_1_1(scram_broker):
    raw, _, _, connack = scram_connect(scram_broker.port, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    scram = _reauth(raw, "alice", "wonderland")
    done = raw.recv()
    assert isinstance(done, Auth) and done.reason_code == R.SUCCESS
    scram.verify(done.properties.authentication_data)
    raw.send(Pingreq())
    assert isinstance(raw.recv(), Pingresp)  # still connected
    raw.close()


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("bob", "builder")])
def test_failed_reauthentication_disconnects_with_0x87_MQTT_4_12_1_2(scram_broker, user, password):
    raw, _, _, connack = scram_connect(scram_broker.port, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    _reauth(raw, user, password)  # a wrong password, or another user than the connected one
    (disconnect,) = raw.wait_closed()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.NOT_AUTHORIZED


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


def test_scram_guesses_share_the_login_back_off(scram_broker):
    for _ in range(4):  # 3 free failures, then a 1 s window
        raw, _, _, connack = scram_connect(scram_broker.port, "alice", "guess")
        assert connack.reason_code == R.NOT_AUTHORIZED
        raw.close()
    raw, _, challenge, connack = scram_connect(scram_broker.port, "alice", "wonderland")
    assert challenge is None  # refused at the first step, the proof is never looked at
    assert isinstance(connack, Connack) and connack.reason_code == R.CONNECTION_RATE_EXCEEDED
    raw.close()
    limits = scram_broker.run(lambda: scram_broker.broker.core.stats.limits_hit)
    assert limits["login_backoff"] == 1
