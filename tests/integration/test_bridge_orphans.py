"""The session of a bridge that is no longer configured (gateway.bridge.orphans): after a restart
without the bridge it queues nothing new, keeps what it held for `[store] removed_bridge_expiry`,
sends it when the bridge is added back, and is deleted with its store rows once that time is
over; a reload removal gives its kept queue the same lifetime. The whole gateway runs in this
process (GatewayThread) with its durable store, LAN clients are paho over loopback and the cloud
is a real Mosquitto behind a proxy the test cuts."""

from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path

import pytest

from gateway.bridge.reload import reload_bridges
from gateway.bridge.service import BridgeService
from gateway.broker.settings import NEVER_EXPIRES
from gateway.diagnostics import collect
from gateway.reload import Outcome
from tests.support.bridge import cloud_behind_proxy
from tests.support.clients import TestClient
from tests.support.gateway_process import free_port
from tests.support.gateway_thread import GatewayThread, load_toml
from tests.support.mosquitto import Mosquitto, mosquitto_available

SESSION = "$bridge/cloud"
COUNT = 6

HEAD = """
[gateway]
id = "gw1"
base_topic = "edge"
state_dir = "{state}"

[[broker.listeners]]
host = "127.0.0.1"
port = {port}

[homeassistant]
discovery = false

[store]
memory_window = 4  # past 4 messages the queue is on disk only: those must be kept too
removed_bridge_expiry = {expiry}
"""

CLOUD = """
[[bridges]]
name = "cloud"
host = "127.0.0.1"
port = {port}
keepalive = 5
connect_timeout = 3
backoff_initial = 0.05
backoff_max = 0.5
metrics_interval = 1
tls = {{ {tls} }}
topics = [{{ pattern = "data/#", direction = "out", local_prefix = "edge/", remote_prefix = "gw1/" }}]
"""


def cloud(port: int, mosq: Mosquitto | None = None) -> str:
    """The bridge "cloud": with `mosq`, mTLS to it; without, plain TCP to `port` (nothing there)."""
    if mosq is None:
        return CLOUD.format(port=port, tls="enabled = false")
    tls = (
        f'ca_file = "{mosq.ca_file}", cert_file = "{mosq.client_cert}", '
        f'key_file = "{mosq.client_key}", server_name = "localhost"'
    )
    return CLOUD.format(port=port, tls=tls)


def held(gateway: GatewayThread) -> tuple[int, tuple[str, ...], int] | None:
    """(messages held, subscriptions, expiry interval) of the bridge's session; None: no session."""
    assert gateway.gateway is not None
    core = gateway.gateway.broker.core

    def read() -> tuple[int, tuple[str, ...], int] | None:
        s = core.sessions.get(SESSION)
        if s is None:
            return None
        return s.queued_count + len(s.inflight), tuple(s.subscriptions), s.expiry_interval

    return gateway.run(read)


def rows(gateway: GatewayThread) -> dict[str, int]:
    """The bridge session's rows in the store, read through the store's own connection."""
    assert gateway.gateway is not None and gateway.gateway.store is not None
    store = gateway.gateway.store
    out = {}
    for table in ("sessions", "subscriptions", "queue"):
        sql = f"SELECT count(*) FROM {table} WHERE client_id = ?"
        out[table] = gateway.call(store.query(sql, SESSION))[0][0]
    out["messages"] = gateway.call(store.query("SELECT count(*) FROM messages"))[0][0]
    return out


def wait_gone(gateway: GatewayThread, timeout: float = 20) -> None:
    """Bounded wait for the broker's session expiry to end the session (its deadline is a timer
    of the core, so the gateway wakes for it)."""
    deadline = time.monotonic() + timeout
    while held(gateway) is not None:
        assert time.monotonic() < deadline, "the removed bridge's session never expired"
        time.sleep(0.05)


def queue_while_down(tmp_path: Path, port: int, bridges: str, expiry: int = 3600) -> None:
    """A gateway with the bridge, its cloud unreachable: COUNT messages queue (the positive
    control for "queues nothing" later), then it stops."""
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=expiry)
    gateway = GatewayThread(load_toml(tmp_path, head + bridges, "with.toml")).start()
    try:
        lan = TestClient(port, "lan")
        for n in range(COUNT):
            lan.publish("edge/data/seq", f"queued {n}", qos=1)  # PUBACK: queued and stored
        queued, subs, expiry_interval = held(gateway) or (0, (), 0)
        assert (queued, subs, expiry_interval) == (COUNT, ("edge/data/#",), NEVER_EXPIRES)
        lan.disconnect()
    finally:
        gateway.stop()


@pytest.mark.skipif(not mosquitto_available(), reason="mosquitto not installed")
def test_removed_across_a_restart_it_stops_queueing_and_its_return_sends_the_queue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=3600)
    with cloud_behind_proxy(tmp_path, "orphan-observer", cut=True) as (mosq, proxy, observer):
        queue_while_down(tmp_path, port, cloud(proxy.port, mosq))

        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gateway"):
            without = GatewayThread(load_toml(tmp_path, head, "without.toml")).start()
        try:
            said = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
            assert len(said) == 1 and said[0].startswith(
                f"bridge session $bridge/cloud has {COUNT} queued message(s) and is not "
                "configured: kept until "
            )
            assert said[0].endswith(
                " UTC, then deleted; re-add the bridge named cloud to send them"
            )
            until = said[0].split("kept until ")[1].split(" UTC")[0]
            parsed = datetime.datetime.strptime(until, "%Y-%m-%d %H:%M:%S")
            at = parsed.replace(tzinfo=datetime.UTC).timestamp()
            assert abs(at - (time.time() + 3600)) < 30  # the removal time + the lifetime
            assert held(without) == (COUNT, (), 3600)  # kept, unsubscribed, expiring
            lan = TestClient(port, "lan")
            lan.publish("edge/data/seq", b"while removed", qos=1)  # routed before the PUBACK
            lan.disconnect()
            assert held(without) == (COUNT, (), 3600)  # not queued
            stored = rows(without)
            assert stored["sessions"] == 1 and stored["subscriptions"] == 0
            assert stored["queue"] == COUNT  # the ones on disk only too
            diagnostics = without.run(lambda: collect(without.gateway, thermal=None))
            assert diagnostics.removed_bridges == {"cloud": COUNT}
            assert b'"removed_bridges":{"cloud":6}' in diagnostics.payload()
        finally:
            without.stop()

        back = load_toml(tmp_path, head + cloud(mosq.mtls_port, mosq), "back.toml")
        gateway = GatewayThread(back).start()
        try:
            got = [m.payload for m in observer.expect(COUNT, timeout=30)]
            assert got == [f"queued {n}".encode() for n in range(COUNT)]  # all, in order
            observer.sync()
            observer.expect_none()  # not the one published while it was removed
            assert held(gateway) == (0, ("edge/data/#",), NEVER_EXPIRES)  # its own again
            diagnostics = gateway.run(lambda: collect(gateway.gateway, thermal=None))
            assert diagnostics.removed_bridges == {} and b"removed" not in diagnostics.payload()
        finally:
            gateway.stop()


def test_past_its_lifetime_the_session_and_its_rows_are_deleted(tmp_path: Path):
    port = free_port()
    queue_while_down(tmp_path, port, cloud(free_port()))
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=2)
    gateway = GatewayThread(load_toml(tmp_path, head, "short.toml")).start()
    try:
        assert held(gateway) == (COUNT, (), 2)
        assert rows(gateway)["queue"] == COUNT  # positive control: there until it expires
        wait_gone(gateway)
        gw = gateway.gateway
        assert gw is not None and gw.store is not None
        gateway.call(gw.store.wait_committed())
        assert rows(gateway) == {"sessions": 0, "subscriptions": 0, "queue": 0, "messages": 0}
    finally:
        gateway.stop()


def test_a_lifetime_of_0_deletes_it_at_the_start(tmp_path: Path):
    port = free_port()
    queue_while_down(tmp_path, port, cloud(free_port()))
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=0)
    gateway = GatewayThread(load_toml(tmp_path, head, "zero.toml")).start()
    try:
        assert held(gateway) is None  # gone before the listeners opened
        gw = gateway.gateway
        assert gw is not None and gw.store is not None
        gateway.call(gw.store.wait_committed())
        assert rows(gateway) == {"sessions": 0, "subscriptions": 0, "queue": 0, "messages": 0}
        stats = gateway.run(lambda: gw.broker.core.stats)
        assert (stats.clients_expired, stats.clients_disconnected) == (1, 0)
    finally:
        gateway.stop()


def test_a_restart_does_not_start_its_lifetime_again(tmp_path: Path):
    port = free_port()
    queue_while_down(tmp_path, port, cloud(free_port()))
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=3600)
    config = load_toml(tmp_path, head, "without.toml")
    removed_at, started_at = [], []
    for n in range(2):
        if n:  # a second start clearly later than the first one's removal time
            time.sleep(1)
        started_at.append(time.time())
        gateway = GatewayThread(config).start()
        try:
            assert gateway.gateway is not None and gateway.gateway.store is not None
            gateway.call(gateway.gateway.store.wait_committed())
            sql = "SELECT expiry, disconnected_at FROM sessions WHERE client_id = ?"
            [(expiry, at)] = gateway.call(gateway.gateway.store.query(sql, SESSION))
            assert expiry == 3600
            removed_at.append(at)
        finally:
            gateway.stop()
    assert started_at[0] <= removed_at[0] < started_at[1] - 0.9  # removed at the first start
    # the second start kept that time (to within the wall/monotonic clock conversion)
    assert removed_at[1] == pytest.approx(removed_at[0], abs=0.05)


def test_a_reload_removal_gives_the_kept_queue_the_same_lifetime(tmp_path: Path):
    port = free_port()
    head = HEAD.format(state=tmp_path / "state", port=port, expiry=2)
    old = load_toml(tmp_path, head + cloud(free_port()), "old.toml")
    new = load_toml(tmp_path, head, "new.toml")
    gateway = GatewayThread(old).start()
    try:
        lan = TestClient(port, "lan")
        for n in range(COUNT):
            lan.publish("edge/data/seq", f"queued {n}", qos=1)
        assert len(gateway.services(BridgeService)) == 1
        results = gateway.call(reload_bridges(gateway.gateway, old, new))
        assert [(r.name, r.outcome) for r in results] == [("cloud", Outcome.REMOVED)]
        assert held(gateway) == (COUNT, (), 2)
        lan.publish("edge/data/seq", b"while removed", qos=1)
        assert held(gateway) == (COUNT, (), 2)  # queues nothing new
        wait_gone(gateway)
        gw = gateway.gateway
        assert gw is not None and gw.store is not None
        gateway.call(gw.store.wait_committed())
        assert rows(gateway) == {"sessions": 0, "subscriptions": 0, "queue": 0, "messages": 0}
        assert gateway.run(lambda: gw.broker.core.stats.clients_disconnected) == 0
        lan.disconnect()
    finally:
        gateway.stop()
