"""JSON Schema (as OpenAI tools carry it) → the OpenAPI-style ``Schema`` of Gemini function declarations.

Gemini's ``FunctionDeclaration.parameters`` is a protobuf message, not free JSON Schema: unknown keys
(``additionalProperties``, ``$ref``, ``const``, ``strict``...) are a 400, types are enum names
(``OBJECT``, ``STRING``...), ``null`` is ``nullable: true`` and an ``OBJECT`` with an empty
``properties`` map is refused. :func:`gemini_schema` keeps the meaning and drops the rest:

- ``$ref`` to ``#/$defs/...`` or ``#/definitions/...`` is inlined (a recursive reference becomes a
  plain ``OBJECT``); ``allOf`` members are merged; ``oneOf`` becomes ``anyOf``;
- ``type: [x, "null"]`` and ``anyOf: [x, {"type": "null"}]`` become ``x`` with ``nullable``;
  ``const`` becomes a one-value ``enum``; enum values are strings (Gemini's enums are);
- constraints Gemini does not take (``pattern``, ``minLength``, ``format``...) are kept as a hint
  at the end of the ``description`` so the model still sees them.

Response schemas (``response_format.json_schema``) are *not* cleaned: they go to
``responseJsonSchema``, which takes JSON Schema as is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gemini_schema"]

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
_KEPT_NUMERIC = ("minItems", "maxItems", "minimum", "maximum")
_HINTED = (
    "pattern",
    "minLength",
    "maxLength",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "default",
    "examples",
)
_STRING_FORMATS = frozenset({"enum", "date-time"})
_MAX_DEPTH = 32


def gemini_schema(schema: Any) -> dict[str, Any]:
    """The Gemini ``Schema`` for a JSON Schema. Never raises: odd input gives a permissive schema."""
    if not isinstance(schema, dict):
        return {"type": "OBJECT"}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    return _convert(schema, defs, (), 0)


def _resolve(
    node: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]
) -> tuple[Any, tuple[str, ...]]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, seen
    if ref in seen or ref not in defs:
        return None, seen  # recursive or unknown: the caller falls back to a plain object
    target = defs[ref]
    if not isinstance(target, dict):
        return None, seen
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return merged, (*seen, ref)


def _merge_all_of(node: dict[str, Any]) -> dict[str, Any]:
    members = node.get("allOf")
    if not isinstance(members, list):
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or [])
    for member in members:
        if not isinstance(member, dict):
            continue
        for key, value in member.items():
            if key == "properties" and isinstance(value, dict):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required += [r for r in value if r not in required]
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _convert(node: Any, defs: dict[str, Any], seen: tuple[str, ...], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {"type": "OBJECT"} if depth > _MAX_DEPTH else {"type": "STRING"}
    resolved, seen = _resolve(node, defs, seen)
    if resolved is None:
        out: dict[str, Any] = {"type": "OBJECT"}
        if isinstance(node.get("description"), str):
            out["description"] = node["description"]
        return out
    node = _merge_all_of(resolved)
    out = {}
    nullable = node.get("nullable") is True

    raw_type = node.get("type")
    types = [raw_type] if isinstance(raw_type, str) else list(raw_type) if isinstance(raw_type, list) else []
    if "null" in types:
        nullable = True
        types = [t for t in types if t != "null"]

    variants = node.get("anyOf") if isinstance(node.get("anyOf"), list) else node.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(kept) < len(variants):
            nullable = True
        if len(kept) == 1 and not types:
            single = _convert(kept[0], defs, seen, depth + 1)
            if isinstance(node.get("description"), str) and "description" not in single:
                single["description"] = node["description"]
            if nullable:
                single["nullable"] = True
            return single
        if kept:
            out["anyOf"] = [_convert(v, defs, seen, depth + 1) for v in kept]

    if "const" in node and "enum" not in node:
        node = {**node, "enum": [node["const"]]}
    if len(types) > 1:
        out["anyOf"] = [_convert({**node, "type": t}, defs, seen, depth + 1) for t in types]
        types = []
    gemini_type = _TYPES.get(types[0]) if types else None
    if gemini_type is None and "anyOf" not in out:
        if isinstance(node.get("properties"), dict):
            gemini_type = "OBJECT"
        elif "items" in node:
            gemini_type = "ARRAY"
        elif isinstance(node.get("enum"), list):
            gemini_type = "STRING"
        else:
            gemini_type = "STRING" if not types else "OBJECT"
    if gemini_type is not None:
        out["type"] = gemini_type

    hints: list[str] = []
    if isinstance(node.get("title"), str) and not node.get("description"):
        hints.append(node["title"])
    if isinstance(node.get("enum"), list):
        values = [v for v in node["enum"] if v is not None]
        if len(values) < len(node["enum"]):
            nullable = True
        if gemini_type in ("STRING", None):
            out["enum"] = [str(v) for v in values]
            out["type"] = "STRING"
        else:
            hints.append("one of " + ", ".join(str(v) for v in values))
    fmt = node.get("format")
    if isinstance(fmt, str):
        if gemini_type == "STRING" and fmt in _STRING_FORMATS:
            out["format"] = fmt
        else:
            hints.append(f"format: {fmt}")
    for key in _KEPT_NUMERIC:
        value = node.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    for key in _HINTED:
        if key in node and node[key] is not None:
            hints.append(f"{key}: {node[key]}")

    if gemini_type == "OBJECT" and isinstance(node.get("properties"), dict):
        properties = {
            str(name): _convert(value, defs, seen, depth + 1) for name, value in node["properties"].items()
        }
        if properties:
            out["properties"] = properties
            required = node.get("required")
            if isinstance(required, list):
                kept_required = [r for r in required if isinstance(r, str) and r in properties]
                if kept_required:
                    out["required"] = kept_required
    if gemini_type == "ARRAY":
        items = node.get("items")
        if isinstance(items, list):  # tuple-style items: the first describes them well enough
            items = items[0] if items else None
        out["items"] = (
            _convert(items, defs, seen, depth + 1) if isinstance(items, dict) else {"type": "STRING"}
        )

    description = node.get("description")
    text = description if isinstance(description, str) else ""
    if hints:
        text = (text + " " if text else "") + "(" + "; ".join(hints) + ")"
    if text:
        out["description"] = text
    if nullable:
        out["nullable"] = True
    return out
