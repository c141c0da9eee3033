"""Fuzz at scale against the whole gateway (`edge-gateway run`, store on) while a QoS 1 pair
exchanges messages through it: see `tests/support/fuzz_soak.py` for how the packets are made.

CI runs a bounded version (4,000 mutated or random packets and about 17,000 valid ones around
them, a few seconds). GATEWAY_SOAK=1 runs the full one: 1,000,000 mutated and random packets.
"""

from __future__ import annotations

import os

import pytest

from tests.support.fuzz_soak import run_soak

SOAK = os.environ.get("GATEWAY_SOAK") == "1"
FUZZ_PACKETS = 1_000_000 if SOAK else 4_000

pytestmark = pytest.mark.timeout(3600 if SOAK else 120)


@pytest.mark.slow
def test_gateway_survives_a_fuzz_soak_and_the_good_pair_loses_nothing(tmp_path):
    result = run_soak(tmp_path, FUZZ_PACKETS)
    print(result)  # the figures, with -s
    assert result["workers_done"] == 2 and result["fuzz_packets"] >= FUZZ_PACKETS
    assert result["alive_until_stop"] and result["exit_code"] == 0  # stopped cleanly by SIGTERM
    assert result["pair_sent"] > 0 and result["pair_missing"] == 0 and result["pair_errors"] == []
    assert result["bad_log_lines"] == []  # no traceback, no ERROR line
    assert result["counts"]["closed"] > 0 and result["log_lines"] > 0  # the fuzz did bite
    # memory bounded: what the gateway holds depends on its limits, not on how long it is fuzzed
    assert result["rss_peak_mb"] < result["rss_start_mb"] + 60
