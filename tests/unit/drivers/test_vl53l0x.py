"""VL53L0X against a fake with the datasheet's reference registers and the single-ranging flow of
UM2039 §2.4; device range statuses (mapped as UM2039 §2.6) and range errors as failed reads."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.vl53l0x import VL53L0X, decode
from tests.fakes.chips.vl53l0x import FakeVL53L0X
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup():
    clock, bus = FakeClock(), FakeSMBus()
    chip = bus.attach(0x29, FakeVL53L0X(clock))
    return clock, chip, VL53L0X(bus, sleep=clock.sleep)


def test_reference_registers_0xC0_EE_0xC1_AA():
    clock, bus = FakeClock(), FakeSMBus()
    bus.attach(0x29, FakeVL53L0X(clock, model_id=0xEA))
    with pytest.raises(DeviceNotFound, match="register 0xC0 reads 0xEA, not 0xEE"):
        VL53L0X(bus, sleep=clock.sleep).open()
    with pytest.raises(DeviceNotFound, match="no device answers at 0x29"):
        VL53L0X(FakeSMBus()).open()
    with pytest.raises(ValueError, match="not one of its addresses"):
        VL53L0X(FakeSMBus(), address=0x30)


def test_single_ranging_reads_the_range_and_clears_the_interrupt():
    clock, chip, drv = setup()
    with drv:
        assert chip.regs[0x0A] == 0x04  # interrupt on new sample ready
        start = clock.now
        (reading,) = drv.read()
        assert (reading.quantity, reading.value, reading.unit) == ("distance", 0.457, "m")
        assert 0.033 <= clock.now - start < 0.045  # the 33 ms power-on timing budget, polled
        assert not chip.pending and chip.regs[0x0B] == 0x00  # cleared: 0x01 then 0x00
        chip.millimetres = 1200
        assert drv.read()[0].value == 1.2 and chip.rangings == 2


@pytest.mark.parametrize(
    "status, message",
    [
        (1, "hardware failure"),
        (2, "hardware failure"),
        (3, "hardware failure"),
        (4, "signal failure"),
        (6, "phase out of bounds"),
        (9, "phase out of bounds"),
        (8, "below the minimum range"),
        (10, "below the minimum range"),
    ],
)
def test_device_range_statuses_are_failed_reads(status, message):
    _clock, chip, drv = setup()
    chip.device_status = status
    with drv, pytest.raises(InvalidReading, match=f"device range status {status}: {message}"):
        drv.read()
    assert not chip.pending  # the interrupt is cleared even so


def test_no_target_and_range_error_bits_are_failed_reads():
    _clock, chip, drv = setup()
    with drv:
        chip.millimetres = 8190
        with pytest.raises(InvalidReading, match="8190 mm is the chip's 'no target' value"):
            drv.read()
        chip.millimetres, chip.error_bits = 500, 0x08
        with pytest.raises(InvalidReading, match="range error"):
            drv.read()
        chip.error_bits = 0
        assert drv.read()[0].value == 0.5  # a positive control: the same chip reads again


def test_a_ranging_that_never_ends_is_a_bounded_failed_read():
    clock, chip, drv = setup()
    chip.stuck = True
    with drv, pytest.raises(DriverError, match=r"no result \(not ready\) within 500 ms"):
        drv.read()
    assert clock.now < 1000 + 1.0


def test_decode_reads_bits_6_to_3_and_the_word_at_offset_10():
    block = bytes([11 << 3 | 0x01]) + bytes(9) + (2000).to_bytes(2, "big")
    assert decode(block) == 2.0
