"""The fast path for plain binary frames (gateway.web.frames) reads the same bytes as wsproto, for
any payloads, masks and ways the stream is cut into reads; it leaves every other frame alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage

from gateway.web import frames
from tests.property.test_web_fuzz import frame

plain = st.builds(
    lambda payload, mask: frame(2, payload, mask=mask),
    st.binary(max_size=300) | st.binary(min_size=126, max_size=65_535),
    st.binary(min_size=4, max_size=4),
)


def wsproto_payload(data: bytes) -> bytes:
    ws = Connection(ConnectionType.SERVER)
    ws.receive_data(data)
    return b"".join(e.data for e in ws.events() if isinstance(e, BytesMessage))


@given(st.lists(plain, max_size=6), st.lists(st.integers(1, 5000), max_size=10))
def test_split_reads_what_wsproto_reads_however_the_stream_is_cut(parts, cuts):
    stream = b"".join(parts)
    pending, out, pos = bytearray(), [], 0
    for size in [*cuts, len(stream)]:
        pending += stream[pos : pos + size]
        pos += size
        payloads, used = frames.split(pending)
        del pending[:used]
        out += payloads
    assert b"".join(out) == wsproto_payload(stream)
    assert not pending  # every frame was plain: all taken
    assert frames.frame_length(stream) in (None, len(parts[0]) if parts else None)


@given(
    st.sampled_from(
        [
            frame(2, b"x", fin=False),
            frame(1, b"x"),
            frame(9, b""),
            frame(2, b"x", mask=None),
            frame(2, b"x", rsv=4),
            frame(0, b"x"),
            frame(2, b"x" * 70_000, mask=b"abcd")[:2] + b"\x00" * 8,
        ]
    )
)
def test_split_stops_at_any_other_frame(other):
    data = frame(2, b"first") + other
    payloads, used = frames.split(data)
    assert payloads == [b"first"] and used == len(frame(2, b"first"))


def test_unmask_is_rfc_6455_example():
    # RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d
    assert frames.unmask(bytes.fromhex("7f9f4d5158"), bytes.fromhex("37fa213d")) == b"Hello"
