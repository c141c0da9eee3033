"""MCP9808 against a fake with its IDs, resolution register and flagged T_A register."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c.mcp9808 import MCP9808, decode
from tests.fakes.chips.mcp9808 import FakeMCP9808
from tests.fakes.i2c import FakeSMBus


@pytest.mark.parametrize(
    "word,celsius",
    [
        (0x0190, 25.0),
        (0x0191, 25.0625),
        (0x07D0, 125.0),
        (0x1FFF, -0.0625),
        (0x1D80, -40.0),
        (0xE190, 25.0),
    ],
)  # alert flags set: ignored
def test_equation_5_1(word, celsius):
    assert decode(word) == celsius


@pytest.mark.parametrize("resolution", [0.5, 0.25, 0.125, 0.0625])
def test_resolution_is_written_and_readings_follow_it(resolution):
    bus = FakeSMBus()
    fake = bus.attach(0x1A, FakeMCP9808(0x1A))
    with MCP9808(bus, 0x1A, resolution=resolution) as drv:
        assert fake.words[0x08] == {0.5: 0, 0.25: 1, 0.125: 2, 0.0625: 3}[resolution]
        fake.set_celsius(-12.3)
        value = drv.read()[0].value
    assert value == round(-12.3 / resolution) * resolution


def test_another_chip_at_the_address_is_not_found():
    bus = FakeSMBus()
    fake = bus.attach(0x18, FakeMCP9808())
    fake.words[0x06] = 0x1234
    with pytest.raises(DeviceNotFound, match="0x1234"):
        MCP9808(bus).open()
    with pytest.raises(DeviceNotFound):
        MCP9808(FakeSMBus()).open()


def test_out_of_range_is_a_failed_read():
    bus = FakeSMBus()
    fake = bus.attach(0x18, FakeMCP9808())
    fake.words[0x05] = 0x0FF0  # 255 °C
    with MCP9808(bus) as drv, pytest.raises(InvalidReading):
        drv.read()
