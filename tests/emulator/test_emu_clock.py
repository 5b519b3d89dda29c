"""The emulator's ``Date`` header: correct, as Google's, unless a test skews the emulated clock."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import orjson

from antigravity_gateway.emulator import Emulator
from tests.emulator.conftest import Api


async def _date(api: Api, path: str) -> float:
    async with api.http.post(api.server.url + path, data={"grant_type": "refresh_token"}) as resp:
        await resp.read()
        return parsedate_to_datetime(resp.headers["Date"]).timestamp()


async def test_date_is_right_then_skewed_over_the_control_api(api: Api, emu: Emulator) -> None:
    assert abs(await _date(api, "/token") - time.time()) < 2
    async with api.http.post(
        api.server.url + "/__emulator/settings",
        data=orjson.dumps({"clock_skew": -900}),
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200 and orjson.loads(await resp.read())["clock_skew"] == -900.0
    assert emu.clock_skew == -900.0
    assert 897 < time.time() - await _date(api, "/token") < 903
    assert 897 < time.time() - await _date(api, "/prod/v1internal:countTokens") < 903  # every answer
    emu.reset()
    assert abs(await _date(api, "/token") - time.time()) < 2
