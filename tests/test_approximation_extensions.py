"""Tests for the chapter 5 sections on rates, averaging, batch-size tuning, Kiefer-Wolfowitz and
TD(0) as a Dvoretzky process (mlbook.approximation): each test states a claim the chapter makes."""

import math

import numpy as np
import pytest

from mlbook.approximation import (
    Constant, Harmonic, Power, additive_noise, final_errors_over_scales, gradient_descent,
    harmonic_rate_exponent, kiefer_wolfowitz, least_squares_solution, loglog_slope,
    make_least_squares, minibatch_gd, mrp_values, polyak_ruppert_average, random_mrp,
    robbins_monro, td0_evaluation, tune_step_scale)

ROOT = 1.0
K = np.arange(1000, 10_001)          # slopes are measured over k = 10^3 .. 10^4


def g(w):
    return np.tanh(w - ROOT)         # slope g'(w*) = 1


def rms_error(W):
    return np.sqrt(np.mean((W - ROOT) ** 2, axis=1))     # (steps + 1,)


# ---- the rate of a_k = c/k (eq. 5.8 / 5.9) ------------------------------------------------------

def test_rate_exponent_formula():
    assert harmonic_rate_exponent(0.25, 1.0) == 0.25
    assert harmonic_rate_exponent(1.0, 1.0) == 0.5
    assert harmonic_rate_exponent(4.0, 0.1) == 0.4
    with pytest.raises(ValueError, match="slope must be a positive"):
        harmonic_rate_exponent(1.0, 0.0)
    with pytest.raises(ValueError, match="c must be"):
        harmonic_rate_exponent("1", 1.0)


@pytest.mark.parametrize("c", [0.25, 1.0])
def test_measured_rate_of_c_over_k_matches_min_of_c_slope_and_half(c):
    # Started at the root, so only the noise is left to average out.
    W = robbins_monro(additive_noise(g, 0.5), ROOT, Power(c, 1.0), 10_000, paths=400, rng=0)
    slope = loglog_slope(K, rms_error(W)[K - 1])
    assert slope == pytest.approx(-harmonic_rate_exponent(c, 1.0), abs=0.05)


def test_loglog_slope_recovers_a_power_law():
    k = np.arange(1, 101)
    assert loglog_slope(k, 3.0 * k ** -0.7) == pytest.approx(-0.7, abs=1e-12)
    two = np.stack([k ** -0.5, 2 * k ** 1.5], axis=1)   # (100, 2): one slope per column
    np.testing.assert_allclose(loglog_slope(k, two), [-0.5, 1.5], atol=1e-12)
    with pytest.raises(ValueError, match="values must be positive"):
        loglog_slope(k, -k)
    with pytest.raises(ValueError, match="k must be"):
        loglog_slope([1.0], [1.0])


# ---- Polyak-Ruppert averaging (eq. 5.10) --------------------------------------------------------

def test_polyak_ruppert_average_is_the_running_mean():
    w = np.random.default_rng(0).normal(size=(50, 3, 2))
    avg = polyak_ruppert_average(w)
    assert avg.shape == w.shape
    np.testing.assert_allclose(avg[9], w[:10].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(avg[-1], w.mean(axis=0), atol=1e-12)
    with pytest.raises(ValueError, match="at least one row"):
        polyak_ruppert_average(np.zeros((0, 2)))


def test_averaging_with_a_slower_step_rescues_a_badly_scaled_harmonic_step():
    f = additive_noise(g, 0.5)
    bad = robbins_monro(f, ROOT, Power(0.25, 1.0), 10_000, paths=400, rng=1)
    slow = robbins_monro(f, ROOT, Power(0.25, 2 / 3), 10_000, paths=400, rng=1)
    err_bad = rms_error(bad)[-1]
    err_avg = rms_error(polyak_ruppert_average(slow))[-1]
    assert err_avg < err_bad / 2
    # within 25% of sigma / (g'(w*) sqrt(k)), the best a 1/k-rate method can do
    assert err_avg < 1.25 * 0.5 / math.sqrt(10_000)
    # averaging the c/k iterates themselves does not help: they are too correlated
    assert rms_error(polyak_ruppert_average(bad))[-1] > 0.8 * err_bad


# ---- batch sizes at an equal budget, each with its own tuned step -------------------------------

@pytest.fixture(scope="module")
def data():
    X, y = make_least_squares(200, rng=0)
    return X, y, least_squares_solution(X, y)


@pytest.mark.parametrize("batch_size", [1, 10, None])
def test_grid_runner_is_gradient_descent_with_power_steps(data, batch_size):
    X, y, w_star = data
    w0 = np.array([-3.0, 5.0])
    grid = final_errors_over_scales(X, y, [0.5], 60, batch_size=batch_size, w0=w0, paths=7,
                                    rng=3)
    W = gradient_descent(X, y, Power(0.5, 0.75), 60, batch_size=batch_size, w0=w0, paths=7,
                         rng=3)
    assert grid.shape == (1, 7)
    np.testing.assert_allclose(grid[0], np.linalg.norm(W[-1] - w_star, axis=-1), atol=1e-12)


def test_tuning_picks_the_smallest_mean_error_and_survives_divergence(data):
    X, y, _ = data
    scales = np.append(2.0 ** np.arange(-4, 6), 1e6)
    best, err = tune_step_scale(X, y, scales, 2000, batch_size=10, w0=[-3.0, 5.0], rng=0)
    assert err.shape == scales.shape and best == scales[np.argmin(err)]
    assert err[-2] > 100 and np.isinf(err[-1])  # c = 32 diverges, c = 10^6 overflows: inf
    assert 0.1 < best < 8                       # an interior optimum


def test_at_one_pass_small_batches_win_and_after_fifty_passes_the_full_batch_wins(data):
    X, y, w_star = data
    scales, w0 = 2.0 ** np.arange(-4, 5), np.array([-3.0, 5.0])
    result = {}
    for budget in (200, 10_000):
        for m in (1, None):
            best, _ = tune_step_scale(X, y, scales, budget, batch_size=m, w0=w0, rng=100)
            steps = max(budget // (m or 200), 1)
            result[budget, m] = final_errors_over_scales(X, y, [best], steps, batch_size=m,
                                                         w0=w0, rng=0).mean()
    assert result[200, 1] < result[200, None] / 3
    assert result[10_000, None] < result[10_000, 1] / 100


def test_grid_runner_bad_inputs(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="scales must be"):
        final_errors_over_scales(X, y, [0.0, 1.0], 10, batch_size=1)
    with pytest.raises(ValueError, match="batch_size must be"):
        final_errors_over_scales(X, y, [1.0], 10, batch_size=0)
    with pytest.raises(ValueError, match="budget must be"):
        tune_step_scale(X, y, [1.0], 0, batch_size=1)


# ---- Kiefer-Wolfowitz (eq. 5.15) ----------------------------------------------------------------

def f_skewed(w):
    return np.exp(w - ROOT) - w      # minimum at w* = 1, f''(w*) = 1, f'''(w*) = 1


def test_kiefer_wolfowitz_with_a_fixed_width_finds_the_biased_root():
    # Without noise and with a fixed half-width h, the central difference of e^u - u is
    # e^u sinh(h)/h - 1, whose root is u = log(h / sinh h): the bias the widths must remove.
    h = 0.5
    W = kiefer_wolfowitz(additive_noise(f_skewed, 0.0), 0.0, Harmonic(), Constant(h), 20_000)
    assert W[-1, 0] - ROOT == pytest.approx(math.log(h / math.sinh(h)), abs=1e-3)


def test_kiefer_wolfowitz_is_slower_than_robbins_monro_with_gradients():
    kw = kiefer_wolfowitz(additive_noise(f_skewed, 0.5), 0.0, Harmonic(), Power(1.0, 1 / 6),
                          10_000, paths=300, rng=0)
    rm = robbins_monro(additive_noise(lambda w: np.exp(w - ROOT) - 1, 0.5), 0.0, Harmonic(),
                       10_000, paths=300, rng=0)
    slope_kw = loglog_slope(K, rms_error(kw)[K - 1])
    slope_rm = loglog_slope(K, rms_error(rm)[K - 1])
    assert slope_kw == pytest.approx(-1 / 3, abs=0.07)
    assert slope_rm == pytest.approx(-1 / 2, abs=0.07)
    assert rms_error(rm)[-1] < rms_error(kw)[5000] / 2    # same number of observations


def test_kiefer_wolfowitz_in_two_dimensions():
    target = np.array([1.0, -2.0])

    def f(w, rng):                      # points along the last axis -> one value per point
        return np.sum((w - target) ** 2, axis=-1) / 2

    W = kiefer_wolfowitz(f, np.zeros(2), Power(0.5, 0.0), Power(0.1, 0.0), 200, paths=3)
    assert W.shape == (201, 3, 2)
    np.testing.assert_allclose(W[-1], np.tile(target, (3, 1)), atol=1e-10)


def test_kiefer_wolfowitz_bad_inputs():
    f = additive_noise(f_skewed, 0.1)
    with pytest.raises(ValueError, match="widths must be a StepSize"):
        kiefer_wolfowitz(f, 0.0, Harmonic(), 0.1, 10)
    with pytest.raises(ValueError, match="noisy_f must be a callable"):
        kiefer_wolfowitz("f", 0.0, Harmonic(), Harmonic(), 10)
    with pytest.raises(ValueError, match="noisy_f must return one value per point"):
        kiefer_wolfowitz(lambda w, rng: np.zeros(5), 0.0, Harmonic(), Harmonic(), 10, paths=2)


# ---- TD(0) as a Dvoretzky process (eq. 5.16 / 5.17) ---------------------------------------------

def test_mrp_values_solve_the_bellman_equation():
    P, r = random_mrp(6, rng=0)
    assert P.shape == (6, 6) and r.shape == (6,)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    v = mrp_values(P, r, 0.7)
    np.testing.assert_allclose(v, r + 0.7 * P @ v, atol=1e-12)


def test_td0_converges_with_random_state_dependent_steps():
    P, r = random_mrp(5, rng=0)
    v = mrp_values(P, r, 0.5)
    values, states, alphas = td0_evaluation(P, r, 0.5, 10_000, paths=6, rng=1)
    assert values.shape == (10_001, 6, 5) and states.shape == alphas.shape == (10_000, 6)
    err = np.max(np.abs(values - v), axis=-1)            # max-norm error, (steps + 1, paths)
    assert np.all(err[-1] < err[1000] / 1.5) and np.max(err[-1]) < 0.15
    # Only the visited state moves, with the step 1 / N(s)^0.75 of its visit count.
    changed = np.abs(np.diff(values, axis=0)) > 0        # (steps, paths, S)
    assert np.all(changed.sum(axis=-1) <= 1)
    first = states[:, 0] == states[0, 0]
    np.testing.assert_allclose(alphas[first, 0], np.arange(1, first.sum() + 1) ** -0.75)


def test_td0_bad_inputs():
    P, r = random_mrp(3, rng=0)
    with pytest.raises(ValueError, match="gamma must be in"):
        td0_evaluation(P, r, 1.0, 10)
    with pytest.raises(ValueError, match="exponent must be in"):
        td0_evaluation(P, r, 0.5, 10, exponent=0.5)
    with pytest.raises(ValueError, match="row-stochastic"):
        mrp_values(P * 2, r, 0.5)
    with pytest.raises(ValueError, match="r must be"):
        mrp_values(P, r[:2], 0.5)
