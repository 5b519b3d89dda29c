"""The emulated v1internal refuses outdated Antigravity clients, as a 4xx or as a 200 answer."""

from __future__ import annotations

import aiohttp
import orjson

from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.emulator.v1internal import TOO_OLD_MESSAGE
from tests.emulator.conftest import Api, account, generate_body

OLD = "antigravity/2.9.1 linux/amd64"


async def test_an_old_antigravity_user_agent_is_refused(
    api: Api, emu: Emulator, server: EmulatorServer
) -> None:
    emu.add_account(account())
    token = await api.access_token()
    assert (await api.call("loadCodeAssist", {}, token, user_agent=OLD)).status == 200  # no minimum set

    async with aiohttp.ClientSession() as http:  # set over the control API, as another process would
        async with http.post(
            f"{server.url}/__emulator/settings", data=orjson.dumps({"min_client_version": "2.10.0"})
        ) as resp:
            assert resp.status == 200 and (await resp.json())["min_client_version"] == "2.10.0"
    assert emu.min_client_version == (2, 10, 0)

    refused = await api.call("loadCodeAssist", {}, token, user_agent=OLD)
    assert refused.status == 400 and refused.json["error"]["message"] == TOO_OLD_MESSAGE
    for fine in (
        "antigravity/2.10.0 linux/amd64",
        "antigravity/hub/3.0.1 darwin/arm64",
        "GeminiCLI/0.56.0/x",
    ):
        assert (await api.call("loadCodeAssist", {}, token, user_agent=fine)).status == 200, fine
    assert (await api.call("loadCodeAssist", {}, None, user_agent=OLD)).status == 401  # auth comes first


async def test_the_200_form(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    token = await api.access_token()
    emu.min_client_version, emu.too_old_status = (2, 10, 0), 200
    answer = await api.call("generateContent", generate_body(), token, user_agent=OLD)
    assert answer.status == 200
    assert answer.json["response"]["candidates"][0]["content"]["parts"] == [{"text": TOO_OLD_MESSAGE}]
    stream = await api.call("streamGenerateContent", generate_body(), token, query="alt=sse", user_agent=OLD)
    assert (
        stream.status == 200 and TOO_OLD_MESSAGE.encode() in stream.raw and stream.raw.count(b"data: ") == 1
    )
    other = await api.call("loadCodeAssist", {}, token, user_agent=OLD)
    assert other.status == 200 and other.json["error"]["message"] == TOO_OLD_MESSAGE
