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

    def _quota(self, account_id: str, model: str) -> dict[str, Any] | None:
        catalog = self.catalogs.get(account_id)
        spec = (catalog.data.get("models") or {}).get(model) if catalog else None
        quota = spec.get("quotaInfo") if isinstance(spec, dict) else None
        return quota if isinstance(quota, dict) else None

    def reset_time(self, account_id: str, model: str) -> float | None:
        quota = self._quota(account_id, model)
        if quota and quota.get("resetTime"):
            return parse_timestamp(str(quota["resetTime"]))
        return None

    def remaining(self, account_id: str, model: str) -> float | None:
        """The fraction (0..1) of the account's quota left for the model, when Google told us."""
        quota = self._quota(account_id, model)
        if quota is None:
            return None
        try:
            return float(quota.get("remainingFraction", 0.0))
        except (TypeError, ValueError):
            return None

    async def refresh(self, account: Account) -> None:
        token = await self.pool.access_token(account)
        project = await self.pool.ensure_project(account)
        data = await self.pool.http.call("fetchAvailableModels", orjson.dumps({"project": project}), token)
        catalog = Catalog(account.id, data if isinstance(data, dict) else {}, time.time())
        self.catalogs[account.id] = catalog
        await self.pool.store.save_catalog(catalog)
        self._rebuild()

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
