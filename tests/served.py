"""A real ``agw serve`` process on a free loopback port, for tests that run the gateway as a user does."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx2 as httpx

from antigravity_gateway.emulator import Emulator
from tests.conftest import free_port

T = TypeVar("T")


class Served:
    def __init__(self, base: str, process: subprocess.Popen[str]) -> None:
        self.base, self.process, self._output = base, process, None

    def stop(self) -> str:
        """Stop the gateway (Ctrl-C) and return everything it printed."""
        if self._output is None:
            self.process.send_signal(signal.SIGINT)
            self._output = self.process.communicate(timeout=20)[0]
        return self._output


@contextlib.contextmanager
def serve(env: dict[str, str], *args: str) -> Iterator[Served]:
    """``agw serve`` with ``env`` and ``args`` until the block ends (then stopped with Ctrl-C)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "antigravity_gateway", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    served = Served(base, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "agw serve did not start in 30 s"
                time.sleep(0.05)
        yield served
    finally:
        served.stop()


def agw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """An ``agw`` command as a user runs it, with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def add_accounts(env: dict[str, str], *names: str) -> None:
    """``agw accounts add --refresh-token 1//<name>`` for each emulated account ``<name>@example.com``."""
    for name in names:
        added = agw(env, "accounts", "add", "--refresh-token", f"1//{name}")
        assert added.returncode == 0, added.stdout + added.stderr


def mixed_traffic(
    bases: list[str], path: str, seconds: float, during: Callable[[], T]
) -> tuple[Counter[tuple[int, int]], T]:
    """Six clients sending ``generateContent`` to the gateways at ``bases`` in turn for ``seconds``,
    while ``during()`` runs: the count of (gateway index, status) and what ``during`` returned."""
    statuses: Counter[tuple[int, int]] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def traffic(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while time.monotonic() < stop:
                which = (worker + i) % len(bases)
                answer = client.post(
                    bases[which] + path,
                    json={"contents": [{"role": "user", "parts": [{"text": f"question {worker}-{i}"}]}]},
                )
                with lock:
                    statuses[which, answer.status_code] += 1
                i += 1

    with ThreadPoolExecutor(6) as pool:
        runs = [pool.submit(traffic, w) for w in range(6)]
        result = during()
        for run in runs:
            run.result()
    return statuses, result


def assert_refreshes_were_shared(
    emulator: Emulator, statuses: Counter[tuple[int, int]], seconds: float, accounts: int = 2
) -> None:
    """Every request of :func:`mixed_traffic` answered on every gateway; no refresh token sent twice or
    refused; about one refresh per account per 1.5 s (2-second tokens refreshed a quarter of their life
    before expiry), shared by all (before issue 10: one per request, thousands)."""
    assert {status for (_, status) in statuses} == {200}, statuses
    assert all(statuses[i, 200] > 20 for i in {i for (i, _) in statuses}), statuses
    token_calls = [r for r in emulator.requests if r.method == "token"]
    sent = [r.body["refresh_token"] for r in token_calls]
    assert [t for t, n in Counter(sent).items() if n > 1] == [], "a refresh token was sent twice"
    assert all(r.status == 200 for r in token_calls), [r.status for r in token_calls]
    assert accounts <= len(token_calls) <= accounts * (seconds / 1.5 + 3), len(token_calls)
