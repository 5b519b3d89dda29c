"""``agw serve --workers 2`` as a user starts it: one port, two worker processes, against the emulator.

Requests go over new connections (no keep-alive) so that the kernel spreads them over the workers;
``/healthz`` tells which worker answered. Everything waits on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

import httpx2 as httpx
import pytest
from click.testing import CliRunner

from antigravity_gateway.app import build_app
from antigravity_gateway.cli import main
from antigravity_gateway.emulator import Emulator, EmulatorServer
from antigravity_gateway.settings import Settings, cpu_count, resolve_workers
from antigravity_gateway.workers import Supervisor, bind_socket
from tests.conftest import emulator_env, free_port, make_account, make_settings
from tests.served import add_accounts

psutil = pytest.importorskip("psutil", reason="psutil not installed")

DEADLINE = 30.0
T = TypeVar("T")


def _until(condition: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


class Served:
    """A running ``agw serve --workers N``: its parent process, its address and its log file."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def fresh(self) -> httpx.Client:
        """A client that opens a new connection for every request."""
        return httpx.Client(base_url=self.base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    def worker(self) -> dict[str, int]:
        with self.fresh() as client:
            health = client.get("/healthz")
        assert health.status_code == 200, health.text
        worker: dict[str, int] = health.json()["worker"]
        return worker

    def workers_seen(self, count: int) -> dict[int, int]:
        """pid -> index of the workers that answered ``count`` /healthz requests."""
        return {w["pid"]: w["index"] for w in (self.worker() for _ in range(count))}

    def children(self) -> list[psutil.Process]:
        return list(psutil.Process(self.process.pid).children(recursive=True))


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer) -> dict[str, str]:
    emulator.add_account(make_account("alice@example.com"))
    values = {**os.environ, **emulator_env(emulator_server, tmp_path / "home")}
    add_accounts(values, "alice")
    return values


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        _until(
            lambda: process.poll() is not None or "2 workers serving" in served.output(),
            "agw serve --workers 2 started",
        )
        assert process.poll() is None, served.output()
        yield served
    finally:
        children = served.children() if process.poll() is None else []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=10)
        for leftover in alive:
            leftover.kill()
        assert not alive, f"processes left after the gateway stopped: {alive}"


def _chat(client: httpx.Client, text: str) -> str:
    answer = client.post(
        "/v1/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}]},
    )
    assert answer.status_code == 200, answer.text
    content: str = answer.json()["choices"][0]["message"]["content"]
    return content


def test_two_workers_answer_on_one_port_and_every_answer_is_right(served: Served) -> None:
    assert "2 workers" in served.output()  # the banner
    seen: dict[int, int] = {}
    with served.fresh() as client:
        for i in range(60):
            assert _chat(client, f"question {i}") == f"[gemini-2.5-flash] alice@example.com: question {i}"
            seen.update(served.workers_seen(1))
            if len(seen) == 2 and i >= 20:
                break
    assert sorted(seen.values()) == [0, 1], seen
    workers = {p.pid for p in served.children() if p.pid in seen}
    assert workers == set(seen), "the pids /healthz names are the parent's children"


def test_the_request_log_has_every_workers_requests(served: Served) -> None:
    count = 40
    seen: dict[int, int] = {}
    with served.fresh() as client:
        for i in range(count):
            _chat(client, f"logged {i}")
            seen.update(served.workers_seen(1))
    assert len(seen) == 2, "the requests all went to one worker"

    def logged() -> list[dict[str, object]] | None:
        with served.fresh() as client:
            items: list[dict[str, object]] = client.get("/api/logs", params={"limit": 1000}).json()["items"]
        chats = [r for r in items if r["path"] == "/v1/chat/completions"]
        return chats if len(chats) >= count else None

    chats = _until(logged, f"{count} chat requests in the request log")  # each worker writes every 0.5 s
    assert len(chats) == count and all(r["status"] == 200 for r in chats)
    with served.fresh() as client:
        stats = client.get("/api/stats", params={"hours": 1}).json()
    assert sum(b["requests"] for b in stats["series"]) == count


def test_metrics_add_up_every_workers_requests(served: Served) -> None:
    """One scrape, whichever worker answers it, counts the requests of both (Prometheus multiprocess
    mode, the directory set up by the parent)."""
    from prometheus_client.parser import text_string_to_metric_families

    count = 30
    seen: dict[int, int] = {}
    with served.fresh() as client:
        for i in range(count):
            _chat(client, f"counted {i}")
            seen.update(served.workers_seen(1))
    assert len(seen) == 2, "the requests all went to one worker"

    def counted() -> float | None:
        with served.fresh() as client:
            text = client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            if family.name == "agw_requests":
                total = sum(
                    s.value
                    for s in family.samples
                    if s.name == "agw_requests_total" and s.labels.get("protocol") == "openai"
                )
                return total if total >= count else None
        return None

    # each worker counts its queue within half a second: wait for both
    assert _until(counted, f"{count} requests counted by /metrics") == count


def test_a_killed_worker_is_replaced_and_requests_keep_succeeding(served: Served) -> None:
    def both() -> dict[int, int] | None:
        seen = served.workers_seen(8)
        return seen if len(seen) == 2 else None

    first = _until(both, "both workers answer")
    victim = next(pid for pid, index in first.items() if index == 1)
    os.kill(victim, signal.SIGKILL)
    with served.fresh() as client:
        for i in range(20):  # served by the other worker meanwhile
            assert _chat(client, f"after {i}").endswith(f": after {i}")
    replaced = _until(
        lambda: next((w for w in [served.worker()] if w["pid"] not in first), None), "a new worker answers"
    )
    assert replaced["index"] == 1
    assert f"worker 1 (pid {victim}) died (killed by SIGKILL): starting a new one" in served.output()
    with served.fresh() as client:
        for i in range(10):
            assert _chat(client, f"later {i}").endswith(f": later {i}")


def test_sigterm_lets_a_slow_stream_finish_then_the_parent_exits_0(
    served: Served, emulator: Emulator
) -> None:
    emulator.chunk_delay = 0.6  # 4 events: about 2 s, within uvicorn's 5 s of graceful shutdown
    children = served.children()
    assert len([p for p in children if "spawn_main" in " ".join(p.cmdline())]) == 2
    events: list[bytes] = []
    first = threading.Event()
    failure: list[BaseException] = []

    def stream() -> None:
        try:
            with (
                httpx.Client(base_url=served.base, timeout=30) as client,
                client.stream(
                    "POST",
                    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                    json={"contents": [{"role": "user", "parts": [{"text": "a slow stream"}]}]},
                ) as answer,
            ):
                assert answer.status_code == 200
                for line in answer.iter_lines():
                    if line.startswith("data: "):
                        events.append(line.encode())
                        first.set()
        except BaseException as exc:
            failure.append(exc)
        finally:
            first.set()

    reader = threading.Thread(target=stream)
    reader.start()
    assert first.wait(DEADLINE), "no first event"
    before = len(events)
    served.process.send_signal(signal.SIGTERM)
    reader.join(DEADLINE)
    assert not reader.is_alive() and not failure, failure
    assert len(events) > before, "the stream was over before SIGTERM: not a test of draining"
    assert b'"finishReason":"STOP"' in events[-1]
    assert served.process.wait(timeout=DEADLINE) == 0, served.output()
    _, alive = psutil.wait_procs(children, timeout=DEADLINE)
    assert not alive, f"left running: {alive}"
    assert "received SIGTERM: stopping the workers" in served.output()


def test_auto_is_one_worker_per_core_and_bad_values_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_workers("auto") == resolve_workers(" AUTO ") == cpu_count() == cores
    assert resolve_workers("3") == resolve_workers(3) == 3
    for bad in (0, -1, "0", "-2", "two", "", "1.5", 1.5, True, None):
        with pytest.raises(ValueError, match="whole number of at least 1, or auto"):
            resolve_workers(bad)
    monkeypatch.setenv("AGW_HOME", str(tmp_path / "home"))
    for bad in ("0", "garbage"):
        result = CliRunner().invoke(main, ["serve", "--workers", bad])
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and "workers" in result.stderr and "auto" in result.stderr
        assert result.stdout == ""  # refused before the banner
    monkeypatch.setenv("AGW_WORKERS", "none")
    assert CliRunner().invoke(main, ["serve"]).exit_code == 1


def _fails_at_start(settings: Settings, index: int, sock: socket.socket, ready: Connection) -> None:
    """A worker whose start-up fails (as uvicorn exits when the app's lifespan fails)."""
    raise SystemExit(3)


def test_a_worker_that_cannot_start_stops_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", port=0, workers=2)
    with bind_socket(settings) as sock:
        ok = Supervisor(settings, sock, target=_fails_at_start).run()
    assert ok is False
    assert "could not start (exit status 3): stopping the gateway" in caplog.text


def _hangs_once(settings: Settings, index: int, sock: socket.socket, ready: Connection) -> None:
    """A worker that says it serves, then never reports again (a stuck event loop); started again, it
    fails at start-up, which ends the supervisor's run."""
    marker = settings.home / f"hung-{index}"
    if marker.exists():
        raise SystemExit(4)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    ready.send(True)
    time.sleep(3600)


def test_a_stuck_worker_is_killed_and_started_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from antigravity_gateway import workers

    monkeypatch.setattr(workers, "HANG_TIMEOUT", 1.0)
    settings = Settings(home=tmp_path / "home", port=0, workers=1)
    started = time.monotonic()
    with bind_socket(settings) as sock:
        ok = Supervisor(settings, sock, target=_hangs_once).run()
    assert ok is False  # the second start fails on purpose (see _hangs_once)
    assert (
        "worker 0" in caplog.text
        and "did not answer for 1 s (its event loop is stuck): killed" in caplog.text
    )
    assert "died (killed by SIGKILL): starting a new one" in caplog.text
    assert "could not start (exit status 4)" in caplog.text
    assert time.monotonic() - started < DEADLINE


async def test_only_worker_0_refreshes_the_catalogs_and_prunes_the_request_log(
    tmp_path: Path, emulator: Emulator, emulator_server: EmulatorServer
) -> None:
    settings = make_settings(tmp_path / "home", emulator_server)
    for index in (0, 1):
        app = build_app(settings, worker=index)
        async with app.router.lifespan_context(app):
            jobs = {task.get_name() for task in asyncio.all_tasks()}
            assert ("agw-model-catalog" in jobs) is (index == 0)
            assert "agw-sync" in jobs and "agw-request-log" in jobs
            assert app.state.request_logger.prune is (index == 0)
            assert app.state.worker == {"pid": os.getpid(), "index": index}


def test_workers_stop_when_their_parent_is_killed(served: Served) -> None:
    children = served.children()  # the workers, and multiprocessing's resource tracker
    assert len([p for p in children if "spawn_main" in " ".join(p.cmdline())]) == 2
    served.process.kill()
    served.process.wait(timeout=DEADLINE)
    _, alive = psutil.wait_procs(children, timeout=DEADLINE)  # each notices within a second, then drains
    assert not alive, f"outlived their parent: {alive}"
