"""mlbook.plotting: the shared figure helpers (log ticks, class regions in the plane)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mlbook.plotting import (CLASS_COLORS, COLORS, REGION_COLORS, plain_log,  # noqa: E402
                             plane_grid, plot_regions)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_plain_log_writes_powers_of_ten_as_plain_numbers(ax):
    ax.plot([1, 1000], [1, 2])
    ax.set_xscale("log")
    plain_log(ax)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert {"1", "10", "100", "1000"} <= set(labels)
    assert not any("$" in text for text in labels)               # no mathtext
    assert len(ax.xaxis.get_minorticklocs()) == 0


def test_plain_log_needs_a_log_axis_and_a_known_axis(ax):
    with pytest.raises(ValueError, match="axis"):
        plain_log(ax)                                             # still linear
    ax.set_yscale("log")
    with pytest.raises(ValueError, match="axis"):
        plain_log(ax, "z")
    with pytest.raises(TypeError, match="ax"):
        plain_log("not an axes")


def test_plane_grid_covers_the_extent_row_by_row():
    xs, ys, points = plane_grid((-1, 1, 0, 2), n=3)
    np.testing.assert_allclose(xs, [-1, 0, 1])
    np.testing.assert_allclose(ys, [0, 1, 2])
    assert points.shape == (9, 2)
    np.testing.assert_allclose(points[:3], [[-1, 0], [0, 0], [1, 0]])   # y outer, x inner
    np.testing.assert_allclose(points[-1], [1, 2])


@pytest.mark.parametrize("extent, n, match", [((1, 0, 0, 1), 5, "extent"),
                                              ((0, 1, 0), 5, "extent"),
                                              ((0, 1, 0, 1), 1, "n")])
def test_plane_grid_refuses_bad_input(extent, n, match):
    with pytest.raises(ValueError, match=match):
        plane_grid(extent, n)


def test_plot_regions_colours_the_plane_by_class_and_the_points_by_label(ax):
    extent = (0.0, 1.0, 0.0, 1.0)
    _, _, points = plane_grid(extent, n=4)
    labels = (points[:, 0] > 0.5).astype(int)                     # right half is class 1
    X, y = np.array([[0.2, 0.2], [0.8, 0.8]]), np.array([0, 1])
    plot_regions(ax, labels, extent, X, y, title="t")
    image = ax.get_images()[0].get_array()
    np.testing.assert_array_equal(image, labels.reshape(4, 4))
    cmap = ax.get_images()[0].get_cmap()
    np.testing.assert_allclose([cmap(0.0)[:3], cmap(1.0)[:3]],
                               [matplotlib.colors.to_rgb(c) for c in REGION_COLORS])
    faces = ax.collections[0].get_facecolors()
    np.testing.assert_allclose(faces[:, :3], [matplotlib.colors.to_rgb(c) for c in CLASS_COLORS])
    assert ax.get_title() == "t" and ax.get_xlim() == (0.0, 1.0)
    assert list(CLASS_COLORS) == [COLORS["mean"], COLORS["map"]]


def test_plot_regions_refuses_bad_input(ax):
    extent = (0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="labels"):
        plot_regions(ax, np.zeros(10), extent)                    # not a square grid
    with pytest.raises(ValueError, match="X and y"):
        plot_regions(ax, np.zeros(16), extent, X=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="y"):
        plot_regions(ax, np.zeros(16), extent, np.zeros((2, 2)), np.array([0, 2]))
