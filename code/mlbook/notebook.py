"""What a chapter needs from the notebook it runs in, wherever that is.

The book's build executes the chapters with myst-nb, whose ``glue`` stores a value in the
cell's output so that the prose can quote it (``{glue:text}`name:.2f```). A reader who opens
one chapter alone in Colab or Binder has no myst-nb, and should not have to install Sphinx
and the whole site toolchain to run a chapter. :func:`glue` uses myst-nb's when it is
installed and otherwise keeps the value in :data:`GLUED` (and shows it, as myst-nb does),
so the same chapter runs in both places.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["GLUED", "glue"]

#: Every value glued in this kernel, by name: what the prose of a chapter quotes.
GLUED: dict[str, Any] = {}

try:  # the book's build and `make lab`
    from myst_nb import glue as _myst_nb_glue
except ImportError:  # a chapter opened alone (Colab, Binder, a bare kernel)
    _myst_nb_glue = None


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Record ``variable`` under ``name`` for the chapter's text to quote.

    With myst-nb installed this is ``myst_nb.glue`` (the value goes into the cell's output
    with the name in its metadata, where the book build finds it). Without it, the value is
    kept in :data:`GLUED` and, when ``display`` is true, shown in the cell's output, which is
    what a reader of the live notebook sees either way. NumPy scalars are glued as the
    Python numbers they hold, so that the text can format them.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"glue needs a non-empty string name, got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"glue's display must be True or False, got {display!r}")
    if isinstance(variable, np.generic):
        # A NumPy scalar's text is "np.float64(0.5)" (NumPy >= 2), which a formatted
        # {glue:text}`name:.2f` cannot parse: glue the plain Python number instead.
        variable = variable.item()
    GLUED[name] = variable
    if _myst_nb_glue is not None:
        _myst_nb_glue(name, variable, display=display)
    elif display:
        from IPython.display import display as show

        show(variable)
