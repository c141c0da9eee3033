"""The I2C seam: FakeSMBus behaves like smbus2 on a Pi; recover_bus reopens the descriptor."""

from __future__ import annotations

import errno

import pytest

from drivers.base import DeviceNotFound
from drivers.bus.i2c import (
    check_address,
    missing_as_not_found,
    open_bus,
    read_raw,
    recover_bus,
    write_raw,
)
from tests.fakes.chips.register import FakeRegisterChip
from tests.fakes.i2c import FakeSMBus


def test_missing_address_raises_eremoteio_like_the_kernel():
    with pytest.raises(OSError) as info:
        FakeSMBus().read_byte_data(0x50, 0)
    assert info.value.errno == errno.EREMOTEIO == 121


def test_smbus_word_is_little_endian_and_block_reads_auto_increment():
    bus = FakeSMBus()
    bus.attach(0x50, FakeRegisterChip(0x50, {0x10: b"\x34\x12\x56"}))
    assert bus.read_word_data(0x50, 0x10) == 0x1234
    assert bus.read_i2c_block_data(0x50, 0x10, 3) == [0x34, 0x12, 0x56]
    bus.write_i2c_block_data(0x50, 0x20, [1, 2])
    assert bus.read_byte_data(0x50, 0x21) == 2


def test_i2c_rdwr_with_real_smbus2_messages():
    bus = FakeSMBus()
    bus.attach(0x50, FakeRegisterChip(0x50, {0x05: b"\xaa\xbb"}))
    write_raw(bus, 0x50, [0x05])
    assert read_raw(bus, 0x50, 2) == b"\xaa\xbb"


def test_smbus2_block_limit_is_kept():
    with pytest.raises(ValueError):
        FakeSMBus().read_i2c_block_data(0x50, 0, 33)


def test_missing_as_not_found_keeps_other_errors():
    with pytest.raises(DeviceNotFound), missing_as_not_found(0x40, "X"):
        raise OSError(errno.EREMOTEIO, "x")
    with pytest.raises(PermissionError), missing_as_not_found(0x40, "X"):
        raise PermissionError(errno.EACCES, "x")


def test_check_address():
    assert check_address(0x76, (0x76, 0x77), "X") == 0x76
    with pytest.raises(ValueError, match="0x40"):
        check_address(0x40, (0x76, 0x77), "X")


def test_recover_bus_closes_and_reopens():
    old, opened = FakeSMBus(), []

    def opener(number):
        opened.append(number)
        return FakeSMBus()

    new = recover_bus(old, 1, opener)
    assert old.closed and not new.closed and opened == [1]


def test_recover_bus_survives_a_failing_close():
    class Wedged(FakeSMBus):
        def close(self):
            raise OSError(errno.EIO, "stuck")

    assert isinstance(recover_bus(Wedged(), 3, lambda n: FakeSMBus()), FakeSMBus)


def test_open_bus_uses_smbus2_and_reports_missing_device_file():
    with pytest.raises(FileNotFoundError):
        open_bus(250)  # /dev/i2c-250 does not exist: smbus2's own error
    with pytest.raises(ValueError):
        open_bus(-1)
