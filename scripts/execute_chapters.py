"""Execute the chapters that need it, several at once, into the book's execution cache.

``make book`` runs this before ``jupyter-book build``, which then finds every chapter in the
cache and executes nothing. Jupyter Book 1 executes one notebook after another; this uses
every core (or ``JOBS``) instead.

Why not jupyter-cache's own parallel executor (``local-parallel``)? Its ``multiprocessing.Pool``
always starts one process per core, with no way to ask for fewer, and hands the notebooks out
in fixed chunks in the order given. Here the notebooks are handed out one at a time, longest
first (by their last recorded time, else their budget), and a chapter that starts from a
model another chapter trains (``"mlbook": {"after": ["06_llama"]}`` in its metadata) starts
after that chapter when both run. The execution itself is jupyter-cache's, unchanged: each
process runs its ``ExecutionWorkerLocalMProc`` (the notebook's own folder as the working
directory, as the book build does) and stores the result in the cache exactly as a
``jupyter-book build`` would have. (Ordering is for speed only: :func:`mlbook.cache.cached`
makes chapters that ask for the same missing model at once train it once.)

Usage: python scripts/execute_chapters.py [--jobs N] [--cache DIR] [--times FILE] [PREFIX ...]
(PREFIX: only the chapters whose file names start so, e.g. ``03 04``.)
Writes _build/execution_times.json (wall time, each chapter's time) for ``make bench``;
``make bench`` points --cache and --times elsewhere to time a fresh build.
Exit status 1 if a chapter failed; its name and failing cell are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "_build" / "execution_times.json"


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def default_jobs() -> int:
    """One process per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def schedule(stale: list[Path], expected_seconds: dict[str, float],
             after: dict[str, list[str]], running: set[str], done: set[str]) -> list[Path]:
    """The stale chapters that may start now, longest expected first.

    A chapter waits for the chapters named in its ``after`` that are stale too (being
    executed in this run) until they are done.
    """
    names = {p.stem for p in stale}
    ready = [p for p in stale if p.stem not in running and p.stem not in done
             and all(dep in done or dep not in names for dep in after.get(p.stem, []))]
    return sorted(ready, key=lambda p: -expected_seconds.get(p.stem, 0.0))


def run_one(data: ProcessData) -> tuple[int, str]:
    """Execute one notebook and cache it, in a worker process (jupyter-cache's worker)."""
    return ExecutionWorkerLocalMProc()(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS") or 0) or None,
                        help="chapters executed at once (default: JOBS, else the core count)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="execution cache (default: execute.cache of _config.yml)")
    parser.add_argument("--times", type=Path, default=TIMES, help="where to write the times")
    parser.add_argument("prefixes", nargs="*", help="only chapters whose names start so")
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    if jobs < 1:
        sys.exit(f"--jobs must be at least 1, got {jobs}")

    config = book_config()["execute"]
    cache = get_cache(str(args.cache or ROOT / config["cache"]))
    notebooks = [p for p in toc_notebooks()
                 if not args.prefixes or any(p.name.startswith(x) for x in args.prefixes)]
    stale, records, expected, after = [], {}, {}, {}
    previous = (json.loads(args.times.read_text()).get("chapters", {})
                if args.times.exists() else {})
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("mlbook", {})
        after[path.stem] = list(meta.get("after", []))
        expected[path.stem] = previous.get(path.stem) or meta.get("time_budget_s", 60)
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            stale.append(path)
            records[path.stem] = cache.add_nb_to_project(str(path))
    if not stale:
        print("==> every chapter is in the execution cache: nothing to execute")
        return 0
    jobs = min(jobs, len(stale))
    print(f"==> executing {len(stale)} chapter(s), {jobs} at a time: "
          + ", ".join(p.stem for p in stale), flush=True)

    start = time.perf_counter()
    running, done, failed, seconds = {}, set(), [], {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        while len(done) < len(stale):
            for path in schedule(stale, expected, after, set(running.values()), done):
                if len(running) >= jobs:
                    break
                record = records[path.stem]
                data = ProcessData(record.pk, record.uri, cache, config["timeout"],
                                   config.get("allow_errors", False))
                running[pool.submit(run_one, data)] = path.stem
                print(f"    started  {path.stem}", flush=True)
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                done.add(name)
                status, _uri = future.result()
                if status == 0:
                    record = cache.match_cache_notebook(
                        nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4))
                    seconds[name] = record.data.get("execution_seconds", float("nan"))
                    print(f"    finished {name} in {seconds[name]:.1f} s", flush=True)
                else:
                    failed.append(name)
                    traceback = cache.get_project_record(records[name].pk).traceback
                    print(f"==> {name} FAILED:\n{(traceback or 'no traceback recorded')[-6000:]}",
                          flush=True)
    wall = time.perf_counter() - start
    total = sum(seconds.values())
    args.times.parent.mkdir(parents=True, exist_ok=True)
    args.times.write_text(json.dumps({"jobs": jobs, "wall_seconds": wall,
                                 "sum_of_chapter_seconds": total,
                                 "chapters": {**previous, **seconds}}, indent=1) + "\n")
    ratio = f"; ratio {wall / total:.2f}" if total > 0 else ""
    print(f"==> executed {len(seconds)} chapter(s) in {wall:.0f} s wall time "
          f"(the chapters' times sum to {total:.0f} s{ratio})")
    if failed:
        print(f"==> {len(failed)} chapter(s) failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
