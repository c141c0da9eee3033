"""Fuzz at scale: random and mutated MQTT packets over many connections against the whole gateway
(`edge-gateway run` in a subprocess, durable store on), while a well-behaved QoS 1 pair exchanges
messages through it.

How this works: each fuzz worker is a process of its own (Python would otherwise be the
bottleneck). It encodes a corpus once — valid packets of every kind for 3.1.1 and 5.0 with random
fields, mutated copies of them (a bit flipped, truncated, bytes inserted) and random byte strings —
and then only picks from it. It keeps `connections` connections busy at once; each starts with a
CONNECT (nine in ten valid, so that what follows reaches the session logic) sent in the same
segment as its first batch. A batch is 0-8 valid packets, one mutated or random packet, and a
PINGREQ, in one `send`; the next batch goes out when the PINGRESP shows the broker handled the
batch. A close (the broker refused a packet) or no answer within STALL (a cut-short packet left it
waiting for more bytes) replaces the connection with a new one. What the gateway sends is decoded
and dropped. Client ids come from a small set (`fz-0` ... `fz-39`, and empty), so sessions are
taken over and resumed; subscriptions to "#" make the fuzz traffic fan out.

Meanwhile a subscriber (persistent session, QoS 1) and a publisher (QoS 1, up to 10
unacknowledged) exchange numbered messages on a topic of their own, and the gateway's RSS is
sampled twice a second. The run passes when the gateway is still up and stops cleanly on SIGTERM,
the pair got every message with no disconnect, and the log holds no traceback and no ERROR line.

    python -m tests.support.fuzz_soak --fuzz-packets 1000000 --keep-log /tmp/soak.log   # JSON figures
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import QoS, ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Subscribe,
    Subscription,
    Unsubscribe,
    Will,
)
from gateway.mqtt.properties import Properties
from tests.support.gateway_process import NotifySocket, free_port

TOPICS = ["a", "a/b", "a/b/c", "b", "$SYS/x", "x/y/z/w/v", "a/+", "fz/t", "fz/r/1", ""]
FILTERS = ["#", "a/#", "+/b", "a", "$share/g/a/#", "$SYS/#", "fz/#", "bad#", "+", "a/b/#"]
CLIENT_IDS = [f"fz-{i}" for i in range(40)] + [""]
BATCH = (0, 8)  # valid packets before the one fuzz packet of a batch
KINDS = ("valid", "mutated", "random")
WEIGHTS = (0, 70, 30)  # of a batch's fuzz packet


# -- the corpus ---------------------------------------------------------------------------------


def _props(rng: random.Random, **choices: list) -> Properties:
    return Properties(
        **{name: rng.choice(values) for name, values in choices.items() if rng.random() < 0.3}
    )


def random_connect(rng: random.Random, version: int) -> Connect:
    will = None
    if rng.random() < 0.2:
        will = Will(
            rng.choice(TOPICS[:-1]),
            rng.randbytes(rng.randint(0, 8)),
            QoS(rng.randint(0, 2)),
            rng.random() < 0.3,
        )
    props = Properties()
    if version == 5:
        props = _props(
            rng,
            session_expiry_interval=[0, 10, 300],
            receive_maximum=[1, 2, 100],
            topic_alias_maximum=[0, 2],
            maximum_packet_size=[64, 1000, 100000],
        )
    return Connect(
        rng.choice(CLIENT_IDS),
        version,
        rng.random() < 0.7,
        rng.choice([0, 2, 60]),
        None,
        None,
        will,
        props,
    )


def random_packet(rng: random.Random, version: int) -> Packet:
    kind = rng.randrange(12)
    pid = rng.randint(1, 12)
    if kind <= 3:
        qos = QoS(rng.randint(0, 2))
        props = (
            _props(
                rng,
                topic_alias=[0, 1, 2, 3],
                message_expiry_interval=[0, 1, 60],
                payload_format_indicator=[0, 1],
            )
            if version == 5
            else Properties()
        )
        topic = rng.choice(TOPICS)
        if not topic and props.topic_alias is None:
            topic = "fz/t"
        return Publish(
            topic,
            rng.randbytes(rng.randint(0, 200)),
            qos,
            rng.random() < 0.1,
            False,
            pid if qos else None,
            props,
        )
    if kind == 4:
        subs = tuple(
            Subscription(rng.choice(FILTERS), QoS(rng.randint(0, 2)))
            for _ in range(rng.randint(1, 3))
        )
        return Subscribe(pid, subs)
    if kind == 5:
        return Unsubscribe(pid, tuple(rng.sample(FILTERS, rng.randint(1, 2))))
    if kind == 6:
        return Puback(pid)
    if kind == 7:
        return Pubrec(pid)
    if kind == 8:
        return Pubrel(pid)
    if kind == 9:
        return Pubcomp(pid)
    if kind == 10:
        if version == 5 and rng.random() < 0.2:
            return Auth(ReasonCode.RE_AUTHENTICATE, Properties(authentication_method="X"))
        return Pingreq()
    if rng.random() < 0.1:
        return random_connect(rng, version)  # a second CONNECT [MQTT-3.1.0-2]
    if rng.random() < 0.3:
        return Disconnect(
            ReasonCode.DISCONNECT_WITH_WILL_MESSAGE if version == 5 else ReasonCode.SUCCESS
        )
    return Pingreq()


def mutate(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(3)
    index = rng.randrange(len(data))
    if kind == 0:
        return data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1 :]
    if kind == 1:
        return data[:index]
    return data[:index] + rng.randbytes(rng.randint(1, 8)) + data[index:]


def build_corpus(rng: random.Random, size: int) -> dict:
    """{version: {"connect": [...], "valid": [...], "mutated": [...], "random": [...]}}."""
    corpus = {}
    for version in (4, 5):
        connects = [encode(random_connect(rng, version), version) for _ in range(200)]
        valid: list[bytes] = []
        while len(valid) < size:
            try:
                valid.append(encode(random_packet(rng, version), version))
            except ValueError:  # a combination the encoder refuses: draw again
                continue
        corpus[version] = {
            "connect": connects,
            "bad_connect": [mutate(rng, rng.choice(connects)) for _ in range(200)],
            "valid": valid,
            "mutated": [mutate(rng, rng.choice(valid)) for _ in range(size)],
            "random": [rng.randbytes(rng.randint(1, 64)) for _ in range(size // 2)],
        }
    return corpus


# -- a fuzz worker (a process of its own) -------------------------------------------------------

PINGREQ = encode(Pingreq(), 4)
# Seconds without a PINGRESP after a batch: its fuzz packet left the broker waiting for more bytes
# (or closed it and the close is still on its way). Giving up early loses nothing: the broker
# reads everything sent before our close, up to the first packet it refuses.
STALL = 0.1


class FuzzConnection:
    """One fuzz connection: it sends a batch (valid packets, then one mutated or random packet,
    then PINGREQ) and waits for PINGRESP (the batch was handled), a close (a packet was refused)
    or a stall (the fuzz packet was cut short and the broker waits for the rest) before the next."""

    __slots__ = ("deadline", "decoder", "fuzz_kind", "sock", "version")

    def __init__(self, sock: socket.socket, version: int) -> None:
        self.sock = sock
        self.version = version
        self.decoder = StreamDecoder(version=version)
        self.deadline = 0.0
        self.fuzz_kind = ""


def fuzz_worker(port: int, seed: int, fuzz_packets: int, connections: int, result) -> None:
    """Send batches until `fuzz_packets` mutated or random packets are out, then report counts."""
    rng = random.Random(seed)
    corpus = build_corpus(rng, 3000)
    counts = dict.fromkeys(KINDS, 0)
    counts.update(
        packets=0, connections=0, answered=0, closed=0, stalled=0, refused=0, undecodable=0
    )
    selector = selectors.DefaultSelector()
    live = 0

    def more() -> bool:
        return counts["mutated"] + counts["random"] < fuzz_packets

    while more() or live:
        while live < connections and more():
            conn = _open(port, rng, corpus, counts)
            if conn is None:
                break
            selector.register(conn.sock, selectors.EVENT_READ, conn)
            live += 1
        now = time.monotonic()
        for key, _ in selector.select(timeout=0.05):
            conn = key.data
            outcome = _read(conn, counts)
            if outcome == "answered" and more():
                if _send_batch(conn, rng, corpus, counts):
                    continue
                outcome = "closed"
            if outcome != "waiting":
                selector.unregister(conn.sock)
                conn.sock.close()
                live -= 1
        for key in list(selector.get_map().values()):
            if key.data.deadline < now:  # stalled: the broker keeps it until its timeouts
                counts["stalled"] += 1
                selector.unregister(key.fileobj)
                cast(socket.socket, key.fileobj).close()
                live -= 1
    result.put(counts)


def _open(port: int, rng: random.Random, corpus: dict, counts: dict) -> FuzzConnection | None:
    version = rng.choice((4, 5))
    try:
        sock = socket.create_connection(("127.0.0.1", port), 5)
    except OSError:  # refused at a connection limit (counted by the gateway): later
        counts["refused"] += 1
        time.sleep(0.01)
        return None
    sock.setblocking(False)
    counts["connections"] += 1
    conn = FuzzConnection(sock, version)
    if rng.random() < 0.1:  # a mutated CONNECT is this connection's fuzz packet
        counts["mutated"] += 1
        counts["packets"] += 1
        conn.fuzz_kind = "connect"
        _send(conn, rng.choice(corpus[version]["bad_connect"]) + PINGREQ)
        return conn
    counts["packets"] += 1  # the CONNECT, and the first batch in the same segment
    if not _send_batch(conn, rng, corpus, counts, rng.choice(corpus[version]["connect"])):
        sock.close()
        return None
    return conn


def _send_batch(
    conn: FuzzConnection, rng: random.Random, corpus: dict, counts: dict, head: bytes = b""
) -> bool:
    pool = corpus[conn.version]
    valid = rng.randint(*BATCH)
    kind = rng.choices(KINDS[1:], WEIGHTS[1:])[0]
    counts["valid"] += valid
    counts[kind] += 1
    counts["packets"] += valid + 1
    conn.fuzz_kind = kind
    body = b"".join(rng.choice(pool["valid"]) for _ in range(valid))
    return _send(conn, head + body + rng.choice(pool[kind]) + PINGREQ)


def _send(conn: FuzzConnection, data: bytes) -> bool:
    conn.deadline = time.monotonic() + STALL
    conn.sock.setblocking(True)
    conn.sock.settimeout(5)
    try:
        conn.sock.sendall(data)
    except OSError:
        return False
    finally:
        conn.sock.setblocking(False)
    return True


def _read(conn: FuzzConnection, counts: dict) -> str:
    """ "answered" (PINGRESP seen), "closed", or "waiting" for more."""
    try:
        data = conn.sock.recv(262144)
    except BlockingIOError:
        return "waiting"
    except OSError:
        data = b""
    if not data:
        counts["closed"] += 1
        return "closed"
    try:
        replies = conn.decoder.feed(data)
    except ProtocolError:  # e.g. a refused protocol level answered in 3.1.1's format
        counts["undecodable"] += 1
        return "closed"
    if any(isinstance(p, Pingresp) for p in replies):
        counts["answered"] += 1
        return "answered"
    return "waiting"


# -- the well-behaved pair ----------------------------------------------------------------------


class RawMqtt:
    def __init__(self, port: int, client_id: str, clean: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = StreamDecoder(version=4)
        self.pending: list = []
        self.sock.sendall(encode(Connect(client_id, 4, clean, 60), 4))
        connack = self.recv()
        if connack.reason_code != ReasonCode.SUCCESS:
            raise ConnectionError(f"{client_id} refused: {connack}")

    def send(self, packet: object) -> None:
        self.sock.sendall(encode(packet, 4))  # type: ignore[arg-type]

    def recv(self, timeout: float = 30) -> Any:  # the packet the test expects next
        self.sock.settimeout(timeout)
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the gateway closed the connection")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)


class GoodPair:
    """A QoS 1 publisher and a persistent QoS 1 subscriber; `errors` lists anything that went
    wrong (a disconnect, a refused CONNECT); `received` the sequence numbers that arrived."""

    def __init__(self, port: int, tag: str) -> None:
        self.topic = f"good/{tag}"
        self.sub = RawMqtt(port, f"good-sub-{tag}", clean=False)
        self.sub.send(Subscribe(1, (Subscription(self.topic, QoS.AT_LEAST_ONCE),)))
        self.sub.recv()  # SUBACK
        self.pub = RawMqtt(port, f"good-pub-{tag}", clean=True)
        self.sent = 0
        self.received: set[int] = set()
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._publish, daemon=True),
            threading.Thread(target=self._subscribe, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _publish(self, window: int = 10) -> None:
        unacked: set[int] = set()
        try:
            while not self.stop.is_set():
                while len(unacked) < window and not self.stop.is_set():
                    pid = self.sent % 65535 + 1
                    self.pub.send(
                        Publish(
                            self.topic, str(self.sent).encode(), QoS.AT_LEAST_ONCE, packet_id=pid
                        )
                    )
                    unacked.add(pid)
                    self.sent += 1
                ack = self.pub.recv()
                unacked.discard(ack.packet_id)
                time.sleep(0.002)  # about 300-500 messages/s: a steady trickle, not a benchmark
            while unacked:
                unacked.discard(self.pub.recv().packet_id)
        except OSError as exc:
            self.errors.append(f"publisher: {exc!r}")

    def _subscribe(self) -> None:
        try:
            while True:
                packet = self.sub.recv(timeout=60)
                if isinstance(packet, Publish):
                    self.received.add(int(packet.payload))
                    if packet.packet_id is not None:
                        self.sub.send(Puback(packet.packet_id))
        except OSError as exc:
            if not self.stop.is_set() or len(self.received) < self.sent:
                self.errors.append(f"subscriber: {exc!r}")

    def finish(self, timeout: float = 60) -> list[int]:
        """Stop publishing, wait for the last messages; the sequence numbers missing."""
        self.stop.set()
        self.threads[0].join(timeout)
        deadline = time.monotonic() + timeout
        while len(self.received) < self.sent and time.monotonic() < deadline:
            time.sleep(0.05)
        missing = sorted(set(range(self.sent)) - self.received)
        self.pub.sock.close()
        self.sub.sock.close()
        return missing


# -- the run ------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _drain_notify(notify: NotifySocket) -> None:
    notify.sock.settimeout(None)
    try:
        while notify.sock.recv(4096):
            pass
    except OSError:  # closed at the end of the run
        pass


def write_config(tmp: Path, port: int) -> Path:
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    conf = tmp / "gateway.toml"
    conf.write_text(f"""[gateway]
id = "soak"
state_dir = "{state}"
log_level = "WARNING"
[broker]
sys_interval = 1
# mutated CONNECTs make new client ids: without an expiry every persistent one would be kept
# (as Mosquitto keeps them without persistent_client_expiration), each queueing up to 1,000
# messages for the fuzz subscriptions to "#"
persistent_client_expiration = 30
max_session_expiry = 30
[[broker.listeners]]
name = "soak"
host = "127.0.0.1"
port = {port}
allow_anonymous = true
[store]
enabled = true
""")
    return conf


def run_soak(
    tmp: Path,
    fuzz_packets: int,
    workers: int = 2,
    connections: int = 32,
    seed: int = 1,
    keep_log: Path | None = None,
) -> dict:
    port = free_port()
    conf = write_config(tmp, port)
    log_path = tmp / "gateway.log"
    notify = NotifySocket(str(tmp / "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(conf)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    samples: list[float] = []
    try:
        notify.wait_for("READY=1", timeout=30)
        # keep reading STATUS= and WATCHDOG=1 as systemd does: the gateway's notify socket is
        # blocking, and a full receive queue would stall its event loop
        threading.Thread(target=_drain_notify, args=(notify,), daemon=True).start()
        rss_start = rss_mb(proc.pid)
        pair = GoodPair(port, f"{seed}")
        results = multiprocessing.get_context("spawn").Queue()
        started = time.monotonic()
        procs = [
            multiprocessing.get_context("spawn").Process(
                target=fuzz_worker,
                args=(port, seed * 1000 + i, fuzz_packets // workers, connections, results),
                daemon=True,
            )
            for i in range(workers)
        ]
        for p in procs:
            p.start()
        counts: list[dict] = []
        while len(counts) < workers:
            if proc.poll() is not None:
                break
            samples.append(rss_mb(proc.pid))
            try:
                counts.append(results.get(timeout=0.5))
            except queue.Empty:  # keep sampling
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
        elapsed = time.monotonic() - started
        for p in procs:
            p.join(10)
        alive = proc.poll() is None
        missing = pair.finish() if alive else list(range(pair.sent))
        rss_end = rss_mb(proc.pid) if alive else 0.0
        if alive:
            proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        notify.sock.close()
    log = log_path.read_text(errors="replace").splitlines()
    bad_lines = [
        line for line in log if "Traceback" in line or line.startswith(("ERROR", "CRITICAL"))
    ]
    first = next((i for i, line in enumerate(log) if line in bad_lines), None)
    if keep_log is not None:
        keep_log.write_text("\n".join(log))
    totals = {key: sum(c[key] for c in counts) for key in (counts[0] if counts else {})}
    return {
        "packets": totals.get("packets", 0),
        "fuzz_packets": totals.get("mutated", 0) + totals.get("random", 0),
        "counts": totals,
        "workers_done": len(counts),
        "seconds": round(elapsed, 1),
        "alive_until_stop": alive,
        "exit_code": exit_code,
        "rss_start_mb": round(rss_start, 1),
        "rss_peak_mb": round(max(samples, default=0), 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_samples_mb": [round(x, 1) for x in samples[:: max(1, len(samples) // 20)]],
        "pair_sent": pair.sent,
        "pair_missing": len(missing),
        "pair_errors": pair.errors,
        "log_lines": len(log),
        "bad_log_lines": bad_lines[:20],
        "first_traceback": log[first : first + 40] if first is not None else [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fuzz-packets",
        type=int,
        default=1_000_000,
        help="mutated and random packets to send (the valid ones come on top)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="per worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-log", type=Path, help="copy the gateway's log here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-soak-") as tmp:
        result = run_soak(
            Path(tmp), args.fuzz_packets, args.workers, args.connections, args.seed, args.keep_log
        )
    print(json.dumps(result, indent=1))
    ok = (
        result["alive_until_stop"]
        and result["exit_code"] == 0
        and not result["pair_missing"]
        and not result["pair_errors"]
        and not result["bad_log_lines"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
