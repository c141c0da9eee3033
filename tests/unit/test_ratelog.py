"""Rate-limited log lines: one per cause per interval, the held-back ones counted."""

from __future__ import annotations

import logging

from gateway.ratelog import RateLimitedLog


def test_one_line_per_cause_per_interval_and_the_rest_counted(caplog) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("test.ratelog"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "test.ratelog"):
        assert rl.log(logging.WARNING, "refused", "refused %s", "a")
        for i in range(4211):
            assert not rl.log(logging.WARNING, "refused", "refused %s", i)
        assert rl.log(logging.WARNING, "handshake", "handshake %s", "b")  # its own cause
        now[0] += 10.0
        assert rl.log(logging.WARNING, "refused", "refused %s", "c")
        now[0] += 10.0
        assert rl.log(logging.WARNING, "refused", "refused %s", "d")
    assert [r.getMessage() for r in caplog.records] == [
        "refused a", "handshake b", "refused c (and 4,211 more in the last 10 s)", "refused d"]
