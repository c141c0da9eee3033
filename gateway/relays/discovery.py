"""Home Assistant MQTT discovery for outputs (switch, light, fan), with per-output availability.

Pure: `discovery_config(cfg, topics, node_id)` returns the discovery topic and the JSON-ready
payload. The payloads match what the controller publishes and accepts:

* binary outputs: state "ON"/"OFF", commands "ON"/"OFF";
* PWM outputs: state ``{"state": "ON", "brightness": 40}`` (percent); a light uses HA's JSON schema
  with ``brightness_scale: 100``; a fan sends its percentage as ``{"brightness": N}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.relays.config import OutputConfig

DISCOVERY_PREFIX = "homeassistant"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one output under `<base>/relay/<name>`."""

    state: str
    command: str
    event: str
    available: str

    @classmethod
    def of(cls, base_topic: str, name: str) -> Topics:
        root = f"{base_topic}/relay/{name}"
        return cls(state=root, command=f"{root}/set", event=f"{root}/event", available=f"{root}/available")


def discovery_config(cfg: OutputConfig, topics: Topics, node_id: str) -> tuple[str, dict[str, Any]] | None:
    """(topic, payload) announcing `cfg` to Home Assistant, or None with ha_component = "none"."""
    if cfg.ha_component == "none":
        return None
    payload: dict[str, Any] = {
        "name": cfg.title or cfg.name,
        "unique_id": f"{node_id}_relay_{cfg.name}",
        "command_topic": topics.command,
        "state_topic": topics.state,
        "availability_topic": topics.available,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": {"identifiers": [node_id], "name": node_id, "model": "Pi Edge Gateway"},
    }
    payload.update(_COMPONENT[cfg.ha_component](cfg, topics))
    return f"{DISCOVERY_PREFIX}/{cfg.ha_component}/{node_id}/{cfg.name}/config", payload


def _switch(cfg: OutputConfig, topics: Topics) -> dict[str, Any]:
    extra: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"}
    if cfg.pwm:
        extra["value_template"] = "{{ value_json.state }}"
    return extra


def _light(cfg: OutputConfig, topics: Topics) -> dict[str, Any]:
    if not cfg.pwm:
        return {"payload_on": "ON", "payload_off": "OFF"}
    return {"schema": "json", "supported_color_modes": ["brightness"], "brightness": True,
            "brightness_scale": 100}


def _fan(cfg: OutputConfig, topics: Topics) -> dict[str, Any]:
    extra: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}
    if cfg.pwm:
        extra.update({
            "state_value_template": "{{ value_json.state }}",
            "percentage_command_topic": topics.command,
            "percentage_command_template": '{"brightness": {{ value }}}',
            "percentage_state_topic": topics.state,
            "percentage_value_template": "{{ value_json.brightness }}",
        })
    return extra


_COMPONENT = {"switch": _switch, "light": _light, "fan": _fan}
