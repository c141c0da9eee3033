import asyncio
import json
import threading

from pydantic import TypeAdapter

from drivers.base import Driver, Reading
from drivers.simulated import Simulated
from gateway.sensors.config import SensorList
from gateway.sensors.policy import Availability, ChangeFilter, backoff_delay, next_due
from gateway.sensors.registry import BuiltSensor, Resources
from gateway.sensors.scheduler import SensorService
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.fakes.ticked_gpio import TickedMockFactory

BASE = "edge"


def configs(*raw):
    return TypeAdapter(SensorList).validate_python(raw)


class Scripted(Driver):
    """Returns the next value of a list each read (a sensor whose values the test chooses)."""

    quantities = (("temperature", "°C"),)

    def __init__(self, values):
        self.values = list(values)

    def read(self):
        return [Reading("temperature", self.values.pop(0), "°C")]


def settled_for(clock, service_drivers):
    def settled():
        for name, driver in service_drivers.items():
            if clock.sleeping(f"sensor:{name}") == 1:
                continue
            if getattr(driver, "hanging", 0) and clock.sleeping(f"sensor-timeout:{name}") == 1:
                continue
            return False
        return True

    return settled


def stamps(bus, topic):
    """Seconds after the fake epoch at which each state message was read."""
    from datetime import datetime

    out = []
    for payload in bus.published(topic):
        ts = datetime.fromisoformat(json.loads(payload)["ts"].replace("Z", "+00:00")).timestamp()
        out.append(round(ts - 1_717_243_200.0, 3))
    return out


async def test_failing_hung_and_recovering_sensors_do_not_disturb_the_others():
    clock, bus = FakeClock(), MemoryBus()
    raw = configs(
        {"type": "simulated", "name": "good", "interval": 10, "seed": 1},
        {
            "type": "simulated",
            "name": "broken",
            "interval": 10,
            "backoff_max": 40,
            "error_rate": 1.0,
        },
        {
            "type": "simulated",
            "name": "hung",
            "interval": 10,
            "timeout": 2,
            "backoff_max": 40,
            "hang_rate": 1.0,
            "hang_seconds": 30,
        },
        {"type": "simulated", "name": "recovering", "interval": 10, "fail_first": 2, "seed": 2},
    )
    service = SensorService.from_config(raw, bus.client("sensors"), base_topic=BASE, clock=clock)
    drivers = service.drivers
    settled = settled_for(clock, drivers)
    await service.start()
    await clock.advance_to(100, settled)

    # the healthy sensor kept its 10 s schedule throughout
    assert stamps(bus, "edge/sensor/good") == [float(t) for t in range(0, 101, 10)]
    # the failing one backed off: 0, +10, +20, +40 (capped), offline after 3 failures
    status = {s.name: s for s in service.status().sensors}
    assert status["broken"].failures == 4 and status["broken"].next_due == 110
    assert bus.published("edge/sensor/broken/availability") == [b"offline"]
    assert bus.retained["edge/sensor/broken/availability"].payload == b"offline"
    # the hung read timed out at 2 s; later attempts failed fast as busy: one thread, one read
    assert status["hung"].timeouts == 1 and status["hung"].busy == 3
    assert drivers["hung"].reads == 1 and drivers["hung"].hanging == 1
    assert "still running" in status["hung"].last_error
    # recovering: failed at 0 and 10, read at 30 (after a 20 s backoff), then every 10 s
    assert stamps(bus, "edge/sensor/recovering") == [
        30.0,
        40.0,
        50.0,
        60.0,
        70.0,
        80.0,
        90.0,
        100.0,
    ]
    assert bus.published("edge/sensor/recovering/availability") == [b"online"]
    assert status["recovering"].online is True and status["recovering"].consecutive_failures == 0
    assert service.status().last_progress == 100
    assert service.overdue(100) == ()

    await service.stop()
    for thread in threading.enumerate():
        if thread.name == "sensor-hung":
            await asyncio.to_thread(thread.join, 5)  # close() released the hung read...
            assert not thread.is_alive()
    assert drivers["hung"].hanging == 0  # ...so no thread is left behind
    for name in drivers:
        assert bus.retained[f"edge/sensor/{name}/availability"].payload == b"offline"


async def test_deadband_and_max_silence():
    clock, bus = FakeClock(), MemoryBus()
    (config,) = configs(
        {
            "type": "simulated",
            "name": "t",
            "interval": 10,
            "on_change": True,
            "deadband": {"temperature": 0.5},
            "max_silence": 60,
        }
    )
    driver = Scripted([20.0, 20.3, 20.6, 20.2, 19.9, 21.0] + [21.0] * 10)
    service = SensorService(
        [BuiltSensor(config, driver)], bus.client("s"), base_topic=BASE, clock=clock
    )
    await service.start()
    await clock.advance_to(110, settled_for(clock, {"t": driver}))
    values = [json.loads(p)["temperature"]["value"] for p in bus.published("edge/sensor/t")]
    # 20.0 first; 20.3 within 0.5; 20.6 beyond; 20.2 within of 20.6; 19.9 beyond (0.7); 21.0 beyond;
    # then unchanged until 60 s of silence after t=50: published again at 110
    assert values == [20.0, 20.6, 19.9, 21.0, 21.0]
    assert stamps(bus, "edge/sensor/t") == [0, 20, 40, 50, 110]
    await service.stop()


async def test_plain_topics_retain_and_qos_follow_the_config():
    clock, bus = FakeClock(), MemoryBus()
    (config,) = configs(
        {
            "type": "simulated",
            "name": "air",
            "quantities": ["co2", "pm2_5"],
            "plain_topics": True,
            "retain": False,
            "qos": 0,
            "seed": 3,
            "topic": "home/air",
        }
    )
    driver = Simulated(["co2", "pm2_5"], seed=3, clock=clock.time)
    service = SensorService(
        [BuiltSensor(config, driver)], bus.client("s"), base_topic=BASE, clock=clock
    )
    await service.start()
    await clock.settle(settled_for(clock, {"air": driver}))
    state = json.loads(bus.published("home/air")[0])
    assert bus.published("home/air/co2") == [str(state["co2"]["value"]).encode()]
    assert bus.published("home/air/pm2_5") == [str(state["pm2_5"]["value"]).encode()]
    assert "home/air" not in bus.retained
    assert {m.qos for m in bus.log if m.topic.startswith("home/air/")} == {0}
    await service.stop()


async def test_gpio_changes_are_published_the_moment_they_happen():
    clock, bus, factory = FakeClock(), MemoryBus(), TickedMockFactory()
    raw = configs(
        {
            "type": "gpio_input",
            "name": "door",
            "pin": 17,
            "kind": "contact",
            "interval": 60,
            "bounce_time": 0.05,
        }
    )
    service = SensorService.from_config(
        raw, bus.client("s"), base_topic=BASE, clock=clock, resources=Resources(pin_factory=factory)
    )
    driver = service.drivers["door"]
    arrived = asyncio.Event()
    await bus.client("watcher").subscribe("edge/sensor/door", lambda m: arrived.set())
    await service.start()
    await clock.settle(settled_for(clock, {"door": driver}))
    assert [json.loads(p)["contact"]["value"] for p in bus.published("edge/sensor/door")] == [False]

    arrived.clear()
    factory.advance(1)
    await asyncio.to_thread(factory.pin(17).drive_low)  # from another thread, like gpiozero's
    await asyncio.wait_for(arrived.wait(), 2)
    assert json.loads(bus.published("edge/sensor/door")[-1])["contact"]["value"] is True
    assert json.loads(bus.published("edge/sensor/door")[-1])["ts"] == "2024-06-01T12:00:00.000Z"
    status = service.status().sensors[0]
    assert status.events == 1 and status.reads == 1  # no poll was needed
    # the poll at 60 s sees no change: nothing new (on_change is the gpio default)
    await clock.advance_to(60, settled_for(clock, {"door": driver}))
    assert len(bus.published("edge/sensor/door")) == 2
    await service.stop()
    factory.reset()


async def test_status_before_start_and_after_stop():
    clock, bus = FakeClock(), MemoryBus()
    service = SensorService.from_config(
        configs({"type": "simulated", "name": "x"}), bus.client("s"), base_topic=BASE, clock=clock
    )
    assert service.status().running is False
    await service.start()
    assert service.status().running is True
    await service.stop()
    assert service.status().running is False


# --- the pure policy ---------------------------------------------------------------------------


def test_backoff_doubles_from_the_interval_up_to_the_cap():
    assert [backoff_delay(10, n, 300) for n in range(8)] == [10, 10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(10, 10_000, 300) == 300


def test_next_due_skips_missed_slots():
    assert next_due(0, 1, 10) == 10
    assert next_due(0, 35, 10) == 40
    assert next_due(0, 40, 10) == 50


def test_change_filter_treats_states_and_new_quantities_as_changes():
    f = ChangeFilter(True, {"temperature": 1.0}, None)
    last = {"temperature": 20.0, "contact": False}
    assert not f.should_publish([Reading("temperature", 20.9)], last, 0, 5)
    assert f.should_publish([Reading("contact", True)], last, 0, 5)
    assert f.should_publish([Reading("humidity", 40.0)], last, 0, 5)
    assert ChangeFilter(False).should_publish([Reading("temperature", 20.0)], last, 0, 5)


def test_availability_goes_offline_once_after_n_failures_and_online_once():
    a = Availability(offline_after=2)
    assert [a.failure(), a.failure(), a.failure()] == [None, b"offline", None]
    assert [a.success(), a.success()] == [b"online", None]
