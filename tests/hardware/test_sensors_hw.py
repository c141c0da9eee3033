"""Opt-in hardware tests: read a real sensor. Skipped unless the environment names one.

    GATEWAY_TEST_I2C_BUS=1 GATEWAY_TEST_I2C_CHIP=bme280@0x76     (any key of CHIPS below)
    GATEWAY_TEST_W1=28-0316a2792bff
    GATEWAY_TEST_SERIAL=/dev/ttyUSB0 GATEWAY_TEST_SERIAL_DEVICE=nmea|pms5003|modbus:<slave>:<reg>
        (GATEWAY_TEST_SERIAL_BAUD, default 9600)

Each test checks only what any working chip must satisfy (a plausible value, a second read).
"""

from __future__ import annotations

import math
import os

import pytest

from drivers.base import Reading

pytestmark = pytest.mark.hardware

CHIPS = {
    "bme280": ("drivers.i2c.bme280", "BME280"),
    "sht3x": ("drivers.i2c.sht3x", "SHT3x"),
    "sht4x": ("drivers.i2c.sht4x", "SHT4x"),
    "bh1750": ("drivers.i2c.bh1750", "BH1750"),
    "ads1115": ("drivers.i2c.ads1115", "ADS1115"),
    "ina219": ("drivers.i2c.ina219", "INA219"),
    "bmp180": ("drivers.i2c.bmp180", "BMP180"),
    "mcp9808": ("drivers.i2c.mcp9808", "MCP9808"),
    "scd4x": ("drivers.i2c.scd4x", "SCD4x"),
    "ina226": ("drivers.i2c.ina226", "INA226"),
    "ina260": ("drivers.i2c.ina226", "INA260"),
    "scd30": ("drivers.i2c.scd30", "SCD30"),
    "veml7700": ("drivers.i2c.veml7700", "VEML7700"),
    "tsl2561": ("drivers.i2c.tsl2561", "TSL2561"),
    "sgp40": ("drivers.i2c.sgp", "SGP40"),
    "sgp30": ("drivers.i2c.sgp", "SGP30"),
    "bme680": ("drivers.i2c.bme680", "BME680"),
    "bmp388": ("drivers.i2c.bmp388", "BMP388"),
    "tsl2591": ("drivers.i2c.tsl2591", "TSL2591"),
    "vl53l0x": ("drivers.i2c.vl53l0x", "VL53L0X"),
    "vl53l1x": ("drivers.i2c.vl53l1x", "VL53L1X"),
}


#: chips one driver serves, told apart by its `chip` option (as the config's type_option does)
CHIP_FAMILIES = {
    **dict.fromkeys(("aht10", "aht20", "aht21"), ("drivers.i2c.aht", "AHT")),
    **dict.fromkeys(("htu21d", "sht21", "si7021"), ("drivers.i2c.htu21d", "HTU21D")),
    **dict.fromkeys(("lm75", "lm75b", "tmp102"), ("drivers.i2c.lm75", "LM75")),
}


def plausible(readings: list[Reading]) -> None:
    assert readings
    for r in readings:
        if isinstance(r.value, float):
            assert math.isfinite(r.value), r


@pytest.mark.skipif(
    not os.environ.get("GATEWAY_TEST_I2C_BUS"),
    reason="set GATEWAY_TEST_I2C_BUS and GATEWAY_TEST_I2C_CHIP=<chip>@<addr>",
)
def test_i2c_chip_reads_twice():
    import importlib

    from drivers.bus.i2c import open_bus, recover_bus

    chip, _, addr = os.environ.get("GATEWAY_TEST_I2C_CHIP", "bme280@0x76").partition("@")
    module, name = CHIPS.get(chip) or CHIP_FAMILIES[chip]
    options = {"chip": chip} if chip in CHIP_FAMILIES else {}
    cls = getattr(importlib.import_module(module), name)
    number = int(os.environ["GATEWAY_TEST_I2C_BUS"])
    bus = open_bus(number)
    try:
        with cls(bus, int(addr, 0), **options) as drv:
            plausible(drv.read())
            bus = recover_bus(bus, number)
            drv.bus = bus
            plausible(drv.read())
    finally:
        bus.close()


@pytest.mark.skipif(
    not os.environ.get("GATEWAY_TEST_W1"), reason="set GATEWAY_TEST_W1=<28-... device id>"
)
def test_ds18b20_reads():
    from drivers.onewire.ds18b20 import DS18B20

    with DS18B20(os.environ["GATEWAY_TEST_W1"]) as drv:
        (reading,) = drv.read()
    assert -55 <= reading.value <= 125


@pytest.mark.skipif(
    not os.environ.get("GATEWAY_TEST_SERIAL"),
    reason="set GATEWAY_TEST_SERIAL=/dev/tty... and GATEWAY_TEST_SERIAL_DEVICE",
)
def test_serial_device_reads():
    import serial

    kind, *args = os.environ.get("GATEWAY_TEST_SERIAL_DEVICE", "nmea").split(":")
    baud = int(os.environ.get("GATEWAY_TEST_SERIAL_BAUD", "9600"))
    with serial.Serial(os.environ["GATEWAY_TEST_SERIAL"], baud, timeout=0.2) as port:
        if kind == "nmea":
            from drivers.serial.nmea import NmeaGps

            drv = NmeaGps(port, timeout=5)
        elif kind == "pms5003":
            from drivers.serial.pms5003 import Pms5003

            drv = Pms5003(port, timeout=5)
        else:
            from drivers.serial.modbus_rtu import ModbusRtu

            drv = ModbusRtu(
                port,
                slave=int(args[0]),
                registers=[{"name": "register", "address": int(args[1], 0)}],
            )
        with drv:
            plausible(drv.read())
