"""The connection limits every listener kind asks before it spends anything on a socket."""

from __future__ import annotations

from gateway.broker.admission import Admission, Slot
from gateway.broker.stats import BrokerStats


def admission(total: int = 0, per_address: int = 0, **listeners: int) -> Admission:
    adm = Admission(BrokerStats(), total, per_address)
    for name, limit in listeners.items():
        adm.add_listener(name, limit)
    return adm


def test_the_broker_wide_limit_counts_every_listener_together() -> None:
    adm = admission(3, a=0, b=0)
    slots = [adm.admit("a", "10.0.0.1"), adm.admit("b", "10.0.0.2"), adm.admit("a", None)]
    assert all(isinstance(s, Slot) for s in slots)
    assert isinstance(slots[0], Slot)
    assert adm.admit("b", "10.0.0.3") == "max_connections"
    assert adm.stats.limits_hit == {"max_connections": 1}
    adm.release(slots[0])
    assert isinstance(adm.admit("b", "10.0.0.3"), Slot)


def test_a_listener_limit_refuses_only_that_listener() -> None:
    adm = admission(0, a=1, b=0)
    assert isinstance(adm.admit("a", "10.0.0.1"), Slot)
    assert adm.admit("a", "10.0.0.2") == "max_connections_a"
    assert isinstance(adm.admit("b", "10.0.0.2"), Slot)
    assert adm.stats.limits_hit == {"max_connections_a": 1}


def test_the_per_address_limit_refuses_one_host_and_not_the_next() -> None:
    adm = admission(0, 2, a=0)
    first = adm.admit("a", "192.168.1.9")
    assert isinstance(first, Slot) and isinstance(adm.admit("a", "192.168.1.9"), Slot)
    assert adm.admit("a", "192.168.1.9") == "max_connections_per_address"
    assert isinstance(adm.admit("a", "192.168.1.10"), Slot)
    assert isinstance(adm.admit("a", None), Slot)  # a Unix socket has no address to limit
    adm.release(first)
    assert isinstance(adm.admit("a", "192.168.1.9"), Slot)


def test_release_is_counted_once_and_the_address_table_holds_only_connected_hosts() -> None:
    adm = admission(0, 5, a=0)
    slots = [adm.admit("a", f"10.0.0.{i}") for i in range(50)]
    for slot in slots:
        assert isinstance(slot, Slot)
        adm.release(slot)
        adm.release(slot)  # connection_lost after an abort: a second release does nothing
    assert adm.total == 0 and adm.by_listener == {"a": 0} and adm.by_address == {}


def test_no_limit_when_zero() -> None:
    adm = admission(0, 0, a=0)
    assert all(isinstance(adm.admit("a", "10.0.0.1"), Slot) for _ in range(5000))
    assert adm.stats.limits_hit == {}
