"""Classic textbook MDPs written as :class:`~mlbook.rl.mdp.FiniteMDP`, with published values.

Chapter 3, *Reinforcement learning basics*, checks its planning code against numbers
printed in Sutton & Barto (2018): the 5 x 5 grid world of their Example 3.5, whose state
values under the equiprobable random policy are printed in their Figure 3.2 and whose
optimal values are printed in Figure 3.5 (Example 3.8), both to one decimal.

The rules of that world (not the same as chapter 3's :class:`~mlbook.rl.gridworld.GridWorld`):
four actions (up, right, down, left); a move off the grid leaves the agent in place with
reward -1; every action in cell A = (0, 1) moves the agent to A' = (4, 1) with reward +10,
every action in B = (0, 3) to B' = (2, 3) with reward +5; every other move earns 0; the
discount is 0.9.

For claims that should not depend on one example, :func:`random_mdp` draws finite MDPs
with random transitions and rewards from a seed.

It also holds the optimal state values Zhao (2025, ch. 3) prints for chapter 3's own grid
world (:class:`~mlbook.rl.gridworld.GridWorld` with its defaults: gamma = 0.9,
r_boundary = r_forbidden = -1, r_target = 1), to one decimal.

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
MIT Press, 2018, Example 3.5 (Figure 3.2) and Example 3.8 (Figure 3.5); S. Zhao,
*Mathematical Foundations of Reinforcement Learning*, Springer Nature Press, 2025, ch. 3.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..checks import check_seed

from .mdp import FiniteMDP

__all__ = ["random_mdp", "sutton_barto_gridworld", "SUTTON_BARTO_RANDOM_VALUES",
           "SUTTON_BARTO_OPTIMAL_VALUES", "ZHAO_OPTIMAL_VALUES"]

#: State values of the equiprobable random policy, Sutton & Barto (2018), Figure 3.2
#: (rows top to bottom, one decimal as printed).
SUTTON_BARTO_RANDOM_VALUES = np.array([
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
])

#: Optimal state values, Sutton & Barto (2018), Figure 3.5 (one decimal as printed).
SUTTON_BARTO_OPTIMAL_VALUES = np.array([
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
])

#: Optimal state values of Zhao's 5 x 5 grid world (the default ``GridWorld()``), as printed
#: in Zhao (2025), ch. 3, for gamma = 0.9 and r_boundary = r_forbidden = -1, r_target = 1.
ZHAO_OPTIMAL_VALUES = np.array([
    [5.8, 5.6, 6.2, 6.5, 5.8],
    [6.5, 7.2, 8.0, 7.2, 6.5],
    [7.2, 8.0, 10.0, 8.0, 7.2],
    [8.0, 10.0, 10.0, 10.0, 8.0],
    [7.2, 9.0, 10.0, 9.0, 8.1],
])


def sutton_barto_gridworld(gamma: float = 0.9) -> FiniteMDP:
    """Sutton & Barto's Example 3.5 grid world as a FiniteMDP (25 states, 4 actions).

    States are numbered row by row (``s = 5 row + col``); actions are up, right, down,
    left. Returns ``P`` of shape ``(25, 4, 25)`` and ``R`` of shape ``(25, 4)``.
    """
    n = 5
    moves = ((-1, 0), (0, 1), (1, 0), (0, -1))
    specials = {(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)}   # A -> A', B -> B'
    P = np.zeros((n * n, len(moves), n * n))
    R = np.zeros((n * n, len(moves)))
    for row in range(n):
        for col in range(n):
            s = row * n + col
            for a, (dr, dc) in enumerate(moves):
                if (row, col) in specials:
                    (r2, c2), reward = specials[(row, col)]
                elif 0 <= row + dr < n and 0 <= col + dc < n:
                    (r2, c2), reward = (row + dr, col + dc), 0.0
                else:
                    (r2, c2), reward = (row, col), -1.0
                P[s, a, r2 * n + c2] = 1.0
                R[s, a] = reward
    return FiniteMDP(P, R, gamma, action_labels=("up", "right", "down", "left"))


def random_mdp(n_states: int, n_actions: int, gamma: float = 0.9, *, seed: int,
               peakedness: float = 8.0) -> FiniteMDP:
    """A finite MDP with random transitions and rewards, drawn from ``seed``.

    Each row ``P[s, a, :]`` is ``u ** peakedness`` normalised to sum to 1, with ``u``
    uniform on ``[0, 1)`` per next state: the larger ``peakedness``, the more each action's
    probability concentrates on a few next states (1 gives nearly uniform rows). Rewards
    ``R[s, a]`` are standard normal. Returns ``P`` of shape ``(S, A, S)``, ``R`` ``(S, A)``.

    Raises ``ValueError`` for a count below 1, a ``seed`` that is not a non-negative
    integer, a ``peakedness`` that is not a positive number, or a ``gamma`` outside
    ``[0, 1)``.
    """
    for name, n in (("n_states", n_states), ("n_actions", n_actions)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")
    if (isinstance(peakedness, bool) or not isinstance(peakedness, numbers.Real)
            or not 0 < peakedness < np.inf):
        raise ValueError(f"peakedness must be a positive finite number, got {peakedness!r}")
    rng = check_seed("seed", seed)      # None: fresh entropy (mlbook.checks)
    P = rng.random((n_states, n_actions, n_states)) ** peakedness
    P[P.sum(axis=2) == 0] = 1.0           # a row of zeros (astronomically rare): make it uniform
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(n_states, n_actions))
    return FiniteMDP(P, R, gamma)
