"""Every discovery payload the gateway can send, validated by a real Home Assistant's own MQTT
discovery schemas (opt-in: HA is about 400 MB installed).

    python3 -m venv /tmp/ha && /tmp/ha/bin/pip install homeassistant    # ~5 min, ~400 MB
    GATEWAY_HA_PYTHON=/tmp/ha/bin/python pytest tests/unit/test_discovery_real_ha.py

The validation runs in that environment (tests/support/ha_validate.py) in about 1.5 s. pip gives
Python 3.11 HA 2024.3.3 (later releases need Python 3.12+); the two things that version does not
know yet are listed in KNOWN_NEWER and accepted only for versions before they appeared.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from drivers.i2c.scd4x import SCD4x
from drivers.simulated import PROFILES
from gateway.discovery import DiscoveredSensor, diagnostic_entities, sensor_entities
from gateway.sensors.commands import supported
from gateway.sensors.topics import topics_for
from tests.unit.test_discovery import DEVICE, DRIVER_QUANTITIES, STATUS, relay, sensor

HA_PYTHON = os.environ.get("GATEWAY_HA_PYTHON")
pytestmark = pytest.mark.opt_in("GATEWAY_HA_PYTHON")  # a Python with homeassistant installed
VALIDATE = Path(__file__).parents[1] / "support" / "ha_validate.py"

#: what HA added after 2024.3 that our payloads use: (key or error, first HA version that knows it)
KNOWN_NEWER = {
    "default_entity_id": (2025, 10),  # replaces object_id (deprecated 2025.10, removed 2026.4)
    "some but not all values in the same group of inclusion 'color_mode'": (2024, 4),
    # from 2024.4 a JSON light's supported_color_modes no longer needs the `color_mode` flag
    # (which 2025.3 refuses)
}


def entities():
    quantities = DRIVER_QUANTITIES + [(q, PROFILES[q].unit) for q in PROFILES]
    found = sensor_entities(DEVICE, sensor("s", quantities), STATUS)
    co2 = DiscoveredSensor(  # the number and switch of a CO2 sensor's commands
        "co2", "CO2", topics_for("edge", "co2"), (("co2", "ppm"),), {}, supported(SCD4x(None))
    )
    found += sensor_entities(DEVICE, co2, STATUS)
    found += [
        relay(name="pump", pin=17)[1],
        relay(name="fan", kind="pwm", pin=12, ha_component="fan")[1],
        relay(name="lamp", kind="pwm", pin=13, ha_component="light")[1],
        relay(name="porch", pin=22, ha_component="light")[1],
        relay(name="sw", kind="pwm", pin=14)[1],
        relay(name="blower", pin=15, ha_component="fan")[1],
    ]
    return found + diagnostic_entities(DEVICE, "edge/gateway/diagnostics", ["cloud"], True, STATUS)


def older_than(version: str, first: tuple[int, int]) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) < first


def test_every_payload_passes_home_assistants_own_schema():
    found = entities()
    result = subprocess.run(
        [HA_PYTHON, str(VALIDATE)],
        input=json.dumps([[e.component, e.config] for e in found]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(result.stdout)
    version = answer["version"]
    problems = []
    for entity, (error, dropped) in zip(found, answer["results"], strict=True):
        tolerated = {k for k, first in KNOWN_NEWER.items() if older_than(version, first)}
        if error is not None and not any(error.startswith(t) for t in tolerated):
            problems.append(f"{entity.component} {entity.object_id}: {error}")
        unknown = set(dropped) - tolerated
        if unknown:
            problems.append(
                f"{entity.component} {entity.object_id}: HA {version} drops {sorted(unknown)}"
            )
    assert problems == [], f"Home Assistant {version}: {problems}"
