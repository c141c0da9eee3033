"""Per-address back-off after failed logins: password guessing gets slower with every miss.

How this works: each source address has a count of failed logins. The first `free_failures` cost
nothing (a user mistyping); after that each failure shuts the address out for a window that
doubles, 1 s, 2 s, 4 s ... up to `max_window` s. A login from a shut-out address is refused at once
without looking at the password (CONNACK 0x9F Connection rate exceeded; 3.1.1 return code 3, Server
unavailable), so neither parallel connections nor a correct guess get through the window. A success
does not reset the count (an attacker with one account of their own could otherwise reset it
between guesses); an address is forgotten `forget_after` s after its last failure. The table is
bounded: past `max_addresses` the address whose last failure is oldest is forgotten (`evicted`
counts them), so a flood from many addresses costs a fixed amount of memory.

Pure: every call takes `now`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gateway.retry import doubling_delay


@dataclass(slots=True)
class _Entry:
    failures: int
    last_failure: float
    blocked_until: float


class LoginBackoff:
    def __init__(
        self,
        *,
        free_failures: int = 3,
        max_window: float = 60.0,
        forget_after: float = 600.0,
        max_addresses: int = 4096,
    ) -> None:
        self.free_failures = free_failures
        self.max_window = max_window
        self.forget_after = forget_after
        self.max_addresses = max_addresses
        self.evicted = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest last failure first

    def __len__(self) -> int:
        return len(self._entries)

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds this address must still wait before a login is looked at (0: go ahead)."""
        entry = self._entry(address, now)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - now)

    def failed(self, address: str, now: float) -> float:
        """Count a failed login; returns the window the address is now shut out for."""
        entry = self._entry(address, now)
        if entry is None:
            entry = self._entries[address] = _Entry(0, now, now)
            while len(self._entries) > self.max_addresses:
                self._entries.popitem(last=False)
                self.evicted += 1
        entry.failures += 1
        entry.last_failure = now
        self._entries.move_to_end(address)
        window = self.window(entry.failures)
        entry.blocked_until = now + window
        return window

    def window(self, failures: int) -> float:
        extra = failures - self.free_failures
        if extra <= 0:
            return 0.0
        return doubling_delay(1.0, extra - 1, self.max_window)

    def _entry(self, address: str, now: float) -> _Entry | None:
        entry = self._entries.get(address)
        if entry is not None and now - entry.last_failure > self.forget_after:
            del self._entries[address]
            return None
        return entry


def peer_address(peer: str) -> str:
    """The address part of a connection's peer text ("192.0.2.7:51515", "::1:4000", "unix")."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer
