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
        "refused a",
        "handshake b",
        "refused c (and 4,211 more in the last 10 s)",
        "refused d",
    ]


def test_flush_sums_up_a_flood_that_stopped(caplog) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("test.ratelog"), 10.0, clock=lambda: now[0])
    other = logging.getLogger("test.ratelog.other")
    with caplog.at_level(logging.INFO, "test.ratelog"):
        rl.log(logging.WARNING, "bad_password", "bad password for %r", "u0", logger=other)
        for i in range(1, 4213):
            rl.log(logging.WARNING, "bad_password", "bad password for %r", f"u{i}", logger=other)
        now[0] += 9.9
        rl.flush()  # the interval is not over: nothing yet
        assert len(caplog.records) == 1
        now[0] += 0.1
        rl.flush()
        rl.flush()  # written once
        now[0] += 10.0
        rl.flush()  # nothing held back since
    assert [r.getMessage() for r in caplog.records] == [
        "bad password for 'u0'",
        "bad password for 'u4212' (and 4,211 more in the last 10 s)",
    ]
    assert {r.name for r in caplog.records} == {"test.ratelog.other"}
