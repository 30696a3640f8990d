"""Process memory, measured for real: how far a call raises the resident set size (RSS).

Any chapter can use it; chapter 10 does, to show that FlashAttention's tiled forward never
holds an ``N x N`` matrix (:func:`mlbook.attention.attention_peak_memory`). Linux only: it
reads the kernel's accounting in ``/proc/self/status`` (``VmRSS``, ``VmHWM``) and resets the
high-water mark through ``/proc/self/clear_refs`` (see ``proc(5)``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import sys
from typing import Callable

from .checks import check_callable

__all__ = ["peak_rss_increase"]

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(_STATUS) as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    if match is None:
        raise RuntimeError(f"{_STATUS} has no {field} line")
    return int(match.group(1))


def _release_free_heap() -> None:
    """Return freed heap pages to the OS (glibc's ``malloc_trim``), so they count again."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def peak_rss_increase(fn: Callable[[], object]) -> int:
    """How many bytes the process's resident memory rose at its peak while ``fn()`` ran.

    Linux only. Freed heap pages are first returned to the OS (``malloc_trim``), the
    kernel's high-water mark of resident memory (``VmHWM``) is reset by writing ``5`` to
    ``/proc/self/clear_refs``, the current resident size (``VmRSS``) is read, ``fn()`` runs,
    and the new high-water mark minus that starting size is returned. This counts every
    page the call touched, tensors and temporaries included, whatever allocated them: it
    is the memory the operating system had to give the process, not an estimate.
    Raises ``RuntimeError`` where ``/proc/self/clear_refs`` is not available.
    """
    check_callable("fn", fn, what="a callable taking no arguments")
    if not sys.platform.startswith("linux") or not os.access(_CLEAR_REFS, os.W_OK):
        raise RuntimeError("peak_rss_increase needs Linux's /proc/self/clear_refs to reset "
                           "the peak resident size; it is not available here")
    _release_free_heap()
    with open(_CLEAR_REFS, "w") as f:
        f.write("5")                                           # VmHWM := VmRSS
    start = _status_kib("VmRSS")
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return max(peak - start, 0) * 1024
