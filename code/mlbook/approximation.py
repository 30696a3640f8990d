"""Stochastic approximation: incremental means, Robbins-Monro and stochastic gradient descent.

The code behind chapter 5, *Stochastic approximation: Robbins-Monro and stochastic gradient
descent*. Equation (5.n) in the docstrings is the n-th numbered equation of the chapter:

* (5.1)  the sample mean ``w[k+1] = (x[1] + ... + x[k]) / k``;
* (5.2)  the incremental mean, ``w[k+1] = w[k] - (1/k) (w[k] - x[k])``;
* (5.3)  the same update with a general step size ``a[k]``;
* (5.4)  a noisy observation ``g~(w, eta) = g(w) + eta`` of the function ``g``;
* (5.5)  the Robbins-Monro iteration ``w[k+1] = w[k] - a[k] g~(w[k], eta[k])``;
* (5.6)  the step-size conditions ``sum a[k] = inf`` and ``sum a[k]**2 < inf``;
* (5.7)  ``w[n+1] - w[1] = -sum_k a[k] g~(w[k], eta[k])``, why the first condition matters;
* (5.8)  the linearised error recursion ``e[k+1] = (1 - c g'(w*)/k) e[k] - (c/k) eta[k]``;
* (5.9)  its rate: RMS error ``~ k**-1/2`` when ``c g'(w*) > 1/2``, ``~ k**-(c g'(w*))`` below;
* (5.10) the Polyak-Ruppert average ``wbar[k] = (w[1] + ... + w[k]) / k``;
* (5.11) the least-squares objective ``J(w) = 1/(2n) ||X w - y||**2``;
* (5.12) its gradient ``(1/n) X^T (X w - y)`` and Hessian ``(1/n) X^T X``;
* (5.13) (stochastic, mini-batch, batch) gradient descent on ``J``;
* (5.14) the relative error of a stochastic gradient;
* (5.15) the Kiefer-Wolfowitz iteration with central finite differences;
* (5.16) Dvoretzky's process ``D[k+1] = (1 - alpha[k]) D[k] + beta[k] eta[k]``;
* (5.17) tabular TD(0) written as such a process.

Step sizes are first-class objects (:class:`Constant`, :class:`Harmonic`, :class:`Power`):
small frozen dataclasses that one calls with the iteration index ``k = 1, 2, ...`` (an int or
an integer array) and that know whether they satisfy the conditions (5.6).

Sources: H. Robbins and S. Monro, "A stochastic approximation method", *Annals of
Mathematical Statistics* 22 (1951); J. R. Blum, "Approximation methods which converge with
probability one", *Annals of Mathematical Statistics* 25 (1954); S. Zhao, *Mathematical
Foundations of Reinforcement Learning* (2025), chapter 6; L. Bottou, F. E. Curtis and
J. Nocedal, "Optimization methods for large-scale machine learning", *SIAM Review* 60 (2018);
B. T. Polyak and A. B. Juditsky, "Acceleration of stochastic approximation by averaging",
*SIAM J. Control and Optimization* 30 (1992); J. Kiefer and J. Wolfowitz, "Stochastic
estimation of the maximum of a regression function", *Ann. Math. Statist.* 23 (1952);
A. Dvoretzky, "On stochastic approximation", *Proc. Third Berkeley Symposium* (1956);
T. Jaakkola, M. I. Jordan and S. P. Singh, "On the convergence of stochastic iterative dynamic
programming algorithms", *Neural Computation* 6 (1994).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike
from .checks import check_array, check_bool, check_count, check_number, check_seed
from .progress import tqdm

__all__ = [
    "StepSize", "Constant", "Harmonic", "Power",
    "incremental_mean", "robbins_monro", "additive_noise",
    "make_least_squares", "least_squares_solution", "least_squares_loss",
    "least_squares_gradient", "gradient_relative_error", "descent_fraction",
    "gradient_descent", "batch_gd", "minibatch_gd", "sgd",
    "harmonic_rate_exponent", "loglog_slope", "polyak_ruppert_average",
    "final_errors_over_scales", "tune_step_scale",
    "kiefer_wolfowitz", "random_mrp", "mrp_values", "td0_evaluation",
]

#: Loops with at least this many iterations show a tqdm progress bar (``progress=None``).
PROGRESS_MIN_STEPS = 200_000

#: A noisy observation of ``g``: ``noisy_g(w, rng) -> g(w) + noise``, same shape as ``w``.
NoisyFunction = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# ---- argument checks -----------------------------------------------------------------------

def _check_real(name: str, value: object, *, positive: bool = False,
                nonnegative: bool = False) -> float:
    """A finite real number (``bool`` and strings refused), optionally > 0 or >= 0."""
    return check_number(name, value, minimum=0.0 if (positive or nonnegative) else None,
                        exclusive_minimum=positive)


def _check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (``bool`` refused)."""
    return check_count(name, value, minimum=minimum)


def _rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from ``rng``: a seed, a Generator, or ``None`` for fresh entropy
    (:func:`mlbook.checks.check_seed`). The defaults are seed 0: every run is seeded."""
    return check_seed("rng", rng)


def _floats(name: str, value: object) -> np.ndarray:
    """``value`` as a float array of finite numbers (any shape, possibly empty)."""
    return check_array(name, value, min_size=0)


def _iterations(steps: int, progress: bool | None, desc: str):
    show = steps >= PROGRESS_MIN_STEPS if progress is None else check_bool("progress", progress)
    return tqdm(range(1, steps + 1), desc=desc, disable=not show, leave=False)


# ---- step sizes ----------------------------------------------------------------------------

class StepSize(ABC):
    """A step-size schedule ``k -> a[k]`` for ``k = 1, 2, 3, ...``.

    Call it with an int (returns a float) or an integer array of any shape (returns a float
    array of that shape). ``k`` must be >= 1: the chapter counts iterations from 1.
    """

    def __call__(self, k: ArrayLike) -> float | np.ndarray:
        arr = np.asarray(k)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating)
                    and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
                raise ValueError(f"step index k must be an integer (or integer array) >= 1, "
                                 f"got {k!r}")
        if arr.size and np.min(arr) < 1:
            raise ValueError(f"step index k must be >= 1 (iterations are counted from 1), "
                             f"got a minimum of {np.min(arr)!r}")
        out = self._values(arr.astype(float))
        return float(out) if out.ndim == 0 else out

    @abstractmethod
    def _values(self, k: np.ndarray) -> np.ndarray:
        """``a[k]`` for a float array ``k`` of valid indices."""

    @property
    @abstractmethod
    def sum_diverges(self) -> bool:
        """Whether ``sum_k a[k] = inf`` (first condition of (5.6))."""

    @property
    @abstractmethod
    def square_summable(self) -> bool:
        """Whether ``sum_k a[k]**2 < inf`` (second condition of (5.6))."""

    @property
    def satisfies_robbins_monro(self) -> bool:
        """Both step-size conditions (5.6) hold."""
        return self.sum_diverges and self.square_summable

    def partial_sum(self, n: int, power: int = 1) -> float:
        """``sum_{k=1}^{n} a[k]**power``: how far the iterate can travel in ``n`` steps."""
        n = _check_count("n", n)
        power = _check_count("power", power)
        return float(np.sum(self(np.arange(1, n + 1)) ** power))

    @property
    @abstractmethod
    def label(self) -> str:
        """A short formula for legends, e.g. ``'a_k = 0.5/k^0.75'``."""


@dataclass(frozen=True)
class Constant(StepSize):
    """``a[k] = a`` for every ``k``: never settles, since ``sum a**2 = inf``."""

    a: float = 0.1  # the step size, > 0

    def __post_init__(self):
        object.__setattr__(self, "a", _check_real("Constant step size a", self.a, positive=True))

    def _values(self, k: np.ndarray) -> np.ndarray:
        return np.full_like(k, self.a)

    sum_diverges = property(lambda self: True)
    square_summable = property(lambda self: False)

    @property
    def label(self) -> str:
        return f"$a_k = {self.a:g}$"


@dataclass(frozen=True)
class Harmonic(StepSize):
    """``a[k] = 1/k``: the schedule that turns (5.3) into the sample mean (5.2)."""

    def _values(self, k: np.ndarray) -> np.ndarray:
        return 1.0 / k

    sum_diverges = property(lambda self: True)
    square_summable = property(lambda self: True)

    @property
    def label(self) -> str:
        return "$a_k = 1/k$"


@dataclass(frozen=True)
class Power(StepSize):
    """``a[k] = c / k**alpha``, with ``c > 0`` and ``alpha >= 0``.

    ``alpha = 0`` is a constant step, ``alpha = 1`` with ``c = 1`` is :class:`Harmonic`.
    The conditions (5.6) hold exactly when ``1/2 < alpha <= 1``: the sum diverges for
    ``alpha <= 1`` and the sum of squares converges for ``alpha > 1/2``.
    """

    c: float = 1.0      # scale, > 0 (the first step's size)
    alpha: float = 1.0  # decay exponent, >= 0

    def __post_init__(self):
        object.__setattr__(self, "c", _check_real("Power schedule c", self.c, positive=True))
        object.__setattr__(self, "alpha",
                           _check_real("Power schedule alpha", self.alpha, nonnegative=True))

    def _values(self, k: np.ndarray) -> np.ndarray:
        return self.c / k ** self.alpha

    @property
    def sum_diverges(self) -> bool:
        return self.alpha <= 1

    @property
    def square_summable(self) -> bool:
        return self.alpha > 0.5

    @property
    def label(self) -> str:
        return f"$a_k = {self.c:g}/k^{{{self.alpha:g}}}$"


def _check_schedule(schedule: object) -> StepSize:
    if not isinstance(schedule, StepSize):
        raise ValueError("schedule must be a StepSize such as Constant(0.1), Harmonic() or "
                         f"Power(c=1, alpha=0.75), got {schedule!r}")
    return schedule


# ---- mean estimation -----------------------------------------------------------------------

def incremental_mean(samples: ArrayLike, schedule: StepSize | None = None,
                     w1: ArrayLike = 0.0, *, progress: bool | None = None) -> np.ndarray:
    """Running estimates of a mean, updated one sample at a time, eq. (5.2)/(5.3).

    ``w[k+1] = w[k] - a[k] (w[k] - x[k])`` for ``k = 1..n``. With the default schedule
    ``a[k] = 1/k`` (eq. 5.2) the first step overwrites ``w1`` and ``w[k+1]`` is exactly the
    sample mean of ``x[1..k]``; other schedules give weighted means (a constant step gives
    an exponential moving average).

    Parameters
    ----------
    samples
        Shape ``(n, ...)``: ``n >= 1`` samples along axis 0; any trailing axes are
        independent streams (for example ``(n, paths)``), all updated at once.
    schedule
        The step sizes ``a[k]``; ``None`` means :class:`Harmonic` (``1/k``).
    w1
        The initial guess, broadcastable to ``samples.shape[1:]``.
    progress
        Show a tqdm bar; ``None`` shows one for at least :data:`PROGRESS_MIN_STEPS` samples.

    Returns
    -------
    ndarray, shape ``(n, ...)``
        Row ``k-1`` is ``w[k+1]``, the estimate after seeing ``k`` samples; the last row is
        the final estimate (the sample mean for ``1/k``).
    """
    x = _floats("samples", samples)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"samples must have at least one sample along axis 0, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite (no NaN or inf)")
    # [mark: update]
    schedule = Harmonic() if schedule is None else _check_schedule(schedule)
    a = schedule(np.arange(1, x.shape[0] + 1))          # (n,)
    w = np.broadcast_to(_floats("w1", w1), x.shape[1:]).copy()
    out = np.empty_like(x)
    for k in _iterations(x.shape[0], progress, "incremental mean"):
        w = w - a[k - 1] * (w - x[k - 1])                 # eq. (5.3)
        out[k - 1] = w
    return out


# ---- Robbins-Monro ---------------------------------------------------------------------------

def additive_noise(g: Callable[[np.ndarray], np.ndarray], noise_std: float) -> NoisyFunction:
    """Observations ``g~(w, eta) = g(w) + eta`` with ``eta ~ N(0, noise_std**2)``, eq. (5.4).

    ``g`` maps an array of iterates to an array of the same shape. Returns the function
    ``noisy_g(w, rng)`` that :func:`robbins_monro` calls; ``noise_std`` must be >= 0.
    """
    if not callable(g):
        raise ValueError(f"g must be a callable g(w) -> array, got {g!r}")
    std = _check_real("noise_std", noise_std, nonnegative=True)

    def noisy_g(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return g(w) + std * rng.standard_normal(np.shape(w))

    noisy_g.g = g
    noisy_g.noise_std = std
    return noisy_g


def robbins_monro(noisy_g: NoisyFunction, w0: ArrayLike, schedule: StepSize, steps: int, *,
                  paths: int = 1, rng: int | np.random.Generator | None = 0,
                  progress: bool | None = None) -> np.ndarray:
    """The Robbins-Monro iteration (5.5) for a root of ``g(w) = 0``, on several paths at once.

    ``w[k+1] = w[k] - a[k] * g~(w[k], eta[k])`` for ``k = 1..steps``: only noisy
    observations of ``g`` are used, never its formula nor its derivative. It converges to
    the root ``w*`` with probability one when ``g`` is increasing with a bounded gradient,
    the noise has zero mean and bounded variance, and the schedule meets (5.6).

    Parameters
    ----------
    noisy_g
        ``noisy_g(w, rng) -> array``: one noisy observation of ``g`` at each iterate;
        ``w`` has shape ``(paths, *shape(w0))`` and the result must have the same shape.
        Draw all randomness from ``rng`` so the run is reproducible.
    w0
        The starting point ``w[1]`` shared by every path: a scalar or an array of shape ``(d,)``.
    schedule
        The step sizes ``a[k]`` (:class:`Constant`, :class:`Harmonic`, :class:`Power`).
    steps
        Number of updates, >= 1.
    paths
        Number of independent sample paths run side by side, >= 1.
    rng
        A seed or a ``numpy.random.Generator`` (default seed 0; ``None``: fresh entropy,
        see :func:`mlbook.checks.check_seed`).
    progress
        Show a tqdm bar; ``None`` shows one for runs of at least
        :data:`PROGRESS_MIN_STEPS` steps.

    Returns
    -------
    ndarray, shape ``(steps + 1, paths, *shape(w0))``
        ``out[k - 1]`` is ``w[k]``; ``out[0]`` is the start and ``out[-1]`` the last iterate.
    """
    if not callable(noisy_g):
        raise ValueError(f"noisy_g must be a callable noisy_g(w, rng) -> array, got {noisy_g!r}")
    schedule = _check_schedule(schedule)
    steps = _check_count("steps", steps)
    paths = _check_count("paths", paths)
    start = _floats("w0", w0)
    if start.ndim > 1 or not np.all(np.isfinite(start)):
        raise ValueError(f"w0 must be a finite scalar or a 1-d array, got shape {start.shape}")
    # [mark: iterate]
    gen = _rng(rng)
    a = schedule(np.arange(1, steps + 1))                 # (steps,)
    out = np.empty((steps + 1, paths) + start.shape)
    out[0] = start
    w = out[0].copy()                                     # (paths, *shape(w0))
    for k in _iterations(steps, progress, "Robbins-Monro"):
        obs = np.asarray(noisy_g(w, gen), dtype=float)
        if obs.shape != w.shape:
            raise ValueError(f"noisy_g must return an array of the iterate's shape {w.shape}, "
                             f"got shape {obs.shape}")
        w = w - a[k - 1] * obs                            # eq. (5.5)
        out[k] = w
    return out


# ---- rates and averaging ---------------------------------------------------------------------

def harmonic_rate_exponent(c: float, slope: float) -> float:
    """Exponent ``r`` of the RMS error ``~ k**-r`` of Robbins-Monro with ``a[k] = c/k``, eq. (5.9).

    ``slope`` is ``g'(w*)``, the slope of ``g`` at its root. Linearising (5.5) near the root
    gives (5.8); its mean-square solution decays like ``1/k`` (RMS ``k**-1/2``) when
    ``c * slope > 1/2`` and like ``k**(-2 c slope)`` (RMS ``k**-(c slope)``) when
    ``c * slope < 1/2`` (at exactly 1/2 an extra ``sqrt(log k)`` appears). Returns
    ``min(c * slope, 1/2)``. Both arguments must be positive.
    """
    c = _check_real("c", c, positive=True)
    slope = _check_real("slope", slope, positive=True)
    return min(c * slope, 0.5)


def loglog_slope(k: ArrayLike, values: ArrayLike) -> float | np.ndarray:
    """Least-squares slope of ``log(values)`` against ``log(k)``: the measured rate exponent.

    ``k`` has shape ``(t,)`` (positive); ``values`` has shape ``(t,)`` or ``(t, ...)``
    (positive), one slope per trailing index. A curve that falls like ``k**-r`` has slope
    ``-r``.
    """
    k = _floats("k", k)
    v = _floats("values", values)
    if k.ndim != 1 or k.size < 2 or np.any(k <= 0) or not np.all(np.isfinite(k)):
        raise ValueError(f"k must be a 1-d array of at least 2 positive numbers, got {k!r}")
    if v.shape[:1] != k.shape or np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"values must be positive and finite with shape ({k.size}, ...), "
                         f"got shape {v.shape}")
    x = np.log(k) - np.log(k).mean()
    ly = np.log(v).reshape(k.size, -1)
    out = x @ (ly - ly.mean(axis=0)) / (x @ x)
    return float(out[0]) if v.ndim == 1 else out.reshape(v.shape[1:])


def polyak_ruppert_average(iterates: ArrayLike) -> np.ndarray:
    """Running averages of the iterates, ``wbar[k] = (w[1] + ... + w[k]) / k``, eq. (5.10).

    ``iterates`` has shape ``(steps + 1, ...)`` as returned by :func:`robbins_monro`
    (row ``k - 1`` is ``w[k]``); the result has the same shape, row ``k - 1`` being the
    average of the first ``k`` rows. Polyak and Juditsky (1992) and Ruppert (1988): with a
    step ``a[k] = c/k**alpha``, ``1/2 < alpha < 1``, the average reaches the best constant
    of the ``1/k`` mean-square rate whatever ``c``.
    """
    w = _floats("iterates", iterates)
    if w.ndim == 0 or w.shape[0] == 0:
        raise ValueError(f"iterates must have at least one row along axis 0, got shape {w.shape}")
    counts = np.arange(1, w.shape[0] + 1).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.cumsum(w, axis=0) / counts


# ---- least squares ---------------------------------------------------------------------------

def _check_data(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X = _floats("X", X)
    y = _floats("y", y)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-d array (n samples, d features), "
                         f"got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (n,) = ({X.shape[0]},) to match X, "
                         f"got shape {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite (no NaN or inf)")
    return X, y


def _check_weights(W: ArrayLike, d: int) -> np.ndarray:
    W = _floats("W", W)
    if W.ndim == 0 or W.shape[-1] != d:
        raise ValueError(f"W: weights must have shape (..., d) with d = {d}, "
                         f"got shape {W.shape}")
    return W


def make_least_squares(n: int = 200, w_true: ArrayLike = (1.0, 2.0), noise_std: float = 0.5,
                       *, rng: int | np.random.Generator | None = 0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded linear-regression data set ``y = X w_true + noise``.

    The first column of ``X`` is all ones (the intercept), the others are uniform on
    ``[-1, 2]``. Returns ``X`` of shape ``(n, d)`` and ``y`` of shape ``(n,)`` with
    ``d = len(w_true)``; ``n >= d`` so that the least-squares solution is unique.
    """
    w_true = _floats("w_true", w_true)
    if w_true.ndim != 1 or w_true.size == 0 or not np.all(np.isfinite(w_true)):
        raise ValueError(f"w_true must be a finite 1-d array of d >= 1 weights, "
                         f"got {w_true!r}")
    d = w_true.size
    n = _check_count("n", n, minimum=d)
    std = _check_real("noise_std", noise_std, nonnegative=True)
    gen = _rng(rng)
    X = np.ones((n, d))
    X[:, 1:] = gen.uniform(-1.0, 2.0, size=(n, d - 1))
    y = X @ w_true + std * gen.standard_normal(n)
    return X, y


def least_squares_solution(X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """The minimiser ``w*`` of (5.11), from ``numpy.linalg.lstsq``; shape ``(d,)``."""
    X, y = _check_data(X, y)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def least_squares_loss(W: ArrayLike, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """``J(w) = 1/(2n) sum_i (x_i . w - y_i)**2``, eq. (5.11), for weights of shape ``(..., d)``.

    Returns an array of shape ``W.shape[:-1]`` (a float for one weight vector).
    """
    X, y = _check_data(X, y)
    W = _check_weights(W, X.shape[1])
    residual = W @ X.T - y                                 # (..., n)
    return 0.5 * np.mean(residual ** 2, axis=-1)


def least_squares_gradient(W: ArrayLike, X: ArrayLike, y: ArrayLike,
                           idx: ArrayLike | None = None) -> np.ndarray:
    """The gradient of (5.11), exact or estimated from a mini-batch, eq. (5.12).

    ``grad J(w) = 1/n sum_i x_i (x_i . w - y_i)``. With ``idx`` of shape ``(..., m)``
    (the same leading shape as ``W``), the average is over the ``m`` samples ``idx`` picks
    for each weight vector: that is the stochastic gradient of SGD (``m = 1``) and of
    mini-batch descent. ``W`` has shape ``(..., d)``; so does the result.
    """
    X, y = _check_data(X, y)
    W = _check_weights(W, X.shape[1])
    if idx is not None:
        idx = check_array("idx", idx, dtype=None, min_size=0)
        if not np.issubdtype(idx.dtype, np.integer) or idx.shape[:-1] != W.shape[:-1] \
                or idx.ndim == 0 or idx.shape[-1] == 0:
            raise ValueError(f"idx must be an integer array of shape {W.shape[:-1]} + (m,) "
                             f"with m >= 1, got shape {idx.shape} and dtype {idx.dtype}")
        if idx.min() < 0 or idx.max() >= X.shape[0]:
            raise ValueError(f"idx must index samples 0..{X.shape[0] - 1}")
    return _gradient(W, X, y, idx)


def _gradient(W: np.ndarray, X: np.ndarray, y: np.ndarray, idx: np.ndarray | None
              ) -> np.ndarray:
    """:func:`least_squares_gradient` on checked arrays (the descent loops' inner call, where
    a diverging iterate may be infinite)."""
    if idx is None:
        residual = W @ X.T - y                             # (..., n)
        return residual @ X / X.shape[0]                   # (..., d)
    Xb = X[idx]                                            # (..., m, d)
    residual = np.einsum("...md,...d->...m", Xb, W) - y[idx]   # (..., m)
    return np.einsum("...m,...md->...d", residual, Xb) / idx.shape[-1]


def _per_sample_gradients(W: np.ndarray, X: np.ndarray, y: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of every ``f_i`` at ``W`` (shape ``(..., n, d)``) and their mean ``grad J``."""
    residual = W @ X.T - y                                 # (..., n)
    per_sample = residual[..., :, None] * X                # (..., n, d)
    return per_sample, per_sample.mean(axis=-2)            # (..., n, d), (..., d)


def gradient_relative_error(W: ArrayLike, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Relative error of every single-sample gradient at ``W``, eq. (5.14).

    ``delta_i(w) = |grad f_i(w) - grad J(w)| / |grad J(w)|`` with
    ``f_i(w) = (x_i . w - y_i)**2 / 2``: how far the gradient SGD uses is from the true one,
    relative to the true one's size. ``W`` has shape ``(..., d)``; returns shape
    ``(..., n)``, one value per sample (``inf`` at an exact minimiser).
    """
    X, y = _check_data(X, y)
    W = _check_weights(W, X.shape[1])
    per_sample, full = _per_sample_gradients(W, X, y)
    num = np.linalg.norm(per_sample - full[..., None, :], axis=-1)
    den = np.linalg.norm(full, axis=-1)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.inf)


def descent_fraction(W: ArrayLike, X: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Share of single-sample gradients at ``W`` that point downhill on ``J`` (5.11).

    The fraction of samples ``i`` with ``grad f_i(w) . grad J(w) > 0``, i.e. for which a
    small SGD step on sample ``i`` alone decreases ``J``. Every sample with relative error
    (5.14) below 1 counts, and some with more. ``W`` has shape ``(..., d)``; returns shape
    ``W.shape[:-1]``, values in ``[0, 1]``.
    """
    X, y = _check_data(X, y)
    W = _check_weights(W, X.shape[1])
    per_sample, full = _per_sample_gradients(W, X, y)
    return np.mean(np.einsum("...nd,...d->...n", per_sample, full) > 0, axis=-1)


def gradient_descent(X: ArrayLike, y: ArrayLike, schedule: StepSize, steps: int, *,
                     batch_size: int | None = None, w0: ArrayLike | None = None,
                     paths: int = 1, replace: bool = True,
                     rng: int | np.random.Generator | None = 0,
                     progress: bool | None = None) -> np.ndarray:
    """Batch, mini-batch or stochastic gradient descent on least squares (5.11), eq. (5.13).

    ``w[k+1] = w[k] - a[k] * (1/m) sum_{i in I_k} x_i (x_i . w[k] - y_i)``. It is
    Robbins-Monro (5.5) with ``g(w) = grad J(w)``, and it is run by :func:`robbins_monro`:

    * ``batch_size=None``: batch gradient descent (BGD), ``I_k`` is every sample;
    * ``batch_size=m``: mini-batch descent (MBGD), ``I_k`` is ``m`` indices drawn uniformly,
      with replacement by default (``replace=False`` draws ``m`` distinct ones);
    * ``batch_size=1``: stochastic gradient descent (SGD).

    Parameters
    ----------
    X, y
        Data of shapes ``(n, d)`` and ``(n,)``.
    schedule, steps, paths, rng, progress
        As in :func:`robbins_monro`.
    batch_size
        ``None`` for the full batch, or an integer ``1 <= m <= n``.
    w0
        Starting weights, shape ``(d,)``; zeros when omitted.

    Returns
    -------
    ndarray, shape ``(steps + 1, paths, d)``
        The iterates, ``out[0]`` being ``w0``.
    """
    X, y = _check_data(X, y)
    n, d = X.shape
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be None (the full batch) or an integer from 1 "
                             f"to the number of samples n = {n}, got {batch_size!r}")
        batch_size = int(batch_size)
    replace = check_bool("replace", replace)
    start = np.zeros(d) if w0 is None else _floats("w0", w0)
    if start.shape != (d,):
        raise ValueError(f"w0 must have shape (d,) = ({d},), got shape {start.shape}")

    # [mark: gradients]
    if batch_size is None:
        def noisy_gradient(W: np.ndarray, gen: np.random.Generator) -> np.ndarray:
            return _gradient(W, X, y, None)
    elif replace:
        def noisy_gradient(W: np.ndarray, gen: np.random.Generator) -> np.ndarray:
            idx = gen.integers(0, n, size=(W.shape[0], batch_size))   # (paths, m)
            return _gradient(W, X, y, idx)
    else:
        def noisy_gradient(W: np.ndarray, gen: np.random.Generator) -> np.ndarray:
            idx = np.argsort(gen.random((W.shape[0], n)), axis=1)[:, :batch_size]
            return _gradient(W, X, y, idx)

    return robbins_monro(noisy_gradient, start, schedule, steps, paths=paths, rng=rng,
                         progress=progress)


def final_errors_over_scales(X: ArrayLike, y: ArrayLike, scales: ArrayLike, steps: int, *,
                             batch_size: int | None, alpha: float = 0.75,
                             w0: ArrayLike | None = None, paths: int = 20,
                             rng: int | np.random.Generator | None = 0) -> np.ndarray:
    """Final distance to ``w*`` of (5.13) with ``a[k] = c/k**alpha``, for every ``c`` at once.

    Runs ``paths`` independent paths of mini-batch descent (``batch_size=m``, indices drawn
    with replacement; ``None`` for the full batch) for ``steps`` steps with each scale ``c``
    in ``scales`` (shape ``(s,)``, positive) side by side, all from ``w0`` (shape ``(d,)``,
    zeros when omitted). Returns ``|w[steps+1] - w*|`` of shape ``(s, paths)``; a run that
    overflows gives ``inf``.
    """
    X, y = _check_data(X, y)
    n, d = X.shape
    c = _floats("scales", scales)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"scales must be a non-empty 1-d array of positive numbers, "
                         f"got {scales!r}")
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, numbers.Integral)
                                   or not 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be None (the full batch) or an integer from 1 "
                         f"to the number of samples n = {n}, got {batch_size!r}")
    steps = _check_count("steps", steps)
    paths = _check_count("paths", paths)
    alpha = _check_real("alpha", alpha, nonnegative=True)
    start = np.zeros(d) if w0 is None else _floats("w0", w0)
    if start.shape != (d,):
        raise ValueError(f"w0 must have shape (d,) = ({d},), got shape {start.shape}")
    gen = _rng(rng)
    W = np.broadcast_to(start, (c.size, paths, d)).copy()          # (s, paths, d)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            if batch_size is None:
                grad = _gradient(W, X, y, None)
            else:
                idx = gen.integers(0, n, size=(c.size, paths, batch_size))
                grad = _gradient(W, X, y, idx)
            W = W - (c / k ** alpha)[:, None, None] * grad              # eq. (5.13)
        err = np.linalg.norm(W - least_squares_solution(X, y), axis=-1)
    return np.where(np.isfinite(err), err, np.inf)


def tune_step_scale(X: ArrayLike, y: ArrayLike, scales: ArrayLike, budget: int, *,
                    batch_size: int | None, alpha: float = 0.75, w0: ArrayLike | None = None,
                    paths: int = 20, rng: int | np.random.Generator | None = 0
                    ) -> tuple[float, np.ndarray]:
    """The scale ``c`` of ``a[k] = c/k**alpha`` that does best for one batch size and budget.

    The budget is counted in single-sample gradients: a batch of ``m`` (``n`` for the full
    batch, ``batch_size=None``) gets ``budget // m`` steps (at least one). Every ``c`` in
    ``scales`` runs on the same tuning seed ``rng``; the winner has the smallest mean final
    distance to ``w*`` over ``paths``. Returns ``(best_c, mean_error_per_scale)``, the second
    of shape ``(len(scales),)``. Evaluate the winner on other seeds than the tuning one.
    """
    X, y = _check_data(X, y)
    budget = _check_count("budget", budget)
    m = X.shape[0] if batch_size is None else batch_size
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}")
    steps = max(budget // int(m), 1)
    err = final_errors_over_scales(X, y, scales, steps, batch_size=batch_size, alpha=alpha,
                                   w0=w0, paths=paths, rng=rng).mean(axis=1)
    return float(_floats("scales", scales)[np.argmin(err)]), err


def batch_gd(X: ArrayLike, y: ArrayLike, schedule: StepSize, steps: int,
             **kwargs) -> np.ndarray:
    """Batch gradient descent: :func:`gradient_descent` with the full batch every step."""
    return gradient_descent(X, y, schedule, steps, batch_size=None, **kwargs)


def minibatch_gd(X: ArrayLike, y: ArrayLike, schedule: StepSize, steps: int,
                 batch_size: int, **kwargs) -> np.ndarray:
    """Mini-batch gradient descent: :func:`gradient_descent` with ``m = batch_size``."""
    if batch_size is None:
        raise ValueError("minibatch_gd needs an integer batch_size from 1 to n; "
                         "use batch_gd for the full batch")
    return gradient_descent(X, y, schedule, steps, batch_size=batch_size, **kwargs)


def sgd(X: ArrayLike, y: ArrayLike, schedule: StepSize, steps: int, **kwargs) -> np.ndarray:
    """Stochastic gradient descent: :func:`gradient_descent` with one sample a step."""
    return gradient_descent(X, y, schedule, steps, batch_size=1, **kwargs)


# ---- Kiefer-Wolfowitz: no derivative at all ----------------------------------------------------

def kiefer_wolfowitz(noisy_f: NoisyFunction, w0: ArrayLike, schedule: StepSize,
                     widths: StepSize, steps: int, *, paths: int = 1,
                     rng: int | np.random.Generator | None = 0,
                     progress: bool | None = None) -> np.ndarray:
    """The Kiefer-Wolfowitz iteration (5.15): minimise ``f`` from noisy values of ``f`` alone.

    ``w[k+1] = w[k] - a[k] * (f~(w[k] + c[k]) - f~(w[k] - c[k])) / (2 c[k])``, one central
    difference per coordinate, so ``2 d`` noisy evaluations of ``f`` per step. The steps
    ``a[k]`` come from ``schedule`` and the half-widths ``c[k]`` from ``widths`` (for example
    ``Harmonic()`` and ``Power(h, 1/6)``); the widths must shrink for the bias of the
    difference to vanish, and slowly enough that ``sum (a[k]/c[k])**2 < inf``.

    Parameters
    ----------
    noisy_f
        ``noisy_f(w, rng) -> values``: one noisy value of ``f`` per point. For a scalar ``w0``
        it receives shape ``(paths,)`` and returns ``(paths,)``; for ``w0`` of shape ``(d,)``
        it receives ``(paths, d, d)`` (points along axis -1) and returns ``(paths, d)``.
    w0, steps, paths, rng, progress
        As in :func:`robbins_monro`.

    Returns
    -------
    ndarray, shape ``(steps + 1, paths, *shape(w0))``
        ``out[k - 1]`` is ``w[k]``.
    """
    if not callable(noisy_f):
        raise ValueError(f"noisy_f must be a callable noisy_f(w, rng) -> values, got {noisy_f!r}")
    schedule = _check_schedule(schedule)
    if not isinstance(widths, StepSize):
        raise ValueError("widths must be a StepSize such as Power(0.5, 1/6) (the half-widths "
                         f"c[k] of the finite differences), got {widths!r}")
    steps = _check_count("steps", steps)
    paths = _check_count("paths", paths)
    start = _floats("w0", w0)
    if start.ndim > 1 or not np.all(np.isfinite(start)):
        raise ValueError(f"w0 must be a finite scalar or a 1-d array, got shape {start.shape}")
    gen = _rng(rng)
    ks = np.arange(1, steps + 1)
    a, h = schedule(ks), widths(ks)                       # (steps,), (steps,)
    out = np.empty((steps + 1, paths) + start.shape)
    out[0] = start
    w = out[0].copy()
    shift = 1.0 if start.ndim == 0 else np.eye(start.size)  # () or (d, d)
    for k in _iterations(steps, progress, "Kiefer-Wolfowitz"):
        points = w if start.ndim == 0 else w[:, None, :]     # (paths,) or (paths, 1, d)
        up = np.asarray(noisy_f(points + h[k - 1] * shift, gen), dtype=float)
        down = np.asarray(noisy_f(points - h[k - 1] * shift, gen), dtype=float)
        if up.shape != w.shape or down.shape != w.shape:
            raise ValueError(f"noisy_f must return one value per point, shape {w.shape}, "
                             f"got shape {up.shape}")
        w = w - a[k - 1] * (up - down) / (2 * h[k - 1])   # eq. (5.15)
        out[k] = w
    return out


# ---- Dvoretzky-type processes: tabular TD(0) ---------------------------------------------------

def random_mrp(n_states: int = 5, *, rng: int | np.random.Generator | None = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """A seeded Markov reward process: transition matrix ``P`` (S, S) and mean rewards ``r`` (S,).

    Rows of ``P`` are drawn from a flat Dirichlet distribution (every transition possible),
    rewards uniformly from ``[-1, 1]``.
    """
    n_states = _check_count("n_states", n_states, minimum=2)
    gen = _rng(rng)
    P = gen.dirichlet(np.ones(n_states), size=n_states)
    r = gen.uniform(-1.0, 1.0, size=n_states)
    return P, r


def _check_mrp(P: ArrayLike, r: ArrayLike, gamma: float) -> tuple[np.ndarray, np.ndarray, float]:
    P = _floats("P", P)
    r = _floats("r", r)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] == 0 \
            or np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0):
        raise ValueError(f"P must be a square row-stochastic matrix, got shape {P.shape}")
    if r.shape != (P.shape[0],) or not np.all(np.isfinite(r)):
        raise ValueError(f"r must be a finite array of shape ({P.shape[0]},), got {r.shape}")
    gamma = _check_real("gamma", gamma, nonnegative=True)
    if gamma >= 1:
        raise ValueError(f"gamma must be in [0, 1), got {gamma!r}")
    return P, r, gamma


def mrp_values(P: ArrayLike, r: ArrayLike, gamma: float) -> np.ndarray:
    """The state values ``v = (I - gamma P)^{-1} r`` that TD(0) estimates; shape ``(S,)``."""
    P, r, gamma = _check_mrp(P, r, gamma)
    return np.linalg.solve(np.eye(len(r)) - gamma * P, r)


def td0_evaluation(P: ArrayLike, r: ArrayLike, gamma: float, steps: int, *,
                   exponent: float = 0.75, reward_std: float = 0.5, paths: int = 1,
                   rng: int | np.random.Generator | None = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tabular TD(0) along one long trajectory of a Markov reward process, eq. (5.17).

    At step ``k`` the chain is in state ``s``, earns ``r[s]`` plus Gaussian noise of standard
    deviation ``reward_std``, moves to ``s'`` drawn from ``P[s]``, and only the visited state
    is updated, ``v[s] += alpha * (reward + gamma v[s'] - v[s])`` with
    ``alpha = 1 / N(s)**exponent`` and ``N(s)`` the number of visits to ``s`` so far. Every
    other state gets a step of zero: the step sizes are random and depend on the past, which
    is what Dvoretzky's theorem (5.16) allows and the Robbins-Monro theorem does not.

    Returns ``(values, states, alphas)`` of shapes ``(steps + 1, paths, S)`` (estimates, from
    zeros), ``(steps, paths)`` (state visited at step ``k``) and ``(steps, paths)`` (the step
    size it received). ``exponent`` must be in ``(1/2, 1]``; the start state is uniform.
    """
    P, r, gamma = _check_mrp(P, r, gamma)
    steps = _check_count("steps", steps)
    paths = _check_count("paths", paths)
    exponent = _check_real("exponent", exponent, positive=True)
    if not 0.5 < exponent <= 1:
        raise ValueError(f"exponent must be in (1/2, 1] so that the steps meet (5.6), "
                         f"got {exponent!r}")
    reward_std = _check_real("reward_std", reward_std, nonnegative=True)
    gen = _rng(rng)
    S = len(r)
    cum = np.cumsum(P, axis=1)                                   # (S, S)
    values = np.zeros((steps + 1, paths, S))
    states = np.empty((steps, paths), dtype=int)
    alphas = np.empty((steps, paths))
    visits = np.zeros((paths, S))
    v = np.zeros((paths, S))
    s = gen.integers(0, S, size=paths)
    rows = np.arange(paths)
    for k in range(steps):
        nxt = np.minimum((cum[s] < gen.random(paths)[:, None]).sum(axis=1), S - 1)
        reward = r[s] + reward_std * gen.standard_normal(paths)
        visits[rows, s] += 1
        alpha = visits[rows, s] ** -exponent
        v[rows, s] += alpha * (reward + gamma * v[rows, nxt] - v[rows, s])   # eq. (5.17)
        states[k], alphas[k] = s, alpha
        values[k + 1] = v
        s = nxt
    return values, states, alphas
