"""Images API → Gemini image models, and JSON Schema → Gemini Schema (``openai_images``, ``openai_schema``)."""

from __future__ import annotations

from typing import Any

import pytest

from antigravity_gateway.errors import InvalidRequest, UpstreamError
from antigravity_gateway.protocols.openai_images import DEFAULT_IMAGE_MODEL, images_response, parse_images
from antigravity_gateway.protocols.openai_input import OpenAIError, aspect_ratio
from antigravity_gateway.protocols.openai_schema import gemini_schema


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        (None, None),
        ("auto", None),
        ("1024x1024", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1536x1024", "3:2"),
        ("1024x1536", "2:3"),
        ("256x256", "1:1"),
        ("2560x1080", "21:9"),
        ("1280x1024", "5:4"),
        ("800x600", "4:3"),
        ("4:5", "4:5"),
    ],
    ids=lambda v: str(v),
)
def test_size_to_nearest_aspect_ratio(size: str | None, ratio: str | None) -> None:
    assert aspect_ratio(size) == ratio


@pytest.mark.parametrize(
    "size", ["big", "0x100", "7:3", "1024", 1024, "1" * 5000 + "x1", "1" * 400 + "x1"], ids=str
)
def test_bad_size(size: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        aspect_ratio(size)
    assert caught.value.param == "size"


IMAGE_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any] | None]] = [
    ("defaults", {"prompt": "a cat"}, DEFAULT_IMAGE_MODEL, None),
    (
        "dall-e",
        {"prompt": "a cat", "model": "dall-e-3", "size": "1792x1024"},
        DEFAULT_IMAGE_MODEL,
        {"aspectRatio": "16:9"},
    ),
    (
        "gpt-image-high",
        {"prompt": "a cat", "model": "gpt-image-1", "quality": "high"},
        DEFAULT_IMAGE_MODEL,
        {"imageSize": "4K"},
    ),
    ("standard", {"prompt": "a cat", "quality": "standard"}, DEFAULT_IMAGE_MODEL, {"imageSize": "1K"}),
    ("low", {"prompt": "a cat", "quality": "low"}, DEFAULT_IMAGE_MODEL, {"imageSize": "1K"}),
    ("medium", {"prompt": "a cat", "quality": "medium"}, DEFAULT_IMAGE_MODEL, {"imageSize": "2K"}),
    # As Antigravity Tools maps it: a user moving from that app gets the same images.
    ("hd", {"prompt": "a cat", "quality": "hd"}, DEFAULT_IMAGE_MODEL, {"imageSize": "4K"}),
    ("4k", {"prompt": "a cat", "quality": "4k"}, DEFAULT_IMAGE_MODEL, {"imageSize": "4K"}),
    ("4K", {"prompt": "a cat", "quality": "4K"}, DEFAULT_IMAGE_MODEL, {"imageSize": "4K"}),
    ("2k", {"prompt": "a cat", "quality": "2k"}, DEFAULT_IMAGE_MODEL, {"imageSize": "2K"}),
    ("1k", {"prompt": "a cat", "quality": "1k"}, DEFAULT_IMAGE_MODEL, {"imageSize": "1K"}),
    ("auto", {"prompt": "a cat", "quality": "auto", "size": "auto"}, DEFAULT_IMAGE_MODEL, None),
    (
        "image-size-wins",
        {"prompt": "a cat", "quality": "low", "image_size": "4k"},
        DEFAULT_IMAGE_MODEL,
        {"imageSize": "4K"},
    ),
    (
        "own-model-and-ignored-fields",
        {
            "prompt": "a cat",
            "model": "gemini-3-pro-image",
            "style": "vivid",
            "background": "auto",
            "output_format": "png",
        },
        "gemini-3-pro-image",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "model", "config"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_image_request(body: dict[str, Any], model: str, config: dict[str, Any] | None) -> None:
    req = parse_images(body)
    assert req.model == model
    assert req.request["contents"] == [{"role": "user", "parts": [{"text": "a cat"}]}]
    assert req.request.get("generationConfig") == ({"imageConfig": config} if config else None)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": "  "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "n": 9}, "n"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": "x", "quality": "ultra"}, "quality"),
        ({"prompt": "x", "image_size": "8K"}, "image_size"),
        ({"prompt": "x", "stream": True}, "stream"),
    ],
    ids=[
        "no-prompt",
        "blank-prompt",
        "prompt-number",
        "n-zero",
        "n-many",
        "bad-format",
        "bad-quality",
        "bad-image-size",
        "stream",
    ],
)
def test_bad_image_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_images(body)
    assert caught.value.param == param


def image_answer(*parts: dict[str, Any], finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": list(parts)}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1290},
    }


def test_images_response_b64_and_url() -> None:
    answer = image_answer({"text": "Here"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}})
    body = images_response([answer, answer], parse_images({"prompt": "x", "size": "1024x1024"}), created=9)
    assert body["data"] == [{"b64_json": "iVBO"}, {"b64_json": "iVBO"}]
    assert body["created"] == 9 and body["output_format"] == "png" and body["size"] == "1024x1024"
    assert body["usage"]["total_tokens"] == 2 * 1293
    url = images_response([answer], parse_images({"prompt": "x", "response_format": "url"}), created=9)
    assert url["data"] == [{"url": "data:image/png;base64,iVBO"}]


def test_no_image_is_an_error() -> None:
    req = parse_images({"prompt": "x"})
    with pytest.raises(OpenAIError) as blocked:
        images_response([image_answer(finish="IMAGE_SAFETY")], req, created=1)
    assert blocked.value.openai_code == "content_policy_violation"
    with pytest.raises(UpstreamError) as text_only:
        images_response([image_answer({"text": "I cannot draw that"})], req, created=1)
    assert "I cannot draw that" in text_only.value.message and text_only.value.status == 502


SCHEMA_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("not-a-dict", None, {"type": "OBJECT"}),
    (
        "plain-object",
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a", "zzz"],
            "additionalProperties": False,
            "$schema": "x",
        },
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}},
            "required": ["a"],
        },
    ),
    (
        "nullable-type-list",
        {"type": ["string", "null"], "description": "maybe"},
        {"type": "STRING", "nullable": True, "description": "maybe"},
    ),
    (
        "any-of-with-null",
        {"anyOf": [{"type": "number"}, {"type": "null"}]},
        {"type": "NUMBER", "nullable": True},
    ),
    (
        "one-of-becomes-any-of",
        {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
        {"anyOf": [{"type": "STRING"}, {"type": "BOOLEAN"}]},
    ),
    (
        "ref-inlined-and-recursion-stopped",
        {
            "type": "object",
            "properties": {"node": {"$ref": "#/$defs/Node"}},
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {"next": {"$ref": "#/$defs/Node"}, "v": {"type": "integer"}},
                }
            },
        },
        {
            "type": "OBJECT",
            "properties": {
                "node": {
                    "type": "OBJECT",
                    "properties": {"next": {"type": "OBJECT"}, "v": {"type": "INTEGER"}},
                }
            },
        },
    ),
    (
        "all-of-merged",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "number"}}},
            ]
        },
        {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING"}, "b": {"type": "NUMBER"}},
            "required": ["a"],
        },
    ),
    (
        "const-and-enum",
        {
            "type": "object",
            "properties": {
                "k": {"const": "fixed"},
                "n": {"type": "integer", "enum": [1, 2]},
                "e": {"enum": ["a", None]},
            },
        },
        {
            "type": "OBJECT",
            "properties": {
                "k": {"type": "STRING", "enum": ["fixed"]},
                "n": {"type": "INTEGER", "description": "(one of 1, 2)"},
                "e": {"type": "STRING", "enum": ["a"], "nullable": True},
            },
        },
    ),
    (
        "constraints-kept-or-hinted",
        {"type": "string", "pattern": "^a", "minLength": 2, "format": "email", "description": "Mail"},
        {"type": "STRING", "description": "Mail (format: email; pattern: ^a; minLength: 2)"},
    ),
    (
        "array-items-and-bounds",
        {"type": "array", "items": {"type": "string", "format": "date-time"}, "minItems": 1, "maxItems": 3},
        {"type": "ARRAY", "items": {"type": "STRING", "format": "date-time"}, "minItems": 1, "maxItems": 3},
    ),
    ("array-without-items", {"type": "array"}, {"type": "ARRAY", "items": {"type": "STRING"}}),
    ("empty-object-has-no-properties", {"type": "object", "properties": {}}, {"type": "OBJECT"}),
    (
        "typeless-properties",
        {"properties": {"x": {"type": "boolean"}}},
        {"type": "OBJECT", "properties": {"x": {"type": "BOOLEAN"}}},
    ),
]


@pytest.mark.parametrize(
    ("schema", "expected"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES]
)
def test_gemini_schema(schema: Any, expected: dict[str, Any]) -> None:
    assert gemini_schema(schema) == expected
