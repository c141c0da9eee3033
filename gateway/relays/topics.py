"""Where an output publishes and listens, under `<base>/relay/<name>`:

<base>/relay/<name>                 state, retained: "ON"/"OFF", or JSON for PWM outputs
<base>/relay/<name>/set             commands
<base>/relay/<name>/event           what happened (switched, refused, unavailable), JSON
<base>/relay/<name>/availability    "online" / "offline", retained (the name sensors, Home
                                    Assistant and Zigbee2MQTT use)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one output under `<base>/relay/<name>`."""

    state: str
    command: str
    event: str
    availability: str

    @classmethod
    def of(cls, base_topic: str, name: str) -> Topics:
        root = f"{base_topic}/relay/{name}"
        return cls(
            state=root,
            command=f"{root}/set",
            event=f"{root}/event",
            availability=f"{root}/availability",
        )
