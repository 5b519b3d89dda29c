"""OpenAI ``POST /v1/images/generations`` ⇄ Gemini image models (pure functions).

Each image is one upstream ``generateContent`` call with request type ``image_gen`` (the route runs
the ``n`` calls in parallel). Mapping:

- ``model``: absent, ``dall-e-*``, ``gpt-image-*`` or ``chatgpt-image-*`` → :data:`DEFAULT_IMAGE_MODEL`;
  any other name is used as given (it must resolve to an image model).
- ``size``: ``WxH`` → the nearest supported aspect ratio (``1024x1024`` → 1:1, ``1792x1024`` → 16:9,
  ``1536x1024`` → 3:2); ``W:H`` as is; ``auto`` → the model's default.
- ``quality`` → ``imageConfig.imageSize``, like Antigravity Tools: ``standard``/``low``/``1k`` → 1K,
  ``medium``/``2k`` → 2K, ``hd``/``high``/``4k`` (and ``xhigh``/``max``) → 4K, ``auto`` → the model's
  default; the non-standard ``image_size`` (``1K``/``2K``/``4K``) wins over ``quality``.
- ``response_format``: ``b64_json`` (default) or ``url``, which is a ``data:`` URI (nothing is stored).
- ``style``, ``background``, ``output_format``, ``moderation``: accepted and ignored (the images
  come back as the model makes them, PNG today).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from antigravity_gateway.errors import InvalidRequest, UpstreamError
from antigravity_gateway.protocols.gemini import candidate_parts, first_candidate
from antigravity_gateway.protocols.openai_input import OpenAIError, image_config, opt_bool, opt_int, opt_str
from antigravity_gateway.protocols.openai_output import FILTERED_REASONS

__all__ = ["DEFAULT_IMAGE_MODEL", "MAX_IMAGES", "ImageRequest", "images_response", "parse_images"]

DEFAULT_IMAGE_MODEL: Final = "gemini-3.1-flash-image"
MAX_IMAGES: Final = 8
_OPENAI_IMAGE_MODELS: Final = ("dall-e", "gpt-image", "chatgpt-image")


@dataclass(frozen=True, slots=True)
class ImageRequest:
    model: str  # what is sent to the pipeline
    prompt: str
    n: int
    response_format: str
    request: dict[str, Any]  # the Gemini request for one image
    size: str | None = None
    quality: str | None = None


def image_model(requested: str | None) -> str:
    if not requested or requested.startswith(_OPENAI_IMAGE_MODELS):
        return DEFAULT_IMAGE_MODEL
    return requested


def parse_images(body: Mapping[str, Any]) -> ImageRequest:
    prompt = opt_str(body, "prompt", "prompt")
    if not prompt or not prompt.strip():
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt")
    n = opt_int(body, "n", "n", minimum=1) or 1
    if n > MAX_IMAGES:
        raise InvalidRequest(f"Invalid 'n': at most {MAX_IMAGES} images per request.", param="n")
    response_format = opt_str(body, "response_format", "response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise InvalidRequest(
            f"Invalid value for 'response_format': {response_format!r}. Supported values are: 'b64_json', 'url'.",
            param="response_format",
        )
    if opt_bool(body, "stream", "stream"):
        raise OpenAIError(
            "Streaming image generation (partial images) is not supported by this gateway; leave 'stream' unset.",
            code="unsupported_parameter",
            param="stream",
        )
    config = image_config(body)
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if config:
        request["generationConfig"] = {"imageConfig": config}
    return ImageRequest(
        model=image_model(opt_str(body, "model", "model")),
        prompt=prompt,
        n=n,
        response_format=response_format,
        request=request,
        size=opt_str(body, "size", "size"),
        quality=opt_str(body, "quality", "quality"),
    )


def image_of(response: Mapping[str, Any]) -> tuple[str, str]:
    """``(mime type, base64 data)`` of the first inline image. Raises when the model gave none."""
    candidate = first_candidate(response)
    texts = []
    for part in candidate_parts(candidate):
        data = part.get("inlineData")
        if isinstance(data, dict) and isinstance(data.get("data"), str) and data["data"]:
            return str(data.get("mimeType") or "image/png"), data["data"]
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
    reason = candidate.get("finishReason")
    feedback = response.get("promptFeedback")
    blocked = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if blocked or (isinstance(reason, str) and reason in FILTERED_REASONS):
        raise OpenAIError(
            f"The image was not generated: the upstream safety filter stopped it ({blocked or reason}).",
            code="content_policy_violation",
            param="prompt",
        )
    said = " ".join(texts).strip()
    raise UpstreamError(
        "The image model answered without an image"
        + (f": {said[:300]}" if said else f" (finish reason {reason})."),
        status=502,
    )


def images_response(responses: list[Mapping[str, Any]], req: ImageRequest, *, created: int) -> dict[str, Any]:
    data = []
    input_tokens = output_tokens = 0
    mime = "image/png"
    for response in responses:
        mime, b64 = image_of(response)
        if req.response_format == "url":
            data.append({"url": f"data:{mime};base64,{b64}"})
        else:
            data.append({"b64_json": b64})
        meta = response.get("usageMetadata")
        if isinstance(meta, dict):
            input_tokens += int(meta.get("promptTokenCount") or 0)
            output_tokens += int(meta.get("candidatesTokenCount") or 0)
    body: dict[str, Any] = {
        "created": created,
        "data": data,
        "output_format": mime.split("/", 1)[-1],
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"text_tokens": input_tokens, "image_tokens": 0},
        },
    }
    if req.size and req.size != "auto":
        body["size"] = req.size
    if req.quality and req.quality != "auto":
        body["quality"] = req.quality
    return body
