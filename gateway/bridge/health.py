"""Is the cloud link alive? A link is "stuck" when an acknowledgement is overdue (pure, `now` in).

How this works: every QoS 1/2 PUBLISH sent records its send time by message id; an acknowledgement
removes it. The link is stuck when the oldest unacknowledged PUBLISH has waited longer than
`ack_timeout` *and* nothing at all was acknowledged in that time (a slow cloud that still acks is
not stuck). Keepalive (no PINGRESP within the keepalive) is checked by the MQTT client; together
they mean a black-holed link is torn down and never reported as connected.
"""

from __future__ import annotations


class LinkHealth:
    def __init__(self, ack_timeout: float) -> None:
        self.ack_timeout = ack_timeout
        self._sent: dict[int, float] = {}  # mid -> send time, in send order
        self._last_ack: float | None = None

    def reset(self, now: float) -> None:
        """A new connection: earlier sends are resent and timed from now."""
        self._sent = dict.fromkeys(self._sent, now)
        self._last_ack = now

    def sent(self, mid: int, now: float) -> None:
        self._sent.setdefault(mid, now)

    def acked(self, mid: int, now: float) -> None:
        self._sent.pop(mid, None)
        self._last_ack = now

    def forget(self, mid: int) -> None:
        self._sent.pop(mid, None)

    def forget_all(self) -> None:
        """The ids are void (the cloud lost our session): nothing is awaited under them."""
        self._sent.clear()

    @property
    def outstanding(self) -> int:
        return len(self._sent)

    def oldest(self) -> float | None:
        return next(iter(self._sent.values()), None)

    def stuck(self, now: float) -> bool:
        oldest = self.oldest()
        if oldest is None:
            return False
        last_progress = max(oldest, self._last_ack or oldest)
        return now - last_progress > self.ack_timeout

    def deadline(self) -> float | None:
        """When `stuck()` can next become true (for the glue's timer)."""
        oldest = self.oldest()
        if oldest is None:
            return None
        return max(oldest, self._last_ack or oldest) + self.ack_timeout
