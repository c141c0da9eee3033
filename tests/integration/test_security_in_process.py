"""No listener name lets a client in: the in-process clients are recognised by what they are.

A TCP listener named `local` on loopback with a password file and `allow_anonymous = false` must
treat its clients like any other listener's (anonymous and wrong passwords refused), while the
gateway's own clients (simulated sensors, the relay, Home Assistant discovery) keep working under
an ACL file that has no anonymous block at all. A network client may not take an in-process
client's id over.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.clients import V5, V311, TestClient
from tests.support.gateway_process import free_port, run_gateway

ACL = """\
user alice
topic readwrite edge/#
topic read homeassistant/#
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    d = tmp_path_factory.mktemp("inproc")
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(d / "pw"), "alice", "alice-pw"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    (d / "acl").write_text(ACL)
    port = free_port()
    config = d / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "t"
base_topic = "edge"
state_dir = "{d / "state"}"
demo = true
[broker]
sys_interval = 0
[[broker.listeners]]
name = "local"
host = "127.0.0.1"
port = {port}
allow_anonymous = false
[auth]
password_file = "{d / "pw"}"
acl_file = "{d / "acl"}"
[homeassistant]
discovery = true
[[sensors]]
type = "simulated"
name = "room"
quantities = ["temperature"]
interval = 1
seed = 1
[[relays]]
name = "lamp"
kind = "gpio"
pin = 17
power_on = "off"
""")
    with run_gateway(config) as (proc, notify):
        notify.wait_for("READY=1")
        yield port
        proc.terminate()


@pytest.mark.parametrize("version", [V311, V5])
def test_anonymous_client_is_refused_on_a_listener_named_local(gateway, version):
    client = TestClient(gateway, "anon", version=version, connect=False)
    client.connect(expect_rc=0x87)  # 5.0 Not authorized; 3.1.1 return code 5 (paho maps it)
    client.client.loop_stop()


@pytest.mark.parametrize("version", [V311, V5])
def test_wrong_password_is_refused_on_a_listener_named_local(gateway, version):
    client = TestClient(
        gateway, "guess", version=version, username="alice", password="nope", connect=False
    )
    client.connect(expect_rc=0x86)  # Bad user name or password (3.1.1: return code 4)
    client.client.loop_stop()


def test_in_process_clients_work_under_an_acl_without_anonymous_rules(gateway):
    alice = TestClient(gateway, "alice-1", version=V5, username="alice", password="alice-pw")
    try:
        assert alice.subscribe(
            [("edge/sensor/room", 1), ("edge/relay/lamp", 1), ("homeassistant/+/+/+/config", 1)]
        ) == [1, 1, 1]
        seen = {}  # the retained messages of the gateway's own clients, then new readings
        while not (
            "edge/sensor/room" in seen
            and "edge/relay/lamp" in seen
            and any(t.startswith("homeassistant/") for t in seen)
        ):
            message = alice.expect_one()
            seen[message.topic] = message.payload
        assert seen["edge/relay/lamp"] == b"OFF"
        assert "temperature" in json.loads(seen["edge/sensor/room"])
        alice.publish("edge/relay/lamp/set", "ON", qos=1)  # the in-process relay subscribes
        wait_for_state(alice, b"ON")
    finally:
        alice.disconnect()


def wait_for_state(client: TestClient, state: bytes) -> None:
    for _ in range(50):  # sensor readings may arrive in between; each wait has its own timeout
        message = client.expect_one()
        if message.topic == "edge/relay/lamp":
            assert message.payload == state
            return
    pytest.fail("the relay did not switch")


@pytest.mark.parametrize("client_id", ["relays", "sensors"])
def test_a_network_client_cannot_take_over_an_in_process_session(gateway, client_id):
    intruder = TestClient(
        gateway, client_id, version=V5, username="alice", password="alice-pw", connect=False
    )
    intruder.connect(expect_rc=0x85)  # Client Identifier not valid
    intruder.client.loop_stop()
    alice = TestClient(gateway, "alice-2", version=V5, username="alice", password="alice-pw")
    try:  # positive control: the relay controller still owns its session and answers
        assert alice.subscribe("edge/relay/lamp", 1) == [1]
        first = alice.expect_one()  # the retained state
        alice.publish("edge/relay/lamp/set", "OFF" if first.payload == b"ON" else "ON", qos=1)
        wait_for_state(alice, b"OFF" if first.payload == b"ON" else b"ON")
    finally:
        alice.disconnect()
