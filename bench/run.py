"""Gateway vs direct-to-upstream benchmark: throughput, latency, stream time-to-first-event, CPU.

Usage::

    python bench/run.py              # full run: 3 interleaved rounds, 1 s warm-up + 4 s per cell (~4.5 min)
    python bench/run.py --quick      # 3 rounds, 0.2 s + 0.5 s per cell (< 1 min)
    python bench/run.py --help

What it starts (every process on 127.0.0.1, each in its own session, all stopped on exit or Ctrl-C):

* the project's emulator of Google (``bench/emulator_proc.py``: ``antigravity_gateway.emulator`` on uvloop)
  on CPU 0;
* a fast stand-in upstream (``bench/fast_upstream.py``: asyncio.Protocol + httptools) on CPU 0, answering
  with the bytes recorded from the emulator, so that the gateway's own ceiling is visible;
* two gateways (``agw serve``: uvicorn + uvloop + httptools, one process each) on CPU 1, one pointed at
  the emulator, one at the fast stand-in, each with its own ``AGW_HOME`` and the demo account; with
  ``--workers N`` (N > 1) each is ``agw serve --workers N`` on both CPUs;
* the C load generator ``bench/loadgen.c`` (compiled with gcc at start): on CPU 0 next to the upstream
  for gateway rows, on CPU 1 (the gateways are idle then) for direct rows;
* with ``--redis`` (the default when ``redis-server`` is installed): a ``redis-server`` on CPU 0 and a
  third gateway on CPU 1 whose pool is in it (``AGW_REDIS_URL``), pointed at the fast stand-in, for the
  non-streaming cells: the Redis backend's CPU per request next to the SQLite default's.

Cells: JSON ``generateContent`` at 1 and ``--conns`` connections, SSE ``streamGenerateContent`` at 1 and
``--conns`` connections; each for gateway->emulator, direct->emulator, gateway->fast, direct->fast;
all cells run once per round, rounds interleaved, medians reported with min-max.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODEL = "gemini-2.5-flash"
ENDPOINT = "daily"
DEMO_CLIENT_ID = "demo-client.apps.example"
DEMO_CLIENT_SECRET = "demo-secret"
DEMO_REFRESH_TOKEN = "1//demo-refresh-token"
FAST_TOKEN = "ya29.bench-fast-standin-token"
LOAD_METADATA = {"ideType": "ANTIGRAVITY", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
GW_CPU, UP_CPU = 1, 0

TARGET_ADDED_P50_MS = 0.5
TARGET_RPS = 5000.0
# stream targets (issue 13), the gateway on one core
TARGET_STREAM_US = 300.0  # CPU per 9-event stream at --conns streams
TARGET_EVENT_US = 35.0
TARGET_STREAM_RATIO = 0.8  # streams/s against the upstream's own
TARGET_STREAM_TTFE_MS = 5.0  # added TTFE p50 at --conns streams
TARGET_STREAM_TTFE_1_MS = 0.5
TARGET_STREAM_1_US = 400.0
TARGET_TRANSLATED_RATIO = 1.5  # OpenAI / Anthropic CPU per event against the Gemini-native one
TARGET_LIVE_STREAMS = 1000  # live streams on one core ...
TARGET_LIVE_DELAY_MS = 50.0  # ... with no event delayed more than this ...
TARGET_LIVE_RSS_MB = 150.0  # ... and the gateway's RSS at most this
TARGET_REDIS_EXTRA = 0.20  # the Redis store costs at most this much more gateway CPU per request (issue 10)
# agw serve --workers 2 on the 2 cores it shares with the load generator and the upstream (issue 10)
TARGET_WORKERS_RATIO = 1.4


class BenchError(RuntimeError):
    pass


# -- processes -------------------------------------------------------------------------------------


class Processes:
    """Every process the benchmark starts; :meth:`stop_all` ends them (by their own process group)."""

    def __init__(self, nice: int = 0) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.nice = nice

    def start(
        self,
        name: str,
        cmd: list[str],
        *,
        cpu: int | str,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        stdout_pipe: bool = False,
    ) -> subprocess.Popen[bytes]:
        out: Any = subprocess.PIPE if stdout_pipe else (open(log, "ab") if log else subprocess.DEVNULL)
        err: Any = open(log, "ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen(
            [*nice_prefix(self.nice), "taskset", "-c", str(cpu), *cmd],
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[Any]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def stop_all(self) -> None:
        while self.procs:
            _, proc = self.procs.pop()
            self.stop(proc)

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with status {proc.returncode}")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill a measuring client's process group if it still runs, and close its pipes."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def read_line(proc: subprocess.Popen[bytes], timeout: float, what: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{what}: no output within {timeout:.0f}s")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            byte = os.read(proc.stdout.fileno(), 1)
            if not byte:
                raise BenchError(f"{what}: exited (status {proc.poll()}) before printing a line")
            buf += byte
    return buf.decode().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """``pid``'s children, their children, ... (``agw serve --workers N``: the workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children.get(child, [])
    return out


def tree_cpu_seconds(pid: int, tree: list[int]) -> float:
    """CPU of ``pid`` and of the processes of ``tree`` still running (a gateway and its workers)."""
    total = cpu_seconds(pid)
    for child in tree:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(child)
    return total


def foreign_load(
    ours: dict[str, tuple[int, tuple[int, ...]]],
    used: dict[str, float],
    cores0: dict[int, tuple[int, int]],
    cores1: dict[int, tuple[int, int]],
    window: float,
) -> dict[int, float]:
    """Per core, the share of it other processes used: busy time less ours. A process allowed on both
    cores (the gateway's workers) cannot be split by core: then both cores are counted together and
    the rest is shared equally between them."""
    if window <= 0:
        return {UP_CPU: 0.0, GW_CPU: 0.0}

    def busy(core: int) -> float:
        return (cores1[core][0] - cores0[core][0] + cores1[core][1] - cores0[core][1]) / CLK_TCK

    if any(len(cores) > 1 for _, cores in ours.values()):
        rest = busy(UP_CPU) + busy(GW_CPU) - sum(used.values())
        return {UP_CPU: max(0.0, rest) / 2 / window, GW_CPU: max(0.0, rest) / 2 / window}
    foreign: dict[int, float] = {}
    for core in (UP_CPU, GW_CPU):
        mine = sum(used[name] for name, (_, cores) in ours.items() if cores == (core,))
        foreign[core] = max(0.0, busy(core) - mine) / window
    return foreign


def core_ticks() -> dict[int, tuple[int, int]]:
    """Per CPU: (user + nice + system ticks, steal ticks) from /proc/stat."""
    out: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in vals]
                out[int(name[3:])] = (v[0] + v[1] + v[2], v[7] if len(v) > 7 else 0)
    return out


# -- plain HTTP for set-up and verification ---------------------------------------------------------


def http_call(
    url: str,
    method: str = "GET",
    path: str = "/",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def expect_ok(what: str, status: int, data: bytes) -> bytes:
    if status != 200:
        raise BenchError(f"{what}: HTTP {status}: {data[:300]!r}")
    return data


def sse_events(data: bytes) -> list[bytes]:
    """Split an SSE body into its events (each with its trailing blank line, as sent)."""
    events: list[bytes] = []
    rest = data
    while rest:
        for sep in (b"\r\n\r\n", b"\n\n"):
            i = rest.find(sep)
            if i >= 0:
                events.append(rest[: i + len(sep)])
                rest = rest[i + len(sep) :]
                break
        else:
            raise BenchError(f"SSE body does not end with a blank line: {rest[-80:]!r}")
    return events


def event_json(event: bytes) -> Any:
    line = event.strip()
    if not line.startswith(b"data: "):
        raise BenchError(f"not a data event: {line[:80]!r}")
    return orjson.loads(line[6:])


def answer_text(response: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in response["candidates"][0]["content"]["parts"])


#: The translated stream kinds: client path and body (besides the prompt) per API.
TRANSLATED = {
    "openai": ("/v1/chat/completions", {"model": MODEL, "stream": True}),
    "anthropic": ("/v1/messages", {"model": MODEL, "stream": True, "max_tokens": 1024}),
}
STREAM_KINDS = ("sse", "openai", "anthropic")


def translated_body(kind: str, prompt: str) -> bytes:
    _, extra = TRANSLATED[kind]
    return orjson.dumps({**extra, "messages": [{"role": "user", "content": prompt}]})


def verify_translated(kind: str, data: bytes, expected_text: str, what: str) -> int:
    """Check a chat-completions or messages stream says the emulator's text and ends as it should;
    the number of ``data: `` events."""
    texts: list[str] = []
    count = 0
    for event in sse_events(data):
        line = next((x for x in event.split(b"\n") if x.startswith(b"data: ")), None)
        if line is None:
            raise BenchError(f"{what}: an event without data: {event[:80]!r}")
        count += 1
        if line.strip() == b"data: [DONE]":
            continue
        payload = orjson.loads(line[6:])
        if kind == "openai":
            for choice in payload.get("choices", []):
                texts.append(choice.get("delta", {}).get("content") or "")
        elif payload.get("type") == "content_block_delta" and payload["delta"].get("type") == "text_delta":
            texts.append(payload["delta"]["text"])
    end = b"data: [DONE]" if kind == "openai" else b'"type":"message_stop"'
    if "".join(texts) != expected_text or end not in data:
        raise BenchError(f"{what}: the events do not add up to the answer ({count} events)")
    return count


# -- set-up ----------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where a load generator sends its requests."""

    name: str  # "gateway" | "direct" | "gateway-wN" (the extra gateways of --workers 1,N)
    upstream: str  # "emulator" | "fast"
    port: int
    requests: dict[str, bytes] = field(default_factory=dict)  # test kind -> raw HTTP request
    checks: dict[str, list[str]] = field(default_factory=dict)  # test kind -> loadgen args


def raw_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def gateway_env(home: Path, upstream: str, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
    env.update(
        AGW_HOME=str(home),
        AGW_UPSTREAM_ENDPOINTS=f"{upstream}/{ENDPOINT}/v1internal",
        AGW_OAUTH_TOKEN_URL=f"{upstream}/token",
        AGW_OAUTH_USERINFO_URL=f"{upstream}/oauth2/v2/userinfo",
        AGW_OAUTH_CLIENT_ID=DEMO_CLIENT_ID,
        AGW_OAUTH_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        AGW_LOG_LEVEL="WARNING",
        AGW_AUTH_MODE="off",
    )
    if port is not None:
        env["AGW_PORT"] = str(port)
    return env


def gateway_cores(workers: int) -> tuple[int, ...]:
    """One gateway process has CPU 1 to itself; several workers get both CPUs (sharing CPU 0 with the
    upstream and the load generator)."""
    return (GW_CPU,) if workers <= 1 else (UP_CPU, GW_CPU)


def agw_command() -> list[str]:
    exe = shutil.which("agw")
    return [exe] if exe else [sys.executable, "-c", "from antigravity_gateway.cli import main; main()"]


def start_gateway(
    procs: Processes,
    tmp: Path,
    label: str,
    upstream: str,
    *,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> tuple[int, subprocess.Popen[bytes]]:
    """``agw serve`` on CPU 1, or with ``workers`` > 1, ``agw serve --workers N`` on both CPUs (the flag is
    only passed then, so that a gateway package from before it can still be measured)."""
    home = tmp / f"home-{label}"
    home.mkdir()
    extra = extra_env or {}
    add = subprocess.run(
        [*agw_command(), "accounts", "add", "--refresh-token", DEMO_REFRESH_TOKEN],
        env=gateway_env(home, upstream) | extra,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    if add.returncode != 0:
        raise BenchError(f"agw accounts add against {label} failed: {add.stdout!r} {add.stderr!r}")
    port = free_port()
    log = tmp / f"gateway-{label}.log"
    proc = procs.start(
        f"gateway->{label}",
        [*agw_command(), "serve", *(["--workers", str(workers)] if workers > 1 else [])],
        cpu=",".join(map(str, gateway_cores(workers))),
        log=log,
        env=gateway_env(home, upstream, port) | extra,
    )
    deadline = time.monotonic() + 30
    serving: set[int] = set()  # the workers seen answering (each /healthz is a new connection)
    while True:
        with contextlib.suppress(OSError):
            status, _, data = http_call(f"http://127.0.0.1:{port}", "GET", "/healthz")
            health = orjson.loads(data)
            serving.add(int(health.get("worker", {}).get("index", 0)))
            if status == 200 and health["accounts"]["usable"] >= 1 and len(serving) >= workers:
                return port, proc
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"gateway->{label} did not come up; log:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


@dataclass
class Setup:
    targets: list[Target]
    pids: dict[str, int]  # "gateway-emulator", "gateway-fast", "emulator", "fast"
    events: int
    notes: list[str]
    # live streams: API -> (port, raw request, end marker); "direct" is the stand-in itself
    live: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)
    workers: int = 1  # processes of each gateway (agw serve --workers)
    # "<target name>-<upstream>" of every gateway -> its workers (the CPU it may use follows from that)
    gateway_workers: dict[str, int] = field(default_factory=dict)


def start_redis(procs: Processes, tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """A ``redis-server`` on CPU 0 (no persistence: the gateway's cost does not depend on it)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = procs.start("redis-server", [*cmd, "--dir", str(tmp)], cpu=UP_CPU, log=tmp / "redis.log")
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:{port}/0", proc
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"redis-server did not come up; log:\n{(tmp / 'redis.log').read_text()[-2000:]}")
        time.sleep(0.05)


def build_prompt(chars: int) -> str:
    words = "BENCH-PROMPT Antigravity gateway benchmark: the quick brown fox jumps over the lazy dog."
    text = words
    while len(text) < chars:
        text += " " + words
    return text[:chars]


def setup(procs: Processes, tmp: Path, args: argparse.Namespace) -> Setup:
    # 1. the emulator (CPU 0)
    emu = procs.start(
        "emulator",
        [sys.executable, str(BENCH / "emulator_proc.py"), "--chunk-delay", str(args.chunk_delay)],
        cpu=UP_CPU,
        stdout_pipe=True,
        log=tmp / "emulator.log",
    )
    emu_url = read_line(emu, 30, "emulator")
    emu_port = int(urlsplit(emu_url).port or 0)

    # 2. direct credentials, as a client of Google would get them: refresh grant, then loadCodeAssist
    form = urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": DEMO_REFRESH_TOKEN,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        }
    ).encode()
    grant = orjson.loads(
        expect_ok(
            "refresh grant",
            *_drop_headers(
                http_call(
                    emu_url, "POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
                )
            ),
        )
    )
    token = grant["access_token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    load_raw = expect_ok(
        "loadCodeAssist",
        *_drop_headers(
            http_call(
                emu_url,
                "POST",
                f"/{ENDPOINT}/v1internal:loadCodeAssist",
                orjson.dumps({"metadata": LOAD_METADATA}),
                auth,
            )
        ),
    )
    project = orjson.loads(load_raw)["cloudaicompanionProject"]
    project = project["id"] if isinstance(project, dict) else project

    # 3. the gateway in front of the emulator (CPU 1)
    gw_emu_port, gw_emu = start_gateway(procs, tmp, "emulator", emu_url, workers=args.workers)
    gw_path = f"/v1beta/models/{MODEL}:generateContent"
    gw_stream_path = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    client_body = orjson.dumps(
        {"contents": [{"role": "user", "parts": [{"text": build_prompt(args.prompt_chars)}]}]}
    )
    client_headers = {"Content-Type": "application/json"}

    # 4. what the gateway sends upstream (recorded by the emulator) is what the direct rows send
    http_call(emu_url, "DELETE", "/__emulator/requests")
    gw_json = expect_ok(
        "gateway generateContent",
        *_drop_headers(
            http_call(f"http://127.0.0.1:{gw_emu_port}", "POST", gw_path, client_body, client_headers)
        ),
    )
    gw_sse = expect_ok(
        "gateway streamGenerateContent",
        *_drop_headers(
            http_call(f"http://127.0.0.1:{gw_emu_port}", "POST", gw_stream_path, client_body, client_headers)
        ),
    )
    recorded = orjson.loads(http_call(emu_url, "GET", "/__emulator/requests")[2])
    recorded = recorded["requests"] if isinstance(recorded, dict) else recorded
    sent = {r["method"]: r for r in recorded if r["method"] in ("generateContent", "streamGenerateContent")}
    if set(sent) != {"generateContent", "streamGenerateContent"}:
        raise BenchError(
            f"the emulator did not record the gateway's calls: {[r['method'] for r in recorded]}"
        )
    upstream_body = orjson.dumps(sent["generateContent"]["body"])
    upstream_stream_body = orjson.dumps(sent["streamGenerateContent"]["body"])
    if sent["generateContent"]["body"].get("project") != project:
        raise BenchError("the gateway sent another project than loadCodeAssist reports")
    headers_sent = {k.lower(): v for k, v in sent["generateContent"]["headers"].items()}
    direct_headers = {
        "Content-Type": "application/json",
        "User-Agent": headers_sent.get("user-agent", "antigravity"),
        "Authorization": f"Bearer {token}",
    }
    up_path = f"/{ENDPOINT}/v1internal:generateContent"
    up_stream_path = f"/{ENDPOINT}/v1internal:streamGenerateContent?alt=sse"

    # 5. direct answers; both must say the same as the gateway's
    d_json = expect_ok(
        "direct generateContent",
        *_drop_headers(http_call(emu_url, "POST", up_path, upstream_body, direct_headers)),
    )
    d_sse = expect_ok(
        "direct streamGenerateContent",
        *_drop_headers(http_call(emu_url, "POST", up_stream_path, upstream_stream_body, direct_headers)),
    )
    expected_text = answer_text(orjson.loads(d_json)["response"])
    if "BENCH-PROMPT" not in expected_text:
        raise BenchError(f"unexpected emulator answer: {expected_text[:200]!r}")
    verify_json(gw_json, expected_text, wrapped=False, what="gateway->emulator generateContent")
    n_events = verify_sse(d_sse, expected_text, wrapped=True, what="direct emulator stream")
    if verify_sse(gw_sse, expected_text, wrapped=False, what="gateway->emulator stream") != n_events:
        raise BenchError("the gateway relayed another number of events than the emulator sends")
    prompt = build_prompt(args.prompt_chars)
    translated: dict[str, tuple[bytes, bytes, int]] = {}  # kind -> (client body, answer, events)
    for kind, (path, _) in TRANSLATED.items():
        body = translated_body(kind, prompt)
        answer_ = expect_ok(
            f"gateway {kind} stream",
            *_drop_headers(http_call(f"http://127.0.0.1:{gw_emu_port}", "POST", path, body, client_headers)),
        )
        translated[kind] = (body, answer_, verify_translated(kind, answer_, expected_text, f"{kind} stream"))

    # 6. the fast stand-in answers with the emulator's recorded bytes (CPU 0)
    userinfo = expect_ok(
        "userinfo",
        *_drop_headers(
            http_call(emu_url, "GET", "/oauth2/v2/userinfo", None, {"Authorization": f"Bearer {token}"})
        ),
    )
    models = expect_ok(
        "fetchAvailableModels",
        *_drop_headers(
            http_call(
                emu_url,
                "POST",
                f"/{ENDPOINT}/v1internal:fetchAvailableModels",
                orjson.dumps({"project": project}),
                auth,
            )
        ),
    )
    fast_grant = dict(grant, access_token=FAST_TOKEN)
    fast_grant.pop("refresh_token", None)
    json_ct = "application/json; charset=UTF-8"

    def answer(body: bytes) -> dict[str, Any]:
        return {"status": 200, "content_type": json_ct, "body_b64": base64.b64encode(body).decode()}

    config = {
        "token": FAST_TOKEN,
        "chunk_delay": args.chunk_delay,
        "live_events": args.live_events,
        "live_interval": args.live_interval,
        "answers": {
            "token": answer(orjson.dumps(fast_grant)),
            "userinfo": answer(userinfo),
            "loadCodeAssist": answer(load_raw),
            "fetchAvailableModels": answer(models),
            "generateContent": answer(d_json),
        },
        "events_b64": [base64.b64encode(e).decode() for e in sse_events(d_sse)],
    }
    (tmp / "fast.json").write_bytes(orjson.dumps(config))
    fast = procs.start(
        "fast stand-in",
        [sys.executable, str(BENCH / "fast_upstream.py"), str(tmp / "fast.json")],
        cpu=UP_CPU,
        stdout_pipe=True,
        log=tmp / "fast.log",
    )
    fast_url = read_line(fast, 30, "fast stand-in")
    fast_port = int(urlsplit(fast_url).port or 0)
    fast_headers = dict(direct_headers, Authorization=f"Bearer {FAST_TOKEN}")
    verify_json(
        expect_ok(
            "fast generateContent",
            *_drop_headers(http_call(fast_url, "POST", up_path, upstream_body, fast_headers)),
        ),
        expected_text,
        True,
        "fast stand-in",
    )

    # 7. the gateway in front of the fast stand-in (CPU 1)
    gw_fast_port, gw_fast = start_gateway(procs, tmp, "fast", fast_url, workers=args.workers)
    verify_json(
        expect_ok(
            "gateway->fast generateContent",
            *_drop_headers(
                http_call(f"http://127.0.0.1:{gw_fast_port}", "POST", gw_path, client_body, client_headers)
            ),
        ),
        expected_text,
        False,
        "gateway->fast generateContent",
    )
    gw_fast_sse = expect_ok(
        "gateway->fast stream",
        *_drop_headers(
            http_call(f"http://127.0.0.1:{gw_fast_port}", "POST", gw_stream_path, client_body, client_headers)
        ),
    )
    if verify_sse(gw_fast_sse, expected_text, False, "gateway->fast stream") != n_events:
        raise BenchError("gateway->fast relayed another number of events")

    # 8. per-target requests and the checks the load generator applies to every answer
    def checks(reference: bytes, events: int | None, slack: int) -> list[str]:
        out = [
            "-m",
            '"finishReason":"STOP"',
            "-m",
            "BENCH-PROMPT",
            "-b",
            str(len(reference) - slack),
            "-B",
            str(len(reference) + slack),
        ]
        if events is not None:
            out += ["-n", str(events)]
        return out

    wrapped_marker = ["-m", '{"response":']
    end_markers = {
        "openai": ["-m", "data: [DONE]", "-m", '"finish_reason":"stop"'],
        "anthropic": ["-m", '"type":"message_stop"', "-m", '"stop_reason":"end_turn"'],
    }

    def translated_requests(port: int) -> dict[str, bytes]:
        return {
            kind: raw_request(port, TRANSLATED[kind][0], body, client_headers)
            for kind, (body, _, _) in translated.items()
        }

    translated_checks = {
        kind: ["-b", str(len(answer_) - 512), "-B", str(len(answer_) + 512), "-n", str(n), *end_markers[kind]]
        for kind, (_, answer_, n) in translated.items()
    }
    targets = [
        Target(
            "gateway",
            "emulator",
            gw_emu_port,
            {
                "json": raw_request(gw_emu_port, gw_path, client_body, client_headers),
                "sse": raw_request(gw_emu_port, gw_stream_path, client_body, client_headers),
                **translated_requests(gw_emu_port),
            },
            {
                "json": checks(gw_json, None, 64) + ["-m", '"candidates"'],
                "sse": checks(gw_sse, n_events, 256),
                **translated_checks,
            },
        ),
        Target(
            "direct",
            "emulator",
            emu_port,
            {
                "json": raw_request(emu_port, up_path, upstream_body, direct_headers),
                "sse": raw_request(emu_port, up_stream_path, upstream_stream_body, direct_headers),
            },
            {"json": checks(d_json, None, 64) + wrapped_marker, "sse": checks(d_sse, n_events, 256)},
        ),
        Target(
            "gateway",
            "fast",
            gw_fast_port,
            {
                "json": raw_request(gw_fast_port, gw_path, client_body, client_headers),
                "sse": raw_request(gw_fast_port, gw_stream_path, client_body, client_headers),
                **translated_requests(gw_fast_port),
            },
            {
                "json": checks(gw_json, None, 64) + ["-m", '"candidates"'],
                "sse": checks(gw_sse, n_events, 256),
                **translated_checks,
            },
        ),
        Target(
            "direct",
            "fast",
            fast_port,
            {
                "json": raw_request(fast_port, up_path, upstream_body, fast_headers),
                "sse": raw_request(fast_port, up_stream_path, upstream_stream_body, fast_headers),
            },
            {"json": checks(d_json, None, 64) + wrapped_marker, "sse": checks(d_sse, n_events, 256)},
        ),
    ]
    pids = {
        "gateway-emulator": gw_emu.pid,
        "gateway-fast": gw_fast.pid,
        "emulator": emu.pid,
        "fast": fast.pid,
    }
    if args.redis_row:
        # 9. the same gateway with its pool in Redis (CPU 1), the server on CPU 0
        redis_url, redis_proc = start_redis(procs, tmp)
        gw_redis_port, gw_redis = start_gateway(
            procs, tmp, "redis-fast", fast_url, extra_env={"AGW_REDIS_URL": redis_url}, workers=args.workers
        )
        verify_json(
            expect_ok(
                "gateway(Redis)->fast generateContent",
                *_drop_headers(
                    http_call(
                        f"http://127.0.0.1:{gw_redis_port}", "POST", gw_path, client_body, client_headers
                    )
                ),
            ),
            expected_text,
            False,
            "gateway(Redis)->fast generateContent",
        )
        targets.append(
            Target(
                "gateway-redis",
                "fast",
                gw_redis_port,
                {"json": raw_request(gw_redis_port, gw_path, client_body, client_headers)},
                {"json": checks(gw_json, None, 64) + ["-m", '"candidates"']},
            )
        )
        pids |= {"gateway-redis-fast": gw_redis.pid, "redis-server": redis_proc.pid}
    notes = [
        f"request: {len(client_body)} B client body, {len(upstream_body)} B wrapped upstream body; "
        f"answer {len(gw_json)} B (gateway) / {len(d_json)} B (wrapped); "
        f"stream: {n_events} events, {args.chunk_delay * 1000:g} ms apart, {len(d_sse)} B",
        "the same stream as OpenAI chat completions: "
        f"{translated['openai'][2]} events, {len(translated['openai'][1])} B; "
        f"as Anthropic messages: {translated['anthropic'][2]} events, {len(translated['anthropic'][1])} B",
    ]
    live_prompt = "LIVE-STREAM: " + build_prompt(200)
    live = {
        "sse": (
            gw_fast_port,
            raw_request(
                gw_fast_port,
                gw_stream_path,
                orjson.dumps({"contents": [{"role": "user", "parts": [{"text": live_prompt}]}]}),
                client_headers,
            ),
            '"finishReason":"STOP"',
        ),
        "openai": (
            gw_fast_port,
            raw_request(
                gw_fast_port, TRANSLATED["openai"][0], translated_body("openai", live_prompt), client_headers
            ),
            "data: [DONE]",
        ),
        "anthropic": (
            gw_fast_port,
            raw_request(
                gw_fast_port,
                TRANSLATED["anthropic"][0],
                translated_body("anthropic", live_prompt),
                client_headers,
            ),
            '"type":"message_stop"',
        ),
        "direct": (
            fast_port,
            raw_request(
                fast_port,
                up_stream_path,
                upstream_stream_body.replace(b"BENCH-PROMPT", b"LIVE-STREAM", 1),
                fast_headers,
            ),
            '"finishReason": "STOP"',
        ),
    }
    # --workers 1,N: for each upstream, another gateway of N workers, measured in the same rounds
    gateway_workers = {name: args.workers for name in pids if name.startswith("gateway-")}  # Redis's too
    urls = {"emulator": emu_url, "fast": fast_url}
    for count in args.worker_counts[1:]:
        for primary in [t for t in targets if t.name == "gateway"]:
            name = f"gateway-w{count}"
            port, proc = start_gateway(
                procs, tmp, f"{primary.upstream}-w{count}", urls[primary.upstream], workers=count
            )
            verify_json(
                expect_ok(
                    f"{name}->{primary.upstream} generateContent",
                    *_drop_headers(
                        http_call(f"http://127.0.0.1:{port}", "POST", gw_path, client_body, client_headers)
                    ),
                ),
                expected_text,
                False,
                f"{name}->{primary.upstream} generateContent",
            )
            host = f"Host: 127.0.0.1:{primary.port}\r\n".encode()
            requests = {
                kind: raw.replace(host, f"Host: 127.0.0.1:{port}\r\n".encode(), 1)
                for kind, raw in primary.requests.items()
            }
            targets.append(Target(name, primary.upstream, port, requests, primary.checks))
            pids[f"{name}-{primary.upstream}"] = proc.pid
            gateway_workers[f"{name}-{primary.upstream}"] = count
    return Setup(targets, pids, n_events, notes, live, workers=args.workers, gateway_workers=gateway_workers)


def _drop_headers(result: tuple[int, dict[str, str], bytes]) -> tuple[int, bytes]:
    return result[0], result[2]


def verify_json(data: bytes, expected_text: str, wrapped: bool, what: str) -> None:
    payload = orjson.loads(data)
    if wrapped:
        if not isinstance(payload.get("response"), dict) or "traceId" not in payload:
            raise BenchError(f"{what}: not a v1internal envelope: {data[:200]!r}")
        payload = payload["response"]
    elif "response" in payload:
        raise BenchError(f"{what}: the gateway did not unwrap the envelope")
    if answer_text(payload) != expected_text or payload["candidates"][0].get("finishReason") != "STOP":
        raise BenchError(f"{what}: unexpected answer {data[:300]!r}")


def verify_sse(data: bytes, expected_text: str, wrapped: bool, what: str) -> int:
    events = sse_events(data)
    texts = []
    for i, event in enumerate(events):
        payload = event_json(event)
        if wrapped:
            payload = payload["response"]
        elif "response" in payload:
            raise BenchError(f"{what}: event {i} is still wrapped")
        texts.append(answer_text(payload))
    if "".join(texts) != expected_text or len(events) < 3:
        raise BenchError(f"{what}: the events do not add up to the answer ({len(events)} events)")
    return len(events)


# -- running cells ---------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    conns: int
    target: str
    upstream: str
    data: dict[str, Any]
    gw_cpu_s: float | None
    up_cpu_s: float
    window_s: float
    foreign: dict[int, float] = field(default_factory=dict)  # per core: share of other work (0..1)
    tries: int = 1

    def per_req_us(self, seconds: float | None) -> float | None:
        done = self.data.get("completed") or 0
        return None if seconds is None or not done else seconds / done * 1e6

    @property
    def failed(self) -> int:
        return int(self.data.get("errors", 0) + self.data.get("non2xx", 0) + self.data.get("bad_body", 0))


def run_cell(
    loadgen: Path,
    tmp: Path,
    t: Target,
    kind: str,
    conns: int,
    setup_: Setup,
    warmup: float,
    duration: float,
    nice: int,
) -> Result:
    req_file = tmp / f"req-{t.name}-{t.upstream}-{kind}.http"
    if not req_file.exists():
        req_file.write_bytes(t.requests[kind])
    gw_key = f"{t.name}-{t.upstream}"  # gateway-fast, gateway-redis-fast, gateway-w2-fast, ...
    gw_pid = setup_.pids[gw_key] if t.name != "direct" else None
    cpu = UP_CPU if t.name != "direct" else GW_CPU  # direct rows: the gateways' core is idle
    cmd = [
        *nice_prefix(nice),
        "taskset",
        "-c",
        str(cpu),
        str(loadgen),
        "-p",
        str(t.port),
        "-c",
        str(conns),
        "-w",
        str(warmup),
        "-d",
        str(duration),
        "-f",
        str(req_file),
        *t.checks[kind],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers = setup_.gateway_workers
    ours = {
        name: (pid, gateway_cores(workers[name]) if name in workers else (UP_CPU,))
        for name, pid in setup_.pids.items()
    }
    ours["loadgen"] = (proc.pid, (cpu,))
    # a gateway's CPU is its own and its workers'
    trees = {name: descendants(pid) if name in workers else [] for name, (pid, _) in ours.items()}

    def sample() -> tuple[float, dict[str, float], dict[int, tuple[int, int]]]:
        cpu_s = {name: tree_cpu_seconds(pid, trees[name]) for name, (pid, _) in ours.items()}
        return time.monotonic(), cpu_s, core_ticks()

    try:
        line = read_line(proc, warmup + duration + 30, "loadgen")
        if line != "START":
            raise BenchError(f"loadgen: expected START, got {line!r}")
        t0, cpu0, cores0 = sample()
        line = read_line(proc, duration + 30, "loadgen")
        t1, cpu1, cores1 = sample()
        if line != "END":
            raise BenchError(f"loadgen: expected END, got {line!r}")
        data = json.loads(read_line(proc, 30, "loadgen"))
        _, err = proc.communicate(timeout=30)
    finally:
        _reap(proc)
    if err.strip():
        data["stderr"] = err.decode(errors="replace").strip()[:500]
    window = t1 - t0
    used = {name: cpu1[name] - cpu0[name] for name in ours}
    foreign = foreign_load(ours, used, cores0, cores1, window)
    return Result(
        kind,
        conns,
        t.name,
        t.upstream,
        data,
        used[gw_key] if gw_pid else None,
        used[t.upstream],
        window,
        foreign,
    )


@dataclass
class LiveResult:
    api: str  # "sse" | "openai" | "anthropic" | "direct"
    streams: int
    data: dict[str, Any]
    gw_cpu_s: float | None
    window_s: float
    rss_mb: float | None
    hwm_mb: float | None
    foreign: dict[int, float] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return int(self.data.get("errors", 0) + self.data.get("non2xx", 0) + self.data.get("bad_body", 0))


def rss_mb(pid: int) -> tuple[float | None, float | None]:
    """The process's resident memory now and at its peak (VmRSS, VmHWM), MB."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    return values.get("VmRSS"), values.get("VmHWM")


def tree_rss_mb(pid: int, tree: list[int]) -> tuple[float | None, float | None]:
    """:func:`rss_mb` summed over a gateway and its workers."""
    rss, hwm = rss_mb(pid)
    for child in tree:
        more_rss, more_hwm = rss_mb(child)
        rss = None if rss is None or more_rss is None else rss + more_rss
        hwm = None if hwm is None or more_hwm is None else hwm + more_hwm
    return rss, hwm


def run_live(tmp: Path, api: str, streams: int, setup_: Setup, args: argparse.Namespace) -> LiveResult:
    port, request, marker = setup_.live[api]
    req_file = tmp / f"live-{api}.http"
    req_file.write_bytes(request)
    cmd = [
        *nice_prefix(args.nice),
        "taskset",
        "-c",
        str(UP_CPU),
        sys.executable,
        str(BENCH / "live.py"),
        "-p",
        str(port),
        "-f",
        str(req_file),
        "-c",
        str(streams),
        "-n",
        str(args.live_events),
        "-m",
        marker,
        "-w",
        str(args.live_warmup),
        "-d",
        str(args.live_duration),
        "--ramp",
        str(args.live_ramp),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    gw_pid = setup_.pids["gateway-fast"] if api != "direct" else None
    ours = {"fast": (setup_.pids["fast"], (UP_CPU,)), "client": (proc.pid, (UP_CPU,))}
    if gw_pid is not None:
        ours["gateway"] = (gw_pid, gateway_cores(setup_.workers))
    trees = {name: descendants(pid) if name == "gateway" else [] for name, (pid, _) in ours.items()}
    timeout = args.live_warmup + args.live_duration + 60
    try:
        line = read_line(proc, timeout, "live client")
        if line != "START":
            raise BenchError(f"live client: expected START, got {line!r}")
        t0, cpu0, cores0 = (
            time.monotonic(),
            {n: tree_cpu_seconds(pid, trees[n]) for n, (pid, _) in ours.items()},
            core_ticks(),
        )
        line = read_line(proc, timeout, "live client")
        t1, cpu1, cores1 = (
            time.monotonic(),
            {n: tree_cpu_seconds(pid, trees[n]) for n, (pid, _) in ours.items()},
            core_ticks(),
        )
        rss, hwm = tree_rss_mb(gw_pid, trees["gateway"]) if gw_pid is not None else (None, None)
        if line != "END":
            raise BenchError(f"live client: expected END, got {line!r}")
        data = json.loads(read_line(proc, 60, "live client"))
        _, err = proc.communicate(timeout=60)
    finally:
        _reap(proc)
    if err.strip():
        data["stderr"] = err.decode(errors="replace").strip()[:500]
    window = t1 - t0
    used = {n: cpu1[n] - cpu0[n] for n in ours}
    data["client_cpu_pct"] = used["client"] / window * 100 if window else 0.0
    data["upstream_cpu_pct"] = used["fast"] / window * 100 if window else 0.0
    foreign = foreign_load(ours, used, cores0, cores1, window)
    return LiveResult(api, streams, data, used.get("gateway"), window, rss, hwm, foreign)


def live_report(results: list[LiveResult], args: argparse.Namespace) -> list[str]:
    lines = [
        "",
        f"Live streams: N concurrent streams of {args.live_events} events, one every "
        f"{args.live_interval * 1000:g} ms ({1 / args.live_interval:g} events/s each), through the gateway "
        f"to the fast stand-in; the client and the stand-in share CPU 0; {gateway_placement(args.workers)}. "
        "Delay = time "
        "from the stand-in writing an event to the client reading it (includes the client's own lateness: "
        "see the direct rows, client -> stand-in)",
        "",
        "| API | streams | events/s | gateway core % | gateway µs/event | gateway RSS MB (peak) | delay p50 ms "
        "| delay p99 ms | delay max ms | client + stand-in core % | failed | streams done | other load % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r.data
        events_s = d.get("events_per_s", 0.0)
        core = f"{r.gw_cpu_s / r.window_s * 100:.0f}" if r.gw_cpu_s is not None and r.window_s else "—"
        per_event = (
            f"{r.gw_cpu_s / d['events'] * 1e6:.1f}" if r.gw_cpu_s is not None and d.get("events") else "—"
        )
        rss = f"{r.rss_mb:.0f} ({r.hwm_mb:.0f})" if r.rss_mb is not None and r.hwm_mb is not None else "—"
        label = "direct (no gateway)" if r.api == "direct" else _api_label(r.api)
        lines.append(
            f"| {label} | {r.streams:,} | {events_s:,.0f} | {core} | {per_event} | {rss} "
            f"| {d.get('delay_p50_ms', 0):.1f} | {d.get('delay_p99_ms', 0):.1f} | {d.get('delay_max_ms', 0):.1f} "
            f"| {d.get('client_cpu_pct', 0) + d.get('upstream_cpu_pct', 0):.0f} | {r.failed} "
            f"| {d.get('completed', 0):,} | {max(r.foreign.values(), default=0) * 100:.0f} |"
        )
    lines.append("")
    for r in results:
        if r.api == "direct":
            continue
        d = r.data
        ok = (
            r.failed == 0
            and d.get("delay_max_ms", 1e9) <= TARGET_LIVE_DELAY_MS
            and r.rss_mb is not None
            and r.rss_mb <= TARGET_LIVE_RSS_MB
            and r.gw_cpu_s is not None
            and r.gw_cpu_s / r.window_s <= 1.0
        )
        lines.append(
            f"- live, {_api_label(r.api)}, {r.streams:,} streams on one core, no event delayed more than "
            f"{TARGET_LIVE_DELAY_MS:g} ms, RSS ≤ {TARGET_LIVE_RSS_MB:g} MB: max delay "
            f"{d.get('delay_max_ms', 0):.1f} ms, RSS {r.rss_mb or 0:.0f} MB, gateway core "
            f"{(r.gw_cpu_s or 0) / r.window_s * 100:.0f} %, failed {r.failed} → "
            + (
                _verdict(ok)
                if r.streams >= TARGET_LIVE_STREAMS
                else f"{'holds' if ok else 'fails'} at this count (the target is {TARGET_LIVE_STREAMS:,} streams)"
            )
        )
        if r.failed and "stderr" in d:
            lines.append(f"  - {d['stderr'][:300]}")
    return lines


def gateways_placement(counts: list[int]) -> str:
    if len(counts) == 1:
        return gateway_placement(counts[0])
    return "; ".join(f"{gateway_placement(n)} (rows 'gateway, {_workers(n)}')" for n in counts)


def _workers(n: int) -> str:
    return f"{n} worker" + ("s" if n > 1 else "")


def _path_label(target: str, args: argparse.Namespace) -> str:
    """A row's path; with several worker counts in the run (--workers 1,2), the gateway's says how many."""
    if target == "gateway-redis":
        return "gateway, Redis store"
    if target == "direct" or (target == "gateway" and args.worker_counts == [1]):
        return target
    count = int(target.removeprefix("gateway-w")) if target.startswith("gateway-w") else args.workers
    return f"gateway, {_workers(count)}"


def workers_section(cells: dict[tuple[str, int, str, str], Cell], args: argparse.Namespace) -> list[str]:
    """--workers 1,N: each gateway of N workers against the one-process gateway of the same rounds."""
    if len(args.worker_counts) < 2:
        return []
    base = args.worker_counts[0]
    out = [
        "",
        f"Several workers: N workers against {_workers(base)}, measured in the same interleaved rounds "
        "(req/s or streams/s; gateway CPU per request, all its processes)",
        "",
        f"| kind | conns | upstream | {_workers(base)} | N workers | N | ×{_workers(base)} "
        "| cpu µs/req → with N | other load % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    targets: list[str] = []
    for (kind, conns, upstream, target), c in cells.items():
        one = cells.get((kind, conns, upstream, "gateway"))
        if not target.startswith("gateway-w") or one is None:
            continue
        count = int(target.removeprefix("gateway-w"))
        ratio = med(c.rps) / med(one.rps)
        out.append(
            f"| {kind} | {conns} | {_up_label(upstream)} | {med(one.rps):,.0f} | {med(c.rps):,.0f} | {count} "
            f"| {ratio:.2f} | {med(one.gw_us):,.0f} → {med(c.gw_us):,.0f} | {med(one.noise):.0f} / {med(c.noise):.0f} |"
        )
        if conns == args.conns and base == 1 and kind in ("json", "sse"):
            targets.append(
                f"- {_workers(count)} ≥ {TARGET_WORKERS_RATIO}× one worker, {kind}, {conns} connections, "
                f"{_up_label(upstream)}: {ratio:.2f}× → {_verdict(ratio >= TARGET_WORKERS_RATIO)}"
            )
    return [*out, "", *targets] if targets else out


def gateway_placement(workers: int) -> str:
    if workers <= 1:
        return "Gateway (one process) on CPU 1"
    return (
        f"Gateway with {workers} workers (agw serve --workers {workers}) on CPUs 0 and 1, not pinned to one "
        "core: it shares CPU 0 with the upstream and the load generator; its CPU is the parent's and the workers'"
    )


def nice_prefix(nice: int) -> list[str]:
    return ["nice", "-n", str(nice)] if nice else []


# -- report ----------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rng(values: list[float], fmt: str) -> str:
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if values else "-"


class Cell:
    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.rps = [r.data.get("rps", 0.0) for r in results]
        self.p50 = [r.data.get("lat_p50_us", 0.0) / 1000 for r in results]
        self.p99 = [r.data.get("lat_p99_us", 0.0) / 1000 for r in results]
        self.ttfb50 = [r.data.get("ttfb_p50_us", 0.0) / 1000 for r in results]
        self.ttfb99 = [r.data.get("ttfb_p99_us", 0.0) / 1000 for r in results]
        self.gw_us = [x for r in results if (x := r.per_req_us(r.gw_cpu_s)) is not None]
        self.up_us = [x for r in results if (x := r.per_req_us(r.up_cpu_s)) is not None]
        self.gw_pct = [
            r.gw_cpu_s / r.window_s * 100 for r in results if r.gw_cpu_s is not None and r.window_s
        ]
        self.up_pct = [r.up_cpu_s / r.window_s * 100 for r in results if r.window_s]
        self.failed = sum(r.failed for r in results)
        self.completed = sum(int(r.data.get("completed", 0)) for r in results)
        self.noise = [max(r.foreign.values(), default=0.0) * 100 for r in results]
        self.noise_gw = [r.foreign.get(GW_CPU, 0.0) * 100 for r in results]


def cpu_cell(us: list[float], pct: list[float]) -> str:
    return f"{med(us):,.0f} ({med(pct):.0f} %)" if us else "—"


def report(
    results: list[Result], args: argparse.Namespace, setup_: Setup, elapsed: float, command: str
) -> str:
    cells: dict[tuple[str, int, str, str], Cell] = {}
    keys = sorted(
        {(r.kind, r.conns, r.upstream, r.target) for r in results},
        key=lambda k: (k[0] != "json", k[1], k[2] != "emulator", _TARGET_ORDER.get(k[3], 1), k[3]),
    )
    for key in keys:
        cells[key] = Cell([r for r in results if (r.kind, r.conns, r.upstream, r.target) == key])
    total_failed = sum(c.failed for c in cells.values())
    lines: list[str] = []
    add = lines.append
    add(
        f"Run {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {platform.node() or 'host'}: "
        f"{os.cpu_count()} cores ({_cpu_model()}), Python {platform.python_version()}, {_versions()}, "
        f"commit {_commit()}"
    )
    add(
        f"{args.rounds} interleaved rounds, {args.warmup:g} s warm-up + {args.duration:g} s measured per cell; "
        f"medians [min–max over rounds]; {elapsed:.0f} s in all. {gateways_placement(args.worker_counts)}; "
        "upstream on CPU 0; load generator on CPU 0 for gateway rows, CPU 1 for direct rows."
    )
    add("; ".join(setup_.notes) + ".")
    noise = [max(r.foreign.values(), default=0.0) * 100 for r in results]
    reruns = sum(r.tries - 1 for r in results)
    add(
        f'Other processes on the machine ("other load": CPU not used by the benchmark\'s processes, busiest core, '
        f"during the measured window): median {med(noise):.0f} %, max {max(noise):.0f} % of a core; "
        f"{reruns} noisy cell(s) re-run (limit {args.noise_limit:.0%}, the quietest try kept)"
        + (f"; benchmark processes at nice {args.nice}" if args.nice else "")
        + "."
    )
    add("")
    json_rows = any(k[0] == "json" for k in cells)
    add("Non-streaming generateContent" if json_rows else "(no non-streaming cells in this run)")
    add("")
    add(
        "| conns | upstream | path | req/s [min–max] | ×direct | p50 ms [min–max] | p99 ms | added p50 ms "
        "| gateway cpu µs/req (core %) | upstream cpu µs/req (core %) | failed/answers | other load % |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (kind, conns, upstream, target), c in cells.items():
        if kind != "json":
            continue
        direct = cells.get((kind, conns, upstream, "direct"))
        ratio = f"{med(c.rps) / med(direct.rps):.2f}" if direct and target != "direct" else "1"
        added = f"+{med(c.p50) - med(direct.p50):.3f}" if direct and target != "direct" else "—"
        add(
            f"| {conns} | {_up_label(upstream)} | {_path_label(target, args)} | {med(c.rps):,.0f} [{rng(c.rps, '{:,.0f}')}] | {ratio} "
            f"| {med(c.p50):.3f} [{rng(c.p50, '{:.3f}')}] | {med(c.p99):.3f} | {added} "
            f"| {cpu_cell(c.gw_us, c.gw_pct)} | {cpu_cell(c.up_us, c.up_pct)} | {c.failed}/{c.completed:,} "
            f"| {med(c.noise):.0f} |"
        )
    add("")
    add(
        f"Streams ({setup_.events} upstream events, {args.chunk_delay * 1000:g} ms apart): Gemini-native "
        "streamGenerateContent?alt=sse relayed as is, and translated into OpenAI chat completions and "
        "Anthropic messages streams; TTFE = time to the first event; the direct row is the upstream's "
        "own stream for all three; µs/event = gateway CPU per stream over the upstream events"
    )
    add("")
    add(
        "| API | conns | upstream | path | streams/s [min–max] | ×direct | TTFE p50 ms [min–max] | TTFE p99 ms "
        "| added TTFE p50 ms | total p50 ms | total p99 ms | gateway cpu µs/stream (core %) | gateway µs/event "
        "| upstream cpu µs/stream (core %) | failed/answers | other load % |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    stream_keys = sorted(
        (k for k in cells if k[0] in STREAM_KINDS),
        key=lambda k: (k[1], k[2] != "emulator", STREAM_KINDS.index(k[0]), k[3] == "direct", k[3]),
    )
    for kind, conns, upstream, target in stream_keys:
        c = cells[(kind, conns, upstream, target)]
        direct = cells.get(("sse", conns, upstream, "direct"))
        added = f"+{med(c.ttfb50) - med(direct.ttfb50):.3f}" if direct and target != "direct" else "—"
        ratio = f"{med(c.rps) / med(direct.rps):.2f}" if direct and target != "direct" else "1"
        per_event = f"{med(c.gw_us) / setup_.events:,.1f}" if c.gw_us else "—"
        add(
            f"| {_api_label(kind) if target != 'direct' else 'upstream'} | {conns} | {_up_label(upstream)} "
            f"| {_path_label(target, args)} | {med(c.rps):,.0f} [{rng(c.rps, '{:,.0f}')}] "
            f"| {ratio} | {med(c.ttfb50):.3f} [{rng(c.ttfb50, '{:.3f}')}] | {med(c.ttfb99):.3f} | {added} "
            f"| {med(c.p50):.2f} | {med(c.p99):.2f} | {cpu_cell(c.gw_us, c.gw_pct)} | {per_event} "
            f"| {cpu_cell(c.up_us, c.up_pct)} | {c.failed}/{c.completed:,} | {med(c.noise):.0f} |"
        )
    for line in workers_section(cells, args):
        add(line)
    add("")
    add(
        "Targets (gateway on one core)"
        if setup_.workers <= 1
        else f"Targets (set for one gateway process on one core; this run: {setup_.workers} workers on both cores)"
    )
    add("")
    for upstream in ("emulator", "fast"):
        gw1, d1 = cells.get(("json", 1, upstream, "gateway")), cells.get(("json", 1, upstream, "direct"))
        if gw1 and d1:
            added_ms = med(gw1.p50) - med(d1.p50)
            add(
                f"- added p50 latency at 1 connection ≤ {TARGET_ADDED_P50_MS} ms, {_up_label(upstream)}: "
                f"{added_ms:+.3f} ms → {'MET' if added_ms <= TARGET_ADDED_P50_MS else 'NOT MET'}"
            )
    for upstream in ("emulator", "fast"):
        gwn, dn = (
            cells.get(("json", args.conns, upstream, "gateway")),
            cells.get(("json", args.conns, upstream, "direct")),
        )
        if gwn:
            rps = med(gwn.rps)
            verdict = "MET" if rps >= TARGET_RPS else "NOT MET"
            why = ""
            gw_busy, other_gw = med(gwn.gw_pct), med(gwn.noise_gw)
            if verdict == "MET":
                pass
            elif dn and med(dn.rps) < TARGET_RPS:
                why = f" (the upstream itself serves {med(dn.rps):,.0f} req/s: see the fast stand-in row)"
            elif other_gw >= args.noise_limit * 100:
                why = (
                    f" (gateway process {gw_busy:.0f} % of its core, other processes {other_gw:.0f} %: "
                    "re-run on a quiet machine)"
                )
            elif gw_busy >= 90:
                why = (
                    f" (gateway core saturated: {gw_busy:.0f} %, {med(gwn.gw_us):,.0f} µs of CPU per request)"
                )
            else:
                why = f" (gateway core {gw_busy:.0f} % busy: the upstream side is the limit)"
            add(
                f"- ≥ {TARGET_RPS:,.0f} req/s at {args.conns} connections, {_up_label(upstream)}: "
                f"{rps:,.0f} req/s → {verdict}{why}"
            )
    for line in stream_targets(cells, args, setup_.events):
        add(line)
    for conns in (1, args.conns):
        sqlite, redis = (
            cells.get(("json", conns, "fast", "gateway")),
            cells.get(("json", conns, "fast", "gateway-redis")),
        )
        if sqlite and redis and sqlite.gw_us and redis.gw_us:
            extra = med(redis.gw_us) / med(sqlite.gw_us) - 1
            add(
                f"- Redis store: gateway CPU per request ≤ +{TARGET_REDIS_EXTRA:.0%} over SQLite, non-streaming, "
                f"{conns} connection(s), fast stand-in: {med(redis.gw_us):,.0f} µs vs {med(sqlite.gw_us):,.0f} µs "
                f"({extra:+.1%}) → {_verdict(extra <= TARGET_REDIS_EXTRA)}"
            )
    add(
        f"- errors: {'none' if total_failed == 0 else f'{total_failed} FAILED ANSWERS: this run is not valid'} "
        "(every answer checked: status 200, body markers and length, event count)"
    )
    for r in results:
        if r.failed and "stderr" in r.data:
            add(f"  - {r.kind} c{r.conns} {r.target}->{r.upstream}: {r.data['stderr'][:300]}")
    add("")
    add(f"Reproduce: {command}")
    return "\n".join(lines)


_TARGET_ORDER = {"gateway": 0, "gateway-redis": 1, "direct": 2}  # gateway-wN (workers) between


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def stream_targets(
    cells: dict[tuple[str, int, str, str], Cell], args: argparse.Namespace, events: int
) -> list[str]:
    """The stream targets (issue 13), for each upstream that has the cells."""
    out: list[str] = []
    n = args.conns
    for upstream in ("emulator", "fast"):
        label = _up_label(upstream)
        gwn, dn = cells.get(("sse", n, upstream, "gateway")), cells.get(("sse", n, upstream, "direct"))
        if gwn and gwn.gw_us:
            us = med(gwn.gw_us)
            out.append(
                f"- {n} streams, {label}: gateway CPU ≤ {TARGET_STREAM_US} µs/stream and < "
                f"{TARGET_EVENT_US} µs/event: {us:,.0f} µs/stream, {us / events:.1f} µs/event → "
                f"{_verdict(us <= TARGET_STREAM_US and us / events < TARGET_EVENT_US)} "
                f"(gateway core {med(gwn.gw_pct):.0f} %)"
            )
        if gwn and dn:
            ratio = med(gwn.rps) / med(dn.rps)
            added = med(gwn.ttfb50) - med(dn.ttfb50)
            out.append(
                f"- {n} streams, {label}: ≥ {TARGET_STREAM_RATIO}× direct streams/s: {ratio:.2f}× → "
                f"{_verdict(ratio >= TARGET_STREAM_RATIO)}; added TTFE p50 ≤ {TARGET_STREAM_TTFE_MS} ms: "
                f"{added:+.3f} ms → {_verdict(added <= TARGET_STREAM_TTFE_MS)}"
            )
        gw1, d1 = cells.get(("sse", 1, upstream, "gateway")), cells.get(("sse", 1, upstream, "direct"))
        if gw1 and d1 and gw1.gw_us:
            added = med(gw1.ttfb50) - med(d1.ttfb50)
            us = med(gw1.gw_us)
            out.append(
                f"- 1 stream, {label}: added TTFE p50 ≤ {TARGET_STREAM_TTFE_1_MS} ms: {added:+.3f} ms → "
                f"{_verdict(added <= TARGET_STREAM_TTFE_1_MS)}; CPU ≤ {TARGET_STREAM_1_US} µs/stream: "
                f"{us:,.0f} µs → {_verdict(us <= TARGET_STREAM_1_US)}"
            )
        for kind in ("openai", "anthropic"):
            tr = cells.get((kind, n, upstream, "gateway"))
            if tr and tr.gw_us and gwn and gwn.gw_us:
                ratio = med(tr.gw_us) / med(gwn.gw_us)
                out.append(
                    f"- {n} streams, {label}: {_api_label(kind)} cost per event within "
                    f"{TARGET_TRANSLATED_RATIO}× the Gemini-native one: {med(tr.gw_us) / events:.1f} vs "
                    f"{med(gwn.gw_us) / events:.1f} µs/event, {ratio:.2f}× → {_verdict(ratio <= TARGET_TRANSLATED_RATIO)}"
                )
    return out


def _api_label(kind: str) -> str:
    return {"sse": "Gemini", "openai": "OpenAI chat", "anthropic": "Anthropic"}.get(kind, kind)


def _up_label(upstream: str) -> str:
    return "emulator" if upstream == "emulator" else "fast stand-in"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def _versions() -> str:
    from importlib.metadata import version

    names = ("uvicorn", "starlette", "aiohttp", "uvloop", "httptools", "orjson")
    return ", ".join(f"{n} {version(n)}" for n in names)


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "antigravity_gateway"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + (" + uncommitted changes in antigravity_gateway/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Gateway vs direct-to-upstream benchmark (see bench/README.md).")
    p.add_argument("--quick", action="store_true", help="3 rounds of 0.2 s + 0.5 s per cell (under a minute)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per cell (default 1)")
    p.add_argument("--duration", type=float, default=None, help="measured seconds per cell (default 4)")
    p.add_argument("--conns", type=int, default=64, help="connections for the loaded cells (default 64)")
    p.add_argument(
        "--chunk-delay", type=float, default=0.002, help="seconds between stream events (default 0.002)"
    )
    p.add_argument("--prompt-chars", type=int, default=900, help="length of the prompt text (default 900)")
    p.add_argument("--upstreams", choices=("both", "emulator", "fast"), default="both")
    p.add_argument(
        "--kinds",
        default="all",
        help="cells to run: all (json,sse,openai,anthropic), both (json,sse), or a comma-separated list of "
        "json, sse (Gemini-native stream), openai (chat completions stream), anthropic (messages stream)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run every benchmark process at this nice level (e.g. -10 on a shared machine; needs root)",
    )
    p.add_argument(
        "--noise-limit",
        type=float,
        default=0.10,
        help="re-run a cell when other processes used more than this share of a core (default 0.10)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=None,
        help="re-runs of noisy cells allowed in all (default 8, --quick 3)",
    )
    p.add_argument(
        "--live",
        default="",
        help="live streams: comma-separated stream counts (e.g. 250,500,1000); each runs for every API in "
        "--live-apis and once directly against the stand-in",
    )
    p.add_argument("--live-apis", default="sse,openai,anthropic", help="APIs for the live streams")
    p.add_argument("--live-events", type=int, default=300, help="events per live stream (default 300)")
    p.add_argument(
        "--live-interval", type=float, default=0.02, help="seconds between live events (default 0.02: 50/s)"
    )
    p.add_argument("--live-warmup", type=float, default=4.0, help="live warm-up seconds (default 4)")
    p.add_argument("--live-duration", type=float, default=10.0, help="live measured seconds (default 10)")
    p.add_argument("--live-ramp", type=float, default=2.0, help="seconds over which live streams open")
    p.add_argument(
        "--redis",
        choices=("auto", "yes", "no"),
        default="auto",
        help="the Redis-backend row (a gateway whose pool is in a redis-server; non-streaming, fast stand-in); "
        "auto: when redis-server is installed",
    )
    p.add_argument(
        "--workers",
        default="1",
        help="processes of each gateway under test (agw serve --workers N; default 1, on CPU 1); with more "
        "than 1 the gateways run on both CPUs; 1,N measures both in the same interleaved rounds",
    )
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, homes)")
    args = p.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else 3
    args.warmup = args.warmup if args.warmup is not None else (0.2 if quick else 1.0)
    args.duration = args.duration if args.duration is not None else (0.5 if quick else 4.0)
    args.max_retries = args.max_retries if args.max_retries is not None else (3 if quick else 8)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or args.conns < 1:
        p.error("rounds, duration and conns must be positive")
    try:
        args.worker_counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        p.error("--workers: a number of workers, or a comma-separated list (1,2)")
    if (
        not args.worker_counts
        or min(args.worker_counts) < 1
        or len(set(args.worker_counts)) < len(args.worker_counts)
    ):
        p.error("--workers: numbers of at least 1, each once")
    args.workers = args.worker_counts[0]
    named = {"all": "json,sse,openai,anthropic", "both": "json,sse", "none": ""}
    args.kind_list = [k for k in named.get(args.kinds, args.kinds).split(",") if k]
    if any(k not in ("json", *STREAM_KINDS) for k in args.kind_list):
        p.error(f"--kinds: unknown kind in {args.kinds!r}")
    try:
        args.live_counts = [int(n) for n in args.live.split(",") if n]
    except ValueError:
        p.error("--live: stream counts, e.g. 250,1000")
    args.live_api_list = [a for a in args.live_apis.split(",") if a]
    if any(a not in STREAM_KINDS for a in args.live_api_list):
        p.error(f"--live-apis: unknown API in {args.live_apis!r}")
    have_redis = bool(shutil.which("redis-server")) or Path("/usr/bin/redis-server").exists()
    if args.redis == "yes" and not have_redis:
        p.error("--redis yes: redis-server is not installed")
    args.redis_row = (
        args.redis != "no" and have_redis and "json" in args.kind_list and args.upstreams in ("both", "fast")
    )
    if not args.kind_list and not args.live_counts:
        p.error("nothing to run: --kinds none needs --live")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.cpu_count() is None or (os.cpu_count() or 0) < 2:
        print(
            "this benchmark needs 2 CPUs (gateway on CPU 1, upstream and load generator on CPU 0)",
            file=sys.stderr,
        )
        return 2
    for tool in ("gcc", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} is required", file=sys.stderr)
            return 2
    command = "python bench/run.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    procs = Processes(args.nice)
    tmp = Path(tempfile.mkdtemp(prefix="agw-bench-"))

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    try:
        loadgen = tmp / "loadgen"
        subprocess.run(["gcc", "-O2", "-o", str(loadgen), str(BENCH / "loadgen.c")], check=True, timeout=120)
        print(
            "starting the emulator, the fast stand-in and the gateways"
            + (f" of {args.workers} workers each" if args.workers > 1 else "")
            + "".join(f", and two of {n} workers" for n in args.worker_counts[1:])
            + f" ({gateways_placement(args.worker_counts)}) ...",
            file=sys.stderr,
        )
        s = setup(procs, tmp, args)
        kinds = args.kind_list
        upstreams = ["emulator", "fast"] if args.upstreams == "both" else [args.upstreams]
        tests = [(k, c) for k in kinds for c in (1, args.conns)]
        targets = [t for u in upstreams for t in s.targets if t.upstream == u]
        results: list[Result] = []
        retries_left = args.max_retries
        for rnd in range(args.rounds):
            # rotate the order each round so no target always runs first or right after another
            order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
            for kind, conns in tests:
                for t in order:
                    if kind not in t.requests:
                        continue  # the translated streams: gateway rows only
                    tries: list[Result] = []
                    while True:
                        procs.check_alive()
                        r = run_cell(loadgen, tmp, t, kind, conns, s, args.warmup, args.duration, args.nice)
                        tries.append(r)
                        noisy = max(r.foreign.values(), default=0.0) > args.noise_limit
                        print(
                            f"round {rnd + 1}/{args.rounds} {kind:4} c{conns:<3} {t.name:10} -> {t.upstream:8}: "
                            f"{r.data.get('rps', 0):9,.0f}/s  p50 {r.data.get('lat_p50_us', 0) / 1000:7.3f} ms  "
                            f"ttfb p50 {r.data.get('ttfb_p50_us', 0) / 1000:7.3f} ms  failed {r.failed}  "
                            f"other load cpu0 {r.foreign.get(0, 0):4.0%} cpu1 {r.foreign.get(1, 0):4.0%}"
                            + ("  (noisy: again)" if noisy and retries_left > 0 else ""),
                            file=sys.stderr,
                        )
                        time.sleep(0.1)
                        if not noisy or retries_left <= 0:
                            break
                        retries_left -= 1
                    best = min(tries, key=lambda x: max(x.foreign.values(), default=0.0))
                    best.tries = len(tries)
                    results.append(best)
        live_results: list[LiveResult] = []
        for streams in args.live_counts:
            for api in [*args.live_api_list, "direct"]:
                procs.check_alive()
                lr = run_live(tmp, api, streams, s, args)
                live_results.append(lr)
                print(
                    f"live {api:9} {streams:5} streams: {lr.data.get('events_per_s', 0):8,.0f} events/s  "
                    f"delay p50 {lr.data.get('delay_p50_ms', 0):6.1f} p99 {lr.data.get('delay_p99_ms', 0):6.1f} "
                    f"max {lr.data.get('delay_max_ms', 0):7.1f} ms  failed {lr.failed}",
                    file=sys.stderr,
                )
        text = report(results, args, s, time.monotonic() - started, command) if results else ""
        if live_results:
            text += "\n" + "\n".join(live_report(live_results, args))
            if not results:
                text += f"\n\nReproduce: {command}"
        print(text)
        if args.json:
            args.json.write_bytes(
                orjson.dumps(
                    {
                        "args": {k: str(v) for k, v in vars(args).items()},
                        "results": [vars(r) for r in results],
                        "live": [vars(r) for r in live_results],
                    },
                    option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                )
            )
        return 1 if any(r.failed for r in results) or any(r.failed for r in live_results) else 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        for log in sorted(tmp.glob("*.log")):
            print(f"--- {log.name} (tail)\n{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; stopping the processes", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
