from __future__ import annotations

import pytest

from antigravity_gateway.protocols.sse import SSEDecoder, encode_data, encode_event

STREAM = (
    b'data: {"a":1}\r\n\r\n'
    b": a comment\n"
    b"event: message\n"
    b'data: {"b":\n'
    b"data: 2}\n\n"
    b"id: 7\r"
    b"data:no-space\r\r"
    b"data: [DONE]\r\n\r\n"
)
EXPECTED = [b'{"a":1}', b'{"b":\n2}', b"no-space", b"[DONE]"]


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_same_events_however_the_bytes_are_split(split: int) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(STREAM[:split]) + decoder.feed(STREAM[split:]) + decoder.flush()
    assert events == EXPECTED


def test_byte_at_a_time_and_huge_lines() -> None:
    big = b"x" * 1_000_000
    raw = b"data: " + big + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(raw), 4096):
        events += decoder.feed(raw[i : i + 4096])
    assert events == [big]


def test_flush_delivers_an_unterminated_last_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x":1}') == []
    assert decoder.flush() == [b'{"x":1}']
    assert decoder.flush() == []


def test_encoders_frame_like_google_and_anthropic() -> None:
    assert encode_data(b"{}") == b"data: {}\r\n\r\n"
    assert encode_event("ping", b'{"type":"ping"}') == b'event: ping\ndata: {"type":"ping"}\n\n'
