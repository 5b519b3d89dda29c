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


def test_decoding_is_linear_in_the_bytes_received() -> None:
    """One 16 MiB event fed in 16 KiB chunks: the old decoder rescanned its whole buffer on every chunk
    (49 s of CPU for this input); a linear one needs a small fraction of a second."""
    import time

    big = b"x" * (16 * 1024 * 1024)
    raw = b"data: " + big + b"\r\n\r\n"
    decoder = SSEDecoder(limit=32 * 1024 * 1024)
    started = time.process_time()
    events = []
    for i in range(0, len(raw), 16 * 1024):
        events += decoder.feed(raw[i : i + 16 * 1024])
    assert events == [big]
    assert time.process_time() - started < 10  # generous: a regression to quadratic takes far longer


@pytest.mark.parametrize(
    "raw",
    [
        b"data: " + b"x" * 2000,  # one unfinished line
        b"data: " + b"x" * 700 + b"\ndata: " + b"y" * 700 + b"\n",  # several lines of one event
    ],
)
def test_an_event_over_the_limit_is_an_error(raw: bytes) -> None:
    from antigravity_gateway.protocols.sse import EventTooLarge

    decoder = SSEDecoder(limit=1024)
    with pytest.raises(EventTooLarge, match="max_stream_event_bytes"):
        for i in range(0, len(raw), 100):
            decoder.feed(raw[i : i + 100])


def test_events_under_the_limit_pass_however_many() -> None:
    decoder = SSEDecoder(limit=1024)
    one = b"data: " + b"z" * 1000 + b"\n\n"
    assert decoder.feed(one * 50) == [b"z" * 1000] * 50


# Chunks of whole events framed as Google frames them take a shortcut; anything else, or a chunk after a
# partial one, takes the general path. Each case: fed whole, and a byte at a time (never the shortcut).
WHOLE_CHUNKS = [
    (b'data: {"a":1}\r\n\r\n', [b'{"a":1}']),
    (b"data: x\r\n\r\ndata: y\r\n\r\n", [b"x", b"y"]),
    (b"data: \r\n\r\n", [b""]),
    (b"data:x\r\n\r\n", [b"x"]),  # no space after the colon
    (b"\r\n\r\n", []),
    (b"data: a\r\ndata: b\r\n\r\n", [b"a\nb"]),  # two data lines
    (b"event: e\r\ndata: z\r\n\r\n", [b"z"]),
    (b"data: q\n\n\r\n\r\n", [b"q"]),
    (b": comment\r\n\r\n", []),
    (b"data: a\rb\r\n\r\n", [b"a"]),  # a lone \r ends the line: "b" is a field without a colon
]


@pytest.mark.parametrize(("raw", "expected"), WHOLE_CHUNKS)
def test_whole_event_chunks_decode_like_the_general_path(raw: bytes, expected: list[bytes]) -> None:
    whole = SSEDecoder()
    assert whole.feed(raw) + whole.flush() == expected
    byte_at_a_time = SSEDecoder()
    events = [e for i in range(len(raw)) for e in byte_at_a_time.feed(raw[i : i + 1])]
    assert events + byte_at_a_time.flush() == expected


def test_a_whole_event_chunk_after_a_partial_one_completes_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: par") == []
    assert decoder.feed(b"t\r\n\r\ndata: next\r\n\r\n") == [b"part", b"next"]


def test_a_whole_event_over_the_limit_is_an_error() -> None:
    from antigravity_gateway.protocols.sse import EventTooLarge

    decoder = SSEDecoder(limit=1024)
    assert decoder.feed(b"data: " + b"x" * 1023 + b"\r\n\r\n") == [b"x" * 1023]
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: " + b"x" * 1024 + b"\r\n\r\n")
