"""Chapter 1's claims about mlbook.estimation, checked against SciPy and scikit-learn."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from mlbook import estimation as est


def test_bernoulli_mle_is_the_fraction_of_heads_and_maximises_the_likelihood():
    x = est.flip_coins(0.3, 200, seed=0)
    grid = np.linspace(0.001, 0.999, 999)
    best = grid[np.argmax(est.bernoulli_log_likelihood(grid, x))]
    assert est.bernoulli_mle(x) == x.mean()
    assert abs(best - est.bernoulli_mle(x)) < 1e-3


def test_gaussian_mle_matches_scipy_norm_fit():
    x = np.random.default_rng(1).normal(3.0, 2.0, 500)
    mu, var = est.gaussian_mle(x)
    loc, scale = stats.norm.fit(x)
    assert mu == pytest.approx(loc, rel=1e-10)
    assert np.sqrt(var) == pytest.approx(scale, rel=1e-10)
    assert var == pytest.approx(np.var(x, ddof=0), rel=1e-12)


def test_beta_posterior_adds_counts_and_matches_the_grid_posterior():
    prior = est.Beta(2.0, 3.0)
    x = est.flip_coins(0.7, 40, seed=3)
    post = est.beta_bernoulli_posterior(prior, x)
    k = int(x.sum())
    assert (post.a, post.b) == (2.0 + k, 3.0 + 40 - k)
    grid = np.linspace(0, 1, 4001)
    numeric = est.grid_posterior(lambda t: est.bernoulli_log_likelihood(t, x),
                                 lambda t: stats.beta(2, 3).logpdf(t), grid)
    assert np.max(np.abs(numeric - post.pdf(grid))) < 1e-4
    assert est.beta_bernoulli_posterior(prior, heads=k, n=40) == post


def test_map_and_posterior_mean_closed_forms():
    post = est.beta_bernoulli_posterior(est.Beta(2, 2), np.ones(3))
    assert post.mode == pytest.approx(4 / 5)
    assert post.mean == pytest.approx(5 / 7)
    grid = np.linspace(0, 1, 100001)
    assert grid[np.argmax(post.pdf(grid))] == pytest.approx(post.mode, abs=1e-5)
    assert post.mean == pytest.approx(stats.beta(post.a, post.b).mean())


def test_uniform_prior_map_equals_mle():
    x = est.flip_coins(0.4, 50, seed=4)
    assert est.beta_bernoulli_posterior(est.Beta(1, 1), x).mode == pytest.approx(est.bernoulli_mle(x))


def test_posterior_mean_is_prior_weighted_average_and_prior_weight_fades():
    prior = est.Beta(10, 10)
    x = est.flip_coins(0.3, 500, seed=5)
    for n in (1, 10, 100, 500):
        w = est.prior_weight(prior, n)
        post = est.beta_bernoulli_posterior(prior, x[:n])
        assert post.mean == pytest.approx(w * prior.mean + (1 - w) * x[:n].mean())
    assert est.prior_weight(prior, 0) == 1.0
    assert est.prior_weight(prior, 1000) < 0.02


def test_laplace_sunrise_odds_are_1826214_to_1():
    days = 1_826_213
    post = est.beta_bernoulli_posterior(est.Beta(1, 1), heads=days, n=days)
    assert post.a / post.b == 1_826_214
    assert post.predictive() == pytest.approx((days + 1) / (days + 2))


def test_gaussian_posterior_matches_grid_and_precisions_add():
    x = np.random.default_rng(6).normal(170, 8, 20)
    prior = est.Normal(160.0, 25.0)
    post = est.gaussian_posterior(prior, x, noise_var=64.0)
    assert 1 / post.var == pytest.approx(1 / 25 + 20 / 64)
    grid = np.linspace(130, 200, 4001)
    numeric = est.grid_posterior(lambda m: stats.norm(m[:, None], 8).logpdf(x).sum(axis=1),
                                 lambda m: stats.norm(160, 5).logpdf(m), grid)
    assert np.max(np.abs(numeric - post.pdf(grid))) < 1e-6
    pred = est.gaussian_predictive(post, 64.0)
    assert pred.mean == post.mean and pred.var == pytest.approx(post.var + 64.0)


def test_map_with_gaussian_prior_is_ridge():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 8))
    y = X @ rng.normal(size=8) + rng.normal(0, 0.5, 30)
    w = est.map_linear_regression(X, y, noise_var=0.25, prior_var=2.0)
    ridge = Ridge(alpha=0.25 / 2.0, fit_intercept=False, solver="svd").fit(X, y)
    np.testing.assert_allclose(w, ridge.coef_, atol=1e-10)
    # a flat prior is least squares; a tight one shrinks the weights
    w_flat = est.map_linear_regression(X, y, 0.25, 1e12)
    np.testing.assert_allclose(w_flat, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-8)
    assert np.linalg.norm(est.map_linear_regression(X, y, 0.25, 1e-4)) < 0.1 * np.linalg.norm(w)


def test_flips_are_seeded():
    np.testing.assert_array_equal(est.flip_coins(0.5, 100, seed=9), est.flip_coins(0.5, 100, seed=9))


@pytest.mark.parametrize("make, message", [
    (lambda: est.Beta(0, 1), "a .* must be a positive finite number, got 0"),
    (lambda: est.Beta(1, -2), "b .* must be a positive finite number, got -2"),
    (lambda: est.bernoulli_mle([]), "empty"),
    (lambda: est.bernoulli_mle([0, 1, 2]), "0 .tails. or 1 .heads."),
    (lambda: est.flip_coins(1.5, 10), r"p must be a probability in \[0, 1\], got 1.5"),
    (lambda: est.flip_coins(-0.1, 10), r"p must be a probability in \[0, 1\]"),
    (lambda: est.gaussian_mle(np.array([])), "empty"),
    (lambda: est.gaussian_posterior(est.Normal(0, 1), [1.0], noise_var=0), "noise_var"),
    (lambda: est.Normal(0, -1), "var .a variance. must be a positive"),
    (lambda: est.beta_bernoulli_posterior(est.Beta(1, 1), heads=5, n=3), "heads must be an integer between 0 and n = 3"),
    (lambda: est.Beta(0.5, 0.5).mode, "no single mode"),
    (lambda: est.map_linear_regression(np.ones((3, 2)), np.ones(4), 1, 1), r"y must have shape \(3,\)"),
    (lambda: est.bernoulli_log_likelihood(1.2, [1, 0]), r"theta must lie in \[0, 1\]"),
])
def test_bad_input_says_what_is_allowed(make, message):
    with pytest.raises(ValueError, match=message):
        make()
