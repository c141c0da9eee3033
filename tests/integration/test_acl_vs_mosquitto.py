"""The README's ACL table, run against our broker and a real Mosquitto 2.0 with the same files.

For every case the same subscriber (user, client id, filter) subscribes on both brokers, the same
publisher then publishes the same topics, and the deliveries (retained ones included) must be the
same on both and equal to the table. The one difference, documented: a filter that can deliver
nothing is refused by us (SUBACK 0x87 in 5.0, 0x80 in 3.1.1) where Mosquitto grants it and then
delivers nothing.

The password file is written by `edge-gateway passwd -I 1000`: Mosquitto accepting it shows the
file (with a non-default PBKDF2 count) stays in its format.
"""

from __future__ import annotations

import queue

import pytest

from gateway import passwd_tool
from gateway.broker.auth import GatewayAuth, ListenerPolicy
from tests.support.broker_thread import BrokerThread
from tests.support.clients import V5, V311, TestClient
from tests.support.mosquitto import AclMosquitto, mosquitto_available

pytestmark = pytest.mark.skipif(not mosquitto_available(), reason="mosquitto is not installed")

ACL = """\
# anonymous clients
topic read public/#

user home
topic readwrite #
topic deny secret/#

user alice
topic read a/#
topic deny a/secret
topic write w/#
topic read dev/alice/locked/override

user writer
topic write #

user admin
topic read #

pattern read sync/%c
pattern write home_%c/state
pattern read dev/%u/#
pattern deny dev/%u/locked/#
pattern read cl/%c/+
"""

USERS = {
    "home": "home-pw",
    "alice": "alice-pw",
    "writer": "writer-pw",
    "carol": "carol-pw",
    "admin": "admin-pw",
}

RETAINED = ["secret/kept", "other/kept", "a/kept", "a/secret"]
LIVE = [
    "secret/x",
    "secret/a/b",
    "homeassistant/sensor/n/t/config",
    "homeassistant/light/n/config",
    "other/x",
    "w/x",
    "top",
    "a/public",
    "a/secret",
    "a/x/y",
    "dev/alice/temp",
    "dev/alice/locked/x",
    "dev/alice/locked/override",
    "dev/bob/temp",
    "cl/c1/x",
    "cl/other/x",
    "public/news",
]

HA = ["homeassistant/sensor/n/t/config", "homeassistant/light/n/config"]
# (user, client id, filter, what is delivered: live topics, then retained ones "topic (r)").
# "cl/c1/x" stands for cl/<the subscriber's client id>/x, the topic of `pattern read cl/%c/+`.
CASES = [
    (
        "home",
        "h1",
        "#",
        [
            *HA,
            "other/x",
            "w/x",
            "top",
            "a/public",
            "a/secret",
            "a/x/y",
            "dev/alice/temp",
            "dev/alice/locked/x",
            "dev/alice/locked/override",
            "dev/bob/temp",
            "cl/c1/x",
            "cl/other/x",
            "public/news",
            "other/kept (r)",
            "a/kept (r)",
            "a/secret (r)",
        ],
    ),
    (
        "home",
        "h2",
        "+/+",
        [
            "other/x",
            "w/x",
            "a/public",
            "a/secret",
            "public/news",
            "other/kept (r)",
            "a/kept (r)",
            "a/secret (r)",
        ],
    ),
    ("home", "h3", "homeassistant/#", HA),
    ("home", "h4", "homeassistant/+/+/config", ["homeassistant/light/n/config"]),
    ("home", "h5", "+/x", ["other/x", "w/x"]),
    ("home", "h6", "secret/#", None),  # None: nothing readable; we refuse, Mosquitto grants
    ("home", "h7", "secret/x", None),
    ("alice", "a1", "a/#", ["a/public", "a/x/y", "a/kept (r)"]),
    ("alice", "a2", "a/secret", None),
    ("alice", "a3", "w/#", None),  # write-only
    ("alice", "a4", "dev/alice/#", ["dev/alice/temp", "dev/alice/locked/override"]),
    ("alice", "a5", "dev/bob/#", None),
    (
        "alice",
        "a6",
        "#",
        [
            "a/public",
            "a/x/y",
            "dev/alice/temp",
            "dev/alice/locked/override",
            "cl/c1/x",
            "a/kept (r)",
        ],
    ),
    # shared: the inner filter is checked (one with no retained topic: Mosquitto 2.0.11 sends
    # retained messages to a new shared subscription, which MQTT 5 section 4.8.2 rules out)
    ("alice", "a7", "$share/g/a/+/y", ["a/x/y"]),
    ("alice", "a8", "$share/g/a/secret", None),
    ("carol", "c1", "cl/+/x", ["cl/c1/x"]),  # a user without a block: patterns only
    ("carol", "c2", "dev/carol/#", []),  # readable, nothing published there
    (None, "n1", "public/#", ["public/news"]),
    (None, "n2", "#", ["public/news", "cl/c1/x"]),
    (None, "n3", "dev/alice/temp", None),  # %u patterns never apply to anonymous clients
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("aclcmp")
    for index, (user, password) in enumerate(USERS.items()):
        args = ["-b", "-I", "1000", str(d / "passwd"), user, password]
        assert passwd_tool.main(["-c", *args] if index == 0 else args) == 0
    (d / "acl").write_text(ACL)
    return d


@pytest.fixture(scope="module")
def brokers(files):
    mosquitto = AclMosquitto(files, files / "passwd", files / "acl").start()
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=True)},
        password_file=files / "passwd",
        acl_file=files / "acl",
    )
    ours = BrokerThread(authenticator=auth, authorizer=auth).start()
    try:
        for port in (ours.port, mosquitto.port):
            writer = TestClient(port, "writer-r", username="writer", password=USERS["writer"])
            for topic in RETAINED:
                writer.publish(topic, f"{topic} (r)", qos=1, retain=True)
            writer.disconnect()
        yield {"ours": ours.port, "mosquitto": mosquitto.port}
    finally:
        ours.stop()
        mosquitto.stop()


def run_case(
    port: int, version: int, user: str | None, client_id: str, topic_filter: str
) -> tuple[int, list[str]]:
    """SUBSCRIBE, then the publisher's topics and a sentinel on sync/<client id>; returns the
    SUBACK code and the payloads delivered before the sentinel (sorted)."""
    sub = TestClient(
        port, client_id, version=version, username=user, password=USERS.get(user or "")
    )
    writer = TestClient(port, f"writer-{client_id}", username="writer", password=USERS["writer"])
    try:
        (code,) = sub.subscribe(topic_filter, 1)
        assert sub.subscribe(f"sync/{client_id}", 1) == [1]
        for topic in LIVE:
            topic = topic.replace("cl/c1/x", f"cl/{client_id}/x")  # the %c pattern's own topic
            writer.publish(topic, topic, qos=1)
        writer.publish(f"sync/{client_id}", "sync", qos=1)
        delivered: list = []
        while True:  # in order from one publisher: everything before the sentinel has arrived
            try:
                message = sub.expect_one()
            except queue.Empty:
                pytest.fail(f"no sentinel; delivered so far {delivered}")
            if message.topic.startswith("sync/"):
                break
            assert message.payload.decode().startswith(message.topic)
            delivered.append(message.payload.decode())
        return code, sorted(delivered)
    finally:
        sub.disconnect()
        writer.disconnect()


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize(
    ("user", "client_id", "topic_filter", "expected"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_acl_table_matches_mosquitto(brokers, version, user, client_id, topic_filter, expected):
    client_id = f"{client_id}-v{version}"
    if expected is not None:
        expected = [t.replace("cl/c1/x", f"cl/{client_id}/x") for t in expected]
    ours_code, ours = run_case(brokers["ours"], version, user, client_id, topic_filter)
    mosq_code, mosquitto = run_case(brokers["mosquitto"], version, user, client_id, topic_filter)
    assert mosq_code == 1  # Mosquitto 2.0 grants every SUBSCRIBE
    assert ours == mosquitto, "deliveries differ from Mosquitto's"
    if expected is None:  # the one documented difference
        assert mosquitto == []
        assert ours_code == (0x87 if version == V5 else 0x80)
    else:
        assert ours_code == 1
        assert ours == sorted(expected)


# (publisher, client id, topic, delivered to an observer that may read everything)
PUBLISH_CASES = [
    ("alice", "p1", "w/x", True),  # topic write
    ("alice", "p2", "a/public", False),  # read only
    ("alice", "p3", "dev/alice/x", False),  # pattern read only
    ("home", "p4", "other/y", True),  # readwrite #
    ("home", "p5", "secret/y", False),  # topic deny
    ("carol", "k1", "home_k1/state", True),  # %c inside a level is substituted too
    ("carol", "k2", "home_k1/state", False),
    (None, "p6", "public/news", False),  # anonymous: read only
    (None, "k3", "home_k3/state", True),  # %c patterns apply to anonymous clients
]


@pytest.mark.parametrize("version", [V311, V5])
@pytest.mark.parametrize(
    ("user", "client_id", "topic", "delivered"),
    PUBLISH_CASES,
    ids=[f"{c[0]}-{c[2]}" for c in PUBLISH_CASES],
)
def test_publish_acl_matches_mosquitto(brokers, version, user, client_id, topic, delivered):
    for name, port in brokers.items():
        observer = TestClient(
            port, f"obs-{client_id}-{version}", username="admin", password=USERS["admin"]
        )
        publisher = TestClient(
            port, client_id, version=version, username=user, password=USERS.get(user or "")
        )
        writer = TestClient(
            port, f"w-{client_id}-{version}", username="writer", password=USERS["writer"]
        )
        try:
            assert observer.subscribe(topic, 1) == [1]
            assert observer.subscribe(f"sync/{client_id}", 1) == [1]
            publisher.publish(topic, b"p", qos=1)  # acknowledged (5.0: 0x87 when denied)
            writer.publish(f"sync/{client_id}", b"s", qos=1)  # routed after the publish above
            got = [observer.expect_one().topic]
            if got[0] != f"sync/{client_id}":
                got.append(observer.expect_one().topic)
            assert got == ([topic] if delivered else []) + [f"sync/{client_id}"], name
        finally:
            for client in (observer, publisher, writer):
                client.disconnect()
