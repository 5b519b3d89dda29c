"""Project/tier setup and quota endpoints: loadCodeAssist, onboardUser + LRO, models, quota summary."""

from __future__ import annotations

from datetime import datetime

import pytest

from antigravity_gateway.emulator import DEFAULT_MODELS, Emulator
from tests.emulator.conftest import ALICE, Api, account, generate_body

METADATA = {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}


async def test_load_code_assist_onboarded(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account())
    assert acct.project and acct.project.startswith("emu-project-")
    token = await api.access_token()
    reply = await api.call("loadCodeAssist", {"metadata": METADATA}, token)
    assert reply.status == 200
    body = reply.json
    assert body["currentTier"]["id"] == "free-tier"
    assert body["currentTier"]["name"] and body["currentTier"]["description"]
    assert body["cloudaicompanionProject"] == acct.project
    assert "paidTier" not in body and "ineligibleTiers" not in body
    assert [t["id"] for t in body["allowedTiers"]] == ["free-tier", "standard-tier"]


async def test_load_code_assist_paid_tier(api: Api, emu: Emulator) -> None:
    emu.add_account(account(tier="g1-pro-tier", project="my-proj"))
    body = (await api.call("loadCodeAssist", {"metadata": {}}, await api.access_token())).json
    assert body["currentTier"]["id"] == "g1-pro-tier"
    assert body["paidTier"] == {"id": "g1-pro-tier", "name": "Google AI Pro"}
    assert body["cloudaicompanionProject"] == "my-proj"


async def test_load_code_assist_not_onboarded(api: Api, emu: Emulator) -> None:
    emu.add_account(account(onboarded=False))
    body = (
        await api.call("loadCodeAssist", {"metadata": METADATA, "mode": 2}, await api.access_token())
    ).json
    assert "currentTier" not in body and "cloudaicompanionProject" not in body
    assert body["allowedTiers"] == [
        {
            "id": "free-tier",
            "name": "Gemini Code Assist for individuals",
            "description": body["allowedTiers"][0]["description"],
            "isDefault": True,
        },
        {
            "id": "standard-tier",
            "name": "Gemini Code Assist Standard",
            "description": body["allowedTiers"][1]["description"],
            "userDefinedCloudaicompanionProject": True,
        },
    ]


async def test_load_code_assist_validation_required(api: Api, emu: Emulator) -> None:
    emu.add_account(account(validation_required=True))
    body = (await api.call("loadCodeAssist", {"metadata": METADATA}, await api.access_token())).json
    assert "currentTier" not in body
    (tier,) = body["ineligibleTiers"]
    assert tier["reasonCode"] == "VALIDATION_REQUIRED"
    assert tier["reasonMessage"] == "Verify your account to continue."
    assert tier["tierId"] == "free-tier"
    assert tier["validationUrl"].startswith("https://accounts.google.com/")
    assert tier["validationUrlLinkText"] == "Verify your account"


async def test_load_code_assist_strict_fields(api: Api, emu: Emulator) -> None:
    emu.add_account(account())
    token = await api.access_token()
    unknown = await api.call("loadCodeAssist", {"metadata": {"ide_type": "VSCODE", "bogus": 1}}, token)
    assert unknown.status == 400
    assert unknown.json["error"]["message"] == (
        "Invalid JSON payload received. Unknown name \"bogus\" at 'metadata': Cannot find field."
    )
    bad_enum = await api.call("loadCodeAssist", {"metadata": {"ideType": "EMACS"}}, token)
    assert bad_enum.status == 400 and "metadata.ide_type" in bad_enum.json["error"]["message"]


async def test_onboard_free_tier_with_project_is_a_failed_precondition(api: Api, emu: Emulator) -> None:
    emu.add_account(account(onboarded=False))
    token = await api.access_token()
    reply = await api.call(
        "onboardUser", {"tierId": "free-tier", "cloudaicompanionProject": "p", "metadata": METADATA}, token
    )
    assert reply.status == 400
    assert reply.json["error"]["status"] == "FAILED_PRECONDITION"
    assert reply.json["error"]["message"] == "Precondition Failed"
    standard = await api.call("onboardUser", {"tierId": "standard-tier", "metadata": METADATA}, token)
    assert standard.status == 400 and standard.json["error"]["status"] == "INVALID_ARGUMENT"


async def test_onboarding_long_running_operation(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account(onboarded=False))
    emu.onboard_polls = 2
    token = await api.access_token()
    denied = await api.call("generateContent", generate_body(project="anything"), token)
    assert denied.status == 403 and denied.json["error"]["status"] == "PERMISSION_DENIED"

    started = await api.call("onboardUser", {"tier_id": "free-tier", "metadata": METADATA}, token)
    assert started.status == 200
    op = started.json
    assert op["done"] is False and op["name"].startswith("operations/")
    path = f"/daily/v1internal/{op['name']}"
    polls = [(await api.get(path, token)).json for _ in range(3)]
    assert [p["done"] for p in polls] == [False, False, True]
    response = polls[-1]["response"]
    assert (
        response["@type"] == "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse"
    )
    project = response["cloudaicompanionProject"]["id"]
    assert project == response["cloudaicompanionProject"]["name"] == acct.project
    assert acct.onboarded

    load = (await api.call("loadCodeAssist", {"metadata": METADATA}, token)).json
    assert load["currentTier"]["id"] == "free-tier" and load["cloudaicompanionProject"] == project
    again = await api.call("onboardUser", {"tierId": "free-tier", "metadata": METADATA}, token)
    assert again.json["done"] is True
    assert again.json["response"]["cloudaicompanionProject"]["id"] == project
    ok = await api.call("generateContent", generate_body(project=project), token)
    assert ok.status == 200
    assert [r.method for r in emu.requests if r.method == "operation"] == ["operation"] * 3
    assert (await api.get("/daily/v1internal/operations/nope", token)).status == 404


async def test_onboarding_standard_tier_uses_the_given_project(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account(onboarded=False))
    emu.onboard_polls = 0
    token = await api.access_token()
    body = {"tierId": "standard-tier", "cloudaicompanionProject": "corp-proj", "metadata": METADATA}
    reply = await api.call("onboardUser", body, token)
    assert reply.json["done"] is True
    assert acct.project == "corp-proj" and acct.tier == "standard-tier"


async def test_fetch_available_models_shape_and_quota(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account(quota_requests={"gemini-2.5-flash": 4}))
    token = await api.access_token()
    reply = await api.call("fetchAvailableModels", {"project": acct.project}, token)
    assert reply.status == 200
    body = reply.json
    assert set(body["models"]) == set(DEFAULT_MODELS)
    flash = body["models"]["gemini-2.5-flash"]
    for key in ("displayName", "maxTokens", "maxOutputTokens", "supportsImages", "supportsThinking"):
        assert key in flash
    assert (flash["maxTokens"], flash["maxOutputTokens"]) == (1048576, 65536)
    assert body["models"]["gemini-3.1-flash-image"]["supportsImages"] is True
    assert flash["quotaInfo"]["remainingFraction"] == 1.0
    reset = flash["quotaInfo"]["resetTime"]
    assert reset.endswith("Z") and datetime.fromisoformat(reset.replace("Z", "+00:00"))
    assert body["deprecatedModelIds"] == {"gemini-3-pro-preview": {"newModelId": "gemini-3.1-pro-low"}}

    for _ in range(3):
        assert (await api.call("generateContent", generate_body(project=acct.project), token)).status == 200
    after = (await api.call("fetchAvailableModels", {}, token)).json["models"]
    assert after["gemini-2.5-flash"]["quotaInfo"]["remainingFraction"] == pytest.approx(0.25)
    assert after["gemini-2.5-pro"]["quotaInfo"]["remainingFraction"] == 1.0
    assert emu.usage(ALICE, "gemini-2.5-flash") == 3
    other = await api.call("fetchAvailableModels", {"project": "someone-elses"}, token)
    assert other.status == 403


async def test_retrieve_user_quota_summary(api: Api, emu: Emulator) -> None:
    acct = emu.add_account(account(quota_requests={"claude-sonnet-4-6": 2}))
    token = await api.access_token()
    missing = await api.call("retrieveUserQuotaSummary", {}, token)
    assert missing.status == 403
    body = generate_body(project=acct.project, model="claude-sonnet-4-6")
    assert (await api.call("generateContent", body, token)).status == 200
    reply = await api.call("retrieveUserQuotaSummary", {"project": acct.project}, token)
    assert reply.status == 200
    groups = reply.json["groups"]
    assert [g["displayName"] for g in groups] == ["Gemini", "Third-party models"]
    assert [b["bucketId"] for b in groups[0]["buckets"]] == ["gemini-5h", "gemini-weekly"]
    assert [b["bucketId"] for b in groups[1]["buckets"]] == ["3p-5h", "3p-weekly"]
    assert [b["window"] for b in groups[1]["buckets"]] == ["5h", "168h"]
    assert groups[1]["buckets"][0]["displayName"] == "5-hour limit"
    assert groups[1]["buckets"][0]["remainingFraction"] == pytest.approx(0.5)
    assert groups[0]["buckets"][0]["remainingFraction"] == 1.0
