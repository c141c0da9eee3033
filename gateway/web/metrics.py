"""/metrics: the Prometheus text exposition of the same state the page and `$SYS` show.

prometheus-client's metric families are built at scrape time from the live objects (a custom
collector, nothing kept between scrapes, nothing written anywhere); every family has HELP and TYPE.
Names follow Prometheus conventions: `_total` counters, base units (seconds, bytes).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any
from typing import Any as _Any


def _import_without_ssl() -> None:
    """prometheus-client imports ssl at load (for its own HTTPS server and push client, which we
    never use), and ssl is OpenSSL: about 4.5 MB of RSS. When `edge-gateway run` keeps ssl out (no
    TLS anywhere, gateway.cli), it is imported here against a stand-in whose every attribute is an
    inert class, so the exposition functions we call load without it."""
    if (
        "ssl" not in sys.modules
        or sys.modules["ssl"] is not None
        or "prometheus_client" in sys.modules
    ):
        return

    class _NoSsl(types.ModuleType):
        def __getattr__(self, name: str) -> _Any:
            value = type(name, (), {})
            setattr(self, name, value)
            return value

    sys.modules["ssl"] = _NoSsl("ssl")
    try:
        import prometheus_client  # noqa: F401
    finally:
        sys.modules["ssl"] = None


_import_without_ssl()

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client import exposition as _exposition  # noqa: E402
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from gateway.web.server import WebServer
    from gateway.web.state import GatewayState

# The 0.0.4 text format, which every Prometheus parses (Debian 12 ships 2.42); our names are plain
# ASCII, so its body is the same as the newer 1.0.0's. Older clients only have CONTENT_TYPE_LATEST.
CONTENT_TYPE = getattr(_exposition, "CONTENT_TYPE_PLAIN_0_0_4", _exposition.CONTENT_TYPE_LATEST)

# $SYS name -> (metric name, help, counter?)
BROKER = {
    "clients/connected": ("edge_broker_clients_connected", "MQTT clients connected now", False),
    "clients/disconnected": (
        "edge_broker_sessions_offline",
        "persistent sessions without a connection",
        False,
    ),
    "clients/maximum": ("edge_broker_clients_maximum", "most clients connected at once", False),
    "clients/expired": ("edge_broker_sessions_expired", "sessions expired", True),
    "messages/received": ("edge_broker_packets_received", "MQTT packets received", True),
    "messages/sent": ("edge_broker_packets_sent", "MQTT packets sent", True),
    "publish/messages/received": ("edge_broker_publish_received", "PUBLISH packets received", True),
    "publish/messages/sent": ("edge_broker_publish_sent", "PUBLISH packets sent", True),
    "bytes/received": ("edge_broker_received_bytes", "bytes received from clients", True),
    "bytes/sent": ("edge_broker_sent_bytes", "bytes sent to clients", True),
    "subscriptions/count": ("edge_broker_subscriptions", "subscriptions held", False),
    "retained messages/count": ("edge_broker_retained_messages", "retained messages", False),
    "store/messages/count": ("edge_broker_queued_messages", "messages queued for sessions", False),
    "connections/refused": ("edge_broker_connections_refused", "CONNECTs refused", True),
    "protocol/errors": (
        "edge_broker_protocol_errors",
        "connections closed for a protocol error",
        True,
    ),
    "tls/handshakes/failed": ("edge_broker_tls_handshakes_failed", "failed TLS handshakes", True),
}
STORE = {
    "store/bytes": ("edge_store_used_bytes", "bytes used in the durable store", False),
    "store/file bytes": ("edge_store_file_bytes", "size of the store's files", False),
    "store/disk free bytes": (
        "edge_store_disk_free_bytes",
        "free space on the store's file system",
        False,
    ),
    "store/commits": ("edge_store_commits", "store commits", True),
    "store/errors": ("edge_store_commit_errors", "failed store commits", True),
    "store/pending operations": (
        "edge_store_pending_operations",
        "operations waiting for a commit",
        False,
    ),
    "store/quarantined": (
        "edge_store_quarantined",
        "1 when a corrupt store was set aside at start-up",
        False,
    ),
}
BRIDGE_GAUGES = {
    "connected": ("edge_bridge_connected", "1 while the cloud link is up"),
    "queue/messages": ("edge_bridge_queue_messages", "messages waiting to go upstream"),
    "queue/bytes": ("edge_bridge_queue_bytes", "bytes waiting to go upstream"),
    "queue/oldest_age": (
        "edge_bridge_queue_oldest_age_seconds",
        "age of the oldest queued message",
    ),
    "inflight": ("edge_bridge_inflight_messages", "messages sent and not yet acknowledged"),
}
BRIDGE_COUNTERS = ("sent", "acked", "resent", "received", "refused", "rejected", "dropped")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


class _Collector:
    def __init__(self, state: GatewayState, server: WebServer) -> None:
        self.state = state
        self.server = server

    def collect(self) -> Iterator[Metric]:  # prometheus-client's collector protocol
        status = self.state.status()
        info = GaugeMetricFamily(
            "edge_gateway_info", "the gateway's id and version (always 1)", labels=["id", "version"]
        )
        info.add_metric([status["id"], status["version"]], 1)
        yield info
        yield GaugeMetricFamily(
            "edge_gateway_uptime_seconds",
            "seconds since the broker started",
            value=status["uptime"],
        )
        if status["cpu_temperature"] is not None:
            yield GaugeMetricFamily(
                "edge_cpu_temperature_celsius", "SoC temperature", value=status["cpu_temperature"]
            )
        if status["disk_free"] is not None:
            yield GaugeMetricFamily(
                "edge_state_dir_free_bytes",
                "free space in the state directory",
                value=status["disk_free"],
            )
        broker = self.state.broker()
        yield from self._table(BROKER, broker)
        yield from self._labelled(
            broker,
            "messages/dropped/",
            "edge_broker_dropped_messages",
            "messages dropped, by reason",
            "reason",
        )
        yield from self._labelled(
            broker,
            "limits/",
            "edge_broker_limits_hit",
            "times a limit refused or cut something, by limit",
            "limit",
        )
        open_ = GaugeMetricFamily(
            "edge_broker_connections_open",
            "open sockets by listener (MQTT, WebSocket and HTTP)",
            labels=["listener"],
        )
        for listener, count in broker["connections/by listener"].items():
            open_.add_metric([listener], count)
        yield open_
        if status["store"]:
            store = {f"store/{k}": v for k, v in status["store"].items()}
            yield from self._table(STORE, store)
            state = GaugeMetricFamily(
                "edge_store_state", "the store's state (1 for the current one)", labels=["state"]
            )
            for name in ("ok", "full", "failing"):
                state.add_metric([name], 1 if store.get("store/state") == name else 0)
            yield state
        yield from self._bridges(self.state.bridges())
        yield from self._sensors(self.state.sensors())
        yield from self._relays(self.state.relays())
        web = CounterMetricFamily("edge_web_events", "web listener events by kind", labels=["kind"])
        for kind, count in sorted(self.server.counters.items()):
            web.add_metric([kind], count)
        yield web

    @staticmethod
    def _table(table: dict, values: dict):  # noqa: ANN205
        for key, (name, doc, counter) in table.items():
            value = _number(values.get(key))
            if value is None:
                continue
            family = CounterMetricFamily if counter else GaugeMetricFamily
            yield family(name, doc, value=value)

    @staticmethod
    def _labelled(values: dict, prefix: str, name: str, doc: str, label: str):  # noqa: ANN205
        family = CounterMetricFamily(name, doc, labels=[label])
        for key, value in sorted(values.items()):
            if key.startswith(prefix) and _number(value) is not None:
                family.add_metric([key.removeprefix(prefix)], value)
        yield family

    @staticmethod
    def _bridges(bridges: list[dict]):  # noqa: ANN205
        gauges = {
            key: GaugeMetricFamily(name, doc, labels=["bridge"])
            for key, (name, doc) in BRIDGE_GAUGES.items()
        }
        messages = CounterMetricFamily(
            "edge_bridge_messages",
            "messages through the bridge, by what became of them",
            labels=["bridge", "kind"],
        )
        connects = CounterMetricFamily(
            "edge_bridge_connects", "cloud connections made", labels=["bridge"]
        )
        for bridge in bridges:
            name = bridge["name"]
            for key, family in gauges.items():
                if (value := _number(bridge.get(key))) is not None:
                    family.add_metric([name], value)
            for kind in BRIDGE_COUNTERS:
                if (value := _number(bridge.get(f"messages/{kind}"))) is not None:
                    messages.add_metric([name, kind], value)
            connects.add_metric([name], bridge.get("connects", 0))
        yield from gauges.values()
        yield messages
        yield connects

    @staticmethod
    def _sensors(sensors: list[dict]):  # noqa: ANN205
        online = GaugeMetricFamily(
            "edge_sensor_online", "1 online, 0 offline, -1 not yet known", labels=["sensor"]
        )
        age = GaugeMetricFamily(
            "edge_sensor_last_read_age_seconds",
            "seconds since the last good read",
            labels=["sensor"],
        )
        reads = CounterMetricFamily("edge_sensor_reads", "read attempts", labels=["sensor"])
        failures = CounterMetricFamily("edge_sensor_read_errors", "failed reads", labels=["sensor"])
        value = GaugeMetricFamily(
            "edge_sensor_value",
            "the latest reading, in `unit`",
            labels=["sensor", "quantity", "unit"],
        )
        for s in sensors:
            name = s["name"]
            online.add_metric([name], -1 if s["online"] is None else int(s["online"]))
            if s["age"] is not None:
                age.add_metric([name], s["age"])
            reads.add_metric([name], s["reads"])
            failures.add_metric([name], s["failures"])
            for quantity, reading in s["values"].items():
                if (number := _number(reading["value"])) is not None:
                    value.add_metric([name, quantity, reading["unit"]], number)
        yield from (online, age, reads, failures, value)

    @staticmethod
    def _relays(relays: list[dict]):  # noqa: ANN205
        level = GaugeMetricFamily(
            "edge_relay_level", "read-back level (0 off, 1 on, PWM in between)", labels=["relay"]
        )
        available = GaugeMetricFamily(
            "edge_relay_available", "1 when the output answers", labels=["relay"]
        )
        switches = CounterMetricFamily(
            "edge_relay_switches", "switches carried out and read back", labels=["relay"]
        )
        for r in relays:
            if r["level"] is not None:
                level.add_metric([r["name"]], r["level"])
            available.add_metric([r["name"]], int(r["available"]))
            switches.add_metric([r["name"]], r["switches"])
        yield from (level, available, switches)


def exposition(state: GatewayState, server: WebServer) -> bytes:
    registry = server.metrics_registry
    if registry is None:  # one registry per listener, made at the first scrape
        registry = server.metrics_registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(state, server))
    return generate_latest(registry)
