"""Hypothesis properties of the wire codec: the layer between the pure unit tests and our own
golden vectors, finding the inputs nobody thought to write down.

Round trip for every packet type and version; every strict prefix of a packet needs more data;
arbitrary and mutated bytes give packets or a ProtocolError, nothing else; feeding in any split,
down to byte by byte, is the same as feeding one chunk.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import PacketType, QoS, ReasonCode, RetainHandling
from gateway.mqtt.errors import ProtocolError
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
from gateway.mqtt.properties import PROPERTY_TABLE, Properties, WireType
from gateway.mqtt.property_codec import VALUE_RANGES
from gateway.mqtt.reason_codes import ALLOWED_REASON_CODES, CONNACK_V311_REASON, SUBACK_V311_REASON

# Bounded so the whole file runs in a few seconds on 2 cores (strategies are built once at import).
SETTINGS = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

P = PacketType
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
blob = st.binary(max_size=40)
packet_ids = st.integers(1, 0xFFFF)
qos = st.sampled_from(list(QoS))

_WIRE_VALUES = {
    WireType.BYTE: st.integers(0, 0xFF),
    WireType.TWO_BYTE_INT: st.integers(0, 0xFFFF),
    WireType.FOUR_BYTE_INT: st.integers(0, 0xFFFFFFFF),
    WireType.VARINT: st.integers(0, 268_435_455),
    WireType.UTF8: text,
    WireType.BINARY: blob,
    WireType.UTF8_PAIR: st.tuples(text, text),
}


def _value(field: str, wire_type: WireType) -> st.SearchStrategy[object]:
    if field in VALUE_RANGES:
        low, high, _section = VALUE_RANGES[field]
        return st.integers(low, high)
    return _WIRE_VALUES[wire_type]


def properties(packet_type: PacketType, *, will: bool = False) -> st.SearchStrategy[Properties]:
    """Any property set valid in `packet_type` (or in the will properties): a few allowed
    properties drawn at once, each with a valid value (cheaper than one optional key per field)."""
    allowed = [s for s in PROPERTY_TABLE.values() if (s.will if will else packet_type in s.packets)]
    values = {}
    for spec in allowed:
        value = _value(spec.field, spec.wire_type)
        if spec.repeatable:
            most = 1 if packet_type is P.SUBSCRIBE else 3  # 3.8.2.1.2: at most one in SUBSCRIBE
            value = st.lists(value, min_size=1, max_size=most).map(tuple)
        values[spec.field] = value

    @st.composite
    def build(draw: st.DrawFn) -> Properties:
        chosen = draw(st.lists(st.sampled_from(sorted(values)), max_size=4, unique=True))
        props: dict[str, Any] = {field: draw(values[field]) for field in chosen}
        if packet_type is P.CONNECT and not will and "authentication_method" not in props:
            props.pop("authentication_data", None)  # 3.1.2.11.10: no data without a method
        return Properties(**props)

    return build()


def codes(packet_type: PacketType) -> st.SearchStrategy[ReasonCode]:
    return st.sampled_from(sorted(ALLOWED_REASON_CODES[packet_type]))


def _acks(version: int) -> list[st.SearchStrategy[Packet]]:
    out: list[st.SearchStrategy[Packet]] = []
    for cls, packet_type in (
        (Puback, P.PUBACK),
        (Pubrec, P.PUBREC),
        (Pubrel, P.PUBREL),
        (Pubcomp, P.PUBCOMP),
    ):
        if version == 5:
            out.append(st.builds(cls, packet_ids, codes(packet_type), properties(packet_type)))
        else:
            out.append(st.builds(cls, packet_ids))
    return out


def _publish(version: int) -> st.SearchStrategy[Packet]:
    props = properties(P.PUBLISH) if version == 5 else st.just(Properties())

    def build(
        topic: str, payload: bytes, q: QoS, retain: bool, dup: bool, pid: int, p: Properties
    ) -> Publish:
        return Publish(topic, payload, q, retain, dup and q > 0, pid if q else None, p)

    return st.builds(build, text, blob, qos, st.booleans(), st.booleans(), packet_ids, props)


def _connect(version: int) -> st.SearchStrategy[Packet]:
    v5 = version == 5
    will = st.builds(
        Will,
        text,
        blob,
        qos,
        st.booleans(),
        properties(P.CONNECT, will=True) if v5 else st.just(Properties()),
    )

    def build(
        client_id: str,
        clean: bool,
        keep_alive: int,
        user: str | None,
        password: bytes | None,
        w: Will | None,
        p: Properties,
    ) -> Connect:
        if not v5 and user is None:
            password = None  # 3.1.1 [MQTT-3.1.2-22]
        return Connect(client_id, version, clean, keep_alive, user, password, w, p)

    return st.builds(
        build,
        text,
        st.booleans(),
        st.integers(0, 0xFFFF),
        st.none() | text,
        st.none() | blob,
        st.none() | will,
        properties(P.CONNECT) if v5 else st.just(Properties()),
    )


def _subscription(version: int) -> st.SearchStrategy[Subscription]:
    if version != 5:
        return st.builds(Subscription, text, qos)
    filters = text | text.map(lambda t: "$share/g/" + t)
    return st.builds(
        Subscription,
        filters,
        qos,
        st.booleans(),
        st.booleans(),
        st.sampled_from(list(RetainHandling)),
    ).map(
        lambda s: (
            s
            if not s.topic_filter.startswith("$share/")
            else Subscription(
                s.topic_filter, s.qos, False, s.retain_as_published, s.retain_handling
            )
        )
    )


def packets(version: int) -> st.SearchStrategy[Packet]:
    v5 = version == 5
    none = st.just(Properties())
    strategies = [
        _connect(version),
        _publish(version),
        *_acks(version),
        st.just(Pingreq()),
        st.just(Pingresp()),
        st.builds(
            Subscribe,
            packet_ids,
            st.lists(_subscription(version), min_size=1, max_size=4).map(tuple),
            properties(P.SUBSCRIBE) if v5 else none,
        ),
        st.builds(
            Unsubscribe,
            packet_ids,
            st.lists(text, min_size=1, max_size=4).map(tuple),
            properties(P.UNSUBSCRIBE) if v5 else none,
        ),
    ]
    if v5:
        strategies += [
            st.builds(Connack, st.booleans(), codes(P.CONNACK), properties(P.CONNACK)).map(
                lambda c: (
                    c if not c.reason_code.is_error else Connack(False, c.reason_code, c.properties)
                )
            ),
            st.builds(
                Suback,
                packet_ids,
                st.lists(codes(P.SUBACK), min_size=1, max_size=4).map(tuple),
                properties(P.SUBACK),
            ),
            st.builds(
                Unsuback,
                packet_ids,
                st.lists(codes(P.UNSUBACK), min_size=1, max_size=4).map(tuple),
                properties(P.UNSUBACK),
            ),
            st.builds(Disconnect, codes(P.DISCONNECT), properties(P.DISCONNECT)),
            st.builds(Auth, codes(P.AUTH), properties(P.AUTH)),
        ]
    else:
        strategies += [
            st.builds(
                Connack, st.booleans(), st.sampled_from(list(CONNACK_V311_REASON.values()))
            ).map(lambda c: c if not c.reason_code.is_error else Connack(False, c.reason_code)),
            st.builds(
                Suback,
                packet_ids,
                st.lists(
                    st.sampled_from(list(SUBACK_V311_REASON.values())), min_size=1, max_size=4
                ).map(tuple),
            ),
            st.builds(Unsuback, packet_ids),
            st.just(Disconnect()),
        ]
    return st.one_of(strategies)


PACKETS = {version: packets(version) for version in (3, 4, 5)}  # built once, not per example
versioned_packet = st.one_of([st.tuples(st.just(v), PACKETS[v]) for v in PACKETS])
versioned_stream = st.one_of(
    [st.tuples(st.just(v), st.lists(PACKETS[v], min_size=1, max_size=5)) for v in PACKETS]
)


def _decoder_for(version: int, packet: Packet) -> StreamDecoder:
    return StreamDecoder(version=None if isinstance(packet, Connect) else version)


@SETTINGS
@given(versioned_packet)
def test_round_trip_every_packet_type(case: tuple[int, Packet]) -> None:
    version, packet = case
    data = encode(packet, version)
    assert _decoder_for(version, packet).feed(data) == [packet]


@SETTINGS
@given(versioned_packet)
def test_every_strict_prefix_needs_more_data(case: tuple[int, Packet]) -> None:
    version, packet = case
    data = encode(packet, version)
    for size in range(len(data)):
        assert _decoder_for(version, packet).feed(data[:size]) == []


@SETTINGS
@given(versioned_stream, st.data())
def test_any_split_equals_one_chunk(case: tuple[int, list[Packet]], data: st.DataObject) -> None:
    version, stream = case
    wire = b"".join(encode(p, version) for p in stream)
    expected = StreamDecoder(version=version).feed(wire)
    assert expected == stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    decoder, got = StreamDecoder(version=version), []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += decoder.feed(wire[start:end])
    assert got == expected
    byte_decoder, one_by_one = StreamDecoder(version=version), []
    for index in range(len(wire)):
        one_by_one += byte_decoder.feed(wire[index : index + 1])
    assert one_by_one == expected


def _outcome(decoder: StreamDecoder, chunks: list[bytes]) -> tuple[list[Packet], int | None]:
    """Packets decoded and the reason code of the error, if any; anything else propagates."""
    got: list[Packet] = []
    try:
        for chunk in chunks:
            got += decoder.feed(chunk)
    except ProtocolError as exc:
        return got, int(exc.reason_code)
    if decoder.error is not None:  # good packets, then a bad one, in the same chunk
        return got, int(decoder.error.reason_code)
    return got, None


@SETTINGS
@given(st.sampled_from([None, 3, 4, 5]), st.binary(max_size=200))
def test_random_bytes_give_packets_or_a_protocol_error(version: int | None, data: bytes) -> None:
    whole = _outcome(StreamDecoder(version=version), [data])
    split = _outcome(StreamDecoder(version=version), [data[i : i + 1] for i in range(len(data))])
    assert whole == split  # the packets before an error too: none is lost with the bad one


@SETTINGS
@given(versioned_packet, st.data())
def test_mutated_packets_give_packets_or_a_protocol_error(
    case: tuple[int, Packet], data: st.DataObject
) -> None:
    version, packet = case
    wire = bytearray(encode(packet, version))
    for _ in range(data.draw(st.integers(1, 3))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    decoder_version = None if isinstance(packet, Connect) else version
    whole = _outcome(StreamDecoder(version=decoder_version), [bytes(wire)])
    split = _outcome(
        StreamDecoder(version=decoder_version), [bytes(wire[i : i + 1]) for i in range(len(wire))]
    )
    assert whole[1] == split[1]
