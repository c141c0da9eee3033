"""Pulse counter totals across restarts (`persist = true`), with gpiozero's MockFactory pins, a fake
clock and the real state file: a clean stop keeps every pulse, kill -9 loses at most the pulses of
`persist_interval` seconds, a corrupt file is quarantined."""

import json
import logging
import os

import pytest
from pydantic import TypeAdapter, ValidationError

from gateway.sensors.config import SensorList
from gateway.sensors.counters import FILE_NAME, CounterStore
from gateway.sensors.registry import Resources, SensorSetupError
from gateway.sensors.scheduler import SensorService
from tests.fakes.fake_clock import FakeClock
from tests.fakes.local_bus import MemoryBus
from tests.fakes.ticked_gpio import TickedMockFactory
from tests.unit.sensors.test_scheduler import settled_for

METER = {
    "type": "pulse_counter",
    "name": "water",
    "pin": 27,
    "factor": 0.5,
    "total_unit": "L",
    "interval": 10,
    "persist": True,
    "persist_interval": 60,
}


def configs(*raw):
    return TypeAdapter(SensorList).validate_python(raw)


class Gateway:
    """One run of the sensor service, as one gateway process: its own pins, clock and bus."""

    def __init__(self, state_dir, **overrides):
        self.clock, self.mqtt, self.pins = FakeClock(), MemoryBus(), TickedMockFactory()
        self.service = SensorService.from_config(
            configs({**METER, **overrides}),
            self.mqtt.client("sensors"),
            base_topic="edge",
            clock=self.clock,
            resources=Resources(pin_factory=self.pins),
            state_dir=state_dir,
        )
        self.settled = settled_for(self.clock, self.service.drivers)

    async def start(self):
        await self.service.start()
        await self.clock.advance_to(0, self.settled)
        return self

    async def run_to(self, t):
        await self.clock.advance_to(t, self.settled)

    def pulses(self, n):
        pin = self.pins.pin(27)
        for _ in range(n):
            pin.drive_low()
            self.pins.advance(0.05)
            pin.drive_high()
            self.pins.advance(0.05)

    def last(self):
        payload = json.loads(self.mqtt.published("edge/sensor/water")[-1])
        return payload["count"]["value"], payload["total"]["value"]


async def test_a_clean_restart_keeps_every_pulse(tmp_path):
    first = await Gateway(tmp_path).start()
    first.pulses(5)
    await first.run_to(10)
    assert first.last() == (5, 2.5)
    assert not (tmp_path / FILE_NAME).exists()  # persist_interval (60 s) has not passed
    await first.service.stop()  # SIGTERM: the count is saved
    assert CounterStore(tmp_path).load() == {"water": 5}

    second = await Gateway(tmp_path).start()
    assert second.last() == (5, 2.5)  # the first reading after the restart continues the total
    second.pulses(2)
    await second.run_to(10)
    assert second.last() == (7, 3.5)
    await second.service.stop()
    assert CounterStore(tmp_path).load() == {"water": 7}


async def test_after_kill_9_the_total_resumes_from_the_last_save(tmp_path):
    first = await Gateway(tmp_path).start()
    first.pulses(3)
    await first.run_to(60)  # changed and 60 s since start: saved after this read
    assert CounterStore(tmp_path).load() == {"water": 3}
    inode = os.stat(tmp_path / FILE_NAME).st_ino
    first.pulses(2)
    await first.run_to(110)  # changed, but only 50 s since the save: not yet
    assert first.last() == (5, 2.5) and CounterStore(tmp_path).load() == {"water": 3}
    assert os.stat(tmp_path / FILE_NAME).st_ino == inode

    # kill -9: no stop(); a new process starts on the same state directory
    second = await Gateway(tmp_path).start()
    assert second.last() == (
        3,
        1.5,
    )  # the 2 pulses after the last save are lost, nothing counted twice
    await second.service.stop()
    assert os.stat(tmp_path / FILE_NAME).st_ino == inode  # nothing changed: no write at stop
    await first.service.stop()


async def test_no_pulses_no_writes(tmp_path):
    meter = await Gateway(tmp_path).start()
    meter.pulses(1)
    await meter.run_to(60)
    inode = os.stat(tmp_path / FILE_NAME).st_ino
    await meter.run_to(600)  # nothing flows for nine minutes: the SD card is left alone
    assert os.stat(tmp_path / FILE_NAME).st_ino == inode
    await meter.service.stop()


async def test_a_corrupt_file_is_quarantined_and_counting_starts_from_zero(tmp_path, caplog):
    (tmp_path / FILE_NAME).write_text('{"version": 1, "counters": {"water": -4}}')
    with caplog.at_level(logging.ERROR):
        meter = await Gateway(tmp_path).start()
    assert meter.last() == (0, 0.0)
    assert (
        tmp_path / (FILE_NAME + ".corrupt")
    ).read_text() == '{"version": 1, "counters": {"water": -4}}'
    assert any("bad count for 'water'" in r.getMessage() for r in caplog.records)
    await meter.service.stop()


async def test_entries_of_other_sensors_are_kept(tmp_path):
    CounterStore(tmp_path).save({"old-meter": 99, "water": 10})
    meter = await Gateway(tmp_path).start()
    meter.pulses(1)
    await meter.service.stop()
    assert CounterStore(tmp_path).load() == {"old-meter": 99, "water": 11}


def test_persist_options_are_checked():
    with pytest.raises(ValidationError, match="persist_interval applies only with persist = true"):
        configs({**METER, "persist": False})
    with pytest.raises(ValidationError, match="greater than or equal to 10"):
        configs({**METER, "persist_interval": 5})
    with pytest.raises(ValidationError, match="persist"):
        configs({"type": "gpio_input", "name": "door", "pin": 17, "persist": True})
    with pytest.raises(SensorSetupError, match="'water': persist = true needs a state directory"):
        SensorService.from_config(
            configs(METER),
            MemoryBus().client("s"),
            base_topic="edge",
            resources=Resources(pin_factory=TickedMockFactory()),
        )
