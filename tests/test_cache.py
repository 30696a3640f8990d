"""mlbook.cache: a model is built once even when chapters ask for it at once, and a damaged
cache file is built again instead of stopping every chapter that loads it."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
import torch

from mlbook.cache import atomic_write, cache_dir, cached


def save_tensor(path: Path, value: float, builds_log: Path | None = None) -> float:
    if builds_log is not None:
        with open(builds_log, "a") as log:
            log.write("built\n")
        time.sleep(0.5)           # a slow build: the other process arrives meanwhile
    with atomic_write(path) as tmp:
        torch.save({"value": torch.tensor(value)}, tmp)
    return value


def load_tensor(path: Path) -> float:
    return float(torch.load(path, weights_only=True)["value"])


def build_or_load(path: str, builds_log: str, results: str) -> None:
    value = cached(Path(path), load_tensor, lambda: save_tensor(Path(path), 7.0, Path(builds_log)))
    with open(results, "a") as out:
        out.write(f"{value}\n")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLBOOK_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path


def test_missing_file_is_built_then_loaded(tmp_path):
    path = tmp_path / "model.pt"
    calls = []
    build = lambda: calls.append("build") or save_tensor(path, 3.0)  # noqa: E731
    assert cached(path, load_tensor, build) == 3.0
    assert cached(path, load_tensor, build) == 3.0
    assert calls == ["build"]
    assert cached(path, load_tensor, build, rebuild=True) == 3.0
    assert calls == ["build", "build"]


def test_a_truncated_file_is_built_again_with_a_warning(tmp_path):
    path = tmp_path / "model.pt"
    save_tensor(path, 5.0)
    path.write_bytes(path.read_bytes()[:40])          # what a killed copy leaves behind
    with pytest.raises(RuntimeError):
        load_tensor(path)
    with pytest.warns(RuntimeWarning, match="could not be read"):
        assert cached(path, load_tensor, lambda: save_tensor(path, 5.0)) == 5.0
    assert load_tensor(path) == 5.0                   # healed on disk too


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.pt"
    save_tensor(path, 1.0)
    with pytest.raises(ZeroDivisionError):
        with atomic_write(path) as tmp:
            tmp.write_bytes(b"half a fi")
            1 / 0
    assert load_tensor(path) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_processes_asking_at_once_build_once(tmp_path):
    path, log, results = tmp_path / "model.pt", tmp_path / "builds", tmp_path / "results"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=build_or_load, args=(str(path), str(log), str(results)))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert log.read_text().splitlines() == ["built"]
    assert results.read_text().splitlines() == ["7.0"] * 3


def test_arguments_are_checked(tmp_path):
    with pytest.raises(TypeError, match="load must be a callable"):
        cached(tmp_path / "x", None, lambda: 1)
    with pytest.raises(TypeError, match="build must be a callable"):
        cached(tmp_path / "x", lambda p: 1, "build")
    with pytest.raises(TypeError, match="rebuild must be True or False"):
        cached(tmp_path / "x", lambda p: 1, lambda: 1, rebuild="no")
    with pytest.raises(TypeError, match="path must be a str or pathlib.Path"):
        cached(None, lambda p: 1, lambda: 1)
