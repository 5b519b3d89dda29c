"""``GET /v1/models`` and ``GET /v1/models/{id}``: one path, three clients, decided by headers.

google-genai 3.x sends ``x-goog-api-key``/``x-goog-api-client`` (Gemini shape, paginated); the
anthropic SDK and Claude Code send ``anthropic-version`` (Anthropic shape); anything else gets
OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from antigravity_gateway.core.models_map import strip_model_prefix
from antigravity_gateway.core.pipeline import Pipeline
from antigravity_gateway.errors import InvalidRequest, NotFound
from antigravity_gateway.keys.enforce import check_listed_model, visible_models
from antigravity_gateway.protocols.openai import OpenAIError
from antigravity_gateway.web import gemini_routes
from antigravity_gateway.web.dialect import dialect_for

#: A fixed creation time for the listed models (the upstream gives none).
CREATED = 1735689600
CREATED_ISO = "2025-01-01T00:00:00Z"


def openai_model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "google"}


def anthropic_model(model_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "model",
        "id": model_id,
        "display_name": str(spec.get("displayName") or model_id),
        "created_at": CREATED_ISO,
        "lifecycle": "active",
    }
    if isinstance(spec.get("maxTokens"), int):
        entry["max_input_tokens"] = spec["maxTokens"]
    if isinstance(spec.get("maxOutputTokens"), int):
        entry["max_tokens"] = spec["maxOutputTokens"]
    return entry


def anthropic_page(ids: list[str], query: Mapping[str, str]) -> tuple[list[str], bool]:
    """One page of ids for Anthropic's ``limit`` / ``after_id`` / ``before_id`` cursors (default 20)."""
    try:
        limit = min(max(int(query.get("limit") or 20), 1), 1000)
    except ValueError:
        raise InvalidRequest(f"limit: invalid integer {query.get('limit')!r}", param="limit") from None
    if (before := query.get("before_id")) and before in ids:  # the page just before it
        end = ids.index(before)
        start = max(0, end - limit)
        return ids[start:end], start > 0
    start = ids.index(after) + 1 if (after := query.get("after_id")) and after in ids else 0
    return ids[start : start + limit], start + limit < len(ids)


async def list_models(request: Request) -> Response:
    dialect = dialect_for(request.url.path, request.headers)
    if dialect == "gemini":
        return await gemini_routes.list_models(request)
    pipeline: Pipeline = request.app.state.pipeline
    await request.app.state.ensure_catalog()
    ids = visible_models(pipeline.model_ids(), pipeline.resolve)  # a user key sees its own models
    if dialect == "anthropic":
        page, has_more = anthropic_page(ids, request.query_params)
        body: dict[str, Any] = {
            "data": [anthropic_model(m, pipeline.model_spec(m) or {}) for m in page],
            "has_more": has_more,
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
    else:
        body = {"object": "list", "data": [openai_model(m) for m in ids]}
    return Response(orjson.dumps(body), media_type="application/json")


async def get_model(request: Request) -> Response:
    dialect = dialect_for(request.url.path, request.headers)
    if dialect == "gemini":
        return await gemini_routes.get_model(request)
    pipeline: Pipeline = request.app.state.pipeline
    await request.app.state.ensure_catalog()
    model_id = strip_model_prefix(request.path_params["rest"])
    spec = pipeline.model_spec(model_id)
    if spec is not None:
        check_listed_model(model_id, pipeline.resolve)
    if spec is None:
        if dialect == "openai":
            raise OpenAIError(
                f"The model '{model_id}' does not exist", code="model_not_found", param="model", status=404
            )
        raise NotFound(f"The model '{model_id}' does not exist", param="model")
    body = anthropic_model(model_id, spec) if dialect == "anthropic" else openai_model(model_id)
    return Response(orjson.dumps(body), media_type="application/json")


def routes() -> list[Route]:
    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{rest:path}", get_model, methods=["GET"]),
    ]
