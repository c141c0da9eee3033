"""The wire codec: primitives, encoding rules per version, stream framing and its limits.

Golden bytes for every packet type of both versions, and the malformed cases with their reason
codes, live as data in tests/conformance/vectors.py; this file tests the codec's API and the rules
that are about encoding, versions and streaming rather than one packet's bytes.
"""

from __future__ import annotations

import pytest

from gateway.mqtt.codec import StreamDecoder, UnsupportedProtocolVersion, decode_packet, encode
from gateway.mqtt.enums import QoS, ReasonCode, RetainHandling
from gateway.mqtt.errors import MalformedPacket, PacketTooLarge, ProtocolError
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Will,
)
from gateway.mqtt.primitives import decode_varint, encode_string, encode_varint
from gateway.mqtt.properties import Properties

R = ReasonCode
H = bytes.fromhex

# --- primitives (spec 1.5) ------------------------------------------------------------------------

VARINT_TABLE = [  # 5.0 1.5.5 table 1-1 / 3.1.1 2.2.3 table 2.4: the edges of each size
    (0, "00"),
    (127, "7F"),
    (128, "80 01"),
    (16_383, "FF 7F"),
    (16_384, "80 80 01"),
    (2_097_151, "FF FF 7F"),
    (2_097_152, "80 80 80 01"),
    (268_435_455, "FF FF FF 7F"),
]


@pytest.mark.parametrize(("value", "hex_"), VARINT_TABLE)
def test_varint_table_1_1_encode(value: int, hex_: str) -> None:
    assert encode_varint(value) == H(hex_)


@pytest.mark.parametrize(("value", "hex_"), VARINT_TABLE)
def test_varint_table_1_1_decode(value: int, hex_: str) -> None:
    data = H(hex_)
    assert decode_varint(data, 0, len(data)) == (value, len(data))
    assert decode_varint(data, 0, len(data) - 1) is None  # needs more data


def test_varint_fifth_byte_is_malformed_MQTT_1_5_5() -> None:
    with pytest.raises(MalformedPacket):
        decode_varint(H("80 80 80 80 01"), 0, 5)


def test_varint_non_minimal_is_malformed_MQTT_1_5_5_1() -> None:
    with pytest.raises(MalformedPacket, match=r"MQTT-1\.5\.5-1"):
        decode_varint(H("81 00"), 0, 2)


@pytest.mark.parametrize("value", [-1, 268_435_456])
def test_varint_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(ValueError):
        encode_varint(value)


def test_utf8_string_figure_1_1() -> None:
    assert encode_string("A\U0002a6d4") == H("00 05 41 F0 AA 9B 94")


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x" * 65_536])
def test_encode_string_refuses_what_MQTT_1_5_4_forbids(text: str) -> None:
    with pytest.raises(ValueError):
        encode_string(text)


# --- encoding for 3.1.1: what is not written, what is translated -----------------------------------


@pytest.mark.parametrize(
    ("code", "return_code"),
    [
        (R.SUCCESS, 0),
        (R.UNSUPPORTED_PROTOCOL_VERSION, 1),
        (R.CLIENT_IDENTIFIER_NOT_VALID, 2),
        (R.SERVER_UNAVAILABLE, 3),
        (R.SERVER_BUSY, 3),
        (R.USE_ANOTHER_SERVER, 3),
        (R.BAD_USER_NAME_OR_PASSWORD, 4),
        (R.NOT_AUTHORIZED, 5),
        (R.BANNED, 5),
        (R.UNSPECIFIED_ERROR, 5),
        (R.QUOTA_EXCEEDED, 5),
    ],
)
def test_connack_reason_code_maps_to_3_1_1_return_code_table_3_1(
    code: ReasonCode, return_code: int
) -> None:
    assert encode(Connack(False, code), 4) == bytes((0x20, 2, 0, return_code))


def test_connack_3_1_1_drops_properties() -> None:
    packet = Connack(True, R.SUCCESS, Properties(receive_maximum=5))
    assert encode(packet, 4) == H("20 02 01 00")


def test_suback_3_1_1_codes_granted_qos_or_0x80() -> None:
    packet = Suback(
        1,
        (
            R.GRANTED_QOS_0,
            R.GRANTED_QOS_1,
            R.GRANTED_QOS_2,
            R.NOT_AUTHORIZED,
            R.TOPIC_FILTER_INVALID,
        ),
    )
    assert encode(packet, 4) == H("90 07 0001 00 01 02 80 80")


@pytest.mark.parametrize("cls", [Puback, Pubrec, Pubcomp])
def test_ack_reason_codes_and_properties_not_written_for_3_1_1(cls: type) -> None:
    packet = cls(
        7,
        R.QUOTA_EXCEEDED if cls is not Pubcomp else R.PACKET_IDENTIFIER_NOT_FOUND,
        Properties(reason_string="no"),
    )
    assert encode(packet, 4)[1:] == H("02 0007")


def test_unsuback_3_1_1_has_no_payload() -> None:
    assert encode(Unsuback(3, (R.SUCCESS,)), 4) == H("B0 02 0003")


def test_publish_properties_not_written_for_3_1_1() -> None:
    packet = Publish("t", b"x", properties=Properties(message_expiry_interval=5))
    assert encode(packet, 4) == H("30 04 0001 74 78")


def test_subscription_options_beyond_qos_not_written_for_3_1_1() -> None:
    packet = Subscribe(
        1, (Subscription("t", QoS.AT_LEAST_ONCE, True, True, RetainHandling.DO_NOT_SEND),)
    )
    assert encode(packet, 4) == H("82 06 0001 0001 74 01")


def test_auth_cannot_be_encoded_for_3_1_1() -> None:
    with pytest.raises(ValueError, match=r"5\.0"):
        encode(Auth(), 4)


def test_disconnect_3_1_1_ignores_reason_code() -> None:
    assert encode(Disconnect(R.SERVER_SHUTTING_DOWN), 4) == H("E0 00")


# --- 5.0 short forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "hex_"),
    [
        (Puback(1), "40 02 0001"),
        (Pubrec(1), "50 02 0001"),
        (Pubrel(1), "62 02 0001"),
        (Pubcomp(1), "70 02 0001"),
        (Disconnect(), "E0 00"),
        (Auth(), "F0 00"),
        (Puback(1, R.NO_MATCHING_SUBSCRIBERS), "40 03 0001 10"),
        (Disconnect(R.KEEP_ALIVE_TIMEOUT), "E0 01 8D"),
        (Auth(R.RE_AUTHENTICATE), "F0 02 19 00"),
    ],
)
def test_5_0_short_forms_3_4_2_1_and_3_14_2_1(packet: object, hex_: str) -> None:
    assert encode(packet, 5) == H(hex_)  # type: ignore[arg-type]


# --- encoding our own bad input is a ValueError --------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "version", "match"),
    [
        (Publish("t", qos=QoS.AT_MOST_ONCE, packet_id=1), 4, "QoS 0"),
        (Publish("t", qos=QoS.AT_MOST_ONCE, dup=True), 4, "QoS 0"),
        (Publish("t", qos=QoS.AT_LEAST_ONCE), 4, "packet identifier"),
        (Publish("t", qos=QoS.AT_LEAST_ONCE, packet_id=0), 5, "packet identifier"),
        (Publish("t", qos=QoS.AT_LEAST_ONCE, packet_id=65_536), 5, "packet identifier"),
        (Publish("t\x00"), 4, "topic"),
        (
            Publish("t", properties=Properties(session_expiry_interval=1)),
            5,
            "not allowed in PUBLISH",
        ),
        (Publish("t", properties=Properties(payload_format_indicator=2)), 5, "payload_format"),
        (Puback(0), 4, "packet identifier"),
        (Puback(1, R.PACKET_IDENTIFIER_NOT_FOUND), 5, "not allowed in PUBACK"),
        (Connack(False, R.SERVER_SHUTTING_DOWN), 5, "not allowed in CONNACK"),
        (Connack(True, R.NOT_AUTHORIZED), 5, "session_present"),
        (Connect("c", 4, password=b"p"), 4, "password without a user name"),
        (Connect("c", 4), 5, "protocol_version"),
        (
            Connect("c", 5, will=Will("w", b"", properties=Properties(session_expiry_interval=1))),
            5,
            "will properties",
        ),
        (Subscribe(1, ()), 4, "at least one"),
        (Suback(1, (R.NO_MATCHING_SUBSCRIBERS,)), 5, "not allowed in SUBACK"),
        (Unsuback(1), 5, "one reason code"),
        (Pingreq(), 6, "version"),
    ],
)
def test_encode_refuses_packets_the_protocol_cannot_carry(
    packet: object, version: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        encode(packet, version)  # type: ignore[arg-type]


# --- CONNECT details ---------------------------------------------------------------------------------


def test_connect_3_1_round_trip_uses_MQIsdp() -> None:
    packet = Connect(
        "old-client", 3, False, 30, "u", b"pw", Will("t", b"bye", QoS.EXACTLY_ONCE, True)
    )
    data = encode(packet, 3)
    assert data[2:10] == b"\x00\x06MQIsdp" and data[10] == 3
    assert StreamDecoder().feed(data) == [packet]


def test_connect_will_properties_only_will_properties_allowed_2_2_2_2() -> None:
    will = Will("w", b"m", properties=Properties(will_delay_interval=5, content_type="text"))
    packet = Connect("c", 5, will=will, properties=Properties(session_expiry_interval=9))
    assert StreamDecoder().feed(encode(packet, 5)) == [packet]
    # Session Expiry (0x11) inside the will properties is not valid there: malformed.
    bad = H("10 1B 0004 4D515454 05 06 003C 00 0001 63 05 11 00000005 0001 77 0001 6D")
    bad = bad[:1] + bytes((len(bad) - 2,)) + bad[2:]
    with pytest.raises(MalformedPacket, match="will properties"):
        StreamDecoder().feed(bad)


def test_unsupported_protocol_version_carries_name_and_level_3_1_2_2() -> None:
    with pytest.raises(UnsupportedProtocolVersion) as caught:
        StreamDecoder().feed(H("10 0D 0004 4D515454 06 02 003C 0001 63"))
    assert caught.value.reason_code == R.UNSUPPORTED_PROTOCOL_VERSION
    assert (caught.value.protocol_name, caught.value.protocol_level) == ("MQTT", 6)
    assert isinstance(caught.value, ProtocolError)


def test_client_id_characters_are_not_restricted_by_the_codec_MQTT_3_1_3_5() -> None:
    packet = Connect("a client/with+odd#chars-ü-" + "x" * 100, 4)
    assert StreamDecoder().feed(encode(packet, 4)) == [packet]


# --- decode_packet -------------------------------------------------------------------------------


def test_decode_packet_accepts_bytes_and_memoryview() -> None:
    data = encode(Publish("a/b", b"payload", QoS.AT_LEAST_ONCE, packet_id=3), 4)
    expected = Publish("a/b", b"payload", QoS.AT_LEAST_ONCE, packet_id=3)
    assert decode_packet(data[0], data[2:], 4) == expected
    assert decode_packet(data[0], memoryview(data)[2:], 4) == expected


def test_decode_packet_payload_is_bytes_not_a_view() -> None:
    data = encode(Publish("a", b"xyz"), 5)
    packet = decode_packet(data[0], memoryview(data)[2:], 5)
    assert type(packet.payload) is bytes  # type: ignore[union-attr]


def test_decode_packet_refuses_unknown_version() -> None:
    with pytest.raises(ValueError):
        decode_packet(0xC0, b"", 6)


def test_decode_packet_checks_fixed_header_flags_MQTT_2_1_3_1() -> None:
    with pytest.raises(MalformedPacket, match=r"MQTT-2\.1\.3-1"):
        decode_packet(0x80, H("000A 0001 61 00"), 4)


# --- StreamDecoder -----------------------------------------------------------------------------


def test_max_packet_size_checked_from_the_header_before_the_body_MQTT_3_1_2_24() -> None:
    decoder = StreamDecoder(version=5, max_packet_size=1_000)
    with pytest.raises(PacketTooLarge) as caught:
        decoder.feed(H("30 FF FF 7F"))  # announces ~2 MB; not one byte of body sent
    assert caught.value.reason_code == R.PACKET_TOO_LARGE


def test_packet_of_exactly_max_packet_size_is_accepted() -> None:
    data = encode(Publish("t", b"x" * 95), 4)
    assert len(data) == 100
    assert StreamDecoder(version=4, max_packet_size=100).feed(data) == [Publish("t", b"x" * 95)]
    with pytest.raises(PacketTooLarge):
        StreamDecoder(version=4, max_packet_size=99).feed(data)


def test_server_learns_version_from_connect_and_decodes_the_rest_of_the_chunk_with_it() -> None:
    publish = Publish("t", b"x", properties=Properties(content_type="c"))
    decoder = StreamDecoder()
    assert decoder.version is None
    packets = decoder.feed(encode(Connect("c", 5), 5) + encode(publish, 5))
    assert packets == [Connect("c", 5), publish]
    assert decoder.version == 5


def test_good_packets_before_a_bad_one_in_the_same_chunk_are_returned_then_the_error() -> None:
    decoder = StreamDecoder()
    bad_publish = H("30 08 0001 74 03 23 0000 78")  # topic alias 0 [MQTT-3.3.2-8]
    assert decoder.feed(encode(Connect("c", 5), 5) + bad_publish) == [Connect("c", 5)]
    assert decoder.error is not None and decoder.error.reason_code == ReasonCode.TOPIC_ALIAS_INVALID
    with pytest.raises(ProtocolError) as raised:
        decoder.feed(b"")
    assert raised.value is decoder.error


def test_server_refuses_anything_but_connect_first_MQTT_3_1_0_1() -> None:
    with pytest.raises(ProtocolError, match=r"MQTT-3\.1\.0-1"):
        StreamDecoder().feed(H("C0 00"))


def test_partial_packets_need_more_data() -> None:
    data = encode(Publish("a/b", b"0123456789", QoS.AT_LEAST_ONCE, packet_id=1), 4)
    decoder = StreamDecoder(version=4)
    assert decoder.feed(data[:1]) == []
    assert decoder.feed(data[1:5]) == []
    assert decoder.feed(data[5:] + data[:3]) == [
        Publish("a/b", b"0123456789", QoS.AT_LEAST_ONCE, packet_id=1)
    ]
    assert decoder.feed(data[3:]) == [Publish("a/b", b"0123456789", QoS.AT_LEAST_ONCE, packet_id=1)]


def test_large_packet_in_small_chunks() -> None:
    packet = Publish("big", bytes(range(256)) * 4_000, QoS.AT_LEAST_ONCE, packet_id=9)
    data = encode(packet, 5)
    decoder = StreamDecoder(version=5)
    out = []
    for start in range(0, len(data), 1_000):
        out += decoder.feed(data[start : start + 1_000])
    assert out == [packet]


def test_feed_accepts_bytearray_and_memoryview() -> None:
    data = encode(Pingreq(), 4)
    decoder = StreamDecoder(version=4)
    assert decoder.feed(bytearray(data)) == [Pingreq()]
    assert decoder.feed(memoryview(data)) == [Pingreq()]


def test_decoder_stays_failed_after_a_protocol_error() -> None:
    decoder = StreamDecoder(version=4)
    with pytest.raises(MalformedPacket):
        decoder.feed(H("00 00"))
    with pytest.raises(MalformedPacket):
        decoder.feed(encode(Pingreq(), 4))


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"version": 6}, "version"), ({"max_packet_size": 1}, "max_packet_size")]
)
def test_stream_decoder_refuses_bad_settings(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StreamDecoder(**kwargs)


@pytest.mark.parametrize("first_byte", [0x40, 0x50, 0x62, 0x70])
@pytest.mark.parametrize("version", [4, 5])
def test_an_acknowledgement_of_packet_identifier_0_is_a_protocol_error_MQTT_2_2_1_3(
    first_byte: int, version: int
) -> None:
    # found by the fuzz soak: the broker answered PUBREC 0 with a PUBREL 0 it could not encode
    with pytest.raises(ProtocolError, match="packet identifier 0"):
        StreamDecoder(version=version).feed(bytes([first_byte, 2, 0, 0]))
