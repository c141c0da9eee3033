"""Bridge benchmark: our bridge and a Mosquitto-to-Mosquitto bridge under the same load.

How this works: a "cloud" Mosquitto (plain TCP on 127.0.0.1, persistence on) has one raw-socket
subscriber with a persistent session on `gw1/data/#` (QoS 1, acknowledging everything). The "edge" is
either our gateway (`edge-gateway run`, durable store on, bridge `data/# out` to the cloud) or a
Mosquitto with a `connection` bridge (`topic data/# out 1 edge/ gw1/`, cleansession false,
restart_timeout 1, persistence on, its default queue limits unless --mosquitto-queue is given).
The edge runs pinned to core 0 and the cloud to core 1; the publisher (this process) and the
subscriber (a process of its own) are not pinned (on core 1 with the cloud they were the bottleneck).

  backlog: the cloud is stopped; N QoS 1 messages are published to the edge (each acknowledged by
           it); the cloud starts again; drain rate = N / (time from the cloud listening to the last
           message at the subscriber). Messages that never arrive (within a stall timeout) are lost.
  live:    the link is up; N QoS 1 messages are published as fast as the edge accepts them (a
           window of --window unacknowledged, default 100); rate = N / (first publish to last
           message at the subscriber). `cpu` is the edge process's CPU time (all threads) over
           that interval, as a fraction of one core.

Each figure is the median of --repeat runs (default 1); every run's figures go to
`bench/out/bridge-<time>.json`. The publisher's packets are encoded before the clock starts.

    python bench/bridge.py                     # 100,000 backlog + 50,000 live, both edges
    python bench/bridge.py --messages 20000 --only ours
    python bench/bridge.py --repeat 3 --window 1000 --commit-ms 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))

from gateway.mqtt.codec import StreamDecoder, encode  # noqa: E402
from gateway.mqtt.enums import QoS  # noqa: E402
from gateway.mqtt.packets import Connack, Connect, Puback, Publish, Subscribe, Subscription  # noqa: E402

EDGE_GATEWAY = Path(sys.executable).with_name("edge-gateway")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listens on {port}")


def mqtt_connect(
    port: int, client_id: str, clean: bool = True
) -> tuple[socket.socket, StreamDecoder]:
    sock = socket.create_connection(("127.0.0.1", port), 5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(encode(Connect(client_id, 4, clean, 600), 4))
    decoder = StreamDecoder(version=4)
    while True:
        packets = decoder.feed(sock.recv(65536))
        if packets:
            assert isinstance(packets[0], Connack) and packets[0].reason_code == 0, packets
            return sock, decoder


class Subscriber(multiprocessing.Process):
    """Counts distinct messages on the cloud; reconnects (bounded) when the cloud restarts.

    A process of its own: as a thread of the publisher's process it held the GIL while decoding
    and delayed the publisher's reaction to its PUBACKs by up to a switch interval (5 ms)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self._count = multiprocessing.Value("q", 0, lock=False)
        self._last_new = multiprocessing.Value("d", 0.0, lock=False)
        self.halt = multiprocessing.Event()
        self.ready = multiprocessing.Event()

    def run(self) -> None:
        seen: set[bytes] = set()
        while not self.halt.is_set():
            try:
                self._session(seen)
            except OSError:
                time.sleep(0.05)  # the cloud is down: retry

    def _session(self, seen: set[bytes]) -> None:
        sock, decoder = mqtt_connect(self.port, "bench-sub", clean=False)
        sock.sendall(encode(Subscribe(1, (Subscription("gw1/data/#", QoS(1)),)), 4))
        sock.settimeout(0.5)
        self.ready.set()
        while not self.halt.is_set():
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                raise OSError("closed")
            acks = []
            for packet in decoder.feed(data):
                if isinstance(packet, Publish):
                    if packet.packet_id:
                        acks.append(encode(Puback(packet.packet_id), 4))
                    if packet.payload not in seen:
                        seen.add(packet.payload)
                        self._last_new.value = time.monotonic()  # before the count: see count()
                        self._count.value = len(seen)
            if acks:
                sock.sendall(b"".join(acks))
        sock.close()

    def count(self) -> int:
        return self._count.value

    @property
    def last_new(self) -> float:
        return self._last_new.value

    def wait_for(
        self, n: int, stall: float = 15.0, probe: Callable[[], float] = lambda: 0.0
    ) -> tuple[int, float, float]:
        """Until n distinct messages arrived or none arrived for `stall` s: (count, last time,
        `probe()` when the count last changed, within 10 ms)."""
        last_count, last_change, probed = -1, time.monotonic(), probe()
        while True:
            count = self.count()
            if count >= n:
                return count, self.last_new, probe()
            if count != last_count:
                last_count, last_change, probed = count, time.monotonic(), probe()
            elif time.monotonic() - last_change > stall:
                return count, self.last_new, probed
            time.sleep(0.01)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish(port: int, start: int, n: int, window: int = 100) -> float:
    """n QoS 1 messages `edge/data/t<i%4>` with unique payloads; returns the first-send time."""
    packets = [
        encode(
            Publish(
                f"edge/data/t{(start + k) % 4}",
                b"%012d" % (start + k) + b"x" * 52,
                QoS(1),
                False,
                False,
                k % 65535 + 1,
            ),
            4,
        )
        for k in range(n)
    ]
    sock, decoder = mqtt_connect(port, f"bench-pub-{start}")
    first = time.monotonic()
    sent = acked = 0
    while acked < n:
        if sent < n and sent - acked < window:
            burst = min(window - (sent - acked), n - sent)
            sock.sendall(b"".join(packets[sent : sent + burst]))
            sent += burst
        acked += sum(isinstance(p, Puback) for p in decoder.feed(sock.recv(65536)))
    sock.close()
    return first


class Cloud:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp / "cloud"
        self.dir.mkdir(mode=0o755)
        (self.dir / "m.conf").write_text(
            f"user root\nlistener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.dir}/\nmax_queued_messages 0\nmax_inflight_messages 100\n"
            "log_dest none\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        self.proc = subprocess.Popen(
            ["taskset", "-c", "1", "mosquitto", "-c", str(self.dir / "m.conf")]
        )
        return wait_port(self.port)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(20)
            self.proc = None


def start_ours(
    tmp: Path, cloud_port: int, inflight: int, commit_ms: int | None, durability: str
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    commit = "" if commit_ms is None else f"commit_interval_ms = {commit_ms}\n"
    (tmp / "state").mkdir()
    conf = tmp / "gateway.toml"
    conf.write_text(f"""[gateway]
id = "gw1"
state_dir = "{tmp / "state"}"
log_level = "WARNING"
[broker]
sys_interval = 0
[[broker.listeners]]
port = {port}
[store]
durability = "{durability}"
{commit}[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {cloud_port}
protocol = "3.1.1"
inflight = {inflight}
backoff_initial = 0.1
backoff_max = 1
[bridges.tls]
enabled = false
[bridges.queue]
max_messages = 1000000
max_bytes = 1000000000
[[bridges.topics]]
pattern = "data/#"
local_prefix = "edge/"
remote_prefix = "gw1/"
""")
    proc = subprocess.Popen(["taskset", "-c", "0", str(EDGE_GATEWAY), "run", "--config", str(conf)])
    wait_port(port)
    return proc, port


def start_mosquitto_edge(
    tmp: Path, cloud_port: int, queue: int | None
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    d = tmp / "edge"
    d.mkdir(mode=0o755)
    extra = f"max_queued_messages {queue}\n" if queue is not None else ""
    (d / "m.conf").write_text(
        f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {d}/\nlog_dest none\n{extra}"
        f"connection cloud\naddress 127.0.0.1:{cloud_port}\nclientid gw1-cloud\n"
        "cleansession false\nrestart_timeout 1\nbridge_protocol_version mqttv311\n"
        "topic data/# out 1 edge/ gw1/\n"
    )
    proc = subprocess.Popen(["taskset", "-c", "0", "mosquitto", "-c", str(d / "m.conf")])
    wait_port(port)
    return proc, port


def run_edge(kind: str, n_backlog: int, n_live: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-bridge-{kind}-") as t:
        tmp = Path(t)
        os.chmod(tmp, 0o755)
        cloud = Cloud(tmp)
        cloud.start()
        sub = Subscriber(cloud.port)
        sub.start()
        sub.ready.wait(10)
        if kind == "ours":
            edge, port = start_ours(tmp, cloud.port, args.inflight, args.commit_ms, args.durability)
        else:
            edge, port = start_mosquitto_edge(tmp, cloud.port, args.mosquitto_queue)
        result: dict = {"edge": kind}
        try:
            # warm-up: the link is up once one message made it through
            publish(port, 10**9, 1)
            sub.wait_for(1, stall=20)
            # live forwarding
            cpu0 = cpu_seconds(edge.pid)
            first = publish(port, 0, n_live, args.window)
            got, last, cpu1 = sub.wait_for(1 + n_live, args.stall, lambda: cpu_seconds(edge.pid))
            cpu = (cpu1 - cpu0) / max(1e-9, last - first)
            result["live"] = {
                "messages": n_live,
                "received": got - 1,
                "lost": n_live - got + 1,
                "rate": round((got - 1) / max(1e-9, last - first)),
                "cpu": round(cpu, 2),
            }
            before = sub.count()
            # backlog drain
            cloud.stop()
            time.sleep(1.0)  # let the edge notice the outage (no event to wait on from here)
            t0 = time.monotonic()
            publish(port, 10**6, n_backlog, args.window)
            publish_s = time.monotonic() - t0
            up = cloud.start()
            got, last, _ = sub.wait_for(before + n_backlog, stall=args.stall)
            received = got - before
            result["backlog"] = {
                "messages": n_backlog,
                "received": received,
                "lost": n_backlog - received,
                "publish_s": round(publish_s, 2),
                "drain_s": round(last - up, 2),
                "rate": round(received / max(1e-9, last - up)),
            }
        finally:
            sub.halt.set()
            edge.terminate()
            edge.wait(30)
            cloud.stop()
            sub.join(5)
    return result


def median_of(runs: list[dict], phase: str, key: str) -> float:
    return statistics.median(r[phase][key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="backlog size")
    parser.add_argument("--live", type=int, default=50_000, help="live messages")
    parser.add_argument("--only", choices=("ours", "mosquitto"))
    parser.add_argument("--inflight", type=int, default=100, help="our bridge's window")
    parser.add_argument(
        "--window",
        type=int,
        default=100,
        help="the publisher's window of unacknowledged QoS 1 messages",
    )
    parser.add_argument(
        "--durability",
        choices=("sync", "relaxed"),
        default="sync",
        help="our store's durability (relaxed: acknowledged before the commit)",
    )
    parser.add_argument(
        "--commit-ms",
        type=int,
        default=None,
        help="our store's commit_interval_ms (default: the store's own)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per edge (medians shown)")
    parser.add_argument(
        "--mosquitto-queue",
        type=int,
        default=None,
        help="max_queued_messages of the Mosquitto edge (default: its own 1000)",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=20.0,
        help="seconds without a new message before the rest count as lost",
    )
    args = parser.parse_args()
    if not shutil.which("mosquitto"):
        print("mosquitto is not installed", file=sys.stderr)
        return 2
    kinds = [k for k in ("ours", "mosquitto") if not args.only or k == args.only]
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both edges
        for kind in kinds:
            runs[kind].append(run_edge(kind, args.messages, args.live, args))
            print(json.dumps(runs[kind][-1]), flush=True)
    out = BENCH_DIR / "out"
    out.mkdir(exist_ok=True)
    (out / f"bridge-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps({"args": vars(args), "runs": runs}, indent=1)
    )
    print(f"median of {args.repeat} run(s); publisher window {args.window}")
    print(
        f"{'edge':<10} {'live msg/s':>11} {'live cpu':>9} {'live lost':>10} {'drain msg/s':>12} "
        f"{'drain s':>8} {'backlog lost':>13}"
    )
    for kind, rs in runs.items():
        print(
            f"{kind:<10} {median_of(rs, 'live', 'rate'):>11.0f} "
            f"{median_of(rs, 'live', 'cpu'):>9.2f} {median_of(rs, 'live', 'lost'):>10.0f} "
            f"{median_of(rs, 'backlog', 'rate'):>12.0f} {median_of(rs, 'backlog', 'drain_s'):>8} "
            f"{median_of(rs, 'backlog', 'lost'):>13.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
