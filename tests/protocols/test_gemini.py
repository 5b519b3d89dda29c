from __future__ import annotations

import pytest

from antigravity_gateway.errors import InvalidRequest
from antigravity_gateway.protocols.gemini import (
    alt_of,
    alt_of_query,
    model_entry,
    model_list_page,
    parse_action,
)


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("gemini-2.5-flash:generateContent", ("gemini-2.5-flash", "generateContent")),
        (
            "models/gemini-2.5-flash:streamGenerateContent",
            ("models/gemini-2.5-flash", "streamGenerateContent"),
        ),
        ("gemini-2.5-flash/countTokens", ("gemini-2.5-flash", "countTokens")),
        ("gemini-2.5-flash", ("gemini-2.5-flash", "")),
        (":generateContent", (":generateContent", "")),
    ],
)
def test_parse_action(rest: str, expected: tuple[str, str]) -> None:
    assert parse_action(rest) == expected


@pytest.mark.parametrize(
    ("query", "alt"),
    [
        ({"alt": "sse"}, "sse"),
        ({"$alt": "json;enum-encoding=int"}, "json"),
        ({}, ""),
        ({"alt": "JSON"}, "json"),
    ],
)
def test_alt(query: dict[str, str], alt: str) -> None:
    assert alt_of(query) == alt


@pytest.mark.parametrize(
    ("query", "alt"),
    [
        (b"alt=sse", "sse"),
        (b"", ""),
        (b"key=abc", ""),
        (b"key=abc&alt=sse", "sse"),
        (b"%24alt=json%3Benum-encoding%3Dint", "json"),
        (b"alt=JSON&key=k", "json"),
        (b"alt=&%24alt=json", "json"),
        (b"alt=sse&alt=json", "json"),  # the last one counts, as with a parsed query
    ],
)
def test_alt_of_a_raw_query(query: bytes, alt: str) -> None:
    assert alt_of_query(query) == alt


def test_model_entry_has_real_limits() -> None:
    entry = model_entry(
        "gemini-2.5-flash",
        {"displayName": "Gemini 2.5 Flash", "maxTokens": 1048576, "maxOutputTokens": 65536},
    )
    assert entry["name"] == "models/gemini-2.5-flash"
    assert (entry["inputTokenLimit"], entry["outputTokenLimit"]) == (1048576, 65536)
    assert "generateContent" in entry["supportedGenerationMethods"]


def test_pagination_walks_every_entry_once() -> None:
    entries = [{"name": f"models/m{i}"} for i in range(7)]
    seen, token = [], None
    while True:
        page = model_list_page(entries, page_size="3", page_token=token)
        seen += page["models"]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == entries
    assert "nextPageToken" not in model_list_page(entries, page_size=None, page_token=None)


@pytest.mark.parametrize(("size", "token"), [("abc", None), (None, "!!!"), (None, "bm90LWFuLW9mZnNldA")])
def test_bad_page_parameters_are_400(size: str | None, token: str | None) -> None:
    with pytest.raises(InvalidRequest):
        model_list_page([], page_size=size, page_token=token)
