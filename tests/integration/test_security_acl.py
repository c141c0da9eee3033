"""Password and ACL files over real sockets: a password file written by Debian's mosquitto_passwd,
and SIGHUP reload of a running gateway (connections and subscriptions kept, the new ACL applied
per delivery). The ACL's rule forms, SUBACK 0x80/0x87 [MQTT-3.9.3-1] and denied PUBLISHes
[MQTT-3.3.5-2] are tested without sockets in tests/unit/broker/test_acl_rules.py.
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
from tests.support.clients import V5, V311, TestClient
from tests.support.gateway_process import free_port

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def mosquitto_passwd(*args: str) -> None:
    subprocess.run([MOSQUITTO_PASSWD, *args], check=True, timeout=30, capture_output=True)


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    mosquitto_passwd("-c", "-b", str(d / "pw"), "alice", "alice-pw")
    mosquitto_passwd("-b", str(d / "pw"), "admin", "admin-pw")
    return d


@pytest.fixture(scope="module")
def passwd_broker(auth_dir):
    from tests.support.broker_thread import BrokerThread

    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=True)},
        password_file=auth_dir / "pw",
    )
    thread = BrokerThread(authenticator=auth, authorizer=auth).start()
    yield thread
    thread.stop()


@pytest.mark.parametrize("version", [V311, V5])
def test_mosquitto_passwd_file_is_accepted_over_a_socket(passwd_broker, version):
    ok = TestClient(
        passwd_broker.port, "pw-ok", version=version, username="alice", password="alice-pw"
    )
    ok.disconnect()
    bad = TestClient(
        passwd_broker.port,
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
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr
        os.set_blocking(self.stderr.fileno(), False)
        self.log = ""

    def wait_for(self, text: str, timeout: float = 15.0) -> None:
        import select

        deadline = time.monotonic() + timeout
        while text not in self.log:
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self.proc.poll() is None, f"no {text!r} in:\n{self.log}"
            select.select([self.stderr], [], [], remaining)
            self.log += self.stderr.read() or ""

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
