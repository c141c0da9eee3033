"""TLS memory benchmark: a flood of half-open TLS sockets, and what an idle TLS client costs.

How this works: each broker (our `edge-gateway run`, then Mosquitto from apt) gets a TLS listener
on 127.0.0.1 with a throwaway CA (trustme) and is started fresh for each of the two scenarios.

  flood: with max_connections = --max-connections (default 200), this process opens --flood
         (default 1,500) TCP connections to the TLS port that never send a ClientHello. The
         broker's VmRSS is sampled every 0.1 s for --hold seconds (default 15): `rss_peak` and
         `grew` (peak - before). `closed_at_once`: flood sockets that read EOF or a reset 1 s
         after the flood (the refused ones). At the end, `still_open` counts the flood's
         connections the kernel still has established on the broker's side (/proc/net/tcp: those
         the broker holds and those waiting in its listen queue; a connection whose handshake the
         kernel dropped when the queue was full is not one), and `held_at_end` the broker's own
         sockets (its open file descriptors over those before the flood).
  idle:  --idle (default 500) TLS clients each finish the handshake (TLS 1.3), send an MQTT
         3.1.1 CONNECT (keepalive 600) and read the CONNACK, then stay idle; `per_conn_kb` =
         (VmRSS 1 s after the last CONNACK - VmRSS before the first client) / --idle. The same
         with plain TCP clients on a second listener gives `plain_per_conn_kb`, so the TLS part
         is the difference.

Our gateway is started with `max_connections_per_address = 0` (all connections come from
127.0.0.1 here; its default of 100 per address would refuse more of the flood, not less).
`PYTHONDONTWRITEBYTECODE` is unset for it so that its modules are compiled once, as an installed
package's are. Results go to bench/out/tls-<time>.json.

    python bench/tls_flood.py                      # both brokers, both scenarios (about 2 min)
    python bench/tls_flood.py --only ours --loop asyncio
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))

from gateway.mqtt.codec import encode  # noqa: E402
from gateway.mqtt.packets import Connect  # noqa: E402

EDGE_GATEWAY = Path(sys.executable).with_name("edge-gateway")
CONNACK_LEN = 4  # a 3.1.1 CONNACK is 4 bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Pki:
    def __init__(self, tmp: Path) -> None:
        import trustme

        ca = trustme.CA()
        self.ca = tmp / "ca.pem"
        self.cert = tmp / "server.crt"
        self.key = tmp / "server.key"
        ca.cert_pem.write_to_path(self.ca)
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        leaf.cert_chain_pems[0].write_to_path(self.cert)
        leaf.private_key_pem.write_to_path(self.key)
        for path in (self.ca, self.cert, self.key):  # Mosquitto drops to its own user
            path.chmod(0o644)
        self.client = ssl.create_default_context(cafile=str(self.ca))


def tls_connect(port: int, pki: Pki, timeout: float = 10) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout)
    return pki.client.wrap_socket(raw, server_hostname="127.0.0.1")


def wait_ready(port: int, pki: Pki, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            tls_connect(port, pki, 1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_ours(
    tmp: Path, pki: Pki, tls_port: int, plain_port: int, max_connections: int, loop: str
) -> subprocess.Popen:
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    conf = tmp / "gateway.toml"
    conf.write_text(f"""[gateway]
id = "bench"
state_dir = "{state}"
log_level = "WARNING"
[broker]
sys_interval = 0
max_connections = {max_connections}
max_connections_per_address = 0
[[broker.listeners]]
name = "plain"
port = {plain_port}
[[broker.listeners]]
name = "tls"
host = "127.0.0.1"
port = {tls_port}
allow_anonymous = true
[broker.listeners.tls]
certfile = "{pki.cert}"
keyfile = "{pki.key}"
[store]
enabled = false
""")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.Popen(
        [str(EDGE_GATEWAY), "run", "--config", str(conf), "--loop", loop], env=env
    )


def start_mosquitto(
    tmp: Path, pki: Pki, tls_port: int, plain_port: int, max_connections: int
) -> subprocess.Popen:
    d = tmp / "mosquitto"
    d.mkdir(mode=0o755, exist_ok=True)
    conf = d / "m.conf"
    conf.write_text(
        f"user root\nlog_dest none\npersistence false\n"
        f"listener {plain_port} 127.0.0.1\nallow_anonymous true\nmax_connections {max_connections}\n"
        f"listener {tls_port} 127.0.0.1\nmax_connections {max_connections}\n"
        f"certfile {pki.cert}\nkeyfile {pki.key}\n"
    )
    return subprocess.Popen(["mosquitto", "-c", str(conf)])


def is_closed(sock: socket.socket) -> bool:
    """The broker closed it: readable, and the read gives EOF or a reset."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def established(port: int) -> int:
    """Established TCP connections whose local port is `port` (the server's side)."""
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def flood(pid: int, port: int, count: int, hold: float) -> dict:
    before = rss_kb(pid)
    fds_before = open_fds(pid)
    socks: list[socket.socket] = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    start = time.monotonic()
    peak, closed_at_once = before, None
    while time.monotonic() - start < hold:
        peak = max(peak, rss_kb(pid))
        if closed_at_once is None and time.monotonic() - start >= 1.0:
            closed_at_once = sum(is_closed(s) for s in socks)
        time.sleep(0.1)
    still_open = established(port)
    held = open_fds(pid) - fds_before
    after = rss_kb(pid)
    for s in socks:
        s.close()
    return {
        "flood": count,
        "hold_s": hold,
        "rss_before_mb": before / 1024,
        "rss_peak_mb": peak / 1024,
        "rss_after_mb": after / 1024,
        "grew_mb": (peak - before) / 1024,
        "closed_at_once": closed_at_once,
        "still_open": still_open,
        "held_at_end": held,
    }


def mqtt_connect(sock: socket.socket, client_id: str) -> None:
    sock.sendall(encode(Connect(client_id, 4, True, 600), 4))
    got = b""
    while len(got) < CONNACK_LEN:
        data = sock.recv(CONNACK_LEN - len(got))
        if not data:
            raise ConnectionError("closed before CONNACK")
        got += data
    if got[0] != 0x20 or got[3] != 0:
        raise ConnectionError(f"CONNACK refused: {got.hex()}")


def idle_cost(pid: int, port: int, count: int, pki: Pki | None) -> float:
    time.sleep(0.5)
    before = rss_kb(pid)
    socks = []
    for i in range(count):
        sock = tls_connect(port, pki) if pki else socket.create_connection(("127.0.0.1", port), 10)
        mqtt_connect(sock, f"idle-{'tls' if pki else 'tcp'}-{i}")
        socks.append(sock)
    time.sleep(1.0)
    after = rss_kb(pid)
    for sock in socks:
        sock.close()
    return (after - before) / count


def run(kind: str, args: argparse.Namespace, pki: Pki, tmp: Path) -> dict:
    result: dict = {"broker": kind}
    for scenario in ("flood", "idle"):
        tls_port, plain_port = free_port(), free_port()
        limit = args.max_connections if scenario == "flood" else 2 * args.idle + 10
        if kind == "ours":
            proc = start_ours(tmp, pki, tls_port, plain_port, limit, args.loop)
        else:
            proc = start_mosquitto(tmp, pki, tls_port, plain_port, limit)
        try:
            wait_ready(tls_port, pki)
            time.sleep(0.5)
            if scenario == "flood":
                result["flood"] = flood(proc.pid, tls_port, args.flood, args.hold)
            else:
                result["rss_idle_mb"] = rss_kb(proc.pid) / 1024
                result["plain_per_conn_kb"] = idle_cost(proc.pid, plain_port, args.idle, None)
                result["tls_per_conn_kb"] = idle_cost(proc.pid, tls_port, args.idle, pki)
        finally:
            proc.terminate()
            proc.wait(20)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("ours", "mosquitto"))
    parser.add_argument("--flood", type=int, default=1500)
    parser.add_argument("--max-connections", type=int, default=200)
    parser.add_argument("--hold", type=float, default=15.0)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.flood + 2 * args.idle + 100
    if hard < need:
        print(f"RLIMIT_NOFILE hard limit {hard} < {need}: raise it (ulimit -Hn)", file=sys.stderr)
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the brokers inherit it
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as t:
        tmp = Path(t)
        tmp.chmod(0o755)
        pki = Pki(tmp)
        for kind in ("ours", "mosquitto"):
            if args.only and kind != args.only:
                continue
            r = run(kind, args, pki, tmp)
            results.append(r)
            f = r["flood"]
            print(
                f"{kind:9s} flood of {f['flood']} half-open TLS sockets, max_connections "
                f"{args.max_connections}: RSS {f['rss_before_mb']:.1f} -> peak "
                f"{f['rss_peak_mb']:.1f} MB (+{f['grew_mb']:.1f}), closed within 1 s "
                f"{f['closed_at_once']}; after {args.hold:g} s {f['still_open']} still "
                f"established, {f['held_at_end']} held by the broker"
            )
            print(
                f"{kind:9s} idle RSS {r['rss_idle_mb']:.1f} MB; per idle connection: TLS "
                f"{r['tls_per_conn_kb']:.1f} KB, plain TCP {r['plain_per_conn_kb']:.1f} KB "
                f"({args.idle} clients each)"
            )
    out = BENCH_DIR / "out"
    out.mkdir(exist_ok=True)
    path = out / f"tls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
