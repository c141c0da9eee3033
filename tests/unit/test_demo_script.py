"""`scripts/demo` runs pip on the first start and when pyproject.toml changed, not on every start.

The virtual environment is a stand-in (GATEWAY_VENV): its `python` and `edge-gateway` are shell
scripts that log how they were called, so the test sees exactly which commands the script ran."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fake_venv(tmp_path: Path, gateway_works: bool = True) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls"
    for name, body in (
        ("python", f'echo "python $*" >> "{log}"'),
        (
            "edge-gateway",
            'echo "edge-gateway $*" >> "{}"\n{}'.format(
                log, "" if gateway_works else '[ "$1" = --version ] && exit 1'
            ),
        ),
    ):
        script = venv / "bin" / name
        script.write_text(f"#!/bin/sh\n{body}\nexit 0\n")
        script.chmod(0o755)
    return venv


def demo(tmp_path: Path, venv: Path) -> list[str]:
    log = tmp_path / "calls"
    log.unlink(missing_ok=True)
    subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--loop", "asyncio"],
        check=True,
        timeout=60,
        env={**os.environ, "GATEWAY_VENV": str(venv)},
    )
    return log.read_text().splitlines()


def pip_ran(calls: list[str]) -> bool:
    return any(call.startswith("python -m pip install") for call in calls)


def test_pip_runs_once_then_only_when_pyproject_changes(tmp_path):
    venv = fake_venv(tmp_path)
    first = demo(tmp_path, venv)
    assert pip_ran(first)
    assert first[-1] == "edge-gateway run --config config/demo.toml --loop asyncio"
    assert not pip_ran(demo(tmp_path, venv))  # the second start: no pip
    stamp = venv / ".demo-installed"
    stamp.write_text("0" * 64 + f" {ROOT}\n")  # as if pyproject.toml had changed since
    assert pip_ran(demo(tmp_path, venv))
    assert not pip_ran(demo(tmp_path, venv))


def test_a_broken_install_is_repaired_whatever_the_stamp_says(tmp_path):
    venv = fake_venv(tmp_path, gateway_works=False)
    demo(tmp_path, venv)
    assert pip_ran(demo(tmp_path, venv))  # edge-gateway --version fails: install again
