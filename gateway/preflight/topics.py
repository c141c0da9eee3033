"""Bridge mappings that match nothing the gateway itself publishes.

An outbound mapping forwards `local_prefix + pattern`. The classic slip is `pattern = "sensors/#"`
with `local_prefix = "edge/"`: the gateway publishes `edge/sensor/<name>`, so nothing is forwarded
and nothing says why. A mapping may rightly carry only what LAN clients publish, so this is a
warning naming the gateway's own topics, not an error.
"""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.mqtt.topics import filters_overlap
from gateway.sensors.topics import topics_for


def own_topics(config: GatewayConfig) -> list[str]:
    """Filters covering every topic the gateway publishes itself."""
    base = config.gateway.base_topic.strip("/")
    out = [f"{base}/status", f"{base}/gateway/#", f"{base}/bridge/#", f"{base}/rule/#"]
    for sensor in config.sensors:
        state = topics_for(base, sensor.name, sensor.topic).state
        out += [state, f"{state}/+"]
    for relay in config.relays:
        out += [f"{base}/relay/{relay.name}", f"{base}/relay/{relay.name}/+"]
    if config.homeassistant.discovery:
        out.append(f"{config.homeassistant.prefix}/#")
    return out


def mapping_warnings(config: GatewayConfig) -> list[str]:
    own = own_topics(config)
    out = []
    for bridge in config.bridges:
        for index, topic in enumerate(bridge.topics):
            mapped = topic.to_map()
            if not mapped.outbound or any(filters_overlap(mapped.local_filter, o) for o in own):
                continue
            examples = ", ".join(_examples(config))
            out.append(
                f"bridges[{bridge.name}].topics[{index}]: {mapped.local_filter!r} "
                f"(local_prefix + pattern) matches nothing the gateway publishes "
                f"({examples}, ...); it forwards only what MQTT clients publish there"
            )
    return out


def _examples(config: GatewayConfig) -> list[str]:
    """The status topic, one sensor's and one relay's state topic: what an operator recognises."""
    base = config.gateway.base_topic.strip("/")
    out = [f"{base}/status"]
    if config.sensors:
        first = config.sensors[0]
        out.append(topics_for(base, first.name, first.topic).state)
    if config.relays:
        out.append(f"{base}/relay/{config.relays[0].name}")
    return out
