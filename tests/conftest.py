from __future__ import annotations

import pytest

from tests.support.broker_thread import BrokerThread


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
