"""In-process clients of the broker: how sensors, relays and the bridge publish and subscribe.

A `LocalClient` is a session of the router like any network client, minus the socket: its messages
go through the same routing, retained store and queues (the ACL does not apply to them), so a LAN
subscriber and the bridge see sensor readings exactly as they would see a LAN publisher's messages.
An in-process subscriber receives a `LocalMessage`: the subscriber's view of a message, not the
broker's own `gateway.broker.message.Message` (which carries its routing state).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.mqtt.enums import QoS
from gateway.mqtt.properties import NO_PROPERTIES, Properties


@dataclass(frozen=True, slots=True)
class LocalMessage:
    """A message delivered to an in-process subscriber.

    `retain` is the flag as published (subscriptions of local clients use retain-as-published), or
    True when the message comes from the retained store because of a new subscription.
    `properties.message_expiry_interval`, when set, is the interval remaining at delivery.
    """

    topic: str
    payload: bytes
    qos: QoS = QoS.AT_MOST_ONCE
    retain: bool = False
    properties: Properties = NO_PROPERTIES


MessageHandler = Callable[[LocalMessage], Awaitable[None] | None]


class LocalClient(Protocol):
    """What the broker gives each in-process component (see `Broker.local_client`)."""

    client_id: str

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 0,
        retain: bool = False,
        properties: Properties = NO_PROPERTIES,
    ) -> None:
        """Route a message; returns once it is routed (and, at QoS 1/2, stored where it must be)."""

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> None:
        """Deliver matching messages to `handler`, in order, one at a time, on the event loop."""

    async def unsubscribe(self, topic_filter: str) -> None:
        """Stop delivering messages for `topic_filter`."""
