"""The metrics module: several ``agw serve`` processes sharing their counters through
``PROMETHEUS_MULTIPROC_DIR`` (real processes), the supervisor's helpers, batched counting, bounded labels."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest, values
from prometheus_client.parser import text_string_to_metric_families

from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.metrics import (
    DURATION_BUCKETS,
    FOLD_DELAY,
    MAX_MODEL_LABELS,
    MULTIPROC_ENV,
    Metrics,
    _Folded,
    mark_process_dead,
    prepare_multiprocess_dir,
)
from antigravity_gateway.store.base import RequestRecord
from tests.conftest import add_accounts, emulator_env, free_port, make_account, make_settings

GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"


def _requests_total(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["protocol"], s.labels["model"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "agw_requests_total"
    }


def _stand_ins(models: dict[str, Any] | None = None) -> tuple[Any, Any, Any]:
    """A pool, scheduler and catalog with nothing in them (the gauges are tested on a real gateway)."""
    catalog = SimpleNamespace(models=models or {}, catalogs={}, remaining=lambda account, model: None)
    return SimpleNamespace(accounts={}), SimpleNamespace(cooldowns={}), catalog


# -- several processes --------------------------------------------------------------------------------------


class Served:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.process.communicate()[0]
            assert time.monotonic() < deadline, "the gateway did not start in 60 s"
            time.sleep(0.1)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.communicate(timeout=30)[0]


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test process as the supervisor: prepare_multiprocess_dir changes its environment and
    prometheus_client's value class; both are put back afterwards."""
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setenv(MULTIPROC_ENV, "")
    yield


def test_a_scrape_of_any_worker_sees_the_counts_of_all(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer, supervised: None
) -> None:
    home = tmp_path / "home"
    emulator.add_account(make_account("alice@example.com"))
    asyncio.run(add_accounts(make_settings(home, emulator_server), ["1//alice"]))
    shared = tmp_path / "prometheus"
    shared.mkdir()
    (shared / "counter_4242.db").write_bytes(b"left by an earlier run")
    prepare_multiprocess_dir(shared)
    assert os.environ[MULTIPROC_ENV] == str(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700 and list(shared.iterdir()) == []

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
    env = {**base_env, **emulator_env(emulator_server, home), "HOME": str(tmp_path)}
    workers = [Served(env), Served(env)]
    try:
        for worker in workers:
            worker.wait_ready()
        for worker, count in zip(workers, (2, 3), strict=True):
            for i in range(count):
                body = {"contents": [{"role": "user", "parts": [{"text": f"question {i}"}]}]}
                assert httpx.post(f"{worker.base}{GEMINI}", json=body, timeout=30).status_code == 200
        key = ("gemini", "gemini-2.5-flash", "200")
        deadline = time.monotonic() + 10 * FOLD_DELAY + 5
        for worker in workers:
            while True:  # a worker counts its requests within FOLD_DELAY, the other's within theirs
                totals = _requests_total(httpx.get(f"{worker.base}/metrics").text)
                if totals.get(key) == 5 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert totals == {key: 5}
        assert {p.name.split("_")[0] for p in shared.iterdir()} >= {"counter", "histogram"}

        second = workers[1]
        assert second.stop()  # its counts stay: counters never go down
        mark_process_dead(second.process.pid)
        assert _requests_total(httpx.get(f"{workers[0].base}/metrics").text) == {key: 5}
    finally:
        output = "".join(worker.stop() for worker in workers)
    assert "Traceback" not in output


def test_set_after_prometheus_client_was_imported_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process imported prometheus_client without the variable: its values are not shared."""
    monkeypatch.setenv(MULTIPROC_ENV, "/nonexistent")
    with pytest.raises(RuntimeError, match="prepare_multiprocess_dir"):
        Metrics(*_stand_ins())


def test_without_the_variable_the_registry_is_private() -> None:
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)
    first, second = Metrics(*_stand_ins()), Metrics(*_stand_ins())  # no clash: nothing global
    first.observe(RequestRecord(protocol="openai", model="m", status=200))
    assert _requests_total(first.exposition().decode()) == {("openai", "m", "200"): 1}
    assert _requests_total(second.exposition().decode()) == {}
    assert set(REGISTRY._names_to_collectors) == before


# -- counting -----------------------------------------------------------------------------------------------


def _without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


def test_a_folded_histogram_equals_one_observed_value_by_value() -> None:
    amounts = [0.0, 0.05, 0.051, 1.0, 2.4, 2.5, 7, 599.9, 600, 601, 10_000, -1]
    observed_registry, folded_registry = CollectorRegistry(), CollectorRegistry()
    observed = Histogram("h", "h", ["p"], buckets=DURATION_BUCKETS, registry=observed_registry)
    folded_histogram = Histogram("h", "h", ["p"], buckets=DURATION_BUCKETS, registry=folded_registry)
    for amount in amounts:
        observed.labels("x").observe(amount)
    folded = _Folded(folded_histogram.labels("x"))
    for amount in amounts:
        folded.add(amount)
    folded.apply()
    assert _without_created(generate_latest(folded_registry)) == _without_created(
        generate_latest(observed_registry)
    )


def test_records_are_counted_within_the_fold_delay_on_an_event_loop() -> None:
    metrics = Metrics(*_stand_ins())

    async def run() -> tuple[int, int]:
        for status in (200, 200, 500):
            metrics.observe(RequestRecord(protocol="gemini", model="m", status=status))
        queued = len(metrics._pending)
        await asyncio.sleep(FOLD_DELAY + 0.2)
        return queued, len(metrics._pending)

    assert asyncio.run(run()) == (3, 0)
    assert _requests_total(metrics.exposition().decode()) == {
        ("gemini", "m", "200"): 2,
        ("gemini", "m", "500"): 1,
    }


def test_model_labels_are_bounded() -> None:
    metrics = Metrics(*_stand_ins(models={"known-model": {}}))
    records = [
        RequestRecord(protocol="openai", model="known-model", status=429),  # in the catalog: its own label
        RequestRecord(protocol="openai", model="served-model", status=200),  # served: its own label
        RequestRecord(protocol="openai", model="never-served", status=404),
        RequestRecord(protocol="openai", model="bad\nname", status=200),
        RequestRecord(protocol="openai", model="", status=400),
    ]
    records += [RequestRecord(protocol="openai", model=f"m{i}", status=200) for i in range(MAX_MODEL_LABELS)]
    for record in records:
        metrics.observe(record)
    totals = _requests_total(metrics.exposition().decode())
    assert totals[("openai", "known-model", "429")] == 1
    assert totals[("openai", "served-model", "200")] == 1
    assert totals[("openai", "other", "404")] == 1
    assert totals[("openai", "", "400")] == 1
    models = {model for (_, model, _) in totals}
    assert len(models - {"", "other"}) == MAX_MODEL_LABELS
    assert totals[("openai", "other", "200")] == 1 + 2  # the bad name and the two over the limit
