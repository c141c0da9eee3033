"""BME280 against a fake chip and against the datasheet's floating-point formulas (§8.1)."""

from __future__ import annotations

import errno

import pytest

from drivers.base import DeviceNotFound, InvalidReading
from drivers.i2c import bme280
from drivers.i2c.bme280 import BME280, Calibration, parse_calibration
from tests.fakes.chips.bme280 import BMP280_EXAMPLE, REAL_CHIP_H, FakeBME280, calibration_bytes
from tests.fakes.i2c import FakeClock, FakeSMBus

CAL = {**BMP280_EXAMPLE, **REAL_CHIP_H}


def float_compensation(adc_t: int, adc_p: int, adc_h: int, c: dict[str, int]):
    """The datasheet's double-precision formulas (§8.1), written independently of the driver."""
    v1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
    v2 = (adc_t / 131072.0 - c["T1"] / 8192.0) ** 2 * c["T3"]
    tf = v1 + v2
    temp = tf / 5120.0
    v1 = tf / 2.0 - 64000.0
    v2 = v1 * v1 * c["P6"] / 32768.0
    v2 = v2 + v1 * c["P5"] * 2.0
    v2 = v2 / 4.0 + c["P4"] * 65536.0
    v1 = (c["P3"] * v1 * v1 / 524288.0 + c["P2"] * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * c["P1"]
    p = 1048576.0 - adc_p
    p = (p - v2 / 4096.0) * 6250.0 / v1
    v1 = c["P9"] * p * p / 2147483648.0
    v2 = p * c["P8"] / 32768.0
    p = p + (v1 + v2 + c["P7"]) / 16.0
    h = tf - 76800.0
    h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * h)) * (
        c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * h * (1.0 + c["H3"] / 67108864.0 * h))
    )
    h = h * (1.0 - c["H1"] * h / 524288.0)
    return temp, p / 100.0, h


def make(clock: FakeClock, **options):
    bus = FakeSMBus()
    chip = bus.attach(0x76, FakeBME280(clock))
    return bus, chip, BME280(bus, sleep=clock.sleep, **options)


def test_calibration_registers_0x88_0xe7_decode_per_table_16():
    tp, h = calibration_bytes(CAL)
    assert parse_calibration(tp, h) == Calibration(**CAL)


def test_calibration_h4_h5_share_register_0xe5_with_sign():
    cal = {**CAL, "H4": -5, "H5": -300}
    assert parse_calibration(*calibration_bytes(cal)) == Calibration(**cal)


def test_bmp280_datasheet_worked_example_3_12():
    c = Calibration(**CAL)
    tf = bme280.t_fine(519888, c)
    assert tf == 128422
    assert bme280.compensate_temperature(tf) == 2508  # 25.08 °C
    assert bme280.compensate_pressure(415148, tf, c) / 256 == pytest.approx(100653.27, abs=0.5)


@pytest.mark.parametrize(
    "adc_t,adc_p,adc_h",
    [
        (519888, 415148, 30000),
        (480000, 350000, 25000),
        (560000, 300000, 35000),
        (500000, 430000, 22500),
        (540000, 380000, 28000),
    ],
)
def test_integer_compensation_matches_float_formulas_8_1(adc_t, adc_p, adc_h):
    c = Calibration(**CAL)
    temp, hpa, rh = float_compensation(adc_t, adc_p, adc_h, CAL)
    tf = bme280.t_fine(adc_t, c)
    assert bme280.compensate_temperature(tf) / 100 == pytest.approx(temp, abs=0.01)
    assert bme280.compensate_pressure(adc_p, tf, c) / 25600 == pytest.approx(hpa, abs=0.01)
    assert bme280.compensate_humidity(adc_h, tf, c) / 1024 == pytest.approx(rh, abs=0.05)


def test_humidity_outside_0_100_raises_instead_of_clamping_4_2_3():
    c = Calibration(**CAL)
    with pytest.raises(InvalidReading, match=r"outside 0\.\.100"):
        bme280.compensate_humidity(65000, bme280.t_fine(519888, c), c)


def test_measurement_time_9_1_weather_monitoring_is_9_3_ms():
    assert bme280.measurement_time_s(1, 1, 1) == pytest.approx(0.0093)
    assert bme280.measurement_time_s(1, 0, 0) == pytest.approx(0.00355)


def test_forced_read_through_fake_chip_matches_float_formulas():
    clock = FakeClock()
    _, chip, drv = make(clock)
    chip.adc_t, chip.adc_p, chip.adc_h = 500000, 400000, 27000
    with drv:
        values = {r.quantity: (r.value, r.unit) for r in drv.read()}
    temp, hpa, rh = float_compensation(500000, 400000, 27000, CAL)
    assert values["temperature"][0] == pytest.approx(temp, abs=0.01)
    assert values["pressure"] == (pytest.approx(hpa, abs=0.01), "hPa")
    assert values["humidity"] == (pytest.approx(rh, abs=0.05), "%")
    assert chip.measurements == 1
    assert chip.regs[0xF4] & 0x03 == 0  # the chip went back to sleep


def test_oversampling_options_written_to_ctrl_meas_and_ctrl_hum_5_4():
    clock = FakeClock()
    _, chip, drv = make(
        clock,
        oversampling_temperature=2,
        oversampling_pressure=16,
        oversampling_humidity=4,
        iir_filter=8,
    )
    with drv:
        drv.read()
    assert chip.regs[0xF4] >> 2 == 0b010_101
    assert chip.regs[0xF2] == 0b011
    assert chip.regs[0xF5] == 0b011 << 2


def test_skipped_humidity_is_not_reported_4_1():
    clock = FakeClock()
    _, _, drv = make(clock, oversampling_humidity=0)
    with drv:
        assert [r.quantity for r in drv.read()] == ["temperature", "pressure"]


def test_slow_chip_is_polled_until_status_measuring_clears():
    clock = FakeClock()
    _, chip, drv = make(clock)
    chip.slowdown = 1.2  # longer than the datasheet maximum
    with drv:
        start = clock.now
        drv.read()
    assert chip.measurements == 1
    assert clock.now - start >= 0.0093


def test_chip_that_never_finishes_raises():
    clock = FakeClock()
    _, chip, drv = make(clock)
    chip.slowdown = 100.0
    with drv, pytest.raises(InvalidReading, match="did not finish"):
        drv.read()


def test_read_before_data_is_ready_would_return_reset_values():
    """The fake really models timing: reading the data registers at once gives 0x80000."""
    clock = FakeClock()
    bus, _, drv = make(clock)
    drv.open()
    bus.write_byte_data(0x76, 0xF4, 0b001_001_01)
    raw = bus.read_i2c_block_data(0x76, 0xF7, 8)
    assert raw[:3] == [0x80, 0, 0]
    with pytest.raises(InvalidReading, match="not measured"):
        bme280.decode(bytes(raw), drv.calibration, (1, 1, 1))


def test_wrong_chip_id_5_4_1_raises_device_not_found():
    clock = FakeClock()
    bus = FakeSMBus()
    bus.attach(0x76, FakeBME280(clock, chip_id=0x58))
    with pytest.raises(DeviceNotFound, match="0x58"):
        BME280(bus, sleep=clock.sleep).open()


def test_missing_address_raises_device_not_found_with_eremoteio():
    with pytest.raises(DeviceNotFound) as info:
        BME280(FakeSMBus(), 0x77).open()
    assert info.value.errno == errno.EREMOTEIO
    assert isinstance(info.value, OSError)


def test_temperature_outside_operating_range_raises():
    clock = FakeClock()
    _, chip, drv = make(clock)
    chip.adc_t = 800000  # 111.95 °C
    with drv, pytest.raises(InvalidReading, match="temperature"):
        drv.read()


@pytest.mark.parametrize(
    "options",
    [
        {"oversampling_pressure": 3},
        {"iir_filter": 5},
        {"oversampling_temperature": 0},
        {"address": 0x40},
    ],
)
def test_bad_options_are_clear_errors(options):
    with pytest.raises(ValueError):
        BME280(FakeSMBus(), **options)
