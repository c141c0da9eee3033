"""The cloud bridge examples in config/examples/: each passes check-config, and each forwards a
sensor reading to a local Mosquitto set up the way that cloud authenticates.

- HiveMQ Cloud, EMQX: TLS, the cloud's host name in the server certificate (SNI and name check),
  username and password.
- AWS IoT Core, a Mosquitto of your own: mutual TLS with a device certificate.
- Azure IoT Hub: TLS, username `<hub>/<device>/?api-version=...` and a SAS token as the password
  (Mosquitto checks it as a password: the test fixes the bridge's wall clock, so the token the
  bridge signs is the one written into Mosquitto's password file).

The examples name their secrets under /run/credentials/edge-gateway.service/ and their public
files under /etc/edge-gateway/; the tests point those at files made here (certificates from
trustme), as the systemd drop-in the examples describe would.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
import trustme

from gateway.bridge.azure import sas_token
from gateway.bridge.azure import username as azure_username
from gateway.bridge.config import PROFILES, BridgeConfig
from gateway.bridge.mapping import Mapper
from gateway.bridge.tls import client_context
from gateway.mqtt.enums import QoS
from tests.support.bridge import BridgeHarness
from tests.support.clients import V5, TestClient
from tests.support.mosquitto import Mosquitto, mosquitto_available

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config" / "examples").glob("bridge-*.toml"))
SECRET_DIR = "/run/credentials/edge-gateway.service/"
ETC_DIR = "/etc/edge-gateway/"
DEVICE_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
WALL = 1_900_000_000.0  # the bridge's wall clock in the Azure test: a known SAS token

pytestmark = pytest.mark.timeout(60)


def _example(name: str) -> Path:
    return ROOT / "config" / "examples" / f"bridge-{name}.toml"


def _bridge_table(path: Path) -> dict:
    return tomllib.loads(path.read_text())["bridges"][0]


def test_one_example_per_cloud_profile():
    profiles = {_bridge_table(p)["profile"] for p in EXAMPLES}
    assert profiles == set(PROFILES), profiles  # generic = a Mosquitto of your own


def _materialise(path: Path, tmp: Path) -> Path:
    """The example with its /etc and /run/credentials paths moved under `tmp`, each file there
    made: certificates and keys from one trustme CA, a device key, a password."""
    text = path.read_text()
    ca = trustme.CA()
    cert = ca.issue_cert("gw-garden")
    files = {}
    for found in sorted(set(re.findall(rf'"((?:{SECRET_DIR}|{ETC_DIR})[^"]+)"', text))):
        local = tmp / found.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        name = local.name.lower()
        if "device-key" in name and "azure" in name:
            local.write_text(DEVICE_KEY + "\n")
        elif "key" in name:
            local.write_bytes(cert.private_key_pem.bytes())
        elif "ca" in name:
            local.write_bytes(ca.cert_pem.bytes())
        elif name.endswith((".crt", ".pem")):
            local.write_bytes(cert.cert_chain_pems[0].bytes())
        else:
            local.write_text("the-password\n")
        local.chmod(0o600)
        files[found] = str(local)
    for original, local in files.items():
        text = text.replace(f'"{original}"', f'"{local}"')
    out = tmp / path.name
    out.write_text(text)
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_passes_check_config(path, tmp_path):
    config = _materialise(path, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "warning" not in result.stderr, result.stderr


def test_example_mappings_forward_the_default_sensor_topic():
    """The issue's example mapped sensors/# under edge/, which never matched edge/sensor/...:
    each example's outbound mapping covers the topic a sensor named in it publishes on."""
    from gateway.config import load

    for path in EXAMPLES:
        config = load(path)
        sensor = config.sensors[0]
        topic = f"{config.gateway.base_topic}/sensor/{sensor.name}"
        mapper = Mapper(tuple(t.to_map() for t in config.bridges[0].topics))
        assert mapper.outbound(topic, QoS.AT_LEAST_ONCE, True) is not None, (path.name, topic)


# -- against a local Mosquitto set up like each cloud ----------------------------------------------

CLOUDS = {
    # example: (how the cloud authenticates, the remote topic of edge/sensor/attic)
    "hivemq-cloud": ("password", "gateways/gw-garden/sensor/attic"),
    "emqx": ("password", "gateways/gw-garden/sensor/attic"),
    "aws-iot": ("mtls", "gateways/gw-garden/sensor/attic"),
    "mosquitto": ("mtls", "gateways/gw-garden/sensor/attic"),
    "azure-iot-hub": ("sas", "devices/gw-garden/messages/events/topic=sensor/attic"),
}


def _cloud_config(name: str, mosq: Mosquitto, tmp: Path) -> BridgeConfig:
    """The example's bridge, pointed at the local Mosquitto: 127.0.0.1 and its port, the
    example's host as the name the server certificate must carry, the test CA, test secrets."""
    data = _bridge_table(_example(name))
    auth = CLOUDS[name][0]
    tls = dict(data.get("tls", {}))
    tls.update(ca_file=str(mosq.ca_file), server_name=data["host"])
    data.update(
        host="127.0.0.1",
        backoff_initial=0.05,
        backoff_max=0.5,
        metrics_interval=1,
        connect_timeout=5,
    )
    if auth == "mtls":
        port = mosq.mtls_port
        tls.update(cert_file=str(mosq.client_cert), key_file=str(mosq.client_key))
    else:
        port = mosq.password_port
    if auth == "password":
        secret = tmp / "cloud-password"
        secret.write_text("cloud-pass\n")
        data["password_file"] = str(secret)
        mosq.add_user(data["username"], "cloud-pass")
    if auth == "sas":
        key = tmp / "azure-device-key"
        key.write_text(DEVICE_KEY + "\n")
        data["azure"] = {**data["azure"], "device_key_file": str(key)}
        device, ttl = data["azure"]["device_id"], data["azure"]["token_ttl"]
        # what IoT Hub checks, as a password: the token signed for this host, device and expiry
        mosq.add_user(
            azure_username("127.0.0.1", device),
            sas_token("127.0.0.1", device, DEVICE_KEY, int(WALL) + ttl),
        )
    data["tls"] = tls
    # the profile's rules are checked with the example's port (AWS allows only 8883 and 443)
    return BridgeConfig.model_validate(data).model_copy(update={"port": port})


@pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed")
@pytest.mark.parametrize("name", sorted(CLOUDS))
def test_example_forwards_a_reading_to_a_cloud_like_mosquitto(name, tmp_path):
    host = _bridge_table(_example(name))["host"]
    mosq = Mosquitto(tmp_path, server_names=(host,))
    cfg = _cloud_config(name, mosq, tmp_path)
    mosq.start()
    harness = BridgeHarness(cfg, wall=lambda: WALL)
    try:
        remote = CLOUDS[name][1]
        cloud = TestClient(mosq.plain_port, "cloud-observer", version=V5)
        cloud.subscribe(remote, 1)
        harness.wait_state("connected")
        sensor = TestClient(harness.port, "sensor-attic", version=V5)
        reading = json.dumps({"temperature": 21.4, "humidity": 48.0}).encode()
        sensor.publish("edge/sensor/attic", reading, qos=1, retain=True)
        got = cloud.expect_one(timeout=10)
        assert (got.topic, got.payload) == (remote, reading)
        sensor.disconnect()
        cloud.disconnect()
    finally:
        harness.stop()
        mosq.stop()


def test_server_name_is_sent_as_sni(tmp_path):
    """A bridge dialling an address sends the configured server_name (HiveMQ Cloud routes by
    it) and checks the certificate against it."""
    host = _bridge_table(_example("hivemq-cloud"))["host"]
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(host).configure_cert(server_ctx)
    seen: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: seen.append(name)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    data = {
        **_bridge_table(_example("hivemq-cloud")),
        "host": "127.0.0.1",
        "port": port,
        "password_file": str(ca_file),
    }
    data["tls"] = {"ca_file": str(ca_file), "server_name": host}
    ctx = client_context(BridgeConfig.model_validate(data))
    assert ctx is not None
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.getpeercert()["subjectAltName"] == (("DNS", host),)
    thread.join(5)
    listener.close()
    assert seen == [host]
