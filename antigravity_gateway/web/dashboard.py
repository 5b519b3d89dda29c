"""The dashboard: ``GET /ui`` (and ``/ui/``) serves ``static/index.html``; ``/ui/static/<file>`` its assets.

A static single page (vanilla JS modules and CSS, no build step) read from the installed package, so it
works offline. It talks to the admin API under ``/api/``. Files are served with an explicit content
type, ``Cache-Control: no-cache`` (revalidated with an ETag, so an upgrade is picked up at once) and a
Content-Security-Policy that allows nothing but this origin: the page never loads anything from the
network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

BASE_HEADERS: Final = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _not_found() -> Response:
    return Response(
        "not found\n", status_code=404, media_type="text/plain", headers={"Cache-Control": "no-cache"}
    )


def _static_path(name: str) -> Path | None:
    """The file ``name`` directly in the static folder, or ``None`` (no sub-folders, no dot files)."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        return None
    if Path(name).suffix.lower() not in CONTENT_TYPES:
        return None
    path = STATIC_DIR / name
    return path if path.is_file() else None


def _file_response(request: Request, path: Path) -> Response:
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = dict(BASE_HEADERS)
    headers["ETag"] = etag
    content_type = CONTENT_TYPES[path.suffix.lower()]
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type=content_type)


async def index(request: Request) -> Response:
    path = STATIC_DIR / "index.html"
    if not path.is_file():
        return _not_found()
    return _file_response(request, path)


async def static(request: Request) -> Response:
    path = _static_path(str(request.path_params["name"]))
    if path is None:
        return _not_found()
    return _file_response(request, path)


def routes() -> list[BaseRoute]:
    return [
        Route("/ui", index, methods=["GET"]),
        Mount(
            "/ui",
            routes=[
                Route("/", index, methods=["GET"]),
                Route("/static/{name:path}", static, methods=["GET"]),
            ],
        ),
    ]
