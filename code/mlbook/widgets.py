"""Interactive figures that work in a live kernel *and* on the static HTML site.

Every chapter makes a figure interactive the same way::

    from mlbook.widgets import explore, slider, choice

    def draw(a, b):                    # returns a matplotlib Figure
        ...

    explore(draw, a=slider(0.5, 5, 0.5), b=choice([1, 2, 5]))

:func:`explore` returns one display object with two representations:

* ``application/vnd.jupyter.widget-view+json``: ipywidgets sliders whose callback calls
  ``draw`` again, for JupyterLab, Colab and Binder;
* ``text/html``: the same sliders as plain ``<input type="range">`` elements over frames
  rendered once, at build time, one per combination of control values, with a few lines of
  inline JavaScript that swap the frame. This is what the static site shows (the book's
  ``_config.yml`` tells myst-nb to prefer it in HTML builds), so a reader moving a slider
  on the site sees the figure change with no kernel and no network.

Frames are palette-compressed PNGs. The number of frames is the product of the controls'
sizes, so it is bounded (:data:`MAX_FRAMES`), and so is their total size in the page
(:data:`MAX_BYTES`): a chapter chooses coarse grids to stay light.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .checks import (ArgumentTypeError, check_callable, check_count, check_instance, check_int,
                     check_number)

__all__ = ["Control", "Explorer", "choice", "explore", "slider", "MAX_FRAMES", "MAX_BYTES"]

#: Most frames one widget may render (the product of its controls' sizes).
MAX_FRAMES = 200
#: Most bytes one widget's frames may take in the page (base64 as embedded).
MAX_BYTES = 1_500_000

# Inline styles, so the static view looks the same on the site, in JupyterLab and nbviewer.
_CONTROLS_STYLE = "display:flex;flex-wrap:wrap;gap:0.3em 1.5em;margin:0.4em 0;font-size:0.9em"
_LABEL_STYLE = "display:inline-flex;align-items:center;gap:0.5em"


@dataclass(frozen=True)
class Control:
    """One control of an interactive figure: the values it can take and where it starts.

    ``values`` are the exact values passed to the drawing function; ``labels`` are how
    they are shown next to the slider.
    """

    values: tuple
    default: Any
    label: str | None = None
    fmt: str = "{:g}"

    def __post_init__(self):
        if not isinstance(self.values, tuple):
            raise ArgumentTypeError(f"values must be a non-empty tuple of the control's values, "
                                    f"got {self.values!r}")
        if not self.values:
            raise ValueError("values must hold at least one value, got an empty tuple")
        if self.default not in self.values:
            raise ValueError(f"default {self.default!r} is not one of the control's values "
                             f"{list(self.values)}")
        _check_label_fmt(self.label, self.fmt)

    def format(self, value: Any) -> str:
        """The text shown for ``value`` next to the slider."""
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return self.fmt.format(value)
        return str(value)

    @property
    def labels(self) -> list[str]:
        return [self.format(v) for v in self.values]

    @property
    def default_index(self) -> int:
        return self.values.index(self.default)


def slider(start: float, stop: float, step: float, *, default: float | None = None,
           label: str | None = None, fmt: str = "{:g}") -> Control:
    """A numeric control from ``start`` to ``stop`` (inclusive) in steps of ``step``.

    ``default`` (the value the figure starts at) must be one of the grid's values; it is the
    middle value when omitted. Raises ``ValueError`` for a step of 0, a step pointing away
    from ``stop``, or non-finite bounds.
    """
    for what, x in (("start", start), ("stop", stop), ("step", step)):
        check_number(what, x)
    _check_label_fmt(label, fmt)
    if step == 0:
        raise ValueError("slider step must be non-zero, got 0")
    if (stop - start) * step < 0:
        raise ValueError(f"slider step {step!r} points away from stop: from {start} to {stop} "
                         f"the step must be {'positive' if stop > start else 'negative'}")
    span = (stop - start) / step
    if not math.isfinite(span) or span > MAX_FRAMES:   # before building a huge grid
        raise ValueError(
            f"slider step {step!r} is too small: from {start} to {stop} it gives more than "
            f"{MAX_FRAMES} values (MAX_FRAMES), more frames than a widget may render")
    n = math.floor(span + 1e-9) + 1                      # >= 1: span >= 0 after the checks
    # Round away float noise so 0.1 * 3 shows as 0.3 and equals the default the reader typed.
    values = tuple(round(start + i * step, 12) for i in range(n))
    if all(float(v).is_integer() for v in (start, step)):
        values = tuple(int(v) for v in values)
    return _with_default(values, default, label, fmt)


def choice(values: Iterable, *, default: Any = None, label: str | None = None,
           fmt: str = "{:g}") -> Control:
    """A control over an explicit list of values (numbers or strings), in the given order."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ArgumentTypeError(f"values must be a list of the control's values, got "
                                f"{values!r}")
    values = tuple(values)
    if not values:
        raise ValueError("choice needs at least one value: values is empty")
    _check_label_fmt(label, fmt)
    return _with_default(values, default, label, fmt)


def _check_label_fmt(label: Any, fmt: Any) -> None:
    if label is not None:
        check_instance("label", label, str, what="a string or None")
    check_instance("fmt", fmt, str, what='a format string such as "{:g}"')


def _with_default(values: tuple, default: Any, label: str | None, fmt: str) -> Control:
    if default is None:
        default = values[(len(values) - 1) // 2]
    elif default not in values:
        raise ValueError(f"default {default!r} is not one of the control's values {list(values)}")
    return Control(values=values, default=default, label=label, fmt=fmt)


def _as_control(name: str, spec: Any) -> Control:
    """Accept a Control, a ``(start, stop, step)`` tuple, or a list of values."""
    try:
        if isinstance(spec, Control):
            return spec
        if isinstance(spec, tuple) and len(spec) == 3 and all(
                isinstance(x, numbers.Real) for x in spec):
            return slider(*spec)
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Iterable):
            raise ValueError(
                "give a slider(start, stop, step), a (start, stop, step) tuple, "
                f"or a list of values; got {spec!r}")
        return choice(spec)
    except ValueError as err:
        raise ValueError(f"control {name!r}: {err}") from None


class Explorer:
    """An interactive figure: ``draw(**values)`` over a grid of control values.

    Displaying it in a notebook gives live ipywidgets in a kernel and a static slider over
    pre-rendered frames on the HTML site; see the module docstring.
    """

    def __init__(self, draw: Callable[..., Figure], controls: dict[str, Control], *,
                 dpi: int = 80, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES):
        check_callable("draw", draw, what="a callable draw(**values) -> Figure")
        if not isinstance(controls, dict) or not all(
                isinstance(c, Control) for c in controls.values()):
            raise ArgumentTypeError(f"controls must be a dict of name -> Control (from slider "
                                    f"or choice), got {controls!r:.80}")
        check_int("dpi", dpi, minimum=20, maximum=300)
        max_frames = check_count("max_frames", max_frames)
        max_bytes = check_count("max_bytes", max_bytes)
        self.draw = draw
        self.controls = controls
        self.dpi = dpi
        self.max_bytes = max_bytes
        self.n_frames = math.prod(len(c.values) for c in controls.values())
        if self.n_frames > max_frames:
            sizes = " x ".join(f"{name} ({len(c.values)})" for name, c in controls.items())
            raise ValueError(
                f"too many frames: {sizes} = {self.n_frames} frames; at most {max_frames} "
                "are allowed, so use fewer values for one of these controls")
        self._frames: list[str] | None = None

    # ---- the grid ---------------------------------------------------------------------
    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of control values, first control slowest (row-major)."""
        names = list(self.controls)
        grids = [self.controls[n].values for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*grids)]

    def _render(self, values: dict[str, Any]) -> bytes:
        fig = self.draw(**values)
        if not isinstance(fig, Figure):
            raise TypeError(f"draw() must return a matplotlib Figure, got {type(fig).__name__}")
        try:
            return _compressed_png(fig, self.dpi)
        finally:
            plt.close(fig)

    def frames(self) -> list[str]:
        """All frames as base64 PNG strings (rendered once, then cached)."""
        if self._frames is None:
            frames = [base64.b64encode(self._render(v)).decode("ascii")
                      for v in self.combinations()]
            size = sum(len(f) for f in frames)
            if size > self.max_bytes:
                raise ValueError(
                    f"the {len(frames)} frames take {size / 1e6:.2f} MB, over the "
                    f"{self.max_bytes / 1e6:.2f} MB allowed per widget: use fewer control "
                    "values, a smaller figure or a lower dpi")
            self._frames = frames
        return self._frames

    # ---- the static view (text/html) --------------------------------------------------
    def to_html(self) -> str:
        """A self-contained HTML slider over the pre-rendered frames (no kernel needed)."""
        frames = self.frames()
        names = list(self.controls)
        sizes = [len(self.controls[n].values) for n in names]
        strides = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
        start = sum(self.controls[n].default_index * s for n, s in zip(names, strides))
        uid = "mlbook-explorer-" + hashlib.sha1("".join(frames).encode()).hexdigest()[:10]
        rows = []
        for name in names:
            c = self.controls[name]
            label = html.escape(c.label or name)
            rows.append(
                f'<label class="mlbook-control" style="{_LABEL_STYLE}">'
                f'<span class="mlbook-control-name">{label}</span>'
                f'<input type="range" min="0" max="{len(c.values) - 1}" step="1" '
                f'value="{c.default_index}" data-control="{html.escape(name)}" '
                f'aria-label="{label}" style="width:9em">'
                f'<output style="min-width:3em;font-variant-numeric:tabular-nums">'
                f'{html.escape(c.format(c.default))}</output></label>')
        labels = {n: self.controls[n].labels for n in names}
        alt = html.escape("Figure for " + ", ".join(
            f"{n} = {self.controls[n].format(self.controls[n].default)}" for n in names))
        script = (
            "(function(){"
            f"var root=document.getElementById('{uid}');"
            f"var frames={json.dumps(frames)};"
            f"var labels={json.dumps(labels)};"
            f"var names={json.dumps(names)};var strides={json.dumps(strides)};"
            "var img=root.querySelector('img.mlbook-frame');"
            "var inputs=root.querySelectorAll('input[type=range]');"
            "function update(){var k=0,alt=[];"
            "inputs.forEach(function(el,i){var j=parseInt(el.value,10);k+=j*strides[i];"
            "var text=labels[names[i]][j];el.nextElementSibling.textContent=text;"
            "alt.push(names[i]+' = '+text);});"
            "img.src='data:image/png;base64,'+frames[k];img.alt='Figure for '+alt.join(', ');"
            "img.dataset.frame=k;}"
            "inputs.forEach(function(el){el.addEventListener('input',update);});"
            "})();")
        return (
            f'<div class="mlbook-explorer" id="{uid}" data-frames="{len(frames)}">'
            f'<div class="mlbook-controls" style="{_CONTROLS_STYLE}">{"".join(rows)}</div>'
            f'<img class="mlbook-frame" data-frame="{start}" alt="{alt}" style="max-width:100%" '
            f'src="data:image/png;base64,{frames[start]}">'
            f"<script>{script}</script></div>")

    # ---- the live view (ipywidgets) ---------------------------------------------------
    def widget(self):
        """Live ipywidgets: one slider per control; moving one calls ``draw`` again."""
        import ipywidgets as widgets
        from IPython.display import display

        sliders = {
            name: widgets.SelectionSlider(
                options=list(zip(c.labels, c.values)), value=c.default,
                description=c.label or name, continuous_update=False,
                style={"description_width": "initial"})
            for name, c in self.controls.items()}

        def redraw(**values):
            fig = self.draw(**values)
            display(fig)
            plt.close(fig)

        out = widgets.interactive_output(redraw, sliders)
        return widgets.VBox([widgets.HBox(list(sliders.values())), out])

    def _repr_mimebundle_(self, include=None, exclude=None):
        try:
            live = self.widget()._repr_mimebundle_() or {}
        except ImportError:  # ipywidgets missing: the static view still works
            live = {}
        return {**live, "text/plain": repr(self), "text/html": self.to_html()}

    def __repr__(self) -> str:
        ctrl = ", ".join(f"{n}={list(c.values)}" for n, c in self.controls.items())
        return f"Explorer({getattr(self.draw, '__name__', 'draw')}, {ctrl})"


def explore(draw: Callable[..., Figure], /, *, dpi: int = 80, **controls: Any) -> Explorer:
    """Make ``draw`` interactive over the given controls.

    Parameters
    ----------
    draw
        ``draw(**values) -> matplotlib.figure.Figure``: one keyword argument per control.
    dpi
        Resolution of the pre-rendered frames.
    **controls
        ``name=slider(start, stop, step)``, ``name=choice([...])``, or the shorthands
        ``name=(start, stop, step)`` and ``name=[v1, v2, ...]``.

    Raises
    ------
    ValueError
        No controls, an empty range or a step of 0 (the message names the control), or a
        grid of more than :data:`MAX_FRAMES` frames.
    """
    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("explore needs at least one control, e.g. explore(draw, a=(0, 1, 0.1))")
    check_int("dpi", dpi, minimum=20, maximum=300)
    parsed = {name: _as_control(name, spec) for name, spec in controls.items()}
    return Explorer(draw, parsed, dpi=dpi)


def _compressed_png(fig: Figure, dpi: int) -> bytes:
    """Render ``fig`` as a PNG with an adaptive 8-bit palette (3-4x smaller than RGBA)."""
    from PIL import Image

    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi, facecolor="white")
    image = Image.open(raw).convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

