"""LM75 / LM75B / TMP102 against the datasheets' temperature-to-register tables."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.lm75 import LM75, decode
from tests.fakes.chips.lm75 import FakeLM75
from tests.fakes.i2c import FakeSMBus

# (register value right-justified, °C): LM75A table "Temperature-to-Digital Output" (9 bit)
LM75_TABLE = [
    (0x0FA, 125.0),
    (0x032, 25.0),
    (0x001, 0.5),
    (0x000, 0.0),
    (0x1FF, -0.5),
    (0x1CE, -25.0),
    (0x192, -55.0),
]
# NXP LM75B table 10 (11 bit)
LM75B_TABLE = [
    (0x3F8, 127.0),
    (0x3E8, 125.0),
    (0x0C8, 25.0),
    (0x001, 0.125),
    (0x000, 0.0),
    (0x7FF, -0.125),
    (0x738, -25.0),
    (0x649, -54.875),
    (0x648, -55.0),
]
# TI TMP102 table 8 (12 bit, normal mode)
TMP102_TABLE = [
    (0x7FF, 127.9375),
    (0x640, 100.0),
    (0x500, 80.0),
    (0x4B0, 75.0),
    (0x320, 50.0),
    (0x190, 25.0),
    (0x004, 0.25),
    (0x000, 0.0),
    (0xFFC, -0.25),
    (0xE70, -25.0),
    (0xC90, -55.0),
]
# TI TMP102 table 9 (13 bit, extended mode)
TMP102_EM_TABLE = [
    (0x0960, 150.0),
    (0x07D0, 125.0),
    (0x0190, 25.0),
    (0x1FFC, -0.25),
    (0x1C90, -55.0),
]


@pytest.mark.parametrize(
    "table,bits,lsb",
    [
        (LM75_TABLE, 9, 0.5),
        (LM75B_TABLE, 11, 0.125),
        (TMP102_TABLE, 12, 0.0625),
        (TMP102_EM_TABLE, 13, 0.0625),
    ],
)
def test_datasheet_tables(table, bits, lsb):
    for raw, celsius in table:
        assert decode(raw << (16 - bits), bits, lsb) == celsius, hex(raw)


@pytest.mark.parametrize("chip,value", [("lm75", -24.5), ("lm75b", 31.875), ("tmp102", -7.0625)])
def test_reads_through_the_bus(chip, value):
    bus = FakeSMBus()
    fake = bus.attach(0x49, FakeLM75(chip, 0x49))
    fake.set_celsius(value)
    with LM75(bus, 0x49, chip=chip) as drv:
        assert [(r.quantity, r.value, r.unit) for r in drv.read()] == [("temperature", value, "°C")]


def test_tmp102_extended_mode_is_read_from_the_config_register():
    bus = FakeSMBus()
    fake = bus.attach(0x48, FakeLM75("tmp102"))
    bus.write_i2c_block_data(0x48, 0x01, [0x60, 0xB0])  # EM = 1
    fake.set_celsius(140.5)
    with LM75(bus, chip="tmp102") as drv:
        assert drv.bits == 13
        assert drv.read()[0].value == 140.5


def test_above_the_range_is_a_failed_read():
    bus = FakeSMBus()
    fake = bus.attach(0x48, FakeLM75("lm75b"))
    fake.words[0x00] = 0x3F8 << 5  # 127 °C: above the rated 125 °C
    with LM75(bus, chip="lm75b") as drv, pytest.raises(InvalidReading):
        drv.read()


def test_address_outside_the_straps_and_missing_chip():
    with pytest.raises(ValueError, match="0x4C"):
        LM75(FakeSMBus(), 0x4C, chip="tmp102")
    with pytest.raises(DeviceNotFound):
        LM75(FakeSMBus(), chip="tmp102").open()
