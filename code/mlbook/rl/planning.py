"""Planning with a known model: the Bellman equations and the algorithms that solve them.

Chapter 3, *Reinforcement learning basics*. Every function takes any
:class:`~mlbook.rl.mdp.FiniteMDP` (``P`` of shape ``(S, A, S)``, ``R`` of shape
``(S, A)``, a discount ``gamma`` in ``[0, 1)``) and policies as ``(S, A)`` arrays of action
probabilities. Equation numbers are those of chapter 3:

* (3.3) the Bellman equation, elementwise, and (3.4) in matrix-vector form
  ``v_pi = r_pi + gamma P_pi v_pi``;
* (3.5) its closed-form solution ``v_pi = (I - gamma P_pi)^{-1} r_pi``
  (:func:`evaluate_policy_exact`) and (3.6) the fixed-point iteration
  ``v_{k+1} = r_pi + gamma P_pi v_k`` (:func:`evaluate_policy_iterative`);
* (3.7) action values from state values (:func:`action_values`);
* (3.8) the Bellman optimality equation, solved by (3.9) value iteration
  (:func:`value_iteration`), (3.10) policy iteration (:func:`policy_iteration`) and truncated
  policy iteration (:func:`truncated_policy_iteration`), which sits between the two;
* (3.10) a policy improvement step (:func:`improve_policy`), which the policy improvement
  theorem (3.11), proved through the identity (3.12), shows never lowers a value;
* (3.13) and (3.14), the error bounds of value iteration's stopping rule
  (:func:`stopping_bounds`).

Every iterative function returns how many iterations it took, and the sweeping ones how
many backups (updates of one state's or one state-action pair's value) they made, so the
chapter can compare them. Values are in the units of the reward (a discounted sum of rewards).

Sources: R. Bellman, *Dynamic Programming*, 1957; R. A. Howard, *Dynamic Programming and
Markov Processes*, 1960 (policy iteration); M. L. Puterman and M. C. Shin, "Modified policy
iteration algorithms for discounted Markov decision problems", *Management Science*, 1978
(truncated policy iteration); M. L. Puterman, *Markov Decision Processes*, 1994, sec. 6.3
(the stopping rule); S. P. Singh and R. C. Yee, "An upper bound on the loss from
approximate optimal-value functions", *Machine Learning*, 1994 (the greedy policy's loss);
R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed., 2018,
ch. 3-4 (sec. 4.2, policy improvement; sec. 4.6, generalized policy iteration); S. Zhao,
*Mathematical Foundations of Reinforcement Learning*, 2025, ch. 2-4.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ..checks import check_array, check_count, check_instance, check_number, check_positive

from .mdp import FiniteMDP, check_discount, check_policy

__all__ = [
    "EvaluationResult", "PlanningResult", "StoppingBounds", "action_values",
    "evaluate_policy_exact", "evaluate_policy_iterative", "greedy_policy", "improve_policy",
    "policy_iteration", "stopping_bounds", "truncated_policy_iteration", "value_iteration",
]


@dataclass
class EvaluationResult:
    """What :func:`evaluate_policy_iterative` found."""

    values: np.ndarray
    """The last iterate ``v_k``, shape ``(S,)``."""
    n_iter: int
    """Number of sweeps ``v_{k+1} = r_pi + gamma P_pi v_k`` applied."""
    converged: bool
    """Whether ``max_s |v_{k+1}(s) - v_k(s)| < tol`` was reached within ``max_iter``."""
    history: list[np.ndarray] = field(repr=False, default_factory=list)
    """Every iterate ``v_0, v_1, ..., v_k`` (each of shape ``(S,)``)."""


@dataclass
class PlanningResult:
    """What a planning algorithm (value, policy or truncated policy iteration) found."""

    values: np.ndarray
    """The final value estimate, shape ``(S,)``."""
    policy: np.ndarray
    """A policy greedy with respect to ``values``, shape ``(S, A)``."""
    n_iter: int
    """Outer iterations: value updates (value iteration) or policy updates (policy iteration)."""
    n_sweeps: int | None
    """Sweeps of a Bellman operator over all states (one per value-iteration step,
    ``n_eval_sweeps`` per truncated-policy-iteration step); ``None`` for exact policy
    iteration, which solves a linear system instead of sweeping."""
    converged: bool
    """Whether the stopping rule was met within ``max_iter``."""
    history: list[np.ndarray] = field(repr=False, default_factory=list)
    """The value estimate after each outer iteration, starting with the initial one."""
    policies: list[np.ndarray] = field(repr=False, default_factory=list)
    """The policy of each outer iteration (policy and truncated policy iteration only)."""
    n_backups: int | None = None
    """Backups made: updates of one action value ``q(s, a)`` or one state value ``v(s)``.
    Value iteration makes ``S A`` per sweep. A truncated-policy-iteration step makes ``S A``
    for the improvement, whose maxima already are the first evaluation sweep, and ``S``
    for each of the other ``n_eval_sweeps - 1`` sweeps. ``None`` for exact policy
    iteration."""


def _check_mdp(mdp: FiniteMDP) -> None:
    check_instance("mdp", mdp, FiniteMDP)


def _check_tol(tol: float, max_iter: int) -> None:
    check_positive("tol", tol)
    check_count("max_iter", max_iter)


def _initial_values(mdp: FiniteMDP, v0: np.ndarray | None) -> np.ndarray:
    if v0 is None:
        return np.zeros(mdp.n_states)
    v = check_array("v0", v0, min_size=0, finite=False).copy()
    if v.shape != (mdp.n_states,) or not np.all(np.isfinite(v)):
        raise ValueError(
            f"v0 must be a finite array of shape (S,) = ({mdp.n_states},), got shape {v.shape}")
    return v


def evaluate_policy_exact(mdp: FiniteMDP, policy: np.ndarray) -> np.ndarray:
    """State values of ``policy`` in closed form, eq. (3.5): ``v = (I - gamma P_pi)^{-1} r_pi``.

    Solves the linear system ``(I - gamma P_pi) v = r_pi`` (no explicit inverse). The
    matrix is invertible for every ``gamma`` in ``[0, 1)`` because ``P_pi`` is a stochastic
    matrix, whose eigenvalues have modulus at most 1. Returns shape ``(S,)``.
    """
    _check_mdp(mdp)
    r_pi, P_pi = mdp.policy_model(policy)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi, r_pi)


def evaluate_policy_iterative(mdp: FiniteMDP, policy: np.ndarray, *,
                              v0: np.ndarray | None = None, tol: float = 1e-10,
                              max_iter: int = 100_000) -> EvaluationResult:
    """State values of ``policy`` by the fixed-point iteration of eq. (3.6).

    ``v_{k+1} = r_pi + gamma P_pi v_k`` from ``v0`` (zeros by default) until
    ``max_s |v_{k+1}(s) - v_k(s)| < tol``. The map is a ``gamma``-contraction in the max
    norm, so the error then is below ``gamma tol / (1 - gamma)``, and the number of sweeps
    grows like ``log(tol) / log(gamma)``.
    """
    _check_mdp(mdp)
    _check_tol(tol, max_iter)
    r_pi, P_pi = mdp.policy_model(policy)
    v = _initial_values(mdp, v0)
    history = [v.copy()]
    for k in range(1, max_iter + 1):
        v_new = r_pi + mdp.gamma * (P_pi @ v)
        history.append(v_new)
        delta = np.max(np.abs(v_new - v))
        v = v_new
        if delta < tol:
            return EvaluationResult(v, k, True, history)
    return EvaluationResult(v, max_iter, False, history)


def action_values(mdp: FiniteMDP, v: np.ndarray) -> np.ndarray:
    """``q[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] v[s']``, eq. (3.7); shape ``(S, A)``."""
    _check_mdp(mdp)
    return mdp.action_values(v)


def greedy_policy(q: np.ndarray, *, atol: float = 1e-9, ties: str = "first") -> np.ndarray:
    """A policy greedy with respect to action values ``q`` of shape ``(S, A)``.

    Actions within ``atol`` of the best in a state count as tied, so float noise does not
    decide between equally good actions. ``ties="first"`` gives the deterministic policy
    that takes the first of the tied actions (lowest index); ``ties="split"`` spreads the
    probability evenly over all of them, which shows every optimal action when drawn.
    Returns an ``(S, A)`` array of action probabilities.
    """
    q = check_array("q", q, min_size=0, finite=False)
    if q.ndim != 2 or 0 in q.shape:
        raise ValueError(f"q must be an array of shape (S, A) with S, A >= 1, got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("q must hold finite action values, got NaN or inf")
    if ties not in ("first", "split"):
        raise ValueError(f"ties must be 'first' or 'split', got {ties!r}")
    atol = check_number("atol", atol, minimum=0.0)
    best = q >= q.max(axis=1, keepdims=True) - atol
    if ties == "split":
        return best / best.sum(axis=1, keepdims=True)
    pi = np.zeros_like(q)
    pi[np.arange(q.shape[0]), best.argmax(axis=1)] = 1.0
    return pi


def value_iteration(mdp: FiniteMDP, *, v0: np.ndarray | None = None, tol: float = 1e-8,
                    max_iter: int = 100_000, ties: str = "first") -> PlanningResult:
    """Solve the Bellman optimality equation (3.8) by value iteration, eq. (3.9).

    ``v_{k+1}(s) = max_a (R[s, a] + gamma sum_s' P[s, a, s'] v_k(s'))`` from ``v0`` (zeros
    by default) until ``max_s |v_{k+1}(s) - v_k(s)| < tol``. The returned policy is greedy
    with respect to the last ``v`` (ties broken as in :func:`greedy_policy`). Each iteration
    is one sweep, so ``n_sweeps == n_iter``.
    """
    _check_mdp(mdp)
    _check_tol(tol, max_iter)
    v = _initial_values(mdp, v0)
    history = [v.copy()]
    converged = False
    k = 0
    for k in range(1, max_iter + 1):
        v_new = mdp.action_values(v).max(axis=1)
        history.append(v_new)
        delta = np.max(np.abs(v_new - v))
        v = v_new
        if delta < tol:
            converged = True
            break
    policy = greedy_policy(mdp.action_values(v), ties=ties, atol=_tie_atol(tol, mdp.gamma))
    return PlanningResult(v, policy, k, k, converged, history,
                          n_backups=k * mdp.n_states * mdp.n_actions)


def _tie_atol(tol: float, gamma: float) -> float:
    # Values from an iteration stopped at `tol` are off by up to gamma tol / (1 - gamma);
    # action values that close are indistinguishable, so count them as tied.
    return max(1e-9, 10 * tol / (1 - gamma))


def policy_iteration(mdp: FiniteMDP, *, policy0: np.ndarray | None = None,
                     max_iter: int = 1_000, ties: str = "first") -> PlanningResult:
    """Solve the Bellman optimality equation by policy iteration, eq. (3.10).

    Alternates exact policy evaluation, ``v_k = (I - gamma P_{pi_k})^{-1} r_{pi_k}``
    (:func:`evaluate_policy_exact`), and policy improvement, ``pi_{k+1}`` greedy with
    respect to ``q_{pi_k}``. Stops when the improved policy equals the current one or no
    state value rises by more than 1e-12 (both mean ``v_k = v*``). ``policy0`` defaults to
    the first action in every state. ``n_iter`` counts the policy evaluations (the last
    one confirms that the policy no longer changes); ``n_sweeps`` is ``None``.
    """
    return _policy_iteration(mdp, n_eval_sweeps=None, policy0=policy0, v0=None, tol=1e-12,
                             max_iter=max_iter, ties=ties)


def truncated_policy_iteration(mdp: FiniteMDP, n_eval_sweeps: int, *,
                               policy0: np.ndarray | None = None,
                               v0: np.ndarray | None = None, tol: float = 1e-8,
                               max_iter: int = 100_000, ties: str = "first") -> PlanningResult:
    """Policy iteration whose evaluation step is cut to ``n_eval_sweeps`` sweeps of eq. (3.6).

    Each outer iteration makes ``pi_{k+1}`` greedy with respect to ``v_k``, then runs
    ``n_eval_sweeps`` sweeps ``v <- r_pi + gamma P_pi v`` of the Bellman equation of
    ``pi_{k+1}``, starting from ``v_k`` (modified policy iteration, Puterman and Shin 1978).
    With one sweep this is exactly value iteration; as the number grows it approaches
    policy iteration. Stops when ``max_s |v_{k+1}(s) - v_k(s)| < tol``. ``n_sweeps`` counts
    all ``n_iter * n_eval_sweeps`` evaluation sweeps.
    """
    if (isinstance(n_eval_sweeps, bool) or not isinstance(n_eval_sweeps, numbers.Integral)
            or n_eval_sweeps < 1):
        raise ValueError(
            f"n_eval_sweeps must be a positive integer (1 gives value iteration), "
            f"got {n_eval_sweeps!r}")
    return _policy_iteration(mdp, n_eval_sweeps=int(n_eval_sweeps), policy0=policy0, v0=v0,
                             tol=tol, max_iter=max_iter, ties=ties)


def _policy_iteration(mdp: FiniteMDP, *, n_eval_sweeps: int | None,
                      policy0: np.ndarray | None, v0: np.ndarray | None, tol: float,
                      max_iter: int, ties: str) -> PlanningResult:
    _check_mdp(mdp)
    _check_tol(tol, max_iter)
    if n_eval_sweeps is not None:
        atol = _tie_atol(tol, mdp.gamma)
    else:   # exact values: only float round-off can separate tied actions
        atol = 1e-9 * max(1.0, float(np.max(np.abs(mdp.R))) / (1 - mdp.gamma))
    if policy0 is None:
        pi = np.zeros((mdp.n_states, mdp.n_actions))
        pi[:, 0] = 1.0
    else:
        pi = check_policy(policy0, mdp.n_states, mdp.n_actions, name="policy0").copy()

    if n_eval_sweeps is None:                         # exact policy iteration
        v = evaluate_policy_exact(mdp, pi)
        history, policies = [v], [pi]
        for k in range(1, max_iter + 1):
            new_pi = greedy_policy(mdp.action_values(v), atol=atol, ties=ties)
            if np.array_equal(new_pi, pi):
                return PlanningResult(v, pi, k, None, True, history, policies)
            pi = new_pi
            v_new = evaluate_policy_exact(mdp, pi)
            history.append(v_new)
            policies.append(pi)
            rise = np.max(v_new - v)
            v = v_new
            if rise <= tol:
                return PlanningResult(v, pi, k + 1, None, True, history, policies)
        return PlanningResult(v, pi, max_iter, None, False, history, policies)

    v = _initial_values(mdp, v0)                      # truncated policy iteration
    backups_per_step = mdp.n_states * (mdp.n_actions + n_eval_sweeps - 1)
    history, policies = [v.copy()], []
    for k in range(1, max_iter + 1):
        # the exact argmax here, so that one sweep is exactly a value-iteration step
        pi = greedy_policy(mdp.action_values(v), atol=0.0, ties=ties)
        r_pi, P_pi = mdp.policy_model(pi)
        v_new = v
        for _ in range(n_eval_sweeps):
            v_new = r_pi + mdp.gamma * (P_pi @ v_new)
        history.append(v_new)
        policies.append(pi)
        delta = np.max(np.abs(v_new - v))
        v = v_new
        if delta < tol:
            pi = greedy_policy(mdp.action_values(v), atol=atol, ties=ties)
            return PlanningResult(v, pi, k, k * n_eval_sweeps, True, history, policies,
                                  n_backups=k * backups_per_step)
    pi = greedy_policy(mdp.action_values(v), atol=atol, ties=ties)
    return PlanningResult(v, pi, max_iter, max_iter * n_eval_sweeps, False, history, policies,
                          n_backups=max_iter * backups_per_step)


def improve_policy(mdp: FiniteMDP, policy: np.ndarray, *, ties: str = "first") -> np.ndarray:
    """One policy improvement step, eq. (3.10): a policy greedy with respect to ``q_pi``.

    Evaluates ``policy`` exactly (eq. (3.5)), computes its action values ``q_pi`` of shape
    ``(S, A)`` (eq. (3.7)) and returns the ``(S, A)`` policy that takes an action with the
    largest ``q_pi(s, a)`` in every state (ties as in :func:`greedy_policy`). By the policy
    improvement theorem (3.11) the result is at least as good as ``policy`` in every
    state, and strictly better in some state unless ``policy`` is already optimal.
    """
    _check_mdp(mdp)
    pi = check_policy(policy, mdp.n_states, mdp.n_actions)
    v_pi = evaluate_policy_exact(mdp, pi)
    atol = 1e-9 * max(1.0, float(np.max(np.abs(mdp.R))) / (1 - mdp.gamma))
    return greedy_policy(mdp.action_values(v_pi), atol=atol, ties=ties)


@dataclass
class StoppingBounds:
    """What value iteration's stopping rule guarantees after each sweep (eqs. (3.13)-(3.14)).

    Entry ``k - 1`` of each array belongs to sweep ``k = 1, ..., K``; all have shape
    ``(K,)`` and are in the units of the reward.
    """

    change: np.ndarray
    """``||v_k - v_{k-1}||_inf``, the quantity the stopping rule looks at."""
    value_error_bound: np.ndarray
    """``gamma / (1 - gamma) * change``: a bound on ``||v_k - v*||_inf``, eq. (3.13)."""
    policy_loss_bound: np.ndarray
    """``2 gamma / (1 - gamma) * change``: a bound on ``||v_{pi_k} - v*||_inf`` for a
    policy ``pi_k`` greedy with respect to ``v_k``, eq. (3.14)."""


def stopping_bounds(history: list[np.ndarray] | np.ndarray, gamma: float) -> StoppingBounds:
    """The error bounds (3.13) and (3.14) along the iterates of value iteration.

    ``history`` holds the iterates ``v_0, v_1, ..., v_K`` of value iteration (eq. (3.9)),
    each of shape ``(S,)`` (a list, or an array of shape ``(K + 1, S)``), for example
    ``value_iteration(mdp).history``. With ``delta_k = ||v_k - v_{k-1}||_inf``, the
    contraction gives ``||v_k - v*||_inf <= gamma delta_k / (1 - gamma)`` (3.13), and a
    policy greedy with respect to ``v_k`` loses at most ``2 gamma delta_k / (1 - gamma)``
    in any state (3.14) (Puterman 1994, Theorem 6.3.1; Singh and Yee 1994). The bounds
    hold only for iterates of the optimality operator, not for other sequences.

    Raises ``ValueError`` for fewer than two iterates, iterates of different lengths or
    non-finite entries, or a ``gamma`` outside ``[0, 1)``.
    """
    gamma = check_discount(gamma)
    try:
        vs = np.array([np.asarray(v, dtype=float) for v in history])
    except (TypeError, ValueError):
        raise ValueError(
            "history must be a sequence of value vectors of one shape (S,), as in "
            "value_iteration(...).history") from None
    if vs.ndim != 2 or vs.shape[0] < 2 or vs.shape[1] == 0:
        raise ValueError(
            "history must hold at least two value vectors v_0, v_1 of shape (S,), got an "
            f"array of shape {vs.shape}")
    if not np.all(np.isfinite(vs)):
        raise ValueError("history must hold finite values, got NaN or inf")
    change = np.max(np.abs(np.diff(vs, axis=0)), axis=1)
    factor = gamma / (1 - gamma)
    return StoppingBounds(change, factor * change, 2 * factor * change)
