"""Finite Markov decision processes as two arrays and a discount (chapter 3).

Chapter 3, *Reinforcement learning basics*, writes every model the planning code works on
in one form, the one used by Sutton & Barto (2018, ch. 3) and Zhao (2025, ch. 2):

* ``P[s, a, s'] = p(s' | s, a)``, an array of shape ``(S, A, S)`` whose rows
  ``P[s, a, :]`` are probability distributions over next states;
* ``R[s, a] = E[R_{t+1} | S_t = s, A_t = a] = sum_r p(r | s, a) r``, the expected
  immediate reward, an array of shape ``(S, A)`` (in the units of the reward);
* ``gamma``, the discount rate in ``[0, 1)`` (a continuing task; an episodic task is the
  special case in which some states are absorbing and pay nothing,
  :meth:`FiniteMDP.with_absorbing_states`).

A policy is an array ``pi`` of shape ``(S, A)`` with ``pi[s, a] = pi(a | s)``; a
deterministic policy is the special case of one-hot rows. Under a policy the MDP becomes
a Markov reward process, the two terms of eq. (3.4) ``v_pi = r_pi + gamma P_pi v_pi``::

    r_pi[s]     = sum_a pi(a|s) R[s, a]                      shape (S,)
    P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']                  shape (S, S)

which :meth:`FiniteMDP.policy_model` returns. The grid world of
:mod:`mlbook.rl.gridworld` exposes itself in this form, and so can any classic textbook
example (:mod:`mlbook.rl.examples`).

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
MIT Press, 2018, ch. 3; S. Zhao, *Mathematical Foundations of Reinforcement Learning*,
Springer Nature Press, 2025, ch. 1-2.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..checks import check_array, check_count

__all__ = ["FiniteMDP", "check_discount", "check_policy", "deterministic_policy",
           "uniform_policy", "ROW_SUM_ATOL"]

#: How far a row of probabilities may sum from 1 and still count as a distribution.
ROW_SUM_ATOL = 1e-8


def check_discount(gamma: float) -> float:
    """Return ``gamma`` as a float if it is a discount rate of a continuing task, in [0, 1).

    A discount of 1 or more makes the return of a continuing task diverge (and
    ``I - gamma P_pi`` singular), so it is refused with a ``ValueError``.
    """
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise ValueError(f"the discount gamma must be a real number in [0, 1), got {gamma!r}")
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(
            f"the discount gamma must lie in [0, 1) for a continuing task, got {gamma!r}: "
            "with gamma >= 1 the return of an endless trajectory need not be finite")
    return gamma


def check_policy(policy: np.ndarray, n_states: int, n_actions: int, *,
                 name: str = "policy") -> np.ndarray:
    """Return ``policy`` as a float array of shape ``(S, A)`` whose rows are distributions.

    Raises ``ValueError`` for a wrong shape, a non-finite or negative entry, or a row that
    does not sum to 1 (within :data:`ROW_SUM_ATOL`), naming the first bad state.
    """
    n_states = check_count("n_states", n_states)
    n_actions = check_count("n_actions", n_actions)
    pi = check_array(name, policy, min_size=0, finite=False)
    if pi.shape != (n_states, n_actions):
        raise ValueError(
            f"{name}: a policy must be an array of shape (S, A) = ({n_states}, {n_actions}) of "
            f"action probabilities pi[s, a], got shape {pi.shape}")
    if not np.all(np.isfinite(pi)):
        raise ValueError(f"{name}: a policy's probabilities must be finite numbers, got NaN or inf")
    if np.any(pi < 0):
        s, a = np.argwhere(pi < 0)[0]
        raise ValueError(
            f"{name}: a policy's probabilities must be >= 0, got pi[{s}, {a}] = {pi[s, a]}")
    sums = pi.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_ATOL)
    if bad.size:
        s = bad[0]
        raise ValueError(
            f"{name}: each row of a policy must sum to 1 (a distribution over actions), but row "
            f"{s} sums to {sums[s]:.6g} ({bad.size} bad row(s) in all)")
    return pi


def uniform_policy(n_states: int, n_actions: int) -> np.ndarray:
    """The policy that picks every action with probability ``1 / A`` in every state, ``(S, A)``."""
    _check_count("n_states", n_states)
    _check_count("n_actions", n_actions)
    return np.full((n_states, n_actions), 1.0 / n_actions)


def deterministic_policy(actions: Sequence[int] | np.ndarray, n_actions: int) -> np.ndarray:
    """One-hot policy of shape ``(S, A)`` taking action ``actions[s]`` in state ``s``."""
    _check_count("n_actions", n_actions)
    acts = check_array("actions", actions, dtype=None, min_size=0)
    if acts.ndim != 1 or acts.size == 0 or not np.issubdtype(acts.dtype, np.integer):
        raise ValueError(
            f"actions must be a non-empty 1-D sequence of integer action indices, got {actions!r}")
    if acts.min() < 0 or acts.max() >= n_actions:
        raise ValueError(
            f"actions must hold action indices from 0 to {n_actions - 1}, got values from "
            f"{acts.min()} to {acts.max()}")
    pi = np.zeros((acts.size, n_actions))
    pi[np.arange(acts.size), acts] = 1.0
    return pi


def _check_count(name: str, n: int) -> None:
    check_count(name, n, minimum=1)


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite MDP with a known model, validated on construction.

    The arrays are copied, converted to float and made read-only, so a model cannot be
    changed behind a planning function's back.

    Raises ``ValueError`` when ``P`` is not ``(S, A, S)``, has a negative entry or a row
    ``P[s, a, :]`` that does not sum to 1; when ``R`` is not ``(S, A)`` or not finite; when
    ``gamma`` is outside ``[0, 1)``; or when the labels do not match ``S`` and ``A``.
    """

    P: np.ndarray
    """``P[s, a, s'] = p(s' | s, a)``, shape ``(S, A, S)``; rows sum to 1."""
    R: np.ndarray
    """``R[s, a]``, expected immediate reward of taking ``a`` in ``s``, shape ``(S, A)``."""
    gamma: float
    """Discount rate in ``[0, 1)``."""
    state_labels: tuple[str, ...] | None = field(default=None)
    """Optional names of the states, for printing (length ``S``)."""
    action_labels: tuple[str, ...] | None = field(default=None)
    """Optional names of the actions, for printing (length ``A``)."""

    def __post_init__(self) -> None:
        P = check_array("P", self.P, min_size=0, finite=False).copy()  # a copy
        R = check_array("R", self.R, min_size=0, finite=False).copy()
        if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
            raise ValueError(
                "P must have shape (S, A, S) with S, A >= 1 (P[s, a, s'] = p(s'|s, a)), "
                f"got shape {P.shape}")
        n_states, n_actions = P.shape[:2]
        if not np.all(np.isfinite(P)) or np.any(P < 0):
            raise ValueError("P must hold probabilities: finite numbers >= 0")
        sums = P.sum(axis=2)
        bad = np.argwhere(np.abs(sums - 1.0) > ROW_SUM_ATOL)
        if bad.size:
            s, a = bad[0]
            raise ValueError(
                f"each row P[s, a, :] must sum to 1 (a distribution over next states), but "
                f"P[{s}, {a}, :] sums to {sums[s, a]:.6g} ({len(bad)} bad row(s) in all)")
        if R.shape != (n_states, n_actions):
            raise ValueError(
                f"R must have shape (S, A) = ({n_states}, {n_actions}) to match P, "
                f"got shape {R.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError("R must hold finite expected rewards, got NaN or inf")
        gamma = check_discount(self.gamma)
        for name, labels, n in (("state_labels", self.state_labels, n_states),
                                ("action_labels", self.action_labels, n_actions)):
            if labels is not None:
                labels = tuple(str(x) for x in labels)
                if len(labels) != n:
                    raise ValueError(f"{name} must have {n} entries, got {len(labels)}")
                object.__setattr__(self, name, labels)
        P.setflags(write=False)
        R.setflags(write=False)
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "gamma", gamma)

    @property
    def n_states(self) -> int:
        """Number of states ``S``."""
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        """Number of actions ``A``."""
        return self.P.shape[1]

    def check_policy(self, policy: np.ndarray) -> np.ndarray:
        """``policy`` validated against this MDP's ``(S, A)``; see :func:`check_policy`."""
        return check_policy(policy, self.n_states, self.n_actions)

    def policy_model(self, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Markov reward process a policy induces: ``(r_pi, P_pi)``.

        ``r_pi[s] = sum_a pi(a|s) R[s, a]`` (shape ``(S,)``) and
        ``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']`` (shape ``(S, S)``), the two terms of
        the matrix-vector Bellman equation ``v = r_pi + gamma P_pi v`` (eq. (3.4)).
        """
        pi = self.check_policy(policy)
        r_pi = np.einsum("sa,sa->s", pi, self.R)
        P_pi = np.einsum("sa,sat->st", pi, self.P)
        return r_pi, P_pi

    def action_values(self, v: np.ndarray) -> np.ndarray:
        """``q[s, a] = R[s, a] + gamma sum_s' P[s, a, s'] v[s']``, shape ``(S, A)``.

        With ``v = v_pi`` this gives the action values of ``pi`` (eq. (3.7));
        with any ``v`` it is the one-step look-ahead that value iteration maximises.
        """
        v = check_array("v", v, min_size=0)
        if v.shape != (self.n_states,):
            raise ValueError(
                f"v (a value vector) must have shape (S,) = ({self.n_states},), got {v.shape}")
        return self.R + self.gamma * (self.P @ v)

    def with_gamma(self, gamma: float) -> "FiniteMDP":
        """The same model with another discount rate."""
        return FiniteMDP(self.P, self.R, gamma, self.state_labels, self.action_labels)

    def with_absorbing_states(self, states: Sequence[int]) -> "FiniteMDP":
        """The same model in which each of ``states`` ends the episode: an episodic task.

        Every action in an absorbing state leads back to it with reward 0
        (``P[s, a, s] = 1``, ``R[s, a] = 0``), so once the agent arrives nothing more
        happens, and the rewards for moving *into* the state are kept. This is the usual
        way to write an episodic task as an MDP (Sutton & Barto 2018, sec. 3.4): a
        terminal state is an absorbing state that pays nothing. Shapes are unchanged,
        ``P`` ``(S, A, S)`` and ``R`` ``(S, A)``.

        Raises ``ValueError`` if ``states`` is empty or holds something that is not a
        state index in ``0 .. S-1``.
        """
        try:
            chosen = [s for s in states]
        except TypeError:
            raise ValueError(
                f"states must be a sequence of state indices, got {states!r}") from None
        if not chosen:
            raise ValueError("states must name at least one state to make absorbing")
        for s in chosen:
            if (isinstance(s, bool) or not isinstance(s, numbers.Integral)
                    or not 0 <= s < self.n_states):
                raise ValueError(
                    f"absorbing states must be integers from 0 to {self.n_states - 1}, "
                    f"got {s!r}")
        P = np.array(self.P)
        R = np.array(self.R)
        for s in chosen:
            P[s] = 0.0
            P[s, :, s] = 1.0
            R[s] = 0.0
        return FiniteMDP(P, R, self.gamma, self.state_labels, self.action_labels)

    def __repr__(self) -> str:
        return f"FiniteMDP(S={self.n_states}, A={self.n_actions}, gamma={self.gamma:g})"
