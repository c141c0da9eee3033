"""DHT11/DHT22 through a fake of the kernel dht11 IIO driver's sysfs files."""

from __future__ import annotations

import errno

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.gpio.dht import DHT
from tests.fakes.chips.dht_iio import FakeIIO


def test_reads_milli_units(tmp_path):
    iio = FakeIIO(tmp_path)
    iio.add(0, "some-adc")  # another IIO device is ignored
    iio.add(1, celsius=-12.4, rh=87.5)
    drv = DHT(base_path=str(tmp_path), read_file=iio.read_file)
    with drv:
        assert [(r.quantity, r.value) for r in drv.read()] == [
            ("temperature", -12.4),
            ("humidity", 87.5),
        ]
    assert drv.path.endswith("iio:device1")


def test_checksum_error_and_silence_are_failed_reads(tmp_path):
    iio = FakeIIO(tmp_path)
    device = iio.add(0)
    drv = DHT(base_path=str(tmp_path), read_file=iio.read_file)
    drv.open()
    iio.fail[device] = errno.EIO
    with pytest.raises(InvalidReading, match="checksum"):
        drv.read()
    iio.fail[device] = errno.ETIMEDOUT
    with pytest.raises(DriverError, match="did not answer"):
        drv.read()
    del iio.fail[device]
    assert drv.read()[0].value == 21.3


def test_no_overlay_is_not_found(tmp_path):
    with pytest.raises(DeviceNotFound, match="dtoverlay=dht11"):
        DHT(base_path=str(tmp_path / "missing")).open()


def test_two_sensors_need_iio_device(tmp_path):
    iio = FakeIIO(tmp_path)
    iio.add(0)
    second = iio.add(1, "dht11@17", celsius=30.0)
    with pytest.raises(DriverError, match="set iio_device"):
        DHT(base_path=str(tmp_path), read_file=iio.read_file).open()
    with DHT(iio_device=second, base_path=str(tmp_path), read_file=iio.read_file) as drv:
        assert drv.read()[0].value == 30.0


def test_out_of_range_is_a_failed_read(tmp_path):
    iio = FakeIIO(tmp_path)
    iio.add(0, rh=103.0)
    with (
        DHT(base_path=str(tmp_path), read_file=iio.read_file) as drv,
        pytest.raises(InvalidReading),
    ):
        drv.read()


def test_overlay_removed_while_running_is_found_again(tmp_path):
    iio = FakeIIO(tmp_path)
    iio.add(0)
    drv = DHT(base_path=str(tmp_path), read_file=iio.read_file)
    drv.open()
    (tmp_path / "iio:device0" / "in_temp_input").unlink()
    with pytest.raises(DeviceNotFound):
        drv.read()
    assert drv.path is None
    iio.set("iio:device0", 19.0, 40.0)
    assert drv.read()[0].value == 19.0
