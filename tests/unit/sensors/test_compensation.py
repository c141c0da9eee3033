"""A gas sensor takes temperature and humidity from the sensor named in compensation_sensor."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from drivers.base import Driver, Reading
from gateway.sensors.config import SensorList
from gateway.sensors.registry import BuiltSensor, SensorSetupError, compensation_problems
from gateway.sensors.scheduler import SensorService
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.unit.sensors.test_scheduler import settled_for


class Climate(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def read(self):
        return [Reading("temperature", 27.5, "°C"), Reading("humidity", 61.0, "%")]


class Gas(Driver):
    """Records the compensation it is given; reports nothing until it has some (a warm-up)."""

    quantities = (("voc_index", ""),)

    def __init__(self):
        self.given = []

    def compensate(self, temperature, humidity):
        self.given.append((temperature, humidity))

    def read(self):
        return [Reading("voc_index", 100)] if self.given else []


def configs(*raw):
    return TypeAdapter(SensorList).validate_python(raw)


async def test_readings_of_the_source_reach_the_gas_sensor_and_warm_up_publishes_nothing():
    clock, bus = FakeClock(), MemoryBus()
    climate_cfg, gas_cfg = configs(
        {
            "type": "simulated",
            "name": "room",
            "interval": 10,
            "quantities": ["temperature", "humidity"],
        },
        {"type": "sgp40", "name": "voc", "compensation_sensor": "room"},
    )
    climate, gas = Climate(), Gas()
    service = SensorService(
        [BuiltSensor(gas_cfg, gas), BuiltSensor(climate_cfg, climate)],
        bus.client("s"),
        base_topic="edge",
        clock=clock,
    )
    await service.start()
    await clock.advance_to(5, settled_for(clock, {"voc": gas, "room": climate}))
    assert gas.given[0] == (27.5, 61.0)
    # the gas sensor's first read (before the climate's) reported nothing: online, nothing published
    assert bus.published("edge/sensor/voc/availability") == [b"online"]
    assert b'"voc_index"' in bus.published("edge/sensor/voc")[0]
    await service.stop()


def test_source_must_exist_and_report_temperature_and_humidity():
    a, b, c = configs(
        {"type": "sgp40", "name": "voc", "compensation_sensor": "nowhere"},
        {"type": "simulated", "name": "t", "quantities": ["temperature"]},
        {"type": "sgp30", "name": "eco2", "compensation_sensor": "t"},
    )
    problems = compensation_problems(
        [BuiltSensor(a, Gas()), BuiltSensor(b, Climate()), BuiltSensor(c, Gas())]
    )
    assert [str(p) for p in problems] == [
        "sensor 'voc' (type sgp40): compensation_sensor 'nowhere' is not another configured sensor"
    ]
    only_t = Climate()
    only_t.quantities = (("temperature", "°C"),)
    with pytest.raises(SensorSetupError, match="not temperature and humidity"):
        SensorService(
            [BuiltSensor(b, only_t), BuiltSensor(c, Gas())],
            MemoryBus().client("s"),
            base_topic="edge",
            clock=FakeClock(),
        )
