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
from typing import TYPE_CHECKING, Any, Protocol

from gateway.diagnostics import DiagnosticsPublisher
from gateway.discovery import (
    DeviceInfo,
    Discovery,
    Entity,
    diagnostic_entities,
    relay_entity,
    sensor_entities,
)
from gateway.lazyexports import instances_of
from gateway.mqtt.enums import QoS
from gateway.sensors.config import GPIOPinSensor
from gateway.timesync import ClockWatch

if TYPE_CHECKING:
    from gateway.automation.schedule_service import ScheduleService
    from gateway.automation.service import RuleService
    from gateway.broker.server import Broker
    from gateway.config import GatewayConfig
    from gateway.sensors.scheduler import SensorService
    from gateway.systemd import Watchdog
    from gateway.timesync import ClockStatus

log = logging.getLogger(__name__)


class Gateway(Protocol):
    """What the components take from the running gateway (gateway.app.Gateway). A protocol, so
    that this module does not import gateway.app, which imports this one."""

    config: GatewayConfig
    broker: Broker
    watchdog: Watchdog
    clock_status: ClockStatus
    heartbeat_checks: list
    services: list
    store: Any
    pin_factory: Any


def pin_factory_for(config: GatewayConfig) -> Any:
    """One gpiozero pin factory for the GPIO sensors and relays; None when nothing uses GPIO (so
    a gateway with only I2C and serial devices starts on a machine without a GPIO library)."""
    uses_gpio = any(isinstance(s, GPIOPinSensor) for s in config.sensors) or any(
        r.kind in ("gpio", "pwm") for r in config.relays
    )
    if not uses_gpio:
        return None
    if config.gateway.demo:
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
    factory = gateway.pin_factory = pin_factory_for(config)
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

        def relays_check() -> None:
            if relays.alive():
                beat.beat()

        gateway.heartbeat_checks.append(relays_check)
    if config.sensors:
        sensors = sensor_service(gateway, config.sensors, base, factory)
        await sensors.start()
        started.append(sensors)
    if config.rules:  # after the sensors and relays it watches and commands
        rules = rule_service(gateway, config, base, started)
        await rules.start()
        started.append(rules)
    if config.schedules:  # after the relays it commands
        schedules = schedule_service(gateway, config, base)
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


def sensor_service(gateway: Gateway, configs: Any, base: str, factory: Any) -> SensorService:
    """The sensor service and its watchdog heartbeat (fresh while some sensor makes progress, or
    while there is no sensor at all: every one can be removed by a reload)."""
    from gateway.sensors.scheduler import SensorService

    broker = gateway.broker
    sensors = SensorService.from_config(
        configs,
        broker.local_client("sensors"),
        base_topic=base,
        pin_factory=factory,
        state_dir=gateway.config.gateway.state_dir,
    )
    sensors.clock_status = gateway.clock_status
    beat = gateway.watchdog.register("sensors", max_age=120)

    def check() -> None:
        if not sensors.names or sensors.last_progress > broker.clock() - 120:
            beat.beat()

    gateway.heartbeat_checks.append(check)
    return sensors


def rule_service(gateway: Gateway, config: GatewayConfig, base: str, started: list) -> RuleService:
    """The rules, checked against the quantities the running sensors publish."""
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
        gateway.broker.local_client("rules"),
        base_topic=base,
        sensor_topics={s.name: s.topic for s in config.sensors},
    )
    rules.clock_status = gateway.clock_status
    return rules


def schedule_service(gateway: Gateway, config: GatewayConfig, base: str) -> ScheduleService:
    from gateway.automation.schedule_service import ScheduleService

    return ScheduleService(
        config.schedules,
        gateway.broker.local_client("schedules"),
        base_topic=base,
        location=config.location,
        clock_status=gateway.clock_status,
    )


def home_assistant(gateway: Gateway, started: list, diagnostics: DiagnosticsPublisher) -> Discovery:
    """One Home Assistant device for the gateway: its sensors, relays and diagnostics."""
    device, entities = discovery_entities(gateway.config, started, diagnostics)
    return Discovery(
        gateway.broker.local_client("discovery"),
        device,
        entities,
        prefix=gateway.config.homeassistant.prefix,
        on_birth=diagnostics.publish,
    )


def discovery_entities(
    config: GatewayConfig, started: list, diagnostics: DiagnosticsPublisher, base: str | None = None
) -> tuple[DeviceInfo, list[Entity]]:
    """The device and its entities for `config`'s relays and the running sensors and bridges;
    `base` is the base topic the components run under (a reload keeps the one they started with)."""
    from gateway.relays.topics import Topics

    ha = config.homeassistant
    base = base or config.gateway.base_topic
    status = f"{base}/status"
    node = ha.node_id or config.gateway.id
    device = DeviceInfo(node, ha.device_name or f"Pi Edge Gateway {node}")
    entities: list[Entity] = []
    for service in instances_of(started, "gateway.sensors.scheduler", "SensorService"):
        for sensor in service.discovered():
            entities += sensor_entities(device, sensor, status)
    for relay in config.relays:
        entity = relay_entity(device, relay, Topics.of(base, relay.name), status)
        if entity is not None:
            entities.append(entity)
    bridges = [s.name for s in instances_of(started, "gateway.bridge.service", "BridgeService")]
    entities += diagnostic_entities(
        device, diagnostics.topic, bridges, diagnostics.has_cpu_temperature(), status
    )
    return device, entities


#: the order components start in (and stop in reverse); a reload that adds a component puts it
#: at its place, so that shutdown still stops each before what it depends on
START_ORDER = (
    "_Availability",
    "ClockWatch",
    "RelayService",
    "SensorService",
    "RuleService",
    "ScheduleService",
    "BridgeService",
    "DiagnosticsPublisher",
    "Discovery",
    "WebServer",
)


def insert_in_order(services: list, service: Any) -> None:
    """Put `service` into the running list (in place: the diagnostics read the same list)."""
    rank = START_ORDER.index(type(service).__name__)
    for index, other in enumerate(services):
        name = type(other).__name__
        if name in START_ORDER and START_ORDER.index(name) > rank:
            services.insert(index, service)
            return
    services.append(service)
