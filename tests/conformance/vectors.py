"""Our own golden MQTT packet vectors, as data (as Mosquitto keeps its test vectors): bytes
checked against the spec by hand, so the codec is not only tested against itself.

Each vector: a name, the spec rule or figure it exercises, the protocol level the receiver speaks
(None = a server that has not seen CONNECT yet), the bytes on the wire as hex, and the expected
result: a packet, or the reason code of the ProtocolError the decoder must raise. Bytes are written
out by hand from the spec's figures and field tables, not produced by our encoder. `canonical`
vectors must also be what `encode` produces for the expected packet.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mqtt.enums import QoS, ReasonCode, RetainHandling
from gateway.mqtt.packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from gateway.mqtt.properties import Properties

R = ReasonCode


@dataclass(frozen=True, slots=True)
class Vector:
    name: str
    rule: str
    version: int | None
    hex: str
    expected: Packet | ReasonCode
    canonical: bool = True
    max_packet_size: int | None = None

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)


WILL = Will("w", b"m", QoS.AT_LEAST_ONCE, False)

VALID: tuple[Vector, ...] = (
    # --- CONNECT / CONNACK ---------------------------------------------------------------------
    Vector(
        "connect 3.1.1 flags 0xCE, keep alive 10",
        "3.1.1 3.1.2.10 figure 3.6",
        None,
        "10 19 0004 4D515454 04 CE 000A 0001 63 0001 77 0001 6D 0001 75 0001 70",
        Connect("c", 4, True, 10, "u", b"p", WILL),
    ),
    Vector(
        "connect 5.0 with session expiry 10",
        "5.0 3.1.2.12 figure 3-8",
        None,
        "10 20 0004 4D515454 05 CE 000A 05 11 0000000A 0001 63 00 0001 77 0001 6D 0001 75 0001 70",
        Connect("c", 5, True, 10, "u", b"p", WILL, Properties(session_expiry_interval=10)),
    ),
    Vector(
        "connect 3.1 MQIsdp level 3",
        "3.1 protocol name MQIsdp",
        None,
        "10 0F 0006 4D5149736470 03 02 003C 0001 63",
        Connect("c", 3),
    ),
    Vector(
        "connect 5.0 password without user name is allowed",
        "5.0 3.1.2.9",
        None,
        "10 11 0004 4D515454 05 42 003C 00 0001 63 0001 70",
        Connect("c", 5, password=b"p"),
    ),
    Vector(
        "connect empty client id",
        "[MQTT-3.1.3-6]",
        None,
        "10 0C 0004 4D515454 04 02 003C 0000",
        Connect("", 4),
    ),
    Vector("connack 3.1.1 accepted", "3.1.1 3.2.2.3", 4, "20 02 00 00", Connack()),
    Vector("connack 3.1.1 session present", "[MQTT-3.2.2-2]", 4, "20 02 01 00", Connack(True)),
    Vector(
        "connack 3.1.1 not authorized (5)",
        "3.1.1 table 3.1",
        4,
        "20 02 00 05",
        Connack(False, R.NOT_AUTHORIZED),
    ),
    Vector(
        "connack 3.1.1 unacceptable protocol version (1)",
        "[MQTT-3.1.2-2]",
        4,
        "20 02 00 01",
        Connack(False, R.UNSUPPORTED_PROTOCOL_VERSION),
    ),
    Vector("connack 5.0 success, no properties", "5.0 3.2.2", 5, "20 03 00 00 00", Connack()),
    Vector(
        "connack 5.0 with topic alias maximum 10",
        "5.0 3.2.2.3.8",
        5,
        "20 06 01 00 03 22 000A",
        Connack(True, R.SUCCESS, Properties(topic_alias_maximum=10)),
    ),
    Vector(
        "connack 5.0 unsupported protocol version",
        "5.0 3.1.2.2",
        5,
        "20 03 00 84 00",
        Connack(False, R.UNSUPPORTED_PROTOCOL_VERSION),
    ),
    # --- PUBLISH and acknowledgements --------------------------------------------------------------
    Vector(
        "publish 3.1.1 QoS 1 a/b id 10",
        "3.1.1 3.3.2.3 figure 3.11",
        4,
        "32 09 0003 612F62 000A 6869",
        Publish("a/b", b"hi", QoS.AT_LEAST_ONCE, packet_id=10),
    ),
    Vector(
        "publish 3.1.1 QoS 0 retain, empty payload",
        "3.1.1 3.3.1.3",
        4,
        "31 05 0003 612F62",
        Publish("a/b", retain=True),
    ),
    Vector(
        "publish 3.1.1 QoS 2 dup",
        "[MQTT-3.3.1-1]",
        4,
        "3C 07 0003 612F62 0001",
        Publish("a/b", b"", QoS.EXACTLY_ONCE, dup=True, packet_id=1),
    ),
    Vector(
        "publish UTF-8 topic A+U+2A6D4",
        "3.1.1 1.5.3 figure 1.1",
        4,
        "30 07 0005 41F0AA9B94",
        Publish("A\U0002a6d4"),
    ),
    Vector(
        "publish 5.0 QoS 1 a/b id 10 no properties",
        "5.0 3.3.2 figure 3-9",
        5,
        "32 0A 0003 612F62 000A 00 6869",
        Publish("a/b", b"hi", QoS.AT_LEAST_ONCE, packet_id=10),
    ),
    Vector(
        "publish 5.0 message expiry and content type",
        "5.0 3.3.2.3.3 3.3.2.3.9",
        5,
        "30 14 0003 612F62 0C 02 0000003C 03 0004 6A736F6E 7B7D",
        Publish(
            "a/b", b"{}", properties=Properties(message_expiry_interval=60, content_type="json")
        ),
    ),
    Vector(
        "publish 5.0 two subscription identifiers",
        "5.0 3.3.2.3.8",
        5,
        "30 09 0001 61 04 0B 01 0B 7F 78",
        Publish("a", b"x", properties=Properties(subscription_identifiers=(1, 127))),
    ),
    Vector(
        "publish 5.0 user properties keep order and repeats",
        "5.0 3.3.2.3.7",
        5,
        "30 13 0001 61 0E 26 0001 6B 0001 31 26 0001 6B 0001 32 78",
        Publish("a", b"x", properties=Properties(user_properties=(("k", "1"), ("k", "2")))),
    ),
    Vector("puback", "3.1.1 3.4 / 5.0 3.4.2.1 short form", 4, "40 02 000A", Puback(10)),
    Vector("puback 5.0 short form", "5.0 3.4.2.1", 5, "40 02 000A", Puback(10)),
    Vector(
        "puback 5.0 no matching subscribers",
        "5.0 3.4.2.2.1",
        5,
        "40 03 000A 10",
        Puback(10, R.NO_MATCHING_SUBSCRIBERS),
    ),
    Vector(
        "puback 5.0 success with empty property block",
        "5.0 3.4.2.1",
        5,
        "40 04 000A 00 00",
        Puback(10),
        canonical=False,
    ),
    Vector("pubrec", "3.1.1 3.5", 4, "50 02 000A", Pubrec(10)),
    Vector("pubrel", "[MQTT-3.6.1-1]", 4, "62 02 000A", Pubrel(10)),
    Vector("pubcomp", "3.1.1 3.7", 4, "70 02 000A", Pubcomp(10)),
    Vector(
        "pubrel 5.0 packet identifier not found",
        "5.0 3.6.2.1",
        5,
        "62 03 000A 92",
        Pubrel(10, R.PACKET_IDENTIFIER_NOT_FOUND),
    ),
    Vector(
        "pubcomp 5.0 with reason string",
        "5.0 3.7.2.2.2",
        5,
        "70 08 000A 00 04 1F 0001 78",
        Pubcomp(10, R.SUCCESS, Properties(reason_string="x")),
    ),
    Vector(
        "pubrec 5.0 quota exceeded with user property",
        "5.0 3.5.2.2.3",
        5,
        "50 0B 000A 97 07 26 0001 6B 0001 76",
        Pubrec(10, R.QUOTA_EXCEEDED, Properties(user_properties=(("k", "v"),))),
    ),
    # --- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK -------------------------------------------
    Vector(
        "subscribe 3.1.1 a/b QoS 1, c/d QoS 2",
        "3.1.1 3.8.3 figure 3.23",
        4,
        "82 0E 000A 0003 612F62 01 0003 632F64 02",
        Subscribe(
            10, (Subscription("a/b", QoS.AT_LEAST_ONCE), Subscription("c/d", QoS.EXACTLY_ONCE))
        ),
    ),
    Vector(
        "subscribe 5.0 options NL RAP retain handling 2",
        "5.0 3.8.3.1 figure 3-21",
        5,
        "82 09 000A 00 0003 612F62 2D",
        Subscribe(
            10, (Subscription("a/b", QoS.AT_LEAST_ONCE, True, True, RetainHandling.DO_NOT_SEND),)
        ),
    ),
    Vector(
        "subscribe 5.0 subscription identifier 1",
        "5.0 3.8.2.1.2",
        5,
        "82 0B 000A 02 0B 01 0003 612F62 01",
        Subscribe(
            10, (Subscription("a/b", QoS.AT_LEAST_ONCE),), Properties(subscription_identifiers=(1,))
        ),
    ),
    Vector(
        "subscribe 5.0 shared without no-local",
        "5.0 4.8.2",
        5,
        "82 10 000A 00 000A 2473686172652F672F61 01",
        Subscribe(10, (Subscription("$share/g/a", QoS.AT_LEAST_ONCE),)),
    ),
    Vector(
        "suback 3.1.1 granted 0, 2 and failure",
        "3.1.1 3.9.3 figure 3.26",
        4,
        "90 05 000A 00 02 80",
        Suback(10, (R.GRANTED_QOS_0, R.GRANTED_QOS_2, R.UNSPECIFIED_ERROR)),
    ),
    Vector(
        "suback 5.0 granted 1, topic filter invalid",
        "5.0 3.9.3",
        5,
        "90 05 000A 00 01 8F",
        Suback(10, (R.GRANTED_QOS_1, R.TOPIC_FILTER_INVALID)),
    ),
    Vector(
        "unsubscribe 3.1.1 a/b c/d",
        "3.1.1 3.10.3 figure 3.30",
        4,
        "A2 0C 000A 0003 612F62 0003 632F64",
        Unsubscribe(10, ("a/b", "c/d")),
    ),
    Vector(
        "unsubscribe 5.0 a/b c/d",
        "5.0 3.10.3",
        5,
        "A2 0D 000A 00 0003 612F62 0003 632F64",
        Unsubscribe(10, ("a/b", "c/d")),
    ),
    Vector("unsuback 3.1.1", "3.1.1 3.11", 4, "B0 02 000A", Unsuback(10)),
    Vector(
        "unsuback 5.0 success, no subscription existed",
        "5.0 3.11.3",
        5,
        "B0 05 000A 00 00 11",
        Unsuback(10, (R.SUCCESS, R.NO_SUBSCRIPTION_EXISTED)),
    ),
    # --- PINGREQ, PINGRESP, DISCONNECT, AUTH -------------------------------------------------------
    Vector("pingreq", "3.12", 4, "C0 00", Pingreq()),
    Vector("pingresp", "3.13", 5, "D0 00", Pingresp()),
    Vector("disconnect 3.1.1", "3.1.1 3.14", 4, "E0 00", Disconnect()),
    Vector("disconnect 5.0 normal short form", "5.0 3.14.2.1", 5, "E0 00", Disconnect()),
    Vector(
        "disconnect 5.0 session taken over",
        "5.0 3.14.2.2.1",
        5,
        "E0 01 8E",
        Disconnect(R.SESSION_TAKEN_OVER),
    ),
    Vector(
        "disconnect 5.0 with session expiry 0",
        "5.0 3.14.2.2.2",
        5,
        "E0 07 00 05 11 00000000",
        Disconnect(R.NORMAL_DISCONNECTION, Properties(session_expiry_interval=0)),
    ),
    Vector("auth 5.0 success short form", "5.0 3.15.2.1", 5, "F0 00", Auth()),
    Vector(
        "auth 5.0 continue with method SCRAM",
        "5.0 3.15.2.2.2",
        5,
        "F0 0A 18 08 15 0005 534352414D",
        Auth(R.CONTINUE_AUTHENTICATION, Properties(authentication_method="SCRAM")),
    ),
    # --- remaining length encodings (5.0 1.5.5 table 1-1) -------------------------------------
    Vector(
        "remaining length 128 takes two bytes",
        "5.0 1.5.5 table 1-1",
        4,
        "30 80 01 0001 61" + "78" * 125,
        Publish("a", b"x" * 125),
    ),
)

ERRORS: tuple[Vector, ...] = (
    # --- fixed header -------------------------------------------------------------------------------
    Vector("packet type 0 is reserved", "5.0 2.1.2", 4, "00 00", R.MALFORMED_PACKET),
    Vector("publish QoS 3", "[MQTT-3.3.1-4]", 4, "36 05 0003 612F62", R.MALFORMED_PACKET),
    Vector("publish DUP at QoS 0", "[MQTT-3.3.1-2]", 4, "38 05 0003 612F62", R.MALFORMED_PACKET),
    Vector(
        "subscribe flags 0b0000",
        "[MQTT-3.8.1-1]",
        4,
        "80 08 000A 0003 612F62 01",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "unsubscribe flags 0b0000",
        "[MQTT-3.10.1-1]",
        4,
        "A0 07 000A 0003 612F62",
        R.MALFORMED_PACKET,
    ),
    Vector("pubrel flags 0b0000", "[MQTT-3.6.1-1]", 4, "60 02 000A", R.MALFORMED_PACKET),
    Vector("pingreq flags 0b0001", "[MQTT-2.1.3-1]", 4, "C1 00", R.MALFORMED_PACKET),
    Vector("puback flags 0b0010", "[MQTT-2.1.3-1]", 5, "42 02 000A", R.MALFORMED_PACKET),
    Vector(
        "remaining length of five bytes", "[MQTT-1.5.5]", 4, "30 FF FF FF FF 7F", R.MALFORMED_PACKET
    ),
    Vector("remaining length not minimal", "[MQTT-1.5.5-1]", 4, "C0 80 00", R.MALFORMED_PACKET),
    Vector(
        "packet larger than the maximum, header only",
        "[MQTT-3.1.2-24]",
        4,
        "30 FF 01",
        R.PACKET_TOO_LARGE,
        max_packet_size=100,
    ),
    Vector(
        "first packet not CONNECT", "[MQTT-3.1.0-1]", None, "30 05 0003 612F62", R.PROTOCOL_ERROR
    ),
    Vector("auth in 3.1.1", "3.1.1 2.2.1 reserved type 15", 4, "F0 00", R.MALFORMED_PACKET),
    # --- UTF-8 strings ------------------------------------------------------------------------------
    Vector("topic not well-formed UTF-8", "[MQTT-1.5.4-1]", 4, "30 03 0001 FF", R.MALFORMED_PACKET),
    Vector(
        "topic with an encoded surrogate",
        "[MQTT-1.5.4-1]",
        4,
        "30 05 0003 EDA080",
        R.MALFORMED_PACKET,
    ),
    Vector("topic with U+0000", "[MQTT-1.5.4-2]", 4, "30 03 0001 00", R.MALFORMED_PACKET),
    Vector("topic length past the packet", "5.0 1.5.4", 4, "30 03 0005 61", R.MALFORMED_PACKET),
    Vector(
        "client id with U+0000",
        "[MQTT-1.5.4-2]",
        None,
        "10 0D 0004 4D515454 04 02 003C 0001 00",
        R.MALFORMED_PACKET,
    ),
    # --- CONNECT -------------------------------------------------------------------------------------
    Vector(
        "connect protocol name MQTX",
        "[MQTT-3.1.2-1]",
        None,
        "10 0D 0004 4D515458 04 02 003C 0001 63",
        R.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    Vector(
        "connect level 6",
        "[MQTT-3.1.2-2]",
        None,
        "10 0D 0004 4D515454 06 02 003C 0001 63",
        R.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    Vector(
        "connect MQIsdp with level 4",
        "[MQTT-3.1.2-2]",
        None,
        "10 0F 0006 4D5149736470 04 02 003C 0001 63",
        R.UNSUPPORTED_PROTOCOL_VERSION,
    ),
    Vector(
        "connect reserved flag",
        "[MQTT-3.1.2-3]",
        None,
        "10 0D 0004 4D515454 04 03 003C 0001 63",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect will QoS without will flag",
        "[MQTT-3.1.2-11]",
        None,
        "10 0E 0004 4D515454 05 0A 003C 00 0001 63",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect will retain without will flag",
        "[MQTT-3.1.2-13]",
        None,
        "10 0D 0004 4D515454 04 22 003C 0001 63",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect will QoS 3",
        "[MQTT-3.1.2-12]",
        None,
        "10 13 0004 4D515454 04 1E 003C 0001 63 0001 77 0001 6D",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect 3.1.1 password without user name",
        "[MQTT-3.1.2-22]",
        None,
        "10 10 0004 4D515454 04 42 003C 0001 63 0001 70",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect user name flag without user name",
        "[MQTT-3.1.2-17]",
        None,
        "10 0D 0004 4D515454 04 82 003C 0001 63",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect trailing byte",
        "5.0 2.1.4",
        None,
        "10 0E 0004 4D515454 04 02 003C 0001 63 FF",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect will delay in CONNECT properties",
        "5.0 2.2.2.2",
        None,
        "10 13 0004 4D515454 05 02 003C 05 18 0000000A 0001 63",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "connect receive maximum 0",
        "5.0 3.1.2.11.3",
        None,
        "10 11 0004 4D515454 05 02 003C 03 21 0000 0001 63",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "connect authentication data without method",
        "5.0 3.1.2.11.10",
        None,
        "10 12 0004 4D515454 05 02 003C 04 16 0001 78 0001 63",
        R.PROTOCOL_ERROR,
    ),
    Vector("connack reserved flag bits", "[MQTT-3.2.2-1]", 4, "20 02 02 00", R.MALFORMED_PACKET),
    Vector("connack 3.1.1 return code 6", "3.1.1 3.2.2.3", 4, "20 02 00 06", R.MALFORMED_PACKET),
    Vector(
        "connack session present with error",
        "[MQTT-3.2.2-6]",
        5,
        "20 03 01 87 00",
        R.PROTOCOL_ERROR,
    ),
    # --- packet identifiers ---------------------------------------------------------------------
    Vector(
        "publish QoS 1 with packet id 0",
        "[MQTT-2.2.1-3]",
        4,
        "32 07 0003 612F62 0000",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe with packet id 0",
        "[MQTT-2.2.1-3]",
        4,
        "82 08 0000 0003 612F62 01",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "unsubscribe with packet id 0",
        "[MQTT-2.2.1-3]",
        4,
        "A2 07 0000 0003 612F62",
        R.PROTOCOL_ERROR,
    ),
    # --- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------
    Vector(
        "subscribe 3.1.1 with no payload", "3.1.1 [MQTT-3.8.3-3]", 4, "82 02 000A", R.PROTOCOL_ERROR
    ),
    Vector("subscribe 5.0 with no payload", "[MQTT-3.8.3-2]", 5, "82 03 000A 00", R.PROTOCOL_ERROR),
    Vector("unsubscribe with no payload", "[MQTT-3.10.3-2]", 4, "A2 02 000A", R.PROTOCOL_ERROR),
    Vector(
        "subscribe 3.1.1 requested QoS upper bits",
        "3.1.1 [MQTT-3-8.3-4]",
        4,
        "82 08 000A 0003 612F62 04",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "subscribe 3.1.1 requested QoS 3",
        "3.1.1 [MQTT-3-8.3-4]",
        4,
        "82 08 000A 0003 612F62 03",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "subscribe 5.0 options reserved bits",
        "[MQTT-3.8.3-5]",
        5,
        "82 09 000A 00 0003 612F62 41",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "subscribe 5.0 retain handling 3",
        "5.0 3.8.3.1",
        5,
        "82 09 000A 00 0003 612F62 30",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe 5.0 maximum QoS 3",
        "5.0 3.8.3.1",
        5,
        "82 09 000A 00 0003 612F62 03",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe 5.0 no local on a shared subscription",
        "[MQTT-3.8.3-4]",
        5,
        "82 10 000A 00 000A 2473686172652F672F61 05",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe 5.0 subscription identifier 0",
        "5.0 3.8.2.1.2",
        5,
        "82 0B 000A 02 0B 00 0003 612F62 01",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe 5.0 two subscription identifiers",
        "5.0 3.8.2.1.2",
        5,
        "82 0D 000A 04 0B 01 0B 02 0003 612F62 01",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "subscribe topic filter cut short",
        "5.0 1.5.4",
        4,
        "82 06 000A 0003 612F",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "subscribe missing options byte",
        "5.0 3.8.3",
        4,
        "82 07 000A 0003 612F62",
        R.MALFORMED_PACKET,
    ),
    Vector("suback 3.1.1 return code 0x81", "3.1.1 3.9.3", 4, "90 03 000A 81", R.MALFORMED_PACKET),
    # --- properties --------------------------------------------------------------------------------
    Vector(
        "property repeated (content type twice)",
        "5.0 2.2.2.2",
        5,
        "30 0C 0001 61 08 03 0001 78 03 0001 79",
        R.PROTOCOL_ERROR,
    ),
    Vector(
        "unknown property identifier 0x7F",
        "5.0 2.2.2.2",
        5,
        "30 05 0001 61 01 7F",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "property not valid for PUBLISH (session expiry)",
        "5.0 2.2.2.2",
        5,
        "30 09 0001 61 05 11 0000000A",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "property length past the packet", "5.0 2.2.2.1", 5, "30 04 0001 61 05", R.MALFORMED_PACKET
    ),
    Vector(
        "property length shorter than its property",
        "5.0 2.2.2.1",
        5,
        "30 09 0001 61 02 02 0000003C",
        R.MALFORMED_PACKET,
    ),
    Vector(
        "payload format indicator 2", "5.0 3.3.2.3.2", 5, "30 06 0001 61 02 01 02", R.PROTOCOL_ERROR
    ),
    Vector("topic alias 0", "[MQTT-3.3.2-8]", 5, "30 07 0001 61 03 23 0000", R.TOPIC_ALIAS_INVALID),
    Vector(
        "puback property length past the packet",
        "5.0 3.4.2.2",
        5,
        "40 05 000A 00 09 1F",
        R.MALFORMED_PACKET,
    ),
    # --- reason codes and lengths ----------------------------------------------------------------
    Vector("puback 5.0 reason code 0x05", "5.0 3.4.2.1", 5, "40 03 000A 05", R.MALFORMED_PACKET),
    Vector("auth 5.0 reason code 0x87", "[MQTT-3.15.2-1]", 5, "F0 02 87 00", R.MALFORMED_PACKET),
    Vector(
        "puback 3.1.1 with a trailing byte", "3.1.1 3.4.1", 4, "40 03 000A 00", R.MALFORMED_PACKET
    ),
    Vector("puback shorter than its packet id", "3.4.2", 5, "40 01 00", R.MALFORMED_PACKET),
    Vector("pingreq with a body", "3.12.1", 4, "C0 01 00", R.MALFORMED_PACKET),
    Vector("disconnect 3.1.1 with a body", "3.1.1 3.14", 4, "E0 01 00", R.MALFORMED_PACKET),
    Vector(
        "disconnect 5.0 properties then a trailing byte",
        "5.0 3.14.2",
        5,
        "E0 03 00 00 FF",
        R.MALFORMED_PACKET,
    ),
    Vector("unsuback 3.1.1 with a payload", "3.1.1 3.11.3", 4, "B0 03 000A 00", R.MALFORMED_PACKET),
)
