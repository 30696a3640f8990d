"""Progress bars for the book's long loops: ``tqdm.auto``, switched off by ``TQDM_DISABLE``.

tqdm reads ``TQDM_DISABLE`` only as the *default* of its ``disable`` argument, so a loop
that passes ``disable=not progress`` would still draw a bar while the book is built. In an
executed notebook a bar is a live widget, which the static site can only show as a stale
``0%|`` line (and which lands inside a figure cell's outputs). ``make book`` sets
``TQDM_DISABLE=1``; every mlbook loop uses this wrapper, so the variable always wins.
"""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm as _tqdm

from .checks import check_bool

__all__ = ["tqdm", "bars_disabled"]


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
