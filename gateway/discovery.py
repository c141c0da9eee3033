"""Home Assistant MQTT discovery for the whole gateway: sensors, relays and its own diagnostics.

How this works: the gateway is one Home Assistant device (identifiers `pi-edge-gateway_<node_id>`)
and every entity of it is one retained config message on

    <prefix>/<component>/<node_id>/<object_id>/config

— each quantity of each sensor (`sensor`, or `binary_sensor` for contact/motion/pressed states),
each relay (`switch`, `light` or `fan`, from its `ha_component`), and the gateway's own diagnostic
entities (clients, queued messages, store, uptime, CPU temperature where the board has a thermal
zone, and each cloud bridge's link and queue; entity_category `diagnostic`, read from
gateway.diagnostics' JSON). Every entity lists two availability topics with availability_mode
`all`: its own (a sensor's or relay's `.../availability`) and the gateway's `<base>/status`, so
everything goes unavailable when the gateway stops.

The payload builders are pure functions; `Discovery` publishes what they return at start-up and
again whenever Home Assistant announces itself with `online` on `<prefix>/status` (its birth
message after a restart). `[homeassistant] discovery = false` publishes nothing. Removing a sensor
or relay from the config does not remove its entity in Home Assistant (publish an empty retained
config to do that).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway import __version__
from gateway.broker.local import LocalClient, LocalMessage
from gateway.relays.config import OutputConfig
from gateway.relays.topics import Topics as RelayTopics
from gateway.sensors.commands import (
    CALIBRATE,
    FRC_RANGE,
    SELF_CALIBRATION,
    command_topic,
    setting_topic,
)
from gateway.sensors.topics import OFFLINE, ONLINE, SensorTopics

log = logging.getLogger(__name__)

ORIGIN = {"name": "Pi Edge Gateway", "sw_version": __version__}
DIAGNOSTICS_EXPIRE = 180  # seconds: three missed heartbeats of gateway.diagnostics


@dataclass(frozen=True, slots=True)
class HAClass:
    component: str = "sensor"
    device_class: str | None = None
    state_class: str | None = "measurement"
    on_when: bool = True  # binary_sensor: the value that means ON


#: quantity -> how Home Assistant should show it. Unknown quantities are plain sensors.
QUANTITY_CLASSES: dict[str, HAClass] = {
    "temperature": HAClass(device_class="temperature"),
    "humidity": HAClass(device_class="humidity"),
    "pressure": HAClass(device_class="atmospheric_pressure"),
    "illuminance": HAClass(device_class="illuminance"),
    "voltage": HAClass(device_class="voltage"),
    "shunt_voltage": HAClass(device_class="voltage"),
    "current": HAClass(device_class="current"),
    "power": HAClass(device_class="power"),
    "energy": HAClass(device_class="energy", state_class="total_increasing"),
    "water": HAClass(device_class="water", state_class="total_increasing"),
    "gas": HAClass(device_class="gas", state_class="total_increasing"),
    "volume": HAClass(device_class="volume", state_class="total_increasing"),
    "flow": HAClass(device_class="volume_flow_rate"),
    "count": HAClass(state_class="total_increasing"),
    "total": HAClass(state_class="total_increasing"),
    "pm1": HAClass(device_class="pm1"),
    "pm1_0": HAClass(device_class="pm1"),
    "pm2_5": HAClass(device_class="pm25"),
    "pm10": HAClass(device_class="pm10"),
    "pm1_0_standard": HAClass(device_class="pm1"),
    "pm2_5_standard": HAClass(device_class="pm25"),
    "pm10_standard": HAClass(device_class="pm10"),
    "co2": HAClass(device_class="carbon_dioxide"),
    "eco2": HAClass(device_class="carbon_dioxide"),
    "tvoc": HAClass(device_class="volatile_organic_compounds_parts"),
    "internal_temperature": HAClass(device_class="temperature"),
    "distance": HAClass(device_class="distance"),
    "weight": HAClass(device_class="weight"),
    "speed": HAClass(device_class="speed"),
    "altitude": HAClass(device_class="distance"),
    "latitude": HAClass(state_class=None),
    "longitude": HAClass(state_class=None),
    "course": HAClass(state_class=None),
    "fix_quality": HAClass(state_class=None),
    # contact: True = closed; HA's "opening" class says ON = open
    "contact": HAClass("binary_sensor", "opening", None, on_when=False),
    "motion": HAClass("binary_sensor", "motion", None),
    "occupancy": HAClass("binary_sensor", "occupancy", None),
    "pressed": HAClass("binary_sensor", None, None),
}

#: the units Home Assistant accepts with each sensor device class we set (its
#: sensor.const.DEVICE_CLASS_UNITS; a config with another unit is refused by HA). A quantity
#: whose unit is not listed is published without the class, so its entity still appears.
DEVICE_CLASS_UNITS: dict[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "temperature": ("°C", "°F", "K"),
        "humidity": ("%",),
        "atmospheric_pressure": ("cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"),
        "illuminance": ("lx",),
        "voltage": ("V", "mV", "µV", "kV", "MV"),
        "current": ("A", "mA"),
        "power": ("mW", "W", "kW", "MW", "GW", "TW"),
        "energy": ("Wh", "kWh", "MWh", "GWh", "TWh", "MJ", "GJ"),
        "water": ("L", "m³", "ft³", "gal", "CCF"),
        "gas": ("m³", "ft³", "CCF"),
        "volume": ("L", "mL", "m³", "ft³", "gal", "CCF", "fl. oz."),
        "volume_flow_rate": ("m³/h", "ft³/min", "L/min", "gal/min", "mL/s"),
        "pm1": ("µg/m³",),
        "pm25": ("µg/m³",),
        "pm10": ("µg/m³",),
        "carbon_dioxide": ("ppm",),
        "volatile_organic_compounds_parts": ("ppm", "ppb"),
        "weight": ("kg", "g", "mg", "µg", "oz", "lb", "st"),
        "speed": ("ft/s", "in/d", "in/h", "km/h", "kn", "m/s", "mph", "mm/d", "mm/s"),
        "distance": ("km", "m", "cm", "mm", "mi", "yd", "in", "ft"),
        "duration": ("d", "h", "min", "s", "ms"),
    }.items()
}

#: quantity -> its name in Home Assistant where capitalising the first letter reads badly
QUANTITY_NAMES = {
    "co2": "CO2",
    "pm1": "PM1",
    "pm1_0": "PM1.0",
    "pm2_5": "PM2.5",
    "pm10": "PM10",
    "pm1_0_standard": "PM1.0 (standard)",
    "pm2_5_standard": "PM2.5 (standard)",
    "pm10_standard": "PM10 (standard)",
    "tvoc": "TVOC",
    "eco2": "eCO2",
    "hdop": "HDOP",
    "voc_index": "VOC index",
}


def human(name: str) -> str:
    """`shunt_voltage` -> "Shunt voltage", `voltage_a0_a1` -> "Voltage A0 A1", `pm2_5` -> "PM2.5"."""
    if name in QUANTITY_NAMES:
        return QUANTITY_NAMES[name]
    words = [
        w.upper() if re.fullmatch(r"[a-z]\d+", w) else w for w in re.split(r"[_\-\s]+", name) if w
    ]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The gateway as one Home Assistant device."""

    node_id: str
    name: str
    sw_version: str = __version__
    model: str = "Pi Edge Gateway"
    manufacturer: str = "Pi Edge Gateway project"

    @property
    def identifier(self) -> str:
        return f"pi-edge-gateway_{self.node_id}"

    def block(self) -> dict[str, object]:
        return {
            "identifiers": [self.identifier],
            "name": self.name,
            "model": self.model,
            "manufacturer": self.manufacturer,
            "sw_version": self.sw_version,
        }


@dataclass(frozen=True, slots=True)
class DiscoveredSensor:
    """What discovery needs to know of one configured sensor."""

    name: str
    label: str
    topics: SensorTopics
    quantities: tuple[tuple[str, str], ...]
    device_class: Mapping[str, str]  # overrides; "none" removes the class
    commands: tuple[str, ...] = ()  # gateway.sensors.commands its driver supports


@dataclass(frozen=True, slots=True)
class Entity:
    component: str
    object_id: str  # unique within the device; also the last topic level
    config: dict[str, Any]

    def topic(self, prefix: str, node_id: str) -> str:
        return f"{prefix}/{self.component}/{node_id}/{self.object_id}/config"

    def payload(self) -> bytes:
        return json.dumps(self.config, ensure_ascii=False, separators=(",", ":")).encode()


def availability(*topics: str | None) -> list[dict[str, str]]:
    return [
        {
            "topic": t,
            "payload_available": ONLINE.decode(),
            "payload_not_available": OFFLINE.decode(),
        }
        for t in topics
        if t
    ]


def _entity(
    device: DeviceInfo,
    component: str,
    object_id: str,
    name: str,
    available: list[dict[str, str]],
    body: dict[str, Any],
) -> Entity:
    unique_id = f"{device.node_id}_{object_id}"
    config: dict[str, Any] = {
        "name": name,
        "unique_id": unique_id,
        # HA entity ids are lower-case slugs: a sensor named "tank-levels" or a node "Pi-1" would
        # otherwise be refused
        "default_entity_id": f"{component}.{re.sub(r'[^a-z0-9_]+', '_', unique_id.lower())}",
        "availability": available,
        "availability_mode": "all",
        "device": device.block(),
        "origin": ORIGIN,
    }
    config.update(body)
    return Entity(component, object_id, config)


# -- sensors --------------------------------------------------------------------------------------


def sensor_entities(
    device: DeviceInfo, sensor: DiscoveredSensor, gateway_availability: str | None = None
) -> list[Entity]:
    """One entity per quantity of `sensor`, and one per command it takes (a `number` for the
    forced recalibration's reference ppm, a `switch` for automatic self-calibration; both
    entity_category `config`)."""
    entities = [
        _quantity(device, sensor, quantity, unit, gateway_availability)
        for quantity, unit in sensor.quantities
    ]
    available = availability(sensor.topics.availability, gateway_availability)
    state = sensor.topics.state
    if CALIBRATE in sensor.commands:
        low, high = FRC_RANGE
        body = {
            "command_topic": command_topic(state, CALIBRATE),
            "min": low,
            "max": high,
            "step": 1,
            "mode": "box",
            "unit_of_measurement": "ppm",
            "entity_category": "config",
            "icon": "mdi:tune-vertical",
            "qos": 1,
        }
        name = f"{sensor.label} forced recalibration"
        entities.append(
            _entity(device, "number", f"{sensor.name}_calibrate", name, available, body)
        )
    if SELF_CALIBRATION in sensor.commands:
        body = {
            "command_topic": command_topic(state, SELF_CALIBRATION),
            "state_topic": setting_topic(state),
            "payload_on": "ON",
            "payload_off": "OFF",
            "entity_category": "config",
            "qos": 1,
        }
        name = f"{sensor.label} automatic self-calibration"
        entities.append(
            _entity(device, "switch", f"{sensor.name}_self_calibration", name, available, body)
        )
    return entities


def _quantity(
    device: DeviceInfo,
    sensor: DiscoveredSensor,
    quantity: str,
    unit: str,
    gateway_availability: str | None,
) -> Entity:
    ha = QUANTITY_CLASSES.get(quantity, HAClass(state_class="measurement" if unit else None))
    device_class = sensor.device_class.get(quantity)
    if device_class is None:  # ours only where HA accepts the unit with it; an override is kept
        device_class = ha.device_class
        if device_class in DEVICE_CLASS_UNITS and unit not in DEVICE_CLASS_UNITS[device_class]:
            device_class = None
    body: dict[str, Any] = {"state_topic": sensor.topics.state}
    if device_class and device_class != "none":
        body["device_class"] = device_class
    if ha.component == "binary_sensor":
        on, off = ("ON", "OFF") if ha.on_when else ("OFF", "ON")
        body["value_template"] = f"{{{{ '{on}' if value_json.{quantity}.value else '{off}' }}}}"
        body.update(payload_on="ON", payload_off="OFF")
    else:
        body["value_template"] = f"{{{{ value_json.{quantity}.value }}}}"
        if unit:
            body["unit_of_measurement"] = unit
        if ha.state_class:
            body["state_class"] = ha.state_class
    return _entity(
        device,
        ha.component,
        f"{sensor.name}_{quantity}",
        f"{sensor.label} {human(quantity)}",
        availability(sensor.topics.availability, gateway_availability),
        body,
    )


# -- relays ---------------------------------------------------------------------------------------


def relay_entity(
    device: DeviceInfo,
    cfg: OutputConfig,
    topics: RelayTopics,
    gateway_availability: str | None = None,
) -> Entity | None:
    """The switch, light or fan of one output; None with ha_component = "none".

    The payloads match what the relay controller publishes and accepts: binary outputs have state
    and commands "ON"/"OFF"; PWM outputs publish ``{"state": "ON", "brightness": 40}`` (percent) and
    take the same JSON: a light uses HA's JSON schema with brightness_scale 100, a fan sends its
    percentage as ``{"brightness": N}`` and reads it back rounded to an integer (HA's fan takes
    whole percentages only)."""
    if cfg.ha_component == "none":
        return None
    body: dict[str, Any] = {"command_topic": topics.command, "state_topic": topics.state, "qos": 1}
    body.update(_RELAY_COMPONENT[cfg.ha_component](cfg, topics))
    return _entity(
        device,
        cfg.ha_component,
        f"relay_{cfg.name}",
        cfg.title or human(cfg.name),
        availability(topics.availability, gateway_availability),
        body,
    )


def _switch(cfg: OutputConfig, topics: RelayTopics) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "payload_on": "ON",
        "payload_off": "OFF",
        "state_on": "ON",
        "state_off": "OFF",
    }
    if cfg.pwm:
        extra["value_template"] = "{{ value_json.state }}"
    return extra


def _light(cfg: OutputConfig, topics: RelayTopics) -> dict[str, Any]:
    if not cfg.pwm:
        return {"payload_on": "ON", "payload_off": "OFF"}
    # supported_color_modes ["brightness"] alone: HA's `brightness` flag is meant for RGB lights only
    # (HA 2025.3), and the `color_mode` flag is gone (2024.4: not used; 2025.3: refused)
    return {"schema": "json", "supported_color_modes": ["brightness"], "brightness_scale": 100}


def _fan(cfg: OutputConfig, topics: RelayTopics) -> dict[str, Any]:
    extra: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}
    if cfg.pwm:
        extra.update(
            {
                "state_value_template": "{{ value_json.state }}",
                "percentage_command_topic": topics.command,
                "percentage_command_template": '{"brightness": {{ value }}}',
                "percentage_state_topic": topics.state,
                "percentage_value_template": "{{ value_json.brightness | round(0) | int }}",
            }
        )
    return extra


_RELAY_COMPONENT = {"switch": _switch, "light": _light, "fan": _fan}


# -- the gateway's own diagnostics ----------------------------------------------------------------


def diagnostic_entities(
    device: DeviceInfo,
    state_topic: str,
    bridges: Sequence[str] = (),
    cpu_temperature: bool = False,
    gateway_availability: str | None = None,
) -> list[Entity]:
    """Entities reading gateway.diagnostics' JSON on `state_topic`."""
    available = availability(gateway_availability)
    common = {
        "state_topic": state_topic,
        "entity_category": "diagnostic",
        "expire_after": DIAGNOSTICS_EXPIRE,
    }

    def make(component: str, object_id: str, name: str, **body: Any) -> Entity:
        return _entity(device, component, object_id, name, available, {**common, **body})

    entities = [
        make(
            "sensor",
            "gateway_clients",
            "Clients",
            value_template="{{ value_json.clients }}",
            state_class="measurement",
            icon="mdi:lan-connect",
        ),
        make(
            "sensor",
            "gateway_queued",
            "Queued messages",
            value_template="{{ value_json.queued }}",
            state_class="measurement",
            icon="mdi:tray-full",
        ),
        # a text sensor, not device_class "enum": HA 2024.3 (the last for Python 3.11) drops the
        # `options` an enum sensor needs
        make(
            "sensor",
            "gateway_store",
            "Store",
            value_template="{{ value_json.store }}",
            icon="mdi:database",
        ),
        make(
            "sensor",
            "gateway_uptime",
            "Uptime",
            value_template="{{ value_json.uptime }}",
            device_class="duration",
            unit_of_measurement="s",
            state_class="total_increasing",
        ),
        # gateway.timesync: off while the Pi's clock is not synchronised (no RTC, no NTP yet)
        make(
            "binary_sensor",
            "gateway_clock_synchronized",
            "Clock synchronised",
            value_template="{{ 'ON' if value_json.clock_synchronized else 'OFF' }}",
            payload_on="ON",
            payload_off="OFF",
            icon="mdi:clock-check-outline",
        ),
    ]
    if cpu_temperature:
        entities.append(
            make(
                "sensor",
                "gateway_cpu_temperature",
                "CPU temperature",
                value_template="{{ value_json.cpu_temperature }}",
                device_class="temperature",
                unit_of_measurement="°C",
                state_class="measurement",
            )
        )
    for name in bridges:
        entities.append(
            make(
                "binary_sensor",
                f"bridge_{name}_connected",
                f"Bridge {name}",
                device_class="connectivity",
                value_template=f"{{{{ 'ON' if value_json.bridges['{name}'].connected else 'OFF' }}}}",
                payload_on="ON",
                payload_off="OFF",
            )
        )
        entities.append(
            make(
                "sensor",
                f"bridge_{name}_queued",
                f"Bridge {name} queue",
                value_template=f"{{{{ value_json.bridges['{name}'].queued }}}}",
                state_class="measurement",
                icon="mdi:cloud-upload",
            )
        )
    return entities


# -- publishing ----------------------------------------------------------------------------------


class Discovery:
    """Publishes the entities' configs now and whenever Home Assistant comes online.

    `on_birth` runs after the configs were republished (the diagnostics publish their state then,
    so the new entities do not wait for the next heartbeat)."""

    def __init__(
        self,
        client: LocalClient,
        device: DeviceInfo,
        entities: Sequence[Entity],
        *,
        prefix: str = "homeassistant",
        on_birth: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._client, self._device, self.entities = client, device, tuple(entities)
        self._prefix, self._on_birth = prefix, on_birth
        self.published = 0

    @property
    def status_topic(self) -> str:
        return f"{self._prefix}/status"

    def messages(self) -> list[tuple[str, bytes]]:
        return [(e.topic(self._prefix, self._device.node_id), e.payload()) for e in self.entities]

    async def start(self) -> None:
        await self.publish_all()
        await self._client.subscribe(self.status_topic, self._on_status, qos=1)

    async def stop(self) -> None:
        await self._client.unsubscribe(self.status_topic)

    def summary_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entities:
            counts[e.component] = counts.get(e.component, 0) + 1
        return counts

    async def publish_all(self) -> None:
        for topic, payload in self.messages():
            await self._client.publish(topic, payload, qos=1, retain=True)
            self.published += 1
        counts = ", ".join(f"{n} {c}" for c, n in sorted(self.summary_counts().items()))
        log.info(
            "home assistant discovery: published %d config(s) (%s) under %s/+/%s",
            len(self.entities),
            counts or "none",
            self._prefix,
            self._device.node_id,
        )

    async def replace(
        self, device: DeviceInfo, entities: Sequence[Entity], prefix: str
    ) -> tuple[list[str], list[str]]:
        """A reload: publish the configs that are new or changed, and clear each config no longer
        announced with an empty retained message (Home Assistant then removes the entity).
        Returns (published topics, cleared topics); unchanged configs are not sent again."""
        before = dict(self.messages())
        old_status = self.status_topic
        self._device, self.entities, self._prefix = device, tuple(entities), prefix
        after = dict(self.messages())
        cleared = [topic for topic in before if topic not in after]
        published = [topic for topic, payload in after.items() if before.get(topic) != payload]
        for topic in cleared:
            await self._client.publish(topic, b"", qos=1, retain=True)
        for topic in published:
            await self._client.publish(topic, after[topic], qos=1, retain=True)
            self.published += 1
        if self.status_topic != old_status:
            await self._client.unsubscribe(old_status)
            await self._client.subscribe(self.status_topic, self._on_status, qos=1)
        return published, cleared

    async def clear(self) -> int:
        """Discovery switched off by a reload: every config cleared (the entities go away)."""
        topics = [topic for topic, _ in self.messages()]
        for topic in topics:
            await self._client.publish(topic, b"", qos=1, retain=True)
        return len(topics)

    async def _on_status(self, message: LocalMessage) -> None:
        if message.payload.strip().lower() == ONLINE:
            await self.publish_all()
            if self._on_birth is not None:
                await self._on_birth()
