"""Fixtures for every test, and the suite's rules on opt-in tests and skips.

Opt-in tests (`@pytest.mark.opt_in("VARIABLE")`: the nspawn boot test, the power-cut VM test, the
check against a real Home Assistant) run only when their environment variable is set (non-empty and
not "0"); otherwise they are deselected, and the summary names them and the variable.

Strict skips: with GATEWAY_STRICT_SKIPS=1 (scripts/test sets it when run as root, as CI runs it) or
CI=true, a test that skips fails instead, unless it is marked `hardware` (those need a Pi and are
expected to skip elsewhere). A missing tool or library then fails CI instead of hiding a test.
GATEWAY_STRICT_SKIPS=0 turns this off.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.support.broker_thread import BrokerThread

_NOT_RUN: Counter[str] = Counter()  # opt-in variable -> how many of its tests were deselected


def _switched_on(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def _strict_skips() -> bool:
    setting = os.environ.get("GATEWAY_STRICT_SKIPS")
    if setting is not None:
        return setting == "1"
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "opt_in(variable): runs only when the environment variable is set (not empty, not 0); "
        "deselected otherwise",
    )


def pytest_collection_modifyitems(config, items):
    keep, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("opt_in")
        if marker is not None and not _switched_on(marker.args[0]):
            dropped.append(item)
            _NOT_RUN[marker.args[0]] += 1
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("hardware") is None
        and _strict_skips()
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{reason}\nA test that should run was skipped: only hardware tests may skip here "
            "(GATEWAY_STRICT_SKIPS=1 or CI=true; GATEWAY_STRICT_SKIPS=0 allows skips)."
        )


def pytest_collectreport(report):
    if report.skipped and _strict_skips():  # a whole module skipped at import
        report.outcome = "failed"
        report.longrepr = f"{report.longrepr}\nA module of tests was skipped (strict skips)."


def pytest_terminal_summary(terminalreporter):
    if _NOT_RUN:
        terminalreporter.write_sep("-", "opt-in tests not run (deselected)")
        for variable, count in sorted(_NOT_RUN.items()):
            terminalreporter.write_line(f"{count} test(s): set {variable} to run them")


@pytest.fixture
def broker():
    """A real broker on 127.0.0.1 (ephemeral port), default settings, no $SYS timer."""
    thread = BrokerThread().start()
    yield thread
    thread.stop()


@pytest.fixture
def make_broker():
    """Factory for brokers with specific settings; all are stopped after the test."""
    started: list[BrokerThread] = []

    def _make(settings=None, listeners=None, **kwargs):
        thread = BrokerThread(settings, listeners, **kwargs).start()
        started.append(thread)
        return thread

    yield _make
    for thread in started:
        thread.stop()
