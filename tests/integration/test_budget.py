"""The memory and SD-card-write budgets, in a short form of bench/budget.py (about 50 s).

Memory and bytes written are not timing, so the budgets are asserted. The write test runs twenty times
faster than the real gateway (sensors every 0.5 s instead of 10 s, `own_grace` 6 s instead of 120 s,
windows of 15-18 s) and its budgets are scaled by the same factor: what one reading or one batch
costs is what the full bench measures, only more often. `python bench/budget.py` gives the figures
at real speed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import budget

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None, reason="needs mosquitto")

SPEED = 20  # the short form runs the gateway's own traffic this many times faster
# Both memory budgets are met and asserted (measured 24.6 MB broker-only, 26.8-27.4 MB realistic);
# pydantic back in the service would be about +12 MB, ssl about +4.5, paho's unused imports +5.
# Link down the goal is 2 MB/hour; measured 1.9-2.2 in this short window (whether 2 or 3 commits
# fall in it) while each commit of the held readings cost about 46 KB whatever its size, mostly the
# WAL index in -shm; the store's exclusive locking mode keeps that index in the heap now (the full
# bench: 1.45 MB/hour). One commit per own_grace. This ceiling catches a regression (a commit per
# reading is about 14 MB/hour) without failing on the window's noise.
WRITES_DOWN_CEILING = 2.6


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    budget.compile_bytecode()
    path = tmp_path_factory.mktemp("budget")
    os.chmod(path, 0o755)  # Mosquitto started as root drops to its own user
    return path


@pytest.fixture(scope="module")
def gateway_figures(work):
    def fast_config(state: Path, port: int, cloud_port: int) -> str:
        text = budget.realistic_config(state, port, cloud_port, interval=budget.INTERVAL / SPEED)
        return text.replace(
            'durability = "sync"', f'durability = "sync"\nown_grace = {120 / SPEED}'
        )

    return budget.measure_gateway(
        work, settle=5, window=15, down_window=18, strace=False, make_config=fast_config
    )


def test_broker_only_rss(work):
    libraries: set[str] = set()
    rss = budget.measure_broker_only(work, settle=2, libraries=libraries)
    assert rss <= budget.GOALS["broker_rss"], f"broker-only gateway: {rss:.1f} MB"
    # no TLS and no passwords configured: neither libssl nor OpenSSL's libcrypto is loaded
    openssl = sorted(
        name for name in libraries if name.startswith(("libssl", "libcrypto", "_ssl", "_hashlib"))
    )
    assert openssl == [], openssl
    assert any(name.startswith("libsqlite3") for name in libraries)  # positive control


def test_realistic_gateway_rss(gateway_figures):
    assert gateway_figures["rss"] <= budget.GOALS["gateway_rss"], f"{gateway_figures['rss']:.1f} MB"


def test_disk_writes_with_the_link_up(gateway_figures):
    writes = gateway_figures["writes_up"]
    assert writes <= budget.GOALS["writes_up"] * SPEED, f"{writes:.2f} MB/hour at {SPEED}× speed"


def test_disk_writes_with_the_link_down(gateway_figures):
    assert gateway_figures["queued_down_hour"] > 0  # positive control: readings did queue
    writes = gateway_figures["writes_down"]
    assert writes > 0  # ... and were written (own_grace passed during the window)
    assert writes <= WRITES_DOWN_CEILING * SPEED, f"{writes:.2f} MB/hour at {SPEED}× speed"
    assert gateway_figures["exit"] == 0


def test_uvloop_still_starts_without_tls(work):
    """uvloop imports ssl unconditionally: the run command keeps ssl when uvloop may be picked."""
    pytest.importorskip("uvloop")
    libraries: set[str] = set()
    budget.measure_broker_only(work, settle=0.5, libraries=libraries, loop="uvloop")
    assert any(name.startswith("loop.cpython") for name in libraries)  # uvloop's own extension
