"""scripts/execute_chapters.py: which chapters start when, in a parallel build."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from conftest import ROOT, toc_files

sys.path.insert(0, str(ROOT / "scripts"))
import execute_chapters  # noqa: E402

P = {name: Path(f"{name}.ipynb") for name in ["01_a", "06_llama", "07_alpaca", "08_dpo", "10_f"]}
AFTER = {"07_alpaca": ["06_llama"], "08_dpo": ["07_alpaca"]}
EXPECTED = {"01_a": 30, "06_llama": 90, "07_alpaca": 100, "08_dpo": 120, "10_f": 60}


def names(paths):
    return [p.stem for p in paths]


def test_longest_first_and_dependants_wait_for_what_they_start_from():
    stale = list(P.values())
    ready = execute_chapters.schedule(stale, EXPECTED, AFTER, running=set(), done=set())
    assert names(ready) == ["06_llama", "10_f", "01_a"]
    ready = execute_chapters.schedule(stale, EXPECTED, AFTER, running={"06_llama"}, done=set())
    assert names(ready) == ["10_f", "01_a"]
    ready = execute_chapters.schedule(stale, EXPECTED, AFTER, running={"10_f"},
                                      done={"06_llama"})
    assert names(ready) == ["07_alpaca", "01_a"]
    ready = execute_chapters.schedule(stale, EXPECTED, AFTER, running=set(),
                                      done={"06_llama", "07_alpaca", "10_f", "01_a"})
    assert names(ready) == ["08_dpo"]


def test_a_dependency_that_is_not_stale_does_not_hold_a_chapter_back():
    stale = [P["07_alpaca"], P["08_dpo"]]           # chapter 6 is in the cache already
    ready = execute_chapters.schedule(stale, EXPECTED, AFTER, running=set(), done=set())
    assert names(ready) == ["07_alpaca"]


def test_every_after_names_a_chapter_of_the_book():
    chapters = {Path(f).name for f in toc_files() if f.startswith("chapters/")}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        after = nbformat.read(path, as_version=4).metadata.get("mlbook", {}).get("after", [])
        for dep in after:
            assert dep in chapters, f"{path.name}: after {dep!r} is not a chapter"
            assert dep < path.stem, f"{path.name} cannot come after a later chapter {dep}"
