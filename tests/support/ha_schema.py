"""Home Assistant's MQTT discovery schema for the components the gateway announces, written from
HA's MQTT integration documentation and its voluptuous schemas (homeassistant/components/mqtt:
schemas.py MQTT_ENTITY_COMMON_SCHEMA and MQTT_AVAILABILITY_SCHEMA, sensor.py, binary_sensor.py,
switch.py, light/schema_basic.py and schema_json.py, fan.py; sensor/const.py for the units and
state classes allowed with each device class; HA 2025.10 for `default_entity_id`).

`check(component, config)` returns the list of problems (empty: valid). Unknown keys are problems
here although HA drops them silently: a key HA does not know is one our code thinks does something.
Templates are compiled with jinja2, HA's template engine; tests render them against real payloads.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

COMMON = {
    "name",
    "unique_id",
    "default_entity_id",
    "availability",
    "availability_mode",
    "availability_topic",
    "availability_template",
    "payload_available",
    "payload_not_available",
    "device",
    "origin",
    "entity_category",
    "icon",
    "enabled_by_default",
    "entity_picture",
    "json_attributes_topic",
    "json_attributes_template",
    "qos",
    "encoding",
}
DEPRECATED = {"object_id": "deprecated since HA 2025.10 (removed 2026.4): use default_entity_id"}

COMPONENT_KEYS: dict[str, set[str]] = {
    "sensor": {
        "state_topic",
        "value_template",
        "device_class",
        "state_class",
        "unit_of_measurement",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "options",
        "suggested_display_precision",
    },
    "binary_sensor": {
        "state_topic",
        "value_template",
        "device_class",
        "payload_on",
        "payload_off",
        "expire_after",
        "force_update",
        "off_delay",
    },
    "switch": {
        "command_topic",
        "state_topic",
        "value_template",
        "payload_on",
        "payload_off",
        "state_on",
        "state_off",
        "optimistic",
        "retain",
        "device_class",
        "command_template",
    },
    "number": {
        "command_topic",
        "command_template",
        "state_topic",
        "value_template",
        "min",
        "max",
        "step",
        "mode",
        "unit_of_measurement",
        "device_class",
        "optimistic",
        "retain",
        "payload_reset",
    },
    "light": {
        "schema",
        "command_topic",
        "state_topic",
        "payload_on",
        "payload_off",
        "state_value_template",
        "optimistic",
        "retain",
        "brightness_command_topic",
        "brightness_state_topic",
        "brightness_scale",
        "brightness_value_template",
        "brightness_command_template",
        "on_command_type",
    },
    "light_json": {
        "schema",
        "command_topic",
        "state_topic",
        "brightness",
        "brightness_scale",
        "supported_color_modes",
        "optimistic",
        "retain",
        "effect",
        "effect_list",
        "flash",
        "flash_time_long",
        "flash_time_short",
        "transition",
    },
    "fan": {
        "command_topic",
        "command_template",
        "state_topic",
        "state_value_template",
        "payload_on",
        "payload_off",
        "optimistic",
        "retain",
        "percentage_command_topic",
        "percentage_command_template",
        "percentage_state_topic",
        "percentage_value_template",
        "speed_range_min",
        "speed_range_max",
        "payload_reset_percentage",
    },
}
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "switch": {"command_topic"},
    "number": {"command_topic"},
    "light": {"command_topic"},
    "light_json": {"command_topic"},
    "fan": {"command_topic"},
}

SENSOR_CLASSES = {
    "apparent_power",
    "aqi",
    "atmospheric_pressure",
    "battery",
    "carbon_dioxide",
    "carbon_monoxide",
    "current",
    "data_rate",
    "data_size",
    "date",
    "distance",
    "duration",
    "energy",
    "energy_storage",
    "enum",
    "frequency",
    "gas",
    "humidity",
    "illuminance",
    "irradiance",
    "moisture",
    "monetary",
    "nitrogen_dioxide",
    "nitrogen_monoxide",
    "nitrous_oxide",
    "ozone",
    "ph",
    "pm1",
    "pm10",
    "pm25",
    "power",
    "power_factor",
    "precipitation",
    "precipitation_intensity",
    "pressure",
    "reactive_power",
    "signal_strength",
    "sound_pressure",
    "speed",
    "sulphur_dioxide",
    "temperature",
    "timestamp",
    "volatile_organic_compounds",
    "volatile_organic_compounds_parts",
    "voltage",
    "volume",
    "volume_flow_rate",
    "volume_storage",
    "water",
    "weight",
    "wind_direction",
    "wind_speed",
}
BINARY_CLASSES = {
    "battery",
    "battery_charging",
    "carbon_monoxide",
    "cold",
    "connectivity",
    "door",
    "garage_door",
    "gas",
    "heat",
    "light",
    "lock",
    "moisture",
    "motion",
    "moving",
    "occupancy",
    "opening",
    "plug",
    "power",
    "presence",
    "problem",
    "running",
    "safety",
    "smoke",
    "sound",
    "tamper",
    "update",
    "vibration",
    "window",
}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
COLOR_MODES = {"onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"}

#: sensor/const.py DEVICE_CLASS_UNITS for the classes the gateway can send
UNITS = {
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "atmospheric_pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"},
    "illuminance": {"lx"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "energy": {"Wh", "kWh", "MWh", "GWh", "TWh", "MJ", "GJ"},
    "water": {"L", "m³", "ft³", "gal", "CCF"},
    "gas": {"m³", "ft³", "CCF"},
    "volume": {"L", "mL", "m³", "ft³", "gal", "CCF", "fl. oz."},
    "volume_flow_rate": {"m³/h", "ft³/min", "L/min", "gal/min", "mL/s"},
    "pm1": {"µg/m³"},
    "pm25": {"µg/m³"},
    "pm10": {"µg/m³"},
    "carbon_dioxide": {"ppm"},
    "volatile_organic_compounds_parts": {"ppm", "ppb"},
    "weight": {"kg", "g", "mg", "µg", "oz", "lb", "st"},
    "speed": {"ft/s", "in/d", "in/h", "km/h", "kn", "m/s", "mph", "mm/d", "mm/s"},
    "distance": {"km", "m", "cm", "mm", "mi", "yd", "in", "ft"},
    "duration": {"d", "h", "min", "s", "ms"},
    "enum": set(),
    "timestamp": set(),
}
#: sensor/const.py DEVICE_CLASS_STATE_CLASSES for the classes the gateway can send
STATE_CLASSES_OF = {
    "energy": {"total", "total_increasing"},
    "water": {"total", "total_increasing"},
    "gas": {"total", "total_increasing"},
    "volume": {"total", "total_increasing"},
    "duration": {"measurement", "total", "total_increasing"},
    "enum": set(),
    "timestamp": set(),
}
_SLUG = re.compile(r"[a-z0-9_]+")
_TEMPLATES = jinja2.Environment()


def check(component: str, config: dict[str, Any]) -> list[str]:
    kind = "light_json" if component == "light" and config.get("schema") == "json" else component
    if kind not in COMPONENT_KEYS:
        return [f"component {component!r} not covered"]
    problems = [f"{k}: {why}" for k, why in DEPRECATED.items() if k in config]
    allowed = COMMON | COMPONENT_KEYS[kind]
    problems += [f"unknown key {k!r}" for k in config if k not in allowed and k not in DEPRECATED]
    problems += [f"missing {k!r}" for k in REQUIRED[kind] if k not in config]
    problems += _common(component, config)
    problems += _templates(config)
    problems += _topics(config)
    if component == "sensor":
        problems += _sensor(config)
    elif component == "binary_sensor" and config.get("device_class") not in (None, *BINARY_CLASSES):
        problems.append(f"binary_sensor device_class {config['device_class']!r}")
    elif kind == "light_json":
        modes = config.get("supported_color_modes", [])
        if not set(modes) <= COLOR_MODES or len(set(modes)) != len(modes):
            problems.append(f"supported_color_modes {modes!r}")
        if (
            not isinstance(config.get("brightness_scale", 255), int)
            or config.get("brightness_scale", 255) < 1
        ):
            problems.append("brightness_scale must be an integer >= 1")
    return problems


def _common(component: str, config: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(config.get("name"), str) or not config.get("name"):
        problems.append("name must be a non-empty string")
    entity_id = config.get("default_entity_id")
    if entity_id is not None:
        domain, _, slug = str(entity_id).partition(".")
        if domain != component or not _SLUG.fullmatch(slug):
            problems.append(f"default_entity_id {entity_id!r} is not {component}.<lower-case slug>")
    availability = config.get("availability")
    if availability is not None:
        if "availability_topic" in config:
            problems.append("availability and availability_topic are mutually exclusive")
        if not isinstance(availability, list) or not availability:
            problems.append("availability must be a non-empty list")
        else:
            for entry in availability:
                if (
                    not isinstance(entry, dict)
                    or "topic" not in entry
                    or set(entry)
                    - {"topic", "payload_available", "payload_not_available", "value_template"}
                ):
                    problems.append(f"availability entry {entry!r}")
    if config.get("availability_mode", "latest") not in ("all", "any", "latest"):
        problems.append(f"availability_mode {config['availability_mode']!r}")
    device = config.get("device")
    if device is not None:
        if not (device.get("identifiers") or device.get("connections")):
            problems.append("device needs identifiers or connections")
        unknown = set(device) - {
            "identifiers",
            "connections",
            "name",
            "model",
            "model_id",
            "manufacturer",
            "sw_version",
            "hw_version",
            "serial_number",
            "suggested_area",
            "via_device",
            "configuration_url",
        }
        problems += [f"unknown device key {k!r}" for k in sorted(unknown)]
    origin = config.get("origin")
    if origin is not None and (
        not origin.get("name") or set(origin) - {"name", "sw_version", "support_url"}
    ):
        problems.append(f"origin {origin!r}")
    category = config.get("entity_category")
    if category is not None and (
        category not in ("config", "diagnostic")
        or (category == "config" and component in ("sensor", "binary_sensor"))
    ):
        problems.append(f"entity_category {category!r} for a {component}")
    if config.get("qos", 0) not in (0, 1, 2):
        problems.append(f"qos {config['qos']!r}")
    if "expire_after" in config and (
        not isinstance(config["expire_after"], int) or config["expire_after"] <= 0
    ):
        problems.append("expire_after must be a positive integer")
    if "icon" in config and not re.fullmatch(r"[a-z]+:[a-z0-9-]+", config["icon"]):
        problems.append(f"icon {config['icon']!r}")
    return problems


def _sensor(config: dict[str, Any]) -> list[str]:
    problems = []
    device_class, unit = config.get("device_class"), config.get("unit_of_measurement")
    state_class = config.get("state_class")
    if device_class is not None and device_class not in SENSOR_CLASSES:
        problems.append(f"sensor device_class {device_class!r}")
    if state_class is not None and state_class not in STATE_CLASSES:
        problems.append(f"state_class {state_class!r}")
    if unit == "":
        problems.append("unit_of_measurement must not be empty")
    if device_class in UNITS and unit is not None and unit not in UNITS[device_class]:
        problems.append(f"unit {unit!r} is not valid with device class {device_class!r}")
    if (
        device_class in STATE_CLASSES_OF
        and state_class is not None
        and state_class not in STATE_CLASSES_OF[device_class]
    ):
        problems.append(
            f"state_class {state_class!r} is not valid with device class {device_class!r}"
        )
    if "options" in config:
        if device_class != "enum" or not config["options"] or unit is not None:
            problems.append("options need device_class enum and no unit")
    elif device_class == "enum":
        problems.append("device_class enum needs options")
    return problems


def _templates(config: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in config.items():
        if key.endswith("_template"):
            try:
                _TEMPLATES.from_string(value)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(f"{key}: {exc}")
    return problems


def _topics(config: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in config.items():
        if key.endswith("_topic") and (
            not isinstance(value, str)
            or not value
            or (("#" in value or "+" in value) and key.endswith("command_topic"))
        ):
            problems.append(f"{key} {value!r}")
    return problems


def render(template: str, payload: str | bytes) -> str:
    """What HA's value template makes of `payload` (value and value_json, as HA passes them)."""
    import json

    text = payload.decode() if isinstance(payload, bytes) else payload
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    return _TEMPLATES.from_string(template).render(value=text, value_json=value_json).strip()
