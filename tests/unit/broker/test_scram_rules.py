"""MQTT 5 enhanced authentication with SCRAM-SHA-256 (spec 4.12, RFC 7677) on the in-memory broker
with a fake clock (tests/support/broker_pair.py: the real core, connection and GatewayAuth, no
sockets). The exchange end to end over a real socket (and no password on the wire) stays in
tests/integration/test_security_scram.py; the RFC 7677 test vector is in
tests/unit/security/test_scram.py."""

from __future__ import annotations

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.scram import METHOD, ScramClient, ScramCredentialsFile
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Publish,
    Subscribe,
    Subscription,
)
from gateway.mqtt.properties import Properties
from tests.support.broker_pair import BrokerPair, PairClient

R = ReasonCode
ACL = "user alice\ntopic readwrite alice/#\n"


@pytest.fixture(scope="module")
def auth_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("scram")
    scram = ScramCredentialsFile()
    scram.set("alice", "wonderland")
    scram.set("bob", "builder")
    scram.save(d / "scram")
    (d / "acl").write_text(ACL)
    return d


@pytest.fixture
def pair(auth_files):
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=False)},
        acl_file=auth_files / "acl",
        scram_file=auth_files / "scram",
    )
    return BrokerPair(authenticator=auth, authorizer=auth, connect_timeout=1.0)


def _auth(code: ReasonCode, data: bytes, method: str = METHOD) -> Auth:
    return Auth(code, Properties(authentication_method=method, authentication_data=data))


def _connect(client_id: str, data: bytes | None, method: str = METHOD) -> Connect:
    props = Properties(authentication_method=method, authentication_data=data)
    return Connect(client_id, protocol_version=5, properties=props)


def scram_connect(pair: BrokerPair, user: str, password: str, client_id: str = "c1"):
    """Run the 4.12 exchange; returns (client, scram client, AUTH from server, final packet)."""
    client = pair.open(5)
    scram = ScramClient(user, password)
    client.send(_connect(client_id, scram.first()))
    challenge = client.recv()
    if not isinstance(challenge, Auth):
        return client, scram, None, challenge
    data = challenge.properties.authentication_data
    assert data is not None
    client.send(_auth(R.CONTINUE_AUTHENTICATION, scram.final(data)))
    return client, scram, challenge, client.recv()


def test_scram_exchange_connects_and_server_proves_it_knows_the_key_MQTT_4_12_0_2(pair):
    _, scram, challenge, connack = scram_connect(pair, "alice", "wonderland")
    assert challenge.reason_code == R.CONTINUE_AUTHENTICATION  # [MQTT-4.12.0-2]
    assert challenge.properties.authentication_method == METHOD  # [MQTT-4.12.0-5]
    assert isinstance(connack, Connack) and connack.reason_code == R.SUCCESS
    assert connack.properties.authentication_method == METHOD  # [MQTT-4.12.0-5]
    scram.verify(connack.properties.authentication_data)  # RFC 5802 server signature


def test_scram_identity_is_the_username_for_the_acl(pair):
    client, _, _, connack = scram_connect(pair, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    assert client.subscribe([("alice/x", 0), ("bob/x", 0)]) == (R.SUCCESS, R.NOT_AUTHORIZED)
    client.send(Publish("alice/x", b"hi"))
    assert client.message().payload == b"hi"


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "wonderland")])
def test_wrong_password_or_unknown_user_gets_connack_0x87_MQTT_4_12_0_4(pair, user, password):
    client, _, challenge, connack = scram_connect(pair, user, password)
    assert challenge is not None  # an unknown user is not revealed before the proof
    assert isinstance(connack, Connack) and connack.reason_code == R.NOT_AUTHORIZED
    assert client.closed and client.take() == []
    assert pair.core.stats.connections_refused == 1


def test_unknown_method_gets_connack_0x8c_MQTT_4_12_0_1(pair):
    client = pair.open(5)
    client.send(_connect("c1", b"x", method="GS2-KRB5"))
    connack = client.recv()
    assert isinstance(connack, Connack) and connack.reason_code == R.BAD_AUTHENTICATION_METHOD
    assert client.closed


def test_without_a_scram_file_scram_is_not_offered():
    auth = GatewayAuth({"default": ListenerPolicy(allow_anonymous=True)})
    pair = BrokerPair(authenticator=auth, authorizer=auth)
    _, _, challenge, connack = scram_connect(pair, "alice", "wonderland")
    assert challenge is None
    assert connack.reason_code == R.BAD_AUTHENTICATION_METHOD


def test_auth_without_method_in_connect_is_a_protocol_error_MQTT_4_12_0_7():
    pair = BrokerPair()
    client = pair.connect("plain")
    client.send(_auth(R.RE_AUTHENTICATE, b"n,,n=alice,r=abc"))
    (disconnect,) = client.take()
    assert client.closed
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.PROTOCOL_ERROR


def test_auth_with_another_method_is_a_protocol_error_MQTT_4_12_0_5(pair):
    client = pair.open(5)
    scram = ScramClient("alice", "wonderland")
    client.send(_connect("c1", scram.first()))
    challenge = client.recv()
    data = scram.final(challenge.properties.authentication_data)
    client.send(_auth(R.CONTINUE_AUTHENTICATION, data, method="OTHER"))
    assert client.closed
    (connack,) = client.take()
    assert isinstance(connack, Connack) and connack.reason_code == R.PROTOCOL_ERROR


def test_other_packets_during_the_exchange_are_refused_MQTT_3_1_0_1(pair):
    client = pair.open(5)
    client.send(_connect("c1", ScramClient("alice", "wonderland").first()))
    assert isinstance(client.recv(), Auth)
    client.send(Subscribe(1, (Subscription("alice/x", QoS.AT_MOST_ONCE),)))
    assert client.closed
    (connack,) = client.take()
    assert isinstance(connack, Connack) and connack.reason_code == R.PROTOCOL_ERROR


def test_a_stalled_exchange_is_closed_by_the_connect_timeout(pair):
    client = pair.open(5)
    client.send(_connect("c1", ScramClient("alice", "wonderland").first()))
    assert isinstance(client.recv(), Auth)
    pair.advance(0.99)  # connect_timeout is 1 s in this fixture
    assert not client.closed
    pair.advance(0.02)
    assert client.closed and client.take() == []
    assert pair.core.stats.limits_hit["connect_timeout"] == 1


def _reauth(client: PairClient, user: str, password: str) -> ScramClient:
    scram = ScramClient(user, password)
    client.send(_auth(R.RE_AUTHENTICATE, scram.first()))  # [MQTT-4.12.1-1]
    challenge = client.recv()
    assert isinstance(challenge, Auth) and challenge.reason_code == R.CONTINUE_AUTHENTICATION
    data = challenge.properties.authentication_data
    assert data is not None
    client.send(_auth(R.CONTINUE_AUTHENTICATION, scram.final(data)))
    return scram


def test_reauthentication_succeeds_with_auth_0x00_MQTT_4_12_1_1(pair):
    client, _, _, connack = scram_connect(pair, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    scram = _reauth(client, "alice", "wonderland")
    done = client.recv()
    assert isinstance(done, Auth) and done.reason_code == R.SUCCESS
    scram.verify(done.properties.authentication_data)
    client.send(Pingreq())
    assert isinstance(client.recv(), Pingresp)  # still connected


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("bob", "builder")])
def test_failed_reauthentication_disconnects_with_0x87_MQTT_4_12_1_2(pair, user, password):
    client, _, _, connack = scram_connect(pair, "alice", "wonderland")
    assert connack.reason_code == R.SUCCESS
    _reauth(client, user, password)  # a wrong password, or another user than the connected one
    assert client.closed
    (disconnect,) = client.take()
    assert isinstance(disconnect, Disconnect) and disconnect.reason_code == R.NOT_AUTHORIZED


def test_scram_guesses_share_the_login_back_off(pair):
    for _ in range(4):  # 3 free failures, then a 1 s window
        _, _, _, connack = scram_connect(pair, "alice", "guess")
        assert connack.reason_code == R.NOT_AUTHORIZED
    _, _, challenge, connack = scram_connect(pair, "alice", "wonderland")
    assert challenge is None  # refused at the first step, the proof is never looked at
    assert isinstance(connack, Connack) and connack.reason_code == R.CONNECTION_RATE_EXCEEDED
    assert pair.core.stats.limits_hit["login_backoff"] == 1
