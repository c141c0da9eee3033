"""BME680/BME688: the compensation against an independent published vector, the heater settings
of §3.2.1, and forced mode through a fake with the datasheet's register layout."""

from __future__ import annotations

import pytest

from drivers.base import DeviceNotFound, DriverError, InvalidReading
from drivers.i2c.bme680 import (
    BME680,
    Calibration,
    gas_resistance_bme680,
    gas_resistance_bme688,
    humidity,
    pressure,
    temperature,
    wait_code,
)
from tests.fakes.chips.bme680 import VECTOR, FakeBME680
from tests.fakes.i2c import FakeClock, FakeSMBus

CAL = Calibration(**VECTOR)


def setup(clock, variant=0, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x77, FakeBME680(clock, variant=variant))
    return chip, BME680(bus, sleep=clock.sleep, **options)


def test_compensation_matches_an_independent_vector():
    # elixir-sensors/bmp280's BME680 test: raw 480732 / 393705 / 16820, gas 195 in range 9
    celsius, t_fine = temperature(CAL, 480_732)
    assert celsius == pytest.approx(19.3113, abs=1e-4)
    assert pressure(CAL, 393_705, t_fine) == pytest.approx(100_977.52, abs=0.01)
    assert humidity(CAL, 16820, celsius) == pytest.approx(25.2, abs=0.1)
    assert gas_resistance_bme680(CAL, 195, 9) == pytest.approx(20467.2644, abs=1e-3)


def test_gas_wait_encoding_3_2_1():
    assert wait_code(100) == 0x59  # the datasheet's example
    assert wait_code(63) == 63 and wait_code(4032) == 0xFF


def test_bme688_gas_formula_falls_with_the_adc_and_the_range():
    assert gas_resistance_bme688(512, 0) == pytest.approx(1e6 * 262144 / 4096)
    assert gas_resistance_bme688(600, 5) < gas_resistance_bme688(500, 5)
    assert gas_resistance_bme688(512, 6) == pytest.approx(gas_resistance_bme688(512, 5) / 2)


def test_forced_measurement_through_the_registers():
    clock = FakeClock()
    chip, drv = setup(clock)
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert chip.resets == 1 and drv.calibration == Calibration(**VECTOR, res_heat_range=0)
    assert values["temperature"] == pytest.approx(19.3113, abs=1e-4)
    assert values["pressure"] == pytest.approx(1009.7752, abs=1e-4)
    assert values["humidity"] == pytest.approx(25.2, abs=0.1)
    assert values["gas_resistance"] == pytest.approx(20467.26, abs=0.01)
    assert chip.regs[0x64] == wait_code(150) and chip.forced[0] > 0  # heater set before measuring


def test_bme688_reads_gas_from_its_own_registers():
    clock = FakeClock()
    chip, drv = setup(clock, variant=1)
    with drv:
        values = {r.quantity: r.value for r in drv.read()}
    assert values["gas_resistance"] == pytest.approx(gas_resistance_bme688(195, 9))
    assert chip.regs[0x71] == 0x20  # run_gas of the BME688


def test_unstable_heater_leaves_gas_out_and_keeps_the_rest():
    clock = FakeClock()
    chip, drv = setup(clock)
    chip.heat_stable = False
    with drv:
        quantities = [r.quantity for r in drv.read()]
    assert quantities == ["temperature", "humidity", "pressure"]


def test_the_heater_follows_the_ambient_temperature():
    clock = FakeClock()
    chip, drv = setup(clock)
    with drv:
        drv.read()
        chip.raw["temperature"] = 560_000  # warmer
        drv.read()
        drv.read()
    assert chip.forced[2] != chip.forced[0]


def test_no_gas_option_and_errors():
    clock = FakeClock()
    chip, drv = setup(clock, gas=False)
    with drv:
        assert [q for q, _ in drv.quantities] == ["temperature", "humidity", "pressure"]
        chip.raw["humidity"] = 65535  # beyond 100 %
        with pytest.raises(InvalidReading, match="humidity"):
            drv.read()
    chip.regs[0xD0] = 0x60
    with pytest.raises(DeviceNotFound, match="0x60"):
        drv.open()


def test_a_measurement_that_never_ends():
    clock = FakeClock()
    chip, drv = setup(clock)
    drv.open()
    chip._duration = lambda: 10.0
    with pytest.raises(DriverError, match="no new data"):
        drv.read()
