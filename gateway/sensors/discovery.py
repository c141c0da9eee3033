"""Home Assistant MQTT discovery for the sensors.

For every quantity of every sensor one retained config message goes to

    <prefix>/<component>/<node_id>/<sensor>_<quantity>/config

with component `binary_sensor` for boolean states (contact, motion, pressed ...) and `sensor` for
everything else. The entity reads the sensor's JSON state topic with a value_template, is unavailable
when the sensor's availability topic says `offline` (and, if given, when the gateway's own status
topic does), and belongs to one HA device: the gateway (`node_id`).

The configs are published at start-up and again whenever Home Assistant announces itself with
`online` on `<prefix>/status` (its birth message after a restart). Removing a sensor from the config
does not remove its entity in HA (publish an empty retained config to do that).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.broker.local import LocalClient, Message
from gateway.sensors.topics import OFFLINE, ONLINE, SensorTopics

log = logging.getLogger(__name__)


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
    "co2": HAClass(device_class="carbon_dioxide"),
    "speed": HAClass(device_class="speed"),
    "altitude": HAClass(device_class="distance"),
    "latitude": HAClass(state_class=None),
    "longitude": HAClass(state_class=None),
    # contact: True = closed; HA's "opening" class says ON = open
    "contact": HAClass("binary_sensor", "opening", None, on_when=False),
    "motion": HAClass("binary_sensor", "motion", None),
    "occupancy": HAClass("binary_sensor", "occupancy", None),
    "pressed": HAClass("binary_sensor", None, None),
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    node_id: str
    name: str
    sw_version: str = "0.1.0"
    model: str = "Pi Edge Gateway"
    manufacturer: str = "Pi Edge Gateway project"

    def block(self) -> dict[str, object]:
        return {"identifiers": [f"pi-edge-gateway_{self.node_id}"], "name": self.name,
                "model": self.model, "manufacturer": self.manufacturer, "sw_version": self.sw_version}


@dataclass(frozen=True, slots=True)
class DiscoveredSensor:
    """What discovery needs to know of one configured sensor."""

    name: str
    label: str
    topics: SensorTopics
    quantities: tuple[tuple[str, str], ...]
    device_class: Mapping[str, str]  # overrides; "none" removes the class


def entity_config(device: DeviceInfo, sensor: DiscoveredSensor, quantity: str, unit: str,
                  gateway_availability: str | None = None) -> tuple[str, dict[str, object]]:
    """(component, config payload) of one quantity's entity."""
    ha = QUANTITY_CLASSES.get(quantity, HAClass(state_class="measurement" if unit else None))
    device_class = sensor.device_class.get(quantity, ha.device_class)
    config: dict[str, object] = {
        "name": f"{sensor.label} {quantity.replace('_', ' ').capitalize()}",
        "unique_id": f"{device.node_id}_{sensor.name}_{quantity}",
        "object_id": f"{device.node_id}_{sensor.name}_{quantity}",
        "state_topic": sensor.topics.state,
        "availability": _availability(sensor.topics, gateway_availability),
        "availability_mode": "all",
        "device": device.block(),
        "origin": {"name": "Pi Edge Gateway", "sw": device.sw_version},
    }
    if device_class and device_class != "none":
        config["device_class"] = device_class
    if ha.component == "binary_sensor":
        on, off = ("ON", "OFF") if ha.on_when else ("OFF", "ON")
        config["value_template"] = f"{{{{ '{on}' if value_json.{quantity}.value else '{off}' }}}}"
        config.update(payload_on="ON", payload_off="OFF")
    else:
        config["value_template"] = f"{{{{ value_json.{quantity}.value }}}}"
        if unit:
            config["unit_of_measurement"] = unit
        if ha.state_class:
            config["state_class"] = ha.state_class
    return ha.component, config


def _availability(topics: SensorTopics, gateway_availability: str | None) -> list[dict[str, str]]:
    entries = [{"topic": topics.availability, "payload_available": ONLINE.decode(),
                "payload_not_available": OFFLINE.decode()}]
    if gateway_availability:
        entries.append({"topic": gateway_availability, "payload_available": ONLINE.decode(),
                        "payload_not_available": OFFLINE.decode()})
    return entries


def config_messages(prefix: str, device: DeviceInfo, sensor: DiscoveredSensor,
                    gateway_availability: str | None = None) -> list[tuple[str, bytes]]:
    """(topic, payload) of every entity of `sensor`."""
    out = []
    for quantity, unit in sensor.quantities:
        component, config = entity_config(device, sensor, quantity, unit, gateway_availability)
        topic = f"{prefix}/{component}/{device.node_id}/{sensor.name}_{quantity}/config"
        out.append((topic, json.dumps(config, ensure_ascii=False, separators=(",", ":")).encode()))
    return out


class Discovery:
    """Publishes the configs now and whenever Home Assistant comes online."""

    def __init__(self, client: LocalClient, device: DeviceInfo, sensors: Sequence[DiscoveredSensor],
                 *, prefix: str = "homeassistant", gateway_availability: str | None = None) -> None:
        self._client, self._device, self._sensors = client, device, tuple(sensors)
        self._prefix, self._gateway_availability = prefix, gateway_availability
        self.published = 0

    @property
    def status_topic(self) -> str:
        return f"{self._prefix}/status"

    async def start(self) -> None:
        await self.publish_all()
        await self._client.subscribe(self.status_topic, self._on_status, qos=1)

    async def stop(self) -> None:
        await self._client.unsubscribe(self.status_topic)

    async def publish_all(self) -> None:
        for sensor in self._sensors:
            for topic, payload in config_messages(self._prefix, self._device, sensor,
                                                  self._gateway_availability):
                await self._client.publish(topic, payload, qos=1, retain=True)
                self.published += 1
        log.info("home assistant discovery: published %d sensor(s) under %s",
                 len(self._sensors), self._prefix)

    async def _on_status(self, message: Message) -> None:
        if message.payload.strip().lower() == ONLINE:
            await self.publish_all()
