"""Runs the golden packet vectors in vectors.py against the real codec."""

from __future__ import annotations

import pytest

from gateway.mqtt.codec import StreamDecoder, encode
from gateway.mqtt.enums import ReasonCode
from gateway.mqtt.errors import ProtocolError
from tests.conformance.vectors import ERRORS, VALID, Vector


def _decoder(vector: Vector) -> StreamDecoder:
    if vector.max_packet_size is None:
        return StreamDecoder(version=vector.version)
    return StreamDecoder(version=vector.version, max_packet_size=vector.max_packet_size)


def _id(vector: Vector) -> str:
    return f"{vector.rule} {vector.name}"


@pytest.mark.parametrize("vector", VALID, ids=_id)
def test_valid_vector_decodes_to_the_expected_packet(vector: Vector) -> None:
    decoder = _decoder(vector)
    assert decoder.feed(vector.data) == [vector.expected]
    if vector.version is None:  # a server learns the version from CONNECT
        assert decoder.version == vector.expected.protocol_version  # type: ignore[union-attr]


@pytest.mark.parametrize("vector", [v for v in VALID if v.canonical], ids=_id)
def test_valid_vector_is_what_encode_writes(vector: Vector) -> None:
    assert not isinstance(vector.expected, ReasonCode)  # a valid vector expects a packet
    version = vector.version or vector.expected.protocol_version  # type: ignore[union-attr]
    assert encode(vector.expected, version).hex(" ").upper() == vector.data.hex(" ").upper()


@pytest.mark.parametrize("vector", ERRORS, ids=_id)
def test_error_vector_raises_its_reason_code(vector: Vector) -> None:
    assert isinstance(vector.expected, ReasonCode)
    with pytest.raises(ProtocolError) as caught:
        _decoder(vector).feed(vector.data)
    assert caught.value.reason_code == vector.expected, caught.value


@pytest.mark.parametrize("vector", ERRORS, ids=_id)
def test_error_vector_fails_the_same_way_fed_byte_by_byte(vector: Vector) -> None:
    decoder = _decoder(vector)
    with pytest.raises(ProtocolError) as caught:  # noqa: PT012 - at whichever byte it comes
        for index in range(len(vector.data)):
            decoder.feed(vector.data[index : index + 1])
    assert caught.value.reason_code == vector.expected


def test_vector_names_are_unique() -> None:
    names = [v.name for v in VALID + ERRORS]
    assert len(names) == len(set(names))
