"""Which reason codes each packet may carry (MQTT 5.0 sections 3.x.2.1), and the 3.1.1 equivalents.

Data, not logic: a table can be read against the spec's lists line by line, an `if` chain cannot.
The codec reads these tables to reject a code a packet cannot carry and to translate CONNACK and
SUBACK codes for 3.1.1 clients.
"""

from __future__ import annotations

from gateway.mqtt.enums import PacketType as P
from gateway.mqtt.enums import ReasonCode as R

REASON_BY_VALUE: dict[int, R] = {int(code): code for code in R}

ALLOWED_REASON_CODES: dict[P, frozenset[R]] = {
    # 3.2.2.2 Connect Reason Code
    P.CONNACK: frozenset(
        {
            R.SUCCESS,
            R.UNSPECIFIED_ERROR,
            R.MALFORMED_PACKET,
            R.PROTOCOL_ERROR,
            R.IMPLEMENTATION_SPECIFIC_ERROR,
            R.UNSUPPORTED_PROTOCOL_VERSION,
            R.CLIENT_IDENTIFIER_NOT_VALID,
            R.BAD_USER_NAME_OR_PASSWORD,
            R.NOT_AUTHORIZED,
            R.SERVER_UNAVAILABLE,
            R.SERVER_BUSY,
            R.BANNED,
            R.BAD_AUTHENTICATION_METHOD,
            R.TOPIC_NAME_INVALID,
            R.PACKET_TOO_LARGE,
            R.QUOTA_EXCEEDED,
            R.PAYLOAD_FORMAT_INVALID,
            R.RETAIN_NOT_SUPPORTED,
            R.QOS_NOT_SUPPORTED,
            R.USE_ANOTHER_SERVER,
            R.SERVER_MOVED,
            R.CONNECTION_RATE_EXCEEDED,
        }
    ),
    # 3.4.2.1 PUBACK Reason Code (3.5.2.1 PUBREC has the same list)
    P.PUBACK: frozenset(
        {
            R.SUCCESS,
            R.NO_MATCHING_SUBSCRIBERS,
            R.UNSPECIFIED_ERROR,
            R.IMPLEMENTATION_SPECIFIC_ERROR,
            R.NOT_AUTHORIZED,
            R.TOPIC_NAME_INVALID,
            R.PACKET_IDENTIFIER_IN_USE,
            R.QUOTA_EXCEEDED,
            R.PAYLOAD_FORMAT_INVALID,
        }
    ),
    # 3.6.2.1 PUBREL and 3.7.2.1 PUBCOMP Reason Code
    P.PUBREL: frozenset({R.SUCCESS, R.PACKET_IDENTIFIER_NOT_FOUND}),
    P.PUBCOMP: frozenset({R.SUCCESS, R.PACKET_IDENTIFIER_NOT_FOUND}),
    # 3.9.3 SUBACK Payload
    P.SUBACK: frozenset(
        {
            R.GRANTED_QOS_0,
            R.GRANTED_QOS_1,
            R.GRANTED_QOS_2,
            R.UNSPECIFIED_ERROR,
            R.IMPLEMENTATION_SPECIFIC_ERROR,
            R.NOT_AUTHORIZED,
            R.TOPIC_FILTER_INVALID,
            R.PACKET_IDENTIFIER_IN_USE,
            R.QUOTA_EXCEEDED,
            R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    # 3.11.3 UNSUBACK Payload
    P.UNSUBACK: frozenset(
        {
            R.SUCCESS,
            R.NO_SUBSCRIPTION_EXISTED,
            R.UNSPECIFIED_ERROR,
            R.IMPLEMENTATION_SPECIFIC_ERROR,
            R.NOT_AUTHORIZED,
            R.TOPIC_FILTER_INVALID,
            R.PACKET_IDENTIFIER_IN_USE,
        }
    ),
    # 3.14.2.1 Disconnect Reason Code
    P.DISCONNECT: frozenset(
        {
            R.NORMAL_DISCONNECTION,
            R.DISCONNECT_WITH_WILL_MESSAGE,
            R.UNSPECIFIED_ERROR,
            R.MALFORMED_PACKET,
            R.PROTOCOL_ERROR,
            R.IMPLEMENTATION_SPECIFIC_ERROR,
            R.NOT_AUTHORIZED,
            R.SERVER_BUSY,
            R.SERVER_SHUTTING_DOWN,
            R.KEEP_ALIVE_TIMEOUT,
            R.SESSION_TAKEN_OVER,
            R.TOPIC_FILTER_INVALID,
            R.TOPIC_NAME_INVALID,
            R.RECEIVE_MAXIMUM_EXCEEDED,
            R.TOPIC_ALIAS_INVALID,
            R.PACKET_TOO_LARGE,
            R.MESSAGE_RATE_TOO_HIGH,
            R.QUOTA_EXCEEDED,
            R.ADMINISTRATIVE_ACTION,
            R.PAYLOAD_FORMAT_INVALID,
            R.RETAIN_NOT_SUPPORTED,
            R.QOS_NOT_SUPPORTED,
            R.USE_ANOTHER_SERVER,
            R.SERVER_MOVED,
            R.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            R.CONNECTION_RATE_EXCEEDED,
            R.MAXIMUM_CONNECT_TIME,
            R.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
            R.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        }
    ),
    # 3.15.2.1 Authenticate Reason Code [MQTT-3.15.2-1]
    P.AUTH: frozenset({R.SUCCESS, R.CONTINUE_AUTHENTICATION, R.RE_AUTHENTICATE}),
}
ALLOWED_REASON_CODES[P.PUBREC] = ALLOWED_REASON_CODES[P.PUBACK]

# An error found where the packet that reports it cannot carry its code (a PUBLISH's bad topic
# alias 0x94 before the CONNACK, a refused login after it) is reported with the nearest code that
# packet can carry; anything without a nearer one is a Protocol Error (0x82), which both carry.
SUBSTITUTE_REASON_CODES: dict[P, dict[R, R]] = {
    P.CONNACK: {
        R.SERVER_SHUTTING_DOWN: R.SERVER_UNAVAILABLE,
        R.MESSAGE_RATE_TOO_HIGH: R.QUOTA_EXCEEDED,
        R.ADMINISTRATIVE_ACTION: R.NOT_AUTHORIZED,
    },
    P.DISCONNECT: {
        R.BAD_USER_NAME_OR_PASSWORD: R.NOT_AUTHORIZED,
        R.BAD_AUTHENTICATION_METHOD: R.NOT_AUTHORIZED,
        R.BANNED: R.NOT_AUTHORIZED,
        R.SERVER_UNAVAILABLE: R.SERVER_BUSY,
    },
}


def carried_code(packet_type: P, code: R) -> R:
    """`code` if `packet_type` may carry it, else its substitute (see above)."""
    if code in ALLOWED_REASON_CODES[packet_type]:
        return code
    return SUBSTITUTE_REASON_CODES.get(packet_type, {}).get(code, R.PROTOCOL_ERROR)


# 3.1.1 section 3.2.2.3 table 3.1: CONNACK return codes 0..5. Codes not listed here map to 5.
CONNACK_V311_RETURN_CODE: dict[R, int] = {
    R.SUCCESS: 0,
    R.UNSUPPORTED_PROTOCOL_VERSION: 1,
    R.CLIENT_IDENTIFIER_NOT_VALID: 2,
    R.SERVER_UNAVAILABLE: 3,
    R.SERVER_BUSY: 3,
    R.USE_ANOTHER_SERVER: 3,
    R.SERVER_MOVED: 3,
    R.CONNECTION_RATE_EXCEEDED: 3,
    R.BAD_USER_NAME_OR_PASSWORD: 4,
    R.NOT_AUTHORIZED: 5,
}
CONNACK_V311_NOT_AUTHORIZED = 5
CONNACK_V311_REASON: dict[int, R] = {
    0: R.SUCCESS,
    1: R.UNSUPPORTED_PROTOCOL_VERSION,
    2: R.CLIENT_IDENTIFIER_NOT_VALID,
    3: R.SERVER_UNAVAILABLE,
    4: R.BAD_USER_NAME_OR_PASSWORD,
    5: R.NOT_AUTHORIZED,
}

# 3.1.1 section 3.9.3: SUBACK return codes are the granted QoS or 0x80 (Failure).
SUBACK_V311_FAILURE = 0x80
SUBACK_V311_REASON: dict[int, R] = {
    0: R.GRANTED_QOS_0,
    1: R.GRANTED_QOS_1,
    2: R.GRANTED_QOS_2,
    0x80: R.UNSPECIFIED_ERROR,
}


def suback_v311_code(code: R) -> int:
    """GRANTED_QOS_n -> n; any error -> 0x80."""
    return SUBACK_V311_FAILURE if code.is_error else int(code)
