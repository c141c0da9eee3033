"""The ACL file's rules on the in-memory broker (tests/support/broker_pair.py: the real core,
connection and GatewayAuth, no sockets), both protocol versions: every rule form.

A SUBSCRIBE whose filter can deliver nothing gets 0x80 (3.1.1) / 0x87 (5.0) in SUBACK
[MQTT-3.9.3-1]; one that is partly readable is granted and filtered per delivery; a denied PUBLISH
is acknowledged and dropped in 3.1.1, answered 0x87 in 5.0 [MQTT-3.3.5-2] and logged. A password
file written by Mosquitto's own tool and the SIGHUP reload stay on sockets
(tests/integration/test_security_acl.py).
"""

from __future__ import annotations

import logging

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.passwords import PasswordHash
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Publish
from tests.support.broker_pair import BrokerPair, PairClient

R = ReasonCode
PASSWORDS = {"alice": b"alice-pw", "admin": b"admin-pw"}

ACL = """\
# anonymous clients
topic read anon/#
topic write anon/in
pattern readwrite c/%c/#

user alice
topic read r/#
topic write w/#
topic readwrite rw/#
topic o/#
topic read d/#
topic deny d/secret

user admin
topic read #

pattern readwrite u/%u/#
"""


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    lines = (f"{user}:{PasswordHash.create(pw).encode()}\n" for user, pw in PASSWORDS.items())
    (d / "pw").write_text("".join(lines))
    (d / "acl").write_text(ACL)
    return d


@pytest.fixture
def pair(auth_dir):
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=True)},
        password_file=auth_dir / "pw",
        acl_file=auth_dir / "acl",
    )
    pair = BrokerPair(authenticator=auth, authorizer=auth)
    pair.core.ratelog.interval = 0  # every denial logged: each case looks for its line
    return pair


def login(pair: BrokerPair, version: int, user: str | None, client_id: str) -> PairClient:
    password = PASSWORDS.get(user or "")
    return pair.connect(client_id, version, auto_ack=False, username=user, password=password)


SUBSCRIBE_CASES = [
    ("alice", "a1", "r/x", True),  # topic read
    ("alice", "a1", "w/x", False),  # topic write: no read
    ("alice", "a1", "rw/#", True),  # topic readwrite
    ("alice", "a1", "o/x", True),  # access omitted = readwrite
    ("alice", "a1", "d/#", True),  # partly readable: d/secret is filtered per delivery
    ("alice", "a1", "d/secret", False),  # wholly inside topic deny d/secret
    ("alice", "a1", "d/public", True),
    ("alice", "a1", "u/alice/x", True),  # pattern %u
    ("alice", "a1", "u/bob/x", False),
    ("alice", "a1", "c/a1/x", True),  # pattern %c
    ("alice", "a1", "c/a2/x", False),
    ("alice", "a1", "anon/x", False),  # anonymous rules are not a named user's
    (None, "n1", "anon/x", True),  # rules before any user line
    (None, "n1", "r/x", False),
    (None, "n1", "u/alice/x", False),  # %u patterns never apply to anonymous clients
    (None, "n1", "c/n1/#", True),  # %c patterns do
]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("user", "client_id", "topic_filter", "granted"), SUBSCRIBE_CASES)
def test_subscribe_acl_MQTT_3_9_3_1(pair, version, user, client_id, topic_filter, granted):
    client = login(pair, version, user, client_id)
    refused = R.NOT_AUTHORIZED if version == 5 else R.UNSPECIFIED_ERROR  # 0x87 / 0x80
    codes = client.subscribe(topic_filter, 1)
    assert codes == ((R.GRANTED_QOS_1,) if granted else (refused,))


PUBLISH_CASES = [
    ("alice", "a1", "r/x", False),  # read only
    ("alice", "a1", "w/x", True),
    ("alice", "a1", "rw/x", True),
    ("alice", "a1", "o/x", True),
    ("alice", "a1", "d/secret", False),  # no write rule there anyway
    ("alice", "a1", "u/alice/x", True),
    ("alice", "a1", "u/bob/x", False),
    ("alice", "a1", "c/a1/x", True),
    ("alice", "a1", "c/zz/x", False),
    (None, "n1", "anon/in", True),
    (None, "n1", "anon/other", False),  # anonymous may only read there
    (None, "n1", "c/n1/x", True),
]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("user", "client_id", "topic", "allowed"), PUBLISH_CASES)
def test_publish_acl_MQTT_3_3_5_2(pair, caplog, version, user, client_id, topic, allowed):
    observer = login(pair, 4, "admin", "observer")
    assert observer.subscribe("#", 1) == (1,)
    client = login(pair, version, user, client_id)
    with caplog.at_level(logging.INFO):
        client.send(Publish(topic, b"payload", QoS.AT_LEAST_ONCE, packet_id=7))
    puback = client.recv()
    assert isinstance(puback, Puback) and puback.packet_id == 7
    if allowed:
        assert puback.reason_code == R.SUCCESS
        assert [m.topic for m in observer.messages()] == [topic]
    else:
        # 5.0: 0x87 Not authorized; 3.1.1 has no way to say no: acknowledged and dropped
        assert puback.reason_code == (R.NOT_AUTHORIZED if version == 5 else R.SUCCESS)
        observer.expect_nothing()
        assert f"publish by {client_id} to {topic} denied" in caplog.text
        # the positive control: an allowed publish reaches the observer
        login(pair, 4, None, "control").publish("anon/in", b"allowed", qos=1)
        assert [m.topic for m in observer.messages()] == ["anon/in"]
