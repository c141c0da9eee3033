"""Modbus RTU codec (sans-IO) and driver against a fake slave played over a pty."""

from __future__ import annotations

import struct

import pytest

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.serial.modbus_rtu import (
    ModbusException,
    ModbusRtu,
    RegisterSpec,
    ResponseDecoder,
    crc16,
    read_request,
)
from tests.fakes.chips.modbus_slave import FakeModbusSlave, crc16_table, frame
from tests.fakes.serial_pty import PtyDevice


@pytest.fixture
def slave():
    fake = FakeModbusSlave(address=17)
    dev = PtyDevice(fake.respond)
    dev.fake = fake
    yield dev
    dev.close()


def test_crc16_modbus_check_value():
    assert crc16(b"123456789") == 0x4B37 == crc16_table(b"123456789")


def test_read_holding_request_spec_example_6_3():
    # Application protocol §6.3 example: read holding registers 108-110 (address 0x006B, 3 regs)
    # from slave 0x11; RTU frame 11 03 00 6B 00 03 76 87 (serial line spec, CRC low byte first)
    assert read_request(0x11, 0x03, 0x6B, 3) == bytes.fromhex("1103006b00037687")


@pytest.mark.parametrize(
    "args",
    [(0, 3, 0, 1), (248, 3, 0, 1), (1, 6, 0, 1), (1, 3, 0, 126), (1, 3, 0xFFFF, 2), (1, 4, 0, 0)],
)
def test_bad_requests_are_value_errors(args):
    with pytest.raises(ValueError):
        read_request(*args)


def test_decoder_complete_only_at_expected_length():
    response = frame(bytes([17, 3, 4, 0x12, 0x34, 0xAB, 0xCD]))
    dec = ResponseDecoder(17, 3, 2)
    for i in range(len(response) - 1):
        assert dec.feed(response[i : i + 1]) == []
    assert dec.feed(response[-1:]) == [(0x1234, 0xABCD)]


def test_exception_response_7_is_decoded():
    dec = ResponseDecoder(17, 4, 1)
    assert dec.feed(frame(bytes([17, 0x84, 2]))) == []
    assert isinstance(dec.errors[0], ModbusException) and dec.errors[0].code == 2


def test_crc_error_and_wrong_slave():
    dec = ResponseDecoder(17, 3, 1)
    bad = bytearray(frame(bytes([17, 3, 2, 0, 1])))
    bad[3] ^= 1
    dec.feed(bytes(bad))
    dec.feed(frame(bytes([18, 3, 2, 0, 1])))
    assert isinstance(dec.errors[0], ChecksumError)
    assert isinstance(dec.errors[1], InvalidReading)


@pytest.mark.parametrize(
    "type_,order,words,value",
    [
        ("int16", "big", [0xFF38], -200),
        ("uint16", "big", [0xFF38], 65336),
        ("int32", "big", [0xFFFF, 0xFFFE], -2),
        ("int32", "little", [0xFFFE, 0xFFFF], -2),
        ("uint32", "big", [0x0001, 0x0000], 65536),
        ("float32", "big", [0x4366, 0x8000], 230.5),  # 230.5 = 0x43668000 (IEEE 754)
        ("float32", "little", [0x8000, 0x4366], 230.5),
    ],
)
def test_data_types_and_word_order(type_, order, words, value):
    spec = RegisterSpec("x", 0, type=type_, word_order=order)
    assert spec.decode(words) == value


def test_scale_offset_and_nan_rejected():
    assert RegisterSpec("v", 0, scale=0.1, offset=-5).decode([2305]) == pytest.approx(225.5)
    nan = list(struct.unpack(">HH", struct.pack(">f", float("nan"))))
    with pytest.raises(InvalidReading):
        RegisterSpec("f", 0, type="float32").decode(nan)


def test_driver_reads_holding_and_input_registers_over_a_pty(slave):
    slave.fake.holding.update({0: 2305, 10: 0x4366, 11: 0x8000})  # 230.5 V, 230.5 float
    slave.fake.input.update({100: 0xFFF6})
    drv = ModbusRtu(
        slave.open_port(),
        slave=17,
        timeout=2.0,
        sleep=lambda s: None,
        registers=[
            {"name": "voltage", "address": 0, "unit": "V", "scale": 0.1},
            {"name": "voltage_f", "address": 10, "type": "float32", "unit": "V"},
            RegisterSpec("temperature", 100, type="int16", table="input", unit="°C"),
        ],
    )
    with drv:
        got = {r.quantity: r.value for r in drv.read()}
    assert got == {"voltage": pytest.approx(230.5), "voltage_f": 230.5, "temperature": -10}
    assert [r[1] for r in slave.fake.requests] == [3, 3, 4]
    assert drv.quantities == (("voltage", "V"), ("voltage_f", "V"), ("temperature", "°C"))


def test_exception_response_raises_at_once(slave):
    drv = ModbusRtu(
        slave.open_port(),
        slave=17,
        timeout=5.0,
        sleep=lambda s: None,
        registers=[{"name": "x", "address": 500}],
    )
    with pytest.raises(ModbusException, match="illegal data address"):
        drv.read()


def test_corrupt_crc_raises_checksum_error(slave):
    slave.fake.holding[0] = 1
    slave.fake.corrupt_crc = True
    drv = ModbusRtu(
        slave.open_port(),
        slave=17,
        timeout=2.0,
        sleep=lambda s: None,
        registers=[{"name": "x", "address": 0}],
    )
    with pytest.raises(ChecksumError):
        drv.read()


def test_no_answer_is_a_timeout_device_not_found(slave):
    slave.fake.holding[0] = 1
    drv = ModbusRtu(
        slave.open_port(),
        slave=18,
        timeout=0.15,
        sleep=lambda s: None,
        registers=[{"name": "x", "address": 0}],
    )
    with pytest.raises(DeviceNotFound, match="no data"):
        drv.read()


def test_truncated_reply_is_invalid_reading(slave):
    slave.fake.holding[0] = 1
    slave.fake.truncate = 4
    drv = ModbusRtu(
        slave.open_port(),
        slave=17,
        timeout=0.15,
        sleep=lambda s: None,
        registers=[{"name": "x", "address": 0}],
    )
    with pytest.raises(InvalidReading, match="no complete frame"):
        drv.read()


def test_frame_gap_3_5_characters_2_5_1_1():
    class Port:
        baudrate = 9600

    drv = ModbusRtu(Port(), slave=1, registers=[{"name": "x", "address": 0}])
    assert drv.frame_gap_s() == pytest.approx(3.5 * 11 / 9600)
    Port.baudrate = 115200
    assert drv.frame_gap_s() == 0.00175


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "x", "address": 0, "type": "int64"},
        {"name": "x", "address": 0, "table": "coil"},
        {"name": "x", "address": 0, "word_order": "mixed"},
        {"name": "x", "address": 0xFFFF, "type": "float32"},
    ],
)
def test_bad_register_specs(spec):
    with pytest.raises(ValueError):
        ModbusRtu(None, slave=1, registers=[spec])
