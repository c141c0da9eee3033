"""DeviceWatch: when each expander is checked and, once lost, tried again (`now` passed in)."""

from __future__ import annotations

import pytest

from gateway.relays.watch import DeviceWatch

T0 = 100.0


def test_checks_come_every_interval_and_at_once_when_suspect() -> None:
    w: DeviceWatch[str] = DeviceWatch(5, 60)
    w.track("a", 2.0, T0)
    w.track("quiet", None, T0)  # check_interval = 0: only on suspicion
    assert w.next_deadline() == T0 + 2 and w.due(T0 + 1.9) == ([], [])
    assert w.due(T0 + 2) == (["a"], [])
    w.checked("a", T0 + 2)
    w.suspect("quiet", T0 + 3)
    assert w.due(T0 + 3) == (["quiet"], []) and w.next_deadline() == T0 + 3
    w.checked("quiet", T0 + 3)
    assert w.next_deadline() == T0 + 4
    w.track("a", 99.0, T0 + 3)  # tracking again changes nothing
    assert w.next_deadline() == T0 + 4


def test_a_lost_chip_is_tried_with_doubling_backoff_and_not_checked() -> None:
    w: DeviceWatch[str] = DeviceWatch(5, 60)
    w.track("a", 2.0, T0)
    w.lose("a", T0)
    assert w.is_lost("a") and w.lost_since("a") == T0
    w.suspect("a", T0)  # an I/O error while lost: no check, the retry schedule stands
    tries, now = [], T0
    for _ in range(7):
        now = w.next_deadline()  # type: ignore[assignment]
        assert w.due(now) == ([], ["a"])
        tries.append(now - T0)
        w.still_lost("a", now)
    assert tries == [5, 15, 35, 75, 135, 195, 255]
    w.answered("a", now)
    assert not w.is_lost("a") and w.next_deadline() == now + 2


def test_retry_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        DeviceWatch(0, 60)
    with pytest.raises(ValueError):
        DeviceWatch(10, 5)
