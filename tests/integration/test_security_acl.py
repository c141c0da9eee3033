"""Password and ACL files over real sockets, both protocol versions: every ACL rule form, a
password file written by Debian's mosquitto_passwd, and SIGHUP reload of a running gateway.

A SUBSCRIBE whose filter can deliver nothing gets 0x80 (3.1.1) / 0x87 (5.0) in SUBACK
[MQTT-3.9.3-1]; one that is partly readable is granted and filtered per delivery; a denied PUBLISH
is acknowledged and dropped in 3.1.1, answered 0x87 in 5.0 [MQTT-3.3.5-2] and logged.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.packets import Puback, Publish, Suback, Subscribe, Subscription
from tests.support.clients import V5, V311, TestClient
from tests.support.gateway_process import free_port
from tests.support.raw import RawClient

R = ReasonCode
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

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


def mosquitto_passwd(*args: str) -> None:
    subprocess.run([MOSQUITTO_PASSWD, *args], check=True, timeout=30, capture_output=True)


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    mosquitto_passwd("-c", "-b", str(d / "pw"), "alice", "alice-pw")
    mosquitto_passwd("-b", str(d / "pw"), "admin", "admin-pw")
    (d / "acl").write_text(ACL)
    return d


@pytest.fixture(scope="module")
def acl_broker(auth_dir):
    from tests.support.broker_thread import BrokerThread

    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=True)},
        password_file=auth_dir / "pw",
        acl_file=auth_dir / "acl",
    )
    thread = BrokerThread(authenticator=auth, authorizer=auth).start()
    thread.broker.core.ratelog.interval = 0  # every denial logged: each case looks for its line
    yield thread
    thread.stop()


def raw_client(port: int, version: int, user: str | None, client_id: str) -> RawClient:
    raw = RawClient(port, version=version)
    password = {"alice": b"alice-pw", "admin": b"admin-pw"}.get(user or "")
    connack = raw.connect(client_id, username=user, password=password)
    assert connack.reason_code == R.SUCCESS
    return raw


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
def test_subscribe_acl_MQTT_3_9_3_1(acl_broker, version, user, client_id, topic_filter, granted):
    raw = raw_client(acl_broker.port, version, user, client_id)
    raw.send(Subscribe(1, (Subscription(topic_filter, QoS.AT_LEAST_ONCE),)))
    suback = raw.recv()
    assert isinstance(suback, Suback)
    refused = R.NOT_AUTHORIZED if version == 5 else R.UNSPECIFIED_ERROR  # 0x87 / 0x80
    assert suback.reason_codes == ((R.GRANTED_QOS_1,) if granted else (refused,))
    raw.close()


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


@pytest.fixture
def observer(acl_broker):
    admin = TestClient(acl_broker.port, "observer", username="admin", password="admin-pw")
    assert admin.subscribe("#", 1) == [1]
    yield admin
    admin.disconnect()


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize(("user", "client_id", "topic", "allowed"), PUBLISH_CASES)
def test_publish_acl_MQTT_3_3_5_2(
    acl_broker, observer, caplog, version, user, client_id, topic, allowed
):
    raw = raw_client(acl_broker.port, version, user, client_id)
    raw.send(Publish(topic, b"payload", QoS.AT_LEAST_ONCE, packet_id=7))
    puback = raw.recv()
    assert isinstance(puback, Puback) and puback.packet_id == 7
    observer.sync()
    if allowed:
        assert puback.reason_code == R.SUCCESS
        assert observer.expect_one().topic == topic
    else:
        # 5.0: 0x87 Not authorized; 3.1.1 has no way to say no: acknowledged and dropped
        assert puback.reason_code == (R.NOT_AUTHORIZED if version == 5 else R.SUCCESS)
        observer.expect_none(within=0.05)
        assert f"publish by {client_id} to {topic} denied" in caplog.text
    raw.close()


@pytest.mark.parametrize("version", [V311, V5])
def test_mosquitto_passwd_file_is_accepted_over_a_socket(acl_broker, version):
    ok = TestClient(
        acl_broker.port, "pw-ok", version=version, username="alice", password="alice-pw"
    )
    ok.disconnect()
    bad = TestClient(
        acl_broker.port,
        "pw-bad",
        version=version,
        username="alice",
        password="wrong",
        connect=False,
    )
    bad.connect(expect_rc=0x86)  # Bad user name or password (3.1.1: return code 4)
    bad.client.loop_stop()


# --- SIGHUP reload of a running gateway --------------------------------------------------------


class GatewayProcess:
    """`edge-gateway run` in a subprocess; its log lines are read with a deadline."""

    def __init__(self, config: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "-c", str(config), "--loop", "asyncio"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).parents[2],
        )
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.log = ""

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        import select

        deadline = time.monotonic() + timeout
        while text not in self.log:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.proc.poll() is None, f"no {text!r} in:\n{self.log}"
            select.select([self.proc.stderr], [], [], remaining)
            self.log += self.proc.stderr.read() or ""

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def test_sighup_reloads_files_keeps_connections_and_subscriptions(tmp_path):
    port = free_port()
    mosquitto_passwd("-c", "-b", str(tmp_path / "pw"), "alice", "alice-pw")
    before = (
        "user alice\ntopic read r/#\ntopic read p/#\ntopic readwrite keep/#\n"
        "user admin\ntopic write #\n"
    )
    (tmp_path / "acl").write_text(before)
    mosquitto_passwd("-b", str(tmp_path / "pw"), "admin", "admin-pw")
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "t"
state_dir = "{tmp_path}"
[broker]
sys_interval = 0
[[broker.listeners]]
name = "lan"
host = "127.0.0.1"
port = {port}
allow_anonymous = false
[auth]
password_file = "{tmp_path / "pw"}"
acl_file = "{tmp_path / "acl"}"
""")
    gateway = GatewayProcess(config)
    try:
        gateway.wait_for("ready")
        alice = TestClient(port, "alice-1", version=V5, username="alice", password="alice-pw")
        assert alice.subscribe("r/x", 1) == [1]
        assert alice.subscribe("p/#", 1) == [1]
        assert alice.subscribe("keep/x", 1) == [1]
        admin = TestClient(port, "admin-1", version=V5, username="admin", password="admin-pw")

        # r/x can deliver nothing now; p/# is still partly readable
        (tmp_path / "acl").write_text(
            "user alice\ntopic read p/#\ntopic deny p/secret\n"
            "topic readwrite keep/#\nuser admin\ntopic write #\n"
        )
        mosquitto_passwd("-b", str(tmp_path / "pw"), "carol", "carol-pw")
        gateway.proc.send_signal(signal.SIGHUP)
        gateway.wait_for("1 subscription(s) can deliver nothing now")
        assert "subscription of alice-1 to r/x can deliver nothing under the new ACL" in gateway.log

        for topic in ("r/x", "p/secret", "p/open", "keep/x"):
            admin.publish(topic, topic.encode(), qos=1)
        assert [alice.expect_one().topic for _ in range(2)] == ["p/open", "keep/x"]
        alice.sync()
        alice.expect_none(within=0.05)  # r/x and p/secret are not readable any more
        assert alice.disconnects.empty()
        carol = TestClient(port, "carol-1", username="carol", password="carol-pw")  # new user
        carol.disconnect()

        (tmp_path / "acl").write_text(before)  # the ACL is fixed: r/x delivers again
        gateway.proc.send_signal(signal.SIGHUP)
        gateway.wait_for("0 subscription(s) can deliver nothing now")
        admin.publish("r/x", b"again", qos=1)
        assert alice.expect_one().payload == b"again"
        alice.disconnect()
        admin.disconnect()
    finally:
        gateway.stop()
