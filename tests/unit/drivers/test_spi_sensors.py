"""MCP3008/MCP3208, MAX31855 and MAX31865 against fakes that answer each SPI transfer byte by byte."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.spi.max31855 import MAX31855
from drivers.spi.max31855 import decode as tc_decode
from drivers.spi.max31865 import MAX31865, resistance, temperature
from drivers.spi.mcp3008 import MCP3008, MCP3208, decode, request
from tests.fakes.i2c import FakeClock
from tests.fakes.spi import FakeMAX31855, FakeMAX31865, FakeMCP3x08, FakeSpiDev


def opened(chip):
    spi = FakeSpiDev(chip)
    spi.open(0, 0)
    return spi


# --- MCP3008 / MCP3208 ---------------------------------------------------------------------------


def test_request_bytes_figure_6_1():
    assert request("mcp3008", "0") == [0x01, 0x80, 0x00]
    assert request("mcp3008", "7") == [0x01, 0xF0, 0x00]
    assert request("mcp3008", "1-0") == [0x01, 0x10, 0x00]  # differential, CH1 = IN+
    assert request("mcp3208", "5") == [0x07, 0x40, 0x00]
    assert request("mcp3208", "2-3") == [0x04, 0x80, 0x00]


def test_undriven_bits_are_masked_and_the_null_bit_checked():
    assert decode("mcp3008", [0xFF, 0xFB, 0x34]) == 0x334  # 1111 1011: null bit (2) is 0
    with pytest.raises(DeviceNotFound, match="null bit"):
        decode("mcp3008", [0xFF, 0xFF, 0xFF])


@pytest.mark.parametrize("cls,chip,bits", [(MCP3008, "mcp3008", 10), (MCP3208, "mcp3208", 12)])
def test_channels_single_and_differential(cls, chip, bits):
    fake = FakeMCP3x08(chip)
    fake.volts[0], fake.volts[1], fake.volts[6] = 1.2, 0.4, 2.5
    with cls(opened(fake), channels=["0", "6", "0-1"], vref=3.3) as drv:
        values = {r.quantity: r.value for r in drv.read()}
    lsb = 3.3 / (1 << bits)
    assert values == {
        "voltage_0": pytest.approx(1.2, abs=lsb),
        "voltage_6": pytest.approx(2.5, abs=lsb),
        "voltage_0_1": pytest.approx(0.8, abs=lsb),
    }


def test_full_scale_is_a_failed_read_and_no_chip_is_not_found():
    fake = FakeMCP3x08()
    fake.volts[2] = 3.4
    with MCP3008(opened(fake), channels=["2"]) as drv, pytest.raises(InvalidReading):
        drv.read()
    with MCP3008(opened(None)) as drv, pytest.raises(DeviceNotFound):
        drv.read()


def test_mode_and_speed_set_on_open():
    spi = opened(FakeMCP3x08("mcp3208"))
    MCP3208(spi).open()
    assert (spi.mode, spi.max_speed_hz) == (0, 1_000_000)


# --- MAX31855 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,celsius",
    [
        (0x1900, 1600.0),
        (0x0FA0, 1000.0),
        (0x0193, 100.75),
        (0x0064, 25.0),
        (0x0000, 0.0),
        (0x3FFF, -0.25),
        (0x3FFC, -1.0),
        (0x3C18, -250.0),
    ],
)
def test_table_4_thermocouple(raw, celsius):
    assert tc_decode(raw << 18)[0] == celsius


@pytest.mark.parametrize(
    "raw,celsius",
    [
        (0x7F0, 127.0),
        (0x649, 100.5625),
        (0x190, 25.0),
        (0xFFF, -0.0625),
        (0xFF0, -1.0),
        (0xEC0, -20.0),
        (0xC90, -55.0),
    ],
)
def test_table_5_internal(raw, celsius):
    assert tc_decode(raw << 4)[1] == celsius


@pytest.mark.parametrize("fault,text", [(0x1, "open"), (0x2, "GND"), (0x4, "VCC")])
def test_faults_are_failed_reads(fault, text):
    fake = FakeMAX31855()
    fake.fault = fault
    with MAX31855(opened(fake)) as drv, pytest.raises(InvalidReading, match=text):
        drv.read()


def test_max31855_reads_both_temperatures_and_no_chip():
    with MAX31855(opened(FakeMAX31855())) as drv:
        assert [(r.quantity, r.value) for r in drv.read()] == [
            ("temperature", 215.25),
            ("internal_temperature", 24.5),
        ]
    with MAX31855(opened(None)) as drv, pytest.raises(DeviceNotFound):
        drv.read()


# --- MAX31865 ------------------------------------------------------------------------------------

# IEC 60751 table values for a PT100 (Ω at °C)
IEC_60751 = [
    (-200, 18.52),
    (-100, 60.26),
    (0, 100.00),
    (100, 138.51),
    (200, 175.86),
    (300, 212.05),
    (850, 390.48),
]


@pytest.mark.parametrize("celsius,ohms", IEC_60751)
def test_callendar_van_dusen_against_iec_60751(celsius, ohms):
    assert resistance(celsius, 100.0) == pytest.approx(ohms, abs=0.01)
    assert temperature(ohms, 100.0) == pytest.approx(celsius, abs=0.03)


def test_one_shot_with_bias_then_bias_off():
    clock = FakeClock()
    fake = FakeMAX31865()
    fake.ohms = resistance(36.6, 100.0)
    with MAX31865(opened(fake), wires=3, filter_hz=50, sleep=clock.sleep) as drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert values["temperature"] == pytest.approx(36.6, abs=0.05)  # 15-bit: 0.013 Ω steps
    assert fake.bias_at_conversion == [True]
    assert fake.regs[0] == 0x11  # 3-wire, 50 Hz, bias off
    assert clock.slept == [0.010, 0.0625]


def test_pt1000_and_negative_temperature():
    fake = FakeMAX31865(reference=4300.0)
    fake.ohms = resistance(-40.0, 1000.0)
    with MAX31865(
        opened(fake), rtd_nominal=1000.0, reference=4300.0, wires=2, sleep=FakeClock().sleep
    ) as drv:
        assert drv.read()[0].value == pytest.approx(-40.0, abs=0.05)


def test_fault_is_named_and_cleared():
    fake = FakeMAX31865()
    fake.fault_status = 0x84  # high threshold, overvoltage
    drv = MAX31865(opened(fake), sleep=FakeClock().sleep)
    drv.open()
    fake.fault_status = 0x84
    with pytest.raises(InvalidReading, match=r"high threshold.*over- or undervoltage"):
        drv.read()
    assert fake.fault_status == 0
    assert drv.read()[0].value == pytest.approx(0.0, abs=0.05)


def test_no_chip_is_not_found():
    with pytest.raises(DeviceNotFound):
        MAX31865(opened(None)).open()


def test_absent_spi_device_is_unavailable_not_a_config_error():
    from gateway.sensors.resources import DeviceUnavailable, Resources

    resources = Resources(new_spi=lambda: FakeSpiDev(present=False))
    device = resources.spi(0, 1)
    with pytest.raises(DeviceUnavailable, match=r"/dev/spidev0\.1"):
        device.ensure_open()
    device.handle.present = True  # dtparam=spi=on and a reboot later
    assert device.ensure_open() == 1
