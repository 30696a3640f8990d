"""What a chapter needs from the notebook it runs in, wherever that is.

The book's build executes the chapters with myst-nb, whose ``glue`` stores a value in the
cell's output so that the prose can quote it (``{glue:text}`name:.2f```). A reader who opens
one chapter alone in Colab or Binder has no myst-nb, and should not have to install Sphinx
and the whole site toolchain to run a chapter. :func:`glue` uses myst-nb's when it is
installed and otherwise keeps the value in :data:`GLUED` (and shows it, as myst-nb does),
so the same chapter runs in both places.

:func:`show_source` prints the code a chapter teaches: a function's or class's source,
without its docstring by default, or only the part between two named *marks*. A mark is a
comment line of its own in the module's source,

    # [mark: name]

where ``name`` is made of letters, digits, ``-`` and ``_``. ``show_source(f, start="loop")``
begins after the line ``# [mark: loop]`` inside ``f``, ``stop="update"`` ends before the
line ``# [mark: update]``; mark lines are never printed. Chapters cut code at marks, never
at a line of code, so reformatting a line cannot break a chapter (a missing mark raises).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

import numpy as np

from .checks import ArgumentTypeError, check_bool

__all__ = ["GLUED", "MARK", "glue", "show_source"]

#: A mark line: ``# [mark: name]`` on a line of its own (``name``: letters, digits, - and _).
MARK = re.compile(r"^\s*#\s*\[mark:\s*([A-Za-z0-9_-]+)\s*\]\s*$")

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


def _docstring_lines(source: str) -> set[int]:
    """0-based line numbers of every docstring in ``source`` (the object's own and those of
    the functions and classes defined inside it)."""
    tree = ast.parse(source)
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                lines.update(range(body[0].lineno - 1, body[0].end_lineno))
    return lines


def show_source(obj: Any, start: str | None = None, stop: str | None = None, *,
                docstring: bool = False) -> None:
    """Print the source of ``obj`` (a function, method or class), or the part between marks.

    Parameters
    ----------
    obj
        The function, method or class whose code to show.
    start
        ``None`` (from the ``def``/``class`` line) or the name of a mark inside ``obj``:
        the listing begins on the line after ``# [mark: start]``.
    stop
        ``None`` (to the end) or the name of a mark inside ``obj``: the listing ends on
        the line before ``# [mark: stop]``.
    docstring
        Keep the docstrings (True) or drop them (False, the default): the object's own and
        those of functions and classes defined inside it.

    The listing is dedented, and mark lines are left out wherever they fall. Raises
    ``ValueError`` for a mark that ``obj`` does not hold (the message lists the marks it
    has), a mark that occurs twice, or ``stop`` before ``start``.
    """
    unwrapped = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(unwrapped, (staticmethod, classmethod)):
        unwrapped = unwrapped.__func__
    if not (inspect.isfunction(unwrapped) or inspect.isclass(unwrapped)
            or inspect.ismethod(unwrapped)):
        raise ArgumentTypeError(f"obj must be a function, method or class defined in Python "
                                f"source, got {type(obj).__name__}")
    for name, value in (("start", start), ("stop", stop)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ArgumentTypeError(f"{name} must be None or the name of a mark "
                                    f"(# [mark: name]), got {value!r}")
    docstring = check_bool("docstring", docstring)
    try:
        source = textwrap.dedent(inspect.getsource(unwrapped))
    except (OSError, TypeError) as err:
        raise ArgumentTypeError(f"obj: no Python source found for {obj!r} ({err})") from None
    lines = source.splitlines()
    marks: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        found = MARK.match(line)
        if found:
            marks.setdefault(found.group(1), []).append(i)
    where = getattr(unwrapped, "__qualname__", repr(obj))

    def position(name: str, label: str) -> int:
        if name not in marks:
            have = ", ".join(sorted(marks)) or "none"
            raise ValueError(f"{label}: {where} has no mark '# [mark: {name}]' (its marks: "
                             f"{have})")
        if len(marks[name]) > 1:
            raise ValueError(f"{label}: the mark {name!r} occurs {len(marks[name])} times in "
                             f"{where}; a mark must be unique")
        return marks[name][0]

    first = 0 if start is None else position(start, "start") + 1
    last = len(lines) if stop is None else position(stop, "stop")
    if last < first:
        raise ValueError(f"stop: the mark {stop!r} comes before the mark {start!r} in {where}")
    hidden = set() if docstring else _docstring_lines(source)
    kept = [line for i, line in enumerate(lines[first:last], start=first)
            if i not in hidden and not MARK.match(line)]
    print(textwrap.dedent("\n".join(kept)).strip("\n"))
