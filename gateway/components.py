"""Build and start the in-process components the config asks for: relays, sensors, bridges.

Each component gets its own in-process client of the broker, so its messages are routed exactly like
a LAN client's. The gateway's own availability is `<base>/status` (retained `online` / `offline`),
which Home Assistant discovery payloads reference.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.mqtt.enums import QoS
from gateway.sensors.config import GPIOPinSensor

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)


def pin_factory_for(gateway: Gateway) -> Any:
    """One gpiozero pin factory for the GPIO sensors and relays; None when nothing uses GPIO (so
    a gateway with only I2C and serial devices starts on a machine without a GPIO library)."""
    config = gateway.config
    uses_gpio = any(isinstance(s, GPIOPinSensor) for s in config.sensors) or \
        any(r.kind in ("gpio", "pwm") for r in config.relays)
    if not uses_gpio:
        return None
    if gateway.config.gateway.demo:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    from drivers.bus.gpio import default_factory

    return default_factory()


class _Availability:
    """Publishes the gateway's `online` at start and `offline` at stop (both retained)."""

    def __init__(self, client: Any, topic: str) -> None:
        self.client = client
        self.topic = topic

    async def start(self) -> None:
        await self.client.publish(self.topic, b"online", qos=QoS.AT_LEAST_ONCE, retain=True)

    async def stop(self) -> None:
        await self.client.publish(self.topic, b"offline", qos=QoS.AT_LEAST_ONCE, retain=True)


async def start_components(gateway: Gateway) -> list:
    """Start every component in order; returns them in start order (stopped in reverse)."""
    config = gateway.config
    base = config.gateway.base_topic
    broker = gateway.broker
    started: list = []
    availability = _Availability(broker.local_client("gateway"), f"{base}/status")
    await availability.start()
    started.append(availability)
    factory = pin_factory_for(gateway)
    if config.relays:
        from gateway.relays.controller import RelayService

        state_dir = Path(config.gateway.state_dir)
        relays = RelayService(config.relays, broker.local_client("relays"), base, state_dir,
                              pin_factory=factory, node_id=config.gateway.id)
        await relays.start()
        started.append(relays)
        beat = gateway.watchdog.register("relays")
        gateway.heartbeat_checks.append(lambda: relays.alive() and beat.beat())
    if config.sensors:
        from gateway.sensors.scheduler import SensorService

        sensors = SensorService.from_config(
            config.sensors, broker.local_client("sensors"), base_topic=base,
            homeassistant=config.homeassistant, node_id=config.gateway.id,
            gateway_availability=f"{base}/status", pin_factory=factory,
            state_dir=config.gateway.state_dir)
        await sensors.start()
        started.append(sensors)
        beat = gateway.watchdog.register("sensors", max_age=120)
        gateway.heartbeat_checks.append(
            lambda: sensors.last_progress > broker.clock() - 120 and beat.beat())
    if config.bridges:  # after relays and sensors; stopped before them (reverse order)
        from gateway.bridge.service import start_bridges

        started += await start_bridges(gateway)
    log.info("started %d component(s)", len(started))
    return started
