"""Scripted faults: each action kind, matching, ``times``, precedence against authentication."""

from __future__ import annotations

import time

import aiohttp
import pytest

from antigravity_gateway.emulator import Emulator, Fault
from tests.emulator.conftest import ALICE, BOB, Api, account, generate_body


async def _ready(api: Api, emu: Emulator) -> tuple[str, str]:
    acct = emu.add_account(account())
    assert acct.project
    return acct.project, await api.access_token()


async def test_status_fault_with_body_headers_and_times(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    fault = emu.add_fault(
        Fault(
            method="generateContent",
            status=418,
            body={"error": {"code": 418, "message": "teapot"}},
            headers={"Retry-After": "2"},
            times=2,
        )
    )
    body = generate_body(project=project)
    replies = [await api.call("generateContent", body, token) for _ in range(3)]
    assert [r.status for r in replies] == [418, 418, 200]
    assert replies[0].json == {"error": {"code": 418, "message": "teapot"}}
    assert replies[0].headers["Retry-After"] == "2"
    assert fault.fired == 2 and fault.times == 0 and emu.faults == []
    recs = [r for r in emu.requests if r.method == "generateContent"]
    assert [r.fault for r in recs][:2] == ["status 418", "status 418"] and recs[2].fault is None
    assert [r.status for r in recs] == [418, 418, 200]


async def test_presets(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    body = generate_body(project=project)
    emu.add_fault(Fault.rate_limited(retry_delay="1.5s"))
    rate = (await api.call("generateContent", body, token)).json["error"]
    assert rate["code"] == 429 and rate["status"] == "RESOURCE_EXHAUSTED"
    assert rate["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert rate["details"][0]["metadata"]["quotaResetDelay"] == "1.5s"
    assert rate["details"][1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}

    emu.add_fault(Fault.quota_exhausted(reset_seconds=3600, model="gemini-2.5-flash"))
    quota = (await api.call("generateContent", body, token)).json["error"]
    assert quota["message"] == (
        "You have exhausted your capacity on this model. Your quota will reset after 3600s."
    )
    assert quota["details"][0]["reason"] == "QUOTA_EXHAUSTED"
    assert quota["details"][0]["metadata"]["quotaResetDelay"] == "3600s"
    assert quota["details"][0]["metadata"]["model"] == "gemini-2.5-flash"
    assert quota["details"][1]["retryDelay"] == "3600s"

    emu.add_fault(Fault.bare_429())
    bare = await api.call("generateContent", body, token)
    assert bare.status == 429 and "details" not in bare.json["error"]

    emu.add_fault(Fault.server_error())
    unavailable = await api.call("generateContent", body, token)
    assert unavailable.status == 503 and unavailable.json["error"]["status"] == "UNAVAILABLE"

    emu.add_fault(Fault.validation_required(account=ALICE))
    validation = await api.call("generateContent", body, token)
    assert validation.status == 403
    assert validation.json["error"]["details"][0]["reason"] == "VALIDATION_REQUIRED"
    assert (await api.call("generateContent", body, token)).status == 200


async def test_matching_by_endpoint_model_account_and_method(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    emu.add_fault(
        Fault.server_error(status=500, endpoint="daily", model="gemini-2.5-pro", account=ALICE, times=None)
    )
    emu.add_fault(Fault.server_error(status=502, account=BOB, times=None))
    assert (
        await api.call("generateContent", generate_body(project=project), token, endpoint="daily")
    ).status == 200
    pro = generate_body(project=project, model="gemini-2.5-pro")
    assert (await api.call("generateContent", pro, token, endpoint="sandbox")).status == 200
    assert (await api.call("generateContent", pro, token, endpoint="daily")).status == 500
    assert (await api.call("generateContent", pro, token, endpoint="daily")).status == 500
    counted = await api.call(
        "countTokens",
        {"request": {"model": "gemini-2.5-pro", "contents": pro["request"]["contents"]}},
        token,
        endpoint="daily",
    )
    assert counted.status == 500  # method None matches every method; countTokens' model is request.model


async def test_authentication_wins_over_status_faults(api: Api, emu: Emulator) -> None:
    project, _ = await _ready(api, emu)
    fault = emu.add_fault(Fault.server_error(times=1))
    reply = await api.call("generateContent", generate_body(project=project), "ya29.invalid")
    assert reply.status == 401
    assert fault.fired == 0


async def test_endpoint_down_drops_the_connection(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    emu.add_fault(Fault.endpoint_down(endpoint="sandbox"))
    for _ in range(2):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("generateContent", generate_body(project=project), "ya29.even-without-auth")
    assert (
        await api.call("generateContent", generate_body(project=project), token, endpoint="daily")
    ).status == 200
    recs = [r for r in emu.requests if r.method == "generateContent"]
    assert [(r.endpoint, r.status, r.fault) for r in recs] == [
        ("sandbox", 0, "drop_connection"),
        ("sandbox", 0, "drop_connection"),
        ("daily", 200, None),
    ]


@pytest.mark.parametrize("after", [0, 2])
async def test_cut_stream(api: Api, emu: Emulator, server: object, after: int) -> None:
    project, token = await _ready(api, emu)
    emu.add_fault(Fault.cut_stream(after_events=after))
    url = f"{api.server.endpoint('prod')}:streamGenerateContent?alt=sse"
    body = generate_body("a reasonably long prompt so that there are enough chunks to cut", project=project)
    received = b""
    async with api.http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += chunk
    assert received.count(b"data: ") == after
    assert b"finishReason" not in received
    # The fault was used up.
    assert (await api.call("streamGenerateContent", body, token, query="alt=sse")).status == 200
    rec = [r for r in emu.requests if r.method == "streamGenerateContent"][0]
    assert rec.fault == f"cut_after_events {after}" and rec.status == 200


async def test_slow_first_byte(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    emu.add_fault(Fault.slow_first_byte(0.3, method="generateContent"))
    started = time.monotonic()
    reply = await api.call("generateContent", generate_body(project=project), token)
    assert reply.status == 200 and time.monotonic() - started >= 0.3
    started = time.monotonic()
    await api.call("generateContent", generate_body(project=project), token)
    assert time.monotonic() - started < 0.3


async def test_faults_on_the_token_endpoint(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    emu.add_fault(Fault.server_error(status=500, method="token", account=ALICE))
    failed = await api.refresh()
    assert failed.status == 500 and failed.json["error"] == "temporarily_unavailable"
    assert (await api.refresh()).status == 200
    emu.add_fault(Fault.endpoint_down(endpoint="oauth", times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.refresh()
    assert [r.status for r in emu.requests] == [500, 200, 0]


def test_fault_needs_exactly_one_action() -> None:
    with pytest.raises(ValueError):
        Fault()
    with pytest.raises(ValueError):
        Fault(status=500, drop_connection=True)
    assert Fault.cut_stream(3).kind == "cut"
    assert Fault.endpoint_down().times is None and Fault.endpoint_down().endpoint == "sandbox"
    assert Fault.from_dict({"preset": "rate_limited", "retry_delay": "2s", "account": ALICE}).account == ALICE
    with pytest.raises(ValueError):
        Fault.from_dict({"statuss": 500})


async def test_cut_faults_do_not_match_non_streaming_calls(api: Api, emu: Emulator) -> None:
    project, token = await _ready(api, emu)
    fault = emu.add_fault(Fault.cut_stream(after_events=1))
    assert (await api.call("generateContent", generate_body(project=project), token)).status == 200
    assert fault.fired == 0 and emu.faults == [fault]
