"""Sensor commands (gateway.sensors.commands): forced recalibration and self-calibration on/off
reach the driver through <state>/<command>/set, run by the sensor's own task between readings
(never during one), and their result is published, accepted or refused with the reason."""

from __future__ import annotations

import json
import threading

import pytest
from pydantic import TypeAdapter

from drivers.base import Driver, Reading
from drivers.i2c.scd4x import SCD4x
from gateway.discovery import DiscoveredSensor, sensor_entities
from gateway.sensors import commands
from gateway.sensors.config import SensorList
from gateway.sensors.registry import BuiltSensor
from gateway.sensors.scheduler import SensorService
from gateway.sensors.topics import topics_for
from tests.fakes.chips.scd4x import FakeSCD4x
from tests.fakes.fake_clock import FakeClock
from tests.fakes.i2c import FakeClock as ChipClock
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.support import ha_schema
from tests.unit.test_discovery import DEVICE, STATUS

STATE = "edge/sensor/co2"


def config(**raw):
    return TypeAdapter(SensorList).validate_python([{"name": "co2", **raw}])[0]


def test_payloads_are_checked_before_anything_is_queued():
    assert commands.parse("calibrate", b" 450\n") == commands.Command("calibrate", 450)
    assert commands.parse("self_calibration", b"off") == commands.Command("self_calibration", False)
    assert commands.parse("self_calibration", b"ON").value is True
    for name, payload, why in [
        ("calibrate", b"399", "outside 400..2000 ppm"),
        ("calibrate", b"2001", "outside 400..2000 ppm"),
        ("calibrate", b"4x0", "not a whole number"),
        ("self_calibration", b"maybe", "not ON or OFF"),
        ("calibrate", b"\xff", "not UTF-8"),
    ]:
        with pytest.raises(commands.CommandError, match=why):
            commands.parse(name, payload)
    with pytest.raises(commands.CommandError, match="retained command is refused"):
        commands.parse("calibrate", b"450", retained=True)


def test_which_drivers_take_which_commands():
    from drivers.i2c.scd30 import SCD30
    from drivers.serial.mhz19 import MhZ19B
    from drivers.simulated import Simulated

    assert commands.supported(SCD4x(FakeSMBus())) == ("calibrate", "self_calibration")
    assert commands.supported(SCD30(FakeSMBus())) == ("calibrate", "self_calibration")
    assert commands.supported(MhZ19B(None)) == ("self_calibration",)
    assert commands.supported(Simulated()) == ()


async def scd4x_service(**options):
    clock, chip_clock, bus = FakeClock(), ChipClock(), MemoryBus()
    i2c = FakeSMBus()
    chip = i2c.attach(0x62, FakeSCD4x(chip_clock))
    driver = SCD4x(i2c, sleep=chip_clock.sleep, **options)
    built = BuiltSensor(config(type="scd4x", interval=30), driver)
    service = SensorService([built], bus.client("s"), base_topic="edge", clock=clock)
    await service.start()
    await clock.settle(lambda: bus.published(STATE) != [])  # first reading: online
    return clock, chip_clock, chip, bus, service


async def send(bus, clock, name, payload, retain=False):
    before = len(bus.published(f"{STATE}/{name}/result"))
    await bus.client("lan").publish(f"{STATE}/{name}/set", payload, qos=1, retain=retain)
    await clock.settle(lambda: len(bus.published(f"{STATE}/{name}/result")) > before)
    return json.loads(bus.published(f"{STATE}/{name}/result")[-1])


async def test_forced_recalibration_stops_waits_500_ms_recalibrates_and_restarts():
    clock, chip_clock, chip, bus, service = await scd4x_service()
    chip.commands.clear()
    chip_clock.slept.clear()
    result = await send(bus, clock, "calibrate", "450")
    assert result == {
        "command": "calibrate",
        "value": 450,
        "result": "accepted",
        "correction": 450 - 612,
    }
    assert chip.commands == [0x3F86, 0x362F, 0x21B1]  # stop, FRC, start again
    assert chip_clock.slept[:2] == [0.5, 0.4]  # 500 ms after stop, FRC's 400 ms
    chip.minutes_measured_before_frc = 1.0  # the chip answers 0xFFFF
    result = await send(bus, clock, "calibrate", "450")
    assert result["result"] == "refused" and "forced recalibration failed" in result["reason"]
    assert chip.running_since is not None  # measuring again all the same
    await service.stop()


async def test_self_calibration_switch_state_is_retained_and_follows_the_command():
    clock, _chip_clock, chip, bus, service = await scd4x_service()
    assert bus.retained[f"{STATE}/self_calibration"].payload == b"ON"  # the configured value
    result = await send(bus, clock, "self_calibration", "OFF")
    assert result["result"] == "accepted" and chip.asc is False
    assert bus.retained[f"{STATE}/self_calibration"].payload == b"OFF"
    await service.stop()


async def test_bad_retained_and_offline_commands_are_refused_with_the_reason():
    clock, _chip_clock, chip, bus, service = await scd4x_service()
    result = await send(bus, clock, "calibrate", "lots")
    assert result["result"] == "refused" and "not a whole number" in result["reason"]
    result = await send(bus, clock, "calibrate", "450", retain=True)
    assert result["result"] == "refused" and "retained" in result["reason"]
    assert 0x362F not in chip.commands  # neither reached the chip
    await service.stop()

    clock, bus = FakeClock(), MemoryBus()
    absent = SCD4x(FakeSMBus(), sleep=ChipClock().sleep)  # nothing at 0x62: offline
    built = BuiltSensor(config(type="scd4x", interval=30, offline_after=1), absent)
    service = SensorService([built], bus.client("s"), base_topic="edge", clock=clock)
    await service.start()
    await clock.settle(lambda: bus.published(f"{STATE}/availability") == [b"offline"])
    result = await send(bus, clock, "calibrate", "450")
    assert result["result"] == "refused" and "not online" in result["reason"]
    await service.stop()


class Blocking(Driver):
    """A CO2 driver whose read waits for the test; it records the order of its calls."""

    quantities = (("co2", "ppm"),)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[str] = []
        self.reading = threading.Event()

    def read(self):
        self.calls.append("read")
        self.reading.set()
        self.release.wait(10)
        self.calls.append("read done")
        return [Reading("co2", 500, "ppm")]

    def forced_recalibration(self, ppm):
        self.calls.append(f"frc {ppm}")


async def test_a_command_waits_for_the_read_in_progress_and_the_queue_is_bounded():
    clock, bus = FakeClock(), MemoryBus()
    driver = Blocking()
    driver.release.set()
    built = BuiltSensor(config(type="simulated", interval=30, timeout=60), driver)
    service = SensorService([built], bus.client("s"), base_topic="edge", clock=clock)
    await service.start()
    await clock.settle(lambda: bus.published(STATE) != [])
    driver.release.clear()
    driver.reading.clear()
    await clock.advance_to(30, lambda: driver.reading.is_set() or clock.sleeping("sensor:co2") == 1)
    assert driver.reading.is_set()  # the second read is in progress
    lan = bus.client("lan")
    for ppm in range(401, 401 + commands.COMMAND_QUEUE_LIMIT + 1):
        await lan.publish(f"{STATE}/calibrate/set", str(ppm), qos=1)
    results = [json.loads(p) for p in bus.published(f"{STATE}/calibrate/result")]
    assert [r["value"] for r in results] == [405] and "busy" in results[0]["reason"]
    assert driver.calls[-1] == "read"  # nothing ran beside the read
    driver.release.set()
    await clock.settle(lambda: len(bus.published(f"{STATE}/calibrate/result")) == 5)
    assert driver.calls[-5:] == ["read done", "frc 401", "frc 402", "frc 403", "frc 404"]
    await service.stop()


def test_discovery_adds_a_number_and_a_switch_that_ha_accepts():
    sensor = DiscoveredSensor(
        "co2",
        "Office",
        topics_for("edge", "co2"),
        (("co2", "ppm"),),
        {},
        ("calibrate", "self_calibration"),
    )
    entities = {e.object_id: e for e in sensor_entities(DEVICE, sensor, STATUS)}
    number, switch = entities["co2_calibrate"], entities["co2_self_calibration"]
    for entity in (number, switch):
        assert ha_schema.check(entity.component, entity.config) == []
    assert (
        number.component == "number" and number.config["command_topic"] == f"{STATE}/calibrate/set"
    )
    assert (number.config["min"], number.config["max"]) == (400, 2000)
    assert (
        switch.component == "switch" and switch.config["state_topic"] == f"{STATE}/self_calibration"
    )


async def test_a_flood_of_bad_commands_is_answered_each_time_but_logged_once(caplog):
    clock, _chip_clock, _chip, bus, service = await scd4x_service()
    for _ in range(3):
        result = await send(bus, clock, "calibrate", "lots")
        assert result["result"] == "refused"
    lines = [r for r in caplog.records if "calibrate lots refused" in r.getMessage()]
    assert len(lines) == 1  # the next one within 10 s says how many were held back
    await service.stop()
