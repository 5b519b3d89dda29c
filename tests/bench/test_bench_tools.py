"""Smoke test of the benchmark's own tools (``bench/``), not of the gateway's speed.

The C load generator must frame Content-Length and chunked answers right and count every answer that
is not what was expected; the fast stand-in must answer the recorded bytes and refuse a wrong token;
the live-streams client must read the stand-in's paced, stamped events and check every stream.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TOKEN = "ya29.smoke-token"
ANSWER = orjson.dumps({"response": {"candidates": [{"finishReason": "STOP"}]}, "traceId": "t"})
EVENTS = [b'data: {"response":{"n":%d}}\r\n\r\n' % i for i in range(3)]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="the load generator is compiled with gcc")


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("loadgen") / "loadgen"
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-Werror", "-o", str(exe), str(BENCH / "loadgen.c")], check=True, timeout=120
    )
    return exe


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    def answer(body: bytes) -> dict[str, Any]:
        return {
            "status": 200,
            "content_type": "application/json",
            "body_b64": base64.b64encode(body).decode(),
        }

    config = {
        "token": TOKEN,
        "chunk_delay": 0.001,
        "answers": {"token": answer(b"{}"), "userinfo": answer(b"{}"), "generateContent": answer(ANSWER)},
        "events_b64": [base64.b64encode(e).decode() for e in EVENTS],
        "live_events": 5,
        "live_interval": 0.005,
    }
    path = tmp_path_factory.mktemp("fast") / "fast.json"
    path.write_bytes(orjson.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "fast_upstream.py"), str(path)], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        yield int(url.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def run(loadgen: Path, tmp_path: Path, port: int, path: str, token: str, *checks: str) -> dict[str, Any]:
    body = b'{"model":"m"}'
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    (tmp_path / "req.http").write_bytes(request)
    done = subprocess.run(
        [
            str(loadgen),
            "-p",
            str(port),
            "-c",
            "2",
            "-w",
            "0.05",
            "-d",
            "0.3",
            "-f",
            str(tmp_path / "req.http"),
            *checks,
        ],
        capture_output=True,
        timeout=30,
    )
    lines = done.stdout.decode().split("\n")
    assert lines[:2] == ["START", "END"], done.stdout
    result: dict[str, Any] = json.loads(lines[2])
    return result


def test_content_length_answers_are_framed_and_checked(loadgen: Path, upstream: int, tmp_path: Path) -> None:
    ok = run(
        loadgen,
        tmp_path,
        upstream,
        "/daily/v1internal:generateContent",
        TOKEN,
        "-m",
        '"finishReason":"STOP"',
        "-b",
        str(len(ANSWER)),
        "-B",
        str(len(ANSWER)),
    )
    assert ok["completed"] > 10
    assert ok["errors"] == ok["non2xx"] == ok["bad_body"] == 0
    assert 0 < ok["lat_p50_us"] <= ok["lat_p99_us"]

    wrong = run(
        loadgen, tmp_path, upstream, "/daily/v1internal:generateContent", TOKEN, "-m", "not in the body"
    )
    assert wrong["bad_body"] == wrong["answers_total"] > 0


def test_chunked_streams_are_framed_and_events_counted(loadgen: Path, upstream: int, tmp_path: Path) -> None:
    path = "/daily/v1internal:streamGenerateContent?alt=sse"
    ok = run(
        loadgen, tmp_path, upstream, path, TOKEN, "-n", str(len(EVENTS)), "-b", str(len(b"".join(EVENTS)))
    )
    assert ok["completed"] > 5
    assert ok["errors"] == ok["non2xx"] == ok["bad_body"] == 0
    assert ok["ttfb_p50_us"] < ok["lat_p50_us"]  # the first event comes before the last (1 ms apart)

    wrong = run(loadgen, tmp_path, upstream, path, TOKEN, "-n", str(len(EVENTS) + 1))
    assert wrong["bad_body"] == wrong["answers_total"] > 0


def test_a_wrong_token_is_counted_as_non2xx(loadgen: Path, upstream: int, tmp_path: Path) -> None:
    refused = run(loadgen, tmp_path, upstream, "/daily/v1internal:generateContent", "ya29.wrong")
    assert refused["non2xx"] == refused["answers_total"] > 0
    assert refused["errors"] == 0


def test_run_options() -> None:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["bench_run"]
    quick = module.parse_args(["--quick"])
    assert (quick.rounds, quick.warmup, quick.duration) == (3, 0.2, 0.5)
    full = module.parse_args([])
    assert (full.rounds, full.warmup, full.duration, full.conns) == (3, 1.0, 4.0, 64)
    # --workers N: the gateways under test as `agw serve --workers N`, on both cores instead of CPU 1
    assert full.workers == 1 and module.gateway_cores(1) == (1,)
    assert module.parse_args(["--workers", "2"]).workers == 2 and module.gateway_cores(2) == (0, 1)
    both = module.parse_args(["--workers", "1,2"])  # both in the same interleaved rounds
    assert (both.workers, both.worker_counts) == (1, [1, 2])
    for bad in ("0", "two", "2,2"):
        with pytest.raises(SystemExit):
            module.parse_args(["--workers", bad])
    assert "CPU 1" in module.gateway_placement(1) and "CPUs 0 and 1" in module.gateway_placement(2)
    # a gateway's CPU is its own and its workers': the process tree, read from /proc
    assert os.getpid() in module.descendants(os.getppid())
    ticks = {0: (0, 0), 1: (0, 0)}
    later = {0: (module.CLK_TCK, 0), 1: (module.CLK_TCK // 2, 0)}  # 1 s and 0.5 s busy
    pinned = {"gw": (1, (1,)), "up": (2, (0,))}
    assert module.foreign_load(pinned, {"gw": 0.5, "up": 0.5}, ticks, later, 1.0) == {0: 0.5, 1: 0.0}
    spread = {"gw": (1, (0, 1)), "up": (2, (0,))}
    assert module.foreign_load(spread, {"gw": 1.0, "up": 0.2}, ticks, later, 1.0) == pytest.approx(
        {0: 0.15, 1: 0.15}
    )


def live(tmp_path: Path, port: int, events: int) -> dict[str, Any]:
    body = b'{"request": {"contents": [{"parts": [{"text": "LIVE-STREAM"}]}]}}'
    request = (
        f"POST /daily/v1internal:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    (tmp_path / "live.http").write_bytes(request)
    done = subprocess.run(
        [sys.executable, str(BENCH / "live.py"), "-p", str(port), "-f", str(tmp_path / "live.http")]
        + ["-c", "3", "-n", str(events), "-m", '"finishReason": "STOP"', "-w", "0.1", "-d", "0.4"]
        + ["--ramp", "0.05"],
        capture_output=True,
        timeout=30,
    )
    lines = done.stdout.decode().split("\n")
    assert lines[:2] == ["START", "END"], done.stdout + done.stderr
    result: dict[str, Any] = json.loads(lines[2])
    return result


def test_live_streams_are_paced_stamped_and_checked(upstream: int, tmp_path: Path) -> None:
    good = live(tmp_path, upstream, 5)
    assert good["errors"] == good["non2xx"] == good["bad_body"] == 0
    # Events are counted inside the window: each of the 3 streams running when it opened may complete in it
    # with up to 4 of its 5 events received before it.
    assert good["completed"] > 0 and good["events"] >= 5 * good["completed"] - 3 * 4
    assert 0 <= good["delay_p50_ms"] <= good["delay_max_ms"] < 1000
    wrong = live(tmp_path, upstream, 4)  # a stream with another number of events is counted as bad
    assert wrong["bad_body"] > 0 and wrong["completed"] == 0
