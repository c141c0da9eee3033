"""Who may see and switch what on the web listener.

The rules, in one place:
* Reading (the page, /api/*, /metrics, the event stream): a logged-in user, or anyone connecting from
  a loopback address (the machine itself: the same trust as an anonymous MQTT client on a loopback
  listener).
* Switching a relay: a logged-in user whose ACL lets them publish to the relay's `set` topic; an
  anonymous loopback visitor only when no password file is configured (then every loopback MQTT
  client may publish there too, so the page adds no new power) and the ACL lets anonymous clients
  publish there.
* Logging in: a user of the broker's password file. The PBKDF2 check runs in a worker thread (one
  check costs ~0.1 s of CPU on a Pi; on the loop it would stall every client). The answer to the
  n-th failed login in a row from one address waits `backoff(n)` (1 s, doubling to 30 s; the count
  is forgotten after 10 minutes without a failure, or on a success), and one address has one
  attempt at a time: another while one is checked or waiting is refused at once with 429.
* A login is a random session id in a cookie (HttpOnly, SameSite=Strict, Secure over TLS), kept in
  RAM only (a restart logs everyone out); sessions are bounded (MAX_SESSIONS, oldest dropped).
* Every state-changing request (POST) carries the session's CSRF token in `X-CSRF-Token` (or a
  `csrf` form field); anonymous loopback pages get a per-process token. A cross-site page can make
  the browser send a cookie or reach 127.0.0.1, but it cannot read the token nor set the header.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.broker.auth import GatewayAuth
    from gateway.web.server import Request

COOKIE = "egw_session"
MAX_SESSIONS = 64  # overflow policy: the oldest session is dropped (that user logs in again)
MAX_TRACKED_ADDRESSES = 256  # failed-login back-off table; overflow: the oldest entry is forgotten
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
FAILURES_FORGOTTEN = 600.0  # seconds without a failure after which an address starts afresh


@dataclass(slots=True)
class WebSession:
    user: str
    csrf: str
    expires: float


def token(size: int = 24) -> str:
    """A random URL-safe token. Not `secrets`: it imports hmac, hence hashlib and OpenSSL's
    libcrypto (about 3 MB of RSS), which the gateway otherwise loads only for password files."""
    return base64.urlsafe_b64encode(os.urandom(size)).rstrip(b"=").decode()


def backoff(failures: int) -> float:
    """Seconds a client waits after its `failures`-th failed login in a row (0 for none)."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(failures - 1, 16))


class Access:
    def __init__(self, auth: GatewayAuth, session_seconds: float, clock=time.monotonic) -> None:  # noqa: ANN001
        self.auth = auth
        self.session_seconds = session_seconds
        self.clock = clock
        self.sessions: OrderedDict[str, WebSession] = OrderedDict()
        self.failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # ip -> (n, last)
        self.anonymous_csrf = token(24)
        self.pending: set[str] = set()  # addresses with a login being checked or answered

    # -- who is asking -------------------------------------------------------------------------

    def session(self, request: Request) -> WebSession | None:
        sid = _cookie(request.headers.get("cookie", ""), COOKIE)
        if not sid:
            return None
        found = self.sessions.get(sid)
        if found is None:
            return None
        if found.expires < self.clock():
            del self.sessions[sid]
            return None
        return found

    def user(self, request: Request) -> str | None:
        found = self.session(request)
        return None if found is None else found.user

    def can_read(self, request: Request) -> bool:
        return request.loopback or self.session(request) is not None

    def csrf_token(self, request: Request) -> str | None:
        found = self.session(request)
        if found is not None:
            return found.csrf
        return self.anonymous_csrf if request.loopback else None

    def csrf_ok(self, request: Request, form: dict[str, str] | None = None) -> bool:
        expected = self.csrf_token(request)
        given = request.headers.get("x-csrf-token") or (form or {}).get("csrf", "")
        if expected is None:
            return False
        import hmac  # here, not at import: see token()

        return hmac.compare_digest(expected.encode(), given.encode())

    def can_write(self, request: Request, topic: str) -> bool:
        found = self.session(request)
        if found is not None:
            return self.auth.can_publish(found.user, f"web:{found.user}", topic)
        if request.loopback and self.auth.passwords is None:
            return self.auth.can_publish(None, "web", topic)
        return False

    @property
    def logins_possible(self) -> bool:
        return self.auth.passwords is not None

    # -- logging in and out --------------------------------------------------------------------

    def busy(self, address: str) -> bool:
        """One login attempt at a time per address: while one is checked or waits out its
        back-off, others from the same address are refused (429) without a password check."""
        return address in self.pending

    async def login(self, address: str, user: str, password: str) -> str | None:
        """A new session id, or None (after the address's back-off delay) when refused."""
        self.pending.add(address)
        try:
            return await self._login(address, user, password)
        finally:
            self.pending.discard(address)

    async def _login(self, address: str, user: str, password: str) -> str | None:
        passwords = self.auth.passwords
        ok = False
        if passwords is not None and user:
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(None, passwords.verify, user, password.encode())
        if ok:
            self.failures.pop(address, None)
            sid = token(32)
            self.sessions[sid] = WebSession(user, token(24), self.clock() + self.session_seconds)
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
            return sid
        count, last = self.failures.pop(address, (0, 0.0))
        if self.clock() - last > FAILURES_FORGOTTEN:
            count = 0
        count += 1
        self.failures[address] = (count, self.clock())
        while len(self.failures) > MAX_TRACKED_ADDRESSES:
            self.failures.popitem(last=False)
        await asyncio.sleep(backoff(count))
        return None

    def logout(self, request: Request) -> None:
        sid = _cookie(request.headers.get("cookie", ""), COOKIE)
        if sid:
            self.sessions.pop(sid, None)

    def cookie(self, sid: str, secure: bool) -> str:
        flags = "; Secure" if secure else ""
        return (
            f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={int(self.session_seconds)}{flags}"
        )

    @staticmethod
    def expired_cookie() -> str:
        return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
