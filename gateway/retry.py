"""The capped doubling wait that every retry loop of the gateway uses (pure).

`doubling_delay(first, n, cap)` is the wait after the n-th failed retry: `first`, then 2×, 4× ...,
never more than `cap`. Sensors back off their reads with it, relays their absent or lost devices.
(The bridge's reconnects add full jitter on top: gateway.bridge.backoff.)
"""

from __future__ import annotations


def doubling_delay(first: float, retries: int, cap: float) -> float:
    """`first * 2**retries`, at most `cap` (the exponent is clamped so it never overflows)."""
    return min(cap, first * 2 ** min(max(retries, 0), 40))
