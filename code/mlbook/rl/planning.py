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
  policy iteration (:func:`truncated_policy_iteration`), which sits between the two.

Every iterative function returns how many iterations it took, so the chapter can compare
them. Values are in the units of the reward (a discounted sum of rewards).

Sources: R. Bellman, *Dynamic Programming*, 1957; R. A. Howard, *Dynamic Programming and
Markov Processes*, 1960 (policy iteration); M. L. Puterman and M. C. Shin, "Modified policy
iteration algorithms for discounted Markov decision problems", *Management Science*, 1978
(truncated policy iteration); R. S. Sutton and A. G. Barto, *Reinforcement Learning: An
Introduction*, 2nd ed., 2018, ch. 3-4; S. Zhao, *Mathematical Foundations of Reinforcement
Learning*, 2025, ch. 2-4.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from .mdp import FiniteMDP, check_policy

__all__ = [
    "EvaluationResult", "PlanningResult", "action_values", "evaluate_policy_exact",
    "evaluate_policy_iterative", "greedy_policy", "policy_iteration",
    "truncated_policy_iteration", "value_iteration",
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


def _check_mdp(mdp: FiniteMDP) -> None:
    if not isinstance(mdp, FiniteMDP):
        raise ValueError(f"expected a FiniteMDP, got {type(mdp).__name__}")


def _check_tol(tol: float, max_iter: int) -> None:
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")


def _initial_values(mdp: FiniteMDP, v0: np.ndarray | None) -> np.ndarray:
    if v0 is None:
        return np.zeros(mdp.n_states)
    v = np.array(v0, dtype=float)
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
    q = np.asarray(q, dtype=float)
    if q.ndim != 2 or 0 in q.shape:
        raise ValueError(f"q must be an array of shape (S, A) with S, A >= 1, got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("q must hold finite action values, got NaN or inf")
    if ties not in ("first", "split"):
        raise ValueError(f"ties must be 'first' or 'split', got {ties!r}")
    if isinstance(atol, bool) or not isinstance(atol, numbers.Real) or atol < 0:
        raise ValueError(f"atol must be a number >= 0, got {atol!r}")
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
    return PlanningResult(v, policy, k, k, converged, history)


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
        pi = check_policy(policy0, mdp.n_states, mdp.n_actions).copy()

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
            return PlanningResult(v, pi, k, k * n_eval_sweeps, True, history, policies)
    pi = greedy_policy(mdp.action_values(v), atol=atol, ties=ties)
    return PlanningResult(v, pi, max_iter, max_iter * n_eval_sweeps, False, history, policies)
