import json

import pytest

from drivers.base import Reading
from gateway.sensors.payloads import PayloadError, iso_utc, plain_payload, state_payload
from gateway.sensors.topics import SensorTopics, topics_for

T = 1_717_243_200.1234  # 2024-06-01T12:00:00.123Z


def test_documented_shape():
    payload = state_payload([Reading("temperature", 21.4, "°C"), Reading("humidity", 45.2, "%")], T)
    assert (
        payload
        == (
            '{"temperature":{"value":21.4,"unit":"°C"},'
            '"humidity":{"value":45.2,"unit":"%"},'
            '"ts":"2024-06-01T12:00:00.123Z"}'
        ).encode()
    )


def test_states_ints_and_strings_keep_their_type_and_unit_is_always_present():
    body = json.loads(
        state_payload(
            [Reading("contact", True), Reading("co2", 612, "ppm"), Reading("fix", "3D")], T
        )
    )
    assert body["contact"] == {"value": True, "unit": ""}
    assert body["co2"] == {"value": 612, "unit": "ppm"}
    assert body["fix"] == {"value": "3D", "unit": ""}


def test_float_noise_is_rounded_to_six_significant_digits_or_configured_decimals():
    readings = [
        Reading("temperature", 21.400000000000002, "°C"),
        Reading("current", 0.0123456789, "A"),
        Reading("pressure", 1013.2567, "hPa"),
    ]
    body = json.loads(state_payload(readings, T, {"pressure": 1}))
    assert body["temperature"]["value"] == 21.4
    assert body["current"]["value"] == 0.0123457
    assert body["pressure"]["value"] == 1013.3


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_values_are_an_error_not_invalid_json(value):
    with pytest.raises(PayloadError, match="not a finite number"):
        state_payload([Reading("temperature", value, "°C")], T)


@pytest.mark.parametrize("readings", [[Reading("ts", 1)], [Reading("a", 1), Reading("a", 2)]])
def test_reserved_or_repeated_quantity_names_are_an_error(readings):
    with pytest.raises(PayloadError, match="reserved or repeated"):
        state_payload(readings, T)


def test_timestamp_is_utc_with_milliseconds():
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(T) == "2024-06-01T12:00:00.123Z"


def test_plain_values():
    assert plain_payload(Reading("temperature", 21.400000000000002, "°C")) == b"21.4"
    assert plain_payload(Reading("motion", False)) == b"false"
    assert plain_payload(Reading("fix", "3D")) == b'"3D"'
    assert plain_payload(Reading("humidity", 45.25, "%"), {"humidity": 0}) == b"45.0"


def test_topics_default_and_override():
    t = topics_for("edge/pi-1/", "kitchen")
    assert (t.state, t.availability, t.quantity("temperature")) == (
        "edge/pi-1/sensor/kitchen",
        "edge/pi-1/sensor/kitchen/availability",
        "edge/pi-1/sensor/kitchen/temperature",
    )
    assert topics_for("edge", "x", "home/kitchen/climate") == SensorTopics("home/kitchen/climate")
    with pytest.raises(ValueError, match="availability"):
        t.quantity("availability")
    with pytest.raises(ValueError, match="base_topic"):
        topics_for("edge/#", "x")
