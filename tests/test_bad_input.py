"""Bad input thrown at the whole public API (issue 24), generated, not hand-listed.

For every module in :data:`IN_SCOPE` the test walks ``__all__``; for each callable (a
function, a class, and every public method of a class that takes arguments) it builds one
valid call, checks that the call works, then changes one argument at a time to a bad value
of the kinds the issue lists (None, zero, negative, NaN, inf, bool for int, strings, empty
and mis-shaped arrays, out-of-range indices) and asserts that the call

* raises ``ValueError`` or ``TypeError`` (scikit-learn's ``InvalidParameterError`` is both),
* with a message that names the argument, and
* does so within :data:`TIME_LIMIT_S` seconds.

Which bad kinds apply to an argument follows from its valid value (an int gets bool, float,
string, NaN...; an array gets empty, mis-shaped, NaN entries...) and from its *domain*,
looked up by parameter name in :data:`DOMAINS` (``n_states`` is a count >= 1, so 0 is bad;
``gamma`` is a discount, so 2 is bad) or given by the example. The valid calls come from
:data:`EXAMPLES`, keyed by qualified name; a new public name without an example fails
:func:`test_every_public_callable_has_an_example` until one (or an exemption with its reason
in :data:`EXEMPT`) is added, so new names are covered automatically.

Two passes per callable: a sweep over every (argument, bad kind) with one canonical bad
value each, and a Hypothesis pass that draws other bad values of the same kinds (negative
numbers of any size, arbitrary strings, indices far out of range) with a fixed seed
(``derandomize=True``), so CI sees the same cases every run.

Run ``python tests/test_bad_input.py`` for a table of outcomes per module (CLEAR, UNCLEAR,
OBSCURE, SILENT, SLOW) instead of pass/fail.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import re
import signal
import sys
import tempfile
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: The modules whose ``__all__`` is walked: every module of mlbook. A name re-exported by a
#: package is covered once, under the first module listed that exports it, so the packages
#: whose examples are keyed by their submodules (``mlbook.llm``) come after them.
IN_SCOPE = [
    "mlbook.checks",
    "mlbook.estimation", "mlbook.ensemble", "mlbook.approximation",
    "mlbook.rl", "mlbook.rl.mdp", "mlbook.rl.gridworld", "mlbook.rl.episodes",
    "mlbook.rl.planning", "mlbook.rl.examples", "mlbook.rl.monte_carlo", "mlbook.rl.blackjack",
    "mlbook.widgets", "mlbook.plotting", "mlbook.progress", "mlbook.notebook", "mlbook.cache",
    "mlbook.memory",
    "mlbook.attention", "mlbook.attention.heads", "mlbook.attention.flash",
    "mlbook.attention.io",
    "mlbook.vlm", "mlbook.vlm.moonvit", "mlbook.vlm.projector", "mlbook.vlm.moe",
    "mlbook.vlm.model",
    "mlbook.llm.data", "mlbook.llm.llama", "mlbook.llm.scaling", "mlbook.llm.train",
    "mlbook.llm.tasks", "mlbook.llm.self_instruct", "mlbook.llm.lora", "mlbook.llm.instruct",
    "mlbook.llm.dpo", "mlbook.llm.dpo_bandit", "mlbook.runtime",
    "mlbook.llm",       # re-exports the names above: listed last, so nothing is new here
]

#: A refusal must come back within this many seconds.
TIME_LIMIT_S = 1.0
#: A call still running after this many seconds is stopped and counted as too slow.
HARD_STOP_S = 5.0

NAN, INF = float("nan"), float("inf")


# ---- the bad kinds --------------------------------------------------------------------
# Each kind: a canonical bad value and a Hypothesis strategy for more of them, both made
# from the valid value (so a mis-shaped array is mis-shaped relative to the valid one).

def _is_tensor(valid: Any) -> bool:
    return isinstance(valid, torch.Tensor)


def _floaty(valid: Any) -> bool:
    return isinstance(valid, float) or (isinstance(valid, np.ndarray)
                                        and valid.dtype.kind == "f") or (
        _is_tensor(valid) and valid.is_floating_point())


def _array(valid: Any) -> np.ndarray:
    return np.array(valid)


def _with_entry(valid: Any, entry: Any) -> Any:
    """A copy of ``valid`` (array or tensor) with its middle entry set to ``entry``."""
    if _is_tensor(valid):
        t = valid.detach().clone()
        if isinstance(entry, float) and not t.is_floating_point():
            t = t.float()
        flat = t.reshape(-1)
        flat[flat.numel() // 2] = entry
        return t
    arr = _array(valid).astype(float if isinstance(entry, float) else _array(valid).dtype)
    flat = arr.reshape(-1)
    flat[len(flat) // 2] = entry
    return arr


def _empty(valid: Any) -> Any:
    if isinstance(valid, (list, tuple)) and any(_is_tensor(x) for x in valid):
        return []
    if _is_tensor(valid):
        return valid.new_zeros((0,) * max(valid.dim(), 1))
    return np.zeros((0,) * max(_array(valid).ndim, 1))


def _extra_axis(valid: Any, front: bool = False) -> Any:
    if _is_tensor(valid):
        return valid[None, None] if front else valid[..., None]
    return _array(valid)[None, None] if front else _array(valid)[..., None]


def _other_dtypes(valid: torch.Tensor) -> list[torch.Tensor]:
    """The tensor as the other kinds of dtype: float -> integer and bool; integer -> float."""
    if valid.is_floating_point():
        return [valid.long(), valid.bool()]
    if valid.dtype == torch.bool:
        return [valid.long(), valid.float()]
    return [valid.float(), valid.bool()]


def _mismatched(valid: torch.Tensor) -> list[torch.Tensor]:
    """The tensor with its last axis one shorter and one longer than its siblings expect."""
    longer = torch.cat([valid, valid[..., :1]], dim=-1)
    return ([valid[..., :-1]] if valid.shape[-1] > 1 else []) + [longer]


#: Option names some call takes: a drawn "bad choice" is never one of them.
VALID_CHOICES = ("first", "every", "random", "auto", "mean", "all", "kv_outer", "q_outer",
                 "single", "row", "column", "softmax", "sigmoid", "none", "aux_loss", "bias",
                 "mixed", "fp32", "varlen", "mask", "sum")

KINDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], st.SearchStrategy]]] = {
    "none": (lambda v: None, lambda v: st.none()),
    "string": (lambda v: "abc", lambda v: st.text(max_size=6)),
    "bool": (lambda v: True, lambda v: st.booleans()),
    "non_integer": (lambda v: 1.5, lambda v: st.floats(0.01, 1e3).filter(
        lambda x: x != int(x))),
    "nan": (lambda v: NAN, lambda v: st.just(NAN)),
    "inf": (lambda v: INF, lambda v: st.sampled_from([INF, -INF])),
    "zero": (lambda v: 0.0 if _floaty(v) else 0, lambda v: st.sampled_from([0, 0.0])),
    "negative": (lambda v: -1.0 if _floaty(v) else -1,
                 lambda v: (st.floats(-1e9, -1e-9) if _floaty(v)
                            else st.integers(-10**9, -1))),
    "above_one": (lambda v: 1.5, lambda v: st.floats(1.000001, 1e9)),
    "object": (lambda v: object(), lambda v: st.just(object())),
    "bad_choice": (lambda v: "no-such-option", lambda v: st.text(min_size=1, max_size=8).filter(
        lambda s: s not in VALID_CHOICES)),
    # arrays and tensors
    "empty": (_empty, lambda v: st.sampled_from([[], _empty(v)])),
    "extra_axis": (_extra_axis, lambda v: st.just(_extra_axis(v))),       # (..., 1)
    # two axes in front: (1, 1, ...). Wherever an example accepts "extra_axis" (any shape),
    # it accepts these too (bad_cases); where leading axes are a batch, it says so.
    "leading_axes": (lambda v: _extra_axis(v, front=True),
                     lambda v: st.just(_extra_axis(v, front=True))),
    # tensors only: another kind of dtype; the last axis too short or too long for its siblings
    "wrong_dtype": (lambda v: _other_dtypes(v)[0], lambda v: st.sampled_from(_other_dtypes(v))),
    "mismatched": (lambda v: _mismatched(v)[0], lambda v: st.sampled_from(_mismatched(v))),
    "nan_entry": (lambda v: _with_entry(v, NAN), lambda v: st.just(_with_entry(v, NAN))),
    "inf_entry": (lambda v: _with_entry(v, INF),
                  lambda v: st.sampled_from([_with_entry(v, INF), _with_entry(v, -INF)])),
    "negative_entry": (lambda v: _with_entry(v, -1),
                       lambda v: st.integers(-10**6, -1).map(lambda e: _with_entry(v, e))),
}


def _index_kind(n: int):
    return (lambda v: n, lambda v: st.integers(n, n + 10**6))


def _entry_index_kind(n: int):
    return (lambda v: _with_entry(v, n),
            lambda v: st.integers(n, n + 10**6).map(lambda e: _with_entry(v, e)))


# ---- domains: which kinds are bad for an argument --------------------------------------
# Kinds that follow from the valid value's type alone:
def _type_kinds(valid: Any) -> list[str]:
    if isinstance(valid, (bool, np.bool_)):
        return ["none", "string"]
    if isinstance(valid, (int, np.integer)):
        return ["none", "string", "bool", "non_integer", "nan", "inf"]
    if isinstance(valid, (float, np.floating)):
        return ["none", "string", "nan", "inf"]
    if isinstance(valid, str):
        return ["none", "bad_choice", "zero"]
    if _is_tensor(valid):
        kinds = ["none", "string", "empty", "extra_axis", "wrong_dtype", "mismatched"]
        if valid.is_floating_point():
            kinds += ["nan_entry", "inf_entry"]
        return kinds
    if isinstance(valid, (list, tuple)) and any(_is_tensor(x) for x in valid):
        return ["none", "string", "zero", "empty"]          # a list of tensors (images, ...)
    if isinstance(valid, (np.ndarray, list)) and np.asarray(valid).dtype.kind in "iuf":
        kinds = ["none", "string", "empty", "extra_axis"]
        if np.asarray(valid).dtype.kind == "f":
            kinds += ["nan_entry", "inf_entry"]
        return kinds
    if callable(valid):
        return ["none", "string", "zero"]
    return ["none", "string", "zero"]


#: Extra bad kinds by parameter name: a count >= 1 refuses zero, a probability values > 1.
DOMAINS: dict[str, list[str]] = {}
for _name in ("n", "n_states", "n_actions", "n_episodes", "steps", "episode_length",
              "episodes_per_pair", "max_iter", "n_estimators", "n_rounds", "n_samples",
              "paths", "n_steps", "n_eval_sweeps", "budget", "record_every", "batch_size",
              "length", "dpi", "max_frames", "max_bytes"):
    DOMAINS[_name] = ["zero", "negative"]
for _name in ("degree", "heads", "power"):
    DOMAINS[_name] = ["negative"]
for _name in ("noise_var", "prior_var", "var", "a", "b", "tol", "learning_rate",
              "sharpness", "c", "rate", "step", "exponent", "peakedness"):
    DOMAINS[_name] = ["zero", "negative"]
for _name in ("atol", "noise_std", "reward_std"):
    DOMAINS[_name] = ["negative"]
for _name in ("p", "epsilon", "gamma", "subsample", "max_samples", "max_features",
              "step_size"):
    DOMAINS[_name] = ["negative", "above_one"]
for _name in ("level",):
    DOMAINS[_name] = ["zero", "negative", "above_one"]
#: Seeds: None is allowed everywhere and means fresh entropy (mlbook.checks.check_seed; for
#: random_state, scikit-learn's same convention).
SEED_NAMES = ("seed", "rng", "random_state")
for _name in SEED_NAMES:
    DOMAINS[_name] = ["bool", "negative", "non_integer", "string"]
for _name in ("X", "X_test", "x", "samples", "y", "W", "target", "errors", "iterates",
              "scales", "values", "v", "v0", "q", "q_star", "returns", "ratios", "rewards",
              "hit_prob", "policy", "policy0", "behavior", "w0", "w_true", "P", "r", "R",
              "theta", "grid", "k", "target_hit", "behavior_hit", "history", "w1"):
    DOMAINS.setdefault(_name, [])


@dataclass
class Example:
    """One valid call: ``call(**kwargs)`` (``build()`` makes the kwargs fresh each time)."""

    call: Callable[..., Any]
    build: Callable[[], dict[str, Any]]
    #: extra kinds per argument (beyond its type's and DOMAINS'), e.g. out-of-range indices
    extra: dict[str, dict[str, tuple]] = field(default_factory=dict)
    #: kinds this call accepts for an argument, each with the reason
    accepts: dict[str, dict[str, str]] = field(default_factory=dict)
    #: arguments not mutated at all, each with the reason
    skip: dict[str, str] = field(default_factory=dict)
    #: kinds to apply in place of the type's and DOMAINS' (rarely needed)
    kinds: dict[str, list[str]] = field(default_factory=dict)
    #: arguments refused by another library's own checks, whose message may not name the
    #: argument: ValueError/TypeError within the time limit is enough, with the reason
    ecosystem: dict[str, str] = field(default_factory=dict)
    #: the name a message uses for an argument the example puts inside a container (an
    #: image of ``images`` is ``images[1]`` in the message)
    names: dict[str, str] = field(default_factory=dict)


# ---- shared valid objects --------------------------------------------------------------
def _lazy(fn):
    box = []

    def get():
        if not box:
            box.append(fn())
        return box[0]
    return get


def _mods():
    import mlbook.approximation as ap
    import mlbook.ensemble as en
    import mlbook.estimation as es
    import mlbook.rl as rl
    return es, en, ap, rl


@_lazy
def _ens_data():
    from mlbook.ensemble import make_sine_boundary
    X, y = make_sine_boundary(40, random_state=0)
    return X, y


@_lazy
def _mdp():
    from mlbook.rl import random_mdp
    return random_mdp(3, 2, seed=0)


def _world():
    from mlbook.rl import GridWorld
    return GridWorld(3, forbidden=[(1, 1)], target=(2, 2))


@_lazy
def _mc_result():
    from mlbook.rl import mc_exploring_starts
    return mc_exploring_starts(_world(), 4, 5, seed=0, record_every=2, progress=False)


@_lazy
def _q_star():
    from mlbook.rl import action_values, value_iteration
    w = _world().to_mdp()
    return action_values(w, value_iteration(w).values)


@_lazy
def _bj_episodes():
    from mlbook.rl import play_blackjack, stick_on_policy
    return play_blackjack(3, stick_on_policy(), seed=0)


@_lazy
def _bv():
    from sklearn.tree import DecisionTreeRegressor
    from mlbook.ensemble import bias_variance_decomposition
    return bias_variance_decomposition(DecisionTreeRegressor(max_depth=2), _draw_training_set,
                                       np.linspace(0, 1, 5)[:, None], np.zeros(5),
                                       n_rounds=3, random_state=0, progress=False)


def _draw_training_set(rs):
    X = rs.uniform(0, 1, (10, 1))
    return X, np.sin(3 * X[:, 0]) + 0.1 * rs.normal(size=10)


def _LS():
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    return X, np.array([1.0, 3.0, 5.0, 7.0])


def _use_book_style_here():
    from mlbook.plotting import use_book_style
    with matplotlib.rc_context():      # the style stays inside this call
        use_book_style()


def _draw_figure(a):
    fig = plt.figure(figsize=(1, 1))
    plt.close(fig)
    return fig


_TMP = Path(tempfile.mkdtemp(prefix="mlbook-bad-input-"))

FLIPS = np.array([1.0, 0.0, 1.0, 1.0, 0.0])


#: scikit-learn validates an estimator's data (``validate_data``: "Expected 2D array, got
#: 1D array instead", "Input X contains NaN") with its own wording, which check_estimator
#: (tests/test_ensemble.py) holds mlbook's estimators to; the message need not say "X".
SKLEARN_DATA = {"X": "scikit-learn's validate_data wording (sklearn's convention)",
                "y": "scikit-learn's check_X_y / classification-target wording"}


def _fitted(cls_name: str, **kw):
    """A fitted estimator of mlbook.ensemble (a copy: fitted once, outside the timed calls)."""
    import copy
    return copy.deepcopy(_fitted_once(cls_name))


@functools.lru_cache(maxsize=None)
def _fitted_once(cls_name: str):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    import mlbook.ensemble as en
    X, y = _ens_data()
    if cls_name == "StackingClassifier":
        from sklearn.linear_model import LogisticRegression
        est = en.StackingClassifier([("t", DecisionTreeClassifier(max_depth=1, random_state=0)),
                                     ("l", LogisticRegression())], cv=2)
    elif cls_name.startswith("GradientBoosting"):
        est = getattr(en, cls_name)(DecisionTreeRegressor(max_depth=1), 3, random_state=0)
    else:
        est = getattr(en, cls_name)(DecisionTreeClassifier(max_depth=1), 3, random_state=0)
    return est.fit(X, y)


def _examples() -> dict[str, Example]:
    es, en, ap, rl = _mods()
    from mlbook import cache, checks, notebook, plotting, progress, widgets
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    X, y = _ens_data()
    Xls, yls = _LS()
    mdp = _mdp()
    P3, r3 = ap.random_mrp(3, rng=0)
    E = Example
    ex: dict[str, Example] = {}

    # -- mlbook.checks: the validators themselves (name first, value second)
    ex["mlbook.checks.check_int"] = E(checks.check_int, lambda: dict(name="value", value=3,
                                                                     minimum=1, maximum=5),
                                      skip={"name": "the argument's name, text by design",
                                            "minimum": "a bound the caller sets in code",
                                            "maximum": "a bound the caller sets in code"})
    ex["mlbook.checks.check_count"] = E(checks.check_count, lambda: dict(name="value", value=3),
                                        skip={"name": "the argument's name"})
    ex["mlbook.checks.check_index"] = E(checks.check_index, lambda: dict(name="value", value=1, n=3),
                                        extra={"value": {"out_of_range": _index_kind(3)}},
                                        skip={"name": "the argument's name",
                                              "n": "a size the caller computes"})
    ex["mlbook.checks.check_number"] = E(checks.check_number, lambda: dict(
        name="value", value=0.5, minimum=0.0, maximum=1.0),
        skip={"name": "the argument's name", "minimum": "a bound the caller sets",
              "maximum": "a bound the caller sets"})
    ex["mlbook.checks.check_positive"] = E(checks.check_positive, lambda: dict(name="value", value=0.5),
                                           extra={"value": {"zero": KINDS["zero"],
                                                            "negative": KINDS["negative"]}},
                                           skip={"name": "the argument's name"})
    ex["mlbook.checks.check_probability"] = E(checks.check_probability, lambda: dict(
        name="value", value=0.5), extra={"value": {"negative": KINDS["negative"],
                                               "above_one": KINDS["above_one"]}},
        skip={"name": "the argument's name"})
    ex["mlbook.checks.check_bool"] = E(checks.check_bool, lambda: dict(name="value", value=True),
                                       skip={"name": "the argument's name"})
    ex["mlbook.checks.check_choice"] = E(checks.check_choice, lambda: dict(
        name="value", value="first", choices=("first", "every")),
        skip={"name": "the argument's name", "choices": "set by the caller in code"})
    ex["mlbook.checks.check_callable"] = E(checks.check_callable, lambda: dict(
        name="value", value=len), skip={"name": "the argument's name"},
        accepts={"value": {}})
    ex["mlbook.checks.check_instance"] = E(checks.check_instance, lambda: dict(
        name="value", value=1.5, cls=float), skip={"name": "the argument's name",
                                                 "cls": "a class the caller names in code"},
        kinds={"value": ["none", "string"]})
    ex["mlbook.checks.check_list"] = E(checks.check_list, lambda: dict(
        name="value", value=["a", "b"], what="a list of words", min_len=1, max_len=None),
        skip={"name": "the argument's name", "what": "the caller's wording"},
        extra={"min_len": {"negative": KINDS["negative"]},
               "max_len": {"below_min_len": (lambda v: 0, lambda v: st.just(0))}},
        accepts={"max_len": {"none": "None: no upper bound"}})
    ex["mlbook.checks.check_array"] = E(checks.check_array, lambda: dict(
        name="value", value=np.array([1.0, 2.0]), ndim=1), skip={
        "name": "the argument's name", "ndim": "the caller's requirement"})
    ex["mlbook.checks.check_seed"] = E(checks.check_seed, lambda: dict(name="seed", seed=0),
                                       skip={"name": "the argument's name"})
    ex["mlbook.checks.check_tensor"] = E(checks.check_tensor, lambda: dict(
        name="value", value=torch.zeros(2, 3), ndim=2),
        skip={"name": "the argument's name", "ndim": "the caller's requirement"},
        accepts={"value": {"mismatched": "no shape asked for: any length of the last axis"}})
    ex["mlbook.checks.check_token_ids"] = E(checks.check_token_ids, lambda: dict(
        name="value", value=torch.tensor([0, 3, 4]), vocab_size=5),
        skip={"name": "the argument's name"},
        extra={"value": {"negative_entry": KINDS["negative_entry"],
                         "out_of_range": _entry_index_kind(5)},
               "vocab_size": {"zero": KINDS["zero"], "negative": KINDS["negative"]}},
        accepts={"value": {"mismatched": "any number of ids",
                           "extra_axis": "no ndim asked for: ids of any shape"}})
    ex["mlbook.checks.check_integer_seed"] = E(checks.check_integer_seed, lambda: dict(
        name="seed", seed=3, fresh_if_none=True), skip={"name": "the argument's name"},
        kinds={"fresh_if_none": ["none", "string", "zero"]})

    # -- mlbook.estimation
    ex["mlbook.estimation.Beta"] = E(es.Beta, lambda: dict(a=2.0, b=3.0))
    ex["mlbook.estimation.Beta.pdf"] = E(lambda theta: es.Beta(2.0, 3.0).pdf(theta),
                                         lambda: dict(theta=np.array([0.2, 0.5])),
                                         accepts={"theta": {"extra_axis": "any shape: the "
                                                            "density has theta's shape"}},
                                         extra={"theta": {"negative_entry":
                                                          KINDS["negative_entry"]}})
    ex["mlbook.estimation.Beta.interval"] = E(lambda level: es.Beta(2.0, 3.0).interval(level),
                                              lambda: dict(level=0.9))
    ex["mlbook.estimation.Normal"] = E(es.Normal, lambda: dict(mean=0.0, var=1.0))
    ex["mlbook.estimation.Normal.pdf"] = E(lambda x: es.Normal(0.0, 1.0).pdf(x),
                                           lambda: dict(x=np.array([0.0, 1.0])),
                                           accepts={"x": {"extra_axis": "any shape: the "
                                                          "density has x's shape"}})
    ex["mlbook.estimation.bernoulli_fisher_information"] = E(
        es.bernoulli_fisher_information, lambda: dict(theta=0.3),
        extra={"theta": {"zero": KINDS["zero"], "negative": KINDS["negative"],
                         "above_one": KINDS["above_one"]}})
    ex["mlbook.estimation.bernoulli_log_likelihood"] = E(
        es.bernoulli_log_likelihood, lambda: dict(theta=0.3, x=FLIPS),
        extra={"theta": {"negative": KINDS["negative"], "above_one": KINDS["above_one"]}})
    ex["mlbook.estimation.bernoulli_mle"] = E(es.bernoulli_mle, lambda: dict(x=FLIPS))
    ex["mlbook.estimation.beta_bernoulli_posterior"] = E(
        es.beta_bernoulli_posterior, lambda: dict(prior=es.Beta(2.0, 3.0), x=FLIPS))
    ex["mlbook.estimation.beta_bernoulli_posterior[counts]"] = E(
        es.beta_bernoulli_posterior, lambda: dict(prior=es.Beta(2.0, 3.0), heads=3, n=5))
    ex["mlbook.estimation.credible_interval"] = E(
        es.credible_interval, lambda: dict(prior=es.Beta(2.0, 3.0), heads=3, n=5, level=0.9))
    ex["mlbook.estimation.exponential_fisher_information"] = E(
        es.exponential_fisher_information, lambda: dict(rate=2.0))
    ex["mlbook.estimation.exponential_mle"] = E(es.exponential_mle,
                                                lambda: dict(x=np.array([1.0, 2.0, 0.5])),
                                                extra={"x": {"negative_entry":
                                                             KINDS["negative_entry"]}},
                                                accepts={"x": {"extra_axis": "(R, n): R samples "
                                                               "of size n, one per row"}})
    ex["mlbook.estimation.flip_coins"] = E(es.flip_coins, lambda: dict(p=0.3, n=10, seed=0),
                                           accepts={"n": {"zero": "n = 0 flips is an empty "
                                                          "sample, a valid draw"}})
    ex["mlbook.estimation.gaussian_mle"] = E(es.gaussian_mle,
                                             lambda: dict(x=np.array([1.0, 2.0, 0.5])))
    ex["mlbook.estimation.gaussian_posterior"] = E(
        es.gaussian_posterior, lambda: dict(prior=es.Normal(0.0, 1.0),
                                            x=np.array([1.0, 2.0]), noise_var=1.0))
    ex["mlbook.estimation.gaussian_predictive"] = E(
        es.gaussian_predictive, lambda: dict(posterior=es.Normal(0.0, 1.0), noise_var=1.0))
    ex["mlbook.estimation.grid_posterior"] = E(
        es.grid_posterior, lambda: dict(log_likelihood=lambda g: np.log(g),
                                        log_prior=lambda g: np.zeros_like(g),
                                        grid=np.linspace(0.1, 0.9, 5)))
    ex["mlbook.estimation.interval_coverage"] = E(
        es.interval_coverage, lambda: dict(interval=es.wald_interval, n=5, theta=0.3),
        extra={"theta": {"negative": KINDS["negative"], "above_one": KINDS["above_one"]}})
    for f in ("legendre_features", "monomial_features"):
        ex[f"mlbook.estimation.{f}"] = E(getattr(es, f), lambda: dict(
            x=np.array([0.1, 0.5, 0.9]), degree=3), extra={"x": {
                "negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.estimation.map_linear_regression"] = E(
        es.map_linear_regression, lambda: dict(X=Xls, y=yls, noise_var=0.5, prior_var=2.0))
    ex["mlbook.estimation.prior_weight"] = E(es.prior_weight, lambda: dict(
        prior=es.Beta(2.0, 3.0), n=5), accepts={"n": {"zero": "no flips yet: weight 1"}})
    ex["mlbook.estimation.wald_interval"] = E(es.wald_interval,
                                              lambda: dict(heads=3, n=5, level=0.9))

    # -- mlbook.ensemble: sklearn's convention, parameters are checked by fit
    def _ctor(cls):
        return lambda **kw: cls(**kw).fit(X, y)
    tree = lambda: DecisionTreeClassifier(max_depth=1)  # noqa: E731
    ex["mlbook.ensemble.BaggingClassifier"] = E(
        _ctor(en.BaggingClassifier), lambda: dict(estimator=tree(), n_estimators=3,
                                                  max_samples=0.8, max_features=1.0,
                                                  bootstrap=True, oob_score=False,
                                                  random_state=0),
        accepts={"estimator": {"none": "None means the default decision tree "
                                       "(scikit-learn's convention)"},
                 "random_state": {"none": "None: fresh entropy (sklearn's convention)"}},
        extra={"max_samples": {"zero": KINDS["zero"]}, "max_features": {"zero": KINDS["zero"]}})
    ex["mlbook.ensemble.AdaBoostClassifier"] = E(
        _ctor(en.AdaBoostClassifier), lambda: dict(estimator=tree(), n_estimators=3,
                                                   learning_rate=1.0, random_state=0),
        accepts={"estimator": {"none": "None means a decision stump (sklearn's convention)"},
                 "random_state": {"none": "None: fresh entropy (sklearn's convention)"}})
    for cname in ("GradientBoostingRegressor", "GradientBoostingClassifier"):
        base = DecisionTreeRegressor
        ex[f"mlbook.ensemble.{cname}"] = E(
            _ctor(getattr(en, cname)), lambda: dict(estimator=base(max_depth=1),
                                                    n_estimators=3, learning_rate=0.1,
                                                    subsample=1.0, random_state=0),
            accepts={"estimator": {"none": "None means a depth-3 regression tree "
                                           "(sklearn's convention)"},
                     "random_state": {"none": "None: fresh entropy (sklearn's convention)"}},
            extra={"subsample": {"zero": KINDS["zero"]}})
    for cname in ("GradientBoostingRegressor", "GradientBoostingClassifier"):
        ex[f"mlbook.ensemble.{cname}.gradient_hessian"] = E(
            lambda _c=cname, **kw: getattr(en, _c)().gradient_hessian(**kw),
            lambda: dict(y=np.array([0.0, 1.0, 1.0]), raw=np.zeros(3)))

        def newton_data():
            Xn, yn = _ens_data()
            learner = DecisionTreeRegressor(max_depth=2, random_state=0).fit(Xn, yn - 0.5)
            return dict(learner=learner, X=Xn, rows=np.arange(0, len(yn), 2),
                        g=yn - 0.5, H=np.full(len(yn), 0.25))
        ex[f"mlbook.ensemble.{cname}.newton_step"] = E(
            lambda _c=cname, **kw: getattr(en, _c)().newton_step(**kw), newton_data)
    ex["mlbook.ensemble.StackingClassifier"] = E(
        _ctor(en.StackingClassifier), lambda: dict(
            estimators=[("t", tree())], final_estimator=None, cv=2, stack_method="auto",
            passthrough=False),
        accepts={"final_estimator": {"none": "None means logistic regression "
                                             "(sklearn's convention)"},
                 "estimators": {"none": "None means the default tree, logistic regression "
                                        "and naive Bayes"}},
        skip={"cv": "anything sklearn's check_cv takes (int, splitter, iterable); "
                    "sklearn checks it"})
    for cname, methods in (("BaggingClassifier", ("fit", "predict", "predict_proba")),
                           ("AdaBoostClassifier", ("fit", "predict", "predict_proba",
                                                   "decision_function", "staged_predict",
                                                   "staged_decision_function",
                                                   "staged_margins")),
                           ("GradientBoostingRegressor", ("fit", "predict", "staged_predict")),
                           ("GradientBoostingClassifier", ("fit", "predict", "predict_proba",
                                                           "decision_function",
                                                           "staged_predict",
                                                           "staged_decision_function")),
                           ("StackingClassifier", ("fit", "predict", "transform"))):
        for m in methods:
            def call(_c=cname, _m=m, **kw):
                out = getattr(_fitted(_c), _m)(**kw)
                return list(out) if _m.startswith("staged") else out
            if m in ("fit", "staged_margins"):
                build = lambda: dict(X=X, y=y)  # noqa: E731
            else:
                build = lambda: dict(X=X)  # noqa: E731
            ex[f"mlbook.ensemble.{cname}.{m}"] = E(
                call, build, ecosystem=SKLEARN_DATA,
                accepts={"y": {"extra_axis": "scikit-learn takes a column vector y (n, 1) "
                                             "with a DataConversionWarning"}})
    ex["mlbook.ensemble.StackingClassifier.get_params"] = E(
        lambda deep: _fitted("StackingClassifier").get_params(deep), lambda: dict(deep=True),
        skip={"deep": "scikit-learn's get_params: any truthy value, as in every estimator"})
    ex["mlbook.ensemble.StackingClassifier.set_params"] = E(
        lambda cv: _fitted("StackingClassifier").set_params(cv=cv).fit(X, y),
        lambda: dict(cv=2), kinds={"cv": ["none", "zero", "negative", "bool"]},
        accepts={"cv": {"none": "None means sklearn's default 5-fold split"}})
    ex["mlbook.ensemble.adaboost_margin_bound"] = E(
        en.adaboost_margin_bound, lambda: dict(errors=np.array([0.1, 0.2]), theta=0.0),
        extra={"errors": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"theta": {}})
    ex["mlbook.ensemble.bias_variance_decomposition"] = E(
        en.bias_variance_decomposition, lambda: dict(
            estimator=DecisionTreeRegressor(max_depth=2), draw_training_set=_draw_training_set,
            X_test=np.linspace(0, 1, 5)[:, None], target=np.zeros(5), output="auto",
            n_rounds=2, random_state=0, progress=False),
        accepts={"random_state": {"none": "None: fresh entropy (sklearn's convention)"}},
        extra={"n_rounds": {"one": (lambda v: 1, lambda v: st.just(1))}})
    ex["mlbook.ensemble.bias_variance_difference"] = E(
        en.bias_variance_difference, lambda: dict(first=_bv(), second=_bv()))
    ex["mlbook.ensemble.make_sine_boundary"] = E(
        en.make_sine_boundary, lambda: dict(n_samples=20, sharpness=3.0, random_state=0),
        accepts={"random_state": {"none": "None: fresh entropy (sklearn's convention)"}})
    ex["mlbook.ensemble.sine_boundary_proba"] = E(
        en.sine_boundary_proba, lambda: dict(X=X[:5], sharpness=3.0))

    # -- mlbook.approximation
    ex["mlbook.approximation.Constant"] = E(ap.Constant, lambda: dict(a=0.1))
    ex["mlbook.approximation.Power"] = E(ap.Power, lambda: dict(c=1.0, alpha=0.75),
                                         extra={"alpha": {"negative": KINDS["negative"]}})
    ex["mlbook.approximation.Harmonic"] = E(ap.Harmonic, lambda: dict())
    for cname, make in (("Constant", lambda: ap.Constant(0.1)), ("Harmonic", ap.Harmonic),
                        ("Power", lambda: ap.Power(1.0, 0.75)), ("StepSize", ap.Harmonic)):
        ex[f"mlbook.approximation.{cname}.partial_sum"] = E(
            lambda _mk=make, **kw: _mk().partial_sum(**kw), lambda: dict(n=10, power=1),
            extra={"power": {"zero": KINDS["zero"]}})
    noisy = lambda: ap.additive_noise(lambda w: w - 1.0, 0.1)  # noqa: E731
    ex["mlbook.approximation.incremental_mean"] = E(
        ap.incremental_mean, lambda: dict(samples=np.array([1.0, 2.0, 3.0]),
                                          schedule=ap.Harmonic(), w1=0.0, progress=False),
        accepts={"schedule": {"none": "None means the harmonic steps 1/k of the sample mean"},
                 "samples": {"extra_axis": "(n, ...): vector samples are averaged too"},
                 "progress": {"none": "None: a bar only for long loops"}})
    ex["mlbook.approximation.robbins_monro"] = E(
        ap.robbins_monro, lambda: dict(noisy_g=noisy(), w0=0.0, schedule=ap.Harmonic(),
                                       steps=5, paths=1, rng=0, progress=False),
        accepts={"progress": {"none": "None: a bar only for long loops"}})
    ex["mlbook.approximation.additive_noise"] = E(
        ap.additive_noise, lambda: dict(g=lambda w: w - 1.0, noise_std=0.1))
    ex["mlbook.approximation.make_least_squares"] = E(
        ap.make_least_squares, lambda: dict(n=10, w_true=np.array([1.0, 2.0]), noise_std=0.5,
                                            rng=0))
    batch_of_weights = {"W": {"leading_axes": "W (..., d): leading axes are a batch of weight "
                                              "vectors"}}
    for f in ("least_squares_loss", "gradient_relative_error", "descent_fraction"):
        ex[f"mlbook.approximation.{f}"] = E(getattr(ap, f), lambda: dict(
            W=np.array([0.5, 1.0]), X=Xls, y=yls), accepts=batch_of_weights)
    ex["mlbook.approximation.least_squares_gradient"] = E(
        ap.least_squares_gradient, lambda: dict(W=np.array([0.5, 1.0]), X=Xls, y=yls,
                                                idx=np.array([0, 2])),
        extra={"idx": {"negative_entry": KINDS["negative_entry"],
                       "out_of_range": _entry_index_kind(4)}},
        accepts=batch_of_weights,
        kinds={"idx": ["string", "empty", "extra_axis"]})
    ex["mlbook.approximation.least_squares_solution"] = E(
        ap.least_squares_solution, lambda: dict(X=Xls, y=yls))
    gd_kw = lambda: dict(X=Xls, y=yls, schedule=ap.Constant(0.05), steps=5)  # noqa: E731
    ex["mlbook.approximation.gradient_descent"] = E(
        ap.gradient_descent, lambda: dict(**gd_kw(), batch_size=2, w0=np.zeros(2), paths=2,
                                          replace=True, rng=0, progress=False),
        accepts={"batch_size": {"none": "None: the full batch"},
                 "w0": {"none": "None: start at zero"},
                 "progress": {"none": "None: a bar only for long loops"}})
    ex["mlbook.approximation.batch_gd"] = E(ap.batch_gd, gd_kw)
    ex["mlbook.approximation.sgd"] = E(ap.sgd, gd_kw)
    ex["mlbook.approximation.minibatch_gd"] = E(ap.minibatch_gd,
                                                lambda: dict(**gd_kw(), batch_size=2))
    ex["mlbook.approximation.harmonic_rate_exponent"] = E(
        ap.harmonic_rate_exponent, lambda: dict(c=1.0, slope=1.0),
        extra={"slope": {"zero": KINDS["zero"], "negative": KINDS["negative"]}})
    ex["mlbook.approximation.loglog_slope"] = E(
        ap.loglog_slope, lambda: dict(k=np.array([1.0, 2.0, 4.0, 8.0]),
                                      values=np.array([1.0, 0.5, 0.25, 0.125])),
        extra={"k": {"negative_entry": KINDS["negative_entry"]},
               "values": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"values": {"extra_axis": "(K, P): one slope per column"}})
    ex["mlbook.approximation.polyak_ruppert_average"] = E(
        ap.polyak_ruppert_average, lambda: dict(iterates=np.array([[1.0], [2.0], [3.0]])),
        accepts={"iterates": {"extra_axis": "any trailing shape: iterates are (K, ...)"}})
    for f in ("final_errors_over_scales", "tune_step_scale"):
        n_arg = "steps" if f.startswith("final") else "budget"
        ex[f"mlbook.approximation.{f}"] = E(getattr(ap, f), lambda _n=n_arg: {
            "X": Xls, "y": yls, "scales": np.array([0.05, 0.1]), _n: 6, "batch_size": 2,
            "alpha": 0.75, "w0": np.zeros(2), "paths": 2, "rng": 0},
            extra={"scales": {"negative_entry": KINDS["negative_entry"]},
                   "alpha": {"negative": KINDS["negative"]}},
            accepts={"batch_size": {"none": "None: the full batch"},
                     "w0": {"none": "None: start at zero"}})
    ex["mlbook.approximation.kiefer_wolfowitz"] = E(
        ap.kiefer_wolfowitz, lambda: dict(noisy_f=ap.additive_noise(lambda w: (w - 1) ** 2, 0.1),
                                          w0=0.0, schedule=ap.Harmonic(),
                                          widths=ap.Power(1.0, 0.25), steps=5, paths=1, rng=0,
                                          progress=False),
        accepts={"progress": {"none": "None: a bar only for long loops"}})
    ex["mlbook.approximation.random_mrp"] = E(ap.random_mrp, lambda: dict(n_states=3, rng=0))
    ex["mlbook.approximation.mrp_values"] = E(ap.mrp_values, lambda: dict(P=P3, r=r3, gamma=0.9))
    ex["mlbook.approximation.td0_evaluation"] = E(
        ap.td0_evaluation, lambda: dict(P=P3, r=r3, gamma=0.9, steps=5, exponent=0.75,
                                        reward_std=0.5, paths=1, rng=0))

    # -- mlbook.rl
    S, A = 3, 2
    pi = lambda: rl.uniform_policy(S, A)  # noqa: E731
    W = _world   # a 3 x 3 grid world: 9 states, 5 actions
    pi9 = lambda: rl.uniform_policy(9, 5)  # noqa: E731
    ex["mlbook.rl.FiniteMDP"] = E(rl.FiniteMDP, lambda: dict(P=mdp.P.copy(), R=mdp.R.copy(),
                                                             gamma=0.9))
    ex["mlbook.rl.FiniteMDP.check_policy"] = E(lambda policy: _mdp().check_policy(policy),
                                               lambda: dict(policy=pi()),
                                               extra={"policy": {"negative_entry":
                                                                 KINDS["negative_entry"]}})
    ex["mlbook.rl.FiniteMDP.policy_model"] = E(lambda policy: _mdp().policy_model(policy),
                                               lambda: dict(policy=pi()))
    ex["mlbook.rl.FiniteMDP.action_values"] = E(lambda v: _mdp().action_values(v),
                                                lambda: dict(v=np.zeros(S)))
    ex["mlbook.rl.FiniteMDP.with_gamma"] = E(lambda gamma: _mdp().with_gamma(gamma),
                                             lambda: dict(gamma=0.5))
    ex["mlbook.rl.FiniteMDP.with_absorbing_states"] = E(
        lambda states: _mdp().with_absorbing_states(states), lambda: dict(states=[1]),
        extra={"states": {"negative_entry": KINDS["negative_entry"],
                          "out_of_range": _entry_index_kind(S)}},
        kinds={"states": ["none", "string", "extra_axis"]})
    ex["mlbook.rl.GridWorld"] = E(rl.GridWorld, lambda: dict(
        size=3, forbidden=[(1, 1)], target=(2, 2), r_boundary=-1.0, r_forbidden=-1.0,
        r_target=1.0, r_other=0.0, gamma=0.9, start=(0, 0)),
        extra={"size": {"zero": KINDS["zero"], "negative": KINDS["negative"]},
               "target": {"out_of_range": (lambda v: (5, 5), lambda v: st.just((5, 5)))},
               "start": {"out_of_range": (lambda v: (0, 9), lambda v: st.just((0, 9)))}},
        accepts={"start": {"none": "None: a uniformly random start cell"}},
        kinds={"forbidden": ["string", "zero"], "target": ["none", "string", "zero"],
               "start": ["string", "zero"]})
    ex["mlbook.rl.GridWorld.state_of"] = E(lambda cell: W().state_of(cell),
                                           lambda: dict(cell=(1, 2)),
                                           extra={"cell": {"out_of_range": (
                                               lambda v: (3, 0), lambda v: st.just((0, 3)))}},
                                           kinds={"cell": ["none", "string", "zero"]})
    ex["mlbook.rl.GridWorld.cell_of"] = E(lambda state: W().cell_of(state), lambda: dict(state=4),
                                          extra={"state": {"negative": KINDS["negative"],
                                                           "out_of_range": _index_kind(9)}})
    ex["mlbook.rl.GridWorld.transition"] = E(
        lambda state, action: W().transition(state, action), lambda: dict(state=4, action=1),
        extra={"state": {"negative": KINDS["negative"], "out_of_range": _index_kind(9)},
               "action": {"negative": KINDS["negative"], "out_of_range": _index_kind(5)}})
    ex["mlbook.rl.GridWorld.to_mdp"] = E(lambda gamma: W().to_mdp(gamma),
                                         lambda: dict(gamma=0.5),
                                         accepts={"gamma": {"none": "None: the world's own"}})

    def _reset(seed, options):
        return W().reset(seed=seed, options=options)
    ex["mlbook.rl.GridWorld.reset"] = E(_reset, lambda: dict(seed=0, options={"start": 3}),
                                        accepts={"seed": {"none": "Gymnasium: do not reseed"},
                                                 "options": {"none": "Gymnasium: no options"}},
                                        kinds={"options": ["string", "zero"]})
    ex["mlbook.rl.GridWorld.reset[start]"] = E(
        lambda start: W().reset(seed=0, options={"start": start}), lambda: dict(start=3),
        extra={"start": {"negative": KINDS["negative"], "out_of_range": _index_kind(9)}},
        accepts={"start": {"none": "no start option: the world's own start"}})

    def _step(action):
        w = W()
        w.reset(seed=0)
        return w.step(action)
    ex["mlbook.rl.GridWorld.step"] = E(_step, lambda: dict(action=1),
                                       extra={"action": {"negative": KINDS["negative"],
                                                         "out_of_range": _index_kind(5)}})
    ex["mlbook.rl.action_values"] = E(rl.action_values, lambda: dict(mdp=_mdp(), v=np.zeros(S)))
    ex["mlbook.rl.check_policy"] = E(rl.check_policy, lambda: dict(policy=pi(), n_states=S,
                                                                   n_actions=A),
                                     extra={"n_states": {"zero": KINDS["zero"],
                                                         "negative": KINDS["negative"]},
                                            "n_actions": {"zero": KINDS["zero"],
                                                          "negative": KINDS["negative"]}})
    ex["mlbook.rl.deterministic_policy"] = E(
        rl.deterministic_policy, lambda: dict(actions=np.array([0, 1, 1]), n_actions=A),
        extra={"actions": {"negative_entry": KINDS["negative_entry"],
                           "out_of_range": _entry_index_kind(A)}})
    for f in ("discounted_return", "discounted_returns"):
        ex[f"mlbook.rl.{f}"] = E(getattr(rl, f), lambda: dict(rewards=np.array([1.0, 0.0, 2.0]),
                                                              gamma=0.9),
                                 accepts={"rewards": {"empty": "an empty episode returns 0"}})
    ex["mlbook.rl.evaluate_policy_exact"] = E(rl.evaluate_policy_exact,
                                              lambda: dict(mdp=_mdp(), policy=pi()))
    ex["mlbook.rl.evaluate_policy_iterative"] = E(
        rl.evaluate_policy_iterative, lambda: dict(mdp=_mdp(), policy=pi(), v0=np.zeros(S),
                                                   tol=1e-6, max_iter=100),
        accepts={"v0": {"none": "None: start at zero"}})
    ex["mlbook.rl.greedy_policy"] = E(rl.greedy_policy, lambda: dict(
        q=np.array([[1.0, 0.0], [0.0, 1.0]]), atol=1e-9, ties="first"))
    ex["mlbook.rl.plot_gridworld"] = E(
        rl.plot_gridworld,
        lambda: dict(world=W(), values=np.zeros(9), policy=pi9(), title="t",
                     value_fmt="{:.1f}", trajectory=[0, 1], show_start=False, fontsize=9.0),
        accepts={"values": {"none": "None: no values drawn",
                            "nan_entry": "NaN draws as 'nan': a state without an estimate",
                            "inf_entry": "drawn as 'inf', as a value table would show it"},
                 "policy": {"none": "None: no arrows"},
                 "title": {"none": "None: no title"},
                 "trajectory": {"none": "None: no path"}},
        extra={"trajectory": {"negative_entry": KINDS["negative_entry"],
                              "out_of_range": _entry_index_kind(9)},
               "fontsize": {"zero": KINDS["zero"], "negative": KINDS["negative"]}},
        kinds={"title": ["zero"], "value_fmt": ["none", "zero"],
               "trajectory": ["string", "extra_axis"]},
        skip={"ax": "a matplotlib Axes or None; matplotlib's object"})
    ex["mlbook.rl.policy_from_arrows"] = E(rl.policy_from_arrows, lambda: dict(
        world=W(), rows=["→→↓", "↑o↓", "→→o"]),
        kinds={"rows": ["none", "zero", "empty"]})
    ex["mlbook.rl.policy_iteration"] = E(rl.policy_iteration, lambda: dict(
        mdp=_mdp(), policy0=pi(), max_iter=50, ties="first"),
        accepts={"policy0": {"none": "None: start from the uniform policy"}})
    ex["mlbook.rl.improve_policy"] = E(rl.improve_policy, lambda: dict(mdp=_mdp(), policy=pi(),
                                                                       ties="first"))
    ex["mlbook.rl.random_mdp"] = E(rl.random_mdp, lambda: dict(n_states=3, n_actions=2,
                                                               gamma=0.9, seed=0,
                                                               peakedness=8.0),
                                   extra={"gamma": {"one": (lambda v: 1.0,
                                                            lambda v: st.just(1.0))}},
                                   accepts={"seed": {"none": "None: fresh entropy "
                                                     "(mlbook.checks.check_seed)"}})
    ex["mlbook.rl.stopping_bounds"] = E(rl.stopping_bounds, lambda: dict(
        history=np.array([[0.0, 0.0], [1.0, 0.5], [1.5, 0.7]]), gamma=0.9),
        extra={"gamma": {"one": (lambda v: 1.0, lambda v: st.just(1.0))}})
    ex["mlbook.rl.sample_episode"] = E(rl.sample_episode, lambda: dict(
        env=W(), policy=pi9(), n_steps=5, seed=0, start_state=0, start_action=1,
        rng=np.random.default_rng(0)),
        extra={"start_state": {"negative": KINDS["negative"], "out_of_range": _index_kind(9)},
               "start_action": {"negative": KINDS["negative"],
                                "out_of_range": _index_kind(5)}},
        accepts={"start_state": {"none": "None: the environment's own start"},
                 "start_action": {"none": "None: drawn from the policy"},
                 "rng": {"none": "None: a generator from seed"},
                 "seed": {"none": "None: fresh entropy (mlbook.checks.check_seed)"}},
        kinds={"rng": ["string", "zero"]})
    ex["mlbook.rl.sutton_barto_gridworld"] = E(rl.sutton_barto_gridworld,
                                               lambda: dict(gamma=0.9))
    ex["mlbook.rl.truncated_policy_iteration"] = E(rl.truncated_policy_iteration, lambda: dict(
        mdp=_mdp(), n_eval_sweeps=2, policy0=pi(), v0=np.zeros(S), tol=1e-6, max_iter=100,
        ties="first"),
        accepts={"policy0": {"none": "None: start from the uniform policy"},
                 "v0": {"none": "None: start at zero"}})
    ex["mlbook.rl.uniform_policy"] = E(rl.uniform_policy, lambda: dict(n_states=S, n_actions=A))
    ex["mlbook.rl.value_iteration"] = E(rl.value_iteration, lambda: dict(
        mdp=_mdp(), v0=np.zeros(S), tol=1e-6, max_iter=100, ties="first"),
        accepts={"v0": {"none": "None: start at zero"}})
    ex["mlbook.rl.mdp.check_discount"] = E(rl.mdp.check_discount, lambda: dict(gamma=0.9),
                                           extra={"gamma": {"one": (lambda v: 1.0,
                                                                    lambda v: st.just(1.0))}})
    ex["mlbook.rl.EpisodeSampler"] = E(rl.EpisodeSampler, lambda: dict(env=W(), seed=0,
                                                                       fast=True),
                                       accepts={"seed": {"none": "None: Gymnasium's "
                                                         "unseeded first reset"}})
    ex["mlbook.rl.EpisodeSampler.episode"] = E(
        lambda **kw: rl.EpisodeSampler(W(), seed=0).episode(**kw),
        lambda: dict(policy=pi9(), length=5, rng=np.random.default_rng(0), start_state=0,
                     start_action=1),
        extra={"start_state": {"negative": KINDS["negative"], "out_of_range": _index_kind(9)},
               "start_action": {"negative": KINDS["negative"],
                                "out_of_range": _index_kind(5)}},
        accepts={"start_state": {"none": "None: the environment's own start"},
                 "start_action": {"none": "None: drawn from the policy"}},
        kinds={"rng": ["none", "string", "zero"]})
    ex["mlbook.rl.EpisodeSampler.episode_cdf"] = E(
        lambda **kw: rl.EpisodeSampler(W(), seed=0).episode_cdf(**kw),
        lambda: dict(cdf=rl.policy_cdf(pi9()), length=5, rng=np.random.default_rng(0),
                     start_state=0, start_action=1),
        extra={"start_state": {"negative": KINDS["negative"], "out_of_range": _index_kind(9)},
               "start_action": {"negative": KINDS["negative"],
                                "out_of_range": _index_kind(5)}},
        accepts={"start_state": {"none": "None: the environment's own start"},
                 "start_action": {"none": "None: drawn from the policy"}},
        kinds={"rng": ["none", "string", "zero"]})
    ex["mlbook.rl.policy_cdf"] = E(rl.policy_cdf, lambda: dict(policy=pi9()))
    ex["mlbook.rl.EpisodeSampler.batch"] = E(
        lambda **kw: rl.EpisodeSampler(W(), seed=0).batch(**kw),
        lambda: dict(policy=pi9(), length=5, rng=np.random.default_rng(0),
                     start_states=np.array([0, 1]), start_actions=np.array([1, 2])),
        extra={"start_states": {"negative_entry": KINDS["negative_entry"],
                                "out_of_range": _entry_index_kind(9),
                                "non_integer": (lambda v: [0.5, 1.5],
                                                lambda v: st.just([0.5, 1.5]))},
               "start_actions": {"negative_entry": KINDS["negative_entry"],
                                 "out_of_range": _entry_index_kind(5)}},
        accepts={"start_actions": {"none": "None: first actions drawn from the policy"}},
        kinds={"rng": ["none", "string", "zero"]})
    ex["mlbook.rl.MCResult.greedy_history"] = E(lambda: _mc_result().greedy_history(),
                                                lambda: dict())
    ex["mlbook.rl.MCResult.suboptimal_counts"] = E(
        lambda **kw: _mc_result().suboptimal_counts(**kw), lambda: dict(q_star=_q_star(),
                                                                       atol=1e-6))
    ex["mlbook.rl.MCResult.episodes_to_optimal"] = E(
        lambda **kw: _mc_result().episodes_to_optimal(**kw), lambda: dict(q_star=_q_star(),
                                                                         atol=1e-6))
    ex["mlbook.rl.best_epsilon_greedy"] = E(rl.best_epsilon_greedy, lambda: dict(
        mdp=_mdp(), epsilon=0.1, max_iter=50))
    ex["mlbook.rl.epsilon_greedy_policy"] = E(rl.epsilon_greedy_policy, lambda: dict(
        q=np.array([[1.0, 0.0], [0.0, 1.0]]), epsilon=0.1))
    mc_common = dict(gamma=0.9, seed=0, fast=True, progress=False)
    mc_accepts = {"gamma": {"none": "None: the environment's own discount"},
                  "policy0": {"none": "None: the uniform policy"},
                  "progress": {"none": "None: a bar only for long runs"},
                  "seed": {"none": "None: fresh entropy (mlbook.checks.check_seed)"},
                  "record_every": {"none": "None: record after every episode"},
                  "step_size": {"none": "None: plain averages"}}
    ex["mlbook.rl.mc_basic"] = E(rl.mc_basic, lambda: dict(
        env=W(), episode_length=4, episodes_per_pair=1, max_iter=2, policy0=pi9(),
        **mc_common), accepts=mc_accepts)
    ex["mlbook.rl.mc_exploring_starts"] = E(rl.mc_exploring_starts, lambda: dict(
        env=W(), n_episodes=4, episode_length=4, visit="first", step_size=0.5, policy0=pi9(),
        record_every=2, **mc_common), accepts=mc_accepts)
    ex["mlbook.rl.mc_epsilon_greedy"] = E(rl.mc_epsilon_greedy, lambda: dict(
        env=W(), epsilon=0.2, n_episodes=4, episode_length=4, visit="every", step_size=0.5,
        policy0=pi9(), record_every=2, **mc_common), accepts=mc_accepts,
        extra={"step_size": {"zero": KINDS["zero"]}})
    ex["mlbook.rl.episodic_control"] = E(rl.episodic_control, lambda: dict(
        env=W(), n_episodes=4, episode_length=4, exploring_starts=True, epsilon=0.1,
        visit="first", step_size=0.5, policy0=pi9(), record_every=2, **mc_common),
        accepts={**mc_accepts, "policy0": {"none": "None: the first action everywhere"}},
        extra={"step_size": {"zero": KINDS["zero"]}})
    ex["mlbook.rl.suboptimal_states"] = E(rl.suboptimal_states, lambda: dict(
        q=_q_star(), q_star=_q_star(), atol=1e-6))
    ex["mlbook.rl.unique_optimal_states"] = E(rl.unique_optimal_states, lambda: dict(
        q_star=_q_star(), atol=1e-6),
        extra={"q_star": {"one_d": (lambda v: np.zeros(9), lambda v: st.just(np.zeros(9)))}})
    ex["mlbook.rl.importance_sampling_estimates"] = E(
        rl.importance_sampling_estimates, lambda: dict(returns=np.array([1.0, -1.0, 0.5]),
                                                       ratios=np.array([0.5, 2.0, 1.0])),
        extra={"ratios": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.rl.mc_off_policy_prediction"] = E(
        rl.mc_off_policy_prediction, lambda: dict(
            episodes=[(np.array([0, 1]), np.array([1, 0]), np.array([0.0, 1.0]))],
            target=rl.uniform_policy(2, 2), behavior=rl.uniform_policy(2, 2), gamma=0.9,
            weighted=True),
        kinds={"episodes": ["none", "string", "zero"]},
        extra={"behavior": {"negative_entry": KINDS["negative_entry"]},
               "target": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.rl.state_value_estimates"] = E(rl.state_value_estimates, lambda: dict(
        states=np.array([0, 1, 1]), returns=np.array([1.0, 0.5, 0.0]), n_states=2),
        extra={"states": {"negative_entry": KINDS["negative_entry"],
                          "out_of_range": _entry_index_kind(2)}})
    ex["mlbook.rl.BlackjackEpisodes.ratios"] = E(
        lambda **kw: _bj_episodes().ratios(**kw),
        lambda: dict(target_hit=rl.stick_on_policy(), behavior_hit=np.full(rl.OBS_SHAPE, 0.5)),
        extra={"target_hit": {"negative_entry": KINDS["negative_entry"]},
               "behavior_hit": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.rl.BlackjackEpisodes.as_list"] = E(lambda: _bj_episodes().as_list(), dict)
    ex["mlbook.rl.Episode.ret"] = E(
        lambda gamma: rl.sample_episode(W(), pi9(), 5, seed=0).ret(gamma),
        lambda: dict(gamma=0.9))
    ex["mlbook.rl.evaluate_blackjack_policy"] = E(
        rl.evaluate_blackjack_policy, lambda: dict(hit_prob=rl.stick_on_policy(), sab=True),
        extra={"hit_prob": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.rl.play_blackjack"] = E(rl.play_blackjack, lambda: dict(
        n_episodes=3, hit_prob=rl.stick_on_policy(), seed=0, env=None,
        start=((10, 5), 7)),
        accepts={"env": {"none": "None: a fresh Blackjack-v1"},
                 "start": {"none": "None: dealt cards"},
                 "seed": {"none": "None: fresh entropy (mlbook.checks.check_seed)"}},
        kinds={"env": ["string", "zero"], "start": ["string", "zero"]},
        extra={"hit_prob": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.rl.stick_on_policy"] = E(rl.stick_on_policy, lambda: dict(threshold=20),
                                        extra={"threshold": {"out_of_range": _index_kind(23),
                                                             "negative": KINDS["negative"]}})

    # -- mlbook.widgets, plotting, progress, notebook, cache
    ex["mlbook.widgets.slider"] = E(widgets.slider, lambda: dict(
        start=0.0, stop=1.0, step=0.5, default=0.5, label="a", fmt="{:g}"),
        extra={"step": {"zero": KINDS["zero"],
                        "tiny": (lambda v: 1e-9, lambda v: st.floats(1e-300, 1e-6))}},
        accepts={"default": {"none": "None: the middle value"},
                 "label": {"none": "None: the control's name"}},
        kinds={"label": ["zero"], "fmt": ["none", "zero"]})
    ex["mlbook.widgets.choice"] = E(widgets.choice, lambda: dict(
        values=[1, 2, 3], default=2, label="a", fmt="{:g}"),
        accepts={"default": {"none": "None: the middle value"},
                 "label": {"none": "None: the control's name"}},
        kinds={"values": ["none", "zero", "empty"], "label": ["zero"], "fmt": ["none", "zero"],
               "default": ["string"]})
    ex["mlbook.widgets.Control"] = E(widgets.Control, lambda: dict(
        values=(1, 2), default=1, label="a", fmt="{:g}"),
        accepts={"label": {"none": "None: the control's name"}},
        kinds={"values": ["none", "zero", "empty"], "default": ["string"],
               "label": ["zero"], "fmt": ["none", "zero"]})
    ex["mlbook.widgets.Control.format"] = E(lambda value: widgets.Control((1, 2), 1).format(value),
                                            lambda: dict(value=1),
                                            skip={"value": "any value: shown with str()"})
    ex["mlbook.widgets.explore"] = E(
        lambda dpi, a: widgets.explore(_draw_figure, dpi=dpi, a=a).frames(),
        lambda: dict(dpi=30, a=[1, 2]),
        kinds={"a": ["none", "zero", "empty"]},
        extra={"a": {"tiny_step": (lambda v: (0.0, 1.0, 1e-9),
                                   lambda v: st.floats(1e-300, 1e-6).map(
                                       lambda s: (0.0, 1.0, s)))}})
    ex["mlbook.widgets.explore[draw]"] = E(
        lambda draw: widgets.explore(draw, dpi=30, a=[1]), lambda: dict(draw=_draw_figure))
    ex["mlbook.widgets.Explorer"] = E(widgets.Explorer, lambda: dict(
        draw=_draw_figure, controls={"a": widgets.choice([1, 2])}, dpi=30, max_frames=10,
        max_bytes=100_000), kinds={"controls": ["none", "string", "zero"]})
    ex["mlbook.plotting.use_book_style"] = E(_use_book_style_here, dict)
    ex["mlbook.progress.tqdm"] = E(lambda **kw: list(progress.tqdm([1, 2], **kw)),
                                   lambda: dict(disable=True),
                                   accepts={"disable": {"none": "tqdm: None means off "
                                                        "when not a terminal"}},
                                   kinds={"disable": ["string", "zero"]})
    ex["mlbook.progress.bars_disabled"] = E(progress.bars_disabled, dict)
    ex["mlbook.notebook.glue"] = E(notebook.glue, lambda: dict(name="x", variable=1,
                                                               display=False),
                                   skip={"variable": "any value may be glued"},
                                   kinds={"name": ["none", "zero"]})
    ex["mlbook.notebook.show_source"] = E(notebook.show_source, lambda: dict(
        obj=rl.episodic_control, start="loop", stop=None, docstring=False),
        accepts={"start": {"none": "None: from the def line"},
                 "stop": {"none": "None: to the end"}})
    ex["mlbook.progress.timed"] = E(progress.timed, lambda: dict(fn=lambda: 1, repeat=2),
                                    extra={"repeat": {"zero": KINDS["zero"],
                                                      "negative": KINDS["negative"]}})

    def log_axes():
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.set_xscale("log")
        return ax
    ex["mlbook.plotting.plain_log"] = E(plotting.plain_log, lambda: dict(ax=log_axes(),
                                                                         axis="x"))
    ex["mlbook.plotting.plane_grid"] = E(plotting.plane_grid, lambda: dict(
        extent=[0.0, 1.0, 0.0, 1.0], n=5))
    ex["mlbook.plotting.plot_regions"] = E(plotting.plot_regions, lambda: dict(
        ax=plt.subplots(figsize=(1, 1))[1], labels=np.zeros(16), extent=[0.0, 1.0, 0.0, 1.0],
        X=np.array([[0.2, 0.2], [0.8, 0.8]]), y=np.array([0, 1]), title="t"),
        accepts={"title": {"none": "None: no title"}}, kinds={"title": ["zero"]})
    ex["mlbook.cache.cache_dir"] = E(cache.cache_dir, dict)
    path_kinds = {"path": ["none", "zero", "bool"]}
    ex["mlbook.cache.cache_lock"] = E(lambda path: cache.cache_lock(path).__enter__(),
                                      lambda: dict(path=_TMP / "lock.bin"), kinds=path_kinds)
    ex["mlbook.cache.atomic_write"] = E(lambda path: cache.atomic_write(path).__enter__(),
                                        lambda: dict(path=_TMP / "w.bin"), kinds=path_kinds)
    ex["mlbook.cache.cached"] = E(cache.cached, lambda: dict(
        path=_TMP / "c.txt", load=lambda p: p.read_text(),
        build=lambda: "x", rebuild=False),
        kinds={"path": ["none", "zero", "bool"], "load": ["none", "string", "zero"],
               "build": ["none", "string", "zero"], "rebuild": ["none", "string"]})
    ex.update(_attention_examples())
    ex.update(_vlm_examples())
    ex.update(_llm_examples())
    ex.update(_chapter78_examples())
    return ex


# ---- PyTorch: chapters 6-11 (mlbook.llm, mlbook.attention, mlbook.vlm) -------------------
#: Why NaN and inf entries pass through a forward pass: PyTorch's convention for modules and
#: the tensor helpers inside them (scanning every activation would add a pass over it at
#: every layer and step of training); the functions a chapter calls on data refuse them.
FORWARD_NAN = ("a forward pass follows PyTorch: NaN and inf propagate to the output "
               "(no scan of every activation in every layer and step); the mlbook "
               "functions that take data refuse them")
TENSOR_NAN = {"nan_entry": FORWARD_NAN, "inf_entry": FORWARD_NAN}
DEVICE = "a torch device: torch.device() parses it and raises its own RuntimeError"
NO_GRAD_SEED = {"seed": {"none": "None: fresh randomness (mlbook.checks.check_integer_seed)"}}


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _t(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_g(seed))


def _ids(*shape: int, high: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=_g(seed))


def _token_kinds(vocab: int) -> dict[str, tuple]:
    """Out-of-vocabulary and negative token ids."""
    return {"negative_entry": KINDS["negative_entry"], "out_of_range": _entry_index_kind(vocab)}


ONE = (lambda v: 1.0, lambda v: st.just(1.0))       # a RoPE base must exceed 1
POS_INF = (lambda v: _with_entry(v, INF), lambda v: st.just(_with_entry(v, INF)))
COUNT = {"zero": KINDS["zero"], "negative": KINDS["negative"]}
NONNEG = {"negative": KINDS["negative"]}


def _small_llama_config():
    from mlbook.llm.llama import LlamaConfig
    return LlamaConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, n_kv_heads=1,
                       multiple_of=8, max_seq_len=16)


def _tiny_train_config(**kw):
    from mlbook.llm.train import TrainConfig
    return TrainConfig(**{**dict(steps=2, batch_size=2, seq_len=8, warmup_steps=0,
                                 eval_every=2), **kw})


def _attention_examples() -> dict[str, Example]:
    from mlbook import attention as at
    from mlbook.attention import flash
    E = Example
    ex: dict[str, Example] = {}
    gqa_cfg = lambda: at.GQAConfig(dim=16, n_heads=4, n_kv_heads=2)  # noqa: E731
    mla_cfg = lambda: at.MLAConfig(dim=16, n_heads=2, kv_lora_rank=8,  # noqa: E731
                                   qk_rope_head_dim=4, qk_nope_head_dim=4)
    gqa = lambda: at.GroupedQueryAttention(gqa_cfg())  # noqa: E731
    mla = lambda: at.MultiHeadLatentAttention(mla_cfg())  # noqa: E731
    x = lambda: _t(2, 5, 16)  # noqa: E731

    # -- heads: configurations and cache sizes
    ex["mlbook.attention.GQAConfig"] = E(at.GQAConfig, lambda: dict(
        dim=16, n_heads=4, n_kv_heads=2, head_dim=4, n_layers=1, rope_theta=10000.0,
        rope=True),
        extra={"dim": COUNT, "n_heads": COUNT, "n_kv_heads": {**COUNT, "not_a_divisor": (
            lambda v: 3, lambda v: st.just(3))}, "head_dim": {**COUNT, "odd": (
                lambda v: 3, lambda v: st.just(3))},
               "n_layers": COUNT, "rope_theta": {**COUNT, "one": ONE}},
        accepts={"n_kv_heads": {"none": "None: as many as n_heads (MHA)"},
                 "head_dim": {"none": "None: dim // n_heads"}},
        kinds={"rope": ["none", "string", "zero"]})
    ex["mlbook.attention.MLAConfig"] = E(at.MLAConfig, lambda: dict(
        dim=16, n_heads=2, kv_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=4,
        v_head_dim=4, q_lora_rank=6, n_layers=1, rope_theta=10000.0, norm_eps=1e-6,
        latent_norm=True),
        extra={"dim": COUNT, "n_heads": COUNT, "kv_lora_rank": COUNT,
               "qk_rope_head_dim": {**NONNEG, "odd": (lambda v: 3, lambda v: st.just(3))},
               "qk_nope_head_dim": COUNT, "v_head_dim": COUNT, "q_lora_rank": COUNT,
               "n_layers": COUNT, "rope_theta": {**COUNT, "one": ONE},
               "norm_eps": COUNT},
        accepts={"v_head_dim": {"none": "None: qk_nope_head_dim"},
                 "q_lora_rank": {"none": "None: a plain q_proj"}},
        kinds={"latent_norm": ["none", "string", "zero"]})
    ex["mlbook.attention.GroupedKVCache"] = E(at.GroupedKVCache, lambda: dict(
        batch_size=2, n_kv_heads=2, head_dim=4, max_len=8, dtype=torch.float32, device=None),
        extra={"n_kv_heads": COUNT, "head_dim": COUNT, "max_len": COUNT},
        accepts={"dtype": {"none": "None: PyTorch's default dtype"}},
        kinds={"dtype": ["string", "zero"]}, skip={"device": DEVICE})
    ex["mlbook.attention.GroupedKVCache.update"] = E(
        lambda k, v: at.GroupedKVCache(2, 2, 4, 8).update(k, v),
        lambda: dict(k=_t(2, 2, 3, 4), v=_t(2, 2, 3, 4, seed=1)),
        accepts={"k": TENSOR_NAN, "v": TENSOR_NAN})
    ex["mlbook.attention.LatentKVCache"] = E(at.LatentKVCache, lambda: dict(
        batch_size=1, kv_lora_rank=8, qk_rope_head_dim=4, max_len=8, dtype=torch.float32,
        device=None),
        extra={"kv_lora_rank": COUNT, "qk_rope_head_dim": NONNEG, "max_len": COUNT},
        accepts={"dtype": {"none": "None: PyTorch's default dtype"}},
        kinds={"dtype": ["string", "zero"]}, skip={"device": DEVICE})
    ex["mlbook.attention.LatentKVCache.update"] = E(
        lambda c_kv, k_rope: at.LatentKVCache(1, 8, 4, 8).update(c_kv, k_rope),
        lambda: dict(c_kv=_t(1, 3, 8), k_rope=_t(1, 3, 4, seed=1)),
        accepts={"c_kv": TENSOR_NAN, "k_rope": TENSOR_NAN})
    ex["mlbook.attention.GroupedQueryAttention"] = E(at.GroupedQueryAttention,
                                                     lambda: dict(config=gqa_cfg()))
    ex["mlbook.attention.GroupedQueryAttention.new_cache"] = E(
        lambda **kw: gqa().new_cache(**kw),
        lambda: dict(batch_size=2, max_len=8, dtype=None, device=None),
        extra={"max_len": COUNT},
        accepts={"dtype": {"none": "None: the module's dtype"}},
        kinds={"dtype": ["string", "zero"]}, skip={"device": DEVICE})
    ex["mlbook.attention.GroupedQueryAttention.forward"] = E(
        lambda **kw: gqa()(**kw), lambda: dict(x=x(), cache=None),
        accepts={"x": TENSOR_NAN, "cache": {"none": "None: no KV cache"}},
        kinds={"cache": ["string", "zero"]})
    ex["mlbook.attention.GroupedQueryAttention.forward[cache]"] = E(
        lambda cache: gqa()(x(), cache), lambda: dict(cache=at.GroupedKVCache(2, 2, 4, 8)),
        extra={"cache": {"too_short": (lambda v: at.GroupedKVCache(2, 2, 4, 3),
                                       lambda v: st.just(at.GroupedKVCache(2, 2, 4, 4))),
                         "other_batch": (lambda v: at.GroupedKVCache(3, 2, 4, 8),
                                         lambda v: st.just(at.GroupedKVCache(1, 2, 4, 8))),
                         "latent": (lambda v: at.LatentKVCache(2, 8, 4, 8),
                                    lambda v: st.just(at.LatentKVCache(2, 8, 4, 8)))}},
        accepts={"cache": {"none": "None: no KV cache"}})
    ex["mlbook.attention.MultiHeadLatentAttention"] = E(at.MultiHeadLatentAttention,
                                                        lambda: dict(config=mla_cfg()))
    ex["mlbook.attention.MultiHeadLatentAttention.new_cache"] = E(
        lambda **kw: mla().new_cache(**kw),
        lambda: dict(batch_size=2, max_len=8, dtype=None, device=None),
        extra={"max_len": COUNT},
        accepts={"dtype": {"none": "None: the module's dtype"}},
        kinds={"dtype": ["string", "zero"]}, skip={"device": DEVICE})
    for m in ("queries", "latents"):
        ex[f"mlbook.attention.MultiHeadLatentAttention.{m}"] = E(
            lambda _m=m, **kw: getattr(mla(), _m)(**kw), lambda: dict(x=x(), start=0),
            extra={"start": NONNEG}, accepts={"x": TENSOR_NAN})
    def mla_pieces():
        with torch.no_grad():
            q_nope, q_rope = mla().queries(x())
            c_kv, k_rope = mla().latents(x())
        return dict(q_nope=q_nope, q_rope=q_rope, c_kv=c_kv, k_rope=k_rope)
    for m in ("explicit_attention", "absorbed_attention"):
        ex[f"mlbook.attention.MultiHeadLatentAttention.{m}"] = E(
            lambda _m=m, **kw: getattr(mla(), _m)(**kw), mla_pieces,
            accepts={name: TENSOR_NAN for name in ("q_nope", "q_rope", "c_kv", "k_rope")})
    ex["mlbook.attention.MultiHeadLatentAttention.forward"] = E(
        lambda **kw: mla()(**kw), lambda: dict(x=x(), cache=None, absorb=True),
        accepts={"x": TENSOR_NAN, "cache": {"none": "None: no KV cache"}},
        kinds={"cache": ["string", "zero"]})
    ex["mlbook.attention.SwappedAttention"] = E(at.SwappedAttention,
                                                  lambda: dict(attention=gqa()))
    ex["mlbook.attention.SwappedAttention.forward"] = E(
        lambda **kw: at.SwappedAttention(gqa())(**kw),
        lambda: dict(x=x(), cos=None, sin=None, cache=None),
        accepts={"x": TENSOR_NAN, "cache": {"none": "None: the only value it takes"}},
        kinds={"cache": ["string", "zero"]},
        skip={"cos": "not used: the wrapped module makes its own rotary tables",
              "sin": "not used: the wrapped module makes its own rotary tables"})

    def rope_tables(t=5, d=4):
        from mlbook.llm.llama import rope_cos_sin
        return rope_cos_sin(torch.arange(t), d)
    ex["mlbook.attention.apply_rope_pairs"] = E(
        at.apply_rope_pairs, lambda: dict(x=_t(2, 5, 4), cos=rope_tables()[0],
                                          sin=rope_tables()[1]),
        extra={"cos": {"row": (lambda v: v[0], lambda v: st.just(v[0]))}},
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., T, d): any leading axes"},
                 "cos": TENSOR_NAN, "sin": TENSOR_NAN})
    ex["mlbook.attention.decode_step_by_step"] = E(
        at.decode_step_by_step, lambda: dict(module=mla(), x=x(), prefill=2, absorb=True,
                                             progress=False),
        extra={"prefill": {"negative": KINDS["negative"],
                           "out_of_range": (lambda v: 5, lambda v: st.integers(5, 10**6))}},
        kinds={"progress": ["none", "string", "zero"]})
    ex["mlbook.attention.dtype_bits"] = E(
        at.dtype_bits, lambda: dict(dtype=torch.float16),
        extra={"dtype": {"nan": KINDS["nan"], "inf": KINDS["inf"], "bool": KINDS["bool"],
                         "negative": KINDS["negative"],
                         "above_64": (lambda v: 65, lambda v: st.integers(65, 10**6))}})
    ex["mlbook.attention.kv_cache_bytes"] = E(
        at.kv_cache_bytes, lambda: dict(config=gqa_cfg(), dtype=torch.bfloat16, n_layers=2,
                                        tokens=3, batch_size=1),
        extra={"n_layers": COUNT, "tokens": COUNT},
        accepts={"n_layers": {"none": "None: config.n_layers"}},
        kinds={"dtype": ["none", "string", "zero"]})
    ex["mlbook.attention.kv_cache_elements"] = E(at.kv_cache_elements,
                                                 lambda: dict(config=mla_cfg()))
    ex["mlbook.attention.longest_context"] = E(
        at.longest_context, lambda: dict(config=gqa_cfg(), memory_bytes=80e9,
                                         dtype=torch.bfloat16, n_layers=2, batch_size=1),
        extra={"memory_bytes": NONNEG, "n_layers": COUNT},
        accepts={"n_layers": {"none": "None: config.n_layers"}},
        kinds={"dtype": ["none", "string", "zero"]})
    ex["mlbook.attention.mean_pool_kv_heads"] = E(
        at.mean_pool_kv_heads, lambda: dict(module=gqa(), n_kv_heads=1),
        extra={"n_kv_heads": {**COUNT, "not_a_divisor": (lambda v: 3, lambda v: st.just(3))}})
    ex["mlbook.attention.mla_from_gqa"] = E(at.mla_from_gqa, lambda: dict(
        module=at.GroupedQueryAttention(at.GQAConfig(16, 4, 1))))
    ex["mlbook.attention.mla_as_mqa"] = E(at.mla_as_mqa, lambda: dict(module=mla(), x=x()))
    ex["mlbook.attention.llama_with_attention"] = E(
        at.llama_with_attention, lambda: dict(llama_config=_small_llama_config(),
                                              attention=gqa_cfg(), seed=0),
        extra={"attention": {"other_width": (lambda v: at.GQAConfig(32, 4, 2),
                                             lambda v: st.just(at.GQAConfig(8, 2, 1)))}},
        accepts=NO_GRAD_SEED)
    ex["mlbook.attention.train_attention_variants"] = E(
        at.train_attention_variants, lambda: dict(
            variants={"MQA": at.GQAConfig(16, 2, 1)}, llama_config=_small_llama_config(),
            train_ids=_ids(200), val_ids=_ids(40, seed=1), train_config=_tiny_train_config(),
            seed=0, progress=False),
        extra={"train_ids": _token_kinds(50), "val_ids": _token_kinds(50),
               "variants": {"empty": (lambda v: {}, lambda v: st.just({})),
                            "not_a_config": (lambda v: {"MHA": 3}, lambda v: st.just(
                                {"MHA": "gqa"}))}},
        accepts={"val_ids": {"none": "None: no validation",
                             "mismatched": "a token stream of any length"},
                 "train_ids": {"mismatched": "a token stream of any length"}, **NO_GRAD_SEED},
        kinds={"progress": ["none", "string", "zero"], "variants": ["none", "string", "zero"]})
    ex["mlbook.attention.mla_decode_seconds"] = E(
        at.mla_decode_seconds, lambda: dict(config=mla_cfg(), context_lengths=[3],
                                            repeats=1, batch_size=1, seed=0, progress=False),
        extra={"context_lengths": {"negative_entry": KINDS["negative_entry"],
                                   "zero_entry": (lambda v: [0], lambda v: st.just([0]))},
               "repeats": COUNT},
        accepts=NO_GRAD_SEED, kinds={"progress": ["none", "string", "zero"]})

    # -- flash: softmax, tiles, attention, IO counts, memory
    ex["mlbook.attention.IOCounter"] = E(at.IOCounter, lambda: dict(reads=0, writes=0, tiles=0),
                                         extra={"reads": NONNEG, "writes": NONNEG,
                                                "tiles": NONNEG})
    for m in ("read", "write"):
        ex[f"mlbook.attention.IOCounter.{m}"] = E(
            lambda _m=m, items=None: getattr(at.IOCounter(), _m)(items),
            lambda: dict(items=5), extra={"items": NONNEG})
        ex[f"mlbook.attention.IOCounter.{m}[tensor]"] = E(
            lambda _m=m, items=None: getattr(at.IOCounter(), _m)(items),
            lambda: dict(items=_t(2, 3)),
            accepts={"items": {"nan_entry": "counts elements: the values are not read",
                               "inf_entry": "counts elements: the values are not read",
                               "wrong_dtype": "counts elements of any dtype",
                               "mismatched": "counts elements of any shape",
                               "extra_axis": "counts elements of any shape",
                               "empty": "an empty tensor moves 0 elements"}})
    softmax_accepts = {"x": {"extra_axis": "softmax over the last axis of any shape",
                             "mismatched": "any length of the last axis"}}
    softmax_kinds = {"x": ["none", "string", "empty", "extra_axis", "wrong_dtype",
                           "mismatched", "nan_entry"]}
    for f in ("naive_softmax", "safe_softmax"):
        ex[f"mlbook.attention.{f}"] = E(
            getattr(at, f), lambda: dict(x=_t(2, 6), counter=at.IOCounter()),
            extra={"x": {"inf_entry": POS_INF}},
            accepts={**softmax_accepts, "counter": {"none": "None: nothing is counted"}},
            kinds={**softmax_kinds, "counter": ["string", "zero"]})
    ex["mlbook.attention.online_softmax"] = E(
        at.online_softmax, lambda: dict(x=_t(2, 6), block_size=2, counter=None),
        extra={"x": {"inf_entry": POS_INF}, "block_size": COUNT},
        accepts={**softmax_accepts, "counter": {"none": "None: nothing is counted"}},
        kinds={**softmax_kinds, "counter": ["string", "zero"]})
    ex["mlbook.attention.online_softmax_trace"] = E(
        at.online_softmax_trace, lambda: dict(x=_t(6)),
        extra={"x": {"inf_entry": POS_INF}},
        accepts={"x": {"mismatched": "any length"}}, kinds=softmax_kinds)
    ex["mlbook.attention.block_sizes"] = E(at.block_sizes, lambda: dict(sram_size=256, d=8),
                                           extra={"sram_size": COUNT, "d": COUNT})
    ex["mlbook.attention.sram_footprint"] = E(
        at.sram_footprint, lambda: dict(block_rows=4, block_cols=4, d=8),
        extra={"block_rows": COUNT, "block_cols": COUNT, "d": COUNT})
    tile_kw = dict(is_causal=True, loop_order="q_outer")
    tile_common = dict(extra={"n_q": COUNT, "n_k": COUNT, "d": COUNT, "block_rows": COUNT,
                              "block_cols": COUNT, "sram_size": COUNT},
                       kinds={"is_causal": ["none", "string", "zero"]})
    ex["mlbook.attention.tile_steps"] = E(at.tile_steps, lambda: dict(
        n_q=6, n_k=5, d=4, block_rows=2, block_cols=3, sram_size=None, **tile_kw),
        accepts={"n_k": {"none": "None: n_q"}, "block_rows": {"none": "None: 64"},
                 "block_cols": {"none": "None: 64"},
                 "sram_size": {"none": "None: tiles from block_rows, block_cols"}},
        **tile_common)
    ex["mlbook.attention.tile_steps[sram_size]"] = E(at.tile_steps, lambda: dict(
        n_q=6, d=4, sram_size=64), extra={"sram_size": {**COUNT, "too_small": (
            lambda v: 15, lambda v: st.integers(1, 15))}},
        accepts={"sram_size": {"none": "None: tiles of 64 x 64"}})
    ex["mlbook.attention.tile_schedule"] = E(at.tile_schedule, lambda: dict(
        n_q=6, n_k=5, block_rows=2, block_cols=3, **tile_kw),
        accepts={"n_k": {"none": "None: n_q"}}, **tile_common)
    ex["mlbook.attention.dropout_mask"] = E(at.dropout_mask, lambda: dict(
        shape=(2, 4, 6), dropout_p=0.1, seed=1, rows=(1, 3), cols=None, dtype=torch.float32,
        device="cpu"),
        extra={"dropout_p": {"negative": KINDS["negative"], "above_one": KINDS["above_one"],
                             "one": (lambda v: 1.0, lambda v: st.just(1.0))},
               "shape": {"empty": (lambda v: (), lambda v: st.just(())),
                         "zero_entry": (lambda v: (2, 0, 6), lambda v: st.just((4, 0))),
                         "one_axis": (lambda v: (6,), lambda v: st.just((4,)))},
               "rows": {"out_of_range": (lambda v: (2, 9), lambda v: st.just((0, 5))),
                        "reversed": (lambda v: (3, 1), lambda v: st.just((2, 2)))},
               "cols": {"out_of_range": (lambda v: (5, 7), lambda v: st.just((-1, 2)))},
               "dtype": {"integer": (lambda v: torch.int64, lambda v: st.just(torch.bool))}},
        accepts={"rows": {"none": "None: all rows"}, "cols": {"none": "None: all columns"},
                 "seed": {"none": "None: fresh randomness (mlbook.checks.check_integer_seed)"}},
        kinds={"cols": ["string", "zero"], "dtype": ["none", "string", "zero"]},
        skip={"device": DEVICE})
    qkv = lambda: dict(q=_t(2, 5, 4), k=_t(2, 7, 4, seed=1), v=_t(2, 7, 4, seed=2))  # noqa: E731
    flags = {"is_causal": ["none", "string", "zero"]}
    scale_extra = {"scale": {"negative": KINDS["negative"], "zero": KINDS["zero"],
                             "nan": KINDS["nan"], "inf": KINDS["inf"], "bool": KINDS["bool"]}}
    ex["mlbook.attention.standard_attention"] = E(at.standard_attention, lambda: dict(
        **qkv(), is_causal=True, scale=None, counter=None, return_probs=True,
        dropout_mask=at.dropout_mask((2, 5, 7), 0.1, 3)),
        extra={**scale_extra, "dropout_mask": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"scale": {"none": "None: 1/sqrt(d)"},
                 "counter": {"none": "None: nothing is counted"},
                 "dropout_mask": {"none": "None: no dropout"}},
        kinds={**flags, "return_probs": ["none", "string", "zero"],
               "counter": ["string", "zero"]})

    def _probs():
        q, k, v = qkv().values()
        return at.standard_attention(q, k, v, return_probs=True)[1]
    ex["mlbook.attention.standard_attention_backward"] = E(
        at.standard_attention_backward, lambda: dict(**qkv(), p=_probs(),
                                                     grad_out=_t(2, 5, 4, seed=3), scale=0.5,
                                                     counter=None),
        extra={**scale_extra, "p": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"scale": {"none": "None: 1/sqrt(d)"},
                 "counter": {"none": "None: nothing is counted"}},
        kinds={"counter": ["string", "zero"]})
    flash_kw = dict(is_causal=True, scale=None, block_rows=2, block_cols=3, sram_size=None,
                    loop_order="kv_outer", counter=None, dropout_p=0.0, dropout_seed=None)
    flash_accepts = {"scale": {"none": "None: 1/sqrt(d)"},
                     "counter": {"none": "None: nothing is counted"},
                     "block_rows": {"none": "None: 64"}, "block_cols": {"none": "None: 64"},
                     "sram_size": {"none": "None: tiles from block_rows, block_cols"},
                     "dropout_seed": {"none": "None: no dropout (dropout_p = 0)",
                                      "zero": "0 is a seed (unused while dropout_p = 0)"}}
    flash_extra = {**scale_extra, "block_rows": COUNT, "block_cols": COUNT,
                   "dropout_p": {"negative": KINDS["negative"], "above_one": KINDS["above_one"],
                                 "one": (lambda v: 1.0, lambda v: st.just(1.0))}}
    flash_kinds = {**flags, "counter": ["string", "zero"], "dropout_p": ["none", "string",
                                                                          "nan", "inf", "bool"]}
    ex["mlbook.attention.flash_attention_forward"] = E(
        at.flash_attention_forward, lambda: dict(**qkv(), **flash_kw),
        extra=flash_extra, accepts=flash_accepts, kinds=flash_kinds)
    for f in ("forward_kv_outer", "forward_q_outer"):
        ex[f"mlbook.attention.{f}"] = E(
            getattr(at, f), lambda: dict(**qkv(), **{k: v for k, v in flash_kw.items()
                                                     if k != "loop_order"}),
            extra=flash_extra, accepts=flash_accepts, kinds=flash_kinds)
    ex["mlbook.attention.flash_attention_forward[dropout]"] = E(
        lambda dropout_seed: at.flash_attention_forward(*qkv().values(), dropout_p=0.2,
                                                        dropout_seed=dropout_seed),
        lambda: dict(dropout_seed=7),
        extra={"dropout_seed": {"negative": KINDS["negative"],
                                "too_large": (lambda v: 2 ** 63, lambda v: st.just(2 ** 64))}})

    def _fwd():
        q, k, v = qkv().values()
        return at.flash_attention_forward(q, k, v, is_causal=True, block_rows=2, block_cols=3)
    ex["mlbook.attention.flash_attention_backward"] = E(
        at.flash_attention_backward, lambda: dict(
            **qkv(), o=_fwd()[0], lse=_fwd()[1], grad_out=_t(2, 5, 4, seed=3),
            **{k: v for k, v in flash_kw.items() if k != "loop_order"}),
        # an lse of -inf is a row whose keys are all masked (valid); +inf is refused
        extra={**flash_extra, "lse": {"inf_entry": (lambda v: _with_entry(v, INF),
                                                    lambda v: st.just(_with_entry(v, INF)))}},
        accepts=flash_accepts, kinds=flash_kinds)
    ex["mlbook.attention.flash_attention"] = E(
        at.flash_attention, lambda: dict(**qkv(), **flash_kw, generator=None),
        extra=flash_extra,
        accepts={**flash_accepts, "generator": {"none": "None: PyTorch's default generator"}},
        kinds={**flash_kinds, "generator": ["string", "zero"]})
    ex["mlbook.attention.merge_attention_partials"] = E(
        at.merge_attention_partials, lambda: dict(outputs=_t(2, 1, 3, 4), lses=_t(2, 1, 3)),
        extra={"lses": {"inf_entry": POS_INF}},
        accepts={"outputs": {"mismatched": "any head width d"}},
        kinds={"lses": ["none", "string", "empty", "extra_axis", "wrong_dtype", "mismatched",
                        "nan_entry"]})
    ex["mlbook.attention.flash_decoding"] = E(at.flash_decoding, lambda: dict(
        q=_t(2, 1, 4), k=_t(2, 7, 4, seed=1), v=_t(2, 7, 4, seed=2), num_splits=2, scale=None,
        block_cols=3, counter=None, return_lse=True),
        extra={**scale_extra, "num_splits": {**COUNT, "above_n_k": (
            lambda v: 8, lambda v: st.integers(8, 10**6))}, "block_cols": COUNT},
        accepts={"scale": {"none": "None: 1/sqrt(d)"}, "block_cols": {"none": "None: 64"},
                 "counter": {"none": "None: nothing is counted"}},
        kinds={"counter": ["string", "zero"], "return_lse": ["none", "string", "zero"]})
    io_extra = {"n_q": COUNT, "n_k": COUNT, "d": COUNT, "batch": COUNT}
    ex["mlbook.attention.standard_attention_io"] = E(at.standard_attention_io, lambda: dict(
        n_q=6, n_k=5, d=4, is_causal=True, backward=True, batch=2), extra=io_extra,
        accepts={"n_k": {"none": "None: n_q"}},
        kinds={"is_causal": ["none", "string", "zero"], "backward": ["none", "string", "zero"]})
    ex["mlbook.attention.flash_attention_io"] = E(at.flash_attention_io, lambda: dict(
        n_q=6, n_k=5, d=4, block_rows=2, block_cols=3, sram_size=None, is_causal=True,
        loop_order="q_outer", backward=True, batch=2),
        extra={**io_extra, "block_rows": COUNT, "block_cols": COUNT},
        accepts={"n_k": {"none": "None: n_q"}, "block_rows": {"none": "None: 64"},
                 "block_cols": {"none": "None: 64"},
                 "sram_size": {"none": "None: tiles from block_rows, block_cols"}},
        kinds={"is_causal": ["none", "string", "zero"], "backward": ["none", "string", "zero"]})
    ex["mlbook.attention.standard_io_bound"] = E(at.standard_io_bound,
                                                 lambda: dict(n=1024.0, d=64.0),
                                                 extra={"n": COUNT, "d": COUNT})
    ex["mlbook.attention.flash_io_bound"] = E(at.flash_io_bound,
                                              lambda: dict(n=1024.0, d=64.0, sram_size=1e5),
                                              extra={"n": COUNT, "d": COUNT, "sram_size": COUNT})
    ex["mlbook.memory.peak_rss_increase"] = E(at.peak_rss_increase,
                                                 lambda: dict(fn=lambda: torch.zeros(10)))
    ex["mlbook.attention.attention_peak_memory"] = E(at.attention_peak_memory, lambda: dict(
        n_values=[8], d=4, block_rows=4, block_cols=4, is_causal=False, seed=0,
        progress=False),
        extra={"n_values": {"negative_entry": KINDS["negative_entry"],
                            "zero_entry": (lambda v: [0], lambda v: st.just([0]))},
               "d": COUNT, "block_rows": COUNT, "block_cols": COUNT},
        accepts=NO_GRAD_SEED,
        kinds={"is_causal": ["none", "string", "zero"], "progress": ["none", "string", "zero"]})
    return ex


def _vlm_examples() -> dict[str, Example]:
    from mlbook import vlm
    from mlbook.vlm import model as vm
    from mlbook.vlm import moonvit as mv
    E = Example
    ex: dict[str, Example] = {}
    vit_cfg = lambda: vlm.MoonViTConfig(  # noqa: E731
        patch_size=4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, init_pos_emb_height=2, init_pos_emb_width=2, num_channels=1,
        merge_kernel_size=2)
    grids = lambda: [[2, 2], [2, 4]]  # noqa: E731   two images: 4 + 8 = 12 patches
    pixels = lambda: _t(12, 1, 4, 4)  # noqa: E731
    grid_extra = {"grid_hws": {"negative_entry": KINDS["negative_entry"],
                               "zero_entry": (lambda v: [[2, 0], [2, 4]],
                                              lambda v: st.just([[0, 2]])),
                               "non_integer": (lambda v: [[2.5, 2], [2, 4]],
                                               lambda v: st.just([[1.5, 2]]))}}
    grid_kinds = {"grid_hws": ["none", "string", "empty", "extra_axis"]}

    # -- moonvit
    ex["mlbook.vlm.MoonViTConfig"] = E(vlm.MoonViTConfig, lambda: dict(
        patch_size=4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, init_pos_emb_height=2, init_pos_emb_width=2, num_channels=1,
        rope_theta=10000.0, merge_kernel_size=2, layer_norm_eps=1e-5),
        extra={**{n: COUNT for n in ("patch_size", "hidden_size", "num_hidden_layers",
                                     "num_attention_heads", "intermediate_size",
                                     "init_pos_emb_height", "init_pos_emb_width",
                                     "num_channels", "merge_kernel_size", "layer_norm_eps")},
               "rope_theta": {**COUNT, "one": ONE}})
    ex["mlbook.vlm.patch_grid"] = E(vlm.patch_grid, lambda: dict(height=8, width=12,
                                                                 patch_size=4),
                                    extra={"height": {**COUNT, "not_multiple": (
                                        lambda v: 9, lambda v: st.just(10))},
                                           "width": COUNT, "patch_size": COUNT})
    ex["mlbook.vlm.pad_to_multiple"] = E(vlm.pad_to_multiple, lambda: dict(
        image=_t(1, 6, 10), multiple=4, value=0.0),
        extra={"multiple": COUNT},
        accepts={"image": {"wrong_dtype": "any dtype: an integer image is padded as one",
                           "mismatched": "images of any width"}})
    ex["mlbook.vlm.patchify"] = E(vlm.patchify, lambda: dict(image=_t(1, 8, 12), patch_size=4),
                                  extra={"patch_size": COUNT},
                                  accepts={"image": {"wrong_dtype": "any dtype: the pixels "
                                                     "are only rearranged"}})
    ex["mlbook.vlm.unpatchify"] = E(vlm.unpatchify, lambda: dict(patches=_t(6, 1, 4, 4),
                                                                 grid=(2, 3)),
                                    extra={"grid": {"wrong_count": (lambda v: (3, 3),
                                                                    lambda v: st.just((1, 5))),
                                                    "negative": (lambda v: (-2, -3),
                                                                 lambda v: st.just((2, -3)))}},
                                    accepts={"patches": {"wrong_dtype": "any dtype: the "
                                                         "pixels are only rearranged"}})
    ex["mlbook.vlm.pack_images"] = E(vlm.pack_images, lambda: dict(
        images=[_t(1, 8, 8), _t(1, 8, 16, seed=1)], patch_size=4), extra={"patch_size": COUNT})
    ex["mlbook.vlm.pack_images[image]"] = E(
        lambda image: vlm.pack_images([_t(1, 8, 8), image], 4), lambda: dict(image=_t(1, 8, 16)),
        accepts={"image": {"wrong_dtype": "any dtype, as patchify"}}, names={"image": "images"})
    for f in ("sequence_lengths", "cu_seqlens", "block_diagonal_mask", "grid_positions"):
        ex[f"mlbook.vlm.{f}"] = E(getattr(vlm, f), lambda: dict(grid_hws=grids()),
                                  extra=grid_extra, kinds=grid_kinds)
    ex["mlbook.vlm.VarlenGroups[from_grids]"] = E(
        vlm.VarlenGroups.from_grids, lambda: dict(grid_hws=grids(), device=None),
        extra=grid_extra, kinds=grid_kinds, skip={"device": DEVICE})

    def _groups():
        return vlm.VarlenGroups.from_grids(grids())
    ex["mlbook.vlm.varlen_attention"] = E(vlm.varlen_attention, lambda: dict(
        q=_t(2, 12, 8), k=_t(2, 12, 8, seed=1), v=_t(2, 12, 8, seed=2), groups=_groups()),
        accepts={n: TENSOR_NAN for n in ("q", "k", "v")})
    ex["mlbook.vlm.token_counts"] = E(vlm.token_counts, lambda: dict(
        height=56, width=112, patch_size=14, merge_kernel_size=2),
        extra={"height": COUNT, "width": COUNT, "patch_size": COUNT,
               "merge_kernel_size": {**COUNT, "not_a_divisor": (lambda v: 3,
                                                                lambda v: st.just(3))}})
    for f in ("rope_2d_angles", "rope_2d_cos_sin"):
        ex[f"mlbook.vlm.{f}"] = E(getattr(vlm, f), lambda: dict(grid_hws=grids(), head_dim=8,
                                                                theta=10000.0),
                                  extra={**grid_extra, "head_dim": {
                                      **COUNT, "not_a_multiple_of_4": (lambda v: 6,
                                                                       lambda v: st.just(2))},
                                      "theta": {**COUNT, "one": ONE}}, kinds=grid_kinds)
    ex["mlbook.vlm.rotate_pairs"] = E(vlm.rotate_pairs, lambda: dict(x=_t(2, 3, 8)),
                                      accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., hd): "
                                                     "any leading axes"}},
                                      extra={"x": {"odd": (lambda v: v[..., :-1],
                                                           lambda v: st.just(v[..., :3]))}},
                                      kinds={"x": ["none", "string", "empty", "extra_axis",
                                                   "wrong_dtype", "nan_entry", "inf_entry"]})

    def _cos_sin():
        return vlm.rope_2d_cos_sin(grids(), 8)
    ex["mlbook.vlm.apply_rope_2d"] = E(vlm.apply_rope_2d, lambda: dict(
        x=_t(2, 12, 8), cos=_cos_sin()[0], sin=_cos_sin()[1]),
        extra={"cos": {"row": (lambda v: v[0], lambda v: st.just(v[0]))}},
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., L, hd): any leading axes"},
                 "cos": TENSOR_NAN, "sin": TENSOR_NAN})
    ex["mlbook.vlm.moonvit.Learnable2DInterpPosEmb"] = E(
        mv.Learnable2DInterpPosEmb, lambda: dict(height=2, width=2, dim=16),
        extra={"height": COUNT, "width": COUNT, "dim": COUNT})
    pos = lambda: mv.Learnable2DInterpPosEmb(2, 2, 16)  # noqa: E731
    ex["mlbook.vlm.moonvit.Learnable2DInterpPosEmb.embeddings"] = E(
        lambda grid_hws: pos().embeddings(grid_hws), lambda: dict(grid_hws=grids()),
        extra=grid_extra, kinds=grid_kinds)
    ex["mlbook.vlm.moonvit.Learnable2DInterpPosEmb.forward"] = E(
        lambda **kw: pos()(**kw), lambda: dict(x=_t(12, 16), grid_hws=grids()),
        extra=grid_extra, kinds=grid_kinds, accepts={"x": TENSOR_NAN})
    ex["mlbook.vlm.moonvit.MoonVisionPatchEmbed"] = E(mv.MoonVisionPatchEmbed,
                                                      lambda: dict(config=vit_cfg()))
    ex["mlbook.vlm.moonvit.MoonVisionPatchEmbed.forward"] = E(
        lambda **kw: mv.MoonVisionPatchEmbed(vit_cfg())(**kw),
        lambda: dict(pixel_values=pixels(), grid_hws=grids()),
        extra=grid_extra, kinds=grid_kinds, accepts={"pixel_values": TENSOR_NAN})
    ex["mlbook.vlm.moonvit.MoonViTMLP"] = E(mv.MoonViTMLP, lambda: dict(config=vit_cfg()))
    ex["mlbook.vlm.moonvit.MoonViTMLP.forward"] = E(
        lambda x: mv.MoonViTMLP(vit_cfg())(x), lambda: dict(x=_t(12, 16)),
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., D): any leading axes"}})
    ex["mlbook.vlm.moonvit.MoonViTEncoderLayer"] = E(mv.MoonViTEncoderLayer,
                                                     lambda: dict(config=vit_cfg()))
    for m in ("forward", "attention"):
        ex[f"mlbook.vlm.moonvit.MoonViTEncoderLayer.{m}"] = E(
            lambda _m=m, **kw: getattr(mv.MoonViTEncoderLayer(vit_cfg()), _m)(**kw),
            lambda: dict(x=_t(12, 16), cos=_cos_sin()[0], sin=_cos_sin()[1],
                         mask=vlm.block_diagonal_mask(grids())),
            extra={"mask": {"float_mask": (lambda v: v.float(), lambda v: st.just(v.long()))}},
            accepts={"x": TENSOR_NAN, "cos": TENSOR_NAN, "sin": TENSOR_NAN,
                     "mask": {"none": "None: one image, no mask"}},
            kinds={"mask": ["string", "zero", "empty", "extra_axis", "mismatched"]})
    ex["mlbook.vlm.moonvit.MoonViTEncoderLayer.forward[varlen]"] = E(
        lambda mask: mv.MoonViTEncoderLayer(vit_cfg())(_t(12, 16), *_cos_sin(), mask),
        lambda: dict(mask=_groups()),
        extra={"mask": {"other_pack": (lambda v: vlm.VarlenGroups.from_grids([[2, 2]]),
                                       lambda v: st.just(vlm.VarlenGroups.from_grids(
                                           [[4, 4]])))}},
        accepts={"mask": {"none": "None: one image, no mask"}})
    ex["mlbook.vlm.moonvit.MoonViTEncoder"] = E(mv.MoonViTEncoder,
                                                lambda: dict(config=vit_cfg()))
    ex["mlbook.vlm.moonvit.MoonViTEncoder.forward"] = E(
        lambda **kw: mv.MoonViTEncoder(vit_cfg())(**kw),
        lambda: dict(x=_t(12, 16), grid_hws=grids()), extra=grid_extra, kinds=grid_kinds,
        accepts={"x": TENSOR_NAN})
    ex["mlbook.vlm.MoonViT"] = E(vlm.MoonViT, lambda: dict(config=vit_cfg(), seed=0),
                                 accepts={"seed": {"none": "None: PyTorch's global generator"}})
    viti = lambda: vlm.MoonViT(vit_cfg(), seed=0)  # noqa: E731
    ex["mlbook.vlm.MoonViT.forward"] = E(
        lambda **kw: viti()(**kw), lambda: dict(pixel_values=pixels(), grid_hws=grids()),
        extra=grid_extra, kinds=grid_kinds, accepts={"pixel_values": TENSOR_NAN})
    for m in ("encode", "encode_separately"):
        ex[f"mlbook.vlm.MoonViT.{m}"] = E(
            lambda _m=m, **kw: getattr(viti(), _m)(**kw),
            lambda: dict(images=[_t(1, 8, 8), _t(1, 8, 16, seed=1)]))

    # -- projector
    proj_extra = {"k": {**COUNT, "not_a_divisor": (lambda v: 3, lambda v: st.just(4))}}
    ex["mlbook.vlm.merged_grid_hws"] = E(vlm.merged_grid_hws, lambda: dict(
        grid_hws=grids(), k=2), extra={**grid_extra, **proj_extra}, kinds=grid_kinds)
    ex["mlbook.vlm.pixel_shuffle"] = E(vlm.pixel_shuffle, lambda: dict(
        x=_t(12, 16), grid_hws=grids(), k=2), extra={**grid_extra, **proj_extra},
        kinds=grid_kinds,
        accepts={"x": {**TENSOR_NAN, "mismatched": "features of any width D",
                       "wrong_dtype": "any dtype: the features are only rearranged"}})
    ex["mlbook.vlm.pixel_unshuffle"] = E(vlm.pixel_unshuffle, lambda: dict(
        y=_t(3, 64), grid_hws=grids(), k=2), extra={**grid_extra, **proj_extra},
        kinds=grid_kinds,
        accepts={"y": {**TENSOR_NAN,
                       "wrong_dtype": "any dtype: the features are only rearranged"}})
    ex["mlbook.vlm.MLPProjector"] = E(vlm.MLPProjector, lambda: dict(
        vision_dim=16, text_dim=8, k=2, eps=1e-5),
        extra={"vision_dim": COUNT, "text_dim": COUNT, "k": COUNT, "eps": COUNT})
    ex["mlbook.vlm.MLPProjector.forward"] = E(lambda y: vlm.MLPProjector(16, 8)(y),
                                              lambda: dict(y=_t(3, 64)),
                                              accepts={"y": TENSOR_NAN})
    ex["mlbook.vlm.projector_parameters"] = E(vlm.projector_parameters, lambda: dict(
        vision_dim=16, text_dim=8, k=2), extra={"vision_dim": COUNT, "text_dim": COUNT,
                                                "k": COUNT})

    # -- moe
    moe_cfg = lambda **kw: vlm.MoEConfig(**{**dict(  # noqa: E731
        hidden_size=8, moe_intermediate_size=8, n_routed_experts=4, num_experts_per_tok=2,
        n_shared_experts=1), **kw})
    ex["mlbook.vlm.MoEConfig"] = E(vlm.MoEConfig, lambda: dict(
        hidden_size=8, moe_intermediate_size=8, n_routed_experts=4, num_experts_per_tok=2,
        n_shared_experts=1, scoring_func="sigmoid", balancing="bias", aux_loss_alpha=0.01,
        bias_update_speed=1e-3, norm_topk_prob=True, routed_scaling_factor=1.0),
        extra={"hidden_size": COUNT, "moe_intermediate_size": COUNT, "n_routed_experts": COUNT,
               "num_experts_per_tok": {**COUNT, "above_E": (lambda v: 5,
                                                            lambda v: st.integers(5, 10**6))},
               "n_shared_experts": NONNEG, "aux_loss_alpha": NONNEG,
               "bias_update_speed": NONNEG, "routed_scaling_factor": COUNT},
        kinds={"norm_topk_prob": ["none", "string", "zero"]})
    ex["mlbook.vlm.SwiGLUExpert"] = E(vlm.SwiGLUExpert, lambda: dict(hidden_size=8,
                                                                     intermediate_size=8),
                                      extra={"hidden_size": COUNT, "intermediate_size": COUNT})
    ex["mlbook.vlm.SwiGLUExpert.forward"] = E(lambda x: vlm.SwiGLUExpert(8, 8)(x),
                                              lambda: dict(x=_t(5, 8)),
                                              accepts={"x": {**TENSOR_NAN, "extra_axis":
                                                             "(..., D): any leading axes"}})
    ex["mlbook.vlm.TopKRouter"] = E(vlm.TopKRouter, lambda: dict(config=moe_cfg()))
    ex["mlbook.vlm.TopKRouter.forward"] = E(lambda x: vlm.TopKRouter(moe_cfg())(x),
                                            lambda: dict(x=_t(5, 8)), accepts={"x": TENSOR_NAN})
    ex["mlbook.vlm.MoE"] = E(vlm.MoE, lambda: dict(config=moe_cfg()))
    ex["mlbook.vlm.MoE.forward"] = E(lambda x: vlm.MoE(moe_cfg())(x), lambda: dict(x=_t(2, 5, 8)),
                                     accepts={"x": {**TENSOR_NAN, "extra_axis":
                                                    "(..., D): any leading axes"}})

    def _routed():
        moe = vlm.MoE(moe_cfg(balancing="aux_loss"))
        moe(_t(5, 8))
        return moe
    ex["mlbook.vlm.MoE.auxiliary_loss"] = E(lambda routing: _routed().auxiliary_loss(routing),
                                            lambda: dict(routing=_routed().last_routing))
    ex["mlbook.vlm.MoE.update_bias"] = E(lambda load: _routed().update_bias(load),
                                         lambda: dict(load=torch.tensor([3.0, 2.0, 4.0, 1.0])),
                                         extra={"load": {"negative_entry":
                                                         KINDS["negative_entry"]}},
                                         kinds={"load": ["none", "string", "empty",
                                                         "extra_axis", "mismatched",
                                                         "nan_entry", "inf_entry"]},
                                         accepts={"load": {"none": "None: the last forward's "
                                                           "load"}})
    ex["mlbook.vlm.moe_layer_parameter_counts"] = E(vlm.moe_layer_parameter_counts,
                                                    lambda: dict(config=moe_cfg()))
    from dataclasses import asdict
    sizes_kw = lambda: asdict(vlm.MOONLIGHT)  # noqa: E731
    ex["mlbook.vlm.MoELanguageModelSizes"] = E(
        vlm.MoELanguageModelSizes, lambda: {**sizes_kw(), "q_lora_rank": 256},
        extra={**{n: COUNT for n in ("vocab_size", "hidden_size", "num_hidden_layers",
                                     "intermediate_size", "moe_intermediate_size",
                                     "n_routed_experts", "num_attention_heads", "kv_lora_rank",
                                     "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                     "q_lora_rank")},
               "first_k_dense_replace": {**NONNEG, "above_layers": (
                   lambda v: 28, lambda v: st.integers(28, 10**6))},
               "n_shared_experts": NONNEG,
               "num_experts_per_tok": {**COUNT, "above_E": (lambda v: 65,
                                                            lambda v: st.integers(65, 10**6))}},
        accepts={"q_lora_rank": {"none": "None: a plain q_proj (Moonlight's)"}},
        kinds={"tie_word_embeddings": ["none", "string", "zero"]})
    ex["mlbook.vlm.MoELanguageModelSizes.replace"] = E(
        lambda hidden_size: vlm.MOONLIGHT.replace(hidden_size=hidden_size),
        lambda: dict(hidden_size=1024), extra={"hidden_size": COUNT})
    ex["mlbook.vlm.moe_lm_parameter_counts"] = E(vlm.moe_lm_parameter_counts,
                                                 lambda: dict(sizes=vlm.MOONLIGHT))
    ex["mlbook.vlm.to_transformers_state_dict"] = E(vlm.to_transformers_state_dict,
                                                    lambda: dict(moe=vlm.MoE(moe_cfg())))
    ex["mlbook.vlm.max_violation"] = E(vlm.max_violation, lambda: dict(
        load=np.array([3.0, 2.0, 4.0, 1.0])),
        extra={"load": {"negative_entry": KINDS["negative_entry"],
                        "all_zero": (lambda v: np.zeros(4), lambda v: st.just([0.0, 0.0]))}})
    ex["mlbook.vlm.MoEClassifier"] = E(vlm.MoEClassifier, lambda: dict(
        n_inputs=3, n_classes=2, config=moe_cfg()), extra={"n_inputs": COUNT,
                                                           "n_classes": COUNT})
    ex["mlbook.vlm.MoEClassifier.forward"] = E(lambda x: vlm.MoEClassifier(3, 2, moe_cfg())(x),
                                               lambda: dict(x=_t(6, 3)),
                                               accepts={"x": TENSOR_NAN})
    labels = lambda n, seed=0: torch.randint(0, 2, (n,), generator=_g(seed))  # noqa: E731
    ex["mlbook.vlm.train_balancing_demo"] = E(vlm.train_balancing_demo, lambda: dict(
        x_train=_t(20, 3), y_train=labels(20), x_test=_t(6, 3, seed=1),
        y_test=labels(6, seed=1), config=moe_cfg(), steps=2, batch_size=4, lr=3e-3, last=1,
        seed=0, progress=False),
        extra={"steps": COUNT, "batch_size": COUNT, "lr": COUNT,
               "last": {**COUNT, "above_steps": (lambda v: 3, lambda v: st.integers(3, 10**6))},
               "y_train": {"negative_entry": KINDS["negative_entry"]},
               "y_test": {"negative_entry": KINDS["negative_entry"]}},
        accepts={**NO_GRAD_SEED, "y_train": {"mismatched": "any number of examples (x_train "
                                                           "is checked against it)"},
                 "y_test": {"mismatched": "any number of examples (x_test is checked "
                                          "against it)"}},
        kinds={"progress": ["none", "string", "zero"]})

    def _run():
        from mlbook.vlm import BalanceRun
        cfg = moe_cfg()
        hist = [np.array([2.0, 2.0, 2.0, 2.0])] * 12
        return BalanceRun(cfg, hist[0], hist)
    ex["mlbook.vlm.step_violations"] = E(vlm.step_violations, lambda: dict(run=_run()))
    ex["mlbook.vlm.steps_to_balance"] = E(vlm.steps_to_balance, lambda: dict(
        run=_run(), threshold=0.5, window=4),
        extra={"threshold": COUNT, "window": {**COUNT, "above_steps": (
            lambda v: 13, lambda v: st.integers(13, 10**6))}})

    # -- model
    from mlbook.llm.llama import LlamaConfig
    from mlbook.llm.train import TrainConfig

    def _vlm_cfg():
        vocab = vlm.make_vocab()
        return vlm.VLMConfig(
            vision=vlm.MoonViTConfig(patch_size=4, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16,
                                     init_pos_emb_height=2, init_pos_emb_width=2,
                                     num_channels=1, merge_kernel_size=2),
            text=LlamaConfig(vocab_size=len(vocab), dim=16, n_layers=2, n_heads=2,
                             n_kv_heads=1, hidden_dim=16, max_seq_len=64),
            moe=moe_cfg(hidden_size=16, moe_intermediate_size=8), first_k_dense_replace=1)
    tiny = _lazy(lambda: vlm.TinyVLM(_vlm_cfg(), seed=0))

    def fresh():
        return vlm.TinyVLM(_vlm_cfg(), seed=0)
    pools = _lazy(lambda: vlm.digit_pools(0.3, 0))
    examples = _lazy(lambda: vlm.make_digit_vqa(pools()[0], pools()[1], 6, seed=0, grid=8))
    singles = _lazy(lambda: vlm.make_digit_vqa(pools()[0], pools()[1], 4, seed=1, grid=8,
                                               layouts=("single",)))
    vocab = _lazy(vlm.make_vocab)
    ex["mlbook.vlm.VLMConfig"] = E(vlm.VLMConfig, lambda: dict(
        vision=_vlm_cfg().vision, text=_vlm_cfg().text, moe=_vlm_cfg().moe,
        first_k_dense_replace=1),
        extra={"first_k_dense_replace": {**NONNEG, "above_layers": (
            lambda v: 3, lambda v: st.integers(3, 10**6))}})
    ex["mlbook.vlm.TinyVLM"] = E(vlm.TinyVLM, lambda: dict(config=_vlm_cfg(), seed=0),
                                 accepts={"seed": {"none": "None: PyTorch's global generator"}})
    ex["mlbook.vlm.TinyVLM.image_embeddings"] = E(
        lambda images: tiny().image_embeddings(images),
        lambda: dict(images=vlm.pack_images([_t(1, 8, 8), _t(1, 8, 16, seed=1)], 4)),
        extra={"images": {"odd_grid": (lambda v: vlm.pack_images([_t(1, 4, 8)], 4),
                                       lambda v: st.just(vlm.pack_images([_t(1, 12, 8)], 4)))}})
    ex["mlbook.llm.llama.LlamaModel.forward[inputs_embeds]"] = E(
                                        lambda inputs_embeds: tiny().language_model.model(
                                            inputs_embeds=inputs_embeds),
                                        lambda: dict(inputs_embeds=_t(2, 5, 16)),
                                        extra={"inputs_embeds": {"too_long": (
                                            lambda v: _t(1, 65, 16),
                                            lambda v: st.just(_t(1, 80, 16)))}},
                                        accepts={"inputs_embeds": TENSOR_NAN})
    ex["mlbook.vlm.TinyVLM.forward"] = E(
        lambda batch: tiny()(batch), lambda: dict(batch=vlm.collate(examples()[:2], vocab(), 4)))
    ex["mlbook.vlm.vlm_parameter_counts"] = E(vlm.vlm_parameter_counts,
                                              lambda: dict(config=_vlm_cfg()))
    ex["mlbook.vlm.WordVocab"] = E(vlm.WordVocab, lambda: dict(words=["a", "b", "c"]),
                                   extra={"words": {"not_words": (lambda v: [1, 2],
                                                                  lambda v: st.just(["a", 3]))}})
    ex["mlbook.vlm.WordVocab.encode"] = E(lambda text: vocab().encode(text),
                                          lambda: dict(text="what is the left digit ?"),
                                          extra={"text": {"unknown": (
                                              lambda v: "what is this", lambda v: st.just(
                                                  "zebra"))}},
                                          kinds={"text": ["none", "zero"]})
    ex["mlbook.vlm.WordVocab.decode"] = E(lambda ids: vocab().decode(ids),
                                          lambda: dict(ids=[3, 4, 5]),
                                          extra={"ids": {"negative_entry":
                                                         KINDS["negative_entry"],
                                                         "out_of_range": _entry_index_kind(
                                                             len(vlm.make_vocab()))}},
                                          accepts={"ids": {"empty": "no ids: the empty "
                                                           "string"}})
    ex["mlbook.vlm.digit_pools"] = E(vlm.digit_pools, lambda: dict(test_fraction=0.3, seed=0),
                                     extra={"test_fraction": {"zero": KINDS["zero"],
                                                              "negative": KINDS["negative"],
                                                              "one": ONE,
                                                              "above_one": KINDS["above_one"]}},
                                     accepts=NO_GRAD_SEED)
    digit = lambda: torch.rand(8, 8, generator=_g(0))  # noqa: E731
    ex["mlbook.vlm.render_example"] = E(vlm.render_example, lambda: dict(
        digits=[digit(), digit()], layout="row", scale=1, canvas=(8, 16), offset=(0, 0)),
        extra={"digits": {"too_many": (lambda v: [digit()] * 3,
                                       lambda v: st.just([digit()] * 4)),
                          "one": (lambda v: [digit()], lambda v: st.just([digit()]))},
               "scale": COUNT,
               "canvas": {"too_small": (lambda v: (8, 8), lambda v: st.just((4, 16))),
                          "negative": (lambda v: (-8, 16), lambda v: st.just((8, -1)))},
               "offset": {"negative": (lambda v: (-1, 0), lambda v: st.just((0, -4))),
                          "outside": (lambda v: (0, 8), lambda v: st.just((9, 0)))}},
        kinds={"layout": ["none", "bad_choice", "zero"]})
    ex["mlbook.vlm.render_example[single]"] = E(
        lambda digits: vlm.render_example(digits, "single", 2, (16, 16), (0, 0)),
        lambda: dict(digits=[digit()]),
        extra={"digits": {"two": (lambda v: [digit(), digit()],
                                  lambda v: st.just([digit()] * 2))}})
    ex["mlbook.vlm.render_example[digit]"] = E(
        lambda digit: vlm.render_example([digit], "single", 1, (8, 8), (0, 0)),
        lambda: dict(digit=digit()),
        accepts={"digit": {"wrong_dtype": "grey levels of any dtype (copied into the float "
                                          "canvas)"}}, names={"digit": "digits"})
    ex["mlbook.vlm.make_digit_vqa"] = E(vlm.make_digit_vqa, lambda: dict(
        images=pools()[0][:20], labels=pools()[1][:20], n=3, seed=0, grid=8, max_margin=4,
        layouts=("single", "row")),
        extra={"n": COUNT, "grid": COUNT, "max_margin": NONNEG,
               "labels": {"negative_entry": KINDS["negative_entry"],
                          "out_of_range": _entry_index_kind(10)}},
        accepts={"labels": {"mismatched": "as many labels as images: checked against images"},
                 "seed": {"none": "None: fresh entropy (mlbook.checks.check_seed)"}},
        kinds={"layouts": ["none", "string", "zero", "empty"]})
    ex["mlbook.vlm.collate"] = E(vlm.collate, lambda: dict(
        examples=examples()[:3], vocab=vocab(), patch_size=4, merge_kernel_size=2),
        extra={"patch_size": {**COUNT, "not_a_divisor": (lambda v: 3, lambda v: st.just(5))},
               "merge_kernel_size": {**COUNT, "not_a_divisor": (lambda v: 3,
                                                                lambda v: st.just(3))}},
        kinds={"examples": ["none", "string", "zero", "empty"]})
    ex["mlbook.vlm.predict_answers"] = E(vlm.predict_answers, lambda: dict(
        model=tiny(), examples=examples()[:3], vocab=vocab(), candidates=["1", "2"],
        batch_size=2),
        extra={"candidates": {"unknown": (lambda v: ["1", "zebra"],
                                          lambda v: st.just(["eleven"])),
                              "empty": (lambda v: [], lambda v: st.just([]))}},
        accepts={"candidates": {"none": "None: the ten digits"},
                 "examples": {"empty": "no examples: no answers"}},
        kinds={"examples": ["none", "string", "zero", "empty"],
               "candidates": ["none", "string", "zero"]})
    ex["mlbook.vlm.evaluate_vlm"] = E(vlm.evaluate_vlm, lambda: dict(
        model=tiny(), examples=examples()[:3], vocab=vocab()),
        kinds={"examples": ["none", "string", "zero", "empty"]})
    vit_train = lambda: TrainConfig(steps=1, batch_size=2, seq_len=8,  # noqa: E731
                                    warmup_steps=0, eval_every=1)
    ex["mlbook.vlm.pretrain_vision"] = E(vlm.pretrain_vision, lambda: dict(
        model=fresh(), examples=singles(), config=vit_train(), progress=False),
        extra={"examples": {"too_few": (lambda v: v[:1], lambda v: st.just(v[:1]))}},
        kinds={"examples": ["none", "string", "zero", "empty"],
               "progress": ["none", "string", "zero"]})
    ex["mlbook.vlm.train_vlm"] = E(vlm.train_vlm, lambda: dict(
        model=fresh(), train_examples=examples()[:4], vocab=vocab(), config=vit_train(),
        val_examples=examples()[4:], progress=False),
        accepts={"val_examples": {"none": "None: no validation"}},
        kinds={"train_examples": ["none", "string", "zero", "empty"],
               "val_examples": ["string", "zero", "empty"],
               "progress": ["none", "string", "zero"]})
    return ex


def _llm_examples() -> dict[str, Example]:
    data, llama, scaling, train = (importlib.import_module(f"mlbook.llm.{m}")
                                   for m in ("data", "llama", "scaling", "train"))
    E = Example
    ex: dict[str, Example] = {}
    cfg = _small_llama_config
    docs = lambda: {"a": "def f(x):\n    return x + 1\n", "b": "while True:\n    pass\n",  # noqa: E731
                    "c": "class A:\n    x = 1\n"}
    tok = _lazy(lambda: data.BPETokenizer.train(list(docs().values()) * 3, vocab_size=270))
    model = lambda: llama.Llama(cfg(), seed=0)  # noqa: E731
    docs_kinds = {"documents": ["none", "string", "zero"]}
    docs_extra = {"documents": {"not_text": (lambda v: {"a": 1}, lambda v: st.just({2: "x"}))}}

    # -- data
    ex["mlbook.llm.data.corpus_fingerprint"] = E(
        data.corpus_fingerprint, lambda: dict(documents=docs()), extra=docs_extra,
        accepts={"documents": {"none": "None: the pydoc_data corpus"}},
        kinds={"documents": ["string", "zero"]})
    ex["mlbook.llm.data.split_documents"] = E(data.split_documents, lambda: dict(
        documents=docs(), val_fraction=0.3, seed=0),
        extra={**docs_extra, "val_fraction": {"zero": KINDS["zero"], "one": ONE,
                                              "negative": KINDS["negative"],
                                              "above_one": KINDS["above_one"]},
               "documents": {**docs_extra["documents"], "one_doc": (
                   lambda v: {"a": "x"}, lambda v: st.just({}))}},
        accepts={"seed": {"none": "None: fresh randomness (Python's random.Random(None))"}},
        kinds=docs_kinds)
    ex["mlbook.llm.data.BPETokenizer"] = E(data.BPETokenizer,
                                           lambda: dict(hf_tokenizer=tok().hf))
    ex["mlbook.llm.data.BPETokenizer[train]"] = E(
        data.BPETokenizer.train, lambda: dict(texts=["ab ab ab", "abc abc"], vocab_size=262),
        extra={"vocab_size": {"too_small": (lambda v: 259, lambda v: st.integers(-10, 259))},
               "texts": {"not_text": (lambda v: [1, 2], lambda v: st.just(["a", None]))}},
        kinds={"texts": ["none", "string", "zero", "empty"]})
    ex["mlbook.llm.data.BPETokenizer[from_str]"] = E(
        data.BPETokenizer.from_str, lambda: dict(text=tok().to_str()),
        kinds={"text": ["none", "zero", "bad_choice"]})
    ex["mlbook.llm.data.BPETokenizer.encode"] = E(
        lambda **kw: tok().encode(**kw), lambda: dict(text="x = 1", bos=True, eos=False),
        kinds={"text": ["none", "zero"], "bos": ["none", "string", "zero"],
               "eos": ["none", "string", "zero"]})
    ex["mlbook.llm.data.BPETokenizer.decode"] = E(
        lambda **kw: tok().decode(**kw), lambda: dict(ids=[1, 70, 80, 2],
                                                      skip_special_tokens=True),
        extra={"ids": {"negative_entry": KINDS["negative_entry"],
                       "out_of_range": _entry_index_kind(270)}},
        accepts={"ids": {"empty": "no ids: the empty string"}},
        kinds={"skip_special_tokens": ["none", "string", "zero"]})
    ex["mlbook.llm.data.BPETokenizer.decode[tensor]"] = E(
        lambda ids: tok().decode(ids), lambda: dict(ids=torch.tensor([1, 70, 80, 2])),
        extra={"ids": _token_kinds(270)},
        accepts={"ids": {"empty": "no ids: the empty string",
                         "mismatched": "any number of ids"}})
    ex["mlbook.llm.data.BPETokenizer.pieces"] = E(lambda text: tok().pieces(text),
                                                  lambda: dict(text="x = 1"),
                                                  kinds={"text": ["none", "zero"]})
    ex["mlbook.llm.data.encode_documents"] = E(data.encode_documents, lambda: dict(
        tokenizer=tok(), documents=docs()), extra=docs_extra, kinds=docs_kinds)
    ex["mlbook.llm.data.build_corpus"] = E(data.build_corpus, lambda: dict(
        vocab_size=270, val_fraction=0.1, seed=0, tokenizer=tok()),
        extra={"vocab_size": {"too_small": (lambda v: 259, lambda v: st.integers(-10, 259))},
               "val_fraction": {"zero": KINDS["zero"], "one": ONE,
                                "negative": KINDS["negative"], "above_one": KINDS["above_one"]}},
        accepts={"tokenizer": {"none": "None: train one (slow: not the valid call here)"},
                 "seed": {"none": "None: fresh randomness (Python's random.Random(None))"}},
        kinds={"tokenizer": ["string", "zero"]})
    ex["mlbook.llm.data.get_batch"] = E(data.get_batch, lambda: dict(
        ids=_ids(40), batch_size=2, seq_len=8, generator=_g(0)),
        extra={"batch_size": COUNT, "seq_len": {**COUNT, "too_long": (
            lambda v: 40, lambda v: st.integers(40, 10**6))}},
        accepts={"generator": {"none": "None: PyTorch's default generator"},
                 "ids": {"mismatched": "a token stream of any length"}},
        kinds={"generator": ["string", "zero"]})
    ex["mlbook.llm.data.shard"] = E(data.shard, lambda: dict(batch=_ids(4, 3), rank=1,
                                                             world_size=2),
                                    extra={"rank": {"negative": KINDS["negative"],
                                                    "out_of_range": _index_kind(2)},
                                           "world_size": {**COUNT, "not_a_divisor": (
                                               lambda v: 3, lambda v: st.just(3))}},
                                    accepts={"batch": {"mismatched": "rows of any width",
                                                       "wrong_dtype": "rows of any dtype",
                                                       "extra_axis": "(B, ...): any trailing "
                                                                     "axes"}})
    ex["mlbook.llm.data.unigram_cross_entropy"] = E(data.unigram_cross_entropy, lambda: dict(
        train_ids=_ids(40), val_ids=_ids(20, seed=1), vocab_size=50),
        extra={"train_ids": _token_kinds(50), "val_ids": _token_kinds(50), "vocab_size": COUNT},
        accepts={"train_ids": {"mismatched": "a stream of any length"},
                 "val_ids": {"mismatched": "a stream of any length"}})
    ex["mlbook.llm.data.learn_bpe"] = E(data.learn_bpe, lambda: dict(
        text="low lower lowest", num_merges=3), extra={"num_merges": NONNEG},
        kinds={"text": ["none", "zero"]})
    ex["mlbook.llm.data.apply_bpe"] = E(data.apply_bpe, lambda: dict(
        text="lowest", merges=[("l", "o"), ("lo", "w")]),
        extra={"merges": {"not_pairs": (lambda v: ["lo", "w"], lambda v: st.just([("l",)]))}},
        kinds={"text": ["none", "zero"], "merges": ["none", "string", "zero"]})

    # -- llama
    ex["mlbook.llm.llama.LlamaConfig"] = E(llama.LlamaConfig, lambda: dict(
        vocab_size=50, dim=16, n_layers=1, n_heads=2, n_kv_heads=1, multiple_of=8,
        ffn_dim_multiplier=1.3, hidden_dim=None, norm_eps=1e-6, rope_theta=10000.0,
        max_seq_len=16),
        extra={**{n: COUNT for n in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads",
                                     "multiple_of", "max_seq_len", "ffn_dim_multiplier",
                                     "norm_eps")},
               "rope_theta": {**COUNT, "one": ONE}},
        accepts={"n_kv_heads": {"none": "None: n_heads (MHA)"},
                 "ffn_dim_multiplier": {"none": "None: no extra factor"},
                 "hidden_dim": {"none": "None: Meta's rule"}},
        kinds={"hidden_dim": ["string", "zero", "bool"]})
    ex["mlbook.llm.llama.LlamaConfig[hidden_dim]"] = E(
        lambda hidden_dim: llama.LlamaConfig(dim=16, n_heads=2, hidden_dim=hidden_dim),
        lambda: dict(hidden_dim=24), extra={"hidden_dim": COUNT},
        accepts={"hidden_dim": {"none": "None: Meta's rule"}})
    ex["mlbook.llm.llama.RMSNorm"] = E(llama.RMSNorm, lambda: dict(dim=8, eps=1e-6),
                                       extra={"dim": COUNT, "eps": COUNT})
    ex["mlbook.llm.llama.RMSNorm.forward"] = E(
        lambda x: llama.RMSNorm(8)(x), lambda: dict(x=_t(2, 3, 8)),
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., D): any leading axes"}})
    ex["mlbook.llm.llama.RotaryEmbedding"] = E(llama.RotaryEmbedding, lambda: dict(config=cfg()))
    ex["mlbook.llm.llama.RotaryEmbedding.forward"] = E(
        lambda **kw: llama.RotaryEmbedding(cfg())(**kw), lambda: dict(start=2, length=5),
        extra={"start": {"negative": KINDS["negative"], "past_end": (
            lambda v: 12, lambda v: st.integers(12, 10**6))}, "length": COUNT})
    ex["mlbook.llm.llama.rope_inverse_frequencies"] = E(
        llama.rope_inverse_frequencies, lambda: dict(head_dim=8, theta=10000.0),
        extra={"head_dim": {**COUNT, "odd": (lambda v: 7, lambda v: st.just(3))},
               "theta": {**COUNT, "one": ONE}})
    ex["mlbook.llm.llama.rope_cos_sin"] = E(
        llama.rope_cos_sin, lambda: dict(positions=torch.arange(5), head_dim=8, theta=10000.0),
        extra={"head_dim": {**COUNT, "odd": (lambda v: 7, lambda v: st.just(3))},
               "theta": {**COUNT, "one": ONE},
               "positions": {"nan_entry": KINDS["nan_entry"]}},
        accepts={"positions": {"mismatched": "any number of positions",
                               "wrong_dtype": "integer or real positions (real ones "
                                              "interpolate)"}})
    ex["mlbook.llm.llama.rotate_half"] = E(
        llama.rotate_half, lambda: dict(x=_t(2, 3, 8)),
        extra={"x": {"odd": (lambda v: v[..., :-1], lambda v: st.just(v[..., :3]))}},
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., hd): any leading axes"}},
        kinds={"x": ["none", "string", "empty", "extra_axis", "wrong_dtype", "nan_entry",
                     "inf_entry"]})
    ex["mlbook.llm.llama.apply_rope"] = E(
        llama.apply_rope, lambda: dict(x=_t(2, 5, 8), cos=llama.rope_cos_sin(torch.arange(5), 8)[0],
                                       sin=llama.rope_cos_sin(torch.arange(5), 8)[1]),
        extra={"cos": {"row": (lambda v: v[0], lambda v: st.just(v[0]))}},
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., T, hd): any leading axes"},
                 "cos": TENSOR_NAN, "sin": TENSOR_NAN})
    ex["mlbook.llm.llama.apply_rope_interleaved"] = E(
        llama.apply_rope_interleaved, lambda: dict(x=_t(2, 5, 8), positions=torch.arange(5),
                                                   theta=10000.0),
        extra={"theta": {**COUNT, "one": ONE}, "positions": {"nan_entry": KINDS["nan_entry"]}},
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., T, hd): any leading axes"},
                 "positions": {"wrong_dtype": "integer or real positions"}})
    for f in ("permute_meta_to_hf", "permute_hf_to_meta"):
        ex[f"mlbook.llm.llama.{f}"] = E(getattr(llama, f), lambda: dict(
            weight=_t(16, 6), n_heads=2),
            extra={"n_heads": {**COUNT, "not_a_divisor": (lambda v: 3, lambda v: st.just(5))}},
            accepts={"weight": {**TENSOR_NAN, "wrong_dtype": "weights of any dtype are "
                                "reordered", "mismatched": "any number of input columns"}})
    ex["mlbook.llm.llama.repeat_kv"] = E(
        llama.repeat_kv, lambda: dict(x=_t(2, 2, 5, 4), n_rep=2), extra={"n_rep": COUNT},
        accepts={"x": {**TENSOR_NAN, "mismatched": "any head width",
                       "wrong_dtype": "any dtype: the heads are only repeated"}})
    ex["mlbook.llm.llama.KVCache"] = E(llama.KVCache, lambda: dict(
        config=cfg(), batch_size=2, dtype=torch.float32, device=None),
        extra={"batch_size": COUNT}, accepts={"dtype": {"none": "None: PyTorch's default"}},
        kinds={"dtype": ["string", "zero"]}, skip={"device": DEVICE})
    ex["mlbook.llm.llama.KVCache.update"] = E(
        lambda **kw: llama.KVCache(cfg(), 2).update(**kw),
        lambda: dict(layer=0, k=_t(2, 1, 3, 8), v=_t(2, 1, 3, 8, seed=1)),
        extra={"layer": {"negative": KINDS["negative"], "out_of_range": _index_kind(1)},
               "k": {"too_long": (lambda v: _t(2, 1, 17, 8), lambda v: st.just(
                   _t(2, 1, 20, 8)))}},
        accepts={"k": TENSOR_NAN, "v": TENSOR_NAN})
    ex["mlbook.llm.llama.LlamaAttention"] = E(llama.LlamaAttention, lambda: dict(
        config=cfg(), layer_idx=0), extra={"layer_idx": NONNEG})
    cos_sin = lambda t=5: llama.rope_cos_sin(torch.arange(t), 8)  # noqa: E731
    layer_call = lambda cls: (lambda **kw: cls(cfg())(**kw))  # noqa: E731
    layer_kw = lambda: dict(x=_t(2, 5, 16), cos=cos_sin()[0], sin=cos_sin()[1], cache=None)  # noqa: E731
    layer_accepts = {"x": TENSOR_NAN, "cos": TENSOR_NAN, "sin": TENSOR_NAN,
                     "cache": {"none": "None: no KV cache"}}
    for cls in ("LlamaAttention", "LlamaDecoderLayer"):
        ex[f"mlbook.llm.llama.{cls}.forward"] = E(
            layer_call(getattr(llama, cls)), layer_kw, accepts=layer_accepts,
            extra={"cos": {"row": (lambda v: v[0], lambda v: st.just(v[0]))}},
            kinds={"cache": ["string", "zero"]})
    ex["mlbook.llm.llama.LlamaAttention.project_qkv"] = E(
        lambda **kw: llama.LlamaAttention(cfg()).project_qkv(**kw),
        lambda: dict(x=_t(2, 5, 16), cos=cos_sin()[0], sin=cos_sin()[1]),
        accepts={"x": TENSOR_NAN, "cos": TENSOR_NAN, "sin": TENSOR_NAN},
        extra={"cos": {"row": (lambda v: v[0], lambda v: st.just(v[0]))}})
    ex["mlbook.llm.llama.LlamaMLP"] = E(llama.LlamaMLP, lambda: dict(config=cfg()))
    ex["mlbook.llm.llama.LlamaMLP.forward"] = E(
        lambda x: llama.LlamaMLP(cfg())(x), lambda: dict(x=_t(2, 5, 16)),
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., D): any leading axes"}})
    ex["mlbook.llm.llama.LlamaDecoderLayer"] = E(llama.LlamaDecoderLayer, lambda: dict(
        config=cfg(), layer_idx=0), extra={"layer_idx": NONNEG})
    ex["mlbook.llm.llama.LlamaModel"] = E(llama.LlamaModel, lambda: dict(config=cfg()))
    ids_kinds = {"input_ids": {**_token_kinds(50), "too_long": (
        lambda v: _ids(1, 17), lambda v: st.just(_ids(2, 30)))}}
    ids_accepts = {"input_ids": {"mismatched": "any number of tokens up to max_seq_len"},
                   "cache": {"none": "None: no KV cache"}}
    ex["mlbook.llm.llama.LlamaModel.forward"] = E(
        lambda **kw: llama.LlamaModel(cfg())(**kw), lambda: dict(input_ids=_ids(2, 5),
                                                                 cache=None),
        extra=ids_kinds, accepts=ids_accepts, kinds={"cache": ["string", "zero"]})
    ex["mlbook.llm.llama.Llama"] = E(llama.Llama, lambda: dict(config=cfg(), seed=0),
                                     accepts={"seed": {"none": "None: PyTorch's global "
                                                       "generator"}})
    ex["mlbook.llm.llama.Llama.forward"] = E(
        lambda **kw: model()(**kw), lambda: dict(input_ids=_ids(2, 5), cache=None),
        extra=ids_kinds, accepts=ids_accepts, kinds={"cache": ["string", "zero"]})
    ex["mlbook.llm.llama.Llama.forward[cache]"] = E(
        lambda cache: model()(_ids(2, 5), cache), lambda: dict(cache=llama.KVCache(cfg(), 2)),
        extra={"cache": {"other_batch": (lambda v: llama.KVCache(cfg(), 3),
                                         lambda v: st.just(llama.KVCache(cfg(), 1))),
                         "other_model": (lambda v: llama.KVCache(llama.LlamaConfig(
                             vocab_size=50, dim=32, n_layers=1, n_heads=2, multiple_of=8,
                             max_seq_len=16), 2), lambda v: st.just(llama.KVCache(
                                 llama.LlamaConfig(vocab_size=50, dim=16, n_layers=2,
                                                   n_heads=2, multiple_of=8,
                                                   max_seq_len=16), 2)))}},
        accepts={"cache": {"none": "None: no KV cache"}})
    ex["mlbook.llm.llama.causal_lm_loss"] = E(llama.causal_lm_loss, lambda: dict(
        logits=_t(2, 5, 50), targets=_ids(2, 5), ignore_index=-100),
        extra={"targets": {"out_of_range": _entry_index_kind(50),
                           "negative_entry": (lambda v: _with_entry(v, -3),
                                              lambda v: st.just(_with_entry(v, -7)))}},
        accepts={"logits": {**TENSOR_NAN, "mismatched": "any vocabulary size V (targets "
                            "are checked against it)"},
                 })
    for f in ("count_parameters", "parameter_breakdown"):
        ex[f"mlbook.llm.llama.{f}"] = E(getattr(llama, f), lambda: dict(config=cfg()))
    ex["mlbook.llm.llama.sample_next_token"] = E(llama.sample_next_token, lambda: dict(
        logits=_t(2, 50), temperature=0.8, top_p=0.9, generator=_g(0)),
        # a -inf logit is a token masked out (valid); +inf is refused
        extra={"logits": {"inf_entry": (lambda v: _with_entry(v, INF),
                                        lambda v: st.just(_with_entry(v, INF)))},
               "temperature": COUNT, "top_p": {"zero": KINDS["zero"],
                                               "negative": KINDS["negative"],
                                               "above_one": KINDS["above_one"]}},
        accepts={"generator": {"none": "None: PyTorch's default generator"},
                 "logits": {"mismatched": "any vocabulary size"}},
        kinds={"generator": ["string", "zero"]})
    ex["mlbook.llm.llama.generate"] = E(llama.generate, lambda: dict(
        model=model(), input_ids=_ids(2, 3), max_new_tokens=2, temperature=0.8, top_p=0.9,
        greedy=False, seed=0, eos_id=2, use_cache=True),
        extra={"input_ids": _token_kinds(50), "max_new_tokens": {**NONNEG, "too_many": (
            lambda v: 14, lambda v: st.integers(14, 10**6))}, "temperature": COUNT,
            "top_p": {"zero": KINDS["zero"], "negative": KINDS["negative"],
                      "above_one": KINDS["above_one"]},
            "eos_id": {"negative": KINDS["negative"], "out_of_range": _index_kind(50)}},
        accepts={"seed": {"none": "None: PyTorch's default generator"},
                 "eos_id": {"none": "None: no early stop"},
                 "input_ids": {"mismatched": "a prompt of any length"}},
        kinds={"greedy": ["none", "string", "zero"], "use_cache": ["none", "string", "zero"]})
    ex["mlbook.llm.llama.generate_grouped"] = E(llama.generate_grouped, lambda: dict(
        model=model(), prompts=[[1, 2, 3], [4, 5, 6], [7, 8, 9]], max_new_tokens=2, eos_id=2,
        greedy=False, temperature=0.8, top_p=0.9, seed=0, batch_size=2),
        extra={"prompts": {
            "out_of_range": (lambda v: [[1, 2, 50]], lambda v: st.integers(50, 10**6).map(
                lambda e: [[1, e]])),
            "negative_entry": (lambda v: [[1, -1, 3]], lambda v: st.integers(-10**6, -1).map(
                lambda e: [[e, 2]])),
            "empty_prompt": (lambda v: [[1, 2, 3], []], lambda v: st.just([[]])),
            "not_ids": (lambda v: [["a", "b"]], lambda v: st.just([[1.5, 2.0]])),
            "too_long": (lambda v: [[1] * 15], lambda v: st.integers(15, 40).map(
                lambda n: [[1] * n]))},
            "max_new_tokens": {**NONNEG, "too_many": (
                lambda v: 14, lambda v: st.integers(14, 10**6))}, "temperature": COUNT,
            "top_p": {"zero": KINDS["zero"], "negative": KINDS["negative"],
                      "above_one": KINDS["above_one"]},
            "eos_id": {"negative": KINDS["negative"], "out_of_range": _index_kind(50)}},
        accepts={"seed": {"none": "None: PyTorch's default generator"}},
        kinds={"greedy": ["none", "string", "zero"]})
    ex["mlbook.llm.llama.saved_activation_bytes"] = E(llama.saved_activation_bytes, lambda: dict(
        model=model(), input_ids=_ids(2, 5), targets=_ids(2, 5, seed=1)),
        extra={"input_ids": _token_kinds(50), "targets": _token_kinds(50)},
        accepts={"targets": {"none": "None: the forward pass only"},
                 "input_ids": {"mismatched": "any number of tokens up to max_seq_len"}})
    ex["mlbook.llm.llama.rope_score"] = E(llama.rope_score, lambda: dict(
        q=_t(8), k=_t(8, seed=1), m=3, n=1, theta=10000.0),
        extra={"m": NONNEG, "n": NONNEG, "theta": {**COUNT, "one": ONE}},
        accepts={"n": {"zero": "position 0 is a position"}})
    ex["mlbook.llm.llama.rope_score_profile"] = E(llama.rope_score_profile, lambda: dict(
        distances=np.arange(5.0), head_dim=8, theta=10000.0),
        extra={"head_dim": {**COUNT, "odd": (lambda v: 7, lambda v: st.just(3))},
               "theta": {**COUNT, "one": ONE}},
        accepts={"distances": {"extra_axis": "an array of any shape (the result has its "
                               "shape)", "empty": "no distances: an empty profile"}})
    ex["mlbook.llm.llama.kv_cache_bytes_per_token"] = E(
        llama.kv_cache_bytes_per_token, lambda: dict(config=cfg(), bytes_per_value=2),
        extra={"bytes_per_value": COUNT})
    ex["mlbook.llm.llama.hf_rope_theta"] = E(
        llama.hf_rope_theta, lambda: dict(hf_config=types.SimpleNamespace(rope_theta=5e5)),
        extra={"hf_config": {"bad_theta": (
            lambda v: types.SimpleNamespace(rope_theta="big"),
            lambda v: st.just(types.SimpleNamespace(rope_parameters={"rope_theta": None})))}},
        kinds={"hf_config": ["none", "string", "zero"]})

    # -- scaling
    ex["mlbook.llm.scaling.training_flops"] = E(scaling.training_flops, lambda: dict(
        n_params=7e9, n_tokens=np.array([1e12, 2e12])),
        extra={"n_params": COUNT, "n_tokens": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"n_tokens": {"extra_axis": "arrays of any shape broadcast"}})
    ex["mlbook.llm.scaling.inference_flops_per_token"] = E(
        scaling.inference_flops_per_token, lambda: dict(n_params=7e9), extra={"n_params": COUNT})
    ex["mlbook.llm.scaling.chinchilla_loss"] = E(scaling.chinchilla_loss, lambda: dict(
        n_params=7e9, n_tokens=1e12, fit=dict(scaling.CHINCHILLA_FIT)),
        extra={"n_params": COUNT, "n_tokens": COUNT,
               "fit": {"missing": (lambda v: {"E": 1.0}, lambda v: st.just({})),
                       "nan": (lambda v: {**v, "A": NAN}, lambda v: st.just({**v, "B": INF}))}},
        accepts={"fit": {"none": "None: Hoffmann et al.'s fit"}},
        kinds={"fit": ["string", "zero"]})
    ex["mlbook.llm.scaling.chinchilla_optimal"] = E(scaling.chinchilla_optimal, lambda: dict(
        compute=1e21, fit=dict(scaling.CHINCHILLA_FIT)),
        extra={"compute": COUNT,
               "fit": {"missing": (lambda v: {"E": 1.0}, lambda v: st.just({})),
                       "negative": (lambda v: {**v, "alpha": -0.3},
                                    lambda v: st.just({**v, "beta": 0.0}))}},
        accepts={"fit": {"none": "None: Hoffmann et al.'s fit"}},
        kinds={"fit": ["string", "zero"]})
    ex["mlbook.llm.scaling.training_memory_bytes"] = E(
        scaling.training_memory_bytes, lambda: dict(n_params=7e9, precision="mixed", devices=4,
                                                    zero_stage=2),
        extra={"n_params": COUNT, "devices": COUNT,
               "zero_stage": {"negative": KINDS["negative"], "out_of_range": _index_kind(4)}})

    # -- train
    ex["mlbook.llm.train.TrainConfig"] = E(train.TrainConfig, lambda: dict(
        steps=4, batch_size=2, seq_len=8, lr=3e-3, min_lr_ratio=0.1, warmup_steps=1,
        weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-5, grad_clip=1.0, eval_every=2, seed=0,
        gradient_checkpointing=False),
        extra={**{n: COUNT for n in ("steps", "batch_size", "seq_len", "lr", "eps", "grad_clip",
                                     "eval_every")},
               "warmup_steps": {"negative": KINDS["negative"], "past_steps": (
                   lambda v: 4, lambda v: st.integers(4, 10**6))},
               **{n: {"negative": KINDS["negative"], "above_one": KINDS["above_one"]}
                  for n in ("min_lr_ratio", "beta1", "beta2")},
               "weight_decay": NONNEG},
        kinds={"gradient_checkpointing": ["none", "string", "zero"]})
    ex["mlbook.llm.train.cosine_lr"] = E(train.cosine_lr, lambda: dict(
        step=3, config=_tiny_train_config(steps=10, warmup_steps=2)),
        extra={"step": NONNEG}, accepts={"step": {"zero": "step 0 is the first step"}})
    ex["mlbook.llm.train.make_optimizer"] = E(train.make_optimizer, lambda: dict(
        model=model(), config=_tiny_train_config()))
    ex["mlbook.llm.train.evaluate"] = E(train.evaluate, lambda: dict(
        model=model(), ids=_ids(40), seq_len=8, batch_size=2),
        extra={"ids": _token_kinds(50), "seq_len": {**COUNT, "too_long": (
            lambda v: 17, lambda v: st.integers(17, 10**6))}, "batch_size": COUNT},
        accepts={"ids": {"mismatched": "a stream of any length"}})
    ex["mlbook.llm.train.train"] = E(train.train, lambda: dict(
        model=model(), train_ids=_ids(40), val_ids=_ids(20, seed=1),
        config=_tiny_train_config(), progress=False),
        extra={"train_ids": _token_kinds(50), "val_ids": _token_kinds(50),
               "config": {"too_long": (lambda v: _tiny_train_config(seq_len=17),
                                       lambda v: st.just(_tiny_train_config(seq_len=32)))}},
        accepts={"val_ids": {"none": "None: no validation",
                             "mismatched": "a stream of any length"},
                 "train_ids": {"mismatched": "a stream of any length"}},
        kinds={"progress": ["none", "string", "zero"]})
    ex["mlbook.llm.train.save_checkpoint"] = E(
        lambda path, model: train.save_checkpoint(path, model, note="x"),
        lambda: dict(path=_TMP / "ckpt.pt", model=model()),
        kinds={"path": ["none", "zero", "bool"]})

    def _ckpt():
        path = _TMP / "valid-ckpt.pt"
        if not path.exists():
            train.save_checkpoint(path, model())
        return path
    ex["mlbook.llm.train.load_checkpoint"] = E(   # a missing file: FileNotFoundError
        train.load_checkpoint, lambda: dict(path=_ckpt()),
        kinds={"path": ["none", "zero", "bool"]})
    ex["mlbook.llm.train.tiny_llama_key"] = E(train.tiny_llama_key, lambda: dict(
        model_config=cfg(), train_config=_tiny_train_config(), vocab_size=270,
        fingerprint="abc", model_seed=0),
        extra={"vocab_size": COUNT, "model_seed": NONNEG},
        kinds={"fingerprint": ["none", "zero"]})
    cfg270 = lambda: llama.LlamaConfig(vocab_size=270, dim=16, n_layers=1, n_heads=2,  # noqa: E731
                                       n_kv_heads=1, multiple_of=8, max_seq_len=16)
    ex["mlbook.llm.train.pretrained_tiny_llama"] = E(train.pretrained_tiny_llama, lambda: dict(
        retrain=False, progress=False, model_config=cfg270(), train_config=_tiny_train_config(),
        model_seed=0, cache=_TMP / "tiny"),
        extra={"model_seed": NONNEG,
               "model_config": {"small_vocab": (
                   lambda v: llama.LlamaConfig(vocab_size=100, dim=16, n_layers=1, n_heads=2,
                                               multiple_of=8, max_seq_len=16),
                   lambda v: st.just(llama.LlamaConfig(vocab_size=259, dim=16, n_layers=1,
                                                       n_heads=2, multiple_of=8,
                                                       max_seq_len=16)))}},
        accepts={"cache": {"none": "None: mlbook.cache.cache_dir() (not the valid call here)"},
                 "model_seed": {"none": "None: fresh randomness (check_integer_seed)"}},
        kinds={"retrain": ["none", "string", "zero"], "progress": ["none", "string", "zero"],
               "cache": ["zero", "bool"]})
    return ex


# ---- chapters 7 and 8: mlbook.llm.tasks, .self_instruct, .lora, .instruct, .dpo, .dpo_bandit
#: Free text (an instruction, an answer, a prompt): any string is valid, so "bad_choice" is not
#: a bad kind; None and a number are.
TEXT = ["none", "zero"]
#: A ``random.Random`` (the task generator's): None, a string, a number or a bool is a slip.
RNG_KINDS = ["none", "string", "zero", "bool"]
PROB = {"negative": KINDS["negative"], "above_one": KINDS["above_one"]}
BLANK = {"blank": (lambda v: "  ", lambda v: st.sampled_from(["", " \n "]))}


class _WordTokenizer:
    """Every ' word' of mlbook.llm.tasks.WORDS is one token (ids 3, 4, ...), as in chapter 6's
    tokenizer: what copy_losses needs, without training a tokenizer."""

    bos_id, eos_id = 1, 2

    def encode(self, text, *, bos=False, eos=False):
        from mlbook.llm.tasks import WORDS
        return [self.bos_id] * bos + [3 + WORDS.index(text.strip())] + [self.eos_id] * eos


class _Reached(Exception):
    """Raised by the stand-in for the base model: sft_tiny_llama's checks all passed."""


def _sft_tiny_llama_checks(**kwargs):
    """``sft_tiny_llama(**kwargs)`` up to its first step after the argument checks: the base
    model it would load or train (:func:`~mlbook.llm.train.pretrained_tiny_llama`, a minute of
    training or the model cache) is replaced by a stop, so nothing is trained or read. A
    valid call reaches the stop and returns None; a bad one must be refused before it."""
    from unittest import mock
    from mlbook.llm import instruct

    def stop(*args, **kw):
        raise _Reached()
    with mock.patch.object(instruct, "pretrained_tiny_llama", stop):
        try:
            instruct.sft_tiny_llama(**kwargs)
        except _Reached:
            return None
    raise AssertionError("sft_tiny_llama returned without asking for its base model")


def _chapter78_examples() -> dict[str, Example]:
    import random
    from mlbook.llm import dpo, instruct, lora, tasks
    from mlbook.llm import dpo_bandit as bandit
    from mlbook.llm import self_instruct as si
    from mlbook.llm.data import BPETokenizer
    from mlbook.llm.llama import Llama, LlamaConfig
    E = Example
    ex: dict[str, Example] = {}
    V = 400                                             # the tiny models' vocabulary

    @_lazy
    def tok():
        """A BPE tokenizer of the Alpaca prompts (a prompt is 60-70 tokens)."""
        found = tasks.make_examples(list(tasks.TASK_FAMILIES), 60, seed=5)
        return BPETokenizer.train([tasks.format_prompt(e.instruction, e.input) + " " + e.output
                                   for e in found], vocab_size=V)

    def cfg(vocab_size=V, max_seq_len=96):
        return LlamaConfig(vocab_size=vocab_size, dim=16, n_layers=1, n_heads=2, n_kv_heads=1,
                           multiple_of=8, max_seq_len=max_seq_len)

    model = lambda seed=0: Llama(cfg(), seed=seed)  # noqa: E731
    # the same checks for a model that cannot take the data: a smaller vocabulary or context
    model_extra = {"model": {
        "small_vocab": (lambda v: Llama(cfg(vocab_size=50), seed=0),
                        lambda v: st.just(Llama(cfg(vocab_size=100), seed=0))),
        "short_context": (lambda v: Llama(cfg(max_seq_len=16), seed=0),
                          lambda v: st.just(Llama(cfg(max_seq_len=32), seed=0)))}}
    examples = lambda: tasks.make_examples(["add", "even_odd"], 2, seed=0)  # noqa: E731
    examples_extra = {"empty": (lambda v: [], lambda v: st.just(())),
                      "not_examples": (lambda v: [1, 2], lambda v: st.just(["What is 3 + 4?"]))}
    dataset = _lazy(lambda: instruct.InstructionDataset(examples(), tok()))
    pairs = lambda: [dpo.PreferencePair(e.prompt(), e.output, w, "wrong")  # noqa: E731
                     for e, w in zip(examples(), ["9", "even"])]
    batch = _lazy(lambda: dpo.encode_pairs(tok(), pairs()))
    logps = lambda seed: -5 * torch.rand(3, generator=_g(seed), dtype=torch.float64)  # noqa: E731
    logp_accepts = {"wrong_dtype": "integer log-probabilities are converted to floats "
                                   "(torch.as_tensor); booleans are refused (the extra kind)"}
    logp_extra = {"boolean": (lambda v: v > -2, lambda v: st.just(v > -3))}
    ref3 = lambda: [0.2, 0.3, 0.5]  # noqa: E731
    probs_extra = {"negative_entry": KINDS["negative_entry"],
                   "not_normalised": (lambda v: [0.5, 0.6, 0.2],
                                      lambda v: st.just([0.3, 0.3, 0.3])),
                   "zero_entry": (lambda v: [0.0, 0.5, 0.5], lambda v: st.just([0.5, 0.5, 0.0])),
                   "one_response": (lambda v: [1.0], lambda v: st.just([1.0]))}
    index_extra = lambda k: {"negative_entry": KINDS["negative_entry"],  # noqa: E731
                             "out_of_range": _entry_index_kind(k),
                             "non_integer": (lambda v: [0.5] * len(v), lambda v: st.just([1.5]))}
    vector_extra = {"wrong_length": (lambda v: [0.5, 0.5], lambda v: st.just([0.1, 0.2, 0.3, 0.4])),
                    "not_normalised": (lambda v: [0.5, 0.5, 0.5],
                                       lambda v: st.just([0.6, -0.1, 0.2])),
                    "negative_entry": KINDS["negative_entry"]}

    # -- tasks
    ex["mlbook.llm.tasks.format_prompt"] = E(tasks.format_prompt, lambda: dict(
        instruction="Add 2 and 3.", input="", template=tasks.ALPACA_PROMPT_NO_INPUT),
        extra={"instruction": BLANK, "template": {"unknown_field": (
            lambda v: "{instruction} {output}", lambda v: st.just("{instruction}{x}"))}},
        accepts={"template": {"none": "None: Alpaca's template for the input given"}},
        kinds={"instruction": TEXT, "input": TEXT})
    ex["mlbook.llm.tasks.Example"] = E(tasks.Example, lambda: dict(
        instruction="What is 3 plus 4?", input="", output="7", family="add"),
        extra={"instruction": BLANK},
        kinds={"instruction": TEXT, "input": TEXT, "output": TEXT, "family": TEXT})
    ex["mlbook.llm.tasks.TaskFamily"] = E(tasks.TaskFamily, lambda: dict(
        name="double", kind="generation", heads=("Double {a}.",), tails=("", " Be quick."),
        make=lambda r: ({"a": 2}, "", "4")),
        extra={"heads": {"empty": KINDS["empty"], "not_text": (lambda v: (1,),
                                                               lambda v: st.just([None]))},
               "tails": {"empty": KINDS["empty"], "not_text": (lambda v: ("", 2),
                                                               lambda v: st.just([b"x"]))},
               "name": BLANK},
        kinds={"name": TEXT})
    add = lambda: tasks.TASK_FAMILIES["add"]  # noqa: E731
    ex["mlbook.llm.tasks.TaskFamily.phrase"] = E(lambda rng: add().phrase(rng),
                                                 lambda: dict(rng=random.Random(0)),
                                                 kinds={"rng": RNG_KINDS})
    ex["mlbook.llm.tasks.TaskFamily.instance"] = E(
        lambda **kw: add().instance(**kw),
        lambda: dict(rng=random.Random(0), instruction="Add {a} and {b}."),
        extra={"instruction": {"unknown_slot": (lambda v: "Add {x}.",
                                                lambda v: st.just("{c} plus {d}"))}},
        accepts={"instruction": {"none": "None: the family's first phrasing"}},
        kinds={"rng": RNG_KINDS, "instruction": ["zero"]})
    ex["mlbook.llm.tasks.make_examples"] = E(tasks.make_examples, lambda: dict(
        families=["add", "even_odd"], n=3, seed=0,
        instructions={"add": ["Add {a} and {b}."], "even_odd": ["Is the number even or odd?"]},
        where=lambda e: True),
        extra={"families": {"empty": KINDS["empty"], "unknown": (
            lambda v: ["add", "no_such_family"], lambda v: st.just(["x"])),
            "not_names": (lambda v: [1, 2], lambda v: st.just([None]))},
            "instructions": {"not_lists": (lambda v: {"add": "Add {a} and {b}."},
                                           lambda v: st.just({"even_odd": None})),
                             "unknown_slot": (lambda v: {"add": ["Add {x}."]},
                                              lambda v: st.just({"add": ["{c} + {d}"]}))}},
        accepts={"n": {"zero": "n = 0: no examples, an empty list"},
                 "instructions": {"none": "None: every phrasing of each family"},
                 "where": {"none": "None: no condition"}})
    ex["mlbook.llm.tasks.make_seed_tasks"] = E(tasks.make_seed_tasks, lambda: dict(
        families=("add", "even_odd"), per_family=2, seed=0),
        extra={"per_family": COUNT, "families": {"empty": KINDS["empty"], "unknown": (
            lambda v: ("add", "nope"), lambda v: st.just(["x"]))}})
    ex["mlbook.llm.tasks.content_key"] = E(tasks.content_key,
                                           lambda: dict(example=examples()[0]))
    ex["mlbook.llm.tasks.is_heldout_content"] = E(tasks.is_heldout_content, lambda: dict(
        example=examples()[0], share=0.2),
        extra={"share": {"zero": KINDS["zero"], "one": ONE, **PROB}})
    ex["mlbook.llm.tasks.answer_baselines"] = E(tasks.answer_baselines, lambda: dict(
        train_examples=examples(), eval_examples=examples()),
        extra={"eval_examples": examples_extra,
               "train_examples": {"not_examples": examples_extra["not_examples"]}})

    # -- self_instruct
    tokens_extra = {"not_tokens": (lambda v: [1, 2], lambda v: st.just([None, "a"]))}
    ex["mlbook.llm.self_instruct.rouge_tokenize"] = E(si.rouge_tokenize, lambda: dict(
        text="Reverse the words."), kinds={"text": TEXT})
    for f, (a, b) in (("lcs_length", ("a", "b")), ("rouge_l", ("a_tokens", "b_tokens"))):
        ex[f"mlbook.llm.self_instruct.{f}"] = E(getattr(si, f), lambda _a=a, _b=b: {
            _a: ["the", "cat", "sat"], _b: ["the", "sat"]},
            extra={a: tokens_extra, b: tokens_extra})
    ex["mlbook.llm.self_instruct.rouge_l_text"] = E(si.rouge_l_text, lambda: dict(
        a="Reverse the words.", b="Reverse the words below."), kinds={"a": TEXT, "b": TEXT})
    ex["mlbook.llm.self_instruct.invalid_reason"] = E(si.invalid_reason, lambda: dict(
        instruction="Reverse the order of the words."), kinds={"instruction": TEXT})
    seeds = lambda: tasks.make_seed_tasks(("add", "even_odd"), 1)  # noqa: E731
    si_result = _lazy(lambda: si.self_instruct(seeds(), 2, per_round=3))
    ex["mlbook.llm.self_instruct.SelfInstructResult.instructions"] = E(
        lambda include_seeds: si_result().instructions(include_seeds),
        lambda: dict(include_seeds=True), kinds={"include_seeds": ["none", "string", "zero"]})
    ex["mlbook.llm.self_instruct.self_instruct"] = E(si.self_instruct, lambda: dict(
        seed_tasks=seeds(), n_rounds=2, per_round=3, n_seed_demos=2, n_machine_demos=1,
        p_edit=0.5, p_flawed=0.1, rouge_threshold=0.7, seed=0),
        extra={"seed_tasks": examples_extra, "per_round": NONNEG, "n_seed_demos": COUNT,
               "n_machine_demos": NONNEG, "p_edit": PROB, "p_flawed": PROB,
               "rouge_threshold": PROB},
        accepts={"n_rounds": {"zero": "0 rounds: the pool is the seeds alone"}})

    # -- lora
    linear = lambda: torch.nn.Linear(8, 6)  # noqa: E731
    ex["mlbook.llm.lora.LoRALinear"] = E(lora.LoRALinear, lambda: dict(
        base=linear(), rank=2, alpha=4.0, generator=_g(0)),
        extra={"base": {"not_linear": (lambda v: torch.nn.Conv1d(8, 6, 1),
                                       lambda v: st.just(torch.nn.ReLU()))},
               "rank": {**COUNT, "too_large": (lambda v: 7, lambda v: st.integers(7, 10**6))},
               "alpha": COUNT},
        accepts={"generator": {"none": "None: PyTorch's default generator"}},
        kinds={"generator": ["string", "zero"]})
    ex["mlbook.llm.lora.LoRALinear.forward"] = E(
        lambda x: lora.LoRALinear(linear(), 2, generator=_g(0))(x), lambda: dict(x=_t(3, 8)),
        accepts={"x": {**TENSOR_NAN, "extra_axis": "(..., in): any leading axes"}})
    targets_extra = {"empty": (lambda v: (), lambda v: st.just([])),
                     "unknown": (lambda v: ("no_proj",), lambda v: st.just(["q_proj", 3]))}
    ex["mlbook.llm.lora.apply_lora"] = E(lora.apply_lora, lambda: dict(
        model=model(), rank=2, alpha=4.0, targets=("q_proj", "v_proj"), seed=0),
        extra={"rank": {**COUNT, "too_large": (lambda v: 17, lambda v: st.integers(17, 10**6))},
               "alpha": COUNT, "targets": targets_extra})
    ex["mlbook.llm.lora.merge_lora"] = E(lora.merge_lora, lambda: dict(
        model=lora.apply_lora(model(), 2)))
    ex["mlbook.llm.lora.trainable_parameters"] = E(lora.trainable_parameters,
                                                   lambda: dict(model=model()))
    ex["mlbook.llm.lora.lora_parameter_count"] = E(lora.lora_parameter_count, lambda: dict(
        config=cfg(), rank=2, targets=("q_proj", "v_proj")),
        extra={"rank": COUNT, "targets": targets_extra})

    # -- instruct
    ex["mlbook.llm.instruct.InstructionDataset"] = E(instruct.InstructionDataset, lambda: dict(
        examples=examples(), tokenizer=tok(), max_len=96, mask_prompt=True),
        extra={"examples": examples_extra, "max_len": {**COUNT, "too_small": (
            lambda v: 10, lambda v: st.integers(2, 40))}},
        accepts={"max_len": {"none": "None: no limit"}},
        kinds={"mask_prompt": ["none", "string", "zero"]})
    ex["mlbook.llm.instruct.InstructionDataset.collate"] = E(
        lambda items: dataset().collate(items), lambda: dict(items=[dataset()[0], dataset()[1]]),
        extra={"items": {"empty": (lambda v: [], lambda v: st.just(())),
                         "not_items": (lambda v: [{"x": 1}], lambda v: st.just([1, 2]))}})
    ex["mlbook.llm.instruct.SFTConfig"] = E(instruct.SFTConfig, lambda: dict(
        steps=2, batch_size=2, lr=1e-3, warmup_steps=0, min_lr_ratio=0.0, weight_decay=0.0,
        grad_clip=1.0, seed=0),
        extra={"lr": COUNT, "grad_clip": COUNT, "min_lr_ratio": PROB, "weight_decay": NONNEG,
               "warmup_steps": {**NONNEG, "too_many": (lambda v: 2, lambda v: st.integers(2, 99))}})
    shared = lambda: torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 6, 7]])  # noqa: E731
    ex["mlbook.llm.instruct.shared_prefix_length"] = E(
        instruct.shared_prefix_length, lambda: dict(x=shared()),
        accepts={"x": {"mismatched": "rows of any length"}})
    ex["mlbook.llm.instruct.forward_shared_prefix"] = E(
        instruct.forward_shared_prefix, lambda: dict(model=model(), x=shared(), prefix=2),
        extra={"x": {**_token_kinds(V), "too_long": (lambda v: _ids(2, 97, high=V),
                                                     lambda v: st.just(_ids(1, 120, high=V)))},
               "prefix": {"negative": KINDS["negative"],
                          "beyond_shared": (lambda v: 4, lambda v: st.just(4)),
                          "past_end": (lambda v: 5, lambda v: st.integers(5, 10**6))}},
        accepts={"x": {"mismatched": "rows of any length (they still share 3 tokens)"}})

    def xy():
        return dataset().collate([dataset()[0], dataset()[1]])
    ex["mlbook.llm.instruct.sft_loss"] = E(instruct.sft_loss, lambda: dict(
        model=model(), x=xy()[0], y=xy()[1], share_prefix=True),
        extra={"x": _token_kinds(V), "y": {
            "out_of_range": _entry_index_kind(V),
            "negative_entry": (lambda v: _with_entry(v, -3), lambda v: st.integers(
                -10**6, -1).filter(lambda e: e != -100).map(lambda e: _with_entry(v, e))),
            "no_response": (lambda v: torch.full_like(v, -100),
                            lambda v: st.just(torch.full_like(v, -100)))}},
        kinds={"share_prefix": ["none", "string", "zero"]})
    sft_cfg = lambda: instruct.SFTConfig(steps=1, batch_size=2, warmup_steps=0)  # noqa: E731
    ex["mlbook.llm.instruct.finetune"] = E(instruct.finetune, lambda: dict(
        model=model(), dataset=dataset(), config=sft_cfg(), progress=False),
        extra=model_extra,
        accepts={"config": {"none": "None: the chapter's SFTConfig() (600 steps: not the "
                                    "valid call here)"}},
        kinds={"progress": ["none", "string", "zero"]})
    ex["mlbook.llm.instruct.generate_responses"] = E(instruct.generate_responses, lambda: dict(
        model=model(), tokenizer=tok(), examples=examples(), max_new_tokens=2, greedy=True,
        temperature=1.0, top_p=1.0, seed=0, batch_size=2),
        extra={**model_extra, "examples": examples_extra, "max_new_tokens": {
            **COUNT, "too_many": (lambda v: 40, lambda v: st.integers(40, 10**6))},
            "temperature": COUNT, "top_p": {"zero": KINDS["zero"], **PROB}},
        kinds={"greedy": ["none", "string", "zero"]})
    ex["mlbook.llm.instruct.greedy_matches"] = E(instruct.greedy_matches, lambda: dict(
        model=model(), tokenizer=tok(), examples=examples(), batch_size=2),
        extra={**model_extra, "examples": examples_extra})
    ex["mlbook.llm.instruct.reference_log_probs"] = E(instruct.reference_log_probs, lambda: dict(
        model=model(), tokenizer=tok(), examples=examples(), temperatures=[1.0, 0.5],
        batch_size=2),
        extra={**model_extra, "examples": examples_extra, "temperatures": {
            "negative_entry": KINDS["negative_entry"],
            "zero_entry": (lambda v: [1.0, 0.0], lambda v: st.just([0.0]))}})
    ex["mlbook.llm.instruct.copy_losses"] = E(instruct.copy_losses, lambda: dict(
        model=model(), tokenizer=_WordTokenizer(), n_sequences=2, length=3, seed=0),
        extra={"n_sequences": COUNT, "length": {"one": (lambda v: 1, lambda v: st.just(0)),
                                                "too_long": (lambda v: 22, lambda v: st.just(50))},
               "model": {"short_context": (lambda v: Llama(cfg(max_seq_len=4), seed=0),
                                           lambda v: st.just(Llama(cfg(max_seq_len=5), seed=0)))}},
        kinds={"tokenizer": ["none", "string", "zero"]})
    ex["mlbook.llm.instruct.exact_match"] = E(instruct.exact_match, lambda: dict(
        model=model(), tokenizer=tok(), examples=examples(), max_new_tokens=4, responses=None,
        method="forced"),
        extra={**model_extra, "examples": examples_extra, "max_new_tokens": COUNT},
        accepts={"responses": {"none": "None: decide by greedy decoding"}},
        kinds={"responses": ["string", "zero"]})
    ex["mlbook.llm.instruct.exact_match[responses]"] = E(
        lambda responses: instruct.exact_match(model(), tok(), examples(), responses=responses),
        lambda: dict(responses=["3", "odd"]),
        extra={"responses": {"wrong_length": (lambda v: ["3"], lambda v: st.just([])),
                             "not_text": (lambda v: [3, None], lambda v: st.just([1, 2]))}},
        accepts={"responses": {"none": "None: decide by greedy decoding"}})
    small_data = lambda: dict(seeds_per_family=1, rounds=1, per_round=2,  # noqa: E731
                              rouge_threshold=0.7, n_train=4, mix={}, heldout_share=0.2,
                              n_heldout=1, n_heldout_families=1, seed=0)
    ex["mlbook.llm.instruct.chapter_data"] = E(instruct.chapter_data, lambda: dict(
        settings=small_data()),
        extra={"settings": {
            "missing": (lambda v: {"seed": 0}, lambda v: st.just({})),
            "nan": (lambda v: {**v, "heldout_share": NAN},
                    lambda v: st.just({**v, "rouge_threshold": INF})),
            "bool_count": (lambda v: {**v, "n_train": True},
                           lambda v: st.just({**v, "n_heldout": False})),
            "zero_count": (lambda v: {**v, "seeds_per_family": 0},
                           lambda v: st.just({**v, "n_heldout_families": -1})),
            "bad_mix": (lambda v: {**v, "mix": {"no_such_family": 2}},
                        lambda v: st.just({**v, "mix": {"add": 0}}))}})
    ex["mlbook.llm.instruct.examples_fingerprint"] = E(
        instruct.examples_fingerprint, lambda: dict(examples=examples()),
        extra={"examples": {"not_examples": examples_extra["not_examples"]}})
    ex["mlbook.llm.instruct.sft_key"] = E(instruct.sft_key, lambda: dict(
        base_key="tiny-llama-abc", method="lora", config=instruct.SFT_LORA,
        data=dict(instruct.SFT_DATA), lora=dict(instruct.LORA_SETTINGS), fingerprint="abc"),
        extra={"data": {"not_json": (lambda v: {**v, "seed": object()},
                                     lambda v: st.just({"rounds": {1, 2}}))},
               "lora": {"not_json": (lambda v: {**v, "rank": object()},
                                     lambda v: st.just({"targets": {"q_proj"}}))}},
        accepts={"lora": {"none": "None: full fine-tuning, no adapters"}},
        kinds={"base_key": TEXT, "fingerprint": TEXT})
    ex["mlbook.llm.instruct.sft_tiny_llama"] = E(_sft_tiny_llama_checks, lambda: dict(
        retrain=False, progress=False, cache=_TMP / "sft", method="full", config=None),
        accepts={"cache": {"none": "None: mlbook.cache.cache_dir() (not the valid call here)"},
                 "config": {"none": "None: the method's SFT_TRAIN or SFT_LORA"}},
        kinds={"retrain": ["none", "string", "zero"], "progress": ["none", "string", "zero"],
               "cache": ["zero", "bool"], "config": ["string", "zero"]})

    # -- dpo
    ex["mlbook.llm.dpo.check_beta"] = E(dpo.check_beta, lambda: dict(beta=0.5),
                                        extra={"beta": COUNT})
    ex["mlbook.llm.dpo.implicit_rewards"] = E(dpo.implicit_rewards, lambda: dict(
        policy_logps=logps(0), ref_logps=logps(1), beta=0.5),
        extra={"policy_logps": logp_extra, "ref_logps": logp_extra, "beta": COUNT},
        accepts={"policy_logps": logp_accepts, "ref_logps": logp_accepts})
    four = ("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected")
    for f in ("dpo_loss", "ipo_loss", "dpo_gradient_weights", "preference_metrics"):
        ex[f"mlbook.llm.dpo.{f}"] = E(getattr(dpo, f), lambda _f=f: {
            **{n: logps(i) for i, n in enumerate(four)}, "beta": 0.5,
            **({"reduction": "mean"} if _f in ("dpo_loss", "ipo_loss") else {})},
            extra={**{n: logp_extra for n in four}, "beta": COUNT},
            accepts={n: logp_accepts for n in four})
    mask_extra = {"at_position_0": (lambda v: torch.ones_like(v), lambda v: st.just(
                      v.clone().index_fill_(1, torch.tensor([0]), True))),
                  "empty_row": (lambda v: v.clone().index_fill_(0, torch.tensor([1]), False),
                                lambda v: st.just(torch.zeros_like(v)))}
    ids_extra = {**_token_kinds(V), "too_long": (lambda v: _ids(2, 98, high=V),
                                                 lambda v: st.just(_ids(2, 130, high=V)))}
    ex["mlbook.llm.dpo.sequence_logprobs"] = E(dpo.sequence_logprobs, lambda: dict(
        model=model(), input_ids=batch().chosen_ids, response_mask=batch().chosen_mask),
        extra={"input_ids": ids_extra, "response_mask": mask_extra})
    ex["mlbook.llm.dpo.batched_logprobs"] = E(dpo.batched_logprobs, lambda: dict(
        model=model(), input_ids=batch().chosen_ids, response_mask=batch().chosen_mask,
        batch_size=1),
        extra={"input_ids": ids_extra, "response_mask": mask_extra, "batch_size": COUNT})
    ex["mlbook.llm.dpo.PreferencePair"] = E(dpo.PreferencePair, lambda: dict(
        prompt="What is 3 plus 4?", chosen="7", rejected="8", kind="wrong"),
        extra={"prompt": BLANK, "chosen": BLANK, "rejected": {
            **BLANK, "same": (lambda v: "7", lambda v: st.just(" 7 "))}},
        kinds={"prompt": TEXT, "chosen": TEXT, "rejected": TEXT, "kind": TEXT})
    batch_fields = lambda: {k: getattr(batch(), k) for k in (  # noqa: E731
        "chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask", "pairs")}
    ex["mlbook.llm.dpo.PreferenceBatch"] = E(dpo.PreferenceBatch, batch_fields, extra={
        "pairs": {"wrong_count": (lambda v: v[:1], lambda v: st.just(v * 2)),
                  "not_pairs": (lambda v: [1, 2], lambda v: st.just(["7", "8"]))},
        "chosen_ids": {"negative_entry": KINDS["negative_entry"]},
        "rejected_ids": {"negative_entry": KINDS["negative_entry"]}})
    ex["mlbook.llm.dpo.PreferenceBatch.select"] = E(
        lambda index: batch().select(index), lambda: dict(index=[1, 0]),
        extra={"index": index_extra(2)})
    ex["mlbook.llm.dpo.encode_pairs"] = E(dpo.encode_pairs, lambda: dict(
        tokenizer=tok(), pairs=pairs(), max_len=96, response_prefix=" "),
        extra={"pairs": {"empty": (lambda v: [], lambda v: st.just(())),
                         "not_pairs": (lambda v: [1], lambda v: st.just([("a", "b", "c")]))},
               "max_len": {**COUNT, "too_small": (lambda v: 10, lambda v: st.integers(2, 40))}},
        accepts={"max_len": {"none": "None: no limit"}},
        kinds={"response_prefix": TEXT})
    ex["mlbook.llm.dpo.prompt_lengths"] = E(dpo.prompt_lengths, lambda: dict(batch=batch()))
    ex["mlbook.llm.dpo.pair_logprobs"] = E(dpo.pair_logprobs, lambda: dict(
        model=model(), batch=batch(), batch_size=1),
        extra={**model_extra, "batch_size": COUNT})
    dpo_cfg = lambda: dpo.DPOConfig(beta=0.5, steps=1, batch_size=2, warmup_steps=0,  # noqa: E731
                                    eval_every=1)
    ex["mlbook.llm.dpo.DPOConfig"] = E(dpo.DPOConfig, lambda: dict(
        beta=0.5, steps=2, batch_size=2, lr=1e-3, warmup_steps=0, grad_clip=1.0, eval_every=1,
        seed=0, loss="dpo"),
        extra={"beta": COUNT, "lr": COUNT, "grad_clip": COUNT, "eval_every": COUNT,
               "warmup_steps": {**NONNEG, "too_many": (lambda v: 2, lambda v: st.integers(2, 99))}})
    ex["mlbook.llm.dpo.DPOHistory.eval_series"] = E(
        lambda key: dpo.DPOHistory(beta=0.1, eval_step=[0], evals=[{"accuracy": 0.5}]
                                   ).eval_series(key), lambda: dict(key="accuracy"))
    ex["mlbook.llm.dpo.train_dpo"] = E(dpo.train_dpo, lambda: dict(
        policy=model(), reference=model(), pairs=batch(), config=dpo_cfg(), eval_pairs=batch(),
        evaluate=lambda m: {"extra": 1.0}, progress=False),
        extra={"policy": model_extra["model"], "reference": model_extra["model"]},
        accepts={"config": {"none": "None: DPOConfig(), the chapter's 40 steps (not the "
                                    "valid call here)"},
                 "eval_pairs": {"none": "None: no held-out pairs"},
                 "evaluate": {"none": "None: no extra metrics"}},
        kinds={"progress": ["none", "string", "zero"]})
    prompts = lambda: [e.prompt() for e in examples()]  # noqa: E731
    prompts_extra = {"empty": (lambda v: [], lambda v: st.just(())),
                     "not_text": (lambda v: [1, 2], lambda v: st.just([None]))}
    ex["mlbook.llm.dpo.sample_responses"] = E(dpo.sample_responses, lambda: dict(
        model=model(), tokenizer=tok(), prompts=prompts(), max_new_tokens=2, temperature=1.0,
        seed=0, batch_size=2),
        extra={**model_extra, "prompts": prompts_extra, "max_new_tokens": COUNT,
               "temperature": COUNT})
    ex["mlbook.llm.dpo.reward_and_kl"] = E(dpo.reward_and_kl, lambda: dict(
        policy=model(), reference=model(1), tokenizer=tok(), prompts=prompts(),
        answers=["3", "odd"], kl_prompts=1, max_new_tokens=2, seed=0),
        extra={"policy": model_extra["model"], "reference": model_extra["model"],
               "prompts": prompts_extra,
               "answers": {"wrong_count": (lambda v: v[:1], lambda v: st.just(v * 2)),
                           "not_text": (lambda v: [3, 4], lambda v: st.just([None, "x"]))},
               "kl_prompts": COUNT, "max_new_tokens": COUNT},
        accepts={"kl_prompts": {"none": "None: every prompt"}})
    ex["mlbook.llm.dpo.malformed_response"] = E(dpo.malformed_response, lambda: dict(
        output="7", input="3 4", rng=random.Random(0)), extra={"output": BLANK},
        kinds={"output": TEXT, "input": TEXT, "rng": RNG_KINDS})
    ex["mlbook.llm.dpo.wrong_response"] = E(dpo.wrong_response, lambda: dict(
        example=examples()[0], rng=random.Random(0), attempts=5),
        extra={"attempts": COUNT, "example": {"unknown_family": (
            lambda v: tasks.Example("What?", "", "1", "no_such_family"),
            lambda v: st.just(tasks.Example("Why?", "", "2", "")))}},
        kinds={"rng": RNG_KINDS})
    ex["mlbook.llm.dpo.make_preference_pairs"] = E(dpo.make_preference_pairs, lambda: dict(
        examples=examples(), model_responses=["9", ""], seed=0),
        extra={"examples": examples_extra, "model_responses": {
            "wrong_count": (lambda v: v[:1], lambda v: st.just(v * 2)),
            "not_text": (lambda v: [9, None], lambda v: st.just([None, "x"]))}},
        accepts={"model_responses": {"none": "None: no model answers, made-up bad responses"}})
    ex["mlbook.llm.dpo.sample_preference_pairs"] = E(dpo.sample_preference_pairs, lambda: dict(
        model=model(), tokenizer=tok(), examples=examples(), n_samples=2, temperature=1.0,
        seed=0, max_new_tokens=2),
        extra={**model_extra, "examples": examples_extra, "n_samples": {
            **COUNT, "one": (lambda v: 1, lambda v: st.just(1))}, "temperature": COUNT,
            "max_new_tokens": COUNT})

    # -- dpo_bandit
    ex["mlbook.llm.dpo_bandit.kl_optimal_policy"] = E(bandit.kl_optimal_policy, lambda: dict(
        ref_probs=ref3(), rewards=[1.0, 0.0, -1.0], beta=0.5),
        extra={"ref_probs": probs_extra, "beta": COUNT, "rewards": {"wrong_length": (
            lambda v: [1.0, 0.0], lambda v: st.just([1.0, 2.0, 3.0, 4.0]))}})
    ex["mlbook.llm.dpo_bandit.bradley_terry_probability"] = E(
        bandit.bradley_terry_probability, lambda: dict(reward_a=np.array([1.0, 0.0]),
                                                       reward_b=np.array([0.0, 0.5])),
        extra={"reward_b": {"not_broadcastable": (lambda v: np.zeros(3),
                                                  lambda v: st.just(np.zeros((2, 3))))}},
        accepts={"reward_a": {"extra_axis": "arrays of any shapes that broadcast (numpy's "
                                            "rule): a table of every pair"},
                 "reward_b": {"extra_axis": "arrays of any shapes that broadcast"}})
    ex["mlbook.llm.dpo_bandit.total_variation"] = E(bandit.total_variation, lambda: dict(
        p=[0.2, 0.3, 0.5], q=[0.5, 0.25, 0.25]),
        extra={"p": {k: v for k, v in probs_extra.items() if k != "zero_entry"},
               "q": vector_extra})
    ex["mlbook.llm.dpo_bandit.sample_bandit_preferences"] = E(
        bandit.sample_bandit_preferences, lambda: dict(ref_probs=ref3(),
                                                       rewards=[1.0, 0.0, -1.0], n_pairs=5,
                                                       seed=0),
        extra={"ref_probs": probs_extra, "n_pairs": COUNT, "rewards": {"wrong_length": (
            lambda v: [1.0, 0.0], lambda v: st.just([1.0]))}})
    ex["mlbook.llm.dpo_bandit.population_preferences"] = E(
        bandit.population_preferences, lambda: dict(ref_probs=ref3(), rewards=[1.0, 0.0, -1.0]),
        extra={"ref_probs": probs_extra})
    ex["mlbook.llm.dpo_bandit.fit_bradley_terry"] = E(bandit.fit_bradley_terry, lambda: dict(
        n_responses=3, chosen=[0, 1, 0], rejected=[1, 2, 2], weights=[0.5, 0.3, 0.2], steps=5,
        lr=0.2),
        extra={"n_responses": {**COUNT, "one": (lambda v: 1, lambda v: st.just(1))},
               "chosen": index_extra(3), "rejected": index_extra(3), "lr": COUNT,
               "weights": {"negative_entry": KINDS["negative_entry"], "all_zero": (
                   lambda v: [0.0, 0.0, 0.0], lambda v: st.just([0, 0, 0])),
                   "wrong_length": (lambda v: [1.0], lambda v: st.just([0.5] * 4))}},
        accepts={"weights": {"none": "None: every pair counts the same"}})
    ex["mlbook.llm.dpo_bandit.train_dpo_bandit"] = E(bandit.train_dpo_bandit, lambda: dict(
        ref_probs=ref3(), chosen=[0, 1], rejected=[1, 2], beta=0.5, weights=[0.7, 0.3],
        steps=3, lr=0.2, target=[0.3, 0.3, 0.4], record_every=1, loss="dpo"),
        extra={"ref_probs": probs_extra, "chosen": index_extra(3), "rejected": index_extra(3),
               "beta": COUNT, "lr": COUNT, "target": vector_extra,
               "weights": {"negative_entry": KINDS["negative_entry"]}},
        accepts={"weights": {"none": "None: every pair counts the same"},
                 "target": {"none": "None: no distance recorded"}})
    ex["mlbook.llm.dpo_bandit.kl_policy_gradient"] = E(bandit.kl_policy_gradient, lambda: dict(
        ref_probs=ref3(), rewards=[1.0, 0.0, -1.0], beta=0.5, steps=3, batch_size=4, lr=0.1,
        seed=0, target=[0.3, 0.3, 0.4], record_every=1),
        extra={"ref_probs": probs_extra, "beta": COUNT, "lr": COUNT, "target": vector_extra,
               "rewards": {"wrong_length": (lambda v: [1.0, 0.0], lambda v: st.just([1.0]))}},
        accepts={"target": {"none": "None: no distance recorded"}})
    return ex


#: Public names not called, each with its reason.
EXEMPT: dict[str, str] = {
    **{f"mlbook.{n}": "a result record that mlbook builds and returns, not an input"
       for n in ("ensemble.BiasVariance", "ensemble.BiasVarianceDifference",
                 "rl.Episode", "rl.EvaluationResult", "rl.PlanningResult",
                 "rl.StoppingBounds", "rl.MCResult", "rl.OffPolicyResult",
                 "rl.ValueEstimates", "rl.BlackjackEpisodes", "rl.BlackjackValues")},
    **{f"mlbook.{n}": "a result record that mlbook builds and returns, not an input"
       for n in ("attention.VariantRun", "attention.TileStep", "vlm.VisionHistory",
                 "vlm.VLMHistory", "vlm.BalanceRun", "vlm.RouterOutput",
                 "llm.data.CorpusData", "llm.data.BPEStep", "llm.train.TrainHistory",
                 "llm.train.PretrainedTinyLlama", "llm.self_instruct.Candidate",
                 "llm.self_instruct.SelfInstructResult", "llm.instruct.SFTHistory",
                 "llm.instruct.SFTTinyLlama", "llm.dpo.DPOHistory", "llm.dpo.OnPolicyPairs",
                 "llm.dpo_bandit.BanditDPOResult",
                 "llm.dpo_bandit.BanditPolicyGradientResult")},
    "mlbook.vlm.PackedImages": "a record that pack_images builds (its checks); MoonViT takes "
                               "its two tensors, checked there",
    "mlbook.vlm.VQAExample": "a record that make_digit_vqa builds (its checks); collate "
                             "checks the examples it is given",
    "mlbook.vlm.VQABatch": "a record that collate builds (its checks); TinyVLM.forward checks "
                           "the batch it is given",
    "mlbook.attention.FlashAttentionFunction": "a torch.autograd.Function: called through "
                                               "flash_attention, which checks the arguments "
                                               "and passes them to apply() positionally",
    "mlbook.attention.heads.AttentionConfig": "a typing alias (GQAConfig | MLAConfig)",
    "mlbook.attention.io.LoopOrder": "a typing alias (Literal['kv_outer', 'q_outer'])",
    "mlbook.checks.ArgumentTypeError": "an exception class, raised not called",
    "mlbook.approximation.StepSize": "abstract: its subclasses Constant, Harmonic and Power "
                                     "are called",
    "mlbook.rl.BlackjackValues.observed_values": "takes no arguments",
    "mlbook.rl.GridWorld.render": "takes no arguments",
    "mlbook.widgets.Explorer.combinations": "takes no arguments",
    "mlbook.widgets.Explorer.frames": "takes no arguments",
    "mlbook.widgets.Explorer.to_html": "takes no arguments",
    "mlbook.widgets.Explorer.widget": "takes no arguments",
}


# ---- walking __all__ -------------------------------------------------------------------
def public_callables() -> dict[str, Any]:
    """Qualified name -> object for every callable in the in-scope ``__all__`` lists, and
    every public method (defined in mlbook) of the classes among them."""
    found: dict[str, Any] = {}
    seen: dict[int, str] = {}
    for modname in IN_SCOPE:
        mod = importlib.import_module(modname)
        assert hasattr(mod, "__all__"), f"{modname} has no __all__"
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not callable(obj) or id(obj) in seen:
                continue
            qual = f"{modname}.{name}"
            seen[id(obj)] = qual
            found[qual] = obj
            if inspect.isclass(obj) and obj.__module__.startswith("mlbook"):
                for klass in obj.__mro__:
                    if not klass.__module__.startswith("mlbook"):
                        continue
                    for attr, member in vars(klass).items():
                        if attr.startswith("_") or not inspect.isfunction(member):
                            continue
                        found.setdefault(f"{qual}.{attr}", member)
    return found


def _examples_for(qual: str, examples: dict[str, Example]) -> list[str]:
    return [k for k in examples if k == qual or k.startswith(qual + "[")]


def test_every_public_callable_has_an_example():
    examples = _examples()
    missing = []
    for qual, obj in public_callables().items():
        if qual in EXEMPT or _examples_for(qual, examples):
            continue
        if inspect.isfunction(obj) and "." in qual.split("mlbook.")[-1]:
            params = [p for p in inspect.signature(obj).parameters if p != "self"]
            if not params:
                continue      # a method without arguments: nothing to get wrong
        missing.append(qual)
    assert not missing, (f"public callables without a valid example in EXAMPLES (add one, or "
                         f"an exemption with its reason in EXEMPT): {missing}")


def test_exemptions_name_existing_callables():
    names = set(public_callables())
    stale = [k for k in EXEMPT if k not in names]
    assert not stale, f"EXEMPT lists names that are not public callables: {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


# ---- calling with a time limit ---------------------------------------------------------
class _TooSlow(BaseException):
    pass


@contextlib.contextmanager
def _hard_stop(seconds: float):
    def stop(signum, frame):
        raise _TooSlow()
    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Outcome:
    kind: str           # CLEAR, UNCLEAR, OBSCURE, SILENT, SLOW
    seconds: float
    detail: str


def _names_argument(message: str, arg: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", message) is not None


def run_bad_call(example: Example, arg: str, value: Any) -> Outcome:
    kwargs = example.build()
    kwargs[arg] = value
    start = time.perf_counter()
    try:
        with _hard_stop(HARD_STOP_S), np.errstate(all="ignore"):
            example.call(**kwargs)
    except _TooSlow:
        return Outcome("SLOW", time.perf_counter() - start, f"still running after {HARD_STOP_S} s")
    except (ValueError, TypeError) as error:
        seconds = time.perf_counter() - start
        message = str(error)
        if seconds > TIME_LIMIT_S:
            return Outcome("SLOW", seconds, f"{type(error).__name__}: {message}")
        if _names_argument(message, example.names.get(arg, arg)) or arg in example.ecosystem:
            return Outcome("CLEAR", seconds, f"{type(error).__name__}: {message}")
        return Outcome("UNCLEAR", seconds, f"{type(error).__name__}: {message}")
    except Exception as error:  # noqa: BLE001 - classifying it is the point
        return Outcome("OBSCURE", time.perf_counter() - start,
                       f"{type(error).__name__}: {error}")
    finally:
        plt.close("all")
    seconds = time.perf_counter() - start
    return Outcome("SLOW" if seconds > TIME_LIMIT_S else "SILENT", seconds, "accepted")


def bad_cases(example: Example) -> list[tuple[str, str, tuple]]:
    """(argument, kind, (canonical, strategy)) for every bad kind that applies."""
    kwargs = example.build()
    cases = []
    for arg, valid in kwargs.items():
        if arg in example.skip:
            continue
        kinds = list(example.kinds.get(arg, _type_kinds(valid) + DOMAINS.get(arg, [])))
        if arg in SEED_NAMES and arg not in example.kinds:
            kinds = [k for k in kinds if k != "none"]   # None: fresh entropy, check_seed
        if "extra_axis" in kinds and "leading_axes" not in kinds:
            kinds.append("leading_axes")                 # an array: axes after and before
        table = {k: KINDS[k] for k in kinds}
        table.update(example.extra.get(arg, {}))
        accepted = dict(example.accepts.get(arg, {}))
        if "extra_axis" in accepted:                     # any shape: leading axes too
            accepted.setdefault("leading_axes", accepted["extra_axis"])
        for kind, makers in table.items():
            if kind in accepted:
                continue
            cases.append((arg, kind, makers))
    return cases


def _by_id() -> dict[str, Example]:
    return _examples()


EXAMPLE_IDS = sorted(_examples())


def _check_valid(example: Example) -> None:
    with np.errstate(all="ignore"):
        example.call(**example.build())
    plt.close("all")


def _assert_refused(outcome: Outcome, qual: str, arg: str, kind: str, value: Any) -> None:
    where = f"{qual}({arg}={value!r:.60}) [{kind}]"
    assert outcome.kind == "CLEAR", f"{where}: {outcome.kind} after {outcome.seconds:.2f} s: " \
                                    f"{outcome.detail:.300}"


@pytest.mark.parametrize("qual", EXAMPLE_IDS)
def test_bad_input_is_refused_clearly(qual):
    example = _by_id()[qual]
    _check_valid(example)
    failures = []
    for arg, kind, (canonical, _) in bad_cases(example):
        value = canonical(example.build()[arg])
        outcome = run_bad_call(example, arg, value)
        if outcome.kind != "CLEAR":
            failures.append(f"{arg}={value!r:.50} [{kind}]: {outcome.kind} "
                            f"({outcome.seconds:.2f} s) {outcome.detail:.200}")
    assert not failures, f"{qual}:\n  " + "\n  ".join(failures)


@pytest.mark.parametrize("qual", EXAMPLE_IDS)
def test_bad_input_drawn_by_hypothesis_is_refused_clearly(qual):
    example = _by_id()[qual]
    cases = bad_cases(example)
    if not cases:
        return

    @settings(max_examples=min(6, 2 * len(cases)), deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        arg, kind, (_, strategy) = data.draw(st.sampled_from(cases), label="case")
        value = data.draw(strategy(example.build()[arg]), label=f"{arg} [{kind}]")
        _assert_refused(run_bad_call(example, arg, value), qual, arg, kind, value)
    check()


def test_bandit_preferences_with_a_near_zero_probability_come_back():
    """bad-input.md's worst case 2: ``[1 - 1e-9, 1e-9]`` passes the checks (it is a valid
    reference policy), then redrawing the second response until it differs from the first
    never ended. It must come back at once, with two different responses in every pair."""
    from mlbook.llm.dpo_bandit import sample_bandit_preferences
    start = time.perf_counter()
    with _hard_stop(HARD_STOP_S):
        chosen, rejected = sample_bandit_preferences([1 - 1e-9, 1e-9], [1.0, 0.0], 10)
    assert time.perf_counter() - start < TIME_LIMIT_S
    assert (chosen != rejected).all() and set(chosen) | set(rejected) == {0, 1}


def test_bandit_preferences_after_the_redraws_follow_the_same_distribution():
    """Pairs still equal after the redraws get their second response from pi_ref without
    the first, renormalised: what redrawing for ever would give. With pi_ref = (0.98, 0.01,
    0.01), about 13% of the pairs that start on response 0 get there (0.98 ** 100); the
    other response of a pair holding response 0 must be 1 or 2 with probability 1/2 each."""
    from mlbook.llm.dpo_bandit import sample_bandit_preferences
    chosen, rejected = sample_bandit_preferences([0.98, 0.01, 0.01], [0.0, 0.0, 0.0], 20_000,
                                                 seed=0)
    assert (chosen != rejected).all()
    with_0 = (chosen == 0) | (rejected == 0)
    other = np.where(chosen == 0, rejected, chosen)[with_0]
    assert with_0.mean() > 0.95
    assert abs(np.mean(other == 1) - 0.5) < 0.02        # 4 standard errors


# ---- a table of outcomes: python tests/test_bad_input.py -------------------------------
def _defining_module(qual: str, found: dict[str, Any]) -> str:
    """The module that defines a target (a method counts with its class's module)."""
    base = qual.split("[")[0]
    obj = found.get(base)
    if obj is None:
        return ".".join(base.split(".")[:2])
    if inspect.isfunction(obj) and "." in obj.__qualname__ and base.rsplit(".", 1)[0] in found:
        obj = found[base.rsplit(".", 1)[0]]
    return getattr(obj, "__module__", None) or ".".join(base.split(".")[:2])


def report(by_module: bool = False, only: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Outcome counts per sub-package (``by_module``: per defining module), for the targets
    whose names start with one of ``only`` (all when empty)."""
    table: dict[str, dict[str, int]] = {}
    found = public_callables() if by_module else {}
    for qual, example in _examples().items():
        if only and not qual.startswith(only):
            continue
        module = (_defining_module(qual, found) if by_module
                  else ".".join(qual.split(".")[:2]))
        row = table.setdefault(module, {"targets": 0, "bad calls": 0, "CLEAR": 0,
                                        "UNCLEAR": 0, "OBSCURE": 0, "SILENT": 0, "SLOW": 0,
                                        "BROKEN": 0})
        row["targets"] += 1
        try:
            _check_valid(example)
        except Exception as error:  # noqa: BLE001
            row["BROKEN"] += 1
            print(f"BROKEN valid call {qual}: {type(error).__name__}: {error}")
            continue
        for arg, kind, (canonical, _) in bad_cases(example):
            value = canonical(example.build()[arg])
            outcome = run_bad_call(example, arg, value)
            row["bad calls"] += 1
            row[outcome.kind] += 1
            if outcome.kind != "CLEAR" and "-v" in sys.argv:
                print(f"{outcome.kind:8} {qual}({arg}={value!r:.40}) [{kind}] "
                      f"{outcome.detail:.160}")
    return table


if __name__ == "__main__":
    # python tests/test_bad_input.py [-v] [--by-module] [--only mlbook.vlm,mlbook.llm]
    only = ()
    if "--only" in sys.argv:
        only = tuple(sys.argv[sys.argv.index("--only") + 1].split(","))
    rows = report(by_module="--by-module" in sys.argv, only=only)
    cols = ["targets", "bad calls", "CLEAR", "UNCLEAR", "OBSCURE", "SILENT", "SLOW", "BROKEN"]
    print("| module | " + " | ".join(cols) + " |")
    total = dict.fromkeys(cols, 0)
    for mod, row in sorted(rows.items()):
        print(f"| {mod} | " + " | ".join(str(row[c]) for c in cols) + " |")
        for c in cols:
            total[c] += row[c]
    print("| total | " + " | ".join(str(total[c]) for c in cols) + " |")
