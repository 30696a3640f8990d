"""Time every chapter against its budget, and a fresh parallel build (`make bench`).

1. Executes each chapter notebook listed in _toc.yml afresh, one after another, in a new
   kernel, exactly as the book build does, and prints its wall time next to the budget in
   the notebook's metadata (`metadata.mlbook.time_budget_s`) and the time the last build
   recorded (_build/chapter_times.json).
2. Times a fresh build's execution as `make book` does it (scripts/execute_chapters.py,
   JOBS at a time), into an empty execution cache and an empty model cache, and prints its
   wall time next to the sum of the chapters' times in that run and in step 1.

`make bench SKIP_SERIAL=1` does step 2 only. This machine is shared and noisy: read the
ratios, not the third digit. Time is measured here, never asserted in the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def toc_chapters() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def fresh_parallel_build(serial_total: float | None) -> None:
    """Step 2: execute every chapter as `make book` does, from empty caches."""
    with tempfile.TemporaryDirectory(prefix="mlbook-bench-") as tmp:
        tmp = Path(tmp)
        times = tmp / "times.json"
        env = {**os.environ, "MLBOOK_CACHE": str(tmp / "models"), "TQDM_DISABLE": "1"}
        print("\nfresh build: every chapter executed as `make book` does, from empty caches",
              flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_chapters.py"),
                        "--cache", str(tmp / "jupyter_cache"), "--times", str(times)],
                       env=env, check=True)
        outer = time.perf_counter() - start
        report = json.loads(times.read_text())
    wall, total = report["wall_seconds"], report["sum_of_chapter_seconds"]
    print(f"{'jobs':40s} {report['jobs']:>14d}")
    print(f"{'execution wall time (s)':40s} {wall:14.1f}   (with set-up {outer:.1f})")
    print(f"{'sum of the chapters times, same run (s)':40s} {total:14.1f}   "
          f"ratio {wall / total:.2f}")
    if serial_total:
        print(f"{'sum of the chapters times, one by one (s)':40s} {serial_total:14.1f}   "
              f"ratio {wall / serial_total:.2f}")


def main() -> int:
    serial_total = None
    if not os.environ.get("SKIP_SERIAL"):
        serial_total = serial_chapter_times()
    fresh_parallel_build(serial_total)
    return 0


def serial_chapter_times() -> float:
    """Step 1: every chapter afresh, one after another; returns the sum of their times."""
    recorded_path = ROOT / "_build" / "chapter_times.json"
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {}
    print(f"{'chapter':40s} {'fresh run (s)':>14s} {'budget (s)':>11s} {'ratio':>6s} {'last build (s)':>15s}")
    over, total = 0, 0.0
    for path in toc_chapters():
        nb = nbformat.read(path, as_version=4)
        budget = nb.metadata.get("mlbook", {}).get("time_budget_s")
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        total += seconds
        ratio = seconds / budget if budget else float("nan")
        over += bool(budget and seconds > budget)
        last = recorded.get(f"chapters/{path.stem}", {}).get("seconds")
        last_text = f"{last:.1f}" if last is not None else "-"
        print(f"{path.stem:40s} {seconds:14.1f} {budget or '-':>11} {ratio:6.2f} {last_text:>15s}",
              flush=True)
    print(f"{over} chapter(s) over budget; {total:.1f} s in all")
    return total


if __name__ == "__main__":
    sys.exit(main())
