"""Chapter 1: maximum likelihood versus Bayesian estimation.

Closed forms for the two conjugate pairs the chapter uses, a grid posterior that checks them
numerically, and MAP linear regression (ridge). Equation numbers refer to the chapter;
the treatment follows Bishop, *Pattern Recognition and Machine Learning* (2006), sections
2.1-2.3 and 3.3, and Murphy, *Machine Learning: A Probabilistic Perspective* (2012), ch. 3-4.

Notation: ``x`` is a sample (1-D array of ``n`` observations), ``theta`` the parameter.

=========================================  ======================================
Bernoulli likelihood, Beta prior            Gaussian likelihood (known variance)
=========================================  ======================================
:func:`bernoulli_mle`            (1.3)      :func:`gaussian_mle`             (1.5)
:func:`beta_bernoulli_posterior` (1.8)      :func:`gaussian_posterior`       (1.12)
:meth:`Beta.mode` (MAP)          (1.9)      :func:`gaussian_predictive`      (1.13)
:meth:`Beta.mean`                (1.10)     :func:`map_linear_regression`    (1.15)
:func:`prior_weight`             (1.11)     :func:`grid_posterior` (any model, numerically)
=========================================  ======================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special, stats

__all__ = [
    "Beta", "Normal", "bernoulli_log_likelihood", "bernoulli_mle", "beta_bernoulli_posterior",
    "flip_coins", "gaussian_mle", "gaussian_posterior", "gaussian_predictive", "grid_posterior",
    "map_linear_regression", "prior_weight",
]


# --------------------------------------------------------------------------------------
# Checking arguments
# --------------------------------------------------------------------------------------
def _as_sample(x, name: str = "x") -> np.ndarray:
    """A non-empty 1-D float array of finite values."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sample, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: estimation needs at least one observation")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_flips(x) -> np.ndarray:
    """A non-empty sample of coin flips, each 0 (tails) or 1 (heads)."""
    arr = _as_sample(x, "flips")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError("flips must be 0 (tails) or 1 (heads); got other values")
    return arr


def _positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _probability(p: float, name: str = "p") -> float:
    if not (isinstance(p, (int, float, np.number)) and 0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def flip_coins(p: float, n: int, seed: int | None = 0) -> np.ndarray:
    """``n`` flips of a coin with bias ``p`` (probability of heads), as 0/1 floats."""
    p = _probability(p)
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    rng = np.random.default_rng(seed)
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
    theta = np.asarray(theta, dtype=float)
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


# --------------------------------------------------------------------------------------
# Beta-Bernoulli
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Beta:
    """The Beta(a, b) distribution over a coin's bias, eq. (1.7): ``p(theta) ∝ theta^(a-1) (1-theta)^(b-1)``.

    ``a`` and ``b`` act as pseudo-counts of heads and tails seen before the data.
    """

    a: float
    b: float

    def __post_init__(self):
        _positive(self.a, "a (the Beta prior's first parameter)")
        _positive(self.b, "b (the Beta prior's second parameter)")

    @property
    def mean(self) -> float:
        """Posterior mean, eq. (1.10): ``a / (a + b)``."""
        return self.a / (self.a + self.b)

    @property
    def mode(self) -> float:
        """The most probable bias (the MAP estimate when this is a posterior), eq. (1.9).

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
        return stats.beta(self.a, self.b).pdf(theta)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Central credible interval holding probability ``level``."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        lo, hi = stats.beta(self.a, self.b).interval(level)
        return float(lo), float(hi)

    def predictive(self) -> float:
        """Posterior predictive probability that the next flip is heads, eq. (1.14).

        Averaging the bias over this distribution gives its mean ``a / (a + b)``; with a
        uniform prior this is Laplace's rule of succession ``(k + 1) / (n + 2)``.
        """
        return self.mean


def beta_bernoulli_posterior(prior: Beta, x=None, *, heads: int | None = None,
                             n: int | None = None) -> Beta:
    """Posterior over a coin's bias after the flips ``x``, eq. (1.8).

    Conjugacy: ``Beta(a, b)`` prior and ``k`` heads in ``n`` flips give
    ``Beta(a + k, b + n - k)``. Either pass the flips ``x`` (a non-empty 0/1 sample) or the
    counts ``heads`` and ``n`` (``n = 0`` returns the prior).
    """
    if not isinstance(prior, Beta):
        raise ValueError(f"prior must be a Beta, got {type(prior).__name__}")
    if x is not None:
        if heads is not None or n is not None:
            raise ValueError("give either the flips x or the counts (heads, n), not both")
        x = _as_flips(x)
        heads, n = int(x.sum()), x.size
    elif heads is None or n is None:
        raise ValueError("give the flips x, or both heads and n")
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not (isinstance(heads, (int, np.integer)) and 0 <= heads <= n):
        raise ValueError(f"heads must be an integer between 0 and n = {n}, got {heads!r}")
    return Beta(prior.a + heads, prior.b + n - heads)


def prior_weight(prior: Beta, n: int) -> float:
    """Weight of the prior mean in the posterior mean after ``n`` flips, eq. (1.11).

    ``E[theta | x] = w * a / (a + b) + (1 - w) * k / n`` with ``w = (a + b) / (a + b + n)``:
    the prior counts as ``a + b`` flips, and its weight fades like ``1 / n``.
    """
    if not isinstance(prior, Beta):
        raise ValueError(f"prior must be a Beta, got {type(prior).__name__}")
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return (prior.a + prior.b) / (prior.a + prior.b + n)


# --------------------------------------------------------------------------------------
# Gaussian with known variance
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Normal:
    """A Gaussian ``N(mean, var)`` (``var`` is the variance, not the standard deviation)."""

    mean: float
    var: float

    def __post_init__(self):
        if not math.isfinite(self.mean):
            raise ValueError(f"mean must be finite, got {self.mean!r}")
        _positive(self.var, "var (a variance)")

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    def pdf(self, x) -> np.ndarray:
        return stats.norm(self.mean, self.std).pdf(x)


def gaussian_posterior(prior: Normal, x, noise_var: float) -> Normal:
    """Posterior over the mean of Gaussian data with known variance, eq. (1.12).

    Prior ``N(mu_0, tau_0^2)``, data ``x_i ~ N(mu, sigma^2)`` with ``sigma^2 = noise_var``:
    precisions add, ``1/tau_n^2 = 1/tau_0^2 + n/sigma^2``, and the posterior mean is the
    precision-weighted average ``tau_n^2 (mu_0/tau_0^2 + sum(x)/sigma^2)``.
    """
    if not isinstance(prior, Normal):
        raise ValueError(f"prior must be a Normal, got {type(prior).__name__}")
    x = _as_sample(x)
    noise_var = _positive(noise_var, "noise_var (the known variance of the data)")
    precision = 1.0 / prior.var + x.size / noise_var
    var = 1.0 / precision
    return Normal(var * (prior.mean / prior.var + x.sum() / noise_var), var)


def gaussian_predictive(posterior: Normal, noise_var: float) -> Normal:
    """Distribution of the next observation, eq. (1.13): ``N(mu_n, tau_n^2 + sigma^2)``.

    The spread has two parts: the noise of one observation and our remaining uncertainty
    about the mean.
    """
    if not isinstance(posterior, Normal):
        raise ValueError(f"posterior must be a Normal, got {type(posterior).__name__}")
    noise_var = _positive(noise_var, "noise_var (the known variance of the data)")
    return Normal(posterior.mean, posterior.var + noise_var)


# --------------------------------------------------------------------------------------
# MAP linear regression = ridge
# --------------------------------------------------------------------------------------
def map_linear_regression(X, y, noise_var: float, prior_var: float) -> np.ndarray:
    """MAP weights of ``y = X w + noise`` with prior ``w ~ N(0, prior_var I)``, eq. (1.15).

    Maximising the log-posterior is minimising ``||y - X w||^2 + (noise_var / prior_var) ||w||^2``,
    L2-regularised least squares with ``alpha = noise_var / prior_var``, solved by
    ``w = (X^T X + alpha I)^(-1) X^T y``.

    X: shape (n, d); y: shape (n,); returns w: shape (d,).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array (n, d), got shape {X.shape}")
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
    """Posterior density on ``grid`` by Bayes' rule, eq. (1.6), normalised numerically.

    ``log_likelihood`` and ``log_prior`` map the grid (shape (G,)) to log-densities of the
    same shape; the result integrates to 1 over the grid (trapezoid rule). It makes no
    conjugacy assumption, which is what makes it a check on the closed forms.
    """
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be a 1-D increasing array of at least 3 points")
    log_post = np.asarray(log_likelihood(grid), float) + np.asarray(log_prior(grid), float)
    if log_post.shape != grid.shape:
        raise ValueError("log_likelihood and log_prior must return one value per grid point")
    if not np.any(np.isfinite(log_post)):
        raise ValueError("the posterior is zero everywhere on the grid")
    unnormalised = np.exp(log_post - np.max(log_post[np.isfinite(log_post)]))
    return unnormalised / np.trapezoid(unnormalised, grid)
