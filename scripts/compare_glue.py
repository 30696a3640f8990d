"""Do two builds glue the same numbers? Compare the glued values of two sets of executed chapters.

Usage:
    python scripts/compare_glue.py DIR_A DIR_B [PREFIX ...]

DIR_A and DIR_B hold executed chapter notebooks: a build's ``_build/jupyter_execute/chapters``
(copy it aside before the second build) or the output folders of ``jupyter nbconvert
--execute``. PREFIX limits the comparison to chapters whose file names start so (``01 02``).

Every glued value must agree, except timings. A timing is known by its name (CONTRIBUTING.md):
a glue key ending in ``_seconds``, ``_s``, ``_ms``, ``_per_second`` or ``_speedup`` measures
the machine, not the book, and is left out. Everything else is seeded and must come out the
same. Exit status 1 when a value differs or a key is missing from one build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

TIMING = re.compile(r"(_seconds|_s|_ms|_per_second|_speedup)$")
COMPARED_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


def is_timing(key: str) -> bool:
    """Whether a glue key names a timing (by the naming convention), which may differ."""
    return bool(TIMING.search(key))


def glued_values(notebook: Path) -> dict[str, dict[str, str]]:
    """``key -> {mime: text}`` for every value the executed notebook glued (myst-nb marks
    each glue output with ``metadata.scrapbook.name``)."""
    nb = nbformat.read(notebook, as_version=4)
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                data = out.get("data", {})
                values[name] = {m: str(data[m]) for m in COMPARED_MIMES if m in data}
    return values


def compare(dir_a: Path, dir_b: Path, prefixes: list[str]) -> list[str]:
    """Human-readable differences between the two folders' glued values (empty: they agree)."""
    problems = []
    names = sorted(p.name for p in dir_a.glob("*.ipynb"))
    if prefixes:
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    if not names:
        return [f"no executed notebooks in {dir_a} match {prefixes or 'anything'}"]
    for name in names:
        if not (dir_b / name).exists():
            problems.append(f"{name}: missing from {dir_b}")
            continue
        a, b = glued_values(dir_a / name), glued_values(dir_b / name)
        for key in sorted(set(a) | set(b)):
            if is_timing(key):
                continue
            if key not in a or key not in b:
                problems.append(f"{name}: {key} glued in only one build")
            elif a[key] != b[key]:
                shown = {m: (a[key].get(m, "")[:80], b[key].get(m, "")[:80]) for m in a[key]
                         if a[key].get(m) != b[key].get(m)}
                problems.append(f"{name}: {key} differs: {shown}")
        compared = sum(not is_timing(k) for k in a)
        print(f"{name}: {compared} glued values compared, "
              f"{sum(is_timing(k) for k in a)} timings left out")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.exit(__doc__)
    problems = compare(Path(argv[0]), Path(argv[1]), argv[2:])
    for line in problems:
        print(line)
    print("the two builds agree" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
