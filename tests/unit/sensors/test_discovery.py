import json

from pydantic import TypeAdapter

from gateway.sensors.config import HomeAssistantConfig, SensorList
from gateway.sensors.discovery import DeviceInfo, DiscoveredSensor, config_messages
from gateway.sensors.registry import Resources
from gateway.sensors.scheduler import SensorService
from gateway.sensors.topics import topics_for
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.fakes.ticked_gpio import TickedMockFactory

DEVICE = DeviceInfo("pi1", "Pi Edge Gateway pi1")


def sensor(name="kitchen", quantities=(("temperature", "°C"),), overrides=None):
    return DiscoveredSensor(name, "Kitchen", topics_for("edge", name), tuple(quantities), overrides or {})


def decoded(messages):
    return {topic: json.loads(payload) for topic, payload in messages}


def test_sensor_entity_config():
    (topic, config), = decoded(config_messages("homeassistant", DEVICE, sensor())).items()
    assert topic == "homeassistant/sensor/pi1/kitchen_temperature/config"
    assert config["unique_id"] == "pi1_kitchen_temperature"
    assert config["name"] == "Kitchen Temperature"
    assert config["state_topic"] == "edge/sensor/kitchen"
    assert config["value_template"] == "{{ value_json.temperature.value }}"
    assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
        "temperature", "measurement", "°C")
    assert config["availability"] == [{"topic": "edge/sensor/kitchen/availability",
                                       "payload_available": "online", "payload_not_available": "offline"}]
    assert config["device"]["identifiers"] == ["pi-edge-gateway_pi1"]


def test_gpio_states_are_binary_sensors_and_contact_on_means_open():
    messages = decoded(config_messages("ha", DEVICE, sensor("door", (("contact", ""),))))
    config = messages["ha/binary_sensor/pi1/door_contact/config"]
    assert config["device_class"] == "opening"
    assert config["value_template"] == "{{ 'OFF' if value_json.contact.value else 'ON' }}"
    assert "unit_of_measurement" not in config and "state_class" not in config
    pir = decoded(config_messages("ha", DEVICE, sensor("hall", (("motion", ""),))))
    assert pir["ha/binary_sensor/pi1/hall_motion/config"]["value_template"] == \
        "{{ 'ON' if value_json.motion.value else 'OFF' }}"


def test_device_class_override_and_removal_and_unknown_quantities():
    messages = decoded(config_messages("ha", DEVICE, sensor("meter", (
        ("total", "L"), ("rate", "L/min"), ("channel_0", "V"), ("fix", "")),
        {"total": "water", "channel_0": "none"})))
    assert messages["ha/sensor/pi1/meter_total/config"]["device_class"] == "water"
    assert messages["ha/sensor/pi1/meter_total/config"]["state_class"] == "total_increasing"
    assert "device_class" not in messages["ha/sensor/pi1/meter_channel_0/config"]
    assert messages["ha/sensor/pi1/meter_channel_0/config"]["state_class"] == "measurement"
    assert "state_class" not in messages["ha/sensor/pi1/meter_fix/config"]


def test_gateway_availability_is_added_with_mode_all():
    (config,) = decoded(config_messages("ha", DEVICE, sensor(), "edge/status")).values()
    assert [a["topic"] for a in config["availability"]] == ["edge/sensor/kitchen/availability", "edge/status"]
    assert config["availability_mode"] == "all"


async def test_published_retained_at_start_and_again_when_home_assistant_comes_online():
    bus, clock = MemoryBus(), FakeClock()
    raw = TypeAdapter(SensorList).validate_python([
        {"type": "simulated", "name": "climate", "quantities": ["temperature", "humidity"],
         "label": "Living room"},
        {"type": "gpio_input", "name": "door", "pin": 17}])
    service = SensorService.from_config(
        raw, bus.client("sensors"), base_topic="edge", clock=clock, node_id="pi1",
        homeassistant=HomeAssistantConfig(), resources=Resources(pin_factory=TickedMockFactory()))
    await service.start()
    topics = {"homeassistant/sensor/pi1/climate_temperature/config",
              "homeassistant/sensor/pi1/climate_humidity/config",
              "homeassistant/binary_sensor/pi1/door_contact/config"}
    assert topics <= set(bus.retained)
    assert json.loads(bus.retained["homeassistant/sensor/pi1/climate_humidity/config"].payload)["name"] \
        == "Living room Humidity"
    assert all(len(bus.published(t)) == 1 for t in topics)

    await bus.client("ha").publish("homeassistant/status", "offline")
    assert all(len(bus.published(t)) == 1 for t in topics)
    await bus.client("ha").publish("homeassistant/status", "online")
    assert all(len(bus.published(t)) == 2 for t in topics)
    await service.stop()
    await bus.client("ha").publish("homeassistant/status", "online")
    assert all(len(bus.published(t)) == 2 for t in topics)  # unsubscribed at stop


async def test_discovery_can_be_turned_off():
    bus = MemoryBus()
    raw = TypeAdapter(SensorList).validate_python([{"type": "simulated", "name": "x"}])
    service = SensorService.from_config(raw, bus.client("s"), base_topic="edge", clock=FakeClock(),
                                        homeassistant=HomeAssistantConfig(discovery=False))
    await service.start()
    await service.stop()
    assert not [t for t in bus.retained if t.startswith("homeassistant/")]
