"""Durable-store benchmark: QoS 1 publishing to an offline persistent session, and its disk cost.

How this works: for each broker (Mosquitto 2 with `persistence true`; our gateway with
`[store] durability = "sync"`; and with "relaxed"), a fresh broker is started pinned to core 0 with
its state in a new directory on the real disk; a persistent-session subscriber subscribes and leaves;
one raw-socket publisher pinned to core 1 sends --messages QoS 1 PUBLISHes (pre-encoded, a window of
--window unacknowledged) and the rate is acknowledgements per second. Disk cost is the broker
process's `write_bytes` from /proc/<pid>/io (bytes it sent to the block layer: WAL, database,
checkpoints; not socket traffic) over the publishing phase, divided by the message count, and again
over --idle seconds with nothing happening (extrapolated to an hour). Then the subscriber comes back
and must receive every message (the drain rate is reported too). Each broker is stopped with
SIGTERM; Mosquitto writes its whole database only at autosave (default every 1800 s) and at exit, so
its per-message figure is small and what a power cut loses is everything since the last autosave.

    python bench/store.py                       # 20000 messages of 64 bytes, 30 s idle
    python bench/store.py --messages 50000 --payload 256 --idle 60 --only sync
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.mqtt.codec import StreamDecoder, encode  # noqa: E402
from gateway.mqtt.packets import (  # noqa: E402
    Connect,
    Disconnect,
    Puback,
    Publish,
    Subscribe,
    Subscription,
)

MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {state}/
max_inflight_messages 64
max_queued_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
"""

GATEWAY_CONF = """\
[gateway]
id = "bench"
state_dir = "{state}"
log_level = "WARNING"
[broker]
sys_interval = 0
max_inflight = 64
max_queued_messages = 10000000
max_queued_bytes = 10000000000
[[broker.listeners]]
port = {port}
[store]
durability = "{durability}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/<pid>/io")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Raw:
    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 20
        while True:  # bounded wait for the broker to listen
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = StreamDecoder(version=4)
        self.pending: list = []

    def send(self, packet: object) -> None:
        self.sock.sendall(encode(packet, 4))

    def recv(self) -> object:
        while not self.pending:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


def subscribe_and_leave(port: int) -> None:
    raw = Raw(port)
    raw.send(Connect("bench-sub", clean_start=False))
    raw.recv()
    raw.send(Subscribe(1, (Subscription("bench/#", 1),)))
    raw.recv()
    raw.send(Disconnect())
    raw.close()


def publish(port: int, count: int, payload: int, window: int) -> float:
    raw = Raw(port)
    raw.send(Connect("bench-pub", clean_start=True))
    raw.recv()
    body = b"x" * payload
    packets = [
        encode(Publish("bench/data", body, 1, packet_id=i % 65535 + 1), 4) for i in range(count)
    ]
    start = time.perf_counter()
    sent = acked = 0
    while acked < count:
        if sent < count and sent - acked < window:
            n = min(window - (sent - acked), count - sent)
            raw.sock.sendall(b"".join(packets[sent : sent + n]))
            sent += n
        packet = raw.recv()
        if isinstance(packet, Puback):
            acked += 1
    elapsed = time.perf_counter() - start
    raw.send(Disconnect())
    raw.close()
    return count / elapsed


def drain(port: int, count: int) -> float:
    raw = Raw(port)
    raw.send(Connect("bench-sub", clean_start=False))
    raw.recv()
    start = time.perf_counter()
    got = 0
    while got < count:
        packet = raw.recv()
        if isinstance(packet, Publish):
            got += 1
            raw.send(Puback(packet.packet_id))
    elapsed = time.perf_counter() - start
    raw.send(Disconnect())
    raw.close()
    return count / elapsed


def start_broker(kind: str, state: Path, port: int) -> subprocess.Popen:
    state.mkdir(parents=True)
    if kind == "mosquitto":
        os.chmod(state, 0o777)
        conf = state / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=port, state=state))
        os.chmod(conf, 0o644)
        cmd = ["mosquitto", "-c", str(conf)]
    else:
        conf = state / "gateway.toml"
        conf.write_text(GATEWAY_CONF.format(port=port, state=state, durability=kind))
        cmd = [sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_one(kind: str, args: argparse.Namespace, root: Path) -> dict:
    state = root / kind
    port = free_port()
    proc = start_broker(kind, state, port)
    try:
        subscribe_and_leave(port)
        time.sleep(0.5)  # let start-up writes (schema, first commit) settle before counting
        before = write_bytes(proc.pid)
        rate = publish(port, args.messages, args.payload, args.window)
        time.sleep(1.5)  # the last commit window (relaxed: 1 s) belongs to the publishing phase
        after = write_bytes(proc.pid)
        time.sleep(args.idle)
        idle = write_bytes(proc.pid) - after
        drain_rate = drain(port, args.messages)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "broker": kind,
        "messages": args.messages,
        "payload": args.payload,
        "publish_msgs_per_s": round(rate),
        "drain_msgs_per_s": round(drain_rate),
        "disk_bytes_per_msg": round((after - before) / args.messages, 1),
        "idle_bytes_per_hour": round(idle * 3600 / args.idle) if args.idle else None,
        "state_dir_bytes_at_exit": dir_bytes(state),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--only", choices=("mosquitto", "sync", "relaxed"), action="append")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the load generator on core 1, brokers on core 0
    kinds = args.only or ["mosquitto", "sync", "relaxed"]
    root = Path(tempfile.mkdtemp(prefix="store-bench-", dir=REPO / "bench" / "out"))
    results = [run_one(kind, args, root) for kind in kinds]
    shutil.rmtree(root, ignore_errors=True)
    print(
        f"{'broker':10} {'pub msg/s':>10} {'drain msg/s':>12} {'disk B/msg':>11} "
        f"{'idle B/hour':>12}"
    )
    for r in results:
        print(
            f"{r['broker']:10} {r['publish_msgs_per_s']:>10} {r['drain_msgs_per_s']:>12} "
            f"{r['disk_bytes_per_msg']:>11} {r['idle_bytes_per_hour']!s:>12}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
