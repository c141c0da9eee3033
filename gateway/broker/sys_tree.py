"""The `$SYS/broker/...` topics: the broker's figures as retained QoS 0 messages (Mosquitto's
sys_tree.c; its topic names where it has the same figure).

`sys_values(core, now)` is the table of figures (also read by the status page and the tests);
`publish_sys` routes each as `$SYS/broker/<name>` through the core, every `sys_interval` seconds
(gateway.broker.timers). Clients cannot publish to `$SYS` (the core refuses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Publish

if TYPE_CHECKING:
    from gateway.broker.core import BrokerCore


def sys_values(core: BrokerCore, now: float) -> dict[str, object]:
    s = core.stats
    values: dict[str, object] = {
        "version": f"pi-edge-gateway {core.settings.version}",
        "uptime": f"{int(now - s.started_at)} seconds",
        "clients/connected": s.clients_connected,
        "clients/disconnected": s.clients_disconnected,
        "clients/total": s.clients_connected + s.clients_disconnected,
        "clients/maximum": s.clients_maximum,
        "clients/expired": s.clients_expired,
        "messages/received": s.messages_received,
        "messages/sent": s.messages_sent,
        "publish/messages/received": s.publish_received,
        "publish/messages/sent": s.publish_sent,
        "bytes/received": s.bytes_received,
        "bytes/sent": s.bytes_sent,
        "subscriptions/count": core.subs.count,
        "retained messages/count": core.retained.count,
        "store/messages/count": sum(x.queued_count for x in core.sessions.values()),
        "messages/dropped": s.dropped_total,
        "connections/refused": s.connections_refused,
        "protocol/errors": s.protocol_errors,
        "tls/handshakes/failed": s.tls_handshakes_failed,
    }
    values.update({f"messages/dropped/{k}": v for k, v in s.dropped.items()})
    values.update({f"limits/{k}": v for k, v in s.limits_hit.items()})
    values.update(core.persistence.sys_values())
    return values


def publish_sys(core: BrokerCore, now: float) -> None:
    for name, value in sys_values(core, now).items():
        packet = Publish(f"$SYS/broker/{name}", str(value).encode(), QoS.AT_MOST_ONCE, True)
        core.route_publish(packet, packet.topic, "$SYS", now)
