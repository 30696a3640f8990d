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
    (lambda: est.Beta(0, 1), "a .* must be a positive finite number \\(> 0\\), got 0"),
    (lambda: est.Beta(1, -2), "b .* must be a positive finite number \\(> 0\\), got -2"),
    (lambda: est.bernoulli_mle([]), "empty"),
    (lambda: est.bernoulli_mle([0, 1, 2]), "0 .tails. or 1 .heads."),
    (lambda: est.flip_coins(1.5, 10), r"p must be a probability in \[0, 1\], got 1.5"),
    (lambda: est.flip_coins(-0.1, 10), r"p must be a probability in \[0, 1\]"),
    (lambda: est.gaussian_mle(np.array([])), "empty"),
    (lambda: est.gaussian_posterior(est.Normal(0, 1), [1.0], noise_var=0), "noise_var"),
    (lambda: est.Normal(0, -1), "var .a variance. must be a positive"),
    (lambda: est.beta_bernoulli_posterior(est.Beta(1, 1), heads=5, n=3), "heads must be an integer from 0 to n = 3"),
    (lambda: est.Beta(0.5, 0.5).mode, "no single mode"),
    (lambda: est.map_linear_regression(np.ones((3, 2)), np.ones(4), 1, 1), r"y must have shape \(3,\)"),
    (lambda: est.bernoulli_log_likelihood(1.2, [1, 0]), r"theta must lie in \[0, 1\]"),
])
def test_bad_input_says_what_is_allowed(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --------------------------------------------------------------------------------------
# Fisher information and asymptotic normality
# --------------------------------------------------------------------------------------
def test_bernoulli_fisher_information_is_the_variance_of_the_score_and_minus_the_curvature():
    for theta in (0.1, 0.3, 0.5, 0.9):
        score = np.array([1 / theta, -1 / (1 - theta)])            # d/dtheta log p(x) at x = 1, 0
        probs = np.array([theta, 1 - theta])
        assert est.bernoulli_fisher_information(theta) == pytest.approx(probs @ score ** 2)
        # minus the expected second derivative, by finite differences of the log-likelihood
        h = 1e-4
        curv = [(est.bernoulli_log_likelihood(theta + h, [x]) - 2 * est.bernoulli_log_likelihood(theta, [x])
                 + est.bernoulli_log_likelihood(theta - h, [x])) / h ** 2 for x in (1, 0)]
        assert -(probs @ np.array(curv)) == pytest.approx(est.bernoulli_fisher_information(theta), rel=1e-4)
    grid = np.array([0.2, 0.5])
    np.testing.assert_allclose(est.bernoulli_fisher_information(grid), [1 / 0.16, 4.0])


def test_exponential_mle_matches_scipy_and_its_variance_approaches_the_cramer_rao_bound():
    x = np.random.default_rng(2).exponential(0.5, 300)
    loc, scale = stats.expon.fit(x, floc=0)
    assert est.exponential_mle(x) == pytest.approx(1 / scale, rel=1e-10)
    rows = np.random.default_rng(3).exponential(0.5, (4, 30))
    np.testing.assert_allclose(est.exponential_mle(rows), [est.exponential_mle(r) for r in rows])
    # I(rate) = -E[d^2/drate^2 log p] = 1 / rate^2, by finite differences of scipy's logpdf
    rate, h = 2.0, 1e-4
    logp = lambda r: stats.expon(scale=1 / r).logpdf(x)
    curv = np.mean((logp(rate + h) - 2 * logp(rate) + logp(rate - h)) / h ** 2)
    assert -curv == pytest.approx(est.exponential_fisher_information(rate), rel=1e-4)
    # n I Var(rate_hat) -> 1 from above, as the exact formula n^3 / ((n-1)^2 (n-2)) says
    rng = np.random.default_rng(4)
    ratio = {n: n * est.exponential_fisher_information(rate)
             * est.exponential_mle(rng.exponential(1 / rate, (20_000, n))).var() for n in (10, 200)}
    assert ratio[10] == pytest.approx(10 ** 3 / (9 ** 2 * 8), rel=0.06)
    assert ratio[200] < ratio[10] and ratio[200] == pytest.approx(1.0, abs=0.05)


# --------------------------------------------------------------------------------------
# Confidence and credible intervals
# --------------------------------------------------------------------------------------
def test_wald_interval_is_the_mle_plus_minus_z_standard_errors_and_zero_width_at_the_edges():
    assert est.wald_interval(3, 3) == (1.0, 1.0)
    assert est.wald_interval(0, 7) == (0.0, 0.0)
    lo, hi = est.wald_interval(30, 100)
    half = stats.norm.ppf(0.975) * np.sqrt(0.3 * 0.7 / 100)
    assert (lo, hi) == pytest.approx((0.3 - half, 0.3 + half))
    # the same half-width from the Fisher information at the MLE
    assert half == pytest.approx(stats.norm.ppf(0.975) / np.sqrt(100 * est.bernoulli_fisher_information(0.3)))
    assert est.wald_interval(1, 2, level=0.99)[0] == 0.0            # clipped to [0, 1]


def test_credible_interval_holds_the_posterior_probability_level():
    lo, hi = est.credible_interval(est.Beta(1, 1), 3, 3, level=0.9)
    post = stats.beta(4, 1)
    assert post.cdf(hi) - post.cdf(lo) == pytest.approx(0.9)
    assert post.cdf(lo) == pytest.approx(0.05)


def test_interval_coverage_matches_simulation_and_simple_cases():
    rng = np.random.default_rng(8)
    for theta in (0.05, 0.3, 0.5):
        k = rng.binomial(20, theta, size=200_000)
        bounds = np.array([est.wald_interval(j, 20) for j in range(21)])
        simulated = np.mean((bounds[k, 0] <= theta) & (theta <= bounds[k, 1]))
        exact = est.interval_coverage(est.wald_interval, 20, theta)
        assert abs(simulated - exact) < 4 * np.sqrt(exact * (1 - exact) / k.size)
    thetas = np.linspace(0, 1, 11)
    np.testing.assert_allclose(est.interval_coverage(lambda k, n: (0.0, 1.0), 5, thetas), 1.0)
    # a rule that covers only after k = 0 covers with probability (1 - theta)^n
    only_zero = lambda k, n: (0.0, 1.0) if k == 0 else (2.0, 2.0)
    np.testing.assert_allclose(est.interval_coverage(only_zero, 4, thetas), (1 - thetas) ** 4)


def test_credible_interval_covers_95_percent_on_average_over_its_prior_and_wald_does_not():
    grid = np.linspace(0.0005, 0.9995, 1999)          # uniform prior = average over the grid
    uniform = lambda k, n: est.credible_interval(est.Beta(1, 1), k, n)
    for n in (5, 40):
        assert est.interval_coverage(uniform, n, grid).mean() == pytest.approx(0.95, abs=0.003)
        assert est.interval_coverage(est.wald_interval, n, grid).mean() < 0.93
    assert np.all(est.interval_coverage(est.wald_interval, 10, grid) < 0.95)


# --------------------------------------------------------------------------------------
# Feature bases for the ridge experiment
# --------------------------------------------------------------------------------------
def test_legendre_and_monomial_features_span_the_same_polynomials():
    x = np.linspace(0, 1, 50)
    L, M = est.legendre_features(x, 6), est.monomial_features(x, 6)
    assert L.shape == M.shape == (50, 7)
    np.testing.assert_allclose(M[:, 0], 1.0)
    np.testing.assert_allclose(L[-1], 1.0)                        # P_k(1) = 1 at x = 1
    coef = np.linalg.lstsq(M, L, rcond=None)[0]
    np.testing.assert_allclose(M @ coef, L, atol=1e-8)           # each P_k is a polynomial in x
    # orthogonal on [0, 1] (Gauss-Legendre quadrature) and far better conditioned
    nodes, weights = np.polynomial.legendre.leggauss(20)
    G = est.legendre_features((nodes + 1) / 2, 6)
    gram = G.T @ (weights[:, None] * G)
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-12)
    assert np.linalg.cond(L) < 1e-3 * np.linalg.cond(M)


def test_the_same_unit_prior_helps_in_the_legendre_basis_and_hurts_in_the_monomial_one():
    # chapter 1's ridge figure, smaller: median error against the true curve over 60 training sets
    x_grid = np.linspace(0, 1, 200)
    f = lambda x: np.sin(2 * np.pi * x)
    rng = np.random.default_rng(12)
    def median_errors(n):
        errs = {"ls": [], "Legendre": [], "monomial": []}
        for _ in range(60):
            x = rng.uniform(0, 1, n)
            y = f(x) + rng.normal(0, 0.3, n)
            w = np.linalg.lstsq(est.legendre_features(x), y, rcond=None)[0]
            errs["ls"].append(np.mean((est.legendre_features(x_grid) @ w - f(x_grid)) ** 2))
            for name, feats in [("Legendre", est.legendre_features), ("monomial", est.monomial_features)]:
                w = est.map_linear_regression(feats(x), y, 0.09, 1.0)
                errs[name].append(np.mean((feats(x_grid) @ w - f(x_grid)) ** 2))
        return {k: np.median(v) for k, v in errs.items()}
    small, large = median_errors(15), median_errors(80)
    assert small["Legendre"] < small["ls"] and large["Legendre"] < large["ls"]
    assert small["monomial"] < small["ls"]
    assert large["monomial"] > 2 * large["ls"]


@pytest.mark.parametrize("make, error, message", [
    (lambda: est.wald_interval(4, 3), ValueError, "heads must be an integer from 0 to n = 3"),
    (lambda: est.wald_interval(1, 0), ValueError, "n must be a positive integer"),
    (lambda: est.wald_interval(1, 3, level=1.5), ValueError, r"level must be a number in \(0, 1\)"),
    (lambda: est.credible_interval(est.Beta(1, 1), 2, 1), ValueError, "heads must be an integer"),
    (lambda: est.credible_interval((1, 1), 1, 2), ValueError, "prior must be a Beta"),
    (lambda: est.interval_coverage("wald", 10, 0.5), TypeError, "interval must be a callable"),
    (lambda: est.interval_coverage(est.wald_interval, 10, 1.2), ValueError, r"theta must lie in \[0, 1\]"),
    (lambda: est.interval_coverage(est.wald_interval, 0, 0.5), ValueError, "n must be a positive integer"),
    (lambda: est.bernoulli_fisher_information(0.0), ValueError, "strictly between 0 and 1"),
    (lambda: est.exponential_fisher_information(-1.0), ValueError, "rate must be positive"),
    (lambda: est.exponential_mle([1.0, -2.0]), ValueError, "positive finite values"),
    (lambda: est.exponential_mle(np.ones((2, 2, 2))), ValueError, r"shape \(n,\) or \(R, n\)"),
    (lambda: est.legendre_features([0.5, 1.5]), ValueError, r"x must lie in \[0, 1\]"),
    (lambda: est.monomial_features([0.5], degree=-1), ValueError, "degree must be a non-negative integer"),
])
def test_new_functions_reject_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()
