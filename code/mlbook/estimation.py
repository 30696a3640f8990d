"""Chapter 1: maximum likelihood versus Bayesian estimation.

Closed forms for the two conjugate pairs the chapter uses, a grid posterior that checks them
numerically, Fisher information, confidence and credible intervals for a coin with their
exact coverage, and MAP linear regression (ridge) with two polynomial feature bases. Equation numbers refer to the chapter;
the treatment follows Bishop, *Pattern Recognition and Machine Learning* (2006), sections
2.1-2.3 and 3.3, and Murphy, *Machine Learning: A Probabilistic Perspective* (2012), ch. 3-4.

Notation: ``x`` is a sample (1-D array of ``n`` observations), ``theta`` the parameter.
Equation numbers are those the site shows for chapter 1 (labels ``eq-ch1-...``).

Maximum likelihood and Fisher information:
  :func:`bernoulli_log_likelihood` (1.2), :func:`bernoulli_mle` (1.3), :func:`gaussian_mle` (1.5),
  :func:`bernoulli_fisher_information` and :func:`exponential_fisher_information` (1.6),
  :func:`exponential_mle` (the example of asymptotic normality (1.7)).
Beta-Bernoulli:
  :class:`Beta` (1.10), :func:`beta_bernoulli_posterior` (1.11), :meth:`Beta.mode` (MAP, 1.12),
  :meth:`Beta.mean` (1.13), :func:`prior_weight` (1.14), :meth:`Beta.predictive` (1.22).
Gaussian mean with known variance:
  :func:`gaussian_posterior` (1.15), :func:`gaussian_predictive` (1.21).
Intervals:
  :func:`wald_interval` (1.16), :func:`credible_interval` (quantiles of (1.11)),
  :func:`interval_coverage` (1.17).
Ridge = MAP linear regression:
  :func:`map_linear_regression` (1.19), :func:`legendre_features`, :func:`monomial_features`.
Any model, numerically:
  :func:`grid_posterior` (Bayes' rule (1.9) on a grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special, stats

from .checks import (check_array, check_callable, check_count, check_instance, check_int,
                     check_number, check_positive, check_probability, check_seed)

__all__ = [
    "Beta", "Normal", "bernoulli_fisher_information", "bernoulli_log_likelihood",
    "bernoulli_mle", "beta_bernoulli_posterior", "credible_interval", "exponential_fisher_information",
    "exponential_mle", "flip_coins", "gaussian_mle", "gaussian_posterior", "gaussian_predictive",
    "grid_posterior", "interval_coverage", "legendre_features", "map_linear_regression",
    "monomial_features", "prior_weight", "wald_interval",
]


# --------------------------------------------------------------------------------------
# Checking arguments
# --------------------------------------------------------------------------------------
def _as_sample(x, name: str = "x") -> np.ndarray:
    """A non-empty 1-D float array of finite values."""
    return check_array(name, x, ndim=1)


def _as_flips(x, name: str = "x") -> np.ndarray:
    """A non-empty sample of coin flips, each 0 (tails) or 1 (heads)."""
    arr = _as_sample(x, name)
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} (the flips) must be 0 (tails) or 1 (heads); got other values")
    return arr


def _positive(value: float, name: str) -> float:
    return check_positive(name, value)


def _probability(p: float, name: str = "p") -> float:
    return check_probability(name, p)


def _thetas(theta, name: str = "theta") -> np.ndarray:
    """A scalar or array (any shape) of finite numbers."""
    return check_array(name, theta)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def flip_coins(p: float, n: int, seed: int | None = 0) -> np.ndarray:
    """``n`` flips of a coin with bias ``p`` (probability of heads), as 0/1 floats."""
    p = _probability(p)
    n = check_count("n", n, minimum=0)
    rng = check_seed("seed", seed)
    return (rng.random(int(n)) < p).astype(float)


# --------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------
def bernoulli_log_likelihood(theta, x) -> np.ndarray:
    """Log-likelihood of bias ``theta`` (scalar or array) for flips ``x``, eq. (1.2).

    ``log L(theta) = k log(theta) + (n - k) log(1 - theta)`` with ``k`` heads in ``n`` flips;
    ``-inf`` where a flip observed has probability 0.
    """
    x = _as_flips(x)
    theta = _thetas(theta)
    if np.any((theta < 0) | (theta > 1)):
        raise ValueError("theta must lie in [0, 1]")
    k, n = x.sum(), x.size
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(k, theta) + special.xlogy(n - k, 1 - theta)


def bernoulli_mle(x) -> float:
    """Maximum-likelihood bias of a coin, eq. (1.3): the fraction of heads ``k / n``."""
    return float(_as_flips(x).mean())


def gaussian_mle(x) -> tuple[float, float]:
    """Maximum-likelihood mean and variance of a Gaussian sample, eq. (1.5).

    Returns ``(mu_hat, sigma2_hat)`` with ``sigma2_hat = mean((x - mu_hat)**2)``: the MLE
    divides by ``n``, not ``n - 1``, and so underestimates the variance on average.
    """
    x = _as_sample(x)
    mu = float(x.mean())
    return mu, float(np.mean((x - mu) ** 2))


def exponential_mle(x):
    """Maximum-likelihood rate of exponential data, ``1 / mean(x)``: the example of eq. (1.7).

    The log-likelihood of rate ``lam`` is ``n log(lam) - lam * sum(x)``, maximised at
    ``lam_hat = n / sum(x)``. The estimate is biased upwards for small ``n``:
    ``E[lam_hat] = lam * n / (n - 1)``.

    x: shape (n,) gives a float; shape (R, n) (R samples of size n, one per row) gives an
    array of shape (R,). Every value must be positive.
    """
    arr = check_array("x", x, min_size=0, finite=False)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise ValueError(f"x must have shape (n,) or (R, n) with n >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("x must hold positive finite values (exponential waiting times)")
    rate = 1.0 / arr.mean(axis=-1)
    return float(rate) if arr.ndim == 1 else rate


# --------------------------------------------------------------------------------------
# Fisher information
# --------------------------------------------------------------------------------------
def bernoulli_fisher_information(theta):
    """Fisher information of one coin flip about its bias, eq. (1.6): ``1 / (theta (1 - theta))``.

    ``theta``: scalar or array in the open interval (0, 1); returns the same shape. The
    information of ``n`` flips is ``n`` times this, and its inverse ``theta (1 - theta) / n``
    is both the Cramer-Rao bound (1.8) and the exact variance of ``k / n``.
    """
    theta = _thetas(theta)
    if np.any((theta <= 0) | (theta >= 1)):
        raise ValueError("theta must lie strictly between 0 and 1 (the information is "
                         "infinite at the edges)")
    info = 1.0 / (theta * (1.0 - theta))
    return float(info) if info.ndim == 0 else info


def exponential_fisher_information(rate):
    """Fisher information of one exponential observation about its rate, eq. (1.6): ``1 / rate**2``.

    ``rate``: positive scalar or array; returns the same shape.
    """
    rate = _thetas(rate, "rate")
    if np.any(~np.isfinite(rate)) or np.any(rate <= 0):
        raise ValueError("rate must be positive and finite")
    info = 1.0 / rate ** 2
    return float(info) if info.ndim == 0 else info


# --------------------------------------------------------------------------------------
# Beta-Bernoulli
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Beta:
    """The Beta(a, b) distribution over a coin's bias, eq. (1.10): ``p(theta) ∝ theta^(a-1) (1-theta)^(b-1)``.

    ``a`` and ``b`` act as pseudo-counts of heads and tails seen before the data.
    """

    a: float
    b: float

    def __post_init__(self):
        _positive(self.a, "a (the Beta prior's first parameter)")
        _positive(self.b, "b (the Beta prior's second parameter)")

    @property
    def mean(self) -> float:
        """Posterior mean, eq. (1.13): ``a / (a + b)``."""
        return self.a / (self.a + self.b)

    @property
    def mode(self) -> float:
        """The most probable bias (the MAP estimate when this is a posterior), eq. (1.12).

        ``(a - 1) / (a + b - 2)`` when ``a, b > 1``; at an edge when one of them is <= 1.
        Raises ``ValueError`` when both are < 1 (two modes, at 0 and at 1) or both equal 1
        (the uniform distribution has no single mode).
        """
        a, b = self.a, self.b
        if a > 1 and b > 1:
            return (a - 1) / (a + b - 2)
        if a <= 1 < b:
            return 0.0
        if b <= 1 < a:
            return 1.0
        raise ValueError(f"Beta({a:g}, {b:g}) has no single mode: both parameters are <= 1")

    @property
    def var(self) -> float:
        a, b = self.a, self.b
        return a * b / ((a + b) ** 2 * (a + b + 1))

    def pdf(self, theta) -> np.ndarray:
        """Density at ``theta`` (array in [0, 1])."""
        theta = check_array("theta", theta, minimum=0.0, maximum=1.0)
        return stats.beta(self.a, self.b).pdf(theta)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Central credible interval holding probability ``level``."""
        level = _level(level)
        lo, hi = stats.beta(self.a, self.b).interval(level)
        return float(lo), float(hi)

    def predictive(self) -> float:
        """Posterior predictive probability that the next flip is heads, eq. (1.22).

        Averaging the bias over this distribution gives its mean ``a / (a + b)``; with a
        uniform prior this is Laplace's rule of succession ``(k + 1) / (n + 2)``.
        """
        return self.mean


def beta_bernoulli_posterior(prior: Beta, x=None, *, heads: int | None = None,
                             n: int | None = None) -> Beta:
    """Posterior over a coin's bias after the flips ``x``, eq. (1.11).

    Conjugacy: ``Beta(a, b)`` prior and ``k`` heads in ``n`` flips give
    ``Beta(a + k, b + n - k)``. Either pass the flips ``x`` (a non-empty 0/1 sample) or the
    counts ``heads`` and ``n`` (``n = 0`` returns the prior).
    """
    check_instance("prior", prior, Beta)
    if x is not None:
        if heads is not None or n is not None:
            raise ValueError("give either the flips x or the counts (heads, n), not both")
        x = _as_flips(x)
        heads, n = int(x.sum()), x.size
    elif heads is None or n is None:
        raise ValueError("give the flips x, or both heads and n")
    n = check_count("n", n, minimum=0)
    heads = _heads(heads, n)
    return Beta(prior.a + heads, prior.b + n - heads)


def prior_weight(prior: Beta, n: int) -> float:
    """Weight of the prior mean in the posterior mean after ``n`` flips, eq. (1.14).

    ``E[theta | x] = w * a / (a + b) + (1 - w) * k / n`` with ``w = (a + b) / (a + b + n)``:
    the prior counts as ``a + b`` flips, and its weight fades like ``1 / n``.
    """
    check_instance("prior", prior, Beta)
    n = check_count("n", n, minimum=0)
    return (prior.a + prior.b) / (prior.a + prior.b + n)


# --------------------------------------------------------------------------------------
# Intervals: confidence (frequentist) and credible (Bayesian)
# --------------------------------------------------------------------------------------
def _counts(heads, n) -> tuple[int, int]:
    n = check_count("n", n, minimum=1)
    return _heads(heads, n), n


def _heads(heads, n: int) -> int:
    heads = check_int("heads", heads, minimum=0)
    if heads > n:
        raise ValueError(f"heads must be an integer from 0 to n = {n}, got {heads!r}")
    return heads


def _level(level: float) -> float:
    return check_probability("level", level, open_low=True, open_high=True)


def wald_interval(heads: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wald confidence interval for a coin's bias, eq. (1.16), clipped to [0, 1].

    ``k/n -+ z * sqrt(theta_hat (1 - theta_hat) / n)`` with ``z`` the standard normal
    quantile at ``(1 + level) / 2``: the MLE plus-minus ``z`` standard errors from the
    Fisher information (1.6) at the MLE. With 0 or ``n`` heads its width is zero.
    """
    k, n = _counts(heads, n)
    z = stats.norm.ppf(0.5 + _level(level) / 2)
    theta_hat = k / n
    half = z * math.sqrt(theta_hat * (1 - theta_hat) / n)
    return max(0.0, theta_hat - half), min(1.0, theta_hat + half)


def credible_interval(prior: Beta, heads: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Central credible interval for a coin's bias: the ``level`` central interval of the posterior (1.11).

    Returns ``(low, high)`` with probability ``(1 - level) / 2`` below and above.
    """
    k, n = _counts(heads, n)
    return beta_bernoulli_posterior(prior, heads=k, n=n).interval(_level(level))


def interval_coverage(interval: Callable[[int, int], tuple[float, float]], n: int, theta):
    """Exact frequentist coverage of an interval rule for a coin, eq. (1.17).

    ``interval(heads, n)`` returns ``(low, high)``; the coverage at bias ``theta`` is the
    probability, over the Binomial(n, theta) number of heads ``k``, that
    ``low(k) <= theta <= high(k)``: ``sum_k P(k | theta) [theta in interval(k)]``.
    No simulation: only ``n + 1`` data sets are possible.

    theta: scalar or array of shape (T,) in [0, 1]; returns the same shape.
    """
    check_callable("interval", interval, what="a callable (heads, n) -> (low, high)")
    n = check_count("n", n, minimum=1)
    theta = _thetas(theta)
    if np.any((theta < 0) | (theta > 1)):
        raise ValueError("theta must lie in [0, 1]")
    bounds = np.array([interval(k, int(n)) for k in range(int(n) + 1)], dtype=float)  # (n+1, 2)
    ks = np.arange(int(n) + 1)
    pmf = stats.binom.pmf(ks[:, None], int(n), np.atleast_1d(theta)[None, :])         # (n+1, T)
    inside = ((bounds[:, :1] <= np.atleast_1d(theta)[None, :])
              & (np.atleast_1d(theta)[None, :] <= bounds[:, 1:]))
    coverage = (pmf * inside).sum(axis=0)
    return float(coverage[0]) if theta.ndim == 0 else coverage


# --------------------------------------------------------------------------------------
# Gaussian with known variance
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Normal:
    """A Gaussian ``N(mean, var)`` (``var`` is the variance, not the standard deviation)."""

    mean: float
    var: float

    def __post_init__(self):
        check_number("mean", self.mean)
        _positive(self.var, "var (a variance)")

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    def pdf(self, x) -> np.ndarray:
        x = check_array("x", x)
        return stats.norm(self.mean, self.std).pdf(x)


def gaussian_posterior(prior: Normal, x, noise_var: float) -> Normal:
    """Posterior over the mean of Gaussian data with known variance, eq. (1.15).

    Prior ``N(mu_0, tau_0^2)``, data ``x_i ~ N(mu, sigma^2)`` with ``sigma^2 = noise_var``:
    precisions add, ``1/tau_n^2 = 1/tau_0^2 + n/sigma^2``, and the posterior mean is the
    precision-weighted average ``tau_n^2 (mu_0/tau_0^2 + sum(x)/sigma^2)``.
    """
    check_instance("prior", prior, Normal)
    x = _as_sample(x)
    noise_var = _positive(noise_var, "noise_var (the known variance of the data)")
    precision = 1.0 / prior.var + x.size / noise_var
    var = 1.0 / precision
    return Normal(var * (prior.mean / prior.var + x.sum() / noise_var), var)


def gaussian_predictive(posterior: Normal, noise_var: float) -> Normal:
    """Distribution of the next observation, eq. (1.21): ``N(mu_n, tau_n^2 + sigma^2)``.

    The spread has two parts: the noise of one observation and our remaining uncertainty
    about the mean.
    """
    check_instance("posterior", posterior, Normal)
    noise_var = _positive(noise_var, "noise_var (the known variance of the data)")
    return Normal(posterior.mean, posterior.var + noise_var)


# --------------------------------------------------------------------------------------
# MAP linear regression = ridge
# --------------------------------------------------------------------------------------
def _unit_inputs(x) -> np.ndarray:
    arr = _as_sample(x, "x")
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError("x must lie in [0, 1]")
    return arr


def _degree(degree) -> int:
    return check_count("degree", degree, minimum=0)


def monomial_features(x, degree: int = 9) -> np.ndarray:
    """Features ``1, x, x^2, ..., x^degree`` of inputs ``x`` in [0, 1].

    x: shape (n,); returns shape (n, degree + 1). On [0, 1] the high powers are nearly
    collinear (``x^8`` and ``x^9`` look alike), so ``X^T X`` is badly conditioned.
    """
    return np.vander(_unit_inputs(x), _degree(degree) + 1, increasing=True)


def legendre_features(x, degree: int = 9) -> np.ndarray:
    """Legendre polynomials ``P_0, ..., P_degree`` of ``u = 2x - 1`` for inputs ``x`` in [0, 1].

    They span the same polynomials as :func:`monomial_features` but are orthogonal on the
    interval and bounded by 1 there, so a function bounded by 1 has coefficients of order
    one in this basis. x: shape (n,); returns shape (n, degree + 1).
    """
    return np.polynomial.legendre.legvander(2 * _unit_inputs(x) - 1, _degree(degree))


def map_linear_regression(X, y, noise_var: float, prior_var: float) -> np.ndarray:
    """MAP weights of ``y = X w + noise`` with prior ``w ~ N(0, prior_var I)``, eq. (1.19).

    Maximising the log-posterior is minimising ``||y - X w||^2 + (noise_var / prior_var) ||w||^2``,
    L2-regularised least squares with ``alpha = noise_var / prior_var``, solved by
    ``w = (X^T X + alpha I)^(-1) X^T y``.

    X: shape (n, d); y: shape (n,); returns w: shape (d,).
    """
    X = check_array("X", X, ndim=2)
    y = check_array("y", y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    alpha = _positive(noise_var, "noise_var") / _positive(prior_var, "prior_var")
    d = X.shape[1]
    return np.linalg.solve(X.T @ X + alpha * np.eye(d), X.T @ y)


# --------------------------------------------------------------------------------------
# A numerical posterior on a grid, to check the closed forms
# --------------------------------------------------------------------------------------
def grid_posterior(log_likelihood: Callable[[np.ndarray], np.ndarray],
                   log_prior: Callable[[np.ndarray], np.ndarray],
                   grid) -> np.ndarray:
    """Posterior density on ``grid`` by Bayes' rule, eq. (1.9), normalised numerically.

    ``log_likelihood`` and ``log_prior`` map the grid (shape (G,)) to log-densities of the
    same shape; the result integrates to 1 over the grid (trapezoid rule). It makes no
    conjugacy assumption, which is what makes it a check on the closed forms.
    """
    check_callable("log_likelihood", log_likelihood, what="a callable grid -> log-densities")
    check_callable("log_prior", log_prior, what="a callable grid -> log-densities")
    grid = check_array("grid", grid, min_size=0)
    if grid.ndim != 1 or grid.size < 3 or np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be a 1-D increasing array of at least 3 points")
    log_post = np.asarray(log_likelihood(grid), float) + np.asarray(log_prior(grid), float)
    if log_post.shape != grid.shape:
        raise ValueError("log_likelihood and log_prior must return one value per grid point")
    if not np.any(np.isfinite(log_post)):
        raise ValueError("the posterior is zero everywhere on the grid")
    unnormalised = np.exp(log_post - np.max(log_post[np.isfinite(log_post)]))
    return unnormalised / np.trapezoid(unnormalised, grid)
