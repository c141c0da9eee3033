"""The generic register driver against a plain register-map fake."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.register import RegisterSensor
from tests.fakes.chips.register import FakeRegisterChip
from tests.fakes.i2c import FakeSMBus


def sensor(contents, **options):
    bus = FakeSMBus()
    bus.attach(0x48, FakeRegisterChip(0x48, contents))
    options.setdefault("quantity", "temperature")
    return RegisterSensor(bus, 0x48, **options)


def test_tmp102_style_12_bit_left_justified_big_endian_signed():
    # TMP102 datasheet §7.5.4: 0xE70 << 4 = -25 °C; value = raw16 / 16 × 0.0625
    drv = sensor({0x00: b"\xe7\x00"}, register=0, signed=True, scale=0.0625 / 16, unit="°C")
    with drv:
        assert drv.read()[0].value == pytest.approx(-25.0)
    assert drv.quantities == (("temperature", "°C"),)


def test_little_endian_unsigned_with_offset_and_scale():
    drv = sensor(
        {0x10: b"\x34\x12\x00"},
        register=0x10,
        length=3,
        byte_order="little",
        scale=0.5,
        offset=-10,
        quantity="pressure",
        unit="Pa",
    )
    with drv:
        assert drv.read()[0].value == 0x1234 * 0.5 - 10


def test_single_byte():
    drv = sensor({0x05: b"\xff"}, register=5, length=1, signed=True)
    with drv:
        assert drv.read()[0].value == -1


def test_valid_range_raises_never_clamps():
    drv = sensor({0: b"\x10\x00"}, register=0, valid_range=(0, 100))
    with drv, pytest.raises(InvalidReading, match="outside"):
        drv.read()


def test_missing_chip_is_device_not_found():
    with pytest.raises(DeviceNotFound):
        RegisterSensor(FakeSMBus(), 0x49, register=0, quantity="x").open()


@pytest.mark.parametrize(
    "options",
    [
        {"register": 256},
        {"register": 0, "length": 0},
        {"register": 0, "length": 33},
        {"register": 0, "byte_order": "middle"},
        {"register": 0, "quantity": "Temp C"},
        {"register": 0, "valid_range": (5, 1)},
    ],
)
def test_bad_config_is_a_clear_error(options):
    options.setdefault("quantity", "temperature")
    with pytest.raises(ValueError):
        RegisterSensor(FakeSMBus(), 0x48, **options)
