"""The MQTT 3.1.1 and 5.0 wire codec: value types for packets and properties, the encoder and
the streaming decoder, reason-code tables and topic rules; no I/O, standard library only.

The names in `__all__` are the package's public API, imported from their modules on first use
(gateway.lazyexports), so importing the package itself loads nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazyexports import lazy_getattr

if TYPE_CHECKING:
    from gateway.mqtt.codec import StreamDecoder, encode
    from gateway.mqtt.enums import PacketType, ProtocolVersion, QoS, ReasonCode, RetainHandling
    from gateway.mqtt.errors import MalformedPacket, PacketTooLarge, ProtocolError
    from gateway.mqtt.packets import (
        Auth,
        Connack,
        Connect,
        Disconnect,
        Pingreq,
        Pingresp,
        Puback,
        Pubcomp,
        Publish,
        Pubrec,
        Pubrel,
        Suback,
        Subscribe,
        Subscription,
        Unsuback,
        Unsubscribe,
        Will,
    )
    from gateway.mqtt.properties import NO_PROPERTIES, Properties
    from gateway.mqtt.topics import (
        filter_matches,
        filters_overlap,
        parse_shared,
        topic_matches,
        validate_topic_filter,
        validate_topic_name,
    )

__all__ = [
    "NO_PROPERTIES",
    "Auth",
    "Connack",
    "Connect",
    "Disconnect",
    "MalformedPacket",
    "PacketTooLarge",
    "PacketType",
    "Pingreq",
    "Pingresp",
    "Properties",
    "ProtocolError",
    "ProtocolVersion",
    "Puback",
    "Pubcomp",
    "Publish",
    "Pubrec",
    "Pubrel",
    "QoS",
    "ReasonCode",
    "RetainHandling",
    "StreamDecoder",
    "Suback",
    "Subscribe",
    "Subscription",
    "Unsuback",
    "Unsubscribe",
    "Will",
    "encode",
    "filter_matches",
    "filters_overlap",
    "parse_shared",
    "topic_matches",
    "validate_topic_filter",
    "validate_topic_name",
]

_HOMES = {
    "enums": (
        "PacketType",
        "ProtocolVersion",
        "QoS",
        "ReasonCode",
        "RetainHandling",
    ),
    "properties": (
        "NO_PROPERTIES",
        "Properties",
    ),
    "packets": (
        "Auth",
        "Connack",
        "Connect",
        "Disconnect",
        "Pingreq",
        "Pingresp",
        "Puback",
        "Pubcomp",
        "Publish",
        "Pubrec",
        "Pubrel",
        "Suback",
        "Subscribe",
        "Subscription",
        "Unsuback",
        "Unsubscribe",
        "Will",
    ),
    "codec": (
        "StreamDecoder",
        "encode",
    ),
    "errors": (
        "MalformedPacket",
        "PacketTooLarge",
        "ProtocolError",
    ),
    "topics": (
        "filter_matches",
        "filters_overlap",
        "parse_shared",
        "topic_matches",
        "validate_topic_filter",
        "validate_topic_name",
    ),
}

__getattr__ = lazy_getattr(__name__, _HOMES)
