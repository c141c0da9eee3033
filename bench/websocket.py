"""MQTT over WebSockets vs plain TCP, on one running gateway: the throughput ratio WS / TCP.

Starts `edge-gateway run` (broker-only config plus [web]) pinned to CPU 0 and, pinned to CPU 1, one
publisher process and one subscriber process per run, both raw sockets with pre-encoded packets
(paho would be the bottleneck): N QoS 0 PUBLISH packets of a 64-byte payload on one topic. Over
WebSockets each packet goes in its own masked binary frame, as browsers and MQTT.js send them; the
subscriber takes frames apart and counts packets across frame boundaries. The figure is messages/s
from the publisher's first write to the subscriber's last delivery; `--repeat` runs alternate TCP
and WS and the median of each is reported, with the ratio. A run that loses messages says so.

    python bench/websocket.py                     # 50,000 messages, 3 runs each
    python bench/websocket.py --messages 100000 --repeat 5 --loop uvloop
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPIC = b"bench/ws"
PAYLOAD = b"x" * 64
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect_packet(client_id: bytes) -> bytes:
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + struct.pack("!H", len(client_id)) + client_id
    return bytes([0x10, len(body)]) + body


def publish_packet() -> bytes:
    body = struct.pack("!H", len(TOPIC)) + TOPIC + PAYLOAD
    return bytes([0x30, len(body)]) + body


def subscribe_packet() -> bytes:
    body = b"\x00\x01" + struct.pack("!H", len(TOPIC)) + TOPIC + b"\x00"
    return bytes([0x82, len(body)]) + body


def ws_frame(payload: bytes, mask: bytes = b"\x11\x22\x33\x44") -> bytes:
    n = len(payload)
    head = bytes([0x82, 0x80 | n]) if n < 126 else bytes([0x82, 0x80 | 126]) + struct.pack("!H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    """MQTT packets out of a byte stream, optionally inside WebSocket frames (server -> client:
    unmasked)."""

    def __init__(self, sock: socket.socket, ws: bool) -> None:
        self.sock, self.ws = sock, ws
        self.raw = bytearray()
        self.mqtt = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed")
        if not self.ws:
            self.mqtt += data
            return
        self.raw += data
        raw = self.raw
        while len(raw) >= 2:
            n, pos = raw[1] & 0x7F, 2
            if n == 126:
                if len(raw) < 4:
                    break
                n, pos = struct.unpack_from("!H", raw, 2)[0], 4
            elif n == 127:
                if len(raw) < 10:
                    break
                n, pos = struct.unpack_from("!Q", raw, 2)[0], 10
            if len(raw) < pos + n:
                break
            self.mqtt += raw[pos : pos + n]
            del raw[: pos + n]

    def packets(self) -> int:
        """Read once; return how many whole MQTT packets were taken off the stream."""
        self._fill()
        count, buf, i = 0, self.mqtt, 0
        while True:
            if len(buf) - i < 2:
                break
            length, shift, j = 0, 0, i + 1
            while j < len(buf):
                byte = buf[j]
                length |= (byte & 0x7F) << shift
                j += 1
                if byte < 0x80:
                    break
                shift += 7
            else:
                break
            if len(buf) < j + length:
                break
            i = j + length
            count += 1
        del buf[:i]
        return count


def open_client(port: int, ws: bool, client_id: bytes) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ws:
        sock.sendall(
            b"GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
            + KEY
            + b"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
    reader = Reader(sock, ws)
    wrap = ws_frame if ws else (lambda b: b)
    sock.sendall(wrap(connect_packet(client_id)))
    while reader.packets() < 1:  # CONNACK
        pass
    return sock, reader


def subscriber(port: int, ws: bool, count: int, ready, out) -> None:  # noqa: ANN001
    sock, reader = open_client(port, ws, b"bench-sub")
    sock.sendall((ws_frame if ws else (lambda b: b))(subscribe_packet()))
    while reader.packets() < 1:  # SUBACK
        pass
    ready.set()
    got = 0
    sock.settimeout(30)
    try:
        while got < count:
            got += reader.packets()
    except (TimeoutError, ConnectionError):
        pass
    out.put((time.monotonic(), got))


def publisher(port: int, ws: bool, count: int, go, out) -> None:  # noqa: ANN001
    sock, _ = open_client(port, ws, b"bench-pub")
    one = (ws_frame if ws else (lambda b: b))(publish_packet())
    batch = one * 500
    go.wait()
    started = time.monotonic()
    sent = 0
    while sent < count:
        n = min(500, count - sent)
        sock.sendall(batch if n == 500 else one * n)
        sent += n
    out.put(started)
    time.sleep(2)
    sock.close()


def one_run(port: int, ws: bool, count: int) -> dict:
    ctx = mp.get_context("fork")
    ready, out_sub, out_pub = ctx.Event(), ctx.Queue(), ctx.Queue()
    sub = ctx.Process(target=subscriber, args=(port, ws, count, ready, out_sub))
    sub.start()
    ready.wait(10)
    pub = ctx.Process(target=publisher, args=(port, ws, count, ready, out_pub))
    pub.start()
    started = out_pub.get(timeout=120)
    ended, got = out_sub.get(timeout=120)
    sub.join(10)
    pub.join(10)
    result = {
        "transport": "ws" if ws else "tcp",
        "sent": count,
        "received": got,
        "seconds": round(ended - started, 3),
    }
    result["rate"] = round(got / (ended - started)) if got == count else None
    return result


def start_gateway(tmp: Path, loop: str) -> tuple[subprocess.Popen, int, int]:
    mqtt_port, web_port = free_port(), free_port()
    config = tmp / "bench.toml"
    config.write_text(f"""
[gateway]
id = "bench"
state_dir = "{tmp / "state"}"
log_level = "WARNING"
[broker]
max_queued_messages = 1000000
max_queued_bytes = 1073741824
[[broker.listeners]]
name = "tcp"
port = {mqtt_port}
[store]
enabled = false
[web]
enabled = true
port = {web_port}
""")
    cmd = [sys.executable, "-m", "gateway.cli", "run", "--config", str(config), "--loop", loop]
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", web_port), timeout=1).close()
            socket.create_connection(("127.0.0.1", mqtt_port), timeout=1).close()
            return proc, mqtt_port, web_port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the gateway did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the clients on CPU 1, the gateway on CPU 0
    with tempfile.TemporaryDirectory() as tmp:
        proc, mqtt_port, web_port = start_gateway(Path(tmp), args.loop)
        try:
            runs = []
            for _ in range(args.repeat):
                runs.append(one_run(mqtt_port, False, args.messages))
                runs.append(one_run(web_port, True, args.messages))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    rates = {
        t: [r["rate"] for r in runs if r["transport"] == t and r["rate"]] for t in ("tcp", "ws")
    }
    summary = {t: statistics.median(v) if v else None for t, v in rates.items()}
    ratio = round(summary["ws"] / summary["tcp"], 2) if summary["tcp"] and summary["ws"] else None
    for run in runs:
        print(json.dumps(run))
    print(
        f"QoS 0, {args.messages} x 64 B, loop {args.loop}: TCP {summary['tcp']} msg/s, "
        f"WebSocket {summary['ws']} msg/s, ratio WS/TCP {ratio}"
    )


if __name__ == "__main__":
    main()
