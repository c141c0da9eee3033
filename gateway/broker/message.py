"""The broker's internal message: what a PUBLISH becomes once it has been accepted.

A `Message` is created once per accepted PUBLISH and shared by every delivery of it. Its properties
are the ones that travel with the application message (payload format, content type, response topic,
correlation data, user properties); the per-hop ones (topic alias, subscription identifiers) are not
kept, and the message expiry interval is turned into an absolute deadline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gateway.mqtt.decoder import new_publish
from gateway.mqtt.enums import QoS
from gateway.mqtt.packets import Publish
from gateway.mqtt.properties import NO_PROPERTIES, Properties


@dataclass(slots=True, eq=False)
class Message:
    topic: str
    payload: bytes
    qos: QoS
    retain: bool
    properties: Properties = NO_PROPERTIES
    expires_at: float | None = None  # on the broker's clock; None = never
    origin: str = ""  # publisher's client id (for no-local)
    seq: int = 0  # broker-wide sequence number, increasing
    encoded: dict[tuple, bytes] = field(default_factory=dict)  # fan-out cache of QoS 0 packets
    store_id: int = 0  # row of its body in the durable store (0 = not written)
    # published by the gateway itself (sensor readings, relay state, availability, metrics): state
    # it regenerates, so the store keeps it retained in memory only and holds it back from disk
    # queues for a grace period (gateway.broker.store); a LAN client's or the cloud's never is
    own: bool = False

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def remaining_expiry(self, now: float) -> int | None:
        if self.expires_at is None:
            return None
        return max(0, int(self.expires_at - now + 0.999))  # round up, as Mosquitto does

    @classmethod
    def from_publish(
        cls, packet: Publish, topic: str, origin: str, now: float, seq: int, own: bool = False
    ) -> Message:
        props = packet.properties
        expires_at = None
        if props.message_expiry_interval is not None:
            expires_at = now + props.message_expiry_interval
        if (
            props.topic_alias is not None
            or props.subscription_identifiers
            or props.message_expiry_interval is not None
        ):
            props = dataclasses.replace(
                props, topic_alias=None, subscription_identifiers=(), message_expiry_interval=None
            )
        return cls(
            topic,
            packet.payload,
            packet.qos,
            packet.retain,
            props,
            expires_at,
            origin,
            seq,
            own=own,
        )


@dataclass(slots=True)
class Delivery:
    """One message bound for one session: the QoS and retain flag it goes out with, and the
    identifiers of the subscriptions that matched (MQTT 5)."""

    message: Message
    qos: QoS
    retain: bool
    subscription_ids: tuple[int, ...] = ()
    qid: int = 0  # its row in the durable store's session queue (0 = not written)

    def to_publish(self, now: float, packet_id: int | None, dup: bool = False) -> Publish:
        msg = self.message
        props = msg.properties
        remaining = msg.remaining_expiry(now)
        if remaining is not None or self.subscription_ids:
            props = dataclasses.replace(
                props,
                message_expiry_interval=remaining,
                subscription_identifiers=self.subscription_ids,
            )
        # new_publish: the same Publish without the frozen dataclass's per-field __setattr__
        return new_publish(msg.topic, msg.payload, self.qos, self.retain, dup, packet_id, props)
