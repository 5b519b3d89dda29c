"""Which models each account really has, from ``fetchAvailableModels``, cached and refreshed.

The union over all accounts is the gateway's model list; ``deprecatedModelIds`` become forwarding rules
(old id → new id) for the model mapping; ``quotaInfo.resetTime`` tells how long an exhausted model stays
exhausted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from antigravity_gateway.accounts.pool import AccountPool
from antigravity_gateway.errors import GatewayError
from antigravity_gateway.store.base import Account, Catalog
from antigravity_gateway.upstream.client import UpstreamHTTPError
from antigravity_gateway.upstream.rpc_error import parse_timestamp

logger = logging.getLogger(__name__)


class ModelCatalog:
    def __init__(self, pool: AccountPool) -> None:
        self.pool = pool
        self.catalogs: dict[str, Catalog] = {}
        self._union: dict[str, dict[str, Any]] = {}
        self._deprecated: dict[str, str] = {}
        # account id → model → (remaining fraction, reset time), read once per fetch (the scheduler
        # consults it on every request)
        self._quotas: dict[str, dict[str, tuple[float | None, float | None]]] = {}

    async def load(self) -> None:
        self.catalogs = {c.account_id: c for c in await self.pool.store.list_catalogs()}
        self._rebuild()

    def _rebuild(self) -> None:
        union: dict[str, dict[str, Any]] = {}
        deprecated: dict[str, str] = {}
        for account_id, catalog in self.catalogs.items():
            if account_id not in self.pool.accounts:
                continue
            for model_id, spec in (catalog.data.get("models") or {}).items():
                if isinstance(spec, dict):
                    union.setdefault(model_id, spec)
            for old, rule in (catalog.data.get("deprecatedModelIds") or {}).items():
                if isinstance(rule, dict) and rule.get("newModelId"):
                    deprecated[old] = str(rule["newModelId"])
        self._union = dict(sorted(union.items()))
        self._deprecated = deprecated
        self._quotas = {
            account_id: {
                model_id: _quota_of(spec)
                for model_id, spec in (catalog.data.get("models") or {}).items()
                if isinstance(spec, dict)
            }
            for account_id, catalog in self.catalogs.items()
        }

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        return self._union

    @property
    def deprecated(self) -> dict[str, str]:
        return self._deprecated

    def has_model(self, account_id: str, model: str) -> bool | None:
        """Whether the account has the model; ``None`` when its catalog is not known yet."""
        catalog = self.catalogs.get(account_id)
        if catalog is None:
            return None
        return model in (catalog.data.get("models") or {})

    def reset_time(self, account_id: str, model: str) -> float | None:
        return self._quotas.get(account_id, {}).get(model, (None, None))[1]

    def remaining(self, account_id: str, model: str) -> float | None:
        """The fraction (0..1) of the account's quota left for the model, when Google told us."""
        return self._quotas.get(account_id, {}).get(model, (None, None))[0]

    async def refresh(self, account: Account) -> None:
        """Fetch the account's models with their quota, and its 5-hour/weekly buckets (best effort)."""
        token = await self.pool.access_token(account)
        project = await self.pool.ensure_project(account)
        body = orjson.dumps({"project": project})
        route = self.pool.route(account)
        data = await self.pool.http.call("fetchAvailableModels", body, token, route=route)
        try:
            summary = await self.pool.http.call("retrieveUserQuotaSummary", body, token, route=route)
        except (GatewayError, UpstreamHTTPError) as exc:
            logger.info("account %s: no quota summary (%s)", account.email, exc)
            summary = {}
        catalog = Catalog(
            account.id,
            data if isinstance(data, dict) else {},
            time.time(),
            summary if isinstance(summary, dict) else {},
        )
        self.catalogs[account.id] = catalog
        await self.pool.store.save_catalog(catalog)
        self._rebuild()

    def quota_view(self, account_id: str) -> dict[str, Any]:
        """The account's quota as the CLI and the dashboard show it."""
        catalog = self.catalogs.get(account_id)
        if catalog is None:
            return {"fetched_at": None, "models": [], "buckets": []}
        models = []
        for model_id, spec in sorted((catalog.data.get("models") or {}).items()):
            if not isinstance(spec, dict):
                continue
            models.append(
                {
                    "id": model_id,
                    "display_name": str(spec.get("displayName") or model_id),
                    "remaining": self.remaining(account_id, model_id),
                    "reset_time": self.reset_time(account_id, model_id),
                }
            )
        buckets = []
        for group in catalog.summary.get("groups") or []:
            if not isinstance(group, dict):
                continue
            for bucket in group.get("buckets") or []:
                if isinstance(bucket, dict):
                    buckets.append(
                        {
                            "group": str(group.get("displayName") or ""),
                            "id": str(bucket.get("bucketId") or ""),
                            "window": str(bucket.get("window") or ""),
                            "display_name": str(bucket.get("displayName") or bucket.get("bucketId") or ""),
                            "remaining": _fraction(bucket.get("remainingFraction")),
                            "reset_time": parse_timestamp(str(bucket.get("resetTime") or "")),
                        }
                    )
        return {"fetched_at": catalog.fetched_at, "models": models, "buckets": buckets}

    async def refresh_all(self, *, max_age: float = 0.0) -> None:
        now = time.time()
        due = [
            a
            for a in self.pool.accounts.values()
            if a.usable and (a.id not in self.catalogs or now - self.catalogs[a.id].fetched_at >= max_age)
        ]
        results = await asyncio.gather(*(self.refresh(a) for a in due), return_exceptions=True)
        for account, result in zip(due, results, strict=True):
            if isinstance(result, (GatewayError, UpstreamHTTPError)):
                logger.warning("account %s: could not fetch its models: %s", account.email, result)
            elif isinstance(result, BaseException):
                raise result
        self._rebuild()


def _fraction(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _quota_of(spec: dict[str, Any]) -> tuple[float | None, float | None]:
    quota = spec.get("quotaInfo")
    if not isinstance(quota, dict):
        return None, None
    reset = parse_timestamp(str(quota["resetTime"])) if quota.get("resetTime") else None
    return _fraction(quota.get("remainingFraction", 0.0)), reset
