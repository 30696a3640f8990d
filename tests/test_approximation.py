"""Tests for mlbook.approximation (chapter 5): each test states a claim the chapter makes."""

import math

import numpy as np
import pytest

from mlbook.approximation import (
    Constant, Harmonic, Power, StepSize, additive_noise, batch_gd, descent_fraction,
    gradient_descent,
    gradient_relative_error, incremental_mean, least_squares_gradient, least_squares_loss,
    least_squares_solution, make_least_squares, minibatch_gd, robbins_monro, sgd)

ROOT = 1.0


def g(w):
    """The chapter's monotone function: tanh(w - 1), root at w* = 1."""
    return np.tanh(w - ROOT)


@pytest.fixture(scope="module")
def data():
    X, y = make_least_squares(200, rng=0)
    return X, y, least_squares_solution(X, y)


# ---- the incremental mean (eq. 5.2 / 5.3) -----------------------------------------------------

def test_incremental_mean_with_harmonic_steps_is_the_sample_mean():
    x = np.random.default_rng(1).exponential(2.0, size=5000)
    running = incremental_mean(x)
    assert running.shape == x.shape
    assert abs(running[-1] - np.mean(x)) < 1e-12
    prefix_means = np.cumsum(x) / np.arange(1, x.size + 1)
    np.testing.assert_allclose(running, prefix_means, rtol=0, atol=1e-12)


def test_incremental_mean_runs_several_streams_at_once():
    x = np.random.default_rng(2).normal(3.0, 1.0, size=(400, 3, 2))
    running = incremental_mean(x, w1=100.0)  # a_1 = 1 erases the initial guess
    assert running.shape == x.shape
    np.testing.assert_allclose(running[-1], x.mean(axis=0), rtol=0, atol=1e-12)


def test_constant_step_gives_an_exponential_moving_average():
    x = np.random.default_rng(3).normal(size=50)
    a = 0.2
    running = incremental_mean(x, Constant(a), w1=0.0)
    weights = a * (1 - a) ** np.arange(49, -1, -1)      # newest sample weighs a
    assert running[-1] == pytest.approx(np.sum(weights * x), abs=1e-12)


# ---- step sizes ---------------------------------------------------------------------------------

def test_schedules_are_vectorised_over_k():
    k = np.arange(1, 6)
    np.testing.assert_allclose(Harmonic()(k), 1 / k)
    np.testing.assert_allclose(Power(0.5, 0.75)(k), 0.5 / k ** 0.75)
    np.testing.assert_allclose(Constant(0.1)(k), np.full(5, 0.1))
    assert Power(2.0, 1.0)(4) == 0.5 and isinstance(Power(2.0, 1.0)(4), float)
    assert Harmonic()(np.array([[1, 2], [4, 8]])).shape == (2, 2)


def test_power_schedule_meets_robbins_monro_exactly_for_alpha_in_half_to_one():
    for alpha, ok in [(0.0, False), (0.5, False), (0.51, True), (0.75, True), (1.0, True),
                      (1.01, False), (2.0, False)]:
        assert Power(1.0, alpha).satisfies_robbins_monro is ok, alpha
    assert Harmonic().satisfies_robbins_monro
    assert not Constant(0.1).satisfies_robbins_monro
    assert not Power(1.0, 2.0).sum_diverges and Power(1.0, 2.0).square_summable
    assert Constant(0.1).sum_diverges and not Constant(0.1).square_summable


def test_inverse_square_steps_sum_to_pi_squared_over_six():
    # Euler's Basel sum: the whole distance a 1/k^2 schedule can ever move (times sup |g~|).
    tail = 1e-6  # sum_{k > n} 1/k^2 is about 1/n
    assert Power(1.0, 2.0).partial_sum(10 ** 6) == pytest.approx(math.pi ** 2 / 6, abs=1.1 * tail)


def test_schedules_are_frozen_and_hashable():
    s = Power(1.0, 0.75)
    with pytest.raises(AttributeError):
        s.c = 2.0
    assert len({s, Power(1.0, 0.75), Harmonic(), Constant(0.1)}) == 3


@pytest.mark.parametrize("make, match", [
    (lambda: Power(c=0.0), "c must be a positive"),
    (lambda: Power(c=-1.0), "c must be a positive"),
    (lambda: Power(alpha="0.5"), "alpha must be a non-negative finite number"),
    (lambda: Power(alpha=float("nan")), "alpha must be a non-negative finite number"),
    (lambda: Power(alpha=True), "alpha must be a non-negative finite number"),
    (lambda: Power(alpha=-0.5), "alpha must be a non-negative"),
    (lambda: Constant(0.0), "must be a positive"),
    (lambda: Constant(None), "must be a positive finite number"),
])
def test_bad_schedule_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("k", [0, -1, 1.5, np.array([1, 0]), "3"])
def test_step_index_must_be_a_positive_integer(k):
    with pytest.raises(ValueError, match="k must be"):
        Harmonic()(k)


# ---- Robbins-Monro ------------------------------------------------------------------------------

def test_robbins_monro_with_harmonic_steps_finds_the_root():
    # Tolerance stated in the chapter: every one of 200 paths within 0.05 of w* after 10^4
    # steps, with noise of standard deviation 0.5, starting 5 away from the root.
    W = robbins_monro(additive_noise(g, 0.5), 6.0, Harmonic(), 10_000, paths=200, rng=0)
    assert W.shape == (10_001, 200)
    assert np.all(W[0] == 6.0)
    assert np.max(np.abs(W[-1] - ROOT)) < 0.05
    # ... and the error keeps shrinking: the mean error at k = 10^4 is below that at 10^3.
    assert np.mean(np.abs(W[-1] - ROOT)) < np.mean(np.abs(W[1000] - ROOT))


def test_robbins_monro_with_inverse_square_steps_stalls_short_of_the_root():
    # sum 1/k^2 = pi^2/6 < inf: the iterate travels at most about 1.64 * sup|g~| and freezes.
    W = robbins_monro(additive_noise(g, 0.5), 6.0, Power(1.0, 2.0), 10_000, paths=200, rng=0)
    assert np.min(np.abs(W[-1] - ROOT)) > 1.0              # every path is stuck far away
    assert np.max(np.abs(W[-1] - W[1000])) < 0.01          # and has stopped moving
    # without noise the distance travelled is bounded by sum a_k * sup|g| = pi^2/6
    W0 = robbins_monro(additive_noise(g, 0.0), 6.0, Power(1.0, 2.0), 10_000)
    assert 6.0 - math.pi ** 2 / 6 < W0[-1, 0] < 6.0


def test_robbins_monro_with_constant_steps_never_settles():
    W = robbins_monro(additive_noise(g, 0.5), 6.0, Constant(0.1), 5000, paths=200, rng=0)
    tail = W[-1000:]
    assert abs(np.mean(tail) - ROOT) < 0.05                # it hovers around the root ...
    assert np.std(tail) > 0.05                             # ... but keeps jumping around it


def test_robbins_monro_with_a_steep_function_diverges():
    # g(w) = (w - 1)^3 has an unbounded gradient: the first steps overshoot ever further.
    W = robbins_monro(additive_noise(lambda w: (w - ROOT) ** 3, 0.0), 3.0, Harmonic(), 5)
    err = np.abs(W[:, 0] - ROOT)
    assert np.all(np.diff(err) > 0) and err[-1] > 1e10


def test_robbins_monro_is_seeded_and_paths_are_independent():
    f = additive_noise(g, 1.0)
    a = robbins_monro(f, 0.0, Harmonic(), 50, paths=4, rng=7)
    b = robbins_monro(f, 0.0, Harmonic(), 50, paths=4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a[-1])) == 4


def test_mean_estimation_is_robbins_monro_on_w_minus_x():
    # g(w) = w - E[X], observed as w - x: Robbins-Monro with 1/k *is* the incremental mean.
    steps, paths, seed = 300, 5, 11
    W = robbins_monro(lambda w, rng: w - rng.normal(2.0, 1.0, size=w.shape), 0.0,
                      Harmonic(), steps, paths=paths, rng=seed)
    x = np.random.default_rng(seed).normal(2.0, 1.0, size=(steps, paths))
    np.testing.assert_allclose(W[1:], incremental_mean(x), rtol=0, atol=1e-12)


def test_long_loops_can_show_progress(capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    w = robbins_monro(additive_noise(g, 0.1), 0.0, Harmonic(), 20, rng=0, progress=True)
    m = incremental_mean(np.arange(1.0, 21.0), progress=True)
    assert w.shape == (21, 1) and m[-1] == pytest.approx(10.5)
    assert "Robbins-Monro" in capsys.readouterr().err     # tqdm writes to stderr


def test_robbins_monro_handles_vector_iterates():
    target = np.array([1.0, -2.0])
    W = robbins_monro(additive_noise(lambda w: w - target, 0.1), np.zeros(2), Harmonic(), 2000,
                      paths=3, rng=0)
    assert W.shape == (2001, 3, 2)
    assert np.max(np.abs(W[-1] - target)) < 0.02


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps must be a positive integer"),
    (dict(steps=2.5), "steps must be a positive integer"),
    (dict(paths=0), "paths must be a positive integer"),
    (dict(schedule=0.1), "schedule must be a StepSize"),
    (dict(w0=np.zeros((2, 2))), "w0 must be a finite scalar or a 1-d array"),
    (dict(w0=float("nan")), "w0 must be a finite"),
    (dict(rng=-1), "rng must be"),
    (dict(noisy_g=lambda w, rng: np.zeros(3)), "noisy_g must return"),
    (dict(noisy_g="tanh"), "noisy_g must be a callable"),
])
def test_robbins_monro_bad_inputs(kwargs, match):
    args = dict(noisy_g=additive_noise(g, 0.1), w0=0.0, schedule=Harmonic(), steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        robbins_monro(args.pop("noisy_g"), args.pop("w0"), args.pop("schedule"),
                      args.pop("steps"), **args)


def test_additive_noise_bad_inputs():
    with pytest.raises(ValueError, match="noise_std must be a non-negative"):
        additive_noise(g, -1.0)
    with pytest.raises(ValueError, match="g must be a callable"):
        additive_noise(3.0, 1.0)


def test_incremental_mean_bad_inputs():
    with pytest.raises(ValueError, match="at least one sample"):
        incremental_mean([])
    with pytest.raises(ValueError, match="finite"):
        incremental_mean([1.0, float("inf")])
    with pytest.raises(ValueError, match="schedule must be a StepSize"):
        incremental_mean([1.0, 2.0], schedule="1/k")


# ---- least squares and gradient descent (eq. 5.8 - 5.11) ----------------------------------------

def test_least_squares_solution_matches_the_normal_equations(data):
    X, y, w_star = data
    np.testing.assert_allclose(X.T @ X @ w_star, X.T @ y, rtol=1e-10)
    assert np.linalg.norm(least_squares_gradient(w_star, X, y)) < 1e-12


def test_gradient_is_the_derivative_of_the_loss(data):
    X, y, _ = data
    w = np.array([0.3, -0.7])
    eps = 1e-6
    numeric = [(least_squares_loss(w + eps * e, X, y) - least_squares_loss(w - eps * e, X, y))
               / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(least_squares_gradient(w, X, y), numeric, rtol=1e-6)


def test_minibatch_gradient_averages_to_the_full_gradient(data):
    X, y, _ = data
    w = np.array([0.3, -0.7])
    every_sample = least_squares_gradient(np.tile(w, (len(y), 1)), X, y,
                                          np.arange(len(y))[:, None])
    np.testing.assert_allclose(every_sample.mean(axis=0), least_squares_gradient(w, X, y),
                               atol=1e-12)


def test_batch_gradient_descent_reaches_the_least_squares_solution(data):
    X, y, w_star = data
    W = batch_gd(X, y, Constant(0.5), 500)
    assert W.shape == (501, 1, 2)
    np.testing.assert_allclose(W[-1, 0], w_star, atol=1e-10)


def test_sgd_reaches_the_least_squares_solution(data):
    # Tolerance stated in the chapter: every one of 20 SGD paths within 0.05 of w* after
    # 10^4 single-sample steps with a_k = 1/k^0.75.
    X, y, w_star = data
    W = sgd(X, y, Power(1.0, 0.75), 10_000, w0=[-3.0, 5.0], paths=20, rng=0)
    err = np.linalg.norm(W - w_star, axis=-1)              # (steps + 1, paths)
    assert np.max(err[-1]) < 0.05
    assert np.mean(err[-1]) < np.mean(err[200]) / 5


def test_minibatches_reduce_the_noise_of_sgd(data):
    X, y, w_star = data
    kw = dict(w0=[-3.0, 5.0], paths=20, rng=0)
    e1 = np.linalg.norm(sgd(X, y, Power(1.0, 0.75), 5000, **kw)[-1] - w_star, axis=-1)
    e10 = np.linalg.norm(minibatch_gd(X, y, Power(1.0, 0.75), 5000, 10, **kw)[-1] - w_star,
                         axis=-1)
    assert np.mean(e10) < np.mean(e1)
    assert np.max(e10) < 0.05


def test_full_minibatch_without_replacement_is_batch_descent(data):
    X, y, _ = data
    a = minibatch_gd(X, y, Constant(0.3), 50, len(y), replace=False)
    b = batch_gd(X, y, Constant(0.3), 50)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_relative_error_of_the_stochastic_gradient_grows_near_the_optimum(data):
    X, y, w_star = data
    far = gradient_relative_error(w_star + np.array([-4.0, 3.0]), X, y)
    near = gradient_relative_error(w_star + np.array([-0.01, 0.01]), X, y)
    assert far.shape == near.shape == (len(y),)
    assert np.median(near) > 10 * np.median(far)
    # For mean estimation (one all-ones feature) delta_i = |x_i - mean| / |w - mean|.
    x = np.random.default_rng(0).normal(size=100)
    ones = np.ones((100, 1))
    delta = gradient_relative_error(np.array([x.mean() + 5.0]), ones, x)
    np.testing.assert_allclose(delta, np.abs(x - x.mean()) / 5.0, atol=1e-12)


def test_far_from_the_optimum_most_sample_gradients_point_downhill(data):
    X, y, w_star = data
    u = np.array([-3.0, 5.0]) - w_star                     # towards the chapter's start
    u /= np.linalg.norm(u)
    far = descent_fraction(w_star + 5.0 * u, X, y)
    near = descent_fraction(w_star + 1e-3 * u, X, y)
    assert far > 0.8 and abs(near - 0.5) < 0.1             # near w*: a coin toss
    # Mean estimation: far away every sample points the right way.
    x = np.random.default_rng(0).normal(size=100)
    assert descent_fraction(np.array([x.mean() + 10.0]), np.ones((100, 1)), x) == 1.0
    # Vectorised over weight vectors, and consistent with delta < 1 => downhill.
    W = w_star + np.outer(np.logspace(-3, 1, 7), u)        # (7, 2)
    frac = descent_fraction(W, X, y)
    assert frac.shape == (7,)
    assert np.all(frac >= np.mean(gradient_relative_error(W, X, y) < 1, axis=-1))


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=201), "batch_size must be None .* or an integer from 1 to the number "
                           "of samples n = 200"),
    (dict(batch_size=0), "batch_size must be"),
    (dict(batch_size=2.0), "batch_size must be"),
    (dict(steps=0), "steps must be a positive integer"),
    (dict(w0=[0.0, 0.0, 0.0]), r"w0 must have shape \(d,\) = \(2,\)"),
])
def test_gradient_descent_bad_inputs(data, kwargs, match):
    X, y, _ = data
    args = dict(schedule=Constant(0.1), steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gradient_descent(X, y, args.pop("schedule"), args.pop("steps"), **args)


def test_least_squares_bad_inputs(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="y must have shape"):
        least_squares_solution(X, y[:-1])
    with pytest.raises(ValueError, match="X must be a non-empty 2-d array"):
        least_squares_solution(X[:, 0], y)
    with pytest.raises(ValueError, match="weights must have shape"):
        least_squares_loss(np.zeros(3), X, y)
    with pytest.raises(ValueError, match="idx must"):
        least_squares_gradient(np.zeros(2), X, y, np.array([0.5]))
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        make_least_squares(1)
    with pytest.raises(ValueError, match="minibatch_gd needs an integer batch_size"):
        minibatch_gd(X, y, Constant(0.1), 10, None)


def test_step_size_is_an_abstract_interface():
    with pytest.raises(TypeError):
        StepSize()
