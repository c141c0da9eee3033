"""Memory and SD-card-write budgets of the gateway, side by side with Mosquitto + mqtt-io.

How this works: the gateway is started as a user starts it (`edge-gateway run --config FILE`, the
console script of the interpreter running this file) with its bytecode compiled and
PYTHONDONTWRITEBYTECODE removed from its environment (an installed package ships its .pyc files; a
process that compiles every module on each start holds about 1.6 MB more). Figures:

- broker-only RSS: a config with one loopback listener (and the default store), VmRSS from
  /proc/PID/status once it is ready and has idled `--settle` seconds;
- realistic gateway: 10 simulated sensors (2 quantities each) every 10 s, Home Assistant discovery,
  the store with `durability = "sync"`, one bridge with a persistent session (clean_start = false,
  MQTT 5) to a local Mosquitto standing in for the cloud, forwarding the whole `edge/` tree at QoS 1;
  its RSS once the bridge is connected and the first readings went out;
- disk writes: `/proc/PID/io` write_bytes (whole 4 KiB pages put into the page cache, the WAL and
  its -shm included) over a measured window, extrapolated to one hour, with the link up and then with
  Mosquitto stopped (link down); the store's file sizes and the bridge's queued-message count over the
  link-down window give what the queue costs per message; fsync/fdatasync calls are counted with
  `strace -f -c` over the link-up window when strace is installed;
- the anchor: Mosquitto (persistence on) with mqtt-io publishing the same number of sensors to it,
  RSS of both (mqtt-io from a virtualenv given with `--mqtt-io PYTHON`, or the figure measured once
  and written below when none is given).

    python bench/budget.py                      # full: 120 s windows, about 6 minutes
    python bench/budget.py --window 30 --settle 10
    python bench/budget.py --mqtt-io /tmp/mqttio-venv/bin/python

tests/integration/test_budget.py runs a short form of the same measurements and fails when a budget
is broken.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from run import free_port  # bench/run.py, beside this file

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
MB = 1024 * 1024

# The budgets of the project brief and issue 14.
GOALS = {
    "broker_rss": 25.0,  # MB
    "gateway_rss": 30.0,  # MB
    "writes_up": 1.0,  # MB/hour
    "writes_down": 2.0,  # MB/hour
}
# Measured once with bench/budget.py --mqtt-io on the machine of bench/README.md (2026-12-03); used
# when no mqtt-io interpreter is given.
MQTT_IO_RSS_MEASURED = 34.8

SENSORS = 10
INTERVAL = 10


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes for {pid}")


def compile_bytecode() -> None:
    """What the .deb ships: every module of the gateway and of its interpreter's site-packages
    compiled once, so the measured process reads .pyc files instead of compiling in memory."""
    import sysconfig

    for directory in (
        REPO_DIR / "gateway",
        REPO_DIR / "drivers",
        Path(sysconfig.get_path("purelib")),
    ):
        compileall.compile_dir(str(directory), quiet=1, workers=1)


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("MALLOC_ARENA_MAX", "2")  # what systemd/edge-gateway.service sets
    return env


# ---------------------------------------------------------------- configs


def broker_only_config(state_dir: Path, port: int) -> str:
    return f"""\
[gateway]
id = "bench"
state_dir = "{state_dir}"

[[broker.listeners]]
name = "local"
host = "127.0.0.1"
port = {port}
"""


def realistic_config(
    state_dir: Path,
    port: int,
    cloud_port: int,
    sensors: int = SENSORS,
    interval: float = INTERVAL,
    tls: bool = False,
) -> str:
    parts = [
        broker_only_config(state_dir, port),
        f"""
[store]
durability = "sync"

[homeassistant]
discovery = true

[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {cloud_port}
protocol = "5.0"
clean_start = false
keepalive = 5
backoff_initial = 1
backoff_max = 2
[bridges.tls]
enabled = {"true" if tls else "false"}
[[bridges.topics]]
pattern = "#"
direction = "out"
local_prefix = "edge/"
remote_prefix = "gw/bench/"
local_qos = 1
remote_qos = 1
""",
    ]
    for i in range(sensors):
        parts.append(f"""
[[sensors]]
type = "simulated"
name = "s{i}"
quantities = ["temperature", "humidity"]
interval = {interval}
seed = {i}
""")
    return "".join(parts)


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    popen: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_line(self, pattern: str, timeout: float) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.lines)
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"exited with {self.popen.returncode}:\n" + "".join(self.lines[-20:])
                )
            time.sleep(0.05)
        raise TimeoutError(
            f"no line matching {pattern!r} after {timeout:g} s:\n" + "".join(self.lines[-20:])
        )


@contextmanager
def started(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[Proc]:
    popen = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd
    )
    proc = Proc(popen)

    def reader() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            proc.lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        yield proc
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(15)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        thread.join(2)


def mosquitto(
    directory: Path, port: int, persistence: bool = False, tls: str = ""
) -> AbstractContextManager[Proc]:
    """`tls`: Mosquitto config lines (certfile, keyfile) that make the listener a TLS one."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o777)  # Mosquitto started as root drops to its own user
    conf = directory / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n{tls}allow_anonymous true\n"
        f"persistence {'true' if persistence else 'false'}\n"
        f"persistence_location {directory}/\nlog_dest stdout\nlog_type error\n"
    )
    os.chmod(conf, 0o644)
    return started(["mosquitto", "-c", str(conf)])


def gateway(config: Path, loop: str = "asyncio") -> AbstractContextManager[Proc]:
    exe = Path(sys.executable).with_name("edge-gateway")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gateway.cli"]
    return started(
        [*cmd, "run", "--config", str(config), "--loop", loop], env=clean_env(), cwd=config.parent
    )


class SysWatcher:
    """The gateway's `$SYS/broker/bridge/<name>/...` values, kept current by a paho subscriber."""

    def __init__(self, port: int, bridge: str = "cloud") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.values: dict[str, str] = {}
        self.prefix = f"$SYS/broker/bridge/{bridge}/"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="budget-watch")
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *a: c.subscribe(self.prefix + "#")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, msg) -> None:  # noqa: ANN001
        self.values[msg.topic.removeprefix(self.prefix)] = msg.payload.decode()

    def wait(self, key: str, value: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.values.get(key) != value:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} is {self.values.get(key)!r}, not {value!r}")
            time.sleep(0.05)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def store_bytes(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("broker.db*"))


def count_syncs(pid: int, seconds: float) -> int | None:
    """fsync + fdatasync calls of every thread of `pid` during `seconds` (None: no strace)."""
    if shutil.which("strace") is None:
        return None
    trace = subprocess.Popen(
        ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    trace.send_signal(signal.SIGINT)
    _, err = trace.communicate(timeout=20)
    total = 0
    for line in err.splitlines():
        fields_ = line.split()
        if fields_ and fields_[-1] in ("fsync", "fdatasync"):
            total += int(fields_[3] if len(fields_) >= 6 else fields_[-2])
    return total


# ---------------------------------------------------------------- measurements


def mapped_libraries(pid: int) -> set[str]:
    """File names of the shared objects mapped into `pid` (libssl.so.3, _hashlib...so, ...)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {line.split()[-1].rsplit("/", 1)[-1] for line in maps.splitlines() if ".so" in line}


def measure_broker_only(
    work: Path, settle: float, libraries: set[str] | None = None, loop: str = "asyncio"
) -> float:
    """Idle RSS in MB; `libraries`, when given, gets the shared objects the process mapped."""
    port = free_port()
    state = work / f"broker-only-{loop}"
    state.mkdir()
    config = work / f"broker-only-{loop}.toml"
    config.write_text(broker_only_config(state, port))
    with gateway(config, loop) as gw:
        gw.wait_line(r" ready: ", 60)
        time.sleep(settle)
        if libraries is not None:
            libraries.update(mapped_libraries(gw.pid))
        return rss_mb(gw.pid)


def measure_gateway(
    work: Path,
    settle: float,
    window: float,
    down_window: float,
    strace: bool = True,
    loop: str = "asyncio",
    make_config: Callable[[Path, int, int], str] | None = None,
) -> dict[str, float | int | None]:
    """`make_config(state_dir, port, cloud_port)`: the config text (default: realistic_config)."""
    port, cloud_port = free_port(), free_port()
    state = work / "gateway"
    state.mkdir()
    config = work / "gateway.toml"
    config.write_text((make_config or realistic_config)(state, port, cloud_port))
    out: dict[str, float | int | None] = {}
    with ExitStack() as stack:
        cloud = stack.enter_context(mosquitto(work / "cloud", cloud_port))
        wait_port(cloud_port)
        gw = stack.enter_context(gateway(config, loop))
        gw.wait_line(r" ready: ", 60)
        watch = SysWatcher(port)
        stack.callback(watch.close)
        watch.wait("connected", "1", 30)
        time.sleep(settle)
        out["rss"] = rss_mb(gw.pid)

        before = write_bytes(gw.pid)
        start = time.monotonic()
        out["fsyncs_up"] = count_syncs(gw.pid, window) if strace else None
        if not strace:
            time.sleep(window)
        elapsed = time.monotonic() - start
        out["writes_up"] = (write_bytes(gw.pid) - before) * 3600 / elapsed / MB
        out["fsyncs_up_hour"] = (
            None if out["fsyncs_up"] is None else round(out["fsyncs_up"] * 3600 / elapsed)
        )
        out["rss_after"] = rss_mb(gw.pid)

        # link down: the cloud goes away; readings queue on the gateway
        cloud.popen.send_signal(signal.SIGTERM)
        cloud.popen.wait(10)
        watch.wait("connected", "0", 30)
        time.sleep(min(settle, 5))
        queued0 = int(watch.values.get("queue/messages", "0"))
        size0 = store_bytes(state)
        before = write_bytes(gw.pid)
        start = time.monotonic()
        time.sleep(down_window)
        elapsed = time.monotonic() - start
        out["writes_down"] = (write_bytes(gw.pid) - before) * 3600 / elapsed / MB
        queued = int(watch.values.get("queue/messages", "0")) - queued0
        out["queued_down_hour"] = round(queued * 3600 / elapsed)
        out["queue_growth_hour"] = (store_bytes(state) - size0) * 3600 / elapsed / MB
        out["bytes_per_queued"] = (
            None if queued <= 0 else round((write_bytes(gw.pid) - before) / queued)
        )
        gw.popen.send_signal(signal.SIGTERM)
        out["exit"] = gw.popen.wait(30)
    return out


def measure_tls_gateway(work: Path, settle: float, loop: str = "asyncio") -> float:
    """RSS of the realistic gateway whose bridge goes over TLS, trusting the system store (no
    `ca_file`), as to a real cloud: the "cloud" Mosquitto's certificate comes from a throwaway CA
    put into a hashed directory named by SSL_CERT_DIR (the system bundle, SSL_CERT_FILE, stays
    the default one, so a gateway that loads the whole bundle is seen doing it)."""
    import trustme

    port, cloud_port = free_port(), free_port()
    tls_dir = work / "tls"
    tls_dir.mkdir()
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tls_dir / "bench-ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tls_dir / "cloud.pem"))
    server.private_key_pem.write_to_path(str(tls_dir / "cloud.key"))
    for name in ("cloud.pem", "cloud.key"):
        os.chmod(tls_dir / name, 0o644)  # read by Mosquitto's own user; a throwaway key
    trust = tls_dir / "trust"
    trust.mkdir()
    shutil.copy(tls_dir / "bench-ca.pem", trust / "bench-ca.pem")
    subprocess.run(["openssl", "rehash", str(trust)], check=True, capture_output=True)
    state = work / "gateway-tls"
    state.mkdir()
    config = work / "gateway-tls.toml"
    config.write_text(realistic_config(state, port, cloud_port, tls=True))
    env = clean_env()
    env.pop("SSL_CERT_FILE", None)
    env["SSL_CERT_DIR"] = str(trust)
    tls_lines = f"certfile {tls_dir / 'cloud.pem'}\nkeyfile {tls_dir / 'cloud.key'}\n"
    with ExitStack() as stack:
        cloud = stack.enter_context(mosquitto(work / "cloud-tls", cloud_port, tls=tls_lines))
        wait_port(cloud_port)
        exe = Path(sys.executable).with_name("edge-gateway")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gateway.cli"]
        gw = stack.enter_context(
            started([*cmd, "run", "--config", str(config), "--loop", loop], env=env, cwd=work)
        )
        gw.wait_line(r" ready: ", 60)
        watch = SysWatcher(port)
        stack.callback(watch.close)
        watch.wait("connected", "1", 30)
        time.sleep(settle)
        assert cloud.popen.poll() is None
        return rss_mb(gw.pid)


MQTT_IO_CONFIG = """\
mqtt:
  host: 127.0.0.1
  port: {port}
  topic_prefix: mqttio
  ha_discovery:
    enabled: yes
sensor_modules:
{modules}
sensor_inputs:
{inputs}
"""


def measure_anchor(work: Path, settle: float, mqtt_io_python: str | None) -> dict[str, float]:
    """Mosquitto (persistence on) and mqtt-io publishing SENSORS readings every INTERVAL s."""
    port = free_port()
    out: dict[str, float] = {}
    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto(work / "anchor", port, persistence=True))
        wait_port(port)
        if mqtt_io_python:
            modules = "".join(f"  - name: m{i}\n    module: mock\n" for i in range(SENSORS))
            inputs = "".join(
                f"  - name: s{i}\n    module: m{i}\n    interval: {INTERVAL}\n"
                for i in range(SENSORS)
            )
            conf = work / "mqtt-io.yml"
            conf.write_text(MQTT_IO_CONFIG.format(port=port, modules=modules, inputs=inputs))
            io = stack.enter_context(
                started([mqtt_io_python, "-m", "mqtt_io", str(conf)], env=clean_env())
            )
            time.sleep(settle + 5)
            if io.popen.poll() is not None:
                raise RuntimeError("mqtt-io exited:\n" + "".join(io.lines[-20:]))
            out["mqtt_io"] = rss_mb(io.pid)
        else:
            time.sleep(settle)
            out["mqtt_io"] = MQTT_IO_RSS_MEASURED
        out["mosquitto"] = rss_mb(broker.pid)
    return out


def table(results: dict[str, float | int | None]) -> str:
    anchor = results["mosquitto"] + results["mqtt_io"]
    rows = [
        (
            "broker-only gateway, idle RSS",
            f"{results['broker_rss']:.1f} MB",
            "≤ 25 MB",
            results["broker_rss"] <= GOALS["broker_rss"],
        ),
        (
            "realistic gateway RSS",
            f"{results['rss']:.1f} MB",
            "≤ 30 MB",
            results["rss"] <= GOALS["gateway_rss"],
        ),
        *(
            [
                (
                    "same, bridge over TLS trusting the system store",
                    f"{results['tls_rss']:.1f} MB",
                    "≤ 30 MB",
                    results["tls_rss"] <= GOALS["gateway_rss"],
                )
            ]
            if results.get("tls_rss") is not None
            else []
        ),
        (
            "disk writes, link up",
            f"{results['writes_up']:.2f} MB/hour"
            + (
                ""
                if results["fsyncs_up_hour"] is None
                else f", {results['fsyncs_up_hour']} fsyncs/hour"
            ),
            "≤ 1 MB/hour",
            results["writes_up"] <= GOALS["writes_up"],
        ),
        (
            "disk writes, link down",
            f"{results['writes_down']:.2f} MB/hour; "
            f"{results['queued_down_hour']} msg/hour queued, store +{results['queue_growth_hour']:.2f}"
            f" MB/hour, {results['bytes_per_queued']} B written per queued message",
            "≤ 2 MB/hour",
            results["writes_down"] <= GOALS["writes_down"],
        ),
        (
            "anchor: Mosquitto + mqtt-io",
            f"{results['mosquitto']:.1f} + {results['mqtt_io']:.1f} = "
            f"{anchor:.1f} MB; ours {results['rss'] / anchor:.2f}×",
            "ours ≤ 0.67×",
            results["rss"] <= anchor * 2 / 3,
        ),
    ]
    lines = ["| | measured | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {'ok' if ok else 'OVER'} |" for a, b, c, ok in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=15.0, help="s after ready before measuring")
    parser.add_argument("--window", type=float, default=120.0, help="s of the link-up window")
    parser.add_argument(
        "--down-window",
        type=float,
        default=300.0,
        help="s of the link-down window (at least twice [store] own_grace, 120 s, "
        "so the held readings are written in it)",
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--mqtt-io", help="python of a virtualenv with mqtt-io installed")
    parser.add_argument("--no-strace", action="store_true")
    parser.add_argument(
        "--no-tls", action="store_true", help="skip the realistic gateway with its bridge over TLS"
    )
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="budget-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        results: dict = {"broker_rss": measure_broker_only(work, args.settle)}
        results.update(
            measure_gateway(
                work, args.settle, args.window, args.down_window, not args.no_strace, args.loop
            )
        )
        if not args.no_tls:
            results["tls_rss"] = measure_tls_gateway(work, args.settle, args.loop)
        results.update(measure_anchor(work, args.settle, args.mqtt_io))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
