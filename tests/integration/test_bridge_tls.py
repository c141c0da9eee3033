"""The bridge against a real Mosquitto with TLS: mTLS, username/password, refused certificates,
and commands from the cloud reaching a local subscriber."""

from __future__ import annotations

import logging

import pytest

from tests.support.bridge import BridgeHarness, bridge_config
from tests.support.clients import V5, TestClient
from tests.support.mosquitto import Mosquitto, mosquitto_available

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed")]


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


@pytest.mark.parametrize("case", ["wrong-ca", "expired"])
def test_bad_server_certificate_is_refused_with_a_clear_log_line(tmp_path, caplog, case):
    mosq = Mosquitto(tmp_path, expired_server_cert=(case == "expired")).start()
    overrides = {"tls": {"ca_file": mosq.other_ca_file}} if case == "wrong-ca" else {}
    caplog.set_level(logging.ERROR, logger="gateway.bridge.service")
    harness = BridgeHarness(bridge_config(mosq, **overrides))
    try:
        harness.wait_state("backoff")
        assert harness.value(lambda s: s.counters.connects) == 0
        error = harness.value(lambda s: s.last_error)
        # OpenSSL names an unknown CA one of two ways, depending on the chain the server sends
        expected = ("unable to get local issuer certificate",
                    "self-signed certificate in certificate chain") if case == "wrong-ca" \
            else ("certificate has expired",)
        assert "certificate verify failed" in error and any(e in error for e in expected), error
        assert any(e in r.getMessage() for r in caplog.records for e in expected)
    finally:
        harness.stop()
        mosq.stop()
