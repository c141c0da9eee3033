"""What a reload does to each bridge, decided from the two configs alone."""

from __future__ import annotations

from typing import Any

from gateway.bridge.config import BridgeConfig
from gateway.bridge.reload import plan
from gateway.reload import Outcome

TOPICS = [{"pattern": "data/#", "direction": "out", "local_prefix": "edge/"}]


def bridge(name: str, **changes: Any) -> BridgeConfig:
    return BridgeConfig.model_validate(
        {"name": name, "host": "cloud.example", "topics": TOPICS, **changes}
    )


def test_plan_names_each_bridge_and_what_changed() -> None:
    old = [bridge("a"), bridge("b"), bridge("c"), bridge("d"), bridge("gone")]
    new = [
        bridge("a"),
        bridge("b", host="other.example", port=8884, keepalive=30),
        bridge("c", topics=[*TOPICS, {"pattern": "cmd/#", "direction": "in"}]),
        bridge("d", queue={"max_messages": 10}),
        bridge("new"),
    ]
    assert plan(old, new) == {
        "a": (Outcome.UNCHANGED, ""),
        "b": (Outcome.RESTARTED, "connection details (host, port, keepalive) changed"),
        "c": (Outcome.RESTARTED, "topic mappings changed"),
        "d": (Outcome.RESTARTED, "queue changed"),
        "new": (Outcome.ADDED, ""),
        "gone": (Outcome.REMOVED, ""),
    }


def test_credentials_and_tls_files_are_connection_details() -> None:
    old = [bridge("a", username="u", password_file="/run/credentials/p", tls={"ca_file": "/ca"})]
    new = [bridge("a", username="v", password_file="/run/credentials/q", tls={"ca_file": "/ca2"})]
    assert plan(old, new) == {
        "a": (Outcome.RESTARTED, "connection details (username, password_file, tls) changed")
    }


def test_a_renamed_bridge_is_removed_and_added() -> None:
    assert plan([bridge("a")], [bridge("b")]) == {
        "b": (Outcome.ADDED, ""),
        "a": (Outcome.REMOVED, ""),
    }


def test_several_kinds_of_change_are_all_named() -> None:
    old = [bridge("a")]
    new = [bridge("a", port=1883, topics=[{"pattern": "x/#"}], rate_limit=5, backoff_max=30)]
    assert plan(old, new) == {
        "a": (
            Outcome.RESTARTED,
            "connection details (port), topic mappings, rate_limit, backoff_max changed",
        )
    }
