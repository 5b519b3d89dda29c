"""The control HTTP API, the in-loop ``serve()`` helper, the server helpers and the public surface."""

from __future__ import annotations

import urllib.request
from typing import Any

import aiohttp
import orjson

import antigravity_gateway.emulator as emulator_pkg
from antigravity_gateway.emulator import Emulator, EmulatorAccount, EmulatorServer
from antigravity_gateway.emulator.png import make_png
from antigravity_gateway.emulator.signatures import ThoughtSigner
from tests.emulator.conftest import ALICE, CLIENT_ID, CLIENT_SECRET, Api, generate_body


async def _json(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = orjson.dumps(body) if body is not None else None
    async with http.request(method, url, data=data, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, orjson.loads(await resp.read())


async def test_control_api_round_trip(api: Api, emu: Emulator) -> None:
    base = api.server.url + "/__emulator"
    http = api.http
    assert await _json(http, "GET", f"{base}/health") == (200, {"status": "ok"})
    status, _ = await _json(http, "POST", f"{base}/clients", {"client_id": "c2", "client_secret": "s2"})
    assert status == 201
    status, created = await _json(
        http,
        "POST",
        f"{base}/accounts",
        {
            "email": "carol@example.com",
            "refresh_token": "1//carol",
            "client_id": "c2",
            "quota_requests": {"x": 1},
        },
    )
    assert status == 201 and created["project"].startswith("emu-project-")
    status, accounts = await _json(http, "GET", f"{base}/accounts")
    assert [a["email"] for a in accounts] == ["carol@example.com"]
    bad_status, bad = await _json(http, "POST", f"{base}/accounts", {"email": "x"})
    assert bad_status == 400 and "error" in bad

    reply = await api.refresh("1//carol", client_id="c2", client_secret="s2")
    assert reply.status == 200
    token = reply.json["access_token"]

    status, fault = await _json(
        http, "POST", f"{base}/faults", {"preset": "bare_429", "method": "generateContent"}
    )
    assert status == 201 and fault["kind"] == "status"
    status, _ = await _json(http, "POST", f"{base}/faults", {"status": 500, "method": "loadCodeAssist"})
    assert status == 201
    status, faults = await _json(http, "GET", f"{base}/faults")
    assert len(faults) == 2
    body = generate_body(project=created["project"])
    assert (await api.call("generateContent", body, token)).status == 429
    assert await _json(http, "DELETE", f"{base}/faults") == (200, {"status": "ok"})
    assert (await api.call("loadCodeAssist", {}, token)).status == 200

    status, recorded = await _json(http, "GET", f"{base}/requests")
    assert status == 200
    methods = [(r["endpoint"], r["method"]) for r in recorded]
    assert ("sandbox", "generateContent") in methods and ("control", "faults") in methods
    gen = next(r for r in recorded if r["method"] == "generateContent")
    assert gen["status"] == 429 and gen["fault"] == "status 429 RESOURCE_EXHAUSTED"
    assert gen["account_email"] == "carol@example.com" and gen["body"]["model"] == "gemini-2.5-flash"
    assert await _json(http, "DELETE", f"{base}/requests") == (200, {"status": "ok"})
    assert await _json(http, "GET", f"{base}/requests") == (200, [])

    status, settings = await _json(http, "POST", f"{base}/settings", {"chunk_delay": 0.0, "onboard_polls": 3})
    assert status == 200 and settings["onboard_polls"] == 3 and emu.onboard_polls == 3
    status, minted = await _json(http, "POST", f"{base}/access_token", {"email": "carol@example.com"})
    assert status == 200 and (await api.call("loadCodeAssist", {}, minted["access_token"])).status == 200
    assert (await _json(http, "POST", f"{base}/expire", {}))[0] == 200
    assert (await api.call("loadCodeAssist", {}, token)).status == 401
    assert (await _json(http, "POST", f"{base}/revoke", {"refresh_token": "1//carol"}))[0] == 200
    assert (await api.refresh("1//carol", client_id="c2", client_secret="s2")).json[
        "error"
    ] == "invalid_grant"

    assert await _json(http, "POST", f"{base}/reset") == (200, {"status": "ok"})
    assert emu.accounts == [] and emu.onboard_polls == 1
    assert (await _json(http, "GET", f"{base}/accounts")) == (200, [])


async def test_serve_inside_the_running_loop() -> None:
    emu = Emulator()
    emu.add_client(CLIENT_ID, CLIENT_SECRET)
    emu.add_account(EmulatorAccount(email=ALICE, refresh_token="1//alice", client_id=CLIENT_ID))
    async with emu.serve("127.0.0.1", 0) as url, aiohttp.ClientSession() as http:
        assert url.startswith("http://127.0.0.1:")
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": "1//alice",
        }
        async with http.post(f"{url}/token", data=form) as resp:
            assert resp.status == 200
        async with http.get(f"{url}/nowhere") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["status"] == "NOT_FOUND"


def test_server_urls_and_restartable_lifecycle() -> None:
    server = EmulatorServer(Emulator())
    server.start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
        assert server.token_url == server.url + "/token"
        assert server.endpoint("daily") == server.url + "/daily/v1internal"
        assert server.emulator is server.emu
    finally:
        server.stop()
        server.stop()
    port = server.port
    with server:  # restarts on the same port
        assert server.port == port
        with urllib.request.urlopen(server.url + "/__emulator/health", timeout=5) as resp:
            assert orjson.loads(resp.read()) == {"status": "ok"}


def test_public_api() -> None:
    for name in (
        "Emulator",
        "EmulatorAccount",
        "Fault",
        "EmulatorServer",
        "RecordedRequest",
        "DEFAULT_MODELS",
    ):
        assert name in emulator_pkg.__all__
    models = emulator_pkg.DEFAULT_MODELS
    assert models["gemini-3.1-pro-low"]["maxOutputTokens"] == 65535
    assert models["claude-opus-4-6-thinking"]["supportsThinking"] is True
    assert (models["gpt-oss-120b-medium"]["maxTokens"], models["gpt-oss-120b-medium"]["maxOutputTokens"]) == (
        131072,
        32768,
    )


def test_signatures_bind_family_and_text() -> None:
    signer = ThoughtSigner()
    sig = signer.sign("claude-sonnet-4-6", "thinking")
    assert len(sig) >= 60
    assert signer.verify(sig, "claude-opus-4-6-thinking", "thinking")
    assert not signer.verify(sig, "gemini-3-flash", "thinking")
    assert not signer.verify(sig, "claude-sonnet-4-6", "other")
    assert not ThoughtSigner().verify(sig, "claude-sonnet-4-6", "thinking")
    assert not signer.verify("not base64!", "claude-sonnet-4-6", "thinking")


def test_png_is_decodable() -> None:
    import struct
    import zlib

    data = make_png(5, 3)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_len])
    assert len(raw) == 3 * (1 + 5 * 3)
