"""DS18B20 over a fake w1 sysfs tree on a real file system."""

from __future__ import annotations

import errno

import pytest

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.onewire.ds18b20 import DS18B20, maxim_crc8, parse_w1_slave
from tests.fakes.chips.ds18b20 import FakeW1Bus, scratchpad, w1_slave_text

ID = "28-0316a2792bff"
REAL = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


@pytest.fixture
def w1(tmp_path):
    return FakeW1Bus(tmp_path)


def test_crc_of_a_real_sensor_scratchpad_is_0x57():
    assert maxim_crc8(bytes.fromhex("72014b467fff0e10")) == 0x57


def test_real_kernel_output_parses_to_23_125():
    assert parse_w1_slave(REAL) == 23.125


@pytest.mark.parametrize("celsius", [-55.0, -10.125, 0.0, 0.0625, 25.5, 84.9375, 125.0])
def test_read_through_sysfs(w1, tmp_path, celsius):
    w1.set_temperature(ID, celsius)
    with DS18B20(ID, str(tmp_path)) as drv:
        (reading,) = drv.read()
    assert (reading.quantity, reading.value, reading.unit) == ("temperature", celsius, "°C")


def test_kernel_crc_no_raises_checksum_error(w1, tmp_path):
    w1.write(ID, w1_slave_text(scratchpad(0x0172), 23125, verdict="NO"))
    with pytest.raises(ChecksumError, match="kernel"):
        DS18B20(ID, str(tmp_path)).read()


def test_own_crc_check_catches_a_corrupt_scratchpad_marked_yes(w1, tmp_path):
    pad = bytearray(scratchpad(0x0172))
    pad[0] ^= 0x04
    w1.write(ID, w1_slave_text(bytes(pad), 23125, verdict="YES"))
    with pytest.raises(ChecksumError, match="scratchpad"):
        DS18B20(ID, str(tmp_path)).read()


def test_85_c_power_on_value_table_4_rejected(w1, tmp_path):
    w1.set_temperature(ID, 85.0)
    with pytest.raises(InvalidReading, match="power-on"):
        DS18B20(ID, str(tmp_path)).read()


def test_all_zero_scratchpad_passes_crc_but_is_rejected(w1, tmp_path):
    w1.write(ID, w1_slave_text(bytes(9), 0))
    with pytest.raises(InvalidReading, match="all-zero"):
        DS18B20(ID, str(tmp_path)).read()


@pytest.mark.parametrize("millis", [-127000, 4095937, 125063, -55063])
def test_error_markers_and_out_of_range_rejected(w1, tmp_path, millis):
    w1.write(ID, w1_slave_text(scratchpad(millis * 16 // 1000), millis))
    with pytest.raises(InvalidReading):
        DS18B20(ID, str(tmp_path)).read()


def test_low_resolution_masks_undefined_bits(w1, tmp_path):
    # 9-bit: bits 2..0 undefined; raw 0x0177 reads as 0x0170 = 23.0 °C
    w1.write(ID, w1_slave_text(scratchpad(0x0177, resolution=9), 23437))
    assert DS18B20(ID, str(tmp_path)).read()[0].value == 23.0


def test_truncated_file_is_invalid(w1, tmp_path):
    w1.write(ID, REAL.splitlines()[0] + "\n")
    with pytest.raises(InvalidReading, match="unexpected"):
        DS18B20(ID, str(tmp_path)).read()


def test_ds1822_family_22_has_the_same_scratchpad(w1, tmp_path):
    w1.set_temperature("22-000003a1b2c3", 21.0625)
    assert DS18B20("22-000003a1b2c3", str(tmp_path)).read()[0].value == 21.0625


def test_missing_device_is_device_not_found(tmp_path):
    with pytest.raises(DeviceNotFound) as info:
        DS18B20(ID, str(tmp_path)).open()
    assert info.value.errno == errno.ENOENT


@pytest.mark.parametrize("bad", ["10-0316a2792bff", "28-0316A2792BFF", "28-123", "../etc"])
def test_bad_device_id_or_unsupported_family(bad):
    with pytest.raises(ValueError):
        DS18B20(bad)
