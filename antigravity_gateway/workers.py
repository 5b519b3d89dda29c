"""``agw serve --workers N``: N processes serving one port, and the parent process that keeps them running.

The parent binds the listening socket once and hands it to N worker processes (multiprocessing's
``spawn`` context: each worker is a fresh interpreter that unpickles the settings the parent resolved,
builds the app and runs uvicorn on the shared socket; the kernel spreads new connections over the
processes accepting on it). Each worker runs the whole app with its own lifespan (store connection,
upstream session, background jobs); what they share lives in the store, the SQLite database of
``AGW_HOME``. Worker 0 also runs the jobs a host needs once (see :func:`antigravity_gateway.app.build_app`).

The parent:

- starts the workers, and logs one line when all of them serve;
- restarts a worker that dies (``kill -9``, a crash), with one log line, at most once a second per worker;
- on SIGINT or SIGTERM, closes its copy of the socket and sends SIGTERM to every worker, which drains
  (uvicorn's graceful shutdown: requests in flight, streams included, get ``timeout_graceful_shutdown``
  seconds to finish) and exits; a worker still running :data:`STOP_TIMEOUT` seconds later is killed. Then it
  returns, and ``agw serve`` exits 0;
- stops everything (exit status 1) when a worker exits before it ever served: its start-up failed (the store
  would not open, ...) and a new one would fail the same way;
- kills (then restarts) a worker that is alive but stuck: each worker's event loop tells the parent it
  runs every second, and one silent for :data:`HANG_TIMEOUT` seconds is killed, with one log line.

A worker stops by itself when its parent is gone (checked every second), so that none outlives a parent
that was killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType

import uvicorn

from antigravity_gateway.metrics import end_multiprocess_dir, mark_process_dead, prepare_multiprocess_dir
from antigravity_gateway.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds a stopping worker gets before it is killed: uvicorn's graceful shutdown (5 s), then the app's
#: lifespan shutdown (the request log's last write, the store) with room to spare.
STOP_TIMEOUT = 15.0
#: The least time between two starts of the same worker (a worker dying at once is not restarted in a loop).
RESTART_INTERVAL = 1.0
BACKLOG = 2048  # uvicorn's default
#: A serving worker whose event loop has not reported for this long is stuck (a blocked loop): killed.
HANG_TIMEOUT = 30.0
#: How often a worker's event loop reports to the parent (in uvicorn ticks of 0.1 s).
HEARTBEAT_TICKS = 10

multiprocessing.allow_connection_pickling()  # the listening socket goes to the workers as a file descriptor
_spawn = multiprocessing.get_context("spawn")


def bind_socket(settings: Settings) -> socket.socket:
    """The listening socket, bound as uvicorn binds it; an ``OSError`` when the address cannot be used."""
    host = settings.bind_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, settings.port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def supervise(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes until SIGINT or SIGTERM; ``SystemExit(1)`` when the socket
    cannot be bound or a worker could not start."""
    try:
        sock = bind_socket(settings)
    except OSError:
        raise SystemExit(1) from None  # `agw serve` says why in one line (the port was taken since its check)
    try:
        ok = Supervisor(settings, sock).run()
    finally:
        sock.close()
    if not ok:
        raise SystemExit(1)


# -- the parent ------------------------------------------------------------------------------------


@dataclass
class Worker:
    index: int
    process: SpawnProcess
    ready: Connection  # the worker writes to it when it serves, then every second while its loop runs
    started_at: float = field(default_factory=time.monotonic)
    serving: bool = False
    last_beat: float = 0.0


WorkerTarget = Callable[[Settings, int, socket.socket, Connection], None]


class Supervisor:
    def __init__(self, settings: Settings, sock: socket.socket, target: WorkerTarget | None = None) -> None:
        self.settings = settings
        self.sock = sock
        self.target = target or worker_main  # a module-level function: the spawned worker imports it
        self.address = "http://{}:{}".format(*sock.getsockname()[:2])
        self.workers: list[Worker | None] = [None] * settings.workers
        self.restart_at: dict[int, float] = {}  # worker index -> when to start it again
        self.signals: list[int] = []  # received, not yet logged (nothing is logged in a signal handler)
        self.stopping = False
        self.failed = False
        self.all_serving = False
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="agw-metrics-"))  # private (0700), removed at the end

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        self.stopping = True

    def run(self) -> bool:
        """Until a signal (``True``) or a worker that could not start (``False``)."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            # /metrics adds up every worker's counters: prometheus_client's multiprocess mode, set up
            # before any worker starts (the workers inherit the variable that names the directory).
            prepare_multiprocess_dir(self.metrics_dir)
            for index in range(len(self.workers)):
                self.workers[index] = self._start(index)
            while not self.stopping:
                self._step(wake_read)
            if self.signals:
                logger.info("received %s: stopping the workers", signal.Signals(self.signals[0]).name)
        finally:
            self._stop_all()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)
            end_multiprocess_dir()
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return not self.failed

    def _start(self, index: int) -> Worker:
        ready_read, ready_write = _spawn.Pipe(duplex=False)
        process = _spawn.Process(
            target=self.target,
            args=(self.settings, index, self.sock, ready_write),
            name=f"agw-worker-{index}",
            daemon=True,  # also ended by multiprocessing when the parent exits abnormally
        )
        process.start()
        ready_write.close()  # the worker's end: the parent reads EOF when the worker is gone
        return Worker(index, process, ready_read)

    def _step(self, wake_read: int) -> None:
        now = time.monotonic()
        deadlines = [*self.restart_at.values()]
        deadlines += [w.last_beat + HANG_TIMEOUT for w in self.workers if w is not None and w.serving]
        timeout = min((at - now for at in deadlines), default=5.0)
        watched: list[Connection | int] = [wake_read]
        for worker in self.workers:
            if worker is not None:
                watched += [worker.process.sentinel, worker.ready]
        ready = wait(watched, timeout=min(5.0, max(0.0, timeout)))
        if wake_read in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_read, 512):
                    pass
        if self.stopping:
            return
        for worker in self.workers:
            if worker is None:
                continue
            if worker.ready in ready:
                self._heard(worker)
            if worker.process.sentinel in ready or not worker.process.is_alive():
                self._exited(worker)
                if self.stopping:
                    return
            elif worker.serving and time.monotonic() - worker.last_beat > HANG_TIMEOUT:
                logger.error(
                    "worker %d (pid %s) did not answer for %.0f s (its event loop is stuck): killed",
                    worker.index,
                    worker.process.pid,
                    HANG_TIMEOUT,
                )
                worker.process.kill()  # its sentinel fires: restarted as a worker that died
        if not self.all_serving and all(w is not None and w.serving for w in self.workers):
            self.all_serving = True
            logger.info("%d workers serving on %s", len(self.workers), self.address)
        now = time.monotonic()
        for index, at in list(self.restart_at.items()):
            if at <= now:
                del self.restart_at[index]
                self.workers[index] = self._start(index)

    def _heard(self, worker: Worker) -> None:
        """Read what the worker sent: that it serves, then that its loop runs."""
        with contextlib.suppress(EOFError, OSError):
            while worker.ready.poll():
                message = worker.ready.recv()
                worker.serving = worker.serving or bool(message)
                worker.last_beat = time.monotonic()

    def _exited(self, worker: Worker) -> None:
        worker.process.join()
        worker.ready.close()
        self.workers[worker.index] = None
        pid, how = worker.process.pid, _exit_reason(worker.process.exitcode)
        if pid is not None:
            mark_process_dead(pid)
        if not worker.serving:
            logger.error(
                "worker %d (pid %s) could not start (%s): stopping the gateway (see the log above)",
                worker.index,
                pid,
                how,
            )
            self.failed = self.stopping = True
            return
        at = max(time.monotonic(), worker.started_at + RESTART_INTERVAL)
        logger.warning("worker %d (pid %s) died (%s): starting a new one", worker.index, pid, how)
        self.restart_at[worker.index] = at

    def _stop_all(self) -> None:
        """SIGTERM to every worker (they drain), SIGKILL to those still running after STOP_TIMEOUT."""
        self.sock.close()  # new connections are refused once no worker listens any more
        self.restart_at.clear()
        running = [w for w in self.workers if w is not None]
        for worker in running:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in running:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                logger.warning(
                    "worker %d (pid %s) did not stop in time: killed", worker.index, worker.process.pid
                )
                worker.process.kill()
                worker.process.join()
            worker.ready.close()
            if worker.process.pid is not None:
                mark_process_dead(worker.process.pid)
        self.workers = [None] * len(self.workers)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


# -- a worker --------------------------------------------------------------------------------------


class WorkerServer(uvicorn.Server):
    """uvicorn's server, telling the parent when it serves and stopping when the parent is gone."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self.ready = ready
        self.parent = os.getppid()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            with contextlib.suppress(OSError):
                self.ready.send(True)

    async def on_tick(self, counter: int) -> bool:
        if counter % HEARTBEAT_TICKS == 0 and not self.should_exit:
            if os.getppid() != self.parent:
                logger.warning("the parent process is gone: stopping")
                self.should_exit = True
            else:
                with contextlib.suppress(OSError):
                    self.ready.send(True)  # the loop runs (see HANG_TIMEOUT)
        return await super().on_tick(counter)


def worker_main(settings: Settings, index: int, sock: socket.socket, ready: Connection) -> None:
    """A worker process: the app for ``settings`` served on the parent's socket (spawn target)."""
    from antigravity_gateway.server import configure_logging, tune_gc, uvicorn_config

    configure_logging(settings.log_level, worker=index)
    config = uvicorn_config(settings, worker=index)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the SIGINT it drained for again
        WorkerServer(config, ready).run(sockets=[sock])
