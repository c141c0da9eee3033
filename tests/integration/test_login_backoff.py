"""Password guessing over sockets: the back-off is per source address as the listener sees it, so
a second loopback address (127.0.0.2) is not affected. The back-off itself (guesses per second
falling, one log line per cause, windows ending with time) is tested on a fake clock without
sockets in tests/unit/broker/test_login_backoff_rules.py."""

from __future__ import annotations

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.passwords import PasswordFile
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.packets import Connack
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
        connack = raw.connect("guesser", username="alice", password=password)
        assert isinstance(connack, Connack)
        return connack.reason_code
    finally:
        raw.close()


def test_back_off_refuses_even_the_right_password_but_not_other_addresses(broker):
    for _ in range(4):  # 3 free failures, then a 1 s window
        assert login(broker.port, b"guess") == R.BAD_USER_NAME_OR_PASSWORD
    assert login(broker.port, b"right") == R.CONNECTION_RATE_EXCEEDED  # not looked at
    assert login(broker.port, b"right", version=4) == R.SERVER_UNAVAILABLE  # 3.1.1 code 3
    assert login(broker.port, b"right", source="127.0.0.2") == R.SUCCESS  # another address
