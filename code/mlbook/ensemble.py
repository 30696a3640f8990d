"""Ensemble learning from scratch: bagging, boosting and stacking (chapter 2).

Five meta-estimators, each written to be read next to the chapter and each taking any
scikit-learn base estimator:

* :class:`BaggingClassifier`: Breiman (1996), *Bagging predictors*; with a tree that
  samples features at each split it is Breiman's (2001) random forest;
* :class:`AdaBoostClassifier`: Freund & Schapire (1997), in the multi-class SAMME form of
  Zhu, Zou, Rosset & Hastie (2009), *Multi-class AdaBoost*;
* :class:`GradientBoostingRegressor` and :class:`GradientBoostingClassifier`: Friedman
  (2001), *Greedy function approximation*, for squared loss and binary log-loss with
  Newton steps in the leaves; Friedman (2002) for row subsampling;
* :class:`StackingClassifier`: Wolpert (1992), *Stacked generalization*, with the
  out-of-fold predictions of Breiman (1996), *Stacked regressions*;

plus :func:`adaboost_margin_bound` and ``AdaBoostClassifier.staged_margins`` for
Freund & Schapire's training-error bound and the margins of Schapire, Freund, Bartlett &
Lee (1998); :func:`bias_variance_decomposition`, which estimates the squared bias (corrected
for the finite number of training sets) and the variance of any estimator over many
training sets (Geman, Bienenstock & Doursat, 1992), with Monte Carlo standard errors, and
:func:`bias_variance_difference` for paired comparisons of two estimators; and a small data
set with a known class probability, :func:`make_sine_boundary`, for measuring them. The
chapter motivates all of it with Dietterich's (2000) three reasons why ensembles work.

Equation numbers, e.g. "eq. (2.8)", are those the book's site shows for chapter 2
(numbered in order of appearance, (2.1) to (2.21)).

The classes follow scikit-learn's estimator API: ``__init__`` only stores its arguments;
``fit`` validates them (scikit-learn's ``InvalidParameterError``, a ``ValueError``, for a
bad value), validates the data, learns attributes whose names end in ``_`` and returns
``self``; prediction methods call ``check_is_fitted`` first. ``check_estimator`` passes on
each (see ``tests/test_ensemble.py``). Arrays: ``X`` has shape ``(n_samples, n_features)``,
``y`` shape ``(n_samples,)``; nothing here has physical units.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin,
                          clone, is_classifier)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import check_cv
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from .checks import (ArgumentTypeError, check_array, check_bool, check_callable, check_choice,
                     check_count, check_int, check_number, check_positive)
from .progress import tqdm

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn (Colab images lag behind)
    def validate_data(estimator, X="no_validation", y="no_validation", reset=True, **kw):
        return estimator._validate_data(X, y, reset=reset, **kw)

__all__ = [
    "BaggingClassifier",
    "AdaBoostClassifier",
    "adaboost_margin_bound",
    "GradientBoostingRegressor",
    "GradientBoostingClassifier",
    "StackingClassifier",
    "BiasVariance",
    "BiasVarianceDifference",
    "bias_variance_decomposition",
    "bias_variance_difference",
    "make_sine_boundary",
    "sine_boundary_proba",
]


# ---------------------------------------------------------------------------------------
# Small helpers shared by the estimators
# ---------------------------------------------------------------------------------------
def _template(estimator: Any, default: BaseEstimator) -> BaseEstimator:
    """An unfitted copy of ``estimator``, or of ``default`` when it is ``None``."""
    return clone(default if estimator is None else estimator)


def _check_learner(name: str, value: Any) -> None:
    """``None`` (the default learner) or an estimator with ``fit`` and ``predict``."""
    if value is not None and not (callable(getattr(value, "fit", None))
                                  and callable(getattr(value, "predict", None))):
        raise ArgumentTypeError(f"{name} must be None or an estimator with fit and predict "
                                f"methods, got {type(value).__name__}")


def _check_fraction(name: str, value: Any) -> float:
    """A share of rows or columns: a number in (0, 1]."""
    return check_number(name, value, minimum=0.0, exclusive_minimum=True, maximum=1.0)


def _check_learning_rate(name: str, value: Any) -> float:
    """A shrinkage or learning rate: a positive number."""
    return check_number(name, value, minimum=0.0, exclusive_minimum=True)


def _check_random_state(random_state: Any) -> None:
    """scikit-learn's convention: ``None``, an int in [0, 2**32 - 1] or a ``RandomState``."""
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        check_int("random_state", random_state, minimum=0, maximum=2**32 - 1)


def _check_ensemble_params(est: BaseEstimator, **extra: Callable[[str, Any], Any]) -> None:
    """Check the hyper-parameters ``fit`` reads (scikit-learn checks them at fit time too):
    ``estimator``, ``n_estimators`` and ``random_state`` when the estimator has them, then
    each of ``extra``, a parameter name and its check."""
    params = est.get_params(deep=False)
    if "estimator" in params:
        _check_learner("estimator", params["estimator"])
    if "n_estimators" in params:
        check_count("n_estimators", params["n_estimators"])
    if "random_state" in params:
        _check_random_state(params["random_state"])
    for name, check in extra.items():
        check(name, params[name])


def _random_state(random_state) -> np.random.RandomState:
    """scikit-learn's ``check_random_state`` (``None``: numpy's global generator, an int: a
    seed, a ``RandomState``: itself), with bools, negative numbers and floats refused by name."""
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        check_int("random_state", random_state, minimum=0, maximum=2**32 - 1)
    return check_random_state(random_state)


def _seed_params(estimator: BaseEstimator, rng: np.random.RandomState) -> None:
    """Give every ``random_state`` parameter of ``estimator`` an integer drawn from ``rng``.

    The same rule as scikit-learn's ensembles (parameters in sorted order, one
    ``randint(2**31 - 1)`` each), so a seeded ensemble grows the same base learners here
    and there.
    """
    seeds = {key: rng.randint(np.iinfo(np.int32).max)
             for key in sorted(estimator.get_params(deep=True))
             if key == "random_state" or key.endswith("__random_state")}
    if seeds:
        estimator.set_params(**seeds)


def _share_rng(estimator: BaseEstimator, rng: np.random.RandomState) -> None:
    """Point every ``random_state`` parameter of ``estimator`` at the one generator ``rng``.

    This is what scikit-learn's gradient boosting does with its trees (they break ties
    between equally good splits at random), so a seeded model grows the same trees here.
    """
    keys = [key for key in estimator.get_params(deep=True)
            if key == "random_state" or key.endswith("__random_state")]
    if keys:
        estimator.set_params(**dict.fromkeys(keys, rng))


def _encode_labels(estimator: BaseEstimator, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, y_encoded)`` with ``y_encoded`` in ``0 .. K-1``; reject one class.

    Raises ``ValueError`` for continuous targets (scikit-learn's "Unknown label type") and
    for labels of a single class, which no ensemble can learn to separate.
    """
    check_classification_targets(y)
    classes, y_encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least two classes to learn "
            f"from, but y has one class only ({classes[0]!r})")
    return classes, y_encoded


def _columns_for_classes(proba: np.ndarray, seen: np.ndarray, n_classes: int) -> np.ndarray:
    """Spread ``predict_proba`` columns of a learner that saw only the classes ``seen``
    (encoded, a subset of ``0 .. K-1``) over all ``n_classes`` columns, zeros elsewhere."""
    full = np.zeros((proba.shape[0], n_classes))
    full[:, np.asarray(seen, dtype=int)] = proba
    return full


# ---------------------------------------------------------------------------------------
# Bagging (chapter 2, section "Bagging")
# ---------------------------------------------------------------------------------------
class BaggingClassifier(ClassifierMixin, BaseEstimator):
    """Bootstrap aggregating: fit copies of a classifier on bootstrap samples, then vote.

    Each of the ``n_estimators`` learners sees ``max_samples * n`` rows drawn with
    replacement (eq. (2.2)) and, optionally, a random subset of ``max_features * d`` columns
    (the random-subspace method). Predictions average the learners' class probabilities
    (soft voting, eq. (2.3)); a learner without ``predict_proba`` casts one vote. A point
    left out of a learner's sample (probability about 1/e, eq. (2.4)) is scored by that
    learner, which gives the out-of-bag estimate of the test accuracy for free.

    A random forest is this class with a tree that samples features at every split:
    ``BaggingClassifier(DecisionTreeClassifier(max_features="sqrt"), n_estimators=100)``.

    Parameters
    ----------
    estimator : classifier or None, default=None
        The base learner; ``None`` means a fully grown ``DecisionTreeClassifier()``.
    n_estimators : int >= 1, default=10
        Number of learners B.
    max_samples : float in (0, 1], default=1.0
        Size of each learner's sample as a fraction of the training set.
    max_features : float in (0, 1], default=1.0
        Fraction of the columns each learner sees (drawn once per learner, without
        replacement).
    bootstrap : bool, default=True
        Draw rows with replacement (bagging) or without (pasting; with
        ``max_samples=1.0`` every learner then sees the whole training set and the
        learners differ only through their own ``random_state``).
    oob_score : bool, default=False
        Compute ``oob_score_`` and ``oob_decision_function_`` (needs ``bootstrap=True``).
    random_state : int, RandomState or None, default=None
        Seeds the samples and every learner's own ``random_state``.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
    estimators_ : list of B fitted learners (trained on the encoded labels ``0 .. K-1``)
    estimators_samples_ : list of B integer arrays, the rows each learner saw
    estimators_features_ : list of B integer arrays, the columns each learner saw
    oob_decision_function_ : ndarray of shape (n_samples, K), NaN for a point in every sample
    oob_score_ : float, accuracy of the out-of-bag votes
    n_features_in_ : int
    """


    def __init__(self, estimator=None, n_estimators: int = 10, *, max_samples: float = 1.0,
                 max_features: float = 1.0, bootstrap: bool = True, oob_score: bool = False,
                 random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.random_state = random_state

    def fit(self, X, y) -> "BaggingClassifier":
        """Fit ``n_estimators`` learners, each on its own bootstrap sample of ``(X, y)``."""
        _check_ensemble_params(self, max_samples=_check_fraction, max_features=_check_fraction,
                               bootstrap=check_bool, oob_score=check_bool)
        if self.oob_score and not self.bootstrap:
            raise ValueError("oob_score=True needs bootstrap=True: without replacement and "
                             "max_samples=1.0 no point is ever out of the bag")
        X, y = validate_data(self, X, y)
        self.classes_, y_encoded = _encode_labels(self, y)
        n_samples, n_features = X.shape
        n_rows = max(1, int(round(self.max_samples * n_samples)))
        n_cols = max(1, int(round(self.max_features * n_features)))
        template = _template(self.estimator, DecisionTreeClassifier())
        rng = _random_state(self.random_state)

        self.estimators_, self.estimators_samples_, self.estimators_features_ = [], [], []
        for _ in range(self.n_estimators):
            learner = clone(template)
            _seed_params(learner, rng)
            if self.bootstrap:                                   # eq. (2.2): n draws with
                rows = rng.randint(0, n_samples, n_rows)         # replacement
            else:
                rows = rng.choice(n_samples, n_rows, replace=False)
            cols = (np.sort(rng.choice(n_features, n_cols, replace=False))
                    if n_cols < n_features else np.arange(n_features))
            learner.fit(X[rows][:, cols], y_encoded[rows])
            self.estimators_.append(learner)
            self.estimators_samples_.append(rows)
            self.estimators_features_.append(cols)

        if self.oob_score:
            self._set_oob_score(X, y_encoded)
        return self

    def _learner_proba(self, learner, cols: np.ndarray, X: np.ndarray) -> np.ndarray:
        """One learner's class probabilities over all K classes, shape (n, K)."""
        K = len(self.classes_)
        if hasattr(learner, "predict_proba"):
            return _columns_for_classes(learner.predict_proba(X[:, cols]), learner.classes_, K)
        votes = np.zeros((X.shape[0], K))                      # hard vote
        votes[np.arange(X.shape[0]), learner.predict(X[:, cols]).astype(int)] = 1.0
        return votes

    def _set_oob_score(self, X: np.ndarray, y_encoded: np.ndarray) -> None:
        n_samples, K = X.shape[0], len(self.classes_)
        totals = np.zeros((n_samples, K))
        counts = np.zeros(n_samples)
        for learner, rows, cols in zip(self.estimators_, self.estimators_samples_,
                                       self.estimators_features_):
            out_of_bag = np.bincount(np.asarray(rows, dtype=np.intp), minlength=n_samples) == 0
            if out_of_bag.any():
                totals[out_of_bag] += self._learner_proba(learner, cols, X[out_of_bag])
                counts[out_of_bag] += 1
        scored = counts > 0
        if not scored.all():
            warnings.warn(
                f"{np.sum(~scored)} of {n_samples} points were in every bootstrap sample and "
                "have no out-of-bag prediction; oob_score_ uses the others. Use more "
                "estimators for a reliable estimate.", UserWarning, stacklevel=3)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.oob_decision_function_ = totals / counts[:, None]
        if not scored.any():
            self.oob_score_ = np.nan
            return
        oob_pred = np.argmax(self.oob_decision_function_[scored], axis=1)
        self.oob_score_ = float(np.mean(oob_pred == y_encoded[scored]))

    def predict_proba(self, X) -> np.ndarray:
        """Mean of the learners' class probabilities (eq. (2.3)), shape (n_samples, K)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        total = sum(self._learner_proba(learner, cols, X)
                    for learner, cols in zip(self.estimators_, self.estimators_features_))
        return total / total.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The class with the largest mean probability, shape (n_samples,)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


# ---------------------------------------------------------------------------------------
# AdaBoost, SAMME (chapter 2, section "AdaBoost")
# ---------------------------------------------------------------------------------------
class AdaBoostClassifier(ClassifierMixin, BaseEstimator):
    """AdaBoost with the multi-class SAMME weights of Zhu et al. (2009).

    Round m fits a learner h_m to the training set weighted by w, measures its weighted
    error err_m (eq. (2.6)), gives it the say

        alpha_m = learning_rate * (log((1 - err_m) / err_m) + log(K - 1))      (eq. (2.8))

    and multiplies the weight of every point it got wrong by exp(alpha_m) (eq. (2.9)). The
    ensemble predicts the class with the largest total say (eq. (2.10)). For K = 2 and
    learning_rate = 1 this is Freund and Schapire's AdaBoost.M1.

    Bookkeeping follows scikit-learn's ``AdaBoostClassifier`` line for line, so the same
    base learner, data and ``random_state`` give the same predictions: weights are clipped
    below at machine epsilon, a learner no better than guessing (err >= 1 - 1/K) ends the
    fit and is dropped, and a perfect learner (err = 0) ends it with say 1.

    Parameters
    ----------
    estimator : classifier or None, default=None
        Base learner whose ``fit`` takes ``sample_weight``; ``None`` means a decision stump
        ``DecisionTreeClassifier(max_depth=1)``.
    n_estimators : int >= 1, default=50
        Most rounds M (fewer if a learner is perfect or useless).
    learning_rate : float > 0, default=1.0
        Shrinks every say alpha_m.
    random_state : int, RandomState or None, default=None
        Seeds every learner's own ``random_state``.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
    estimators_ : list of fitted learners (trained on encoded labels ``0 .. K-1``)
    estimator_weights_ : ndarray of shape (len(estimators_),), the says alpha_m
    estimator_errors_ : ndarray of shape (len(estimators_),), the weighted errors err_m
    sample_weights_ : ndarray of shape (len(estimators_), n_samples), the weights w each
        learner was fitted with (each row sums to 1); not in scikit-learn, kept so the
        chapter can show where the weight goes
    n_features_in_ : int
    """


    def __init__(self, estimator=None, n_estimators: int = 50, *, learning_rate: float = 1.0,
                 random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y) -> "AdaBoostClassifier":
        """Run up to ``n_estimators`` rounds of SAMME on ``(X, y)``."""
        _check_ensemble_params(self, learning_rate=_check_learning_rate)
        X, y = validate_data(self, X, y)
        self.classes_, y_encoded = _encode_labels(self, y)
        K = len(self.classes_)
        template = _template(self.estimator, DecisionTreeClassifier(max_depth=1))
        if not has_fit_parameter(template, "sample_weight"):
            raise ValueError(
                f"AdaBoost reweights the training points, so its base estimator's fit must "
                f"take sample_weight; {type(template).__name__}.fit does not")
        rng = _random_state(self.random_state)
        n_samples = X.shape[0]
        w = np.full(n_samples, 1.0 / n_samples)                  # w_i = 1/n
        tiny = np.finfo(np.float64).eps

        self.estimators_, says, errors, history = [], [], [], []
        for m in range(self.n_estimators):
            w = np.clip(w, tiny, None)
            history.append(w)
            learner = clone(template)
            _seed_params(learner, rng)
            learner.fit(X, y_encoded, sample_weight=w)
            wrong = learner.predict(X) != y_encoded
            err = np.average(wrong, weights=w)                   # eq. (2.6)
            if err <= 0:                                         # perfect: stop, say 1
                self.estimators_.append(learner)
                says.append(1.0)
                errors.append(0.0)
                break
            if err >= 1.0 - 1.0 / K:                             # no better than guessing
                if not self.estimators_:
                    raise ValueError(
                        f"the first base learner's weighted error {err:.3f} is no better "
                        f"than guessing among {K} classes (>= {1 - 1 / K:.3f}); "
                        "AdaBoost needs a base learner that beats chance")
                break
            alpha = self.learning_rate * (np.log((1.0 - err) / err) + np.log(K - 1.0))  # (2.8)
            self.estimators_.append(learner)
            says.append(alpha)
            errors.append(err)
            if m == self.n_estimators - 1:
                break
            w = np.exp(np.log(w) + alpha * wrong)                # eq. (2.9)
            total = w.sum()
            if not np.isfinite(total):
                warnings.warn(f"sample weights overflowed at round {m}; stopping early. "
                              "Lower the learning rate.", UserWarning, stacklevel=2)
                break
            w /= total
        self.estimator_weights_ = np.asarray(says, dtype=float)
        self.estimator_errors_ = np.asarray(errors, dtype=float)
        self.sample_weights_ = np.asarray(history[:len(self.estimators_)])
        return self

    def _votes(self, learner, alpha: float, X: np.ndarray) -> np.ndarray:
        """alpha for the class a learner votes for, -alpha/(K-1) for the others: (n, K)."""
        K = len(self.classes_)
        hit = learner.predict(X)[:, None] == np.arange(K)[None, :]
        return np.where(hit, alpha, -alpha / (K - 1))

    def staged_decision_function(self, X) -> Iterator[np.ndarray]:
        """The decision function after 1, 2, ..., M rounds (see :meth:`decision_function`)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        total, norm = 0.0, 0.0
        for learner, alpha in zip(self.estimators_, self.estimator_weights_):
            total = total + self._votes(learner, alpha, X)
            norm += alpha
            yield self._binary_or_not(total / norm)

    def _binary_or_not(self, scores: np.ndarray) -> np.ndarray:
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def decision_function(self, X) -> np.ndarray:
        """Say-weighted votes, scaled by the total say; shape (n,) for K = 2, else (n, K).

        Coding a vote as alpha for the chosen class and -alpha/(K-1) for the rest (Zhu et
        al.'s symmetric coding) leaves the arg-max of eq. (2.10) unchanged; for two classes the
        score is that of class 1 minus that of class 0, positive for ``classes_[1]``.
        """
        scores = None
        for scores in self.staged_decision_function(X):
            pass
        return scores

    def staged_predict(self, X) -> Iterator[np.ndarray]:
        """Predictions after 1, 2, ..., M rounds."""
        for scores in self.staged_decision_function(X):
            yield self._scores_to_labels(scores)

    def _scores_to_labels(self, scores: np.ndarray) -> np.ndarray:
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict(self, X) -> np.ndarray:
        """The class with the largest total say (eq. (2.10)), shape (n_samples,)."""
        return self._scores_to_labels(self.decision_function(X))

    def staged_margins(self, X, y) -> Iterator[np.ndarray]:
        """Normalised margins (eq. (2.12)) of the points ``(X, y)`` after 1, 2, ..., M rounds.

        The margin of ``(x, y)`` is the total say of the learners that vote for y minus the
        largest total say any other class gets, divided by the total say of all learners:
        a number in [-1, 1], positive exactly when the vote is right, and the closer to 1
        the more confidently. Each item has shape (n_samples,).

        Raises
        ------
        ValueError
            ``y`` does not have one label per row of ``X``, or contains a label that was
            not among the training classes.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have one label per row of X, shape ({X.shape[0]},), "
                             f"got shape {y.shape}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels the model was not trained on: "
                             f"{unknown[:5].tolist()}; allowed are {self.classes_.tolist()}")
        y_encoded = np.searchsorted(self.classes_, y)
        rows, K = np.arange(X.shape[0]), len(self.classes_)
        say_for = np.zeros((X.shape[0], K))                      # total say for each class
        total = 0.0
        for learner, alpha in zip(self.estimators_, self.estimator_weights_):
            say_for[rows, learner.predict(X).astype(int)] += alpha
            total += alpha
            others = say_for.copy()
            others[rows, y_encoded] = -np.inf
            yield (say_for[rows, y_encoded] - others.max(axis=1)) / total

    def predict_proba(self, X) -> np.ndarray:
        """softmax(decision / (K - 1)) as in scikit-learn (Zhu et al., eq. 15): (n, K)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([-scores, scores]) / 2.0
        else:
            scores = scores / (len(self.classes_) - 1)
        return softmax(scores, axis=1)


def adaboost_margin_bound(errors, theta: float = 0.0) -> np.ndarray:
    """Freund and Schapire's bound on the share of training points with margin <= theta,
    after 1, 2, ..., M rounds of two-class AdaBoost (eqs. (2.11) and (2.13)):

        share of i with margin_i <= theta  <=  prod_{t <= m} 2 sqrt(err_t^(1 - theta)
                                                                    * (1 - err_t)^(1 + theta))

    With ``theta = 0`` it bounds the training error, prod_t 2 sqrt(err_t (1 - err_t))
    (eq. (2.11)). It holds for the says of eq. (2.8) with ``learning_rate=1`` and K = 2
    (Schapire, Freund, Bartlett & Lee, 1998, Theorem 5).

    Parameters
    ----------
    errors : array-like of shape (M,)
        The weighted errors err_t of the rounds (``estimator_errors_``), each in (0, 1/2).
    theta : float in [0, 1), default=0.0
        The margin threshold.

    Returns
    -------
    ndarray of shape (M,): the bound after each round.

    Raises
    ------
    ValueError
        ``errors`` is not a non-empty 1-D array of numbers in (0, 1/2) (a learner with
        error 0 ends the fit with an arbitrary say, and one with error >= 1/2 is no weak
        learner), or ``theta`` is not in [0, 1).
    """
    errors = check_array("errors", errors, ndim=1)
    if not np.all((errors > 0) & (errors < 0.5)):
        raise ValueError(f"errors must each lie in (0, 1/2), got values from "
                         f"{errors.min():.3g} to {errors.max():.3g}")
    if not (isinstance(theta, numbers.Real) and 0 <= theta < 1):
        raise ValueError(f"theta must be a number in [0, 1), got {theta!r}")
    factors = 2.0 * np.sqrt(errors ** (1.0 - theta) * (1.0 - errors) ** (1.0 + theta))
    return np.cumprod(factors)


# ---------------------------------------------------------------------------------------
# Gradient boosting (chapter 2, section "Gradient boosting")
# ---------------------------------------------------------------------------------------
def _check_targets_raw(y, raw) -> tuple[np.ndarray, np.ndarray]:
    y = check_array("y", y, ndim=1)
    raw = check_array("raw", raw, shape=y.shape)
    return y, raw


def _check_newton_args(learner, X, rows, g, H):
    if not callable(getattr(learner, "predict", None)):
        raise ArgumentTypeError(f"learner must be the stage's fitted regressor (with a "
                                f"predict method), got {type(learner).__name__}")
    X = check_array("X", X, ndim=2)
    n = X.shape[0]
    rows = check_array("rows", rows, ndim=1, integer=True, minimum=0, maximum=n - 1)
    g = check_array("g", g, shape=(n,))
    H = check_array("H", H, shape=(n,))
    return learner, X, rows, g, H


class _GradientBoosting(BaseEstimator):
    """Gradient descent in function space, shared by the regressor and the classifier.

    F_0 is the best constant; stage m fits the base learner h_m to the negative gradient
    r_i = -dL/dF at F_{m-1} (eq. (2.15)), takes a Newton step of length gamma along it, and
    adds a shrunken copy, F_m = F_{m-1} + learning_rate * gamma * h_m (eq. (2.16)). For a tree
    the step is taken leaf by leaf (Friedman's TreeBoost), gamma_j = sum of gradients over
    sum of Hessians in leaf j (eq. (2.18)); any other regressor gets one gamma for the whole
    stage. Subclasses supply the loss: :meth:`_init_raw`, :meth:`gradient_hessian`,
    :meth:`_loss`.
    """


    def __init__(self, estimator=None, n_estimators: int = 100, *, learning_rate: float = 0.1,
                 subsample: float = 1.0, random_state=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.random_state = random_state

    # -- the loss (subclasses) ---------------------------------------------------------
    def _init_raw(self, y: np.ndarray) -> float:
        raise NotImplementedError

    def gradient_hessian(self, y, raw) -> tuple[np.ndarray, np.ndarray]:
        """Negative gradient and second derivative of the loss at ``raw``, each (n,).

        ``y`` holds the targets (0/1 for the classifier), ``raw`` the current ``F(x_i)``;
        both have shape (n,). Eq. (2.15): the stage's learner is fitted to the first.
        """
        raise NotImplementedError

    def _loss(self, y: np.ndarray, raw: np.ndarray) -> float:
        raise NotImplementedError

    # -- boosting ----------------------------------------------------------------------
    def _boost(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fit all stages; ``y`` is numeric (0/1 for the classifier)."""
        n_samples = X.shape[0]
        template = _template(self.estimator, DecisionTreeRegressor(max_depth=3))
        rng = _random_state(self.random_state)
        n_rows = max(1, int(round(self.subsample * n_samples)))

        self.init_ = self._init_raw(y)                            # F_0
        raw = np.full(n_samples, self.init_)
        self.estimators_, self.steps_ = [], []
        self.train_loss_ = np.empty(self.n_estimators)
        for m in range(self.n_estimators):
            residual, hessian = self.gradient_hessian(y, raw)    # eq. (2.15)
            rows = (np.sort(rng.choice(n_samples, n_rows, replace=False))
                    if n_rows < n_samples else np.arange(n_samples))
            learner = clone(template)
            _share_rng(learner, rng)
            learner.fit(X[rows], residual[rows])
            step, update = self.newton_step(learner, X, rows, residual, hessian)
            raw += self.learning_rate * update                    # eq. (2.16)
            self.estimators_.append(learner)
            self.steps_.append(step)
            self.train_loss_[m] = self._loss(y, raw)

    #: True when the loss's Hessian is constant (squared loss): a tree fitted to the
    #: residuals already holds sum(g) / sum(H) in its leaves, so its own values are used.
    _tree_leaves_are_newton_steps = False

    def newton_step(self, learner, X, rows, g, H) -> tuple[np.ndarray | float, np.ndarray]:
        """Step lengths gamma and the stage's output gamma * h_m(X) for every row of X.

        For a tree, one step per leaf (eq. (2.18)): sum(g) / sum(H) over the training points
        ``rows`` in the leaf, returned as an array over the tree's nodes. That is the exact
        minimiser for squared loss (the leaf mean of the residuals, which the tree already
        predicts, so the step is 1) and one Newton step for log-loss. Any other learner
        gets a single step sum(g h) / sum(H h^2). Empty sums give a step of 0.

        ``learner`` is the stage's fitted regressor, ``X`` the ``(n, d)`` inputs, ``rows``
        the indices of the points it was fitted on, ``g`` and ``H`` the gradient and
        Hessian of :meth:`gradient_hessian` at every row of ``X``, each ``(n,)``.
        """
        learner, X, rows, g, H = _check_newton_args(learner, X, rows, g, H)
        if not (hasattr(learner, "apply") and hasattr(learner, "tree_")):
            h = learner.predict(X)
            den = float(np.sum(H[rows] * h[rows] ** 2))
            step = float(np.sum(g[rows] * h[rows]) / den) if abs(den) > 1e-150 else 0.0
            return step, step * h
        if self._tree_leaves_are_newton_steps:
            return 1.0, learner.predict(X)
        leaf = learner.apply(X).astype(np.intp, copy=False)      # (n,) node ids
        size = learner.tree_.node_count
        num = np.bincount(leaf[rows], weights=g[rows], minlength=size)
        den = np.bincount(leaf[rows], weights=H[rows], minlength=size)
        step = np.divide(num, den, out=np.zeros(size), where=np.abs(den) > 1e-150)
        return step, step[leaf]

    @staticmethod
    def _stage_output(learner, step, X: np.ndarray) -> np.ndarray:
        """gamma * h_m(X): the leaf steps looked up by leaf, or one step times h_m(X)."""
        if isinstance(step, np.ndarray):
            return step[learner.apply(X)]
        return step * learner.predict(X)

    def _staged_raw(self, X: np.ndarray) -> Iterator[np.ndarray]:
        raw = np.full(X.shape[0], self.init_)
        for learner, step in zip(self.estimators_, self.steps_):
            raw = raw + self.learning_rate * self._stage_output(learner, step, X)
            yield raw


class GradientBoostingRegressor(RegressorMixin, _GradientBoosting):
    """Gradient boosting for the squared loss L = (y - F)^2 / 2.

    The negative gradient is the residual y - F, so each stage fits a learner to what the
    ensemble still gets wrong; F_0 is the mean of y. With the default base learner (a
    depth-3 ``DecisionTreeRegressor``), ``subsample=1.0`` and the same ``random_state`` it
    grows the same trees as scikit-learn's ``GradientBoostingRegressor()``.

    Parameters
    ----------
    estimator : regressor or None, default=None
        Base learner fitted to the residuals each stage.
    n_estimators : int >= 1, default=100
        Number of stages M.
    learning_rate : float > 0, default=0.1
        Shrinkage nu of eq. (2.16).
    subsample : float in (0, 1], default=1.0
        Fraction of rows, drawn without replacement, each stage is fitted on (stochastic
        gradient boosting, Friedman 2002).
    random_state : int, RandomState or None, default=None
        Seeds the row samples and every learner's own ``random_state``.

    Attributes
    ----------
    init_ : float, F_0
    estimators_ : list of M fitted learners
    steps_ : list of M step lengths (an array over tree nodes for a tree, else a float)
    train_loss_ : ndarray of shape (M,), mean training loss after each stage
    n_features_in_ : int
    """

    def fit(self, X, y) -> "GradientBoostingRegressor":
        """Fit ``n_estimators`` stages to ``(X, y)``, y real-valued."""
        _check_ensemble_params(self, learning_rate=_check_learning_rate,
                               subsample=_check_fraction)
        X, y = validate_data(self, X, y, y_numeric=True)
        self._boost(X, np.asarray(y, dtype=float))
        return self

    _tree_leaves_are_newton_steps = True

    def _init_raw(self, y):
        return float(np.mean(y))

    def gradient_hessian(self, y, raw) -> tuple[np.ndarray, np.ndarray]:
        """The residual ``y - raw`` and the constant Hessian 1, each (n,) (squared loss)."""
        y, raw = _check_targets_raw(y, raw)
        return y - raw, np.ones_like(raw)

    def _loss(self, y, raw):
        return float(np.mean((y - raw) ** 2) / 2)

    def staged_predict(self, X) -> Iterator[np.ndarray]:
        """Predictions after 1, 2, ..., M stages, each of shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        yield from self._staged_raw(X)

    def predict(self, X) -> np.ndarray:
        """F_M(X), shape (n_samples,)."""
        out = None
        for out in self.staged_predict(X):
            pass
        return out


class GradientBoostingClassifier(ClassifierMixin, _GradientBoosting):
    """Gradient boosting for two classes with the log-loss (binomial deviance).

    F is the log-odds of ``classes_[1]``, p = sigmoid(F), and the loss of a point with
    y in {0, 1} is L = -y log p - (1 - y) log(1 - p). Its negative gradient is y - p
    (eq. (2.17)) and its second derivative p(1 - p), so a leaf's Newton step is
    sum(y - p) / sum(p(1 - p)) (eq. (2.18)). F_0 is the log-odds of the class-1 share.

    Only two classes: for more, scikit-learn's version fits one tree per class and stage
    with the multinomial loss; here ``fit`` raises ``ValueError``.

    Parameters and attributes as for :class:`GradientBoostingRegressor` (the base learner
    is a *regressor*, fitted to y - p), plus ``classes_`` of shape (2,).

    Against scikit-learn's ``GradientBoostingClassifier()`` with the same ``random_state``
    the trees agree up to rounding in the leaf steps (about 1e-14), which can tip a split
    that is a near-tie the other way later on; predictions and accuracy agree closely.
    """

    def fit(self, X, y) -> "GradientBoostingClassifier":
        """Fit ``n_estimators`` stages to ``(X, y)``, y with exactly two classes."""
        _check_ensemble_params(self, learning_rate=_check_learning_rate,
                               subsample=_check_fraction)
        X, y = validate_data(self, X, y)
        self.classes_, y_encoded = _encode_labels(self, y)
        if len(self.classes_) != 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{type_of_target(y)} ({len(self.classes_)} classes); use "
                "sklearn.ensemble.GradientBoostingClassifier for more than two classes")
        self._boost(X, y_encoded.astype(float))
        return self

    def _init_raw(self, y):
        p = float(np.mean(y))
        return float(np.log(p / (1.0 - p)))

    def gradient_hessian(self, y, raw) -> tuple[np.ndarray, np.ndarray]:
        """``y - p`` and ``p (1 - p)`` with ``p = sigmoid(raw)``, each (n,): eq. (2.17)."""
        y, raw = _check_targets_raw(y, raw)
        p = expit(raw)
        return y - p, p * (1.0 - p)                              # eq. (2.17) and its slope

    def _loss(self, y, raw):
        # log(1 + e^F) - y F, written to stay finite for large |F|
        return float(np.mean(np.logaddexp(0.0, raw) - y * raw))

    def staged_decision_function(self, X) -> Iterator[np.ndarray]:
        """Log-odds F_m(X) of ``classes_[1]`` after 1, 2, ..., M stages, each (n,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        yield from self._staged_raw(X)

    def decision_function(self, X) -> np.ndarray:
        """Log-odds F_M(X) of ``classes_[1]``, shape (n_samples,)."""
        out = None
        for out in self.staged_decision_function(X):
            pass
        return out

    def staged_predict(self, X) -> Iterator[np.ndarray]:
        for raw in self.staged_decision_function(X):
            yield self.classes_[(raw > 0).astype(int)]

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where F_M(X) > 0, else ``classes_[0]``; shape (n_samples,)."""
        raw = self.decision_function(X)
        return self.classes_[(raw > 0).astype(int)]

    def predict_proba(self, X) -> np.ndarray:
        """[1 - p, p] with p = sigmoid(F_M(X)); shape (n_samples, 2)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


# ---------------------------------------------------------------------------------------
# Stacking (chapter 2, section "Stacking")
# ---------------------------------------------------------------------------------------
def _final_estimator_has(method: str) -> Callable[[Any], bool]:
    def check(self) -> bool:
        final = getattr(self, "final_estimator_", self.final_estimator)
        return hasattr(LogisticRegression() if final is None else final, method)
    return check


class StackingClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Stacked generalization: a meta-learner trained on out-of-fold predictions.

    The training set is cut into ``cv`` folds. For each fold, every base learner is fitted
    on the other folds and predicts the held-out one, so every training point gets
    predictions from learners that never saw it (eq. (2.19)). These out-of-fold predictions
    are the features of the final estimator. Then every base learner is refitted on the
    whole training set for use at prediction time.

    ``cv="in-sample"`` skips the folds and trains the final estimator on the base learners'
    predictions for their own training points. That leaks: a learner that memorises its
    training set looks perfect there, and the final estimator learns to trust it. It is
    here so the chapter can measure the damage; do not use it otherwise.

    Parameters
    ----------
    estimators : list of (str, classifier) or None, default=None
        The base learners with unique names; ``None`` means a depth-3 tree, a logistic
        regression and Gaussian naive Bayes.
    final_estimator : classifier or None, default=None
        The meta-learner; ``None`` means ``LogisticRegression()``.
    cv : int >= 2, cross-validation splitter, iterable of splits, None or "in-sample"
        How out-of-fold predictions are made; an int k means ``StratifiedKFold(k)``
        (``None`` means 5).
    stack_method : {"auto", "predict_proba", "decision_function", "predict"}
        What each base learner contributes: class probabilities (for two classes, that of
        class 1 only), decision scores, or one-hot predicted labels. "auto" takes the
        first of those the learner has.
    passthrough : bool, default=False
        Give the final estimator the original features too.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
    estimators_ : list of the base learners, refitted on the whole training set
    named_estimators_ : dict name -> fitted base learner
    stack_method_ : list of str, the method used for each base learner
    final_estimator_ : the fitted meta-learner
    n_features_in_ : int

    Notes
    -----
    Base learners keep their own ``random_state``, as in scikit-learn's
    ``StackingClassifier``: seed them to make the stack reproducible (the default tree is
    seeded). With the same learners and ``cv`` the two build the same stack. As there,
    ``get_params(deep=True)`` lists every base learner's parameters as ``name__param``,
    so ``set_params`` (and :func:`bias_variance_decomposition`, which seeds every nested
    ``random_state``) can reach them.
    """


    def __init__(self, estimators=None, final_estimator=None, *, cv=5,
                 stack_method: str = "auto", passthrough: bool = False):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.stack_method = stack_method
        self.passthrough = passthrough

    def get_params(self, deep: bool = True) -> dict:
        """Parameters of the stack; with ``deep=True`` also each base learner (under its
        name) and its parameters (as ``name__param``), like scikit-learn's stacking."""
        params = super().get_params(deep=deep)
        if deep and isinstance(self.estimators, list):
            for item in self.estimators:
                if (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                        and hasattr(item[1], "get_params")):
                    name, learner = item
                    params[name] = learner
                    for key, value in learner.get_params(deep=True).items():
                        params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params) -> "StackingClassifier":
        """Set parameters; a base learner's name replaces that learner, ``name__param``
        sets one of its parameters."""
        if "estimators" in params:
            self.estimators = params.pop("estimators")
        if isinstance(self.estimators, list):
            names = [item[0] for item in self.estimators if isinstance(item, tuple)]
            for key in [k for k in params if "__" not in k and k in names]:
                learner = params.pop(key)
                self.estimators = [(name, learner if name == key else old)
                                   for name, old in self.estimators]
        return super().set_params(**params)

    def _check_params(self) -> None:
        """The checks scikit-learn's own stacking makes of its parameters, at fit time."""
        if self.estimators is not None and not isinstance(self.estimators, list):
            raise ArgumentTypeError(f"estimators must be None or a list of (name, estimator) "
                                    f"pairs, got {type(self.estimators).__name__}")
        _check_learner("final_estimator", self.final_estimator)
        cv = self.cv
        if isinstance(cv, str):
            check_choice("cv", cv, ("in-sample",))
        elif isinstance(cv, (bool, np.bool_)):
            raise ArgumentTypeError(f"cv must be None, a number of folds >= 2, a splitter, "
                                    f"an iterable of splits or 'in-sample', got {cv!r}")
        elif isinstance(cv, numbers.Integral):
            check_int("cv", cv, minimum=2)
        elif cv is not None and not (hasattr(cv, "split") and hasattr(cv, "get_n_splits")) \
                and not hasattr(cv, "__iter__"):
            raise ArgumentTypeError(f"cv must be None, a number of folds >= 2, a splitter, "
                                    f"an iterable of splits or 'in-sample', got "
                                    f"{type(cv).__name__}")
        check_choice("stack_method", self.stack_method,
                     ("auto", "predict_proba", "decision_function", "predict"))
        check_bool("passthrough", self.passthrough)

    def _named_base_learners(self) -> list[tuple[str, BaseEstimator]]:
        if self.estimators is None:
            return [("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
                    ("logreg", LogisticRegression()),
                    ("naive_bayes", GaussianNB())]
        if not self.estimators:
            raise ValueError("estimators must be a non-empty list of (name, classifier) "
                             "pairs, got an empty list")
        names = []
        for item in self.estimators:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError(f"estimators must be (name, classifier) pairs with a str "
                                 f"name, got {item!r}")
            name, learner = item
            if not (hasattr(learner, "fit") and hasattr(learner, "predict")):
                raise ValueError(f"base estimator {name!r} must have fit and predict "
                                 f"methods; {type(learner).__name__} does not")
            names.append(name)
        if len(set(names)) != len(names):
            raise ValueError(f"estimator names must be unique, got {names}")
        return list(self.estimators)

    def _method_for(self, learner) -> str:
        if self.stack_method != "auto":
            if not hasattr(learner, self.stack_method):
                raise ValueError(f"{type(learner).__name__} has no {self.stack_method}; "
                                 "choose another stack_method or 'auto'")
            return self.stack_method
        for method in ("predict_proba", "decision_function", "predict"):
            if hasattr(learner, method):
                return method
        raise ValueError(f"{type(learner).__name__} has no prediction method")

    def _features_of(self, learner, method: str, X: np.ndarray) -> np.ndarray:
        """One learner's meta-features for X: (n, 1) for two classes, else (n, K)."""
        K = len(self.classes_)
        if method == "predict_proba":
            out = _columns_for_classes(learner.predict_proba(X), learner.classes_, K)
        elif method == "decision_function":
            if len(learner.classes_) != K:
                raise ValueError(
                    "a base learner saw fewer classes in a training fold than there are in "
                    "y, so its decision_function columns cannot be aligned; use fewer folds "
                    "or stack_method='predict_proba'")
            out = np.asarray(learner.decision_function(X), dtype=float)
            return out.reshape(-1, 1) if out.ndim == 1 else out
        else:
            out = np.zeros((X.shape[0], K))
            out[np.arange(X.shape[0]), learner.predict(X).astype(int)] = 1.0
        return out[:, 1:] if K == 2 else out                     # one column is enough

    def fit(self, X, y) -> "StackingClassifier":
        """Fit the base learners out of fold, the final estimator, then refit the bases."""
        self._check_params()
        X, y = validate_data(self, X, y)
        self.classes_, y_encoded = _encode_labels(self, y)
        named = self._named_base_learners()
        templates = [clone(learner) for _, learner in named]
        self.stack_method_ = [self._method_for(t) for t in templates]

        # [mark: refit]
        # every base learner refitted on the whole training set (used at predict time)
        self.estimators_ = [clone(t).fit(X, y_encoded) for t in templates]
        self.named_estimators_ = {name: est for (name, _), est in zip(named, self.estimators_)}

        if isinstance(self.cv, str) and self.cv == "in-sample":  # the leaky shortcut
            Z = self._meta_features(self.estimators_, X)
        else:                                                    # eq. (2.19): out of fold
            splitter = check_cv(self.cv, y_encoded, classifier=True)
            blocks: list[np.ndarray | None] = [None] * len(templates)
            for train, held_out in splitter.split(X, y_encoded):
                for j, (template, method) in enumerate(zip(templates, self.stack_method_)):
                    learner = clone(template).fit(X[train], y_encoded[train])
                    f = self._features_of(learner, method, X[held_out])
                    if blocks[j] is None:
                        blocks[j] = np.full((X.shape[0], f.shape[1]), np.nan)
                    blocks[j][held_out] = f
            Z = np.hstack(blocks)
            if np.isnan(Z).any():
                raise ValueError("cv must put every training point in exactly one "
                                 "held-out fold (a partition), so each gets a prediction")
        # [mark: final]
        if self.passthrough:
            Z = np.hstack([Z, X])
        final = _template(self.final_estimator, LogisticRegression())
        self.final_estimator_ = final.fit(Z, y_encoded)
        return self

    def _meta_features(self, learners, X: np.ndarray) -> np.ndarray:
        return np.hstack([self._features_of(learner, method, X)
                          for learner, method in zip(learners, self.stack_method_)])

    def transform(self, X) -> np.ndarray:
        """The final estimator's input for X (refitted base learners' outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        Z = self._meta_features(self.estimators_, X)
        return np.hstack([Z, X]) if self.passthrough else Z

    def predict(self, X) -> np.ndarray:
        """The final estimator's class for each row, shape (n_samples,)."""
        Z = self.transform(X)
        return self.classes_[self.final_estimator_.predict(Z).astype(int)]

    @available_if(_final_estimator_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """The final estimator's class probabilities, shape (n_samples, K)."""
        Z = self.transform(X)
        return _columns_for_classes(self.final_estimator_.predict_proba(Z),
                                    self.final_estimator_.classes_, len(self.classes_))

    @available_if(_final_estimator_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """The final estimator's decision scores, (n,) for two classes, else (n, K)."""
        Z = self.transform(X)
        return self.final_estimator_.decision_function(Z)


# ---------------------------------------------------------------------------------------
# Bias and variance (chapter 2, section "Bias and variance, measured")
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BiasVariance:
    """Result of :func:`bias_variance_decomposition`; every number is averaged over the
    test points. ``error == bias_squared + variance`` up to rounding (eq. (2.20)), with the
    bias corrected for the finite number of training sets (eq. (2.21)).

    The ``*_se`` fields are Monte Carlo standard errors: jackknife estimates (leave one
    training set out) of how much each number would move if the experiment were rerun
    with other training sets. The test points are fixed, so they add no noise.
    """

    error: float               #: mean over training sets of (f_hat(x) - f(x))^2
    bias_squared: float        #: (mean_r f_hat_r(x) - f(x))^2 - s^2(x) / R, eq. (2.21)
    variance: float            #: s^2(x), the variance over training sets with divisor R - 1
    bias_squared_plugin: float  #: (mean_r f_hat_r(x) - f(x))^2, biased up by about s^2 / R
    error_se: float            #: Monte Carlo standard error of ``error``
    bias_squared_se: float     #: Monte Carlo standard error of ``bias_squared``
    variance_se: float         #: Monte Carlo standard error of ``variance``
    predictions: np.ndarray    #: (n_rounds, n_test), f_hat(x) of every fitted model
    target: np.ndarray         #: (n_test,), f(x)

    @property
    def mean_prediction(self) -> np.ndarray:
        """(n_test,), the average model's prediction."""
        return self.predictions.mean(axis=0)

    @property
    def error_per_round(self) -> np.ndarray:
        """(n_rounds,), the error of each training set's model, averaged over the test
        points. Two results computed with the same ``random_state`` saw the same training
        sets, so the difference of their ``error_per_round`` is a paired comparison."""
        return np.mean((self.predictions - self.target) ** 2, axis=1)


def _bias_and_variance(predictions: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Debiased squared bias (eq. (2.21)) and unbiased variance, averaged over test points.

    ``predictions`` has shape (R, n_test), R >= 2; ``target`` shape (n_test,).
    """
    R = predictions.shape[0]
    mean = predictions.mean(axis=0)
    s2 = predictions.var(axis=0, ddof=1)                      # unbiased: E[s^2] = sigma^2
    bias_squared = (mean - target) ** 2 - s2 / R              # E[(mean - f)^2] = b^2 + s^2/R
    return float(np.mean(bias_squared)), float(np.mean(s2))


def bias_variance_decomposition(
        estimator: BaseEstimator,
        draw_training_set: Callable[[np.random.RandomState], tuple[np.ndarray, np.ndarray]],
        X_test: np.ndarray,
        target: np.ndarray,
        *,
        output: str = "auto",
        n_rounds: int = 20,
        random_state: int | np.random.RandomState | None = None,
        progress: bool = True,
) -> BiasVariance:
    """Estimate squared bias and variance of ``estimator`` over many training sets (eq. (2.20)).

    Round r draws a fresh training set ``draw_training_set(rng_r)``, fits a clone of the
    estimator (its ``random_state`` parameters, nested ones included, seeded from a second
    generator) and records its prediction f_hat_r at ``X_test``. The two generators of
    round r are seeded from ``random_state`` before anything is fitted, so every estimator
    run with the same ``random_state`` sees the same R training sets, whatever it does
    with random numbers itself. With f the ``target``, m the mean of the R predictions and
    s^2 their variance with divisor R - 1, point by point

        mean_r (f_hat_r - f)^2 = [(m - f)^2 - s^2 / R] + s^2,            error = bias^2 + var

    The plug-in bias (m - f)^2 would overstate the squared bias by sigma^2 / R on average,
    because the mean of R predictions still varies; subtracting s^2 / R removes that
    (eq. (2.21)), so both terms are unbiased and can be slightly negative at a point
    where the true bias is zero. Everything is then averaged over the test points. The
    noise term of the usual decomposition is left out: it does not depend on the estimator.

    Parameters
    ----------
    estimator : regressor or binary classifier with labels {0, 1}
    draw_training_set : callable
        ``draw_training_set(rng) -> (X, y)``, a new training set from the same
        distribution each call, ``rng`` a ``numpy.random.RandomState``.
    X_test : array of shape (n_test, n_features)
    target : array of shape (n_test,)
        f(x): E[y | x] for a regressor; for a classifier P(y = 1 | x) with
        ``output="proba"``, or the Bayes-optimal label 1[P(y = 1 | x) > 1/2] with
        ``output="label"`` (then ``error`` is how often the model disagrees with the best
        possible classifier, averaged over training sets).
    output : {"auto", "proba", "label"}, default="auto"
        What a classifier's prediction is: ``predict_proba(X)[:, 1]`` ("proba", which
        "auto" means for a classifier) or ``predict(X)`` in {0, 1} ("label"). A regressor's
        is always ``predict(X)`` and takes only "auto".
    n_rounds : int >= 2, default=20
        Number of training sets R. The standard errors need R >= 3 (NaN otherwise).
    random_state : int, RandomState or None
        Seeds the training sets and the fits.
    progress : bool, default=True
        Show a tqdm progress bar.

    Returns
    -------
    BiasVariance
        The three terms, their Monte Carlo standard errors (jackknife over training
        sets), the plug-in bias for comparison, and the (R, n_test) predictions.

    Raises
    ------
    ValueError
        ``n_rounds`` < 2, ``target`` not of length ``n_test``, an unknown ``output`` (or
        "proba"/"label" for a regressor), or a classifier whose classes are not {0, 1}.
    """
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise ArgumentTypeError(f"estimator must have fit and predict, got "
                                f"{type(estimator).__name__}")
    check_callable("draw_training_set", draw_training_set,
                   what="a callable RandomState -> (X, y)")
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, numbers.Integral) or n_rounds < 2:
        raise ValueError(f"n_rounds must be an integer >= 2 (a variance needs two fits), "
                         f"got {n_rounds!r}")
    progress = check_bool("progress", progress)
    classifier = is_classifier(estimator)
    allowed = ("auto", "proba", "label") if classifier else ("auto",)
    if output not in allowed:
        raise ValueError(f"output must be one of {allowed} for a "
                         f"{'classifier' if classifier else 'regressor'}, got {output!r}")
    X_test = check_array("X_test", X_test, ndim=2)
    target = check_array("target", target)
    if X_test.ndim != 2 or target.shape != (X_test.shape[0],):
        raise ValueError(f"X_test must be 2-D and target 1-D of the same length, got shapes "
                         f"{X_test.shape} and {target.shape}")
    rng = _random_state(random_state)
    top = np.iinfo(np.int32).max
    data_seeds, fit_seeds = rng.randint(top, size=n_rounds), rng.randint(top, size=n_rounds)
    predictions = np.empty((n_rounds, X_test.shape[0]))
    name = type(estimator).__name__
    for r in tqdm(range(n_rounds), desc=f"bias-variance {name}", disable=not progress,
                  leave=False):
        X, y = draw_training_set(np.random.RandomState(data_seeds[r]))
        model = clone(estimator)
        _seed_params(model, np.random.RandomState(fit_seeds[r]))
        model.fit(X, y)
        if not classifier:
            predictions[r] = model.predict(X_test)
            continue
        if list(model.classes_) != [0, 1]:
            raise ValueError(f"a classifier's labels must be 0 and 1 (its prediction is "
                             f"about class 1), got classes {list(model.classes_)}")
        if output == "label":
            predictions[r] = model.predict(X_test)
        else:
            predictions[r] = model.predict_proba(X_test)[:, 1]
    bias_squared, variance = _bias_and_variance(predictions, target)
    errors = np.mean((predictions - target) ** 2, axis=1)        # (R,), one per training set
    if n_rounds >= 3:   # jackknife: recompute without each training set in turn
        left_out = np.array([_bias_and_variance(np.delete(predictions, r, axis=0), target)
                             for r in range(n_rounds)])          # (R, 2)
        spread = np.sqrt((n_rounds - 1) * left_out.var(axis=0))  # (2,)
        bias_se, variance_se = float(spread[0]), float(spread[1])
        error_se = float(errors.std(ddof=1) / np.sqrt(n_rounds))
    else:
        bias_se = variance_se = error_se = float("nan")
    return BiasVariance(
        error=float(errors.mean()),
        bias_squared=bias_squared,
        variance=variance,
        bias_squared_plugin=float(np.mean((predictions.mean(axis=0) - target) ** 2)),
        error_se=error_se,
        bias_squared_se=bias_se,
        variance_se=variance_se,
        predictions=predictions,
        target=target,
    )


@dataclass(frozen=True)
class BiasVarianceDifference:
    """Result of :func:`bias_variance_difference`: ``first`` minus ``second`` for each term
    of eq. (2.20), with paired Monte Carlo standard errors."""

    error: float
    bias_squared: float
    variance: float
    error_se: float
    bias_squared_se: float
    variance_se: float


def bias_variance_difference(first: BiasVariance, second: BiasVariance
                             ) -> BiasVarianceDifference:
    """Differences ``first - second`` of error, squared bias and variance, with standard
    errors that use the pairing of training sets.

    Both results must come from :func:`bias_variance_decomposition` with the same
    ``draw_training_set``, ``X_test``, ``target``, ``n_rounds`` and integer
    ``random_state``: then round r of both saw the same training set, and much of the
    noise (an unlucky training set hurts both) cancels in the difference. The standard
    errors are jackknife estimates that leave the same training set out of both.

    Raises
    ------
    TypeError
        An argument is not a :class:`BiasVariance`.
    ValueError
        The two results differ in shape or target (they cannot be paired), or they have
        fewer than three rounds (no standard error).
    """
    for label, result in (("first", first), ("second", second)):
        if not isinstance(result, BiasVariance):
            raise TypeError(f"{label} must be a BiasVariance from "
                            f"bias_variance_decomposition, got {type(result).__name__}")
    if (first.predictions.shape != second.predictions.shape
            or not np.array_equal(first.target, second.target)):
        raise ValueError(f"first and second must have the same target and predictions of "
                         f"the same shape to be paired, got shapes "
                         f"{first.predictions.shape} and {second.predictions.shape}")
    R = first.predictions.shape[0]
    if R < 3:
        raise ValueError(f"a paired standard error needs at least 3 rounds, got {R}")

    def terms(rows: np.ndarray) -> np.ndarray:               # (3,): error, bias^2, variance
        a = _bias_and_variance(first.predictions[rows], first.target)
        b = _bias_and_variance(second.predictions[rows], second.target)
        return np.array([a[0] + a[1] - b[0] - b[1], a[0] - b[0], a[1] - b[1]])

    everything = np.arange(R)
    estimate = terms(everything)
    left_out = np.array([terms(np.delete(everything, r)) for r in range(R)])    # (R, 3)
    se = np.sqrt((R - 1) * left_out.var(axis=0))
    return BiasVarianceDifference(*(float(v) for v in estimate), *(float(v) for v in se))

# ---------------------------------------------------------------------------------------
# A data set whose class probability is known (for measuring bias and variance)
# ---------------------------------------------------------------------------------------
def sine_boundary_proba(X: np.ndarray, sharpness: float = 3.0) -> np.ndarray:
    """P(y = 1 | x) = sigmoid(sharpness * (x_2 - sin(x_1))), shape (n,).

    The Bayes decision boundary is the curve x_2 = sin(x_1); ``sharpness`` (> 0, per unit
    of x_2) sets how quickly the probability goes from 0 to 1 across it, so smaller means
    noisier labels.
    """
    X = check_array("X", X, ndim=2)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    sharpness = check_positive("sharpness", sharpness)
    return expit(sharpness * (X[:, 1] - np.sin(X[:, 0])))


def make_sine_boundary(n_samples: int = 200, *, sharpness: float = 3.0,
                       random_state: int | np.random.RandomState | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` points uniformly on [-3, 3] x [-2, 2] with labels
    y ~ Bernoulli(:func:`sine_boundary_proba`); returns X (n, 2) and y (n,) in {0, 1}."""
    n_samples = check_count("n_samples", n_samples)
    rng = _random_state(random_state)
    X = np.column_stack([rng.uniform(-3, 3, n_samples), rng.uniform(-2, 2, n_samples)])
    y = (rng.uniform(size=n_samples) < sine_boundary_proba(X, sharpness)).astype(int)
    return X, y
