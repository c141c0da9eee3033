"""HTU21D / SHT21 / Si7021 against a fake that NAKs while measuring and sets status bits and CRC."""

from __future__ import annotations

import pytest

from drivers.base import ChecksumError, DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.htu21d import HTU21D, crc8, decode, humidity, temperature
from tests.fakes.chips.htu21d import FakeHTU21D
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(clock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x40, FakeHTU21D(clock))
    return chip, HTU21D(bus, sleep=clock.sleep, **options)


@pytest.mark.parametrize("data,crc", [(b"\xdc", 0x79), (b"\x68\x3a", 0x7C), (b"\x4e\x85", 0x6B)])
def test_crc_examples_sht21_5_7(data, crc):
    assert crc8(data) == crc


def test_conversion_formulas_6_1_6_2():
    assert humidity(0x8000) == pytest.approx(56.5)  # -6 + 125 / 2
    assert temperature(0x8000) == pytest.approx(41.01)  # -46.85 + 175.72 / 2


def test_status_bits_are_cleared_before_conversion():
    frame = (0x8003).to_bytes(2, "big")
    assert decode(frame + bytes([crc8(frame)]), humidity=True) == 0x8000


@pytest.mark.parametrize("chip_name", ["htu21d", "sht21", "si7021"])
def test_reads_both_quantities_polling_while_nacked(chip_name):
    clock = FakeClock()
    chip, drv = setup(clock, chip=chip_name)
    chip.temperature, chip.humidity = -5.5, 83.25
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert chip.resets == 1
    assert values == {
        "temperature": pytest.approx(-5.5, abs=0.01),
        "humidity": pytest.approx(83.25, abs=0.01),
    }


def test_crc_mismatch_is_a_failed_read():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.corrupt_crc = True
    drv.open()
    with pytest.raises(ChecksumError):
        drv.read()


def test_response_of_the_other_measurement_is_refused():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.swap_status = True
    drv.open()
    with pytest.raises(DriverError, match="status bit"):
        drv.read()


def test_humidity_above_100_raises_not_clamps():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.raw[0xF5] = 0xFFFE  # 118.99 % by the formula
    drv.open()
    with pytest.raises(InvalidReading, match="humidity"):
        drv.read()


def test_a_chip_that_never_finishes_is_a_failed_read():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip.write = lambda data: None  # accepts, never measures
    with pytest.raises(OSError):
        drv.read()


def test_nothing_at_0x40_is_not_found():
    with pytest.raises(DeviceNotFound):
        HTU21D(FakeSMBus(), sleep=FakeClock().sleep).open()
