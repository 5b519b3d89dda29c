"""A faithful local emulator of Google's OAuth endpoints and the Cloud Code Assist ``v1internal`` API.

The gateway talks to it only over HTTP, exactly as it would to Google; tests drive it from Python
(:class:`Emulator`) or over its JSON control API (``/__emulator/...``).

Quick start::

    emu = Emulator()
    emu.add_client("client-id", "client-secret")
    emu.add_account(EmulatorAccount(email="alice@example.com", refresh_token="1//alice", client_id="client-id"))
    with EmulatorServer(emu) as server:
        server.token_url            # POST refresh_token grants here
        server.endpoint("sandbox")  # .../sandbox/v1internal ; append ":generateContent"

URL layout (base = ``server.url``): ``POST /token``, ``GET /oauth2/v2/userinfo``,
``GET /o/oauth2/v2/auth``, ``POST /{endpoint}/v1internal:{method}`` (and ``/v1internal:{method}``
= endpoint ``"default"``), ``GET /{endpoint}/v1internal/operations/{id}``, ``/__emulator/*``.

Deterministic answers (see :mod:`.generation`): ``"[<model>] <email>: <last user text[:200]>"``;
the prompt ``"ping"`` is answered with exactly ``"pong"``; ``CALL_TOOL:<name>{json}`` yields a
function call; tool results are echoed as ``Tool <name> returned: <json>``.
"""

from __future__ import annotations

from antigravity_gateway.emulator.catalog import DEFAULT_DEPRECATED_MODELS, DEFAULT_MODELS
from antigravity_gateway.emulator.counting import IMAGE_TOKENS
from antigravity_gateway.emulator.faults import Fault
from antigravity_gateway.emulator.server import EmulatorServer, build_app, serve_app
from antigravity_gateway.emulator.signatures import SKIP_SIGNATURE_SENTINEL
from antigravity_gateway.emulator.state import Emulator, EmulatorAccount, RecordedRequest

__all__ = [
    "DEFAULT_DEPRECATED_MODELS",
    "DEFAULT_MODELS",
    "IMAGE_TOKENS",
    "SKIP_SIGNATURE_SENTINEL",
    "Emulator",
    "EmulatorAccount",
    "EmulatorServer",
    "Fault",
    "RecordedRequest",
    "build_app",
    "serve_app",
]
