"""BMP388/BMP390 against an independent published vector and a fake with the datasheet's map."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.bmp388 import BMP388, Calibration, compensate
from tests.fakes.chips.bmp388 import NVM, RAW, FakeBMP388
from tests.fakes.i2c import FakeClock, FakeSMBus


def test_calibration_and_compensation_match_the_vector():
    c = Calibration.from_nvm(NVM)
    assert c.t1 == 27427 * 256 and c.p11 == -60 / 2**65
    up, ut = int.from_bytes(RAW[:3], "little"), int.from_bytes(RAW[3:], "little")
    celsius, pascal = compensate(c, up, ut)
    assert celsius == pytest.approx(30.499314453874284, abs=1e-9)
    assert pascal == pytest.approx(100876.00634692199, abs=1e-6)


@pytest.mark.parametrize("chip_id,name", [(0x50, "BMP388"), (0x60, "BMP390")])
def test_forced_read_through_the_registers(chip_id, name):
    clock = FakeClock()
    bus = FakeSMBus()
    chip = bus.attach(0x77, FakeBMP388(clock, chip_id))
    with BMP388(
        bus, oversampling_pressure=16, oversampling_temperature=2, iir_filter=7, sleep=clock.sleep
    ) as drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert drv.chip == name and chip.resets == 1
    assert chip.regs[0x1C] == 1 << 3 | 4 and chip.regs[0x1F] == 3 << 1
    assert values == {
        "temperature": pytest.approx(30.4993, abs=1e-4),
        "pressure": pytest.approx(1008.76006, abs=1e-5),
    }


def test_conversion_time_3_9_2():
    drv = BMP388(FakeSMBus(), oversampling_pressure=8, oversampling_temperature=1)
    assert drv.conversion_time() == pytest.approx((234 + 392 + 8 * 2020 + 163 + 2020) / 1e6)


def test_errors():
    clock = FakeClock()
    bus = FakeSMBus()
    chip = bus.attach(0x77, FakeBMP388(clock))
    drv = BMP388(bus, sleep=clock.sleep)
    drv.open()
    chip.regs[0x02] = 0x01
    with pytest.raises(DriverError, match="fatal_err"):
        drv.read()
    chip.regs[0x02] = 0
    chip.raw = bytes(6)
    with pytest.raises(InvalidReading):
        drv.read()
    chip.regs[0x00] = 0x58
    with pytest.raises(DeviceNotFound, match="0x58"):
        drv.open()
