"""Finding (or creating) an account's Cloud Code project: ``loadCodeAssist`` then ``onboardUser``.

An account that already has a tier comes with its project. One without a tier is onboarded to the
default allowed tier; the free tier is onboarded *without* a project (Google manages it, and sending one
fails with "Precondition Failed"). ``onboardUser`` is a long-running operation, polled until done.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from antigravity_gateway.errors import ProjectSetupError, ValidationRequired
from antigravity_gateway.upstream.client import Route, UpstreamClient

_METADATA = {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
_ONBOARD_TIMEOUT = 120.0


@dataclass(slots=True, frozen=True)
class ProjectInfo:
    project_id: str
    tier_id: str
    tier_name: str


def _project_id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


async def setup_project(
    http: UpstreamClient,
    token: str,
    *,
    poll_interval: float = 5.0,
    route: Route | None = None,
    ide_type: str = "ANTIGRAVITY",
) -> ProjectInfo:
    """Return the account's project and tier, onboarding it first when it has no tier yet.

    ``route`` and ``ide_type`` come from the account's OAuth client profile."""
    metadata = {**_METADATA, "ideType": ide_type}
    load = await http.call("loadCodeAssist", orjson.dumps({"metadata": metadata}), token, route=route)
    project = _project_id(load.get("cloudaicompanionProject"))
    current = load.get("currentTier")
    if isinstance(current, dict):
        tier = load.get("paidTier") if isinstance(load.get("paidTier"), dict) else current
        if not project:
            raise ProjectSetupError(
                f"the account has the tier {current.get('id')} but Google gave no project for it; "
                "set one up in Google Cloud (Gemini Code Assist) and try again"
            )
        return ProjectInfo(project, str(tier.get("id") or ""), str(tier.get("name") or tier.get("id") or ""))

    for ineligible in load.get("ineligibleTiers") or []:
        if isinstance(ineligible, dict) and ineligible.get("reasonCode") == "VALIDATION_REQUIRED":
            raise ValidationRequired(
                f"Google asks to verify this account first: {ineligible.get('reasonMessage') or 'verify your account'}",
                validation_url=str(ineligible.get("validationUrl") or ""),
            )

    allowed = [t for t in load.get("allowedTiers") or [] if isinstance(t, dict)]
    tier = next((t for t in allowed if t.get("isDefault")), None) or {"id": "legacy-tier", "name": "legacy"}
    tier_id = str(tier.get("id") or "legacy-tier")
    body: dict[str, Any] = {"tierId": tier_id, "metadata": metadata}
    if tier_id != "free-tier":
        if not project:
            reasons = "; ".join(
                str(t.get("reasonMessage") or t.get("reasonCode")) for t in load.get("ineligibleTiers") or []
            )
            raise ProjectSetupError(
                f"the account needs a Google Cloud project for the tier {tier_id}"
                + (f" ({reasons})" if reasons else "")
            )
        body["cloudaicompanionProject"] = project
    operation, endpoint = await http.call_at("onboardUser", orjson.dumps(body), token, route=route)
    deadline = time.monotonic() + _ONBOARD_TIMEOUT
    while not operation.get("done"):
        name = operation.get("name")
        if not name or time.monotonic() > deadline:
            raise ProjectSetupError("onboarding did not finish; try again later")
        await asyncio.sleep(poll_interval)
        operation = await http.get_operation(str(name), token, endpoint, route=route)
    if operation.get("error"):
        raise ProjectSetupError(f"onboarding failed: {operation['error'].get('message', operation['error'])}")
    project = _project_id((operation.get("response") or {}).get("cloudaicompanionProject")) or project
    if not project:
        raise ProjectSetupError("onboarding finished without a project id")
    return ProjectInfo(project, tier_id, str(tier.get("name") or tier_id))
