"""debian/edge-gateway-provision: each device gets its own gateway id and broker credentials.

Runs the real script (with this venv's python) against throwaway roots laid out as
edge-gateway.sysusers and edge-gateway.tmpfiles leave a device.
"""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.broker.auth.passwords import PasswordFile

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "debian/edge-gateway-provision"
GID = 996


def device_root(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / "etc/edge-gateway/secrets").mkdir(parents=True)
    (root / "var/lib/edge-gateway").mkdir(parents=True)
    (root / "etc/group").write_text(f"root:x:0:\nedge-gateway:x:{GID}:\n")
    return root


def provision(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def read(root: Path, path: str) -> str:
    return (root / path).read_text()


def test_first_run_creates_id_password_file_and_secret(tmp_path: Path) -> None:
    root = device_root(tmp_path, "pi")
    result = provision(root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("provision: gateway id, broker user admin, TLS CA, ")

    gateway_id = read(root, "etc/edge-gateway/gateway-id").strip()
    assert gateway_id.startswith("gw-") and len(gateway_id) == 23

    password = read(root, "etc/edge-gateway/secrets/admin.password").strip()
    assert len(password) >= 32
    passwords = PasswordFile.load(root / "etc/edge-gateway/passwd")
    assert passwords.usernames == ("admin",)
    assert passwords.verify("admin", password.encode())
    assert not passwords.verify("admin", b"admin")

    modes = {
        "etc/edge-gateway/gateway-id": (0o644, 0),
        "etc/edge-gateway/passwd": (0o640, GID),  # readable by the service, hashes only
        "etc/edge-gateway/secrets/admin.password": (0o600, 0),  # the operator's, root only
        "var/lib/edge-gateway/.provisioned": (0o644, 0),
    }
    for path, (mode, gid) in modes.items():
        st = (root / path).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, 0, gid), path


def test_two_devices_never_share_an_id_or_a_password(tmp_path: Path) -> None:
    a, b = device_root(tmp_path, "a"), device_root(tmp_path, "b")
    assert provision(a).returncode == 0 and provision(b).returncode == 0
    for path in ("gateway-id", "secrets/admin.password", "passwd", "ca.crt", "secrets/server.key"):
        assert read(a, "etc/edge-gateway/" + path) != read(b, "etc/edge-gateway/" + path), path


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    root = device_root(tmp_path, "pi")
    provision(root)
    files = (
        "gateway-id",
        "passwd",
        "secrets/admin.password",
        "ca.crt",
        "server.crt",
        "secrets/ca.key",
        "secrets/server.key",
    )
    before = {f: read(root, "etc/edge-gateway/" + f) for f in files}
    result = provision(root)
    assert result.returncode == 0
    assert result.stdout == "provision: nothing to do, already provisioned\n"
    assert {f: read(root, "etc/edge-gateway/" + f) for f in files} == before


def test_an_operators_own_password_file_is_kept(tmp_path: Path) -> None:
    root = device_root(tmp_path, "pi")
    (root / "etc/edge-gateway/passwd").write_text("alice:$6$x$y\n")
    assert provision(root).returncode == 0
    assert read(root, "etc/edge-gateway/passwd") == "alice:$6$x$y\n"
    assert not (root / "etc/edge-gateway/secrets/admin.password").exists()


def test_missing_directories_fail_loudly(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    (root / "etc").mkdir(parents=True)
    result = provision(root)
    assert result.returncode != 0
    assert "run systemd-tmpfiles --create" in result.stderr


def test_tls_ca_and_server_certificate_for_this_host(tmp_path: Path) -> None:
    root = device_root(tmp_path, "pi")
    (root / "etc/hostname").write_text("gw-barn\n")
    result = provision(root)
    assert result.returncode == 0, result.stderr
    assert "TLS CA, TLS certificate for gw-barn" in result.stdout
    modes = {
        "etc/edge-gateway/ca.crt": (0o644, 0),
        "etc/edge-gateway/server.crt": (0o644, 0),
        "etc/edge-gateway/secrets/ca.key": (0o600, 0),  # never the service's
        "etc/edge-gateway/secrets/server.key": (0o640, GID),
    }
    for path, (mode, gid) in modes.items():
        st = (root / path).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, 0, gid), path
    text = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(root / "etc/edge-gateway/server.crt"),
            "-noout",
            "-ext",
            "subjectAltName,extendedKeyUsage",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:gw-barn, DNS:gw-barn.local, DNS:localhost, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text


def test_a_real_client_verifies_the_broker_with_the_device_ca(tmp_path: Path) -> None:
    # The broker serves the provisioned certificate; paho checks it against ca.crt and the name
    # (Python's default context: hostname check, and X509_STRICT from Python 3.13 on).
    from gateway.broker.auth.tls import server_context
    from gateway.broker.server import ListenerSpec
    from tests.support.broker_thread import BrokerThread
    from tests.support.clients import TestClient

    root = device_root(tmp_path, "pi")
    (root / "etc/hostname").write_text("gw-barn\n")
    assert provision(root).returncode == 0
    etc = root / "etc/edge-gateway"
    context = server_context(str(etc / "server.crt"), str(etc / "secrets/server.key"))
    broker = BrokerThread(listeners=[ListenerSpec("tls", "127.0.0.1", 0, ssl_context=context)])
    broker.start()
    try:
        client = TestClient(broker.port, "tls-check", tls={"ca_certs": str(etc / "ca.crt")})
        assert client.subscribe("t", qos=1) == [1]
        client.disconnect()
        other = device_root(tmp_path, "other")
        assert provision(other).returncode == 0
        stranger = TestClient(
            broker.port,
            "tls-other",
            connect=False,
            tls={"ca_certs": str(other / "etc/edge-gateway/ca.crt")},
        )
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            stranger.connect()  # another device's CA is not accepted
    finally:
        broker.stop()


def test_a_new_server_certificate_after_deleting_the_old_keeps_the_ca(tmp_path: Path) -> None:
    root = device_root(tmp_path, "pi")
    (root / "etc/hostname").write_text("old-name\n")
    provision(root)
    etc = root / "etc/edge-gateway"
    ca, key = (
        read(root, "etc/edge-gateway/ca.crt"),
        read(root, "etc/edge-gateway/secrets/server.key"),
    )
    (root / "etc/hostname").write_text("new-name\n")
    (etc / "server.crt").unlink()
    result = provision(root)
    assert result.stdout == "provision: TLS certificate for new-name\n", result.stderr
    assert read(root, "etc/edge-gateway/ca.crt") == ca
    assert read(root, "etc/edge-gateway/secrets/server.key") != key
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(etc / "ca.crt"), str(etc / "server.crt")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
