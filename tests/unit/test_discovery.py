"""Home Assistant discovery payloads (gateway.discovery), each checked against HA's discovery
schema (tests/support/ha_schema.py) and its templates rendered against the payloads the gateway
really publishes."""

import json
from pathlib import Path

import pytest

from drivers.simulated import PROFILES
from gateway.diagnostics import BridgeLink, Diagnostics, read_cpu_temperature
from gateway.discovery import (
    DeviceInfo,
    DiscoveredSensor,
    Discovery,
    diagnostic_entities,
    human,
    relay_entity,
    sensor_entities,
)
from gateway.relays.config import OutputConfig
from gateway.relays.controller import state_payload
from gateway.relays.topics import Topics
from gateway.sensors.payloads import state_payload as sensor_payload
from gateway.sensors.topics import topics_for
from tests.fakes.local_bus import MemoryBus
from tests.support import ha_schema

DEVICE = DeviceInfo("pi1", "Pi Edge Gateway pi1")
STATUS = "edge/status"


def sensor(name="kitchen", quantities=(("temperature", "°C"),), overrides=None, label="Kitchen"):
    return DiscoveredSensor(
        name, label, topics_for("edge", name), tuple(quantities), overrides or {}
    )


def by_id(entities):
    return {e.object_id: e for e in entities}


def valid(entity):
    problems = ha_schema.check(entity.component, entity.config)
    assert problems == [], f"{entity.component} {entity.object_id}: {problems}"
    return entity.config


def test_sensor_entity_config():
    (entity,) = sensor_entities(DEVICE, sensor(), STATUS)
    config = valid(entity)
    assert (
        entity.topic("homeassistant", "pi1")
        == "homeassistant/sensor/pi1/kitchen_temperature/config"
    )
    assert config["unique_id"] == "pi1_kitchen_temperature"
    assert (
        config["default_entity_id"] == "sensor.pi1_kitchen_temperature"
        and "object_id" not in config
    )
    assert config["name"] == "Kitchen Temperature"
    assert config["state_topic"] == "edge/sensor/kitchen"
    assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
        "temperature",
        "measurement",
        "°C",
    )
    assert [a["topic"] for a in config["availability"]] == [
        "edge/sensor/kitchen/availability",
        STATUS,
    ]
    assert config["availability_mode"] == "all"
    assert config["device"]["identifiers"] == ["pi-edge-gateway_pi1"]
    assert config["origin"]["name"] == "Pi Edge Gateway" and config["origin"]["sw_version"]
    assert config["device"]["sw_version"] == config["origin"]["sw_version"]


def test_names_read_as_people_write_them():
    entities = by_id(
        sensor_entities(
            DEVICE,
            sensor(
                "air",
                (("pm2_5", "µg/m³"), ("co2", "ppm"), ("pm1_0_standard", "µg/m³")),
                label="Air",
            ),
        )
    )
    assert entities["air_pm2_5"].config["name"] == "Air PM2.5"
    assert entities["air_co2"].config["name"] == "Air CO2"
    assert entities["air_pm1_0_standard"].config["name"] == "Air PM1.0 (standard)"
    assert human("shunt_voltage") == "Shunt voltage"
    assert human("voltage_a0_a1") == "Voltage A0 A1"
    assert human("living_room") == "Living room"
    assert human("fix_quality") == "Fix quality"


def test_a_sensor_reading_renders_through_its_value_template():
    from drivers.base import Reading

    entities = by_id(sensor_entities(DEVICE, sensor("air", (("pm2_5", "µg/m³"), ("co2", "ppm")))))
    payload = sensor_payload([Reading("pm2_5", 7, "µg/m³"), Reading("co2", 612, "ppm")], 1.7e9)
    assert ha_schema.render(entities["air_pm2_5"].config["value_template"], payload) == "7"
    assert ha_schema.render(entities["air_co2"].config["value_template"], payload) == "612"


def test_gpio_states_are_binary_sensors_and_contact_on_means_open():
    (door,) = sensor_entities(DEVICE, sensor("door", (("contact", ""),)))
    config = valid(door)
    assert door.component == "binary_sensor" and config["device_class"] == "opening"
    assert config["default_entity_id"] == "binary_sensor.pi1_door_contact"
    assert (
        ha_schema.render(config["value_template"], '{"contact":{"value":true}}') == "OFF"
    )  # closed
    assert ha_schema.render(config["value_template"], '{"contact":{"value":false}}') == "ON"
    assert "unit_of_measurement" not in config and "state_class" not in config


def test_device_class_override_removal_unknown_quantities_and_units_ha_would_refuse():
    entities = by_id(
        sensor_entities(
            DEVICE,
            sensor(
                "meter",
                (
                    ("total", "L"),
                    ("rate", "L/min"),
                    ("channel_0", "V"),
                    ("fix", ""),
                    ("temperature", "raw"),
                ),
                {"total": "water", "channel_0": "none"},
            ),
        )
    )
    for entity in entities.values():
        valid(entity)
    assert entities["meter_total"].config["device_class"] == "water"
    assert entities["meter_total"].config["state_class"] == "total_increasing"
    assert "device_class" not in entities["meter_channel_0"].config
    assert entities["meter_channel_0"].config["state_class"] == "measurement"
    assert "state_class" not in entities["meter_fix"].config
    # HA refuses "temperature" with a unit it does not know: the entity comes without the class
    assert "device_class" not in entities["meter_temperature"].config


@pytest.mark.parametrize("quantity", sorted(PROFILES))
def test_every_simulated_quantity_is_valid(quantity):
    for entity in sensor_entities(
        DEVICE, sensor("s", ((quantity, PROFILES[quantity].unit),)), STATUS
    ):
        valid(entity)


DRIVER_QUANTITIES = [  # what the drivers announce (their `quantities`), units as they give them
    ("voltage", "V"),
    ("current", "A"),
    ("power", "W"),
    ("shunt_voltage", "V"),
    ("pressure", "hPa"),
    ("illuminance", "lx"),
    ("pm1_0_standard", "µg/m³"),
    ("speed", "km/h"),
    ("altitude", "m"),
    ("latitude", "°"),
    ("longitude", "°"),
    ("course", "°"),
    ("satellites", ""),
    ("hdop", ""),
    ("fix_quality", ""),
    ("count", ""),
    ("total", "m³"),
    ("rate", "/s"),
    ("voltage_a0", "V"),
    ("energy", "kWh"),
    ("gas", "m³"),
    ("flow", "L/min"),
]


def test_every_driver_quantity_is_valid():
    for entity in sensor_entities(DEVICE, sensor("s", DRIVER_QUANTITIES), STATUS):
        valid(entity)


def test_every_configured_driver_type_is_valid_in_home_assistant():
    """Every driver the documented sensor list builds: each quantity's entity passes the schema."""
    import tomllib

    from pydantic import TypeAdapter

    from gateway.sensors.config import SensorList
    from gateway.sensors.registry import Resources, build_sensors
    from tests.fakes.ticked_gpio import TickedMockFactory

    data = Path(__file__).parent / "sensors" / "data" / "gateway_sensors.toml"
    configs = TypeAdapter(SensorList).validate_python(tomllib.loads(data.read_text())["sensors"])
    resources = Resources(pin_factory=TickedMockFactory())
    classes = {}
    for built in build_sensors(configs, resources):
        for entity in sensor_entities(
            DEVICE, sensor(built.config.name, built.driver.quantities), STATUS
        ):
            valid(entity)
            classes[entity.object_id] = entity.config.get("device_class")
    resources.close()
    assert classes["eco2_eco2"] == "carbon_dioxide"
    assert classes["eco2_tvoc"] == "volatile_organic_compounds_parts"
    assert classes["scale_weight"] == "weight" and classes["level_distance"] == "distance"
    assert classes["kiln_internal_temperature"] == "temperature"


def relay(**kw):
    cfg = OutputConfig(**kw)
    return cfg, relay_entity(DEVICE, cfg, Topics.of("edge", cfg.name), STATUS)


def test_relay_switch_on_the_same_device_with_the_gateway_availability():
    cfg, entity = relay(name="pump", pin=17, title="Cellar pump")
    config = valid(entity)
    assert entity.topic("ha", "pi1") == "ha/switch/pi1/relay_pump/config"
    assert config["name"] == "Cellar pump" and config["unique_id"] == "pi1_relay_pump"
    assert config["device"] == DEVICE.block()
    assert (
        config["command_topic"] == "edge/relay/pump/set"
        and config["state_topic"] == "edge/relay/pump"
    )
    assert [a["topic"] for a in config["availability"]] == ["edge/relay/pump/availability", STATUS]
    assert config["availability_mode"] == "all"
    assert config["state_on"] == state_payload(cfg, 1.0) and config["state_off"] == state_payload(
        cfg, 0.0
    )


def test_pwm_fan_percentage_reaches_home_assistant_as_an_integer():
    cfg, entity = relay(name="fan", kind="pwm", pin=12, ha_component="fan")
    config = valid(entity)
    assert config["name"] == "Fan"
    for level, percent in ((0.4, "40"), (0.333, "33"), (1.0, "100"), (0.0, "0")):
        state = state_payload(cfg, level)
        assert ha_schema.render(config["percentage_value_template"], state) == percent
    assert ha_schema.render(config["state_value_template"], state_payload(cfg, 0.4)) == "ON"
    command = ha_schema.render(config["percentage_command_template"], "40")
    assert json.loads(command) == {"brightness": 40}
    assert config["percentage_command_topic"] == "edge/relay/fan/set"


def test_pwm_light_and_plain_light_and_none():
    _, dimmer = relay(name="lamp", kind="pwm", pin=13, ha_component="light")
    config = valid(dimmer)
    assert config["schema"] == "json" and config["brightness_scale"] == 100
    _, plain = relay(name="porch", pin=22, ha_component="light")
    assert valid(plain)["payload_on"] == "ON"
    assert relay(name="hidden", pin=23, ha_component="none")[1] is None


def test_diagnostic_entities_read_the_diagnostics_payload():
    entities = by_id(
        diagnostic_entities(
            DEVICE,
            "edge/gateway/diagnostics",
            ["cloud"],
            cpu_temperature=True,
            gateway_availability=STATUS,
        )
    )
    payload = Diagnostics(
        clients=3,
        queued=12,
        uptime=4000,
        store="ok",
        cpu_temperature=48.3,
        bridges={"cloud": BridgeLink(False, 12)},
        clock_synchronized=False,
    ).payload()
    expected = {
        "gateway_clients": "3",
        "gateway_queued": "12",
        "gateway_store": "ok",
        "gateway_uptime": "4000",
        "gateway_cpu_temperature": "48.3",
        "bridge_cloud_connected": "OFF",
        "bridge_cloud_queued": "12",
        "gateway_clock_synchronized": "OFF",
    }
    assert set(entities) == set(expected)
    for object_id, value in expected.items():
        config = valid(entities[object_id])
        assert config["entity_category"] == "diagnostic"
        assert config["availability"] == [
            {"topic": STATUS, "payload_available": "online", "payload_not_available": "offline"}
        ]
        assert config["device"]["identifiers"] == ["pi-edge-gateway_pi1"]
        assert ha_schema.render(config["value_template"], payload) == value, object_id
    assert entities["bridge_cloud_connected"].config["device_class"] == "connectivity"


def test_no_cpu_temperature_entity_where_the_board_has_no_thermal_zone(tmp_path: Path):
    names = {e.object_id for e in diagnostic_entities(DEVICE, "t", (), cpu_temperature=False)}
    assert "gateway_cpu_temperature" not in names and "gateway_uptime" in names
    assert read_cpu_temperature(tmp_path / "absent") is None
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert read_cpu_temperature(zone) == 48.3
    assert b"cpu_temperature" not in Diagnostics(0, 0, 0, "off").payload()


@pytest.mark.parametrize(
    "bad, problem",
    [
        ({"object_id": "x"}, "object_id"),
        ({"unit_of_measurement": "raw"}, "not valid with device class"),
        ({"bogus": 1}, "unknown key"),
        ({"value_template": "{{ value_json.x "}, "value_template"),
        ({"availability_mode": "most"}, "availability_mode"),
        ({"default_entity_id": "switch.pi1_x"}, "default_entity_id"),
        (
            {"state_class": "measurement", "device_class": "energy", "unit_of_measurement": "kWh"},
            "state_class",
        ),
    ],
)
def test_the_schema_check_finds_what_home_assistant_refuses(bad, problem):
    """Positive controls: the checker the other tests rely on does fail."""
    (entity,) = sensor_entities(DEVICE, sensor())
    problems = ha_schema.check("sensor", {**entity.config, **bad})
    assert any(problem in p for p in problems), problems


async def test_discovery_publishes_retained_at_start_and_again_when_home_assistant_comes_online():
    bus = MemoryBus()
    births = []

    async def on_birth():
        births.append(1)

    entities = [
        *sensor_entities(DEVICE, sensor("climate", (("temperature", "°C"), ("humidity", "%")))),
        relay(name="pump", pin=17)[1],
    ]
    discovery = Discovery(bus.client("discovery"), DEVICE, entities, prefix="ha", on_birth=on_birth)
    await discovery.start()
    topics = {
        "ha/sensor/pi1/climate_temperature/config",
        "ha/sensor/pi1/climate_humidity/config",
        "ha/switch/pi1/relay_pump/config",
    }
    assert set(bus.retained) == topics
    assert all(len(bus.published(t)) == 1 for t in topics)
    await bus.client("ha").publish("ha/status", "offline")
    assert all(len(bus.published(t)) == 1 for t in topics) and not births
    await bus.client("ha").publish("ha/status", "online")
    assert all(len(bus.published(t)) == 2 for t in topics) and births == [1]
    await discovery.stop()
    await bus.client("ha").publish("ha/status", "online")
    assert all(len(bus.published(t)) == 2 for t in topics)  # unsubscribed at stop


async def test_diagnostics_are_published_on_a_change_and_on_the_heartbeat_only():
    from types import SimpleNamespace

    from gateway.diagnostics import DiagnosticsPublisher

    now = [100.0]
    stats = SimpleNamespace(clients_connected=1, started_at=0.0)
    gateway = SimpleNamespace(
        broker=SimpleNamespace(
            core=SimpleNamespace(stats=stats, sessions={}), clock=lambda: now[0]
        ),
        store=None,
        services=[],
    )
    bus = MemoryBus()
    publisher = DiagnosticsPublisher(
        gateway, bus.client("diagnostics"), "edge/gateway/diagnostics", thermal=None, heartbeat=60
    )
    await publisher.publish()
    assert json.loads(bus.published("edge/gateway/diagnostics")[-1]) == {
        "clients": 1,
        "queued": 0,
        "uptime": 100,
        "store": "off",
        "bridges": {},
        "clock_synchronized": True,
    }
    now[0] = 130.0  # only the uptime moved: not yet
    assert not publisher.due(publisher.collect(), now[0])
    stats.clients_connected = 2  # a client came: at once
    assert publisher.due(publisher.collect(), now[0])
    await publisher.publish(publisher.collect())
    now[0] = 189.0
    assert not publisher.due(publisher.collect(), now[0])
    now[0] = 190.0  # the heartbeat
    assert publisher.due(publisher.collect(), now[0])
