"""Absent hardware is not a start-up error: a sensor whose I2C bus cannot be opened is built, offline
at once, retried with its backoff, and runs its chip init again when the bus appears."""

import errno
import logging
import os

from pydantic import TypeAdapter

from drivers.i2c.bme280 import BME280
from gateway.sensors.config import SensorList
from gateway.sensors.policy import Availability
from gateway.sensors.registry import BuiltSensor, Resources, build_sensor
from gateway.sensors.scheduler import SensorService
from tests.fakes.chips.bme280 import FakeBME280
from tests.fakes.fake_clock import FakeClock
from tests.fakes.i2c import FakeClock as ChipClock
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.unit.sensors.test_scheduler import settled_for, stamps


class Adapter(FakeSMBus):
    """An I2C adapter that can be missing (I2C not enabled, a USB-I2C adapter unplugged): it records
    when it was asked to open, and an unplugged adapter fails every transfer with ENODEV."""

    def __init__(self, clock: FakeClock, present: bool) -> None:
        super().__init__(present=present)
        self.clock = clock
        self.open_attempts: list[float] = []

    def open(self, bus: int) -> None:
        self.open_attempts.append(self.clock.now)
        super().open(bus)

    def unplug(self) -> None:
        self.present = False

    def _chip(self, address):
        if not self.present and not self.closed:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        return super()._chip(address)


class CountingBME280(FakeBME280):
    """Counts soft resets (0xB6 to 0xE0): the driver's open() is its chip init."""

    soft_resets = 0

    def on_write(self, register: int, value: int) -> None:
        if register == 0xE0 and value == 0xB6:
            self.soft_resets += 1
        super().on_write(register, value)


def sensor_configs(*raw):
    return TypeAdapter(SensorList).validate_python(raw)


def service_with_bme280(clock: FakeClock, mqtt: MemoryBus, adapter: Adapter):
    """A BME280 on the adapter (built like the registry does, with the chip's clock for its
    conversion waits) and a simulated sensor next to it."""
    chip_clock = ChipClock()
    chip = adapter.attach(0x76, CountingBME280(chip_clock))
    attic, probe = sensor_configs(
        {"type": "bme280", "name": "attic", "interval": 10, "backoff_max": 40, "offline_after": 3},
        {"type": "simulated", "name": "probe", "interval": 10, "seed": 1},
    )
    resources = Resources(new_i2c=lambda: adapter)
    device = resources.i2c(attic.bus)
    driver = BME280(device.handle, attic.address, sleep=chip_clock.sleep)
    built = [BuiltSensor(attic, driver, device.key), build_sensor(probe, resources)]
    service = SensorService(
        built, mqtt.client("sensors"), base_topic="edge", clock=clock, resources=resources
    )
    return service, chip


async def test_a_missing_i2c_bus_is_offline_at_once_retried_and_comes_online(caplog):
    clock, mqtt = FakeClock(), MemoryBus()
    adapter = Adapter(clock, present=False)
    service, chip = service_with_bme280(clock, mqtt, adapter)
    settled = settled_for(clock, service.drivers)
    with caplog.at_level(logging.DEBUG, logger="gateway.sensors"):
        await service.start()
        await clock.advance_to(5, settled)
        # offline at once (not after offline_after = 3 failures), retained; the other sensor reads
        assert mqtt.published("edge/sensor/attic/availability") == [b"offline"]
        assert mqtt.retained["edge/sensor/attic/availability"].payload == b"offline"
        assert stamps(mqtt, "edge/sensor/probe") == [0.0]
        await clock.advance_to(100, settled)
        # retried with the sensor's backoff: 10, 20, then 40 (backoff_max)
        assert adapter.open_attempts == [0, 10, 30, 70]
        assert chip.soft_resets == 0 and mqtt.published("edge/sensor/attic") == []
        adapter.present = True  # dtparam=i2c_arm=on and a reboot of the adapter, say
        await clock.advance_to(120, settled)
    assert adapter.open_attempts == [0, 10, 30, 70, 110]
    assert chip.soft_resets == 1  # the driver's open() ran once the bus was there
    assert mqtt.published("edge/sensor/attic/availability") == [b"offline", b"online"]
    assert stamps(mqtt, "edge/sensor/attic") == [110.0, 120.0]
    assert len(stamps(mqtt, "edge/sensor/probe")) == 13  # 0..120 every 10 s, undisturbed
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "attic" in r.getMessage()
    ]
    assert [r.getMessage() for r in warnings] == [
        "sensor attic: cannot open /dev/i2c-1: [Errno 2] No such file or directory; "
        "offline, retrying with backoff up to 40 s"
    ]
    assert warnings[0].SENSOR == "attic"  # the journal field: journalctl SENSOR=attic
    assert any(
        r.levelno == logging.INFO and r.getMessage() == "sensor attic: /dev/i2c-1 opened"
        for r in caplog.records
    )
    await service.stop()
    assert mqtt.retained["edge/sensor/attic/availability"].payload == b"offline"
    assert adapter.closed


async def test_an_adapter_lost_at_run_time_is_reopened_and_the_chip_initialised_again():
    clock, mqtt = FakeClock(), MemoryBus()
    adapter = Adapter(clock, present=True)
    service, chip = service_with_bme280(clock, mqtt, adapter)
    settled = settled_for(clock, service.drivers)
    await service.start()
    await clock.advance_to(5, settled)
    assert chip.soft_resets == 1 and mqtt.published("edge/sensor/attic/availability") == [b"online"]
    adapter.unplug()
    # reads at 10, 20, 40 fail (ENODEV); the third closes the bus; reopening fails at 80 and 120
    await clock.advance_to(125, settled)
    assert adapter.open_attempts == [0, 80, 120]
    assert mqtt.published("edge/sensor/attic/availability") == [b"online", b"offline"]
    status = {s.name: s for s in service.status().sensors}
    assert "cannot open /dev/i2c-1" in status["attic"].last_error
    adapter.present = True
    await clock.advance_to(165, settled)
    assert adapter.open_attempts == [0, 80, 120, 160]
    assert chip.soft_resets == 2  # chip init again on the new file descriptor
    assert mqtt.published("edge/sensor/attic/availability") == [b"online", b"offline", b"online"]
    assert stamps(mqtt, "edge/sensor/attic")[-1] == 160.0
    await service.stop()


def test_unavailable_goes_offline_at_once_and_counts_for_the_backoff():
    availability = Availability(offline_after=3)
    assert availability.unavailable() == b"offline"
    assert availability.unavailable() is None and availability.consecutive_failures == 2
    assert availability.success() == b"online" and availability.consecutive_failures == 0
    assert availability.failure() is None  # an ordinary failure still needs offline_after in a row
