"""The emulator's JSON control API under ``/__emulator/`` (for tests driving it over HTTP).

===========================  ==========================================================
``GET  /__emulator/health``    ``{"status": "ok"}``
``GET  /__emulator/accounts``  list of account dicts (test tool: includes refresh tokens)
``POST /__emulator/accounts``  body = ``EmulatorAccount`` fields -> 201 account dict
``POST /__emulator/clients``   ``{"client_id", "client_secret"}`` -> 201
``POST /__emulator/faults``    body = ``Fault`` fields, or ``{"preset": "rate_limited", ...}``
``GET|DELETE /__emulator/faults``
``GET|DELETE /__emulator/requests``  recorded requests, oldest first
``POST /__emulator/reset``     forget everything
``POST /__emulator/revoke``    ``{"refresh_token"}``
``POST /__emulator/expire``    ``{"email"?}`` expire issued access tokens
``POST /__emulator/access_token``  ``{"email"}`` -> ``{"access_token"}`` (no OAuth round trip)
``GET|POST /__emulator/settings``  ``chunk_delay``, ``onboard_polls``, ``deprecated_models``,
                               ``min_client_version`` ("2.10.0" or null), ``too_old_status``,
                               ``clock_skew`` (seconds added to the ``Date`` header)
===========================  ==========================================================

Control calls are recorded with endpoint ``"control"`` except reads/clears of the request log and
health checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from antigravity_gateway.emulator.context import Call, json_response
from antigravity_gateway.emulator.faults import Fault
from antigravity_gateway.emulator.state import EmulatorAccount

if TYPE_CHECKING:
    from antigravity_gateway.emulator.state import Emulator

__all__ = ["PREFIX", "ControlHandlers"]

PREFIX: Final = "/__emulator"
_SETTINGS: Final = frozenset(
    {
        "chunk_delay",
        "onboard_polls",
        "deprecated_models",
        "min_client_version",
        "too_old_status",
        "clock_skew",
    }
)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadRequest(Exception):
    pass


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    return data


class ControlHandlers:
    """aiohttp handlers for the control API bound to one :class:`Emulator`."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get(f"{PREFIX}/health", self._plain(self.health))
        r.add_get(f"{PREFIX}/accounts", self._recorded(self.list_accounts))
        r.add_post(f"{PREFIX}/accounts", self._recorded(self.add_account))
        r.add_post(f"{PREFIX}/clients", self._recorded(self.add_client))
        r.add_get(f"{PREFIX}/faults", self._recorded(self.list_faults))
        r.add_post(f"{PREFIX}/faults", self._recorded(self.add_fault))
        r.add_delete(f"{PREFIX}/faults", self._recorded(self.clear_faults))
        r.add_get(f"{PREFIX}/requests", self._plain(self.list_requests))
        r.add_delete(f"{PREFIX}/requests", self._plain(self.clear_requests))
        r.add_post(f"{PREFIX}/reset", self._recorded(self.reset))
        r.add_post(f"{PREFIX}/revoke", self._recorded(self.revoke))
        r.add_post(f"{PREFIX}/expire", self._recorded(self.expire))
        r.add_post(f"{PREFIX}/access_token", self._recorded(self.access_token))
        r.add_get(f"{PREFIX}/settings", self._recorded(self.get_settings))
        r.add_post(f"{PREFIX}/settings", self._recorded(self.set_settings))

    def _plain(self, fn: Callable[[dict[str, Any]], Any]) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                status, body = fn(await _json_body(request))
            except _BadRequest as exc:
                return json_response(400, {"error": str(exc)})
            return json_response(status, body)

        return handler

    def _recorded(self, fn: Callable[[dict[str, Any]], Any]) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            method = request.path.removeprefix(PREFIX + "/")
            call = Call(self.emu, request, "control", method)
            try:
                data = await _json_body(request)
                call.body = data or None
                status, body = fn(data)
            except (_BadRequest, ValueError, TypeError, KeyError) as exc:
                message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
                return call.respond(400, {"error": str(message)})
            return call.respond(status, body)

        return handler

    # Each handler takes the parsed JSON body and returns (status, body).

    def health(self, _: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"status": "ok"}

    def list_accounts(self, _: dict[str, Any]) -> tuple[int, Any]:
        return 200, [a.to_dict() for a in self.emu.accounts]

    def add_account(self, data: dict[str, Any]) -> tuple[int, Any]:
        account = self.emu.add_account(EmulatorAccount.from_dict(data))
        return 201, account.to_dict()

    def add_client(self, data: dict[str, Any]) -> tuple[int, Any]:
        client_id, secret = data.get("client_id"), data.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(secret, str):
            raise _BadRequest("client_id and client_secret (strings) are required")
        self.emu.add_client(client_id, secret)
        return 201, {"client_id": client_id}

    def list_faults(self, _: dict[str, Any]) -> tuple[int, Any]:
        return 200, [f.to_dict() for f in self.emu.faults]

    def add_fault(self, data: dict[str, Any]) -> tuple[int, Any]:
        fault = self.emu.add_fault(Fault.from_dict(data))
        return 201, fault.to_dict()

    def clear_faults(self, _: dict[str, Any]) -> tuple[int, Any]:
        self.emu.clear_faults()
        return 200, {"status": "ok"}

    def list_requests(self, _: dict[str, Any]) -> tuple[int, Any]:
        return 200, [r.to_dict() for r in self.emu.requests]

    def clear_requests(self, _: dict[str, Any]) -> tuple[int, Any]:
        self.emu.clear_requests()
        return 200, {"status": "ok"}

    def reset(self, _: dict[str, Any]) -> tuple[int, Any]:
        self.emu.reset()
        return 200, {"status": "ok"}

    def revoke(self, data: dict[str, Any]) -> tuple[int, Any]:
        token = data.get("refresh_token")
        if not isinstance(token, str):
            raise _BadRequest("refresh_token is required")
        self.emu.revoke(token)
        return 200, {"status": "ok"}

    def expire(self, data: dict[str, Any]) -> tuple[int, Any]:
        email = data.get("email")
        self.emu.expire_access_tokens(email if isinstance(email, str) else None)
        return 200, {"status": "ok"}

    def access_token(self, data: dict[str, Any]) -> tuple[int, Any]:
        email = data.get("email")
        if not isinstance(email, str):
            raise _BadRequest("email is required")
        ttl = data.get("ttl")
        token = self.emu.issue_access_token(email, float(ttl) if ttl is not None else None)
        return 200, {"access_token": token}

    def _settings(self) -> dict[str, Any]:
        emu = self.emu
        return {
            "chunk_delay": emu.chunk_delay,
            "onboard_polls": emu.onboard_polls,
            "deprecated_models": emu.deprecated_models,
            "min_client_version": (
                ".".join(str(n) for n in emu.min_client_version) if emu.min_client_version else None
            ),
            "too_old_status": emu.too_old_status,
            "clock_skew": emu.clock_skew,
        }

    def get_settings(self, _: dict[str, Any]) -> tuple[int, Any]:
        return 200, self._settings()

    def set_settings(self, data: dict[str, Any]) -> tuple[int, Any]:
        emu = self.emu
        unknown = sorted(set(data) - _SETTINGS)
        if unknown:
            raise _BadRequest(f"unknown settings: {', '.join(unknown)}")
        if "chunk_delay" in data:
            emu.chunk_delay = float(data["chunk_delay"])
        if "onboard_polls" in data:
            emu.onboard_polls = int(data["onboard_polls"])
        if "deprecated_models" in data:
            if not isinstance(data["deprecated_models"], dict):
                raise _BadRequest("deprecated_models must be an object")
            emu.deprecated_models = data["deprecated_models"]
        if "min_client_version" in data:
            version = data["min_client_version"]
            try:
                emu.min_client_version = tuple(int(n) for n in str(version).split(".")) if version else None
            except ValueError:
                raise _BadRequest("min_client_version must look like 2.10.0 (or be null)") from None
        if "too_old_status" in data:
            emu.too_old_status = int(data["too_old_status"])
        if "clock_skew" in data:
            emu.clock_skew = float(data["clock_skew"])
        return 200, self._settings()
