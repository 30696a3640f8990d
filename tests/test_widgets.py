"""mlbook.widgets: one display object, a live view and a static view over frames."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mlbook.widgets import MAX_FRAMES, choice, explore, slider


def draw_line(slope, intercept=0.0):
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 20)
    ax.plot(x, slope * x + intercept)
    ax.set(title=f"slope {slope}", xlabel="x", ylabel="y")
    return fig


def test_slider_grid_is_inclusive_and_free_of_float_noise():
    c = slider(0.1, 0.5, 0.1)
    assert c.values == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert c.default == 0.3                      # the middle value
    assert slider(1, 10, 3).values == (1, 4, 7, 10)


def test_one_frame_per_combination_row_major():
    ex = explore(draw_line, slope=choice([1, 2, 3]), intercept=choice([0.0, 1.0]))
    assert ex.n_frames == 6
    combos = ex.combinations()
    assert combos[0] == {"slope": 1, "intercept": 0.0}
    assert combos[1] == {"slope": 1, "intercept": 1.0}
    frames = ex.frames()
    assert len(frames) == 6 and len(set(frames)) == 6   # each frame differs


def test_static_html_carries_every_frame_and_starts_at_the_default():
    ex = explore(draw_line, slope=choice([1, 2, 3], default=3))
    page = ex.to_html()
    assert page.count("<input type=\"range\"") == 1
    assert 'value="2"' in page                  # index of the default value 3
    assert len(re.findall(r"iVBORw0KGgo", page)) == 3 + 1   # 3 frames in JS + the shown one
    start = ex.frames()[2]
    assert f'src="data:image/png;base64,{start}"' in page
    assert "http" not in page                    # nothing loaded from anywhere


def test_mimebundle_has_live_widget_and_static_html():
    bundle = explore(draw_line, slope=(1, 3, 1))._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith('<div class="mlbook-explorer"')


def test_frames_are_compressed_pngs():
    ex = explore(draw_line, slope=[1, 2])
    assert max(len(f) for f in ex.frames()) < 30_000


@pytest.mark.parametrize("spec, message", [
    ((1, 0, 1), "control 'slope': slider step 1 points away from stop"),
    ((0, 1, 0), "control 'slope': slider step must be non-zero"),
    ([], "control 'slope': choice needs at least one value"),
    ("abc", "control 'slope': give a slider"),
])
def test_bad_controls_name_the_control(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explore(draw_line, slope=spec)


def test_too_many_frames_is_refused_before_drawing():
    calls = []

    def draw(a, b):
        calls.append(1)
        return draw_line(a)

    with pytest.raises(ValueError, match=rf"a \(20\) x b \(11\) = 220 frames; at most {MAX_FRAMES}"):
        explore(draw, a=slider(1, 20, 1), b=slider(0, 1, 0.1))
    assert not calls


def test_frames_over_the_size_budget_are_refused():
    def noisy(seed):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.imshow(np.random.default_rng(seed).random((300, 300)))
        return fig

    with pytest.raises(ValueError, match="over the 1.50 MB allowed"):
        explore(noisy, dpi=150, seed=choice(range(12))).frames()


def test_default_must_be_a_value_and_draw_must_return_a_figure():
    with pytest.raises(ValueError, match="default 5 is not one of"):
        choice([1, 2], default=5)
    with pytest.raises(TypeError, match="matplotlib Figure"):
        explore(lambda a: None, a=[1]).frames()
    with pytest.raises(ValueError, match="at least one control"):
        explore(draw_line)
