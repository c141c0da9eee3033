"""The sensors' part of a reload (gateway.sensors.reload): added, removed and changed sensors are
started, stopped and restarted alone, and an unchanged sensor keeps its schedule."""

import json
from types import SimpleNamespace

from gateway.reload import Outcome
from gateway.sensors.reload import reload_sensors
from gateway.sensors.scheduler import SensorService
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.unit.sensors.test_scheduler import configs, settled_for, stamps


def sim(name, interval=10, seed=1):
    return {"type": "simulated", "name": name, "interval": interval, "seed": seed}


async def test_only_the_sensors_that_changed_are_touched_and_the_others_keep_their_schedule():
    clock, bus = FakeClock(), MemoryBus()
    old = SimpleNamespace(relays=(), sensors=configs(sim("keep"), sim("change"), sim("gone")))
    new = SimpleNamespace(
        relays=(), sensors=configs(sim("keep"), sim("change", interval=7), sim("fresh"))
    )
    service = SensorService.from_config(
        old.sensors, bus.client("sensors"), base_topic="edge", clock=clock
    )
    gateway = SimpleNamespace(services=[service], config=SimpleNamespace(gateway=None))
    await service.start()
    await clock.advance_to(25, settled_for(clock, service.drivers))
    keep_due = {s.name: s.next_due for s in service.status().sensors}["keep"]
    assert keep_due == 30

    results = await reload_sensors(gateway, old, new)

    assert {(r.name, r.outcome) for r in results} == {
        ("keep", Outcome.UNCHANGED),
        ("change", Outcome.RESTARTED),
        ("gone", Outcome.REMOVED),
        ("fresh", Outcome.ADDED),
    }
    assert next(r for r in results if r.name == "change").detail == "changed: interval"
    assert service.names == ["keep", "change", "fresh"]
    # the unchanged sensor's next reading is still the one it had before the reload
    await clock.settle(settled_for(clock, service.drivers))
    assert {s.name: s.next_due for s in service.status().sensors}["keep"] == keep_due
    await clock.advance_to(45, settled_for(clock, service.drivers))
    assert stamps(bus, "edge/sensor/keep") == [0, 10, 20, 30, 40]  # no extra read at 25
    assert stamps(bus, "edge/sensor/change") == [0, 10, 20, 25, 32, 39]  # its new interval
    assert stamps(bus, "edge/sensor/fresh") == [25, 35, 45]
    assert stamps(bus, "edge/sensor/gone") == [0, 10, 20]  # stopped at 25
    assert bus.published("edge/sensor/gone/availability")[-1] == b"offline"
    assert json.loads(bus.published("edge/sensor/fresh")[0])["temperature"]
    await service.stop()


async def test_a_sensor_that_cannot_be_built_fails_alone():
    clock, bus = FakeClock(), MemoryBus()
    old = SimpleNamespace(relays=(), sensors=configs(sim("keep")))
    new = SimpleNamespace(
        relays=(),
        sensors=configs(
            sim("keep"),
            sim("fresh"),
            {  # a URL scheme pyserial does not know: valid in the file, refused by the driver
                "type": "serial_line",
                "name": "broken",
                "port": "nosuchscheme://x",
                "pattern": "T=(?P<temperature>\\d+)",
                "units": {"temperature": "°C"},
            },
        ),
    )
    service = SensorService.from_config(
        old.sensors, bus.client("sensors"), base_topic="edge", clock=clock
    )
    gateway = SimpleNamespace(services=[service], config=SimpleNamespace(gateway=None))
    await service.start()
    results = await reload_sensors(gateway, old, new)
    outcomes = {r.name: r.outcome for r in results}
    assert outcomes == {"keep": Outcome.UNCHANGED, "fresh": Outcome.ADDED, "broken": Outcome.FAILED}
    assert service.names == ["keep", "fresh"]
    # the next reload compares with what runs: the failed sensor is tried again, not "unchanged"
    again = {r.name: r.outcome for r in await reload_sensors(gateway, new, new)}
    assert again == {
        "keep": Outcome.UNCHANGED,
        "fresh": Outcome.UNCHANGED,
        "broken": Outcome.FAILED,
    }
    await service.stop()
