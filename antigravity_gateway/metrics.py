"""Prometheus metrics: request counters and histograms, plus gauges read from the pool at scrape time.

:class:`Metrics` is built in the app's lifespan (nothing is registered at import time, and never on
prometheus_client's global ``REGISTRY``). Request metrics are observed in one place, when the request
log gets a finished :class:`~antigravity_gateway.store.base.RequestRecord` (:meth:`Metrics.observe`),
which only queues it; :meth:`Metrics.fold` counts the queue within half a second in one update per
time series (about 1 µs per request in total under load, in either mode, against 4 µs, or 9 µs with
the multiprocess files, when every request updated its ten or so values one by one). Token refreshes
come through ``AccountPool.on_refresh``. Accounts, active cooldowns, quota and version are computed
when ``/metrics`` is scraped (:class:`StateCollector`) from the answering process's pool, scheduler
and catalog, which every worker keeps in step with the store.

Several worker processes (``agw serve --workers N``): a scrape reaches one of them and must see the
totals of all, so counters and histograms then use prometheus_client's multiprocess mode: each process
writes its values to files in the directory named by ``PROMETHEUS_MULTIPROC_DIR``, and a scrape merges
them (``MultiProcessCollector``). The gauges stay computed by the answering process (no multiprocess
gauges). prometheus_client chooses how values are stored when it is first imported, from that
variable, so **the supervisor must set it before the workers import anything**: call
:func:`prepare_multiprocess_dir` in the supervisor before starting them (it empties the directory and
sets the variable, which spawned or forked workers inherit), and :func:`mark_process_dead` with a
worker's pid when it exits. A process that finds the variable set but prometheus_client already
loaded the other way refuses to start its metrics (:class:`RuntimeError`) rather than serve partial
totals. Without the variable (one process) values live in memory, in a private registry.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric

from antigravity_gateway import __version__
from antigravity_gateway.store.base import AccountStatus, RequestRecord

if TYPE_CHECKING:
    from antigravity_gateway.accounts.catalog import ModelCatalog
    from antigravity_gateway.accounts.pool import AccountPool
    from antigravity_gateway.accounts.scheduler import Scheduler

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Distinct ``model`` label values one process gives out; later names are counted as ``other``.
MAX_MODEL_LABELS = 200
OTHER_MODEL = "other"
ACCOUNT_STATES: tuple[AccountStatus, ...] = (
    "enabled",
    "disabled",
    "invalid_grant",
    "validation_required",
    "forbidden",
)
#: Queued request records are counted this many seconds after the first one at the latest, at a
#: scrape, or once this many are queued.
FOLD_DELAY = 0.5
FOLD_BATCH = 1000
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
FIRST_EVENT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)
_MODEL_NAME = re.compile(r"[A-Za-z0-9._/:@+~\[\]-]{0,256}")


def multiprocess_dir() -> str | None:
    """The directory of the multiprocess mode, when it is on."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: Path) -> None:
    """For the supervisor of several workers, before it starts them: create ``path`` (mode 0700), or
    empty it of prometheus_client's files (``*.db``: values of an earlier run would be added to the new
    ones), and set ``PROMETHEUS_MULTIPROC_DIR`` for this process and the workers it starts."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for entry in path.iterdir():
        if entry.is_file() and entry.suffix == ".db":
            entry.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    # prometheus_client chose its value class when this process imported it; forked workers inherit
    # that choice, so make it the multiprocess one now (no metric exists yet in the supervisor).
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def end_multiprocess_dir() -> None:
    """For the supervisor, once its workers are gone: this process back to values in memory (the
    directory is about to be removed)."""
    os.environ.pop(MULTIPROC_ENV, None)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def mark_process_dead(pid: int) -> None:
    """For the supervisor, when a worker exits: prometheus_client's bookkeeping for that process (its
    counters stay counted)."""
    if path := multiprocess_dir():
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class StateCollector:
    """Gauges computed at scrape time from the pool, the scheduler's cooldowns and the model catalog."""

    def __init__(self, pool: AccountPool, scheduler: Scheduler, catalog: ModelCatalog) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.catalog = catalog

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("agw_info", "The gateway's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        counts = dict.fromkeys(ACCOUNT_STATES, 0)
        for each in list(self.pool.accounts.values()):
            counts[each.status] = counts.get(each.status, 0) + 1
        accounts = GaugeMetricFamily("agw_accounts", "Accounts in the pool, by state.", labels=["state"])
        for state, count in counts.items():
            accounts.add_metric([state], count)
        yield accounts

        now = time.time()
        active: dict[str, int] = {}
        for cooldown in list(self.scheduler.cooldowns.values()):
            if cooldown.until > now:
                active[cooldown.model] = active.get(cooldown.model, 0) + 1
        cooldowns = GaugeMetricFamily(
            "agw_cooldowns_active",
            'Active cooldowns (account and model) by upstream model; "*" is a whole account.',
            labels=["model"],
        )
        for model, count in sorted(active.items()):
            cooldowns.add_metric([model], count)
        yield cooldowns

        quota = GaugeMetricFamily(
            "agw_quota_remaining_fraction",
            "The share (0..1) of an account's quota left for a model, as Google last reported it.",
            labels=["account", "model"],
        )
        accounts_by_id = dict(self.pool.accounts)
        for account_id, catalog in sorted(self.catalog.catalogs.items()):
            account = accounts_by_id.get(account_id)
            if account is None:
                continue
            for model in sorted(catalog.data.get("models") or {}):
                remaining = self.catalog.remaining(account_id, model)
                if remaining is not None:
                    quota.add_metric([account.email, model], remaining)
        yield quota


class Metrics:
    """The gateway's metrics; one per process, built in the app's lifespan."""

    def __init__(self, pool: AccountPool, scheduler: Scheduler, catalog: ModelCatalog) -> None:
        self.multiprocess = multiprocess_dir()
        if self.multiprocess and not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported: set it before the "
                "workers start (antigravity_gateway.metrics.prepare_multiprocess_dir)"
            )
        self.catalog = catalog
        self.state = StateCollector(pool, scheduler, catalog)
        # One process: a private registry. Several: the values go to files, merged at scrape time.
        self.registry = None if self.multiprocess else CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "agw_requests",
            "Client API requests by protocol, requested model, HTTP status and user key (its name; empty: "
            "the operator's key or none).",
            ["protocol", "model", "status", "key"],
            registry=registry,
        )
        self.attempts = Histogram(
            "agw_request_attempts",
            "Upstream attempts per request (requests that reached the upstream).",
            buckets=ATTEMPT_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "agw_request_duration_seconds",
            "Whole request duration (streams: until their last byte), by protocol.",
            ["protocol"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.first_event = Histogram(
            "agw_time_to_first_event_seconds",
            "Time from when the gateway starts on the upstream work to the first event of the answer, by protocol.",
            ["protocol"],
            buckets=FIRST_EVENT_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "agw_tokens",
            "Tokens by direction and requested model.",
            ["direction", "model"],
            registry=registry,
        )
        self.refreshes = Counter(
            "agw_token_refreshes", "Access-token refreshes by result.", ["result"], registry=registry
        )
        if registry is not None:
            registry.register(self.state)
        self._models: dict[str, str] = {}
        self._pending: list[RequestRecord] = []
        # labelled children, looked up here: ``labels()`` checks and locks on every call
        self._request_children: dict[tuple[str, str, int, str], Counter] = {}
        self._protocol_children: dict[str, tuple[Histogram, Histogram]] = {}
        self._token_children: dict[str, tuple[Counter, Counter, Counter]] = {}
        self._refreshed = (self.refreshes.labels("failed"), self.refreshes.labels("ok"))

    # -- observing --------------------------------------------------------------------------------

    def observe(self, record: RequestRecord) -> None:
        """Count one finished request (the request log calls it for every record). The record is only
        queued: :meth:`fold` counts the queue within :data:`FOLD_DELAY`, at a scrape or every
        :data:`FOLD_BATCH` records, in one update per time series."""
        pending = self._pending
        pending.append(record)
        if len(pending) == 1:
            try:
                asyncio.get_running_loop().call_later(FOLD_DELAY, self.fold)
            except RuntimeError:  # not on an event loop
                self.fold()
        elif len(pending) >= FOLD_BATCH:
            self.fold()

    def fold(self) -> None:
        """Count the queued records into the metrics (in multiprocess mode: into this process's files)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        requests: dict[tuple[str, str, int, str], int] = {}
        tokens: dict[str, list[int]] = {}
        by_protocol: dict[str, tuple[_Folded, _Folded]] = {}
        attempts = _Folded(self.attempts)
        models = self._models
        for record in batch:
            protocol = record.protocol
            model = models.get(record.model)
            if model is None:
                model = self._model_label(record)
            key = (protocol, model, record.status, record.key_name)  # key names only: never a secret
            requests[key] = requests.get(key, 0) + 1
            if record.attempts:
                attempts.add(record.attempts)
            folded = by_protocol.get(protocol)
            if folded is None:
                duration, first_event = self._protocol_child(protocol)
                folded = by_protocol[protocol] = (_Folded(duration), _Folded(first_event))
            folded[0].add(record.duration_ms / 1000)
            if record.ttfb_ms is not None:
                folded[1].add(record.ttfb_ms / 1000)
            if record.input_tokens or record.output_tokens or record.cached_tokens:
                counts = tokens.get(model)
                if counts is None:
                    counts = tokens[model] = [0, 0, 0]
                counts[0] += record.input_tokens
                counts[1] += record.output_tokens
                counts[2] += record.cached_tokens
        for key, count in requests.items():
            child = self._request_children.get(key)
            if child is None:
                protocol, model, status, key_name = key
                child = self._request_children[key] = self.requests.labels(
                    protocol, model, str(status), key_name
                )
            child.inc(count)
        attempts.apply()
        for folded_duration, folded_first_event in by_protocol.values():
            folded_duration.apply()
            folded_first_event.apply()
        for model, counts in tokens.items():
            children = self._token_children.get(model)
            if children is None:
                children = self._token_children[model] = (
                    self.tokens.labels("input", model),
                    self.tokens.labels("output", model),
                    self.tokens.labels("cached", model),
                )
            for child, count in zip(children, counts, strict=True):
                if count:
                    child.inc(count)

    def _protocol_child(self, protocol: str) -> tuple[Histogram, Histogram]:
        children = self._protocol_children.get(protocol)
        if children is None:
            children = self._protocol_children[protocol] = (
                self.duration.labels(protocol),
                self.first_event.labels(protocol),
            )
        return children

    def _model_label(self, record: RequestRecord) -> str:
        """The ``model`` label of a name not seen yet: a client may send any name, so a new one gets its
        own label only when it looks like a model name, is in the catalog or was served, and while fewer
        than :data:`MAX_MODEL_LABELS` are given out; else ``other``."""
        model = record.model
        if not model:
            return model  # the request named none, or failed before its model was read
        if (
            len(self._models) >= MAX_MODEL_LABELS
            or not _MODEL_NAME.fullmatch(model)
            or not (
                0 < record.status < 400
                or model in self.catalog.models
                or record.upstream_model in self.catalog.models
            )
        ):
            return OTHER_MODEL
        self._models[model] = model
        return model

    def token_refreshed(self, ok: bool) -> None:
        """``AccountPool.on_refresh``: one refresh of an access token ended."""
        self._refreshed[ok].inc()

    # -- exposition -------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text exposition format of every metric (all workers' counters in multiprocess mode)."""
        self.fold()
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, self.multiprocess)  # type: ignore[no-untyped-call]
        registry.register(self.state)
        return generate_latest(registry)


class _Folded:
    """Observations of one histogram (its labelled child) over a batch, applied in one update per
    bucket. prometheus_client has no call for that; this uses the child's buckets and sum as its own
    ``observe`` does (a test compares the two)."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Histogram) -> None:
        self.child = child
        self.bounds = child._upper_bounds
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket with value <= bound
        self.total += value

    def apply(self) -> None:
        if not any(self.counts):
            return
        self.child._sum.inc(self.total)
        for bucket, count in zip(self.child._buckets, self.counts, strict=True):
            if count:
                bucket.inc(count)
