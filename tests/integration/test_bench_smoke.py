"""Smoke test of the benchmark tools: bench/loadgen.c compiles and measures a tiny fan-in against
Mosquitto without losing anything; bench/run.py's helpers start and stop Mosquitto cleanly."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed"),
    pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc)"),
]


def _load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


run = _load_runner()


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run.compile_loadgen(tmp_path_factory.mktemp("loadgen"))


@pytest.fixture
def mosquitto():
    # pytest's tmp_path is 0700, which the `mosquitto` user (it drops privileges when started as
    # root) cannot read: use a directory of our own with 0755.
    workdir = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    target = run.Target("mosquitto", f"{shutil.which('mosquitto')} -c {{conf}}")
    broker = run.BrokerProcess(target, None, workdir)
    try:
        broker.wait_ready(timeout=10)
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _loadgen(loadgen: Path, *args: str) -> dict:
    proc = subprocess.run(
        [str(loadgen), *args, "--timeout", "10"], capture_output=True, text=True, timeout=20
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return json.loads(lines[0]) | {"exit_code": proc.returncode}


@pytest.mark.parametrize("qos", [1, 2])
def test_fanin_delivers_every_message(loadgen: Path, mosquitto, qos: int) -> None:
    result = _loadgen(
        loadgen,
        "fanin",
        "--port",
        str(mosquitto.port),
        "--qos",
        str(qos),
        "--pubs",
        "4",
        "--messages",
        "50",
        "--drain",
        "2",
    )
    assert result["exit_code"] == 0 and result["error"] is None
    assert result["expected"] == 200
    assert result["received"] == result["unique"] == 200
    assert result["lost"] == result["dup"] == result["out_of_order"] == 0
    assert result["unexpected_ack"] == 0 and not result["timed_out"]
    assert result["rate"] > 0


def test_idle_connections_are_accepted(loadgen: Path, mosquitto) -> None:
    result = _loadgen(
        loadgen, "idle", "--port", str(mosquitto.port), "--conns", "20", "--hold", "0"
    )
    assert result["connected"] == 20 and result["failed"] == 0 and result["exit_code"] == 0


def test_loadgen_reports_an_error_when_nothing_listens(loadgen: Path) -> None:
    result = _loadgen(loadgen, "fanin", "--port", str(run.free_port()), "--messages", "10")
    assert result["exit_code"] != 0 and result["error"]
