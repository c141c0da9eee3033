"""Topic names, topic filters, shared subscriptions and the reference matcher (spec 4.7, 4.8.2)."""

from __future__ import annotations

import pytest

from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.topics import (
    parse_shared,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)


@pytest.mark.parametrize("topic", ["a", "a/b", "/", "/a", "a/", "$SYS/broker", "a b/ü/😀", "a//b"])
def test_valid_topic_names(topic: str) -> None:
    validate_topic_name(topic)


@pytest.mark.parametrize(
    ("topic", "rule"),
    [
        ("", "MQTT-4.7.3-1"),
        ("a/+", "MQTT-4.7.0-1"),
        ("a/#", "MQTT-4.7.0-1"),
        ("a+b", "MQTT-4.7.0-1"),
        ("a\x00b", "MQTT-4.7.3-2"),
        ("x" * 65_536, "MQTT-4.7.3-3"),
        ("é" * 32_768, "MQTT-4.7.3-3"),
    ],
)
def test_invalid_topic_names_MQTT_4_7_0_1_and_4_7_3(topic: str, rule: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_topic_name(topic)
    assert caught.value.reason_code == ReasonCode.TOPIC_NAME_INVALID
    assert rule in str(caught.value)


def test_topic_name_of_exactly_65535_bytes_is_valid_MQTT_4_7_3_3() -> None:
    validate_topic_name("x" * 65_535)


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "+",
        "a/#",
        "a/+/b",
        "+/+",
        "/+",
        "+/",
        "sport/tennis/+",
        "$share/g/a/+",
        "$share/g/#",
        "$SYS/#",
        "$share",
        "a/$share/g",
    ],
)
def test_valid_topic_filters(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "rule"),
    [
        ("", "MQTT-4.7.3-1"),
        ("a/#/b", "MQTT-4.7.1-1"),
        ("a#", "MQTT-4.7.1-1"),
        ("#/", "MQTT-4.7.1-1"),
        ("a/b#", "MQTT-4.7.1-1"),
        ("a+", "MQTT-4.7.1-2"),
        ("+a/b", "MQTT-4.7.1-2"),
        ("sport/te+nnis", "MQTT-4.7.1-2"),
        ("a\x00", "MQTT-4.7.3-2"),
        ("$share//a", "MQTT-4.8.2-1"),
        ("$share/g+/a", "MQTT-4.8.2-1"),
        ("$share/#/a", "MQTT-4.8.2-1"),
        ("$share/g", "MQTT-4.8.2-2"),
        ("$share/g/", "MQTT-4.8.2-2"),
        ("$share/g/a#", "MQTT-4.7.1-1"),
    ],
)
def test_invalid_topic_filters_MQTT_4_7_1_and_4_8_2(topic_filter: str, rule: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_topic_filter(topic_filter)
    assert caught.value.reason_code == ReasonCode.TOPIC_FILTER_INVALID
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("$share/g/a/+", ("g", "a/+")),
        ("$share/group-1/#", ("group-1", "#")),
        ("$share/g//x", ("g", "/x")),
        ("a/+", (None, "a/+")),
        ("$SYS/x", (None, "$SYS/x")),
        ("$sharex/g/a", (None, "$sharex/g/a")),
    ],
)
def test_parse_shared_4_8_2(topic_filter: str, expected: tuple[str | None, str]) -> None:
    assert parse_shared(topic_filter) == expected


# The spec's own examples, 4.7.1.2, 4.7.1.3 and 4.7.2.
@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "sport/tennis", True),
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("a/b", "a/b", True),
        ("a/b", "a/B", False),
        ("a/b", "a/b/", False),
        ("a//b", "a//b", True),
        ("+/+/+", "a//b", True),
        ("$share/g/sport/+", "sport/tennis", True),
    ],
)
def test_topic_matches_spec_examples_4_7_1(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("#", "$SYS/broker/uptime", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("+", "$x", False),
        ("a/+", "a/$x", True),
    ],
)
def test_dollar_topics_do_not_match_leading_wildcards_MQTT_4_7_2_1(
    topic_filter: str, topic: str, expected: bool
) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_topic_matches_rejects_invalid_arguments() -> None:
    with pytest.raises(ProtocolError):
        topic_matches("a/#/b", "a/x/b")
    with pytest.raises(ProtocolError):
        topic_matches("a/+", "a/+")
