"""Password guessing over sockets: per-address back-off makes the guesses per second fall, the
journal gets one line per cause instead of one per guess, and other addresses are not affected."""

from __future__ import annotations

import logging
import time

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.passwords import PasswordFile
from gateway.mqtt.enums import ReasonCode
from tests.support.broker_thread import BrokerThread
from tests.support.raw import RawClient

R = ReasonCode


@pytest.fixture
def broker(tmp_path):
    passwords = PasswordFile()
    passwords.set("alice", "right")
    passwords.save(tmp_path / "passwd")
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=False)}, password_file=tmp_path / "passwd"
    )
    thread = BrokerThread(authenticator=auth, authorizer=auth).start()
    yield thread
    thread.stop()


def login(port: int, password: bytes, *, version: int = 5, source: str | None = None) -> R:
    raw = RawClient(port, version=version, source=source)
    try:
        return raw.connect("guesser", username="alice", password=password).reason_code
    finally:
        raw.close()


def test_password_guesses_per_second_fall(broker, caplog):
    checked = [0, 0, 0, 0]  # guesses whose password was looked at, per second of the attack
    refused = 0
    start = time.monotonic()
    with caplog.at_level(logging.INFO):
        while (elapsed := time.monotonic() - start) < 3.5:
            code = login(broker.port, b"guess")
            if code == R.BAD_USER_NAME_OR_PASSWORD:
                checked[int(elapsed)] += 1
            else:
                assert code == R.CONNECTION_RATE_EXCEEDED  # shut out, not looked at
                refused += 1
    # 3 free failures and one more, then windows of 1 s, 2 s (4 s, ...): about [4, 1, 0, 1]
    assert checked[0] >= 4 and max(checked[1:]) <= 1 and sum(checked) <= 7, checked
    assert refused >= 50, refused  # the attacker kept trying as fast as it could
    lines = [r.getMessage() for r in caplog.records]
    assert sum("bad username or password" in line for line in lines) == 1, lines[:5]
    assert sum("of back-off after failed logins" in line for line in lines) == 1
    assert broker.run(lambda: broker.broker.core.stats.limits_hit["login_backoff"]) == refused


def test_back_off_refuses_even_the_right_password_but_not_other_addresses(broker):
    for _ in range(4):  # 3 free failures, then a 1 s window
        assert login(broker.port, b"guess") == R.BAD_USER_NAME_OR_PASSWORD
    assert login(broker.port, b"right") == R.CONNECTION_RATE_EXCEEDED  # not looked at
    assert login(broker.port, b"right", version=4) == R.SERVER_UNAVAILABLE  # 3.1.1 code 3
    assert login(broker.port, b"right", source="127.0.0.2") == R.SUCCESS  # another address
    time.sleep(1.05)  # the first window (1 s) is over: a wall-clock wait is what is tested
    assert login(broker.port, b"right") == R.SUCCESS
