"""kill -9 of the gateway during a cloud outage: what the local publisher had acknowledged is on
disk (the bridge's session queue in the store) and reaches the cloud once the link returns."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.clients import TestClient
from tests.support.gateway_process import free_port
from tests.support.mosquitto import Mosquitto, mosquitto_available
from tests.support.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed"),
]

BEFORE_KILL = 1500
AFTER_RESTART = 500


def _config(tmp: Path, mosq: Mosquitto, proxy: TcpProxy, port: int) -> Path:
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    path = tmp / "gateway.toml"
    path.write_text(f"""
[gateway]
id = "gw1"
base_topic = "edge"
state_dir = "{state}"

[broker]
sys_interval = 0
[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[store]
durability = "sync"

[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {proxy.port}
keepalive = 2
ack_timeout = 3
connect_timeout = 3
backoff_initial = 0.05
backoff_max = 0.5
metrics_interval = 1
[bridges.tls]
ca_file = "{mosq.ca_file}"
cert_file = "{mosq.client_cert}"
key_file = "{mosq.client_key}"
server_name = "localhost"
[[bridges.topics]]
pattern = "data/#"
local_prefix = "edge/"
remote_prefix = "gw1/"
""")
    return path


class Gateway:
    def __init__(self, config: Path, port: int, tmp: Path) -> None:
        self.config, self.port, self.tmp = config, port, tmp
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        notify_path = str(self.tmp / f"notify-{time.monotonic_ns()}")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path}
        log = open(self.tmp / "gateway.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        notify.settimeout(30)
        try:
            while b"READY=1" not in notify.recv(4096):  # bounded by the socket timeout
                pass
        finally:
            notify.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wait_state(port: int, state: str, timeout: float = 20) -> None:
    watcher = TestClient(port, f"watch-{time.monotonic_ns()}")
    seen: queue.Queue = queue.Queue()
    watcher.client.message_callback_add(
        "edge/bridge/cloud/state", lambda c, u, m: seen.put(m.payload.decode())
    )
    watcher.subscribe("edge/bridge/cloud/state", 0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            got = seen.get(timeout=max(0.01, deadline - time.monotonic()))
            if got == state:
                return
    except queue.Empty:
        raise AssertionError(f"the bridge never reported {state}") from None
    finally:
        watcher.disconnect()


def _publish(port: int, start: int, count: int) -> None:
    pub = TestClient(port, f"pub-{start}")
    infos = [
        pub.client.publish("edge/data/seq", str(i).encode(), 1) for i in range(start, start + count)
    ]
    for info in infos:
        info.wait_for_publish(30)
        assert info.is_published()
    pub.disconnect()


def test_kill_9_during_outage_loses_nothing(tmp_path):
    mosq = Mosquitto(tmp_path).start()
    proxy = TcpProxy(mosq.mtls_port)
    port = free_port()
    gateway = Gateway(_config(tmp_path, mosq, proxy, port), port, tmp_path)
    observer = TestClient(mosq.plain_port, "crash-observer", clean=False)
    observer.subscribe("gw1/data/#", 1)
    try:
        gateway.start()
        _wait_state(port, "connected")
        proxy.set_mode("cut")
        _wait_state(port, "backoff")
        _publish(port, 0, BEFORE_KILL)  # every PUBACK came after the commit holding it
        gateway.kill9()
        gateway.start()
        _publish(port, BEFORE_KILL, AFTER_RESTART)
        proxy.set_mode("pass")
        started = time.monotonic()
        numbers: list[int] = []
        seen: set[int] = set()
        while len(seen) < BEFORE_KILL + AFTER_RESTART:
            try:
                msg = observer.messages.get(timeout=30)
            except queue.Empty:
                missing = sorted(set(range(BEFORE_KILL + AFTER_RESTART)) - seen)
                raise AssertionError(f"{len(missing)} lost, first {missing[:10]}") from None
            n = int(msg.payload)
            if n not in seen:
                seen.add(n)
                numbers.append(n)
        assert numbers == sorted(numbers), "out of order"
        print(
            f"\nkill -9: {len(seen)} messages delivered {time.monotonic() - started:.2f} s "
            "after the link returned"
        )
    finally:
        observer.disconnect()
        gateway.stop()
        proxy.close()
        mosq.stop()
