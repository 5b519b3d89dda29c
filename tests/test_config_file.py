"""config.toml writes: concurrent writers from several processes lose nothing; the file stays private."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from antigravity_gateway import config_file
from antigravity_gateway.config_file import read_config, update_config

WRITERS = 6
ROUNDS = 15


def _writer(path: str, n: int, barrier: Any) -> None:
    barrier.wait()
    for i in range(ROUNDS):
        update_config(Path(path), {f"key_{n}": i, "shared": n})


def test_concurrent_updates_from_several_processes_all_survive(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    update_config(path, {"port": 9000})
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_writer, args=(str(path), n, barrier)) for n in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    data = read_config(path)
    assert data["port"] == 9000
    assert {k: v for k, v in data.items() if k.startswith("key_")} == {
        f"key_{n}": ROUNDS - 1 for n in range(WRITERS)
    }
    assert data["shared"] in range(WRITERS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".config.")] == []  # no temp left


def test_update_fsyncs_the_file_and_the_directory_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(config_file.os, "fsync", fsync)
    monkeypatch.setattr(config_file.os, "replace", replace)
    update_config(path, {"api_key": "sk-x"})
    assert events == ["fsync-file", "replace", "fsync-dir"]
    assert read_config(path) == {"api_key": "sk-x"}


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    update_config(path, {"port": 1})

    def broken(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(config_file.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        update_config(path, {"port": 2})
    assert read_config(path) == {"port": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "config.toml.lock"]


def test_the_lock_is_exclusive(tmp_path: Path) -> None:
    """While one holder has the lock, another process cannot take it (flock is per open file)."""
    import fcntl

    path = tmp_path / "config.toml"
    with config_file.config_lock(path):
        fd = os.open(tmp_path / "config.toml.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(tmp_path / "config.toml.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(fd)
