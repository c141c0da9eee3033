"""Runs inside the booted container (systemd as PID 1) and records what it sees; asserts nothing.

Installed by tests/boot/test_nspawn_boot.py as /usr/local/lib/boot-test/inside.py and run by
boot-test.service with a copy of the package's venv (/usr/local/lib/boot-test/venv, which has
paho-mqtt), so the upgrade step does not replace the interpreter it runs on; image/check-image.sh runs
it with the package's own. Each step appends facts (unit properties, journal lines, what an MQTT client saw) to
/var/lib/boot-test/results.json; the host test reads the file after the container has powered off
and makes the assertions, so a failure shows everything that was seen. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

UNIT = "edge-gateway.service"
RESULTS = Path("/var/lib/boot-test/results.json")
SECRET = Path("/etc/edge-gateway/secrets/admin.password")
PASSWD = Path("/etc/edge-gateway/passwd")
EDGE_GATEWAY = "/opt/edge-gateway/venv/bin/edge-gateway"
PROPS = (
    "ActiveState",
    "SubState",
    "Result",
    "NRestarts",
    "MainPID",
    "Type",
    "NotifyAccess",
    "StatusText",
    "WatchdogUSec",
    "ExecMainCode",
    "ExecMainStatus",
    "User",
)

results: dict = {"steps": [], "started": time.monotonic()}


def save() -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, RESULTS)


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def show(unit: str = UNIT) -> dict[str, str]:
    out = run("systemctl", "show", unit, "-p", ",".join(PROPS)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(unit: str = UNIT, since: str | None = None) -> list[str]:
    argv = ["journalctl", "--no-pager", "-o", "short-monotonic", "-u", unit]
    if since:
        argv += ["--since", since]
    return run(*argv).stdout.splitlines()


def wait_for(predicate, timeout: float, interval: float = 0.25):
    """Poll until predicate() returns something truthy or the timeout passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def settled(timeout: float) -> dict[str, str]:
    """The unit's properties once it is running or has failed (no start job pending)."""

    def done() -> dict[str, str] | None:
        props = show()
        if props.get("ActiveState") in ("active", "failed") and props.get("SubState") in (
            "running",
            "failed",
            "dead",
            "exited",
        ):
            return props
        return None

    return wait_for(done, timeout) or show()


class Probe:
    """One paho client: connect, and optionally subscribe and collect what arrives."""

    def __init__(
        self,
        client_id: str,
        username: str | None,
        password: str | None,
        port: int = 1883,
        cafile: str | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.port = port
        if cafile is not None:
            self.client.tls_set(ca_certs=cafile)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack = threading.Event()
        self.reason: str | None = None
        self.subscribed = threading.Event()
        self.messages: list[tuple[str, str]] = []
        self.got = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = str(reason_code)
        self.connack.set()

    def _on_message(self, client, userdata, message):
        self.messages.append((message.topic, message.payload.decode(errors="replace")))
        self.got.set()

    def connect(self, timeout: float = 10) -> str:
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10)
        except OSError as exc:  # ssl.SSLError included
            return f"connect failed: {exc}"
        self.client.loop_start()
        if not self.connack.wait(timeout):
            return "no CONNACK"
        return self.reason or "?"

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def pub_sub(tag: str, password: str) -> dict:
    """A paho subscriber and `edge-gateway pub` as the publisher, both as the admin user."""
    step: dict = {"tag": tag}
    sub = Probe(f"boot-sub-{tag}", "admin", password)
    step["sub_connack"] = sub.connect()
    try:
        sub.client.subscribe(f"boot/{tag}", qos=1)
        step["suback"] = sub.subscribed.wait(10)
        payload = f"hello-{tag}-{os.getpid()}"
        pub = run(
            EDGE_GATEWAY,
            "pub",
            "-u",
            "admin",
            "--password-file",
            str(SECRET),
            "-t",
            f"boot/{tag}",
            "-q",
            "1",
            "-m",
            payload,
            timeout=30,
        )
        step["pub_rc"] = pub.returncode
        step["pub_output"] = (pub.stdout + pub.stderr)[-2000:]
        sub.got.wait(10)
        step["sent"] = payload
        step["received"] = sub.messages
    finally:
        sub.close()
    # The broker's lines about the subscriber, found by their journal field.
    step["journal_client"] = run(
        "journalctl", "--no-pager", "-o", "cat", "-u", UNIT, f"CLIENT_ID=boot-sub-{tag}"
    ).stdout.splitlines()
    anon = Probe(f"boot-anon-{tag}", None, None)
    step["anonymous_connack"] = anon.connect()
    anon.close()
    return step


def step_boot() -> None:
    props = settled(90)
    # The command the config's comments and the README tell the operator to run, on PATH.
    check = run("sh", "-c", "edge-gateway check-config /etc/edge-gateway/gateway.toml")
    results["check_config"] = {
        "rc": check.returncode,
        "output": check.stdout + check.stderr,
        "which": run("sh", "-c", "command -v edge-gateway").stdout.strip(),
    }
    results["boot"] = {
        "props": props,
        "provision": show("edge-gateway-provision.service"),
        "journal": journal(),
        "provision_journal": journal("edge-gateway-provision.service"),
        "etc": run(
            "ls", "-ln", "/etc/edge-gateway", "/etc/edge-gateway/secrets", "/var/lib/edge-gateway"
        ).stdout,
    }


def step_tls(password: str) -> None:
    """The TLS listener with the certificate the first boot made, checked against the device's CA."""
    probe = Probe("boot-tls", "admin", password, port=8883, cafile="/etc/edge-gateway/ca.crt")
    connack = probe.connect()
    probe.close()
    san = run(
        "openssl", "x509", "-in", "/etc/edge-gateway/server.crt", "-noout", "-ext", "subjectAltName"
    ).stdout
    results["tls"] = {
        "connack": connack,
        "san": san,
        "hostname": Path("/etc/hostname").read_text().strip(),
    }


def step_reload(password: str) -> None:
    before = show()
    add = run(EDGE_GATEWAY, "passwd", "-b", str(PASSWD), "reloader", "reload-pass-1")
    mode = run("stat", "-c", "%a %U:%G", str(PASSWD)).stdout.strip()
    probe = Probe("boot-reloader-before", "reloader", "reload-pass-1")
    before_reload = probe.connect()
    probe.close()
    reload = run("systemctl", "reload", UNIT)
    after = wait_for(lambda: (p := show())["ActiveState"] == "active" and p, 20) or show()
    probe = Probe("boot-reloader-after", "reloader", "reload-pass-1")
    after_reload = probe.connect()
    probe.close()
    results["reload"] = {
        "before": before,
        "passwd_rc": add.returncode,
        "passwd_output": add.stdout + add.stderr,
        "passwd_mode": mode,
        "connack_before_reload": before_reload,
        "reload_rc": reload.returncode,
        "reload_output": reload.stdout + reload.stderr,
        "after": after,
        "connack_after_reload": after_reload,
        "journal": journal(),
    }
    results["pubsub_after_reload"] = pub_sub("reload", password)


def step_watchdog() -> None:
    before = show()
    pid = int(before["MainPID"])
    t0 = time.monotonic()
    os.kill(pid, signal.SIGSTOP)

    def restarted() -> dict[str, str] | None:
        props = show()
        if (
            int(props["NRestarts"]) > int(before["NRestarts"])
            and props["ActiveState"] == "active"
            and props["SubState"] == "running"
            and props["MainPID"] not in ("0", str(pid))
        ):
            return props
        return None

    after = wait_for(restarted, 60)
    results["watchdog"] = {
        "before": before,
        "stopped_pid": pid,
        "after": after or show(),
        "seconds": round(time.monotonic() - t0, 1),
        "journal": journal(),
    }


def identity() -> dict[str, str]:
    """What the device made on its first boot, by content hash."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (Path("/etc/edge-gateway/gateway-id"), PASSWD, SECRET)
    }


def retained(topic: str, password: str) -> list[list[str]]:
    """What a new subscriber gets on `topic` at once: the retained message, if any."""
    probe = Probe(f"boot-retained-{os.getpid()}", "admin", password)
    try:
        if probe.connect() != "Success":
            return []
        probe.client.subscribe(topic, qos=1)
        probe.got.wait(10)
        return [list(message) for message in probe.messages]
    finally:
        probe.close()


def step_upgrade(password: str) -> None:
    """Edit the config as an operator would, keep a retained message, then install the same
    package with a higher version while the gateway runs (what `apt upgrade` does)."""
    upgrade = json.loads(Path("/usr/local/lib/boot-test/upgrade.json").read_text())
    config = Path("/etc/edge-gateway/gateway.toml")
    edit = "\n# edited by the operator before the upgrade\n"
    config.write_text(config.read_text() + edit)
    payload = f"kept-{os.getpid()}"
    pub = run(
        EDGE_GATEWAY,
        "pub",
        "-u",
        "admin",
        "--password-file",
        str(SECRET),
        "-r",
        "-t",
        "boot/retained",
        "-q",
        "1",
        "-m",
        payload,
        timeout=30,
    )
    before, identity_before = show(), identity()
    version_before = run("dpkg-query", "-W", "-f=${Version}", "edge-gateway").stdout
    install = run(
        "apt-get", "install", "-y", "--no-install-recommends", upgrade["deb"], timeout=300
    )

    def restarted() -> dict[str, str] | None:
        props = show()
        if (
            props["ActiveState"] == "active"
            and props["SubState"] == "running"
            and props["MainPID"] not in ("0", before["MainPID"])
        ):
            return props
        return None

    after = wait_for(restarted, 90) or show()
    results["upgrade"] = {
        "before": before,
        "after": after,
        "retained_pub_rc": pub.returncode,
        "install_rc": install.returncode,
        "install_output": (install.stdout + install.stderr)[-3000:],
        "version_before": version_before,
        "version_after": run("dpkg-query", "-W", "-f=${Version}", "edge-gateway").stdout,
        "config_edit_kept": config.read_text().endswith(edit),
        "identity_before": identity_before,
        "identity_after": identity(),
        "retained_sent": payload,
        "retained_after": retained("boot/retained", password),
        "journal": journal()[-30:],
    }
    results["pubsub_after_upgrade"] = pub_sub("upgrade", password)


def step_stop() -> None:
    t0 = time.monotonic()
    stop = run("systemctl", "stop", UNIT, timeout=90)
    results["stop"] = {
        "rc": stop.returncode,
        "output": stop.stdout + stop.stderr,
        "seconds": round(time.monotonic() - t0, 1),
        "props": show(),
        "journal": journal()[-30:],
    }


def main(argv: list[str]) -> int:
    """`inside.py` runs every step; `inside.py --quick` (image/check-image.sh) boot and pub/sub."""
    try:
        step_boot()
        save()
        if results["boot"]["props"].get("SubState") != "running":
            raise RuntimeError("edge-gateway.service is not running; nothing more to check")
        password = SECRET.read_text().strip()
        results["pubsub"] = pub_sub("first", password)
        save()
        step_tls(password)
        save()
        if "--quick" in argv:
            return finish()
        step_reload(password)
        save()
        step_watchdog()
        results["pubsub_after_restart"] = pub_sub("restart", password)
        save()
        step_upgrade(password)
        save()
        step_stop()
    except Exception:  # noqa: BLE001 - recorded for the host to show
        results["error"] = traceback.format_exc()
    return finish()


def finish() -> int:
    results["seconds"] = round(time.monotonic() - results.pop("started"), 1)
    results["done"] = True
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
