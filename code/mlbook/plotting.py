"""One plotting style for every figure in the book.

Chapters call :func:`use_book_style` once (the setup cell does it) so every figure has the
same fonts, sizes and colours; :data:`COLORS` names the colours that mean the same thing
across chapters (the truth is always black, the MLE always orange, and so on).
"""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["BOOK_STYLE", "COLORS", "use_book_style"]

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
