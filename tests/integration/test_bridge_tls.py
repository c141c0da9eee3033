"""The bridge against a real Mosquitto with TLS: mTLS, username/password, refused certificates,
and commands from the cloud reaching a local subscriber."""

from __future__ import annotations

import logging

import pytest

from tests.support.bridge import BridgeHarness, bridge_config
from tests.support.clients import V5, TestClient
from tests.support.mosquitto import Mosquitto, mosquitto_available

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed"),
]


@pytest.fixture
def mosq(tmp_path):
    m = Mosquitto(tmp_path).start()
    yield m
    m.stop()


def _roundtrip(mosq: Mosquitto, harness: BridgeHarness) -> None:
    """The bridge is connected (the caller waited: the state is published once per change)."""
    cloud = TestClient(mosq.plain_port, "observer", version=V5)
    cloud.subscribe("gw1/#", 1)
    local = TestClient(harness.port, "sensor", version=V5)
    local.publish("edge/data/temp", b"21.5", qos=1)
    got = cloud.expect_one(timeout=10)
    while got.topic == "gw1/status":  # the retained status comes first
        got = cloud.expect_one(timeout=10)
    assert (got.topic, got.payload, got.qos) == ("gw1/data/temp", b"21.5", 1)
    ids = dict(got.properties.UserProperty)
    assert ids["gw-msg-id"].startswith("gw1-")
    local.disconnect()
    cloud.disconnect()


def test_mtls_forwards_and_reports_online(mosq):
    harness = BridgeHarness(bridge_config(mosq, auth="mtls", status_topic="gw1/status"))
    try:
        status = TestClient(mosq.plain_port, "status-reader", version=V5)
        status.subscribe("gw1/status", 1, rap=True)
        harness.wait_state("connected")
        got = status.expect_one(timeout=10)
        assert (got.payload, got.retain) == (b"online", True)
        status.disconnect()
        _roundtrip(mosq, harness)
    finally:
        harness.stop()


def test_username_password_over_tls(mosq):
    harness = BridgeHarness(bridge_config(mosq, auth="password", protocol="3.1.1"))
    try:
        cloud = TestClient(mosq.plain_port, "observer", version=V5)
        cloud.subscribe("gw1/data/#", 1)
        harness.wait_state("connected")
        local = TestClient(harness.port, "sensor")
        local.publish("edge/data/x", b"1", qos=1)
        got = cloud.expect_one(timeout=10)
        assert (got.topic, got.payload) == ("gw1/data/x", b"1")
        local.disconnect()
        cloud.disconnect()
    finally:
        harness.stop()


def test_command_from_cloud_reaches_local_subscriber(mosq):
    harness = BridgeHarness(bridge_config(mosq))
    try:
        local = TestClient(harness.port, "relay", version=V5)
        local.subscribe("edge/cmd/#", 1)
        harness.wait_state("connected")
        cloud = TestClient(mosq.plain_port, "operator", version=V5)
        cloud.publish("gw1/cmd/relay1", b"ON", qos=1)
        got = local.expect_one(timeout=10)
        assert (got.topic, got.payload) == ("edge/cmd/relay1", b"ON")
        assert harness.value(lambda s: s.counters.received) == 1
        cloud.disconnect()
        local.disconnect()
    finally:
        harness.stop()


# each TLS failure names its cause in the bridge's last_error and its log line
TLS_FAILURES = {
    "wrong-ca": "unknown CA",
    "expired": "expired certificate",
    "name-mismatch": "name mismatch",
    "no-client-cert": "client certificate refused",
    "client-cert-from-another-ca": "client certificate refused",
}


def _failing_config(mosq: Mosquitto, case: str, tmp_path):
    if case == "wrong-ca":
        return bridge_config(mosq, tls={"ca_file": mosq.other_ca_file})
    if case == "name-mismatch":
        return bridge_config(mosq, tls={"server_name": "cloud.example.com"})
    if case == "no-client-cert":
        return bridge_config(mosq, auth="password", port=mosq.mtls_port)
    if case == "client-cert-from-another-ca":
        other = mosq.other_ca.issue_cert("gateway-client")
        cert, key = tmp_path / "other-client.pem", tmp_path / "other-client.key"
        cert.write_bytes(other.cert_chain_pems[0].bytes())
        key.write_bytes(other.private_key_pem.bytes())
        return bridge_config(mosq, tls={"cert_file": cert, "key_file": key})
    return bridge_config(mosq)


@pytest.mark.parametrize("case", sorted(TLS_FAILURES))
def test_tls_failure_names_its_cause(tmp_path, caplog, case):
    mosq = Mosquitto(tmp_path, expired_server_cert=(case == "expired")).start()
    caplog.set_level(logging.ERROR, logger="gateway.bridge.service")
    harness = BridgeHarness(_failing_config(mosq, case, tmp_path))
    try:
        harness.wait_state("backoff")
        assert harness.value(lambda s: s.counters.connects) == 0
        error = harness.value(lambda s: s.last_error)
        assert TLS_FAILURES[case] in error, error
        assert "Connection reset by peer" not in error.split("(")[0], error
        assert any(TLS_FAILURES[case] in r.getMessage() for r in caplog.records)
    finally:
        harness.stop()
        mosq.stop()
