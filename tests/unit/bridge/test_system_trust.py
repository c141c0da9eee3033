"""A bridge without `ca_file` trusts the system store through its hashed directory: only the CA a
handshake needs is read (not the whole bundle, 1.3 MB), and a server signed by any other CA is
still refused."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading

import pytest
import trustme

from gateway.bridge.tls import trust_system_store


def _serve_once(server_ctx: ssl.SSLContext) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def run() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    with server_ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass  # the client refused our certificate: what one test expects

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def _handshake(ctx: ssl.SSLContext, port: int) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


@pytest.fixture
def system_store(tmp_path, monkeypatch):
    """A hashed CA directory (as update-ca-certificates keeps /etc/ssl/certs) holding one CA."""
    ca = trustme.CA()
    certs = tmp_path / "certs"
    certs.mkdir()
    ca.cert_pem.write_to_path(str(certs / "our-ca.pem"))
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(certs))
    return ca


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(ctx)
    return ctx


def test_the_hashed_directory_is_read_lazily_and_verifies(system_store):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trust_system_store(ctx)
    assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    port, server = _serve_once(_server_context(system_store))
    _handshake(ctx, port)
    server.join(10)
    assert ctx.cert_store_stats()["x509_ca"] == 1  # the one CA the handshake needed


def test_a_server_from_another_ca_is_refused(system_store):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trust_system_store(ctx)
    port, server = _serve_once(_server_context(trustme.CA()))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ctx, port)
    server.join(10)


def test_a_bundle_named_by_ssl_cert_file_is_loaded_whole(system_store, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle.pem"
    other = trustme.CA()
    bundle.write_bytes(system_store.cert_pem.bytes() + other.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trust_system_store(ctx)
    assert ctx.cert_store_stats()["x509_ca"] == 2
