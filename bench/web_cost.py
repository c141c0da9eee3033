"""What the web surface costs the gateway: RSS and disk writes, with [web] off and on.

Runs `edge-gateway run` on the demo's sensors and relay (store on, the realistic case) three times:
without [web]; with [web] idle (never asked for anything); with [web] in use (the page loaded, an
event stream open, /metrics scraped every second, an MQTT client over WebSockets subscribed to
everything). For each: VmRSS after `--settle` seconds, then `write_bytes` from /proc/PID/io over
`--window` seconds (page-cache writeback of the whole process, so the store's own writes are in
all three; the difference is the web surface's). Bytecode is compiled first and
PYTHONDONTWRITEBYTECODE unset, so RSS is that of an installed package.

    python bench/web_cost.py                   # ~2 minutes
    python bench/web_cost.py --window 60 --control   # plus a run that must show writes
"""

from __future__ import annotations

import argparse
import compileall
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENSORS = """
[[sensors]]
type = "simulated"
name = "living_room"
quantities = ["temperature", "humidity", "pressure"]
interval = 5
[[sensors]]
type = "simulated"
name = "garden"
quantities = ["temperature", "illuminance"]
interval = 10
[[relays]]
name = "lamp"
pin = 17
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def field(pid: int, path: str, name: str) -> int:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    raise KeyError(name)


def use_it(web: int, stop: threading.Event, control: bool = False) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    deadline = time.monotonic() + 30
    while True:  # the gateway may still be starting
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=10).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    stream = urllib.request.urlopen(f"http://127.0.0.1:{web}/api/events", timeout=10)

    def drain() -> None:
        try:
            while stream.read(4096):
                pass
        except (OSError, ValueError, http.client.HTTPException):  # the gateway stopped
            pass

    threading.Thread(target=drain, daemon=True).start()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, "cost-ws", transport="websockets")
    client.ws_set_options(path="/mqtt")
    client.connect("127.0.0.1", web)
    client.subscribe("#")
    client.loop_start()
    n = 0
    while not stop.wait(1):
        urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=10).read()
        if control:  # a LAN client's retained message is stored: the measurement sees writes
            n += 1
            client.publish("control/retained", str(n), qos=1, retain=True)
    client.loop_stop()


def measure(kind: str, settle: float, window: float, loop: str) -> tuple[float, int]:
    out = ROOT / "bench" / "out"  # on the disk (a /tmp on tmpfs has no write_bytes to see)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        web = free_port()
        config = Path(tmp) / "gw.toml"
        web_section = f"[web]\nenabled = true\nport = {web}\n" if kind != "off" else ""
        config.write_text(
            f'[gateway]\nid = "cost"\nstate_dir = "{tmp}/state"\ndemo = true\n'
            f'[[broker.listeners]]\nname = "local"\nport = {free_port()}\n'
            f"{SENSORS}{web_section}"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(config), "--loop", loop],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop = threading.Event()
        try:
            time.sleep(3)
            if kind != "off" and kind != "idle":
                user = threading.Thread(
                    target=use_it, args=(web, stop, kind == "control"), daemon=True
                )
                user.start()
            time.sleep(settle)
            rss = field(proc.pid, "status", "VmRSS:") / 1024
            if kind in ("used", "control") and not user.is_alive():
                raise SystemExit(f"{kind}: the client thread died (see its traceback above)")
            before = field(proc.pid, "io", "write_bytes:")
            time.sleep(window)
            written = field(proc.pid, "io", "write_bytes:") - before
        finally:
            stop.set()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return rss, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop", "auto"],
        default="asyncio",
        help="the event loop (asyncio: as the .deb runs it)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="a fourth run, 'used' plus a "
        "retained QoS 1 publish a second: shows that writes are seen",
    )
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "gateway", quiet=1)
    compileall.compile_dir(ROOT / "drivers", quiet=1)
    kinds = ("off", "idle", "used", *(("control",) if args.control else ()))
    results = {kind: measure(kind, args.settle, args.window, args.loop) for kind in kinds}
    base_rss, base_written = results["off"]
    for kind, (rss, written) in results.items():
        print(
            f"web {kind:7}: RSS {rss:5.1f} MB ({rss - base_rss:+.1f}), disk writes "
            f"{written / 1024:7.1f} KiB in {args.window:g} s ({(written - base_written) / 1024:+.1f})"
        )


if __name__ == "__main__":
    main()
