"""Fixtures for the emulator's own tests: one server per module, state reset for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer

CLIENT_ID = "emu-client.apps.example"
CLIENT_SECRET = "emu-secret"
ALICE = "alice@example.com"
BOB = "bob@example.com"


def account(email: str = ALICE, **kwargs: Any) -> EmulatorAccount:
    kwargs.setdefault("client_id", CLIENT_ID)
    return EmulatorAccount(email=email, refresh_token="1//" + email.split("@")[0], **kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(Emulator()) as srv:
        yield srv


@pytest.fixture
def emu(server: EmulatorServer) -> Iterator[Emulator]:
    emu = server.emulator
    emu.reset()
    emu.add_client(CLIENT_ID, CLIENT_SECRET)
    yield emu
    emu.reset()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)


@dataclass
class Api:
    """Small HTTP helper: OAuth and v1internal calls against the running emulator."""

    server: EmulatorServer
    http: aiohttp.ClientSession

    async def token(self, **form: str) -> Reply:
        async with self.http.post(self.server.token_url, data=form) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    async def refresh(self, refresh_token: str = "1//alice", **extra: str) -> Reply:
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": refresh_token,
        }
        form.update(extra)
        return await self.token(**form)

    async def access_token(self, refresh_token: str = "1//alice") -> str:
        reply = await self.refresh(refresh_token)
        assert reply.status == 200, reply.raw
        return str(reply.json["access_token"])

    async def call(
        self,
        method: str,
        body: Any,
        token: str | None,
        *,
        endpoint: str = "sandbox",
        query: str = "",
        raw: bytes | None = None,
        user_agent: str | None = None,
    ) -> Reply:
        url = f"{self.server.endpoint(endpoint)}:{method}" + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/json"}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else orjson.dumps(body)
        async with self.http.post(url, data=data, headers=headers) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    async def get(self, path: str, token: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.server.url + path, headers=headers) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())


@pytest.fixture
async def api(server: EmulatorServer, emu: Emulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(server, http)


def generate_body(
    text: str = "hello emulator",
    *,
    model: str = "gemini-2.5-flash",
    project: str | None = None,
    **request_extra: Any,
) -> dict[str, Any]:
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    request.update(request_extra)
    body: dict[str, Any] = {
        "model": model,
        "request": request,
        "requestType": "agent",
        "userAgent": "antigravity",
    }
    if project is not None:
        body["project"] = project
    return body
