"""A real Mosquitto (from apt) as the bridge's cloud broker, with TLS certificates made by trustme.

Listeners on 127.0.0.1: `mtls_port` (TLS, client certificate required), `password_port` (TLS,
username/password), `plain_port` (no TLS, anonymous: the test's own observer). The directory is 0755
and files 0644 (Mosquitto drops privileges); it runs with `user root` to keep things simple and logs
to stdout, which the fixture keeps for assertions. `persistence true`, so a restart (SIGTERM, start
again) keeps queued messages of persistent sessions, as a cloud broker would.
"""

from __future__ import annotations

import datetime
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import trustme

from tests.support.gateway_process import free_port

PASSWORD = "s3cret-pass"
USERNAME = "gateway"


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # polling a port another process opens: no event to wait on
    raise TimeoutError(f"mosquitto did not listen on {port} within {timeout} s")


class Mosquitto:
    def __init__(
        self,
        base: Path,
        *,
        expired_server_cert: bool = False,
        server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    ) -> None:
        self.dir = base / "mosquitto"
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()  # a CA that did not sign the server: "wrong CA"
        if expired_server_cert:
            past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
            server = self.ca.issue_cert(
                *server_names, not_before=past, not_after=past + datetime.timedelta(days=1)
            )
        else:
            server = self.ca.issue_cert(*server_names)
        client = self.ca.issue_cert("gateway-client")
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.other_ca_file = self._write("other-ca.pem", self.other_ca.cert_pem.bytes())
        self.server_cert = self._write("server.pem", server.cert_chain_pems[0].bytes())
        self.server_key = self._write("server.key", server.private_key_pem.bytes())
        self.client_cert = self._write("client.pem", client.cert_chain_pems[0].bytes())
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        self.password_file = self._write("password.txt", PASSWORD.encode() + b"\n")
        passwd = self.passwd = self.dir / "passwd"
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(passwd), USERNAME, PASSWORD],
            check=True,
            capture_output=True,
            timeout=10,
        )
        os.chmod(passwd, 0o644)
        self.mtls_port, self.password_port, self.plain_port = free_port(), free_port(), free_port()
        self.conf = self._write("mosquitto.conf", self._config(passwd).encode())
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "stdout.log"

    def add_user(self, username: str, password: str) -> None:
        """Before start(): one more user in the password listener's file."""
        subprocess.run(
            ["mosquitto_passwd", "-b", str(self.passwd), username, password],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        os.chmod(path, 0o644)
        return path

    def _config(self, passwd: Path) -> str:
        d = self.dir
        return f"""user root
per_listener_settings true
persistence true
persistence_location {d}/
autosave_interval 1
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
max_queued_messages 1000000
max_inflight_messages 100
listener {self.mtls_port} 127.0.0.1
cafile {self.ca_file}
certfile {self.server_cert}
keyfile {self.server_key}
require_certificate true
allow_anonymous true
listener {self.password_port} 127.0.0.1
cafile {self.ca_file}
certfile {self.server_cert}
keyfile {self.server_key}
allow_anonymous false
password_file {passwd}
listener {self.plain_port} 127.0.0.1
allow_anonymous true
"""

    def start(self) -> Mosquitto:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        for port in (self.mtls_port, self.password_port, self.plain_port):
            _wait_port(port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None


class AclMosquitto:
    """A plain Mosquitto on one free loopback port with the given password and ACL files, for
    comparing authorization with ours. Files are copied into a 0755 directory (Mosquitto drops
    privileges when started as root; `user root` keeps it simple, as above); no persistence."""

    def __init__(self, base: Path, password_file: Path, acl_file: Path) -> None:
        self.dir = base / "mosquitto-acl"
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for name, source in (("passwd", password_file), ("acl", acl_file)):
            (self.dir / name).write_bytes(source.read_bytes())
            os.chmod(self.dir / name, 0o644)
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(f"""user root
persistence false
log_dest stdout
log_type error
log_type warning
listener {self.port} 127.0.0.1
allow_anonymous true
password_file {self.dir / "passwd"}
acl_file {self.dir / "acl"}
""")
        self.log_path = self.dir / "stdout.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> AclMosquitto:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        _wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
