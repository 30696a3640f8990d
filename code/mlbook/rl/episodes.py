"""Trajectories and returns: sampling an episode under a policy (chapters 3 and 4).

Chapter 3, *Reinforcement learning basics*, defines the trajectory
``S_0, A_0, R_1, S_1, A_1, R_2, ...`` an agent generates by following a policy, and its
discounted return, eq. (3.1)::

    G_t = R_{t+1} + gamma R_{t+2} + gamma^2 R_{t+3} + ... = sum_k gamma^k R_{t+k+1}.

Chapter 4 (Monte Carlo methods) estimates values by averaging such returns, so the code here
is shared: :func:`sample_episode` runs any Gymnasium environment with discrete spaces under
a policy given as an ``(S, A)`` array of action probabilities, :class:`EpisodeSampler` runs
many episodes of one environment with the same loop (faster where the environment exposes
its deterministic step rule), and :func:`discounted_returns` computes every ``G_t`` of an
episode in one backward pass. Both samplers depend on the Gymnasium interface alone
(``reset``, ``step``, ``Discrete`` spaces, ``unwrapped``); a time limit is Gymnasium's
``TimeLimit`` wrapper.

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
2018, sec. 3.1-3.3; S. Zhao, *Mathematical Foundations of Reinforcement Learning*, 2025,
ch. 1.
"""

from __future__ import annotations

import bisect
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import (ArgumentTypeError, check_array, check_bool, check_count, check_index,
                      check_instance, check_int, check_seed)

from .mdp import check_policy

__all__ = ["Episode", "EpisodeSampler", "discounted_return", "discounted_returns",
           "policy_cdf", "sample_episode"]


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


def _discrete_sizes(env: Any, who: str) -> tuple[int, int]:
    """``(S, A)`` of an environment with Discrete observation and action spaces."""
    n_s = getattr(getattr(env, "observation_space", None), "n", None)
    n_a = getattr(getattr(env, "action_space", None), "n", None)
    if n_s is None or n_a is None:
        raise ArgumentTypeError(f"env: {who} needs an environment with Discrete observation "
                                f"and action spaces, got {type(env).__name__}")
    return int(n_s), int(n_a)


def policy_cdf(policy: np.ndarray) -> list[list[float]]:
    """The cumulative action probabilities of ``policy`` (``(S, A)``), one list per state.

    Row ``s`` is ``np.cumsum(pi[s])`` divided by its last entry, so that it ends at exactly 1
    and every uniform draw ``u < 1`` finds an action: the first ``a`` with ``cdf[s][a] > u``
    (inverse-CDF sampling). Plain lists, because :func:`bisect.bisect_right` on a list is
    the fastest way to draw one action in Python.
    """
    pi = check_array("policy", policy, ndim=2)
    cum = np.cumsum(pi, axis=1)
    if np.any(cum[:, -1] <= 0):
        raise ValueError("policy must have a positive total probability in every state")
    cum /= cum[:, -1:]          # rows end at exactly 1, so every draw u < 1 finds an action
    return cum.tolist()


def _run_episode(env, cdf: list, n_steps: int, rng: np.random.Generator, *,
                 seed: int | None, start_state: Any, start_action: int | None,
                 table: tuple[list, list] | None):
    """The one inverse-CDF loop behind :func:`sample_episode` and :class:`EpisodeSampler`.

    Resets ``env`` (with ``seed`` and, if given, ``options={"start": start_state}``), draws
    ``n_steps`` uniforms from ``rng`` at once, then for ``t = 0, 1, ...`` takes the first
    action whose CDF exceeds ``u_t`` (or ``start_action`` at ``t = 0``) and steps: through
    ``env.step`` or, when ``table = (next_state, reward)`` lists are given, by looking the
    step up (the environment's own deterministic rule, tabulated). Stops after ``n_steps``
    steps or when ``env.step`` reports ``terminated`` or ``truncated``.
    Returns ``(states, actions, rewards, final_state, terminated)``.
    """
    options = None if start_state is None else {"start": start_state}
    s, _ = env.reset(seed=seed, options=options)
    s = int(s)
    uniforms = rng.random(n_steps).tolist()
    last = len(cdf[0]) - 1
    right = bisect.bisect_right
    states, actions, rewards = [], [], []
    terminated = truncated = False
    for t in range(n_steps):
        if t == 0 and start_action is not None:
            a = start_action
        else:   # inverse-CDF draw from pi(. | s): the first action whose CDF exceeds u
            a = right(cdf[s], uniforms[t])
            if a > last:
                a = last
        states.append(s)
        actions.append(a)
        if table is None:
            s_next, r, terminated, truncated, _ = env.step(a)
            s = int(s_next)
        else:
            r = table[1][s][a]
            s = table[0][s][a]
        rewards.append(r)
        if terminated or truncated:
            break
    return (np.array(states, dtype=np.int64), np.array(actions, dtype=np.int64),
            np.array(rewards, dtype=float), s, bool(terminated))


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
        truncates it (a time limit is Gymnasium's ``TimeLimit`` wrapper, as
        ``gymnasium.make(..., max_episode_steps=n)`` adds it).
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

    Each step draws one uniform number ``u`` and takes the first action whose cumulative
    probability exceeds it (:func:`policy_cdf`); all ``n_steps`` numbers are drawn at the
    start, so an episode uses the same amount of the stream however early it stops.
    """
    n_s, n_a = _discrete_sizes(env, "sample_episode")
    pi = check_policy(policy, n_s, n_a)
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if start_action is not None:
        start_action = check_index("start_action", start_action, n_a, what="action")
    if start_state is not None and not isinstance(start_state, (tuple, list)):
        check_index("start_state", start_state, n_s, what="state")
    if seed is not None:
        check_int("seed", seed, minimum=0)
    if rng is None:
        rng = check_seed("seed", seed)
    else:
        check_instance("rng", rng, np.random.Generator, what="a numpy Generator or None")
    states, actions, rewards, final, terminated = _run_episode(
        env, policy_cdf(pi), int(n_steps), rng, seed=seed, start_state=start_state,
        start_action=start_action, table=None)
    return Episode(states, actions, rewards, final, terminated)


class EpisodeSampler:
    """Many episodes of one environment, as ``(states, actions, rewards)`` arrays.

    It runs the loop of :func:`sample_episode` (one uniform number per step, inverse CDF of
    ``pi(. | s)``), so with the same generator it returns the same episodes. What it adds:

    * **a tabulated step rule** (``fast=True``): an environment that exposes its own
      deterministic rule as ``transition(state, action) -> (next_state, reward)`` (as
      :class:`~mlbook.rl.gridworld.GridWorld` does), and is not wrapped
      (``env.unwrapped is env``: a wrapper such as ``TimeLimit`` may change what a step
      does), has the rule tabulated once for every pair; each step is then a look-up
      instead of a call to ``env.step``: the same episodes, faster (chapter 4 measures by
      how much). Any other environment is stepped through ``env.step``. The learner gets nothing but the sampled
      arrays: the table is a faster simulator, not a model handed to the algorithm.
    * :meth:`batch`, many episodes with the steps of all taken together (NumPy), for a
      tabulated environment;
    * :meth:`episode_cdf`, an episode under a policy given by its CDF rows
      (:func:`policy_cdf`), for a learner that changes a few rows between episodes.

    Parameters
    ----------
    env
        A Gymnasium environment with ``Discrete`` observation and action spaces.
    seed
        Passed to the environment's first ``reset`` (``None``: not seeded).
    fast
        Tabulate the step rule when the environment exposes one (see above).
    """

    def __init__(self, env, *, seed: int | None = None, fast: bool = True):
        self.n_states, self.n_actions = _discrete_sizes(env, "EpisodeSampler")
        if seed is not None:
            check_int("seed", seed, minimum=0)
        fast = check_bool("fast", fast)
        self.env = env
        rule = getattr(env, "transition", None)
        #: Whether steps are looked up in the tabulated rule (else: ``env.step``).
        self.fast = bool(fast and callable(rule) and getattr(env, "unwrapped", None) is env)
        self._env_seed = seed      # passed to the first reset() only
        self.next_state = self.reward = None
        self._table = None
        if self.fast:
            S, A = self.n_states, self.n_actions
            #: ``next_state[s, a]`` and ``reward[s, a]`` of the tabulated rule, ``(S, A)``.
            self.next_state = np.zeros((S, A), dtype=np.int64)
            self.reward = np.zeros((S, A))
            for s in range(S):
                for a in range(A):
                    self.next_state[s, a], self.reward[s, a] = rule(s, a)
            self._table = (self.next_state.tolist(), self.reward.tolist())

    def _reset_seed(self) -> int | None:
        # seed the environment's own generator on the first reset only
        seed, self._env_seed = self._env_seed, None
        return seed

    def _check_start(self, start_state: Any, start_action: Any) -> tuple[Any, Any]:
        if start_state is not None:
            start_state = check_index("start_state", start_state, self.n_states, what="state")
        if start_action is not None:
            start_action = check_index("start_action", start_action, self.n_actions,
                                       what="action")
        return start_state, start_action

    def episode(self, policy: np.ndarray, length: int, rng: np.random.Generator, *,
                start_state: int | None = None, start_action: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One episode of at most ``length`` steps: ``states, actions, rewards``, each ``(T,)``.

        ``policy`` is ``(S, A)``; ``rng`` draws the actions; ``start_state`` and
        ``start_action`` fix ``S_0`` and ``A_0`` (exploring starts). The environment's
        ``reset`` gets the sampler's ``seed`` the first time. Raises ``ValueError`` if the
        environment does not start where asked.
        """
        cdf = policy_cdf(check_policy(policy, self.n_states, self.n_actions))
        return self.episode_cdf(cdf, length, rng, start_state=start_state,
                                start_action=start_action)

    def episode_cdf(self, cdf: list, length: int, rng: np.random.Generator, *,
                    start_state: int | None = None, start_action: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`episode` for the policy whose CDF rows are ``cdf`` (:func:`policy_cdf`).

        ``cdf`` is a list of ``S`` lists of ``A`` cumulative probabilities, each ending at 1.
        Its entries are not checked (a loop that keeps the CDF of a changing policy calls
        this once per episode); its shape is.
        """
        if (not isinstance(cdf, list) or len(cdf) != self.n_states
                or not isinstance(cdf[0], list) or len(cdf[0]) != self.n_actions):
            raise ArgumentTypeError(f"cdf must be a list of {self.n_states} lists of "
                                    f"{self.n_actions} cumulative probabilities "
                                    f"(policy_cdf(policy)), got {type(cdf).__name__}")
        length = check_count("length", length)
        check_instance("rng", rng, np.random.Generator, what="a numpy Generator")
        start_state, start_action = self._check_start(start_state, start_action)
        states, actions, rewards, _, _ = _run_episode(
            self.env, cdf, length, rng, seed=self._reset_seed(), start_state=start_state,
            start_action=start_action, table=self._table)
        if start_state is not None and len(states) and int(states[0]) != start_state:
            raise ValueError(
                f"the environment started in state {int(states[0])}, not in the requested "
                f"{start_state}: it ignores reset(options={{'start': s}}), which MC Basic "
                "and exploring starts need; use mc_epsilon_greedy")
        return states, actions, rewards

    def batch(self, policy: np.ndarray, length: int, rng: np.random.Generator,
              start_states: np.ndarray, start_actions: np.ndarray | None = None
              ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Episodes from each of ``start_states`` (and ``start_actions``), all under ``policy``.

        Returns a list of ``(states, actions, rewards)``, one per start, the same as calling
        :meth:`episode` for each start in turn (row ``i`` of the uniforms belongs to episode
        ``i``); with a tabulated rule the steps of all episodes are taken together with
        NumPy, one array operation per time step, and the environment is not reset.
        """
        length = check_count("length", length)
        check_instance("rng", rng, np.random.Generator, what="a numpy Generator")
        starts = check_array("start_states", start_states, ndim=1, integer=True, min_size=0)
        acts0 = None if start_actions is None else check_array(
            "start_actions", start_actions, ndim=1, integer=True, min_size=0)
        pi = check_policy(policy, self.n_states, self.n_actions)
        if np.any(starts < 0) or np.any(starts >= self.n_states):
            raise ValueError(f"start_states must be state indices 0..{self.n_states - 1}")
        if acts0 is not None and (acts0.shape != starts.shape or np.any(acts0 < 0)
                                  or np.any(acts0 >= self.n_actions)):
            raise ValueError(f"start_actions must be one action index 0..{self.n_actions - 1} "
                             f"per start state (start_states has {len(starts)})")
        if not self.fast:
            cdf = policy_cdf(pi)
            return [self.episode_cdf(cdf, length, rng, start_state=int(s),
                                     start_action=None if acts0 is None else int(acts0[i]))
                    for i, s in enumerate(starts)]
        B = len(starts)
        U = rng.random((B, length))                     # row i: episode i's uniforms
        cum = np.cumsum(pi, axis=1)
        cum /= cum[:, -1:]                              # as policy_cdf
        states = np.empty((B, length), dtype=np.int64)
        actions = np.empty((B, length), dtype=np.int64)
        s = starts.copy()
        for t in range(length):                         # (B,) per step
            if t == 0 and acts0 is not None:
                a = acts0
            else:   # bisect_right, vectorised: how many CDF entries are <= u
                a = np.minimum((cum[s] <= U[:, t, None]).sum(axis=1), self.n_actions - 1)
            states[:, t], actions[:, t] = s, a
            s = self.next_state[s, a]
        rewards = self.reward[states, actions]
        return [(states[i], actions[i], rewards[i]) for i in range(B)]
