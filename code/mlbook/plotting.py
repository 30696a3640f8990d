"""One plotting style for every figure in the book.

Chapters call :func:`use_book_style` once (the setup cell does it) so every figure has the
same fonts, sizes and colours; :data:`COLORS` names the colours that mean the same thing
across chapters (the truth is always black, the MLE always orange, and so on).

Helpers that more than one figure needs live here too: :func:`plain_log` (a log axis with
ticks written 1, 10, 100), and for two-class problems in the plane (chapter 2)
:data:`CLASS_COLORS`, :data:`REGION_COLORS`, :func:`plane_grid` and :func:`plot_regions`.
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from .checks import ArgumentTypeError, check_array, check_choice, check_count

__all__ = ["BOOK_STYLE", "CLASS_COLORS", "COLORS", "REGION_COLORS", "plain_log", "plane_grid",
           "plot_regions", "use_book_style"]

#: Colours with a fixed meaning across the book (colour-blind safe, Okabe-Ito palette).
COLORS = {
    "truth": "#000000",
    "prior": "#56B4E9",      # sky blue
    "likelihood": "#E69F00",  # orange
    "posterior": "#009E73",   # green
    "mle": "#E69F00",
    "map": "#D55E00",         # vermillion
    "mean": "#0072B2",        # blue
    "reference": "#999999",   # grey
    "accent": "#CC79A7",      # purple
}

BOOK_STYLE = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 2.0,
    "axes.prop_cycle": mpl.cycler(color=[COLORS[k] for k in
                                         ("mean", "likelihood", "posterior", "map",
                                          "prior", "accent", "reference")]),
}


def use_book_style() -> None:
    """Apply the book's matplotlib style to every figure drawn after this call."""
    mpl.rcParams.update(BOOK_STYLE)


#: Two classes, two colours: class 0 blue, class 1 vermillion (an array, so that
#: ``CLASS_COLORS[y]`` colours points by their 0/1 labels ``y``).
CLASS_COLORS = np.array([COLORS["mean"], COLORS["map"]])
#: Lighter shades of :data:`CLASS_COLORS` for the regions a classifier assigns to each class.
REGION_COLORS = ("#cfe1f3", "#f7d3bd")


def _check_axes(ax: Any) -> Any:
    if not hasattr(ax, "imshow") or not hasattr(ax, "xaxis"):
        raise ArgumentTypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def plain_log(ax, axis: str = "x") -> None:
    """Write the ticks of ``ax``'s log-scaled ``axis`` (``"x"`` or ``"y"``) as 1, 10, 100.

    Major ticks at powers of ten (at most 7), no minor ticks, labels in plain numbers
    (``f"{v:g}"``) rather than ``10^k`` mathtext, which is also faster to draw. Call it after
    setting the scale (setting a scale resets the ticks); a linear axis raises ``ValueError``.
    """
    ax = _check_axes(ax)
    axis = check_choice("axis", axis, ("x", "y"))
    if getattr(ax, f"get_{axis}scale")() != "log":
        raise ValueError(f"axis: the {axis} axis must be log-scaled first "
                         f"(ax.set_{axis}scale('log')), it is "
                         f"{getattr(ax, f'get_{axis}scale')()!r}")
    a = getattr(ax, axis + "axis")
    a.set_major_locator(LogLocator(10, numticks=7))
    a.set_minor_locator(NullLocator())
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _check_extent(extent: Any) -> tuple[float, float, float, float]:
    box = check_array("extent", extent, shape=(4,))
    if not (box[0] < box[1] and box[2] < box[3]):
        raise ValueError(f"extent must be (x_min, x_max, y_min, y_max) with x_min < x_max "
                         f"and y_min < y_max, got {tuple(box.tolist())}")
    return tuple(float(v) for v in box)


def plane_grid(extent, n: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ``n x n`` grid over ``extent = (x_min, x_max, y_min, y_max)``.

    Returns ``(xs, ys, points)``: the ``n`` values along each axis, shape ``(n,)``, and every
    grid point, shape ``(n * n, 2)``, row by row (``y`` outer, ``x`` inner), so that a
    prediction on ``points`` reshapes to ``(n, n)`` for :func:`plot_regions` or a contour.
    """
    x0, x1, y0, y1 = _check_extent(extent)
    n = check_count("n", n, minimum=2)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, np.c_[xx.ravel(), yy.ravel()]


def plot_regions(ax, labels, extent, X=None, y=None, title: str | None = None) -> None:
    """Colour the plane by predicted class, with the points ``X`` (labels ``y``) on top.

    ``labels`` are the 0/1 predictions on ``plane_grid(extent, n)[2]``, shape ``(n * n,)``;
    the regions take :data:`REGION_COLORS`, the points :data:`CLASS_COLORS`. ``X`` is
    ``(m, 2)`` and ``y`` its ``m`` labels in {0, 1}, or both ``None`` for regions alone.
    """
    ax = _check_axes(ax)
    labels = check_array("labels", labels, ndim=1)
    n = int(round(np.sqrt(labels.size)))
    if n * n != labels.size:
        raise ValueError(f"labels must hold one prediction per point of an n x n grid "
                         f"(plane_grid), got {labels.size}, not a square")
    box = _check_extent(extent)
    if (X is None) != (y is None):
        raise ValueError("X and y go together: pass both (points and their labels) or neither")
    if title is not None and not isinstance(title, str):
        raise ArgumentTypeError(f"title must be a string or None, got {type(title).__name__}")
    ax.imshow(labels.reshape(n, n), origin="lower", extent=box,
              cmap=ListedColormap(list(REGION_COLORS)),
              vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    if X is not None:
        X = check_array("X", X, shape=(None, 2))
        y = check_array("y", y, shape=(len(X),), integer=True, minimum=0, maximum=1)
        ax.scatter(X[:, 0], X[:, 1], c=CLASS_COLORS[y.astype(int)], s=9, linewidths=0)
    ax.set(xlim=box[:2], ylim=box[2:], xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.grid(False)
