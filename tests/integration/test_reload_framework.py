"""The reload framework (gateway.reloader) on an in-process gateway: [gateway] keys (log_level
live, the others `needs restart` until the file has them back), rules restarted only when they
changed, Home Assistant discovery switched off (every config cleared) and on again, and a
component that raises reported `failed` while the others are applied."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.app import Gateway
from gateway.automation.service import RuleService
from gateway.relays.controller import RelayService
from gateway.reload import Outcome
from tests.support.gateway_process import free_port


def text(
    tmp_path: Path,
    port: int,
    *,
    level="INFO",
    base="edge",
    rule: str | None = "press",
    ha=True,
    relay=False,
    door=False,
) -> str:
    body = '[[relays]]\nname = "lamp"\npin = 17\n' if relay else ""
    body += '[[sensors]]\ntype = "gpio_input"\nname = "door"\npin = 5\n' if door else ""
    body += f"""
[gateway]
id = "gw"
base_topic = "{base}"
state_dir = "{tmp_path / "state"}"
log_level = "{level}"
demo = true
[broker]
sys_interval = 0
[[broker.listeners]]
port = {port}
[homeassistant]
discovery = {"true" if ha else "false"}
[[sensors]]
type = "simulated"
name = "s"
interval = 60
"""
    if rule is not None:
        body += f"""
[[rules]]
name = "r"
topic = "in/button"
equals = "{rule}"
trigger = "message"
on_active = [{{ publish = "out/x", payload = "1" }}]
"""
    return body


@pytest.fixture
async def running(tmp_path):
    from gateway.config import load

    port = free_port()
    path = tmp_path / "gateway.toml"
    path.write_text(text(tmp_path, port))
    gateway = Gateway(load(path), config_path=path)
    await gateway.start()
    try:
        yield gateway, path, port
    finally:
        await gateway.stop()
        logging.getLogger().setLevel(logging.WARNING)


def rows(report) -> dict:
    return {(c.kind, c.name): c for c in report.components}


async def test_gateway_keys_and_rules(running, tmp_path):
    gateway, path, port = running
    rules_before = next(s for s in gateway.services if isinstance(s, RuleService))

    path.write_text(text(tmp_path, port, level="DEBUG", base="other"))
    report = await gateway.reloader.reload()
    found = rows(report)
    assert report.ok
    assert found["gateway", "log_level"].outcome is Outcome.RECONFIGURED
    assert logging.getLogger().level == logging.DEBUG
    assert found["gateway", "base_topic"].outcome is Outcome.NEEDS_RESTART
    assert found["rules", "rules"].outcome is Outcome.UNCHANGED
    assert rules_before in gateway.services  # not restarted
    assert gateway.config.gateway.base_topic == "edge"  # the running one until a restart
    assert gateway.config.gateway.log_level == "DEBUG"

    # a later reload still says base_topic waits for a restart; a changed rule restarts the rules
    path.write_text(text(tmp_path, port, level="DEBUG", base="other", rule="hold", relay=True))
    found = rows(await gateway.reloader.reload())
    assert found["listener", "default"].outcome is Outcome.UNCHANGED  # the broker's part ran
    assert found["relay", "lamp"].outcome is Outcome.ADDED  # and the relays', under "edge"
    relays = next(s for s in gateway.services if isinstance(s, RelayService))
    assert relays.command_filter == "edge/relay/+/set"
    assert found["gateway", "base_topic"].outcome is Outcome.NEEDS_RESTART
    assert found["rules", "rules"].outcome is Outcome.RESTARTED
    assert found["rules", "rules"].detail == "changed: r"
    assert rules_before not in gateway.services
    rules_after = next(s for s in gateway.services if isinstance(s, RuleService))
    assert rules_after.rules[0].config.equals == "hold"

    # back as it started: nothing waits for a restart any more
    path.write_text(text(tmp_path, port, level="DEBUG", rule="hold"))
    found = rows(await gateway.reloader.reload())
    assert not any(c.outcome is Outcome.NEEDS_RESTART for c in found.values())


async def test_discovery_off_clears_every_config_and_on_publishes_them(running, tmp_path):
    gateway, path, port = running
    seen: dict[str, bytes] = {}
    watcher = gateway.broker.local_client("watcher")
    await watcher.subscribe("homeassistant/#", lambda m: seen.__setitem__(m.topic, m.payload))

    path.write_text(text(tmp_path, port, ha=False))
    found = rows(await gateway.reloader.reload())
    assert found["discovery", "homeassistant"].outcome is Outcome.REMOVED
    configs = [t for t in seen if t.endswith("/config")]
    assert configs and all(seen[t] == b"" for t in configs)  # every one cleared

    path.write_text(text(tmp_path, port))
    found = rows(await gateway.reloader.reload())
    assert found["discovery", "homeassistant"].outcome is Outcome.ADDED
    assert all(seen[t] != b"" for t in configs)  # published again


async def test_a_part_that_raises_is_failed_and_the_others_apply(running, tmp_path, monkeypatch):
    gateway, path, port = running

    async def broken(gateway, old, new):
        raise RuntimeError("boom")

    import gateway.sensors.reload as sensors_reload

    monkeypatch.setattr(sensors_reload, "reload_sensors", broken)
    path.write_text(text(tmp_path, port, rule="hold"))
    report = await gateway.reloader.reload()
    found = rows(report)
    assert found["sensors", "sensors"].outcome is Outcome.FAILED
    assert found["sensors", "sensors"].detail == "boom"
    assert found["rules", "rules"].outcome is Outcome.RESTARTED
    assert gateway.config.rules[0].equals == "hold"


async def test_rules_removed_then_added_again_act_on_messages(running, tmp_path):
    gateway, path, port = running
    outputs: list[bytes] = []
    watcher = gateway.broker.local_client("watcher")
    button = gateway.broker.local_client("button")

    path.write_text(text(tmp_path, port, rule=None))
    found = rows(await gateway.reloader.reload())
    assert found["rules", "rules"].outcome is Outcome.REMOVED
    assert not any(isinstance(s, RuleService) for s in gateway.services)

    path.write_text(text(tmp_path, port))
    found = rows(await gateway.reloader.reload())
    assert found["rules", "rules"].outcome is Outcome.ADDED
    arrived = asyncio.Event()
    await watcher.subscribe("out/x", lambda m: (outputs.append(m.payload), arrived.set()))
    await button.publish("in/button", b"press", qos=1)
    await asyncio.wait_for(arrived.wait(), 10)
    assert outputs == [b"1"]


async def test_a_gpio_sensor_added_to_a_gateway_without_gpio_gets_the_mock_pins(running, tmp_path):
    """The demo gateway started without GPIO (no pin factory made): a reload that adds a GPIO
    sensor and a relay makes the one factory they share (demo: gpiozero's mock pins)."""
    gateway, path, port = running
    assert gateway.pin_factory is None
    path.write_text(text(tmp_path, port, door=True, relay=True))
    found = rows(await gateway.reloader.reload())
    assert found["sensor", "door"].outcome is Outcome.ADDED, found["sensor", "door"]
    assert found["relay", "lamp"].outcome is Outcome.ADDED
    assert type(gateway.pin_factory).__name__ == "MockFactory"
    claimed = {info.name for info in gateway.pin_factory.pins}
    assert {"GPIO5", "GPIO17"} <= claimed  # both on the one factory
