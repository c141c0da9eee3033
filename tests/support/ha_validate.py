"""Run with the Python of an environment that has Home Assistant installed (`pip install
homeassistant`): reads a JSON list of [component, config] from stdin, validates each config with
that Home Assistant's own MQTT discovery schema (homeassistant.components.mqtt.<component>
.DISCOVERY_SCHEMA, voluptuous; for lights the schema its `schema` key selects), and prints a JSON
list of [problem or null, keys the schema dropped] — HA drops keys it does not know silently.
Used by tests/unit/test_discovery_real_ha.py; imports nothing of the gateway."""

import importlib
import json
import sys

import voluptuous as vol
from homeassistant.const import __version__


def schema_for(component, config):
    module = importlib.import_module(f"homeassistant.components.mqtt.{component}")
    if component == "light":
        return {
            "json": module.DISCOVERY_SCHEMA_JSON,
            "template": module.DISCOVERY_SCHEMA_TEMPLATE,
        }.get(config.get("schema", "basic"), module.DISCOVERY_SCHEMA_BASIC)
    return module.DISCOVERY_SCHEMA


def main():
    results = []
    for component, config in json.load(sys.stdin):
        try:
            validated = schema_for(component, config)(dict(config))
        except vol.Invalid as exc:
            results.append([str(exc), []])
            continue
        results.append([None, sorted(set(config) - set(validated))])
    json.dump({"version": __version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
