"""Time every chapter against its budget (`make bench`).

Executes each chapter notebook listed in _toc.yml afresh, in a new kernel, exactly as the
book build does, and prints its wall time next to the budget in the notebook's metadata
(`metadata.mlbook.time_budget_s`). It also shows the time the last build recorded
(_build/chapter_times.json). This machine is shared and noisy: read the ratios, not the
third digit. Time is measured here, never asserted in the tests.
"""

from __future__ import annotations

import json
import sys
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


def main() -> int:
    recorded_path = ROOT / "_build" / "chapter_times.json"
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {}
    print(f"{'chapter':40s} {'fresh run (s)':>14s} {'budget (s)':>11s} {'ratio':>6s} {'last build (s)':>15s}")
    over = 0
    for path in toc_chapters():
        nb = nbformat.read(path, as_version=4)
        budget = nb.metadata.get("mlbook", {}).get("time_budget_s")
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
        ratio = seconds / budget if budget else float("nan")
        over += bool(budget and seconds > budget)
        last = recorded.get(f"chapters/{path.stem}", {}).get("seconds")
        last_text = f"{last:.1f}" if last is not None else "-"
        print(f"{path.stem:40s} {seconds:14.1f} {budget or '-':>11} {ratio:6.2f} {last_text:>15s}",
              flush=True)
    print(f"{over} chapter(s) over budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
