"""Build and start the in-process components the config asks for: relays, sensors, bridges, the
gateway's diagnostics and Home Assistant discovery.

Each component gets its own in-process client of the broker, so its messages are routed exactly like
a LAN client's. The gateway's own availability is `<base>/status` (retained `online` / `offline`),
which Home Assistant discovery payloads reference. Discovery starts last, once the sensors' drivers
and the bridges exist, and announces them all as one device (gateway.discovery).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.diagnostics import DiagnosticsPublisher
from gateway.discovery import (
    DeviceInfo,
    Discovery,
    Entity,
    diagnostic_entities,
    relay_entity,
    sensor_entities,
)
from gateway.mqtt.enums import QoS
from gateway.sensors.config import GPIOPinSensor
from gateway.timesync import ClockWatch

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)


def pin_factory_for(gateway: Gateway) -> Any:
    """One gpiozero pin factory for the GPIO sensors and relays; None when nothing uses GPIO (so
    a gateway with only I2C and serial devices starts on a machine without a GPIO library)."""
    config = gateway.config
    uses_gpio = any(isinstance(s, GPIOPinSensor) for s in config.sensors) or any(
        r.kind in ("gpio", "pwm") for r in config.relays
    )
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
    clock = ClockWatch(gateway.clock_status, broker, mode=config.gateway.clock_check)
    await clock.start()  # first: payload stamps, timed commands and schedules depend on it
    started.append(clock)
    factory = pin_factory_for(gateway)
    if config.relays:
        from gateway.relays.controller import RelayService

        state_dir = Path(config.gateway.state_dir)
        relays = RelayService(
            config.relays, broker.local_client("relays"), base, state_dir, pin_factory=factory
        )
        relays.clock_status = gateway.clock_status
        await relays.start()
        started.append(relays)
        beat = gateway.watchdog.register("relays")
        gateway.heartbeat_checks.append(lambda: relays.alive() and beat.beat())
    if config.sensors:
        from gateway.sensors.scheduler import SensorService

        sensors = SensorService.from_config(
            config.sensors,
            broker.local_client("sensors"),
            base_topic=base,
            pin_factory=factory,
            state_dir=config.gateway.state_dir,
        )
        sensors.clock_status = gateway.clock_status
        await sensors.start()
        started.append(sensors)
        beat = gateway.watchdog.register("sensors", max_age=120)
        gateway.heartbeat_checks.append(
            lambda: sensors.last_progress > broker.clock() - 120 and beat.beat()
        )
    if config.rules:  # after the sensors and relays it watches and commands
        from gateway.automation.config import quantity_problems
        from gateway.automation.service import RuleService
        from gateway.sensors.registry import SensorSetupError
        from gateway.sensors.scheduler import SensorService

        published = {
            d.name: d.quantities
            for s in started
            if isinstance(s, SensorService)
            for d in s.discovered()
        }
        problems = quantity_problems(config.rules, published)
        if problems:
            raise SensorSetupError(problems[0])

        rules = RuleService(
            config.rules,
            broker.local_client("rules"),
            base_topic=base,
            sensor_topics={s.name: s.topic for s in config.sensors},
        )
        rules.clock_status = gateway.clock_status
        await rules.start()
        started.append(rules)
    if config.schedules:  # after the relays it commands
        from gateway.automation.schedule_service import ScheduleService

        schedules = ScheduleService(
            config.schedules,
            broker.local_client("schedules"),
            base_topic=base,
            location=config.location,
            clock_status=gateway.clock_status,
        )
        await schedules.start()
        started.append(schedules)
    if config.bridges:  # after relays and sensors; stopped before them (reverse order)
        from gateway.bridge.service import start_bridges

        started += await start_bridges(gateway)
    diagnostics = DiagnosticsPublisher(
        gateway, broker.local_client("diagnostics"), f"{base}/gateway/diagnostics", services=started
    )
    await diagnostics.start()
    started.append(diagnostics)
    if config.homeassistant.discovery:
        discovery = home_assistant(gateway, started, diagnostics)
        await discovery.start()
        started.append(discovery)
    log.info("started %d component(s)", len(started))
    return started


def home_assistant(gateway: Gateway, started: list, diagnostics: DiagnosticsPublisher) -> Discovery:
    """One Home Assistant device for the gateway: its sensors, relays and diagnostics."""
    from gateway.bridge.service import BridgeService
    from gateway.relays.topics import Topics
    from gateway.sensors.scheduler import SensorService

    config, ha = gateway.config, gateway.config.homeassistant
    base = config.gateway.base_topic
    status = f"{base}/status"
    node = ha.node_id or config.gateway.id
    device = DeviceInfo(node, ha.device_name or f"Pi Edge Gateway {node}")
    entities: list[Entity] = []
    for service in started:
        if isinstance(service, SensorService):
            for sensor in service.discovered():
                entities += sensor_entities(device, sensor, status)
    for relay in config.relays:
        entity = relay_entity(device, relay, Topics.of(base, relay.name), status)
        if entity is not None:
            entities.append(entity)
    bridges = [s.name for s in started if isinstance(s, BridgeService)]
    entities += diagnostic_entities(
        device, diagnostics.topic, bridges, diagnostics.has_cpu_temperature(), status
    )
    return Discovery(
        gateway.broker.local_client("discovery"),
        device,
        entities,
        prefix=ha.prefix,
        on_birth=diagnostics.publish,
    )
