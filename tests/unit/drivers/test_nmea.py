"""NMEA 0183 decoder (sans-IO) and GPS driver over pyserial's loop:// port."""

from __future__ import annotations

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import ChecksumError, DeviceNotFound, InvalidReading
from drivers.serial.nmea import (
    NmeaDecoder,
    NmeaGps,
    coordinate,
    parse_gga,
    parse_rmc,
    split_sentence,
)
from tests.fakes.chips.nmea_gps import FakeGps, sentence

# NMEA 0183 reference GGA example (widely reproduced, checksum *47)
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"


@pytest.fixture
def port():
    p = serial.serial_for_url("loop://", timeout=0.02)
    yield p
    p.close()


def test_reference_gga_checksum_and_fields_5_2_1():
    s = split_sentence(GGA)
    assert (s.talker, s.kind) == ("GP", "GGA")
    gga = parse_gga(s.fields)
    assert gga.latitude == pytest.approx(48 + 7.038 / 60)
    assert gga.longitude == pytest.approx(11 + 31 / 60)
    assert (gga.fix_quality, gga.satellites, gga.hdop, gga.altitude) == (1, 8, 0.9, 545.4)


def test_reference_rmc_speed_knots_to_kmh():
    rmc = parse_rmc(split_sentence(RMC).fields)
    assert rmc.valid and rmc.speed_kmh == pytest.approx(22.4 * 1.852)
    assert rmc.course == 84.4


def test_checksum_mismatch_raises_checksum_error():
    with pytest.raises(ChecksumError):
        split_sentence(GGA[:-2] + b"48")


def test_south_and_west_are_negative():
    assert coordinate("3351.000", "S", 2) == pytest.approx(-33.85)
    assert coordinate("15112.600", "W", 3) == pytest.approx(-151.21)


@pytest.mark.parametrize(
    "value,hemi,digits",
    [
        ("9100.000", "N", 2),
        ("4860.000", "N", 2),
        ("18100.0", "E", 3),
        ("4807.0", "E", 2),
        ("48x7.0", "N", 2),
    ],
)
def test_bad_coordinates_raise(value, hemi, digits):
    with pytest.raises(InvalidReading):
        coordinate(value, hemi, digits)


def test_decoder_resyncs_after_garbage_and_partial_lines():
    dec = NmeaDecoder()
    stream = b"\x00\xff garbage" + GGA[:20] + b"\r\n" + b"noise$" + GGA[1:] + b"\r\n" + RMC
    out = dec.feed(stream)
    assert [s.kind for s in out] == ["GGA"]
    assert dec.feed(b"\r\n")[0].kind == "RMC"
    assert len(dec.errors) == 1  # the truncated GGA


def test_overlong_line_is_dropped_and_counted():
    dec = NmeaDecoder()
    assert dec.feed(b"$GPXXX," + b"1" * 100) == []
    assert dec.errors and dec.feed(b"\r\n" + GGA + b"\r\n")[0].kind == "GGA"


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=40))
def test_one_chunk_equals_byte_by_byte_and_never_raises(noise, chunk):
    stream = noise + b"\r\n" + FakeGps().epoch() + noise + b"\n" + GGA + b"\r\n"
    whole = NmeaDecoder().feed(stream)
    dec = NmeaDecoder()
    pieces = [s for i in range(0, len(stream), chunk) for s in dec.feed(stream[i : i + chunk])]
    assert pieces == whole
    assert [s.kind for s in whole][-4:] == ["GGA", "GSA", "RMC", "GGA"]


def test_driver_reads_latest_fix_over_serial_loop(port):
    gps = FakeGps()
    gps.latitude = 10.0
    port.write(gps.epoch())
    gps.latitude, gps.longitude = -33.856784, 151.215297
    port.write(gps.epoch())
    values = {r.quantity: r.value for r in NmeaGps(port).read()}
    assert values["latitude"] == pytest.approx(-33.856784, abs=1e-6)
    assert values["longitude"] == pytest.approx(151.215297, abs=1e-6)
    assert values["speed"] == pytest.approx(18.52)
    assert (values["fix_quality"], values["satellites"], values["altitude"]) == (1, 9, 34.5)


def test_no_fix_reports_quality_and_satellites_only(port):
    gps = FakeGps()
    gps.quality, gps.satellites = 0, 3
    port.write(gps.epoch())
    assert {r.quantity: r.value for r in NmeaGps(port).read()} == {
        "fix_quality": 0,
        "satellites": 3,
    }


def test_corrupt_sentences_only_raise_checksum_error_after_timeout(port):
    gps = FakeGps()
    port.write(gps.gga(corrupt=True) + gps.rmc(corrupt=True))
    with pytest.raises(ChecksumError):
        NmeaGps(port, timeout=0.1).read()


def test_silent_port_is_device_not_found(port):
    with pytest.raises(DeviceNotFound):
        NmeaGps(port, timeout=0.05).read()


def test_gga_only_receiver(port):
    port.write(FakeGps(talker="GN").gga())
    assert NmeaGps(port, require_rmc=False).read()[0].quantity == "fix_quality"


def test_fake_sentence_checksums_verify():
    assert split_sentence(sentence("GPGSV,1,1,00").rstrip()).kind == "GSV"
