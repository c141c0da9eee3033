"""LoginBackoff with a fake clock: free failures, doubling windows, forgetting, a bounded table."""

from __future__ import annotations

import pytest

from gateway.broker.auth.login_backoff import LoginBackoff, peer_address


def test_windows_double_after_the_free_failures_up_to_the_cap():
    backoff = LoginBackoff(free_failures=3, max_window=60)
    windows = [backoff.failed("a", now=float(i * 100)) for i in range(10)]
    assert windows == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60]


def test_blocked_for_counts_down_and_is_per_address():
    backoff = LoginBackoff(free_failures=1)
    assert backoff.failed("a", now=0.0) == 0.0
    assert backoff.failed("a", now=0.0) == 1.0
    assert backoff.blocked_for("a", now=0.25) == pytest.approx(0.75)
    assert backoff.blocked_for("b", now=0.25) == 0.0
    assert backoff.blocked_for("a", now=1.0) == 0.0
    assert backoff.failed("a", now=1.0) == 2.0  # the count goes on: the next window is longer


def test_an_address_is_forgotten_after_a_quiet_period():
    backoff = LoginBackoff(free_failures=0, forget_after=600)
    for t in range(5):
        backoff.failed("a", now=float(t * 100))
    assert backoff.failed("a", now=500.0) == 32.0  # the 6th failure, none free
    assert backoff.blocked_for("a", now=1100.5) == 0.0 and len(backoff) == 0
    assert backoff.failed("a", now=1101.0) == 1.0  # counting from the start again


def test_the_table_is_bounded_and_evicts_the_oldest_failure():
    backoff = LoginBackoff(free_failures=0, max_addresses=3)
    for index, address in enumerate("abcd"):
        backoff.failed(address, now=float(index))
    assert len(backoff) == 3 and backoff.evicted == 1
    assert backoff.blocked_for("a", now=3.5) == 0.0  # the oldest went
    assert backoff.blocked_for("d", now=3.5) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("peer", "address"),
    [("192.0.2.7:51515", "192.0.2.7"), ("::1:4000", "::1"), ("unix", "unix"), ("", "")],
)
def test_peer_address(peer, address):
    assert peer_address(peer) == address
