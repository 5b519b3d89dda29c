"""Scriptable faults: make the emulated Google misbehave on purpose.

A :class:`Fault` has a *match* part (``endpoint``, ``method``, ``model``, ``account``; ``None``
matches anything) and exactly one *action*:

* ``status`` (+ optional ``body``/``headers``): answer with that status. Without ``body`` a
  default google.rpc.Status body is used (an OAuth-style body on the ``oauth`` endpoint).
* ``drop_connection``: close the socket without any HTTP response.
* ``cut_after_events``: streaming only; send N events, then abort the connection.
* ``stall_after_events``: streaming only; send N events, then send nothing more while the
  connection stays open (until the client gives up).
* ``first_byte_delay``: sleep before answering, then continue normally (when the client closes the
  connection during the sleep, the request is recorded at once with status 499 and not answered).

Faults are consulted in insertion order; the first matching fault with remaining ``times``
fires and is decremented (``times=None`` means forever). ``drop_connection`` and
``first_byte_delay`` act before authentication; the others act after authentication, so a
401 for a bad token still wins over them.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from antigravity_gateway.emulator.rpc import (
    quota_exhausted_body,
    rate_limited_body,
    rfc3339,
    status_body,
    validation_required_body,
)

__all__ = ["Fault"]


@dataclass
class Fault:
    """One scripted misbehaviour; see the module docstring for the semantics."""

    endpoint: str | None = None
    method: str | None = None
    model: str | None = None
    account: str | None = None
    times: int | None = 1
    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    drop_connection: bool = False
    cut_after_events: int | None = None
    stall_after_events: int | None = None
    first_byte_delay: float | None = None
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        kinds = [
            self.status is not None,
            self.drop_connection,
            self.cut_after_events is not None,
            self.stall_after_events is not None,
            self.first_byte_delay is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a Fault needs exactly one action: status, drop_connection, cut_after_events, "
                "stall_after_events or first_byte_delay"
            )
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")

    @property
    def kind(self) -> str:
        """``"status"``, ``"drop"``, ``"cut"``, ``"stall"`` or ``"delay"``."""
        if self.status is not None:
            return "status"
        if self.drop_connection:
            return "drop"
        if self.cut_after_events is not None:
            return "cut"
        if self.stall_after_events is not None:
            return "stall"
        return "delay"

    @property
    def before_auth(self) -> bool:
        """Whether this fault acts before authentication (drop and delay do)."""
        return self.drop_connection or self.first_byte_delay is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.times <= 0

    def matches(
        self, endpoint: str, method: str, model: str | None, account: str | None, streaming: bool
    ) -> bool:
        if self.exhausted:
            return False
        if (self.cut_after_events is not None or self.stall_after_events is not None) and not streaming:
            return False
        return (
            (self.endpoint is None or self.endpoint == endpoint)
            and (self.method is None or self.method == method)
            and (self.model is None or self.model == model)
            and (self.account is None or self.account == account)
        )

    def describe(self) -> str:
        """A short human description, stored in ``RecordedRequest.fault``."""
        if self.status is not None:
            reason = _reason(self.body)
            return f"status {self.status}" + (f" {reason}" if reason else "")
        if self.drop_connection:
            return "drop_connection"
        if self.cut_after_events is not None:
            return f"cut_after_events {self.cut_after_events}"
        if self.stall_after_events is not None:
            return f"stall_after_events {self.stall_after_events}"
        return f"first_byte_delay {self.first_byte_delay}s"

    def response_body(self, oauth: bool = False) -> dict[str, Any]:
        """The body to answer with (timestamps in ErrorInfo metadata are refreshed to now)."""
        assert self.status is not None
        if self.body is None:
            if oauth:
                error = "temporarily_unavailable" if self.status >= 500 else "invalid_request"
                return {"error": error, "error_description": f"Emulated fault {self.status}"}
            return status_body(self.status)
        return _refresh_timestamps(self.body)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from control-API JSON: plain fields, or ``{"preset": "<constructor>", ...}``."""
        data = dict(data)
        preset = data.pop("preset", None)
        data.pop("kind", None)
        data.pop("fired", None)
        if preset is None:
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(data) - known)
            if unknown:
                raise ValueError(f"unknown Fault fields: {', '.join(unknown)}")
            return cls(**data)
        factory = _PRESETS.get(str(preset))
        if factory is None:
            raise ValueError(f"unknown preset {preset!r}; known: {', '.join(sorted(_PRESETS))}")
        result = factory(**data)
        assert isinstance(result, Fault)
        return result

    # -- convenience constructors -------------------------------------------------------------

    @classmethod
    def rate_limited(
        cls,
        retry_delay: str = "1.5s",
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """429 RATE_LIMIT_EXCEEDED with RetryInfo and ErrorInfo ``quotaResetDelay``."""
        return cls(
            endpoint, method, model, account, times, status=429, body=rate_limited_body(model, retry_delay)
        )

    @classmethod
    def quota_exhausted(
        cls,
        reset_seconds: float = 3600,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """429 QUOTA_EXHAUSTED with ``quotaResetDelay``/``quotaResetTimeStamp`` and RetryInfo."""
        body = quota_exhausted_body(model, reset_seconds)
        return cls(endpoint, method, model, account, times, status=429, body=body)

    @classmethod
    def bare_429(
        cls,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """429 RESOURCE_EXHAUSTED without any details."""
        return cls(endpoint, method, model, account, times, status=429, body=status_body(429))

    @classmethod
    def server_error(
        cls,
        status: int = 503,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """A 5xx with the service's default body for that status."""
        return cls(endpoint, method, model, account, times, status=status)

    @classmethod
    def endpoint_down(
        cls,
        endpoint: str | None = "sandbox",
        *,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Every request to ``endpoint`` has its connection dropped (network error)."""
        return cls(endpoint, method, model, account, times, drop_connection=True)

    @classmethod
    def cut_stream(
        cls,
        after_events: int = 2,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """A stream that sends ``after_events`` events and then loses its connection."""
        return cls(endpoint, method, model, account, times, cut_after_events=after_events)

    @classmethod
    def stall_stream(
        cls,
        after_events: int = 1,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """A stream that sends ``after_events`` events and then goes silent, its connection left open."""
        return cls(endpoint, method, model, account, times, stall_after_events=after_events)

    @classmethod
    def slow_first_byte(
        cls,
        seconds: float,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Sleep ``seconds`` before answering (then answer normally)."""
        return cls(endpoint, method, model, account, times, first_byte_delay=seconds)

    @classmethod
    def validation_required(
        cls,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        model: str | None = None,
        account: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """403 PERMISSION_DENIED VALIDATION_REQUIRED (account needs verification)."""
        return cls(endpoint, method, model, account, times, status=403, body=validation_required_body())


_PRESETS: dict[str, Any] = {
    "rate_limited": Fault.rate_limited,
    "quota_exhausted": Fault.quota_exhausted,
    "bare_429": Fault.bare_429,
    "server_error": Fault.server_error,
    "endpoint_down": Fault.endpoint_down,
    "cut_stream": Fault.cut_stream,
    "stall_stream": Fault.stall_stream,
    "slow_first_byte": Fault.slow_first_byte,
    "validation_required": Fault.validation_required,
}


def _reason(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return str(error) if error else None
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and "reason" in detail:
            return str(detail["reason"])
    status = error.get("status")
    return str(status) if status else None


def _refresh_timestamps(body: dict[str, Any]) -> dict[str, Any]:
    """Recompute ``quotaResetTimeStamp`` from ``quotaResetDelay`` so a fault fired late stays true."""
    error = body.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("details"), list):
        return body
    needs = any(
        isinstance(d, dict) and isinstance(d.get("metadata"), dict) and "quotaResetTimeStamp" in d["metadata"]
        for d in error["details"]
    )
    if not needs:
        return body
    fresh = copy.deepcopy(body)
    now = time.time()
    for detail in fresh["error"]["details"]:
        metadata = detail.get("metadata") if isinstance(detail, dict) else None
        if not isinstance(metadata, dict) or "quotaResetTimeStamp" not in metadata:
            continue
        delay = str(metadata.get("quotaResetDelay", ""))
        if delay.endswith("s") and not delay.endswith("ms"):
            try:
                metadata["quotaResetTimeStamp"] = rfc3339(now + float(delay[:-1]))
            except ValueError:
                pass
    return fresh
