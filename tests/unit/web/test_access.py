"""Who may read and switch on the web listener (gateway.web.access), with requests made up here:
the integration tests can only come from loopback."""

import asyncio

from gateway.broker.auth.acl import AclFile
from gateway.broker.auth.passwords import PasswordFile
from gateway.web.access import COOKIE, Access, backoff
from gateway.web.server import Request


class Auth:
    def __init__(self, passwords, acl_text="user alice\ntopic readwrite edge/#\n"):
        self.passwords = passwords
        self.acl = AclFile.parse(acl_text)

    def can_publish(self, username, client_id, topic):
        return self.acl.can_publish(username, client_id, topic)


def req(loopback: bool, cookie: str = "", csrf: str = "") -> Request:
    headers = {"cookie": cookie} if cookie else {}
    if csrf:
        headers["x-csrf-token"] = csrf
    return Request(
        "POST",
        "/api/relays/lamp",
        "",
        headers,
        b"ON",
        "10.0.0.9:5000",
        loopback,
        False,
        None,  # type: ignore[arg-type]  # no connection: the access rules never reach for it
    )


def test_a_remote_visitor_needs_a_login_and_the_acl():
    passwords = PasswordFile()
    passwords.set("alice", "pw", iterations=1000)
    passwords.set("bob", "pw", iterations=1000)
    access = Access(Auth(passwords), 3600)
    remote = req(False)
    assert not access.can_read(remote) and access.csrf_token(remote) is None
    assert not access.csrf_ok(req(False, csrf="anything"))
    assert not access.can_write(remote, "edge/relay/lamp/set")
    sid = asyncio.run(access.login("10.0.0.9", "alice", "pw"))
    assert sid is not None
    alice = req(False, f"{COOKIE}={sid}")
    assert access.can_read(alice) and access.can_write(alice, "edge/relay/lamp/set")
    token = access.csrf_token(alice)
    assert access.csrf_ok(req(False, f"{COOKIE}={sid}", token))
    assert not access.csrf_ok(req(False, f"{COOKIE}={sid}", access.anonymous_csrf))
    bob = req(False, f"{COOKIE}={asyncio.run(access.login('10.0.0.9', 'bob', 'pw'))}")
    assert access.can_read(bob) and not access.can_write(bob, "edge/relay/lamp/set")
    # loopback: read-only while a password file exists
    assert access.can_read(req(True)) and not access.can_write(req(True), "edge/relay/lamp/set")


def test_without_a_password_file_loopback_may_switch_and_remote_may_not():
    access = Access(Auth(None, "topic readwrite edge/#\n"), 3600)
    assert access.can_write(req(True), "edge/relay/lamp/set")
    assert not access.can_write(req(False), "edge/relay/lamp/set")
    assert not access.logins_possible


def test_sessions_expire_and_the_table_is_bounded():
    now = [0.0]
    passwords = PasswordFile()
    passwords.set("alice", "pw", iterations=1000)
    access = Access(Auth(passwords), 60, clock=lambda: now[0])
    sid = asyncio.run(access.login("a", "alice", "pw"))
    now[0] = 61
    assert access.session(req(False, f"{COOKIE}={sid}")) is None
    for _ in range(70):
        asyncio.run(access.login("a", "alice", "pw"))
    assert len(access.sessions) == 64


def test_backoff_doubles_to_30_seconds():
    assert [backoff(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]
