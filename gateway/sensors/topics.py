"""Where a sensor publishes.

    <state>                 JSON payload of every quantity (gateway.sensors.payloads)
    <state>/availability    "online" / "offline", retained
    <state>/<quantity>      the bare value, when plain_topics = true

<state> is `<base>/sensor/<name>` unless the sensor's config sets `topic`.
"""

from __future__ import annotations

from dataclasses import dataclass

AVAILABILITY = "availability"
ONLINE, OFFLINE = b"online", b"offline"


@dataclass(frozen=True, slots=True)
class SensorTopics:
    state: str

    @property
    def availability(self) -> str:
        return f"{self.state}/{AVAILABILITY}"

    def quantity(self, quantity: str) -> str:
        if quantity == AVAILABILITY:
            raise ValueError(
                f"a quantity cannot be named {AVAILABILITY!r}: it is the availability topic"
            )
        return f"{self.state}/{quantity}"


def topics_for(base_topic: str, name: str, override: str | None = None) -> SensorTopics:
    if override is not None:
        return SensorTopics(override)
    base = base_topic.strip("/")
    if not base or any(c in base for c in "+#\x00"):
        raise ValueError(f"base_topic {base_topic!r} must be a non-empty topic name without + or #")
    return SensorTopics(f"{base}/sensor/{name}")
