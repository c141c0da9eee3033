"""Broker log lines carry journal fields (CLIENT_ID, PEER, LISTENER, USERNAME), so that
`journalctl -u edge-gateway CLIENT_ID=...` finds one client's story. Real broker, real paho clients;
records are caught by a handler on the broker's logger (the journal handler sends every upper-case
attribute of a record as a field: tests/unit/test_systemd_notify.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from gateway.broker.auth import GatewayAuth, ListenerPolicy
from gateway.broker.auth.passwords import PasswordFile
from tests.support.clients import V5, TestClient


class Catcher(logging.Handler):
    """Keeps records; `wait_for` blocks until one matches (bounded)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def wait_for(
        self,
        match: Callable[[logging.LogRecord], bool],
        timeout: float = 5.0,
    ) -> logging.LogRecord:
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((r for r in self.records if match(r)), None), timeout
            )
        assert found, "no such log record; saw: " + "; ".join(r.getMessage() for r in self.records)
        return found


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    handler = Catcher()
    logger = logging.getLogger("gateway.broker")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_connect_and_disconnect_lines_name_the_client(broker, catcher: Catcher) -> None:
    client = TestClient(broker.port, "fields-1", version=V5)
    connected = catcher.wait_for(lambda r: "connected from" in r.getMessage())
    assert vars(connected)["CLIENT_ID"] == "fields-1"
    assert (
        vars(connected)["PEER"].startswith("127.0.0.1:")
        and vars(connected)["LISTENER"] == "default"
    )
    client.disconnect()
    gone = catcher.wait_for(lambda r: r.getMessage() == "client fields-1 disconnected")
    assert vars(gone)["CLIENT_ID"] == "fields-1" and vars(gone)["PEER"] == vars(connected)["PEER"]


def make_auth(tmp_path, acl: str | None = None) -> GatewayAuth:
    passwd = PasswordFile()
    passwd.set("alice", "right")
    (tmp_path / "passwd").write_text(passwd.dumps())
    if acl is not None:
        (tmp_path / "acl").write_text(acl)
    return GatewayAuth(
        {"default": ListenerPolicy(allow_anonymous=True)},
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl" if acl is not None else None,
    )


def test_refused_login_names_client_and_username(make_broker, catcher: Catcher, tmp_path) -> None:
    auth = make_auth(tmp_path)
    broker = make_broker(authenticator=auth, authorizer=auth)
    TestClient(
        broker.port, "fields-2", version=V5, username="alice", password="wrong", connect=False
    ).connect(expect_rc=134)
    refused = catcher.wait_for(lambda r: "bad username or password" in r.getMessage())
    assert vars(refused)["CLIENT_ID"] == "fields-2" and vars(refused)["USERNAME"] == "alice"
    assert not hasattr(refused, "TOPIC")  # no empty fields


def test_denied_subscribe_names_client_and_topic(make_broker, catcher: Catcher, tmp_path) -> None:
    auth = make_auth(tmp_path, acl="topic read allowed/#\n")
    broker = make_broker(authenticator=auth, authorizer=auth)
    client = TestClient(broker.port, "fields-3", version=V5)
    assert client.subscribe("secret/#", qos=1) == [0x87]
    denied = catcher.wait_for(lambda r: r.getMessage().startswith("subscribe by"))
    assert vars(denied)["CLIENT_ID"] == "fields-3" and vars(denied)["TOPIC"] == "secret/#"
    client.disconnect()
