"""An I2C bus that locks up is reopened by the scheduler, and the sensor comes back online."""

import errno

from pydantic import TypeAdapter

from gateway.sensors.config import SensorList
from gateway.sensors.registry import Resources
from gateway.sensors.scheduler import SensorService
from tests.fakes.chips.register import FakeRegisterChip
from tests.fakes.fake_clock import FakeClock
from tests.fakes.i2c import FakeSMBus
from tests.fakes.local_bus import MemoryBus
from tests.unit.sensors.test_scheduler import settled_for


class WedgingBus(FakeSMBus):
    """A bus whose file descriptor wedges: every transfer times out (ETIMEDOUT, as the kernel's
    adapter reports a stuck transfer) until the bus is closed and opened again, like smbus2's
    SMBus.close() / SMBus.open(bus)."""

    def __init__(self) -> None:
        super().__init__()
        self.wedged = False

    def _chip(self, address):
        if self.wedged and not self.closed:
            raise OSError(errno.ETIMEDOUT, "Connection timed out")
        return super()._chip(address)

    def open(self, bus: int) -> None:
        super().open(bus)  # a fresh file descriptor
        self.wedged = False


async def test_wedged_i2c_bus_is_reopened_and_the_sensor_recovers():
    clock, mqtt = FakeClock(), MemoryBus()
    bus = WedgingBus()
    bus.attach(0x48, FakeRegisterChip(0x48, {0x00: bytes([0x19, 0x00])}))  # 25.0 °C in 1/256
    raw = TypeAdapter(SensorList).validate_python(
        [
            {
                "type": "i2c_register",
                "name": "tmp",
                "address": 0x48,
                "register": 0,
                "length": 2,
                "signed": True,
                "scale": 1 / 256,
                "quantity": "temperature",
                "unit": "°C",
                "interval": 10,
                "backoff_max": 10,
                "offline_after": 3,
            }
        ]
    )
    resources = Resources(new_i2c=lambda: bus)
    service = SensorService.from_config(
        raw, mqtt.client("sensors"), base_topic="edge", clock=clock, resources=resources
    )
    settled = settled_for(clock, service.drivers)
    await service.start()
    await clock.advance_to(5, settled)
    assert mqtt.published("edge/sensor/tmp/availability") == [b"online"]
    bus.wedged = True
    assert bus.opens == 1
    await clock.advance_to(45, settled)  # reads at 10, 20, 30 fail; the third closes the bus and
    assert bus.opens == 2  # the attempt at 40 opens it again
    assert mqtt.published("edge/sensor/tmp/availability") == [b"online", b"offline", b"online"]
    status = {s.name: s for s in service.status().sensors}
    assert status["tmp"].failures == 3
    await service.stop()
