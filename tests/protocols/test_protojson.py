"""Tests for antigravity_gateway.protocols.protojson (protobuf-JSON request normalization)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from antigravity_gateway.protocols.protojson import normalize_count_tokens, normalize_request, snake_to_camel

# ---------------------------------------------------------------------------------------------
# google-genai merged body (clients.md §1.3)
# ---------------------------------------------------------------------------------------------

GENAI_BODY: dict[str, Any] = {
    "contents": [
        {
            "parts": [{"text": "hi"}, {"inlineData": {"data": "iVBORw==", "mime_type": "image/png"}}],
            "role": "user",
        },
        {
            "parts": [{"functionCall": {"args": {"a_b": 1}, "name": "f"}, "thoughtSignature": "c2ln"}],
            "role": "model",
        },
        {"parts": [{"functionResponse": {"name": "f", "response": {"out_put": 1}}}], "role": "user"},
    ],
    "systemInstruction": {"parts": [{"text": "Be brief"}], "role": "user"},
    "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    "tools": [
        {"codeExecution": {}},
        {"urlContext": {}},
        {"googleSearch": {}},
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "parameters_json_schema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "string"}},
                    },
                }
            ]
        },
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get weather",
                    "parameters": {
                        "properties": {"location": {"type": "STRING"}},
                        "required": ["location"],
                        "type": "OBJECT",
                    },
                }
            ]
        },
    ],
    "toolConfig": {
        "retrievalConfig": {"language_code": "en"},
        "functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]},
    },
    "cachedContent": "cachedContents/abc",
    "generationConfig": {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "candidateCount": 1,
        "stopSequences": ["x"],
        "seed": 1,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.1,
        "responseLogprobs": True,
        "logprobs": 2,
        "responseMimeType": "application/json",
        "responseSchema": {"properties": {"a": {"type": "STRING"}}, "type": "OBJECT"},
        "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "responseModalities": ["TEXT", "IMAGE"],
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "speechConfig": {
            "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}},
            "language_code": "en-US",
        },
        "thinkingConfig": {"include_thoughts": True, "thinking_budget": 128},
        "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"},
    },
}

GENAI_EXPECTED: dict[str, Any] = {
    "contents": [
        {
            "parts": [{"text": "hi"}, {"inlineData": {"data": "iVBORw==", "mimeType": "image/png"}}],
            "role": "user",
        },
        {
            "parts": [{"functionCall": {"args": {"a_b": 1}, "name": "f"}, "thoughtSignature": "c2ln"}],
            "role": "model",
        },
        {"parts": [{"functionResponse": {"name": "f", "response": {"out_put": 1}}}], "role": "user"},
    ],
    "systemInstruction": {"parts": [{"text": "Be brief"}], "role": "user"},
    "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    "tools": [
        {"codeExecution": {}},
        {"urlContext": {}},
        {"googleSearch": {}},
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "string"}},
                    },
                }
            ]
        },
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get weather",
                    "parameters": {
                        "properties": {"location": {"type": "STRING"}},
                        "required": ["location"],
                        "type": "OBJECT",
                    },
                }
            ]
        },
    ],
    "toolConfig": {
        "retrievalConfig": {"languageCode": "en"},
        "functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]},
    },
    "cachedContent": "cachedContents/abc",
    "generationConfig": {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "candidateCount": 1,
        "stopSequences": ["x"],
        "seed": 1,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.1,
        "responseLogprobs": True,
        "logprobs": 2,
        "responseMimeType": "application/json",
        "responseSchema": {"properties": {"a": {"type": "STRING"}}, "type": "OBJECT"},
        "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "responseModalities": ["TEXT", "IMAGE"],
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "speechConfig": {
            "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}},
            "languageCode": "en-US",
        },
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 128},
        "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"},
    },
}

# google-generativeai (clients.md §2.1): integer enums, lowerCamel names.
GENERATIVEAI_BODY: dict[str, Any] = {
    "contents": [{"parts": [{"text": "Hello"}], "role": "user"}],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "lookup",
                    "parameters": {
                        "type": 6,
                        "properties": {
                            "user_id": {"type": 1, "description": "id"},
                            "tags": {"type": 5, "items": {"type": 1}},
                            "limit": {"type": 3, "nullable": True},
                        },
                        "required": ["user_id"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": 1}},
    "safetySettings": [{"category": 7, "threshold": 4}, {"category": 10, "threshold": 2, "method": 2}],
    "generationConfig": {},
}

GENERATIVEAI_EXPECTED: dict[str, Any] = {
    "contents": [{"parts": [{"text": "Hello"}], "role": "user"}],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "lookup",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "user_id": {"type": "STRING", "description": "id"},
                            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                            "limit": {"type": "INTEGER", "nullable": True},
                        },
                        "required": ["user_id"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "safetySettings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
        {
            "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
            "threshold": "BLOCK_MEDIUM_AND_ABOVE",
            "method": "PROBABILITY",
        },
    ],
    "generationConfig": {},
}

HELLO = [{"parts": [{"text": "Hello"}], "role": "user"}]

REQUEST_CASES: list[Any] = [
    pytest.param(GENAI_BODY, GENAI_EXPECTED, id="google-genai-merged-body"),
    pytest.param(GENERATIVEAI_BODY, GENERATIVEAI_EXPECTED, id="google-generativeai-int-enums"),
    pytest.param(
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinking_level": "LOW"}}},
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
        id="thinking-level-snake",
    ),
    pytest.param(
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinkingLevel": 3}}},
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
        id="thinking-level-int",
    ),
    pytest.param(
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinkingLevel": "minimal"}}},
        {"contents": HELLO, "generationConfig": {"thinkingConfig": {"thinkingLevel": "minimal"}}},
        id="thinking-level-string-kept",
    ),
    pytest.param(
        {"contents": HELLO, "generation_config": {"response_modalities": [1, 2, 3], "media_resolution": 2}},
        {
            "contents": HELLO,
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE", "AUDIO"],
                "mediaResolution": "MEDIA_RESOLUTION_MEDIUM",
            },
        },
        id="modalities-media-resolution-int",
    ),
    pytest.param(
        {"contents": HELLO, "safetySettings": [{"category": 99, "threshold": -1, "method": True}]},
        {"contents": HELLO, "safetySettings": [{"category": 99, "threshold": -1, "method": True}]},
        id="unknown-int-enums-kept",
    ),
    pytest.param(
        {
            "contents": HELLO,
            "tool_config": {"function_calling_config": {"mode": 4, "allowed_function_names": ["a_b"]}},
        },
        {
            "contents": HELLO,
            "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED", "allowedFunctionNames": ["a_b"]}},
        },
        id="tool-config-snake-and-int-mode",
    ),
    pytest.param(
        {
            "tools": [
                {
                    "google_search_retrieval": {
                        "dynamic_retrieval_config": {"mode": 1, "dynamic_threshold": 0.3}
                    }
                }
            ]
        },
        {
            "tools": [
                {
                    "googleSearchRetrieval": {
                        "dynamicRetrievalConfig": {"mode": "MODE_DYNAMIC", "dynamicThreshold": 0.3}
                    }
                }
            ]
        },
        id="dynamic-retrieval-mode-int",
    ),
    pytest.param(
        {
            "generationConfig": {
                "response_schema": {
                    "type": 5,
                    "items": {
                        "type": 6,
                        "properties": {
                            "snake_key": {"any_of": [{"type": 1}, {"type": 7}], "max_length": 5},
                            "user_id": {
                                "type": 2,
                                "minimum": 0,
                                "default": {"x_y": 1},
                                "example": [{"a_b": 2}],
                            },
                        },
                        "property_ordering": ["user_id", "snake_key"],
                        "required": ["user_id"],
                        "min_properties": 1,
                    },
                    "max_items": 3,
                    "min_items": 1,
                },
                "response_json_schema": {"type": "object", "properties": {"x_y": {"type": "string"}}},
            }
        },
        {
            "generationConfig": {
                "responseSchema": {
                    "type": "ARRAY",
                    "items": {
                        "type": "OBJECT",
                        "properties": {
                            "snake_key": {"anyOf": [{"type": "STRING"}, {"type": "NULL"}], "maxLength": 5},
                            "user_id": {
                                "type": "NUMBER",
                                "minimum": 0,
                                "default": {"x_y": 1},
                                "example": [{"a_b": 2}],
                            },
                        },
                        "propertyOrdering": ["user_id", "snake_key"],
                        "required": ["user_id"],
                        "minProperties": 1,
                    },
                    "maxItems": 3,
                    "minItems": 1,
                },
                "responseJsonSchema": {"type": "object", "properties": {"x_y": {"type": "string"}}},
            }
        },
        id="response-schema-nested-items-anyof",
    ),
    pytest.param(
        {
            "tools": [
                {
                    "function_declarations": [
                        {
                            "name": "f_g",
                            "parameters": {
                                "type": "object",
                                "properties": {"a_b": {"type": "string", "enum": ["x_y"]}},
                            },
                            "response": {"type": 6, "properties": {"out_put": {"type": 4}}},
                            "response_json_schema": {"$defs": {"a_b": {}}, "additional_properties": False},
                        }
                    ]
                }
            ]
        },
        {
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f_g",
                            "parameters": {
                                "type": "object",
                                "properties": {"a_b": {"type": "string", "enum": ["x_y"]}},
                            },
                            "response": {"type": "OBJECT", "properties": {"out_put": {"type": "BOOLEAN"}}},
                            "responseJsonSchema": {"$defs": {"a_b": {}}, "additional_properties": False},
                        }
                    ]
                }
            ]
        },
        id="function-declaration-snake-response-schemas",
    ),
    pytest.param(
        {"contents": HELLO, "labels": {"team_name": "core_ai", "cost_center": "x"}},
        {"contents": HELLO, "labels": {"team_name": "core_ai", "cost_center": "x"}},
        id="labels-verbatim",
    ),
    pytest.param(
        {"contents": HELLO, "some_new_field": {"inner_key": [{"deep_er": 1}]}, "top_k": 3},
        {"contents": HELLO, "someNewField": {"innerKey": [{"deepEr": 1}]}, "topK": 3},
        id="unknown-snake-fields-renamed",
    ),
    pytest.param(
        {"contents": HELLO, "system_instruction": "Be brief"},
        {"contents": HELLO, "systemInstruction": {"parts": [{"text": "Be brief"}]}},
        id="bare-string-system-instruction",
    ),
    pytest.param(
        {"systemInstruction": {"parts": [{"text": "x"}]}},
        {"systemInstruction": {"parts": [{"text": "x"}]}},
        id="system-instruction-without-role",
    ),
    pytest.param(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {
                            "file_data": {"file_uri": "gs://b/o", "mime_type": "video/mp4"},
                            "video_metadata": {"start_offset": "1s"},
                        },
                        {"executable_code": {"language": "PYTHON", "code": "x_y = 1"}},
                        {"code_execution_result": {"outcome": "OUTCOME_OK", "output": "ok"}},
                        {"text": "t", "thought": True, "thought_signature": "c2ln"},
                        {"function_call": {"name": "f", "args": {"a_b": {"c_d": 1}}}},
                        {
                            "function_response": {
                                "name": "f",
                                "response": {"out_put": [1]},
                                "will_continue": False,
                            }
                        },
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {
                            "fileData": {"fileUri": "gs://b/o", "mimeType": "video/mp4"},
                            "videoMetadata": {"startOffset": "1s"},
                        },
                        {"executableCode": {"language": "PYTHON", "code": "x_y = 1"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "ok"}},
                        {"text": "t", "thought": True, "thoughtSignature": "c2ln"},
                        {"functionCall": {"name": "f", "args": {"a_b": {"c_d": 1}}}},
                        {
                            "functionResponse": {
                                "name": "f",
                                "response": {"out_put": [1]},
                                "willContinue": False,
                            }
                        },
                    ],
                }
            ]
        },
        id="snake-part-kinds",
    ),
    pytest.param(
        {"contents": [{"parts": [{"inline_data": {"mime_type": "a/b", "mimeType": "c/d", "data": "AA=="}}]}]},
        {"contents": [{"parts": [{"inlineData": {"mimeType": "c/d", "data": "AA=="}}]}]},
        id="both-spellings-camel-wins",
    ),
    pytest.param({}, {}, id="empty-body"),
]


@pytest.mark.parametrize(("body", "expected"), REQUEST_CASES)
def test_normalize_request(body: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(body)
    assert normalize_request(body) == expected
    assert body == before  # input not mutated


def test_output_shares_no_containers_with_input() -> None:
    body = copy.deepcopy(GENAI_BODY)
    out = normalize_request(body)
    out["contents"][1]["parts"][0]["functionCall"]["args"]["a_b"] = 2
    out["tools"][3]["functionDeclarations"][0]["parametersJsonSchema"]["properties"].clear()
    out["generationConfig"]["stopSequences"].append("y")
    assert body == GENAI_BODY


# ---------------------------------------------------------------------------------------------
# countTokens
# ---------------------------------------------------------------------------------------------

COUNT_TOKENS_CASES: list[Any] = [
    pytest.param({"contents": HELLO}, {"contents": HELLO}, id="google-genai-contents"),
    pytest.param(
        {
            "contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "AA=="}}]}],
            "system_instruction": "sys",
            "tools": [{"function_declarations": [{"name": "f", "parameters": {"type": 6}}]}],
            "generation_config": {"thinking_config": {"include_thoughts": True}},
        },
        {
            "contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
        },
        id="google-genai-contents-with-config",
    ),
    pytest.param(
        {
            "generateContentRequest": {
                "model": "models/gemini-2.5-flash",
                "contents": [{"parts": [{"text": "Hello"}]}],
                "generationConfig": {},
            }
        },
        {"contents": [{"parts": [{"text": "Hello"}]}], "generationConfig": {}},
        id="google-generativeai-generate-content-request",
    ),
    pytest.param(
        {
            "generate_content_request": {
                "model": "models/m",
                "contents": [{"parts": [{"text": "Hi"}], "role": "user"}],
                "system_instruction": {"parts": [{"text": "s"}]},
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": 6, "properties": {"a_b": {"type": 1}}}}
                        ]
                    }
                ],
                "generation_config": {"max_output_tokens": 5},
            }
        },
        {
            "contents": [{"parts": [{"text": "Hi"}], "role": "user"}],
            "systemInstruction": {"parts": [{"text": "s"}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {"type": "OBJECT", "properties": {"a_b": {"type": "STRING"}}},
                        }
                    ]
                }
            ],
            "generationConfig": {"maxOutputTokens": 5},
        },
        id="snake-generate-content-request",
    ),
    pytest.param({"model": "models/m", "contents": HELLO}, {"contents": HELLO}, id="top-level-model-dropped"),
]


@pytest.mark.parametrize(("body", "expected"), COUNT_TOKENS_CASES)
def test_normalize_count_tokens(body: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(body)
    assert normalize_count_tokens(body) == expected
    assert body == before


def test_normalize_request_keeps_model() -> None:
    assert normalize_request({"model": "models/m", "contents": HELLO}) == {
        "model": "models/m",
        "contents": HELLO,
    }


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

ERROR_CASES: list[Any] = [
    pytest.param(
        normalize_request, ["not", "a", "dict"], "request body must be a JSON object", id="body-list"
    ),
    pytest.param(normalize_request, "text", "request body must be a JSON object", id="body-string"),
    pytest.param(
        normalize_request, {"contents": {"parts": []}}, "contents must be a list", id="contents-object"
    ),
    pytest.param(normalize_request, {"contents": "Hello"}, "contents must be a list", id="contents-string"),
    pytest.param(
        normalize_request,
        {"contents": [HELLO[0], "Hello"]},
        r"contents\[1\] must be an object",
        id="content-string",
    ),
    pytest.param(
        normalize_request,
        {"contents": [{"parts": {"text": "x"}}]},
        r"contents\[0\]\.parts must be a list",
        id="parts-object",
    ),
    pytest.param(
        normalize_request,
        {"contents": [{"parts": ["x"]}]},
        r"contents\[0\]\.parts\[0\] must be an object",
        id="part-string",
    ),
    pytest.param(
        normalize_request,
        {"system_instruction": {"parts": "x"}},
        r"systemInstruction\.parts must be a list",
        id="system-instruction-parts-string",
    ),
    pytest.param(
        normalize_request,
        {"systemInstruction": 5},
        "systemInstruction must be",
        id="system-instruction-number",
    ),
    pytest.param(
        normalize_count_tokens, [], "request body must be a JSON object", id="count-tokens-body-list"
    ),
    pytest.param(
        normalize_count_tokens,
        {"generateContentRequest": []},
        "generateContentRequest must be",
        id="count-tokens-gcr-list",
    ),
    pytest.param(
        normalize_count_tokens,
        {"generateContentRequest": {"contents": "x"}},
        "contents must be a list",
        id="count-tokens-inner-contents-string",
    ),
    pytest.param(
        normalize_count_tokens,
        {"contents": HELLO, "generateContentRequest": {"contents": HELLO}},
        "not both",
        id="count-tokens-both-forms",
    ),
]


@pytest.mark.parametrize(("func", "body", "match"), ERROR_CASES)
def test_structural_errors(func: Any, body: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        func(body)


# ---------------------------------------------------------------------------------------------
# snake_to_camel
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("mime_type", "mimeType", id="mime_type"),
        pytest.param("include_thoughts", "includeThoughts", id="include_thoughts"),
        pytest.param("thought_signature", "thoughtSignature", id="thought_signature"),
        pytest.param("parameters_json_schema", "parametersJsonSchema", id="parameters_json_schema"),
        pytest.param("mimeType", "mimeType", id="already-camel"),
        pytest.param("text", "text", id="no-underscore"),
        pytest.param("top_k_2", "topK2", id="digits"),
        pytest.param("a__b", "aB", id="double-underscore"),
        pytest.param("_private", "_private", id="leading-underscore-kept"),
        pytest.param("trailing_", "trailing", id="trailing-underscore"),
    ],
)
def test_snake_to_camel(name: str, expected: str) -> None:
    assert snake_to_camel(name) == expected
    assert snake_to_camel(name) == expected  # cached path
