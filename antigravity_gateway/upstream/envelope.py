"""The v1internal envelope around a Gemini request, and unwrapping of the answers.

Request::

    {"model": <upstream id>, "project": <project>, "requestId": <fresh per attempt>,
     "requestType": "agent" | "image_gen", "userAgent": "antigravity",
     "request": {<GenerateContentRequest>, "sessionId": <conversation id>}}

gemini-cli's own form (the ``gemini-cli`` OAuth client profile; google-gemini/gemini-cli
``packages/core/src/code_assist/converter.ts``) has no Antigravity fields::

    {"model": <upstream id>, "project": <project>, "user_prompt_id": "<session>########<turn>",
     "request": {<GenerateContentRequest>, "session_id": <conversation id>}}

(``requestType: "image_gen"`` is kept for image models, which only take requests of that type.)

Answer: ``{"response": {<GenerateContentResponse>}, "traceId": ...}``; the trace id becomes the
``responseId`` when the response has none.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from typing import Any

import orjson

# Fields of GenerateContentRequest that v1internal's inner request does not accept.
_DROP_FROM_REQUEST = ("model",)


def session_id_for(fingerprint: str) -> str:
    """A stable upstream ``sessionId`` for a conversation: ``-<int63>`` from SHA-256, like Antigravity's."""
    digest = hashlib.sha256(fingerprint.encode()).digest()
    return "-" + str(int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF)


def request_id(request_type: str) -> str:
    """Fresh per attempt (an id seen before may be answered from a cache upstream). Not a secret, so
    ``random`` is enough: ``uuid4`` costs a system call per request."""
    if request_type == "image_gen":
        return f"image_gen/{int(time.time() * 1000)}/{uuid.UUID(int=random.getrandbits(128), version=4)}/12"
    return f"agent/{int(time.time() * 1000)}/{random.getrandbits(32):08x}"


def wrap(
    request: dict[str, Any],
    *,
    model: str,
    project: str,
    session_id: str,
    request_type: str,
    style: str = "antigravity",
) -> bytes:
    """Serialise the envelope for generateContent / streamGenerateContent. ``request`` is not mutated.

    ``style``: ``"antigravity"`` or ``"gemini-cli"`` (the account's OAuth client profile's)."""
    inner = {k: v for k, v in request.items() if k not in _DROP_FROM_REQUEST}
    if style == "gemini-cli":
        return _wrap_gemini_cli(
            inner, model=model, project=project, session_id=session_id, request_type=request_type
        )
    if "sessionId" not in inner:
        inner["sessionId"] = session_id
    return orjson.dumps(
        {
            "model": model,
            "project": project,
            "requestId": request_id(request_type),
            "requestType": request_type,
            "userAgent": "antigravity",
            "request": inner,
        }
    )


def _wrap_gemini_cli(
    inner: dict[str, Any], *, model: str, project: str, session_id: str, request_type: str
) -> bytes:
    if "sessionId" not in inner and "session_id" not in inner:
        inner["session_id"] = session_id
    turn = sum(1 for c in inner.get("contents") or () if isinstance(c, dict) and c.get("role") == "user")
    body: dict[str, Any] = {
        "model": model,
        "project": project,
        "user_prompt_id": f"{session_id}########{turn}",
        "request": inner,
    }
    if request_type == "image_gen":
        body["requestType"] = request_type
    return orjson.dumps(body)


def wrap_count_tokens(request: dict[str, Any], *, model: str) -> bytes:
    """countTokens takes ``{"request": {"model", "contents"}}`` alone (a top-level model or project is
    rejected upstream). A system instruction is counted as a leading user turn."""
    contents = list(request.get("contents") or [])
    system = request.get("systemInstruction")
    if isinstance(system, dict) and system.get("parts"):
        contents.insert(0, {"role": "user", "parts": system["parts"]})
    return orjson.dumps({"request": {"model": f"models/{model}", "contents": contents}})


def unwrap(payload: Any) -> dict[str, Any]:
    """``{"response": X, "traceId": T}`` → X (with ``responseId`` = T when missing)."""
    if not isinstance(payload, dict):
        return {"candidates": []}
    response = payload.get("response")
    if not isinstance(response, dict):
        response = (
            {k: v for k, v in payload.items() if k != "traceId"}
            if "candidates" in payload
            else {"candidates": []}
        )
    trace = payload.get("traceId")
    if trace and "responseId" not in response:
        response["responseId"] = trace
    return response
