"""Progress bars for the book's long loops: ``tqdm.auto``, switched off by ``TQDM_DISABLE``.

tqdm reads ``TQDM_DISABLE`` only as the *default* of its ``disable`` argument, so a loop
that passes ``disable=not progress`` would still draw a bar while the book is built. In an
executed notebook a bar is a live widget, which the static site can only show as a stale
``0%|`` line (and which lands inside a figure cell's outputs). ``make book`` sets
``TQDM_DISABLE=1``; every mlbook loop uses this wrapper, so the variable always wins.

:func:`timed` is the other half of "how long does this take": one call (or the best of a
few) timed with the wall clock, for the chapters that quote a speed-up.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any, Callable, TypeVar

from tqdm.auto import tqdm as _tqdm

from .checks import check_bool, check_callable, check_count

__all__ = ["tqdm", "bars_disabled", "timed"]

T = TypeVar("T")


def bars_disabled() -> bool:
    """True when the environment variable ``TQDM_DISABLE`` is set to a true value."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


def tqdm(*args: Any, disable: bool | None = False, **kwargs: Any) -> _tqdm:
    """``tqdm.auto.tqdm(*args, **kwargs)``, disabled when asked or when ``TQDM_DISABLE`` is set.

    ``disable``: True, False, or None (tqdm's: off when the output is not a terminal).
    """
    if disable is not None:
        check_bool("disable", disable)
    return _tqdm(*args, disable=True if bars_disabled() else disable, **kwargs)


def timed(fn: Callable[[], T], *, repeat: int = 1) -> tuple[T, float]:
    """Call ``fn()`` ``repeat`` times: ``(its last result, the shortest call in seconds)``.

    Wall-clock time (:func:`time.perf_counter`) of each call, with the garbage collector
    paused during the call (as :mod:`timeit` does), so a collection triggered by earlier
    work does not land in the measurement. The best of several calls is the usual estimate
    of what the code itself costs; one call (the default) times work too long to repeat.
    """
    check_callable("fn", fn, what="a function of no arguments")
    repeat = check_count("repeat", repeat)
    best = float("inf")
    out: Any = None
    for _ in range(repeat):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - start
        finally:
            if was_enabled:
                gc.enable()
        best = min(best, seconds)
    return out, best
