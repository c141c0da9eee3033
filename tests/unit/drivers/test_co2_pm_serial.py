"""MH-Z19B, SDS011 and Senseair S8: their frame codecs, and the drivers against fakes on a pty."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.serial.mhz19 import MhZ19B, MhZ19Decoder, checksum, parse_co2
from drivers.serial.mhz19 import command as mhz_command
from drivers.serial.modbus_rtu import ModbusException, with_crc
from drivers.serial.sds011 import Sds011, Sds011Decoder, parse
from drivers.serial.sds011 import command as sds_command
from drivers.serial.senseair_s8 import SenseairS8, read_request, status_problems
from tests.fakes.chips.co2_serial import FakeMhZ19B, FakeSds011, FakeSenseairS8
from tests.fakes.serial_pty import PtyDevice

MHZ_EXAMPLE = bytes.fromhex("ff860260470000 00d1".replace(" ", ""))
SDS_EXAMPLE = bytes.fromhex("aac0d4043a0aa1601dab")


@pytest.fixture
def pty():
    devices = []

    def make(fake):
        dev = PtyDevice(fake.respond)
        dev.fake = fake
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.close()


# --- MH-Z19B -------------------------------------------------------------------------------------


def test_mhz19b_manual_examples():
    assert mhz_command(0x86) == bytes.fromhex("ff0186000000000079")
    assert mhz_command(0x79, b"\xa0") == bytes.fromhex("ff0179a000000000e6")
    assert mhz_command(0x79) == bytes.fromhex("ff01790000000000 86".replace(" ", ""))
    assert checksum(MHZ_EXAMPLE) == 0xD1
    assert parse_co2(MHZ_EXAMPLE, 5000) == 608


def test_mhz19b_decoder_skips_a_bad_frame_and_finds_the_next():
    dec = MhZ19Decoder(0x86)
    bad = MHZ_EXAMPLE[:8] + b"\x00"
    assert dec.feed(b"\x00\xff" + bad + MHZ_EXAMPLE) == [MHZ_EXAMPLE]
    assert isinstance(dec.errors[0], ChecksumError)


@given(st.binary(max_size=40), st.integers(min_value=1, max_value=10))
def test_mhz19b_decoder_split_anywhere(noise, chunk):
    stream = noise.replace(b"\xff", b"") + MHZ_EXAMPLE
    dec = MhZ19Decoder(0x86)
    got = [f for i in range(0, len(stream), chunk) for f in dec.feed(stream[i : i + chunk])]
    assert got == [MHZ_EXAMPLE]


def test_mhz19b_driver_sets_abc_and_range_then_reads(pty):
    dev = pty(FakeMhZ19B())
    drv = MhZ19B(dev.open_port(), self_calibration=False, detection_range=2000, timeout=2.0)
    with drv:
        dev.fake.ppm = 1234
        assert [(r.quantity, r.value, r.unit) for r in drv.read()] == [("co2", 1234, "ppm")]
    assert (dev.fake.abc, dev.fake.range) == (False, 2000)


def test_mhz19b_abc_switched_on_and_off_at_run_time(pty):
    dev = pty(FakeMhZ19B())
    drv = MhZ19B(dev.open_port(), self_calibration=True, timeout=2.0)
    with drv:
        drv.set_self_calibration(False)
        assert drv.read()[0].value == 608  # the frame after 0x79 is answered in order
        assert dev.fake.abc is False and drv.self_calibration is False
        drv.set_self_calibration(True)
        drv.read()
        assert dev.fake.abc is True


def test_mhz19b_checksum_error_and_out_of_range(pty):
    dev = pty(FakeMhZ19B())
    drv = MhZ19B(dev.open_port(), detection_range=2000, timeout=0.3)
    dev.fake.corrupt = True
    with pytest.raises(ChecksumError):
        drv.read()
    dev.fake.corrupt, dev.fake.ppm = False, 2500
    with pytest.raises(InvalidReading, match="2500"):
        drv.read()


def test_mhz19b_silent_port_is_not_found(pty):
    dev = pty(FakeMhZ19B())
    dev.respond = lambda data: (len(data), b"")  # unplugged: nothing answers
    with pytest.raises(DeviceNotFound):
        MhZ19B(dev.open_port(), timeout=0.1).read()


# --- SDS011 --------------------------------------------------------------------------------------


def test_sds011_protocol_examples():
    assert parse(SDS_EXAMPLE) == (123.6, 261.8)
    # "set query mode" from the protocol: AA B4 02 01 01 00 ... FF FF 02 AB
    assert sds_command(2, b"\x01\x01") == bytes.fromhex("aab4020101" + "00" * 10 + "ffff02ab")
    assert Sds011Decoder().feed(b"\x00\xaa" + SDS_EXAMPLE) == [SDS_EXAMPLE]


def test_sds011_bad_checksum_is_recorded():
    dec = Sds011Decoder()
    bad = SDS_EXAMPLE[:8] + b"\x00\xab"
    assert dec.feed(bad) == [] and isinstance(dec.errors[0], ChecksumError)


def test_sds011_query_mode(pty):
    dev = pty(FakeSds011())
    drv = Sds011(dev.open_port(), timeout=2.0)
    with drv:
        assert dev.fake.query_mode and not dev.fake.sleeping
        values = {r.quantity: r.value for r in drv.read()}
    assert values == {"pm2_5": 123.6, "pm10": 261.8}


def test_sds011_sleeps_between_reads_after_a_warm_up(pty):
    dev = pty(FakeSds011())
    slept = []
    drv = Sds011(
        dev.open_port(), sleep_between_reads=True, warmup=30, timeout=2.0, sleep=slept.append
    )
    drv.open()
    assert dev.fake.sleeping
    dev.fake.pm25 = 8.4
    assert drv.read()[0].value == 8.4
    assert dev.fake.sleeping and slept == [30]
    assert dev.fake.log[-3:] == ["work", "query", "sleep"]


def test_sds011_asleep_sensor_does_not_answer_a_query(pty):
    dev = pty(FakeSds011())  # asleep, as left by a previous run
    drv = Sds011(dev.open_port(), timeout=0.2)
    with pytest.raises(DeviceNotFound):
        drv.read()


# --- Senseair S8 ---------------------------------------------------------------------------------


def test_s8_document_example_request():
    assert read_request(0xFE, 0x04, 3, 1) == bytes.fromhex("fe0400030001d5c5")


def test_s8_reads_co2_at_the_any_sensor_address(pty):
    dev = pty(FakeSenseairS8())
    drv = SenseairS8(dev.open_port(), timeout=2.0)
    with drv:
        dev.fake.inputs[3] = 812
        assert drv.read()[0].value == 812
    assert dev.fake.writes == 0  # ABC already 180 h: EEPROM not written


def test_s8_writes_abc_period_only_when_it_differs(pty):
    dev = pty(FakeSenseairS8())
    drv = SenseairS8(dev.open_port(), abc_period=0, timeout=2.0)
    drv.open()
    drv.open()
    assert dev.fake.abc_period == 0 and dev.fake.writes == 1


def test_s8_meter_status_errors_fail_the_read(pty):
    dev = pty(FakeSenseairS8())
    drv = SenseairS8(dev.open_port(), timeout=2.0)
    dev.fake.inputs[0] = 0b0100001
    with pytest.raises(InvalidReading, match="fatal error, out of range"):
        drv.read()
    assert status_problems(0x40) == ["memory error"]


def test_s8_exception_response(pty):
    dev = pty(FakeSenseairS8(address=0x68))
    drv = SenseairS8(dev.open_port(), slave=0x68, abc_period=7, timeout=2.0)

    def no_holding_registers(data):  # an older firmware: HR32 unknown
        if len(data) >= 8 and data[1] == 0x03:
            return 8, with_crc(bytes([0x68, 0x83, 2]))
        return dev.fake.respond(data)

    dev.respond = no_holding_registers
    with pytest.raises(ModbusException, match="illegal data address"):
        drv.open()
