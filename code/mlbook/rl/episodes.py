"""Trajectories and returns: sampling an episode under a policy (chapters 3 and 4).

Chapter 3, *Reinforcement learning basics*, defines the trajectory
``S_0, A_0, R_1, S_1, A_1, R_2, ...`` an agent generates by following a policy, and its
discounted return, eq. (3.1)::

    G_t = R_{t+1} + gamma R_{t+2} + gamma^2 R_{t+3} + ... = sum_k gamma^k R_{t+k+1}.

Chapter 4 (Monte Carlo methods) estimates values by averaging such returns, so the two
functions here are shared: :func:`sample_episode` runs any Gymnasium environment with
discrete spaces under a policy given as an ``(S, A)`` array of action probabilities, and
:func:`discounted_returns` computes every ``G_t`` of an episode in one backward pass.

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
2018, sec. 3.1-3.3; S. Zhao, *Mathematical Foundations of Reinforcement Learning*, 2025,
ch. 1.
"""

from __future__ import annotations

import bisect
import numbers
from dataclasses import dataclass

import numpy as np

from ..checks import (ArgumentTypeError, check_array, check_index, check_instance, check_int,
                      check_seed)

from .mdp import check_policy

__all__ = ["Episode", "discounted_return", "discounted_returns", "sample_episode"]


@dataclass(frozen=True)
class Episode:
    """One trajectory ``S_0, A_0, R_1, S_1, A_1, R_2, ..., S_T``.

    ``states[t]``, ``actions[t]`` and ``rewards[t]`` are ``S_t``, ``A_t`` and ``R_{t+1}``
    (each of shape ``(T,)``); ``final_state`` is ``S_T``, where the episode stopped.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_state: int
    terminated: bool
    """Whether the environment ended the episode (never, in the continuing grid world)."""

    def __len__(self) -> int:
        return len(self.rewards)

    def ret(self, gamma: float) -> float:
        """The discounted return ``G_0`` of the whole episode, eq. (3.1)."""
        return discounted_return(self.rewards, gamma)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Every return ``G_t = R_{t+1} + gamma G_{t+1}`` of a finite reward sequence, ``(T,)``.

    ``rewards[t]`` is ``R_{t+1}``; the sequence is taken to stop after its last reward
    (``G_T = 0``), so ``G_t`` is the truncated return. One backward pass, ``O(T)``.
    """
    gamma = _check_gamma_episodic(gamma)
    r = check_array("rewards", rewards, min_size=0)
    if r.ndim != 1:
        raise ValueError(f"rewards must be a 1-D sequence R_1, ..., R_T, got shape {r.shape}")
    g = np.empty_like(r)
    acc = 0.0
    for t in range(len(r) - 1, -1, -1):
        acc = r[t] + gamma * acc
        g[t] = acc
    return g


def discounted_return(rewards: np.ndarray, gamma: float) -> float:
    """``G_0 = sum_t gamma^t rewards[t]``, the discounted return of eq. (3.1)."""
    g = discounted_returns(rewards, gamma)
    return float(g[0]) if len(g) else 0.0


def _check_gamma_episodic(gamma: float) -> float:
    # A finite episode has a finite return for any gamma in [0, 1]; gamma = 1 is the
    # undiscounted return of an episodic task.
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 <= gamma <= 1:
        raise ValueError(f"gamma must be a number in [0, 1] for a finite episode, got {gamma!r}")
    return float(gamma)


def sample_episode(env, policy: np.ndarray, n_steps: int, *, seed: int | None = None,
                   start_state: int | None = None, start_action: int | None = None,
                   rng: np.random.Generator | None = None) -> Episode:
    """Run ``env`` for at most ``n_steps`` steps, choosing actions from ``policy``.

    Parameters
    ----------
    env
        A Gymnasium environment with ``Discrete`` observation and action spaces.
    policy
        Action probabilities ``pi[s, a]``, shape ``(S, A)`` matching the spaces.
    n_steps
        Most steps to take; the episode stops earlier if the environment terminates or
        truncates it.
    seed
        Seeds both ``env.reset`` and the generator that samples actions, so the same seed
        gives the same episode. Ignored for the actions when ``rng`` is given. ``None``
        (the default): fresh entropy, not reproducible (:func:`mlbook.checks.check_seed`).
    start_state
        Start there (passed as ``reset(options={"start": start_state})``, which
        :class:`~mlbook.rl.gridworld.GridWorld` understands).
    start_action
        Take this first action instead of sampling it (exploring starts, chapter 4).
    rng
        A generator for the actions, to draw many episodes from one stream.
    """
    n_s = getattr(getattr(env, "observation_space", None), "n", None)
    n_a = getattr(getattr(env, "action_space", None), "n", None)
    if n_s is None or n_a is None:
        raise ArgumentTypeError("env: sample_episode needs an environment with Discrete observation and "
                         "action spaces")
    pi = check_policy(policy, int(n_s), int(n_a))
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if start_action is not None:
        check_index("start_action", start_action, int(n_a), what="action")
    if start_state is not None and not isinstance(start_state, (tuple, list)):
        check_index("start_state", start_state, int(n_s), what="state")
    if seed is not None:
        check_int("seed", seed, minimum=0)
    if rng is None:
        rng = check_seed("seed", seed)
    else:
        check_instance("rng", rng, np.random.Generator, what="a numpy Generator or None")
    options = None if start_state is None else {"start": start_state}
    s, _ = env.reset(seed=seed, options=options)
    cum = np.cumsum(pi, axis=1)
    cum /= cum[:, -1:]          # rows end at exactly 1, so every draw u < 1 finds an action
    cum = cum.tolist()          # plain lists: bisect on them is fast
    uniforms = rng.random(n_steps).tolist()
    states = np.empty(n_steps, dtype=np.int64)
    actions = np.empty(n_steps, dtype=np.int64)
    rewards = np.empty(n_steps, dtype=float)
    terminated = False
    t = 0
    while t < n_steps:
        if t == 0 and start_action is not None:
            a = int(start_action)
        else:   # inverse-CDF draw from pi(. | s): the first action whose CDF exceeds u
            a = min(bisect.bisect_right(cum[s], uniforms[t]), n_a - 1)
        s_next, r, terminated, truncated, _ = env.step(a)
        states[t], actions[t], rewards[t] = s, a, r
        s = int(s_next)
        t += 1
        if terminated or truncated:
            break
    return Episode(states[:t], actions[:t], rewards[:t], s, bool(terminated))
