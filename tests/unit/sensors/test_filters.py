"""Filter chains: each filter against its definition, chains in order, and the scheduler using them."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from drivers.base import Driver, InvalidReading, Reading
from gateway.sensors.config import SensorList
from gateway.sensors.filters import (
    DROP,
    FilterError,
    SensorFilters,
    build_chain,
    convert,
    interpolate,
)
from gateway.sensors.registry import BuiltSensor, Resources, SensorSetupError, build_sensor
from gateway.sensors.scheduler import SensorService
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.fakes.ticked_gpio import TickedMockFactory
from tests.unit.sensors.test_scheduler import settled_for


def run(chain, values, start=0.0, step=1.0):
    return [chain.apply(v, start + i * step) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    "value,src,dst,expected",
    [
        (0, "°C", "°F", 32),
        (100, "°C", "°F", 212),
        (-40, "°C", "°F", -40),
        (0, "°C", "K", 273.15),
        (1013.25, "hPa", "inHg", 29.921),
        (1013.25, "hPa", "mmHg", 760.0),
        (1, "in", "mm", 25.4),
        (1, "lb", "g", 453.59237),
        (36, "km/h", "m/s", 10),
    ],
)
def test_unit_conversions(value, src, dst, expected):
    assert convert(value, src, dst) == pytest.approx(expected, abs=0.001)


def test_conversion_across_dimensions_is_refused():
    with pytest.raises(FilterError, match="cannot convert hPa"):
        build_chain("pressure", "hPa", [{"unit": "°F"}])


def test_offset_multiply_and_order_matter():
    assert run(build_chain("t", "°C", [{"offset": 1}, {"multiply": 2}]), [10]) == [22]
    assert run(build_chain("t", "°C", [{"multiply": 2}, {"offset": 1}]), [10]) == [21]


def test_two_point_calibration_maps_its_points_and_is_linear_beyond():
    chain = build_chain("t", "°C", [{"calibrate": [[0.5, 0.0], [99.0, 100.0]]}])
    assert run(chain, [0.5, 99.0]) == [0.0, 100.0]
    assert chain.apply(-9.35, 0) == pytest.approx(-10.0)  # extended, not clamped


def test_lookup_interpolates_between_points():
    points = [(0.0, 0.0), (1.0, 10.0), (3.0, 20.0)]
    assert [interpolate(points, x) for x in (0.5, 2.0, 3.0, 4.0)] == [5.0, 15.0, 20.0, 25.0]


def test_moving_average_median_and_exponential():
    assert run(build_chain("q", "", [{"average": 3}]), [3, 6, 9, 12]) == [3, 4.5, 6, 9]
    assert run(build_chain("q", "", [{"median": 3}]), [1, 100, 2, 3]) == [1, 50.5, 2, 3]
    assert run(build_chain("q", "", [{"exponential": 0.5}]), [10, 20, 20]) == [10, 15, 17.5]


def test_delta_and_throttle_drop_values():
    assert run(build_chain("q", "", [{"delta": 1.0}]), [10, 10.5, 11.2, 11.0]) == [
        10,
        DROP,
        11.2,
        DROP,
    ]
    assert run(build_chain("q", "", [{"throttle": 10}]), [1, 2, 3, 4], step=4) == [1, DROP, DROP, 4]


def test_plausible_fails_the_read_in_the_unit_it_follows():
    chain = build_chain("t", "°C", [{"unit": "°F"}, {"plausible": [-40, 140]}])
    assert chain.unit == "°F" and chain.apply(20, 0) == pytest.approx(68)
    with pytest.raises(InvalidReading, match=r"plausible -40\.\.140"):
        chain.apply(61, 0)  # 141.8 °F


@pytest.mark.parametrize(
    "spec,problem",
    [
        ({"smooth": 3}, "unknown filter"),
        ({"median": 0}, "window"),
        ({"exponential": 1.5}, "at most 1"),
        ({"plausible": [5, 1]}, "min < max"),
        ({"calibrate": [[1, 2]]}, "at least 2"),
        ({"lookup": [[2, 0], [1, 1]]}, "strictly increasing"),
        ({"unit": "furlong"}, "not one"),
        ({"offset": 1, "multiply": 2}, "one of"),
    ],
)
def test_bad_filters_are_config_errors_naming_the_place(spec, problem):
    with pytest.raises(ValidationError) as info:
        TypeAdapter(SensorList).validate_python(
            [{"type": "simulated", "name": "s", "filters": {"temperature": [{"offset": 0}, spec]}}]
        )
    assert "filters.temperature[1]" in str(info.value) and problem in str(info.value)


def test_a_filter_on_a_quantity_the_driver_does_not_report_stops_the_build():
    (config,) = TypeAdapter(SensorList).validate_python(
        [{"type": "simulated", "name": "s", "filters": {"humidity": [{"offset": 1}]}}]
    )
    with pytest.raises(SensorSetupError, match="filters name \\['humidity'\\]"):
        build_sensor(config, Resources(pin_factory=TickedMockFactory()))


class Scripted(Driver):
    quantities = (("temperature", "°C"), ("humidity", "%"))

    def __init__(self, values):
        self.values = list(values)

    def read(self):
        return [Reading("temperature", self.values.pop(0), "°C"), Reading("humidity", 40.0, "%")]


async def test_the_scheduler_publishes_filtered_values_and_fails_implausible_ones():
    clock, bus = FakeClock(), MemoryBus()
    (config,) = TypeAdapter(SensorList).validate_python(
        [
            {
                "type": "simulated",
                "name": "t",
                "interval": 10,
                "quantities": ["temperature", "humidity"],
                "filters": {
                    "temperature": [{"offset": -1}, {"unit": "°F"}, {"plausible": [0, 120]}]
                },
            }
        ]
    )
    driver = Scripted([21.0, 100.0, 31.0] + [31.0] * 5)
    built = BuiltSensor(config, driver, None, SensorFilters(config.filters, driver.quantities))
    service = SensorService([built], bus.client("s"), base_topic="edge", clock=clock)
    assert service.discovered()[0].quantities == (("temperature", "°F"), ("humidity", "%"))
    await service.start()
    await clock.advance_to(20, settled_for(clock, {"t": driver}))
    payloads = [json.loads(p) for p in bus.published("edge/sensor/t")]
    assert [p["temperature"] for p in payloads] == [
        {"value": 68.0, "unit": "°F"},
        {"value": 86.0, "unit": "°F"},
    ]
    status = {s.name: s for s in service.status().sensors}
    assert status["t"].failures == 1 and "plausible" in status["t"].last_error
    await service.stop()
