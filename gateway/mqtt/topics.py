"""Topic names, topic filters and shared subscriptions (spec 4.7 and 4.8.2).

Rule numbers are MQTT 5.0's; where 3.1.1 numbers the same rule differently, both are given.
`topic_matches` is the slow, obviously correct matcher: the broker's trie is tested against it.
`filter_matches` is its core without validation or shared-subscription parsing (the ACL uses it).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.errors import ProtocolError
from gateway.mqtt.primitives import MAX_STRING_BYTES

SHARE_PREFIX = "$share/"


def _topic_error(message: str) -> ProtocolError:
    return ProtocolError(ReasonCode.TOPIC_NAME_INVALID, message)


def _filter_error(message: str) -> ProtocolError:
    return ProtocolError(ReasonCode.TOPIC_FILTER_INVALID, message)


def _check_string(text: str, error: Callable[[str], ProtocolError]) -> None:
    if not text:  # [MQTT-4.7.3-1]
        raise error("topic must be at least one character long [MQTT-4.7.3-1]")
    if "\x00" in text:  # [MQTT-4.7.3-2]
        raise error("topic must not contain U+0000 [MQTT-4.7.3-2]")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:  # [MQTT-4.7.3-3]
        raise error(f"topic longer than {MAX_STRING_BYTES} bytes [MQTT-4.7.3-3]")


def validate_topic_name(topic: str) -> None:
    """A PUBLISH topic name: non-empty, no wildcards. Raises ProtocolError(TOPIC_NAME_INVALID)."""
    _check_string(topic, _topic_error)
    if "+" in topic or "#" in topic:  # 5.0 [MQTT-4.7.0-1], 3.1.1 [MQTT-4.7.1-1]
        raise _topic_error(f"wildcards are not allowed in a topic name: {topic!r} [MQTT-4.7.0-1]")


def _validate_levels(topic_filter: str) -> None:
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            # 5.0 [MQTT-4.7.1-1], 3.1.1 [MQTT-4.7.1-2]
            raise _filter_error(f"'#' must be a whole last level: {topic_filter!r} [MQTT-4.7.1-1]")
        if "+" in level and level != "+":
            # 5.0 [MQTT-4.7.1-2], 3.1.1 [MQTT-4.7.1-3]
            raise _filter_error(f"'+' must be a whole level: {topic_filter!r} [MQTT-4.7.1-2]")


def parse_shared(topic_filter: str) -> tuple[str | None, str]:
    """("group", "filter") for "$share/group/filter", (None, topic_filter) otherwise (spec 4.8.2).

    Raises ProtocolError(TOPIC_FILTER_INVALID) for a malformed share: an empty share name or one
    containing '+' or '#' [MQTT-4.8.2-1], or no filter after it [MQTT-4.8.2-2].
    """
    if not topic_filter.startswith(SHARE_PREFIX):
        return None, topic_filter
    group, slash, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
    if not group or "+" in group or "#" in group:  # [MQTT-4.8.2-1]
        raise _filter_error(f"invalid share name in {topic_filter!r} [MQTT-4.8.2-1]")
    if not slash or not inner:  # [MQTT-4.8.2-2]
        raise _filter_error(
            f"shared subscription without a topic filter: {topic_filter!r} [MQTT-4.8.2-2]"
        )
    return group, inner


def validate_topic_filter(topic_filter: str) -> None:
    """A SUBSCRIBE/UNSUBSCRIBE topic filter, shared or not.

    Raises ProtocolError(TOPIC_FILTER_INVALID)."""
    _check_string(topic_filter, _filter_error)
    _group, inner = parse_shared(topic_filter)
    _validate_levels(inner)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches `topic_filter` (spec 4.7.1); a shared filter matches as its inner
    filter. Validates both first. The slow, obviously correct reference matcher."""
    validate_topic_filter(topic_filter)
    validate_topic_name(topic)
    _group, inner = parse_shared(topic_filter)
    return filter_matches(inner, topic)


def filter_matches(topic_filter: str, topic: str) -> bool:
    """Whether topic name `topic` matches `topic_filter` taken as written (spec 4.7.1): neither is
    validated and "$share/" is not parsed, for callers that validated their filters once (the
    ACL, whose "$share/..." rules are literal, as in Mosquitto)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and filter_levels[0] in ("+", "#"):  # [MQTT-4.7.2-1]
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":  # matches the parent level and any number of children (4.7.1.2)
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


def filters_overlap(first: str, second: str) -> bool:
    """Whether some topic name matches both filters (neither is validated)."""
    a_levels, b_levels = first.split("/"), second.split("/")
    for index in range(max(len(a_levels), len(b_levels))):
        a = a_levels[index] if index < len(a_levels) else None
        b = b_levels[index] if index < len(b_levels) else None
        if index == 0 and any(
            x in ("+", "#") and y is not None and y.startswith("$") for x, y in ((a, b), (b, a))
        ):
            return False  # [MQTT-4.7.2-1]
        if a == "#" or b == "#":
            return True  # '#' also matches the parent level (4.7.1.2)
        if a is None or b is None or not (a == b or "+" in (a, b)):
            return False
    return True
