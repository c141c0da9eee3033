"""VL53L1X against a fake with 16-bit register indices: model id, boot, the ultra-lite driver's
documented settings (UM2510 §2: distance mode, timing budget, inter-measurement period), data
ready and interrupt clear, and UM2510's range statuses as failed reads."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.vl53l1x import VL53L1X, check_range, range_status
from tests.fakes.chips.vl53l1x import FakeVL53L1X
from tests.fakes.i2c import FakeClock, FakeSMBus


def setup(**options):
    clock, bus = FakeClock(), FakeSMBus()
    chip = bus.attach(0x29, FakeVL53L1X(clock))
    return clock, chip, VL53L1X(bus, sleep=clock.sleep, **options)


def test_model_id_0x010F_reads_EACC_and_anything_else_is_not_found():
    clock, bus = FakeClock(), FakeSMBus()
    bus.attach(0x29, FakeVL53L1X(clock, model_id=0xEEAA))  # a VL53L0X's bytes
    with pytest.raises(DeviceNotFound, match="model id 0xEEAA is not 0xEACC"):
        VL53L1X(bus, sleep=clock.sleep).open()
    with pytest.raises(DeviceNotFound, match="no device answers at 0x29"):
        VL53L1X(FakeSMBus(), sleep=clock.sleep).open()


def test_open_waits_for_boot_then_writes_the_long_mode_100_ms_settings():
    clock, chip, drv = setup()
    drv.open()
    assert clock.now >= chip.boot_at
    assert chip.regs[0x004B] == 0x0A and chip.regs[0x0060] == 0x0F and chip.regs[0x0063] == 0x0D
    assert chip.regs[0x0069] == 0xB8 and chip.regs[0x0078:0x007C] == b"\x0f\x0d\x0e\x0e"
    assert chip.regs[0x005E:0x0060] == b"\x01\xcc" and chip.regs[0x0061:0x0063] == b"\x01\xea"
    # inter-measurement = 100 ms x (0x0C5A & 0x3FF = 90) x 1.075 = 9675
    assert int.from_bytes(chip.regs[0x006C:0x0070], "big") == 9675
    assert chip.regs[0x0087] == 0x40 and chip.started_at is not None


def test_short_mode_15_ms_and_budgets_that_do_not_exist():
    _clock, chip, drv = setup(distance_mode="short", timing_budget=15)
    drv.open()
    assert chip.regs[0x004B] == 0x14 and chip.regs[0x0078:0x007C] == b"\x07\x05\x06\x06"
    assert chip.regs[0x005E:0x0060] == b"\x00\x1d" and chip.regs[0x0061:0x0063] == b"\x00\x27"
    with pytest.raises(ValueError, match=r"long mode must be one of \[20, 33, 50, 100, 200, 500\]"):
        VL53L1X(FakeSMBus(), timing_budget=15)
    with pytest.raises(ValueError, match="'short' or 'long'"):
        VL53L1X(FakeSMBus(), distance_mode="medium")


def test_a_chip_that_never_boots_is_a_failed_open():
    _clock, chip, drv = setup()
    chip.boot_at = None
    with pytest.raises(DriverError, match="did not report booted"):
        drv.open()


def test_read_takes_a_fresh_result_and_clears_the_interrupt():
    clock, chip, drv = setup()
    with drv:
        clock.advance(5.0)  # a result has been waiting: stale
        chip.millimetres = 812
        start = clock.now
        (reading,) = drv.read()
        assert (reading.quantity, reading.value, reading.unit) == ("distance", 0.812, "m")
        assert clock.now - start <= chip.period_s() + 0.006  # waited for the next one
        assert not chip.ready()  # cleared after the read
        assert chip.writes[-1] == (0x0086, b"\x01")
    assert chip.regs[0x0087] == 0x00  # close stops ranging


def test_active_low_interrupt_polarity_is_followed():
    _clock, chip, drv = setup()
    chip.regs[0x0030] = 0x11  # bit 4: active low, data ready reads 0
    with drv:
        assert drv.ready_level == 0
        assert drv.read()[0].value == 1.234


@pytest.mark.parametrize(
    "raw, status, message",
    [
        (6, 1, "sigma failure"),
        (4, 2, "signal failure"),
        (8, 3, "target below the minimum range"),
        (5, 4, "out of bounds"),
        (3, 5, "hardware failure"),
        (7, 7, "wrap-around"),
        (0, 255, "not a valid range"),
        (19, 6, "not a valid range"),
    ],
)
def test_um2510_range_statuses_are_failed_reads(raw, status, message):
    assert range_status(raw) == status
    _clock, chip, drv = setup()
    chip.raw_status = raw
    with drv, pytest.raises(InvalidReading, match=f"range status {status}: {message}"):
        drv.read()


def test_range_status_uses_bits_4_to_0_only():
    assert range_status(0xE9) == 0 and check_range(0x09, 4000) == 4.0


def test_no_data_ready_is_a_failed_read_not_a_hang():
    clock, chip, drv = setup()
    with drv:
        chip.started_at = None  # stopped ranging behind the driver's back
        with pytest.raises(DriverError, match="no result within 3 timing budgets"):
            drv.read()
        assert clock.now < 1000 + 1.0  # bounded: 3 x 100 ms + 50 ms of polls
