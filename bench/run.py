"""Broker benchmark: our broker and Mosquitto side by side under the same load.

How this works: bench/loadgen.c is compiled into bench/out/ (git-ignored). For every scenario and
every broker (Mosquitto, then ours once per event loop), a fresh broker is started pinned to one
core (`taskset -c 0`) on a free port on 127.0.0.1, the load generator runs pinned to another core
(`taskset -c 1`) and prints one JSON line, and the broker is stopped. Memory is VmRSS from
/proc/<pid>/status. The table gives ours, Mosquitto and the ratio ours/Mosquitto; the raw results go
to bench/out/results-<time>.json.

    python bench/run.py                        # everything, both event loops
    python bench/run.py --only fanin_qos1 --loop uvloop --messages 50000
    python bench/run.py --ours-cmd 'mosquitto -c {conf}'   # validate the runner: Mosquitto vs itself
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import select
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
DEFAULT_OURS_CMD = (
    f"{sys.executable} -m gateway.broker --host 127.0.0.1 --port {{port}} --loop {{loop}}"
)

# Settings the issue asks for: Mosquitto's stock limits drop QoS 1 messages at these rates.
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 64
max_queued_messages 1000000
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
"""


# ---------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; children (brokers, loadgen) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def compile_loadgen(out_dir: Path, cc: str = "cc") -> Path:
    """Compile loadgen.c into out_dir (only when the source is newer than the binary)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src, exe = BENCH_DIR / "loadgen.c", out_dir / "loadgen"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(src)], check=True)
    return exe


def write_mosquitto_conf(directory: Path, port: int) -> Path:
    """A config the `mosquitto` user can read: started as root, Mosquitto drops privileges."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    path = directory / f"mosquitto-{port}.conf"
    path.write_text(MOSQUITTO_CONF.format(port=port))
    path.chmod(0o644)
    return path


def mqtt_ping(port: int, timeout: float = 1.0) -> bool:
    """True when something on the port answers an MQTT 3.1.1 CONNECT with CONNACK 0."""
    connect = bytes([0x10, 18, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 6]) + b"benchp"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(connect)
            reply = s.recv(4)
            s.sendall(bytes([0xE0, 0]))
            return reply[:2] == bytes([0x20, 2]) and reply[3:4] == b"\x00"
    except OSError:
        return False


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def pinned(cpu: int | None, argv: list[str]) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


# ---------------------------------------------------------------- brokers


@dataclasses.dataclass(frozen=True)
class Target:
    """One broker under test: a label and a command template."""

    label: str  # "mosquitto", "ours/asyncio", "ours/uvloop"
    cmd: str  # placeholders: {port} {loop} {conf}
    loop: str = ""


class BrokerProcess:
    def __init__(self, target: Target, cpu: int | None, workdir: Path) -> None:
        self.target, self.cpu, self.workdir = target, cpu, workdir
        self.port = free_port()
        conf = write_mosquitto_conf(workdir, self.port)
        argv = shlex.split(target.cmd.format(port=self.port, loop=target.loop, conf=conf))
        self.log_path = workdir / f"{target.label.replace('/', '-')}-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process, closed in stop()
        self.proc = subprocess.Popen(
            pinned(cpu, argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_DIR,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid  # taskset execs the broker, so this is the broker's own pid

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.target.label} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if mqtt_ping(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.target.label} did not answer on port {self.port}")

    def log_tail(self, n: int = 600) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-n:].decode(errors="replace").strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@contextmanager
def running(target: Target, cpu: int | None, workdir: Path) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(target, cpu, workdir)
    try:
        broker.wait_ready()
        time.sleep(0.3)  # let start-up allocations settle before anything is measured
        yield broker
    finally:
        broker.stop()


# ---------------------------------------------------------------- load generator


@dataclasses.dataclass
class Bench:
    loadgen: Path
    loadgen_cpu: int | None
    broker_cpu: int | None
    timeout: float
    workdir: Path
    verbose: bool

    def loadgen_run(self, broker: BrokerProcess, mode: str, *args: str) -> dict:
        argv = pinned(
            self.loadgen_cpu,
            [
                str(self.loadgen),
                mode,
                "--port",
                str(broker.port),
                "--timeout",
                str(self.timeout),
                *args,
            ],
        )
        ticks0, t0 = cpu_ticks(broker.pid), time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout + 30)
        wall = time.monotonic() - t0
        result = parse_json_line(proc.stdout)
        result["broker_cpu"] = (cpu_ticks(broker.pid) - ticks0) / os.sysconf("SC_CLK_TCK") / wall
        result["exit_code"] = proc.returncode
        if proc.stderr.strip():
            result["stderr"] = proc.stderr.strip()[-400:]
        if self.verbose:
            print(
                f"    {broker.target.label} {mode} {' '.join(args)}: {json.dumps(result)}",
                file=sys.stderr,
            )
        return result

    def idle_rss(self, broker: BrokerProcess, conns: int, settle: float = 1.0) -> dict:
        """RSS of the broker at idle, then holding `conns` idle connections."""
        idle = rss_kb(broker.pid)
        argv = pinned(
            self.loadgen_cpu,
            [
                str(self.loadgen),
                "idle",
                "--port",
                str(broker.port),
                "--conns",
                str(conns),
                "--timeout",
                str(self.timeout),
            ],
        )
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout + 10)
            result = parse_json_line(proc.stdout.readline() if ready else "")
            if result.get("connected") == conns:
                time.sleep(settle)
                result["rss_kb"] = rss_kb(broker.pid)
        finally:
            proc.stdin.close()  # the loadgen disconnects and exits
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        result["rss_idle_kb"] = idle
        return result


def parse_json_line(text: str) -> dict:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    return {"error": f"no JSON result from loadgen: {text[-300:]!r}"}


# ---------------------------------------------------------------- scenarios


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table."""

    name: str
    unit: str
    better: str  # "higher" or "lower"
    pick: Callable[[dict], float | None]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    rows: tuple[Row, ...]
    run: Callable[[Bench, BrokerProcess, argparse.Namespace], dict]


def _ok(r: dict) -> bool:
    return not r.get("error") and not r.get("timed_out") and r.get("exit_code", 0) == 0


def _rate(r: dict) -> float | None:
    return r.get("rate") if _ok(r) and r.get("lost") == 0 else None


def fanin(qos: int) -> Scenario:
    def run(bench: Bench, broker: BrokerProcess, args: argparse.Namespace) -> dict:
        per_pub = max(1, messages(args, f"fanin_qos{qos}") // 4)
        return bench.loadgen_run(
            broker,
            "fanin",
            "--pubs",
            "4",
            "--qos",
            str(qos),
            "--messages",
            str(per_pub),
            "--size",
            str(args.size),
            "--window",
            "64",
            "--drain",
            "5",
        )

    name = f"fanin_qos{qos}"
    return Scenario(name, (Row(f"fan-in 4->1 QoS {qos}", "msg/s", "higher", _rate),), run)


def fanout() -> Scenario:
    def run(bench: Bench, broker: BrokerProcess, args: argparse.Namespace) -> dict:
        per_pub = max(1, messages(args, "fanout_qos0") // 50)
        return bench.loadgen_run(
            broker,
            "fanout",
            "--subs",
            "50",
            "--qos",
            "0",
            "--messages",
            str(per_pub),
            "--size",
            str(args.size),
            "--drain",
            "5",
        )

    return Scenario(
        "fanout_qos0", (Row("fan-out 1->50 QoS 0", "deliveries/s", "higher", _rate),), run
    )


def latency() -> Scenario:
    def run(bench: Bench, broker: BrokerProcess, args: argparse.Namespace) -> dict:
        n = int(args.rate * args.latency_seconds)
        return bench.loadgen_run(
            broker,
            "latency",
            "--rate",
            str(args.rate),
            "--qos",
            "0",
            "--messages",
            str(n),
            "--size",
            str(args.size),
        )

    def pick(key: str) -> Callable[[dict], float | None]:
        return lambda r: r.get(key) if _ok(r) and r.get("lost") == 0 else None

    return Scenario(
        "latency",
        (
            Row("latency p50 @1000 msg/s", "us", "lower", pick("p50_us")),
            Row("latency p99 @1000 msg/s", "us", "lower", pick("p99_us")),
        ),
        run,
    )


def memory() -> Scenario:
    def run(bench: Bench, broker: BrokerProcess, args: argparse.Namespace) -> dict:
        return bench.idle_rss(broker, args.conns)

    def mb(key: str) -> Callable[[dict], float | None]:
        return lambda r: r[key] / 1024 if r.get(key) else None

    def delta(r: dict) -> float | None:
        return (r["rss_kb"] - r["rss_idle_kb"]) / 1024 if r.get("rss_kb") else None

    return Scenario(
        "memory",
        (
            Row("RSS idle", "MB", "lower", mb("rss_idle_kb")),
            Row("RSS with 2,000 idle conns", "MB", "lower", mb("rss_kb")),
            Row("  of which the 2,000 conns", "MB", "lower", delta),
        ),
        run,
    )


SCENARIOS = [fanin(0), fanin(1), fanin(2), fanout(), latency(), memory()]
# Messages delivered per throughput run. QoS 2 is shorter: Mosquitto completes the publishers'
# QoS 2 handshakes faster than it can deliver to the one subscriber, its queue grows and it slows
# down as the queue grows, so longer runs give lower figures for it.
DEFAULT_MESSAGES = {
    "fanin_qos0": 200_000,
    "fanin_qos1": 100_000,
    "fanin_qos2": 40_000,
    "fanout_qos0": 200_000,
}


def messages(args: argparse.Namespace, scenario: str) -> int:
    return args.messages or DEFAULT_MESSAGES[scenario]


# ---------------------------------------------------------------- main


def targets(args: argparse.Namespace) -> list[Target]:
    loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
    found = [Target("mosquitto", f"{args.mosquitto} -c {{conf}}")]
    for loop in loops:
        if loop == "uvloop" and args.ours_cmd == DEFAULT_OURS_CMD and not _has_uvloop():
            print("uvloop is not installed: skipping ours/uvloop", file=sys.stderr)
            continue
        found.append(Target(f"ours/{loop}", args.ours_cmd, loop))
    return found


def _has_uvloop() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import uvloop"], capture_output=True)
    return probe.returncode == 0


def measure(bench: Bench, scenario: Scenario, target: Target, args: argparse.Namespace) -> dict:
    runs = []
    for _ in range(args.repeat):
        try:
            with running(target, bench.broker_cpu, bench.workdir) as broker:
                result = scenario.run(bench, broker, args)
                if broker.proc.poll() is not None:
                    result["error"] = f"broker exited: {broker.log_tail()}"
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            result = {"error": str(exc)}
        runs.append(result)
    return {"runs": runs}


def figure(row: Row, measured: dict) -> float | None:
    values = [v for v in (row.pick(r) for r in measured["runs"]) if v is not None]
    return statistics.median(values) if values else None


def failure(measured: dict) -> str:
    for r in measured["runs"]:
        if r.get("error"):
            return str(r["error"])[:60]
        if r.get("lost"):
            return f"lost {r['lost']}"
        if r.get("timed_out"):
            return "timed out"
    return "no result"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if unit in ("MB", "us") else f"{value:,.0f}"


def print_table(results: dict, rows: list[tuple[Scenario, Row]], labels: list[str]) -> None:
    ours = [label for label in labels if label != "mosquitto"]
    header = f"{'scenario':30} {'unit':>12} {'loop':>8} {'ours':>11} {'mosquitto':>11} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for scenario, row in rows:
        theirs = figure(row, results[scenario.name]["mosquitto"])
        for label in ours:
            measured = results[scenario.name][label]
            mine = figure(row, measured)
            ratio = f"{mine / theirs:.2f}" if mine is not None and theirs else "-"
            note = "" if mine is not None else f"  ({failure(measured)})"
            print(
                f"{row.name:30} {row.unit:>12} {label.split('/')[-1]:>8} {fmt(mine, row.unit):>11}"
                f" {fmt(theirs, row.unit):>11} {ratio:>7}{note}"
            )
        if theirs is None:
            print(f"{'':30} mosquitto failed: {failure(results[scenario.name]['mosquitto'])}")
    print(
        "ratio = ours / mosquitto; throughput: higher is better; latency and memory: lower is"
        " better"
    )


def warn_bottlenecks(results: dict) -> None:
    for scenario, by_target in results.items():
        for label, measured in by_target.items():
            for r in measured["runs"]:
                if r.get("loadgen_cpu", 0) > 0.9:
                    print(
                        f"warning: loadgen used {r['loadgen_cpu']:.0%} of its core in {scenario}"
                        f" against {label}; it may have been the bottleneck",
                        file=sys.stderr,
                    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--only", help="comma-separated scenarios: " + ", ".join(s.name for s in SCENARIOS)
    )
    p.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    p.add_argument(
        "--messages",
        type=int,
        default=0,
        help="messages delivered per throughput run (default per scenario: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_MESSAGES.items())
        + ")",
    )
    p.add_argument(
        "--ours-cmd",
        default=DEFAULT_OURS_CMD,
        help="how to start our broker; placeholders {port}, {loop}, and {conf} (a "
        "Mosquitto config for that port, to benchmark Mosquitto against itself)",
    )
    p.add_argument("--mosquitto", default=shutil.which("mosquitto") or "/usr/sbin/mosquitto")
    p.add_argument("--size", type=int, default=64, help="payload bytes (>= 24)")
    p.add_argument("--rate", type=int, default=1000, help="latency scenario rate, msg/s")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--conns", type=int, default=2000, help="idle connections for the RSS figure")
    p.add_argument("--repeat", type=int, default=1, help="runs per figure (median is shown)")
    p.add_argument("--broker-cpu", type=int, default=0)
    p.add_argument("--loadgen-cpu", type=int, default=1)
    p.add_argument("--timeout", type=float, default=300.0, help="hard limit per loadgen run, s")
    p.add_argument("--json-out", type=Path, help="raw results (default bench/out/results-*.json)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every raw result")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = SCENARIOS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {s.name for s in SCENARIOS}
        if unknown:
            sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        chosen = [s for s in SCENARIOS if s.name in wanted]
    ncpu = os.cpu_count() or 1
    pin = ncpu >= 2 and shutil.which("taskset") is not None
    if not pin:
        print(
            "warning: fewer than 2 CPUs or no taskset: broker and loadgen are not pinned",
            file=sys.stderr,
        )
    nofile = raise_nofile_limit()
    if nofile < args.conns + 100:
        print(
            f"warning: RLIMIT_NOFILE is {nofile}, below {args.conns} connections", file=sys.stderr
        )
    loadgen = compile_loadgen(OUT_DIR)
    all_targets = targets(args)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        bench = Bench(
            loadgen,
            args.loadgen_cpu if pin else None,
            args.broker_cpu if pin else None,
            args.timeout,
            Path(tmp),
            args.verbose,
        )
        for scenario in chosen:
            results[scenario.name] = {}
            for target in all_targets:
                print(f"  {scenario.name} on {target.label} ...", file=sys.stderr, flush=True)
                results[scenario.name][target.label] = measure(bench, scenario, target, args)
    rows = [(s, row) for s in chosen for row in s.rows]
    print_table(results, rows, [t.label for t in all_targets])
    warn_bottlenecks(results)
    out = args.json_out or OUT_DIR / time.strftime("results-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": " ".join(os.uname()),
                "cpus": ncpu,
                "pinned": pin,
                "args": {k: str(v) for k, v in vars(args).items()},
                "targets": [dataclasses.asdict(t) for t in all_targets],
                "results": results,
            },
            indent=1,
        )
    )
    print(f"raw results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
