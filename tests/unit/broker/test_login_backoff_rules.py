"""Password guessing on the in-memory broker with a fake clock (tests/support/broker_pair.py):
per-address back-off makes the guesses per second fall, the journal gets one line per cause
instead of one per guess, and a window ends when its time is over. That another source address
is not affected is also shown over real sockets in tests/integration/test_login_backoff.py."""

from __future__ import annotations

import logging

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.passwords import PasswordFile
from gateway.mqtt.enums import ReasonCode
from tests.fakes.fake_clock import FakeClock
from tests.support.broker_pair import T0, BrokerPair

R = ReasonCode
ATTACKER = "192.0.2.7"


@pytest.fixture
def pair(tmp_path):
    passwords = PasswordFile()
    passwords.set("alice", "right")
    passwords.save(tmp_path / "passwd")
    clock = FakeClock(T0)
    auth = GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=False)},
        password_file=tmp_path / "passwd",
        clock=clock.monotonic,
    )
    return BrokerPair(authenticator=auth, authorizer=auth, clock=clock)


def login(pair: BrokerPair, password: bytes, *, version: int = 5, address: str = ATTACKER) -> R:
    client = pair.open(version, peer=f"{address}:{50000 + len(pair.clients)}")
    connack = client.connect("guesser", expect=None, username="alice", password=password)
    client.lose()
    return connack.reason_code


def test_password_guesses_per_second_fall(pair, caplog):
    checked = [0, 0, 0, 0]  # guesses whose password was looked at, per second of the attack
    refused = 0
    with caplog.at_level(logging.INFO):
        for step in range(350):  # 3.5 s of an attacker trying every 10 ms
            code = login(pair, b"guess")
            if code == R.BAD_USER_NAME_OR_PASSWORD:
                checked[step // 100] += 1
            else:
                assert code == R.CONNECTION_RATE_EXCEEDED  # shut out, not looked at
                refused += 1
            pair.advance(0.01)
    # 3 free failures and one more, then windows of 1 s, 2 s (4 s, ...): [4, 1, 0, 1]
    assert checked == [4, 1, 0, 1], checked
    assert refused == 350 - 6
    lines = [r.getMessage() for r in caplog.records]
    assert sum("bad username or password" in line for line in lines) == 1, lines[:5]
    assert sum("of back-off after failed logins" in line for line in lines) == 1
    assert pair.core.stats.limits_hit["login_backoff"] == refused


def test_back_off_refuses_even_the_right_password_until_its_window_ends(pair):
    for _ in range(4):  # 3 free failures, then a 1 s window
        assert login(pair, b"guess") == R.BAD_USER_NAME_OR_PASSWORD
    assert login(pair, b"right") == R.CONNECTION_RATE_EXCEEDED  # not looked at
    assert login(pair, b"right", version=4) == R.SERVER_UNAVAILABLE  # 3.1.1 code 3
    assert login(pair, b"right", address="192.0.2.8") == R.SUCCESS  # another address
    pair.advance(0.99)
    assert login(pair, b"right") == R.CONNECTION_RATE_EXCEEDED
    pair.advance(0.02)  # the first window (1 s) is over
    assert login(pair, b"right") == R.SUCCESS
