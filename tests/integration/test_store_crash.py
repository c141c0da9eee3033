"""kill -9 at random moments: every acknowledged message survives, no QoS 2 message twice.

The gateway runs as a real subprocess (`edge-gateway run --config ...`, durability "sync"). Two
raw-socket publishers (QoS 1 and QoS 2, persistent sessions, a window of unacknowledged messages
each) publish to a persistent-session subscriber that is offline; at a random moment the gateway
gets SIGKILL. After each restart the publishers finish their protocol on the new connection (resend
unacknowledged PUBLISHes with DUP, PUBREL for PUBREC'd ones, as MQTT requires of a client) and the
subscriber connects and drains. Checked after every round: every message whose PUBACK / PUBREC the
publisher had received was delivered, and no QoS 2 message was delivered twice.

The second test keeps the subscriber ONLINE while the publishers publish, so the kill also cuts
deliveries in flight towards it; it reconnects after the restart (clean_start=False) and keeps its
receiver state, following MQTT 4.3.3: a QoS 2 packet id is stored from PUBLISH until PUBREL, and a
PUBLISH with a stored id is a duplicate. A QoS 2 message counted twice means the broker sent it
again under a new packet id (or re-sent a PUBLISH after its PUBREL) [MQTT-4.3.3].

GATEWAY_SOAK=1 runs more rounds with more messages.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import (
    Connack,
    Disconnect,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
)
from tests.support.gateway_process import free_port
from tests.support.raw import RawClient

SOAK = os.environ.get("GATEWAY_SOAK") == "1"
ROUNDS = 12 if SOAK else 4
PER_ROUND = 20_000 if SOAK else 3_000  # per publisher; the kill usually comes first
TOPIC = "crash/data"


class Gateway:
    """The gateway as a subprocess on a fixed port and store; READY=1 via a notify socket."""

    def __init__(self, tmp_path, durability: str = "sync") -> None:
        self.port = free_port()
        self.config = tmp_path / "gateway.toml"
        self.config.write_text(f"""
[gateway]
id = "crash-gw"
state_dir = "{tmp_path / "state"}"
log_level = "WARNING"
[broker]
sys_interval = 0
max_queued_messages = 1000000
max_queued_bytes = 1000000000
[[broker.listeners]]
port = {self.port}
[store]
durability = "{durability}"
memory_window = 500
""")
        self.notify_path = str(tmp_path / "notify.sock")
        self.proc: subprocess.Popen | None = None
        self.log = tmp_path / "gateway.log"

    def start(self) -> None:
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"gateway not READY in 30 s: {self.log.read_text()[-2000:]}")
                sock.settimeout(remaining)
                if b"READY=1" in sock.recv(4096):
                    return
        finally:
            sock.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Publisher:
    """A QoS 1 or QoS 2 publisher that keeps its protocol state across connections."""

    def __init__(self, client_id: str, qos: int, window: int = 32) -> None:
        self.client_id = client_id
        self.qos = QoS(qos)
        self.window = window
        self.pending: dict[int, bytes] = {}  # sent, no PUBACK / PUBREC yet
        self.releasing: set[int] = set()  # QoS 2: PUBREC received, PUBCOMP not yet
        self.acked: set[bytes] = set()
        self.sent = 0
        self._pid = 0

    def _next_pid(self) -> int:
        for _ in range(65536):  # bounded: at most `window` ids are in use
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.pending and self._pid not in self.releasing:
                return self._pid
        raise AssertionError("no free packet id")

    def run(self, port: int, total: int) -> bool:
        """Publish until `total` are sent and everything is settled; False if the link broke."""
        try:
            raw = RawClient(port)
        except OSError:
            return False
        try:
            assert isinstance(raw.connect(self.client_id, clean_start=False), Connack)
            for pid, payload in self.pending.items():  # [MQTT-4.4.0-1] resend on reconnect
                raw.send(Publish(TOPIC, payload, self.qos, dup=True, packet_id=pid))
            for pid in self.releasing:
                raw.send(Pubrel(pid))
            while self.pending or self.releasing or self.sent < total:
                while len(self.pending) + len(self.releasing) < self.window and self.sent < total:
                    pid = self._next_pid()
                    payload = f"{self.qos}:{self.sent}".encode()
                    self.pending[pid] = payload
                    self.sent += 1
                    raw.send(Publish(TOPIC, payload, self.qos, packet_id=pid))
                self._handle(raw, raw.recv(timeout=10))
            raw.send(Disconnect())
            return True
        except (OSError, ConnectionError, TimeoutError):
            return False
        finally:
            raw.close()

    def _handle(self, raw: RawClient, packet: object) -> None:
        if isinstance(packet, Puback | Pubrec):
            payload = self.pending.pop(packet.packet_id, None)
            if payload is not None:
                self.acked.add(payload)  # the broker has taken responsibility for it
            if isinstance(packet, Pubrec):
                self.releasing.add(packet.packet_id)
                raw.send(Pubrel(packet.packet_id))
        elif isinstance(packet, Pubcomp):
            self.releasing.discard(packet.packet_id)


class Subscriber:
    """Exactly-once receiver: a QoS 2 packet id is remembered from PUBLISH until PUBREL."""

    def __init__(self, client_id: str = "crash-sub") -> None:
        self.client_id = client_id
        self.received: Counter[bytes] = Counter()
        self.qos2_unreleased: set[int] = set()

    def subscribe(self, port: int) -> None:
        raw = RawClient(port)
        raw.connect(self.client_id, clean_start=False)
        raw.send(Subscribe(1, (Subscription("crash/#", QoS.EXACTLY_ONCE),)))
        assert isinstance(raw.recv(), Suback)
        raw.send(Disconnect())
        raw.close()

    def drain(
        self, port: int, expected: set[bytes], timeout: float = 60, quiet: float = 0.5
    ) -> None:
        raw = RawClient(port)
        try:
            raw.connect(self.client_id, clean_start=False)
            deadline = time.monotonic() + timeout
            while True:
                missing = not expected <= self.received.keys()
                wait = min(5.0 if missing else quiet, deadline - time.monotonic())
                if wait <= 0:
                    break
                try:
                    packet = raw.recv(timeout=wait)
                except TimeoutError:
                    if not missing:
                        break
                    continue
                self._handle(raw, packet)
            raw.send(Disconnect())
        finally:
            raw.close()

    def listen(self, port: int, stop: threading.Event) -> None:
        """Stay connected and receive until `stop` is set or the connection breaks (the kill)."""
        try:
            raw = RawClient(port)
        except OSError:
            return
        try:
            raw.connect(self.client_id, clean_start=False)
            while not stop.is_set():
                try:
                    packet = raw.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self._handle(raw, packet)
            raw.send(Disconnect())
        except (OSError, ConnectionError):
            pass
        finally:
            raw.close()

    def _handle(self, raw: RawClient, packet: object) -> None:
        if isinstance(packet, Publish):
            assert packet.packet_id is not None or packet.qos == QoS.AT_MOST_ONCE
            if packet.qos == QoS.AT_LEAST_ONCE and packet.packet_id is not None:
                self.received[packet.payload] += 1
                raw.send(Puback(packet.packet_id))
            elif packet.qos == QoS.EXACTLY_ONCE and packet.packet_id is not None:
                if packet.packet_id not in self.qos2_unreleased:
                    self.qos2_unreleased.add(packet.packet_id)
                    self.received[packet.payload] += 1
                raw.send(Pubrec(packet.packet_id))
        elif isinstance(packet, Pubrel):
            self.qos2_unreleased.discard(packet.packet_id)
            raw.send(Pubcomp(packet.packet_id))


def _online(subscriber: Subscriber, port: int) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=subscriber.listen, args=(port, stop), daemon=True)
    thread.start()
    return thread, stop


def _crash_rounds(
    tmp_path, durability: str, rounds: int, seed: int, online: bool = False
) -> tuple[int, list, list]:
    """`online`: the subscriber is connected while the publishers publish and the kill comes."""
    rng = random.Random(seed)
    gateway = Gateway(tmp_path, durability)
    subscriber = Subscriber()
    publishers = [Publisher("crash-pub-1", 1), Publisher("crash-pub-2", 2)]
    lost_report, twice_report = [], []
    total = 0
    try:
        gateway.start()
        subscriber.subscribe(gateway.port)
        for _ in range(rounds):
            total += PER_ROUND
            threads = [
                threading.Thread(target=p.run, args=(gateway.port, total), daemon=True)
                for p in publishers
            ]
            if online:  # connected first, so the kill cuts deliveries in flight towards it
                threads.append(_online(subscriber, gateway.port)[0])
            for thread in threads[: len(publishers)]:
                thread.start()
            time.sleep(rng.uniform(0.2, 1.2))  # the random moment of the power cut
            gateway.kill()
            for thread in threads:
                thread.join(30)
                assert not thread.is_alive()
            gateway.start()
            listener = _online(subscriber, gateway.port) if online else None
            for publisher in publishers:  # finish the protocol after the restart
                assert publisher.run(gateway.port, publisher.sent), "publisher could not settle"
            if listener is not None:
                listener[1].set()
                listener[0].join(30)
            acked = set().union(*(p.acked for p in publishers))
            subscriber.drain(gateway.port, acked)
            lost = acked - subscriber.received.keys()
            twice = [m for m, n in subscriber.received.items() if n > 1 and m.startswith(b"2:")]
            lost_report.append(len(lost))
            twice_report.append(len(twice))
        acked_total = sum(len(p.acked) for p in publishers)
        return acked_total, lost_report, twice_report
    finally:
        gateway.stop()


@pytest.mark.timeout(300)
def test_sigkill_at_random_moments_loses_no_acknowledged_message_and_duplicates_no_qos2(tmp_path):
    acked, lost, twice = _crash_rounds(tmp_path, "sync", ROUNDS, seed=int(time.time()))
    assert acked >= 1000, f"too few messages acknowledged to mean anything: {acked}"
    assert lost == [0] * ROUNDS, f"acknowledged messages lost per round: {lost}"
    assert twice == [0] * ROUNDS, f"QoS 2 messages delivered twice per round: {twice}"


@pytest.mark.timeout(300)
def test_sigkill_with_the_subscriber_online_duplicates_no_qos2_and_loses_nothing(tmp_path):
    """[MQTT-4.3.3] exactly once across kill -9 for a persistent subscriber that is connected."""
    seed = int(time.time())
    acked, lost, twice = _crash_rounds(tmp_path, "sync", ROUNDS, seed=seed, online=True)
    assert acked >= 1000, f"too few messages acknowledged to mean anything: {acked}"
    assert lost == [0] * ROUNDS, f"acknowledged messages lost per round (seed {seed}): {lost}"
    assert twice == [0] * ROUNDS, f"QoS 2 messages delivered twice per round (seed {seed}): {twice}"
