"""Monte Carlo control: learning action values from sampled episodes (chapter 4).

Chapter 4, *Monte Carlo methods: learning from episodes instead of a model*, drops the
model ``(P, R)`` that chapter 3's planning code needs and estimates action values

    q_pi(s, a) = E[G_t | S_t = s, A_t = a]                               (4.2)

by averaging the returns of sampled episodes, eq. (4.3). Three algorithms build on it,
each a form of chapter 3's policy iteration whose evaluation step is an
average of returns instead of a linear solve:

* :func:`mc_basic` (Zhao 2025, ch. 5): for every state-action pair, run episodes of a
  fixed length that start with it, average their returns (4.4), then make the policy
  greedy (4.5). Model-free policy iteration, and the slowest of the three.
* :func:`mc_exploring_starts` (Sutton & Barto 2018, sec. 5.3): one episode at a time, from
  a random state-action pair; every (or only the first) visit of a pair in the episode
  contributes its return, eq. (4.6), and the policy is improved after every episode.
* :func:`mc_epsilon_greedy` (Sutton & Barto 2018, sec. 5.4): no exploring starts; the
  policy stays epsilon-greedy, eq. (4.7), so every action keeps being tried
  (:func:`epsilon_greedy_policy`).

Two more pieces estimate the value of a *fixed* policy: :func:`state_value_estimates`
(Monte Carlo prediction, the averages (4.3) per state, with standard errors; chapter 4
checks it on Blackjack, :mod:`mlbook.rl.blackjack`, against the exact values (4.8)), and
off-policy prediction from another policy's episodes with importance-sampling ratios
(4.9): :func:`importance_sampling_estimates` (ordinary (4.10) and weighted (4.11)
estimates) and :func:`mc_off_policy_prediction` (the incremental weighted update (4.12)).

Each control algorithm takes any environment of chapter 3's form: a :class:`~mlbook.rl.gridworld.GridWorld`
or any Gymnasium environment with ``Discrete`` observation and action spaces (MC Basic and
exploring starts also need ``reset(options={"start": s})`` to start where they ask, as the
grid world does). The learner sees only the states, actions and rewards of the episodes;
it never reads ``P`` or ``R``. Episodes come from an
:class:`~mlbook.rl.episodes.EpisodeSampler`, which runs chapter 3's
:func:`~mlbook.rl.episodes.sample_episode` loop and depends only on the Gymnasium
interface. Where an unwrapped environment exposes its own deterministic step rule
(``transition(state, action)``, as ``GridWorld`` does) the sampler tabulates it once and
looks steps up instead of calling ``env.step``: the same episodes, step for step and seed
for seed, faster (tests check the equality, the chapter measures the speed-up). Exploring
starts and MC epsilon-greedy share one loop, :func:`episodic_control`.

Every function is seeded and returns an :class:`MCResult`: the action values ``q``
(shape ``(S, A)``, in reward units), the policy (``(S, A)`` action probabilities), how many
returns each estimate averages, and a learning curve (snapshots of ``q`` and the return of
every episode).

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
MIT Press, 2018, ch. 5; S. Zhao, *Mathematical Foundations of Reinforcement Learning*,
Springer Nature Press, 2025, ch. 5; S. P. Singh and R. S. Sutton, "Reinforcement learning
with replacing eligibility traces", *Machine Learning* 22, 1996 (first- and every-visit MC).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import (ArgumentTypeError, check_array, check_bool, check_choice, check_count,
                      check_instance, check_list, check_number, check_seed)
from ..progress import tqdm
from .episodes import EpisodeSampler, discounted_return, discounted_returns, policy_cdf
from .mdp import FiniteMDP, check_policy, uniform_policy
from .planning import evaluate_policy_exact, greedy_policy

__all__ = ["MCResult", "OffPolicyResult", "ValueEstimates",
           "best_epsilon_greedy", "episodic_control", "epsilon_greedy_policy",
           "importance_sampling_estimates", "mc_basic", "mc_epsilon_greedy", "mc_exploring_starts", "mc_off_policy_prediction",
           "state_value_estimates", "suboptimal_states", "unique_optimal_states",
           "PROGRESS_MIN_STEPS"]

#: Action values this close count as tied (as in :func:`~mlbook.rl.planning.greedy_policy`).
_TIE_ATOL = 1e-9

#: Runs of at least this many environment steps show a tqdm bar (``progress=None``).
PROGRESS_MIN_STEPS = 1_000_000


# ---- results ------------------------------------------------------------------------------
@dataclass
class MCResult:
    """What a Monte Carlo control run learned, and how it got there."""

    q: np.ndarray
    """Final action-value estimates ``q(s, a)``, shape ``(S, A)``, reward units. A pair
    that no episode visited keeps its initial value 0."""
    policy: np.ndarray
    """The final policy, ``(S, A)``: greedy in ``q`` (MC Basic, exploring starts) or
    epsilon-greedy in ``q`` (:func:`mc_epsilon_greedy`)."""
    counts: np.ndarray
    """Number of returns averaged into each ``q(s, a)``, shape ``(S, A)``."""
    n_episodes: int
    """Episodes sampled in all."""
    n_steps: int
    """Environment steps taken in all (the sum of the episodes' lengths)."""
    checkpoints: np.ndarray
    """Number of episodes done at each snapshot, shape ``(K,)``; starts with 0."""
    q_history: np.ndarray = field(repr=False)
    """The estimate ``q`` at each checkpoint, shape ``(K, S, A)``: the learning curve."""
    episode_returns: np.ndarray = field(repr=False)
    """Discounted return ``G_0`` of each episode, shape ``(n_episodes,)``: the learning
    curve an agent can see without a model."""
    n_iter: int | None = None
    """MC Basic only: policy-iteration steps taken (each runs episodes from every pair)."""
    converged: bool | None = None
    """MC Basic only: whether the greedy policy stopped changing before ``max_iter``."""

    @property
    def greedy(self) -> np.ndarray:
        """The deterministic policy greedy in ``q`` (lowest action index on ties), ``(S, A)``."""
        return greedy_policy(self.q)

    @property
    def values(self) -> np.ndarray:
        """``max_a q(s, a)``, the state values the estimates imply, shape ``(S,)``."""
        return self.q.max(axis=1)

    def greedy_history(self) -> np.ndarray:
        """The greedy policy at each checkpoint, shape ``(K, S, A)``."""
        return np.stack([greedy_policy(q) for q in self.q_history])

    def suboptimal_counts(self, q_star: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
        """At each checkpoint, how many states with a unique optimal action (in ``q_star``,
        shape ``(S, A)``) the greedy policy gets wrong, shape ``(K,)``: a learning curve."""
        unique = unique_optimal_states(q_star, atol=atol)
        return np.array([int(suboptimal_states(q, q_star, atol=atol)[unique].sum())
                         for q in self.q_history])

    def episodes_to_optimal(self, q_star: np.ndarray, *, atol: float = 1e-6) -> int | None:
        """Episodes after which the greedy action is optimal in every state whose optimal
        action is unique, and stays so at every later checkpoint; ``None`` if it never
        gets there. Resolution: the checkpoints (``record_every``)."""
        wrong = self.suboptimal_counts(q_star, atol=atol)
        bad = np.flatnonzero(wrong)
        if bad.size == 0:
            return int(self.checkpoints[0])
        if bad[-1] == len(wrong) - 1:
            return None
        return int(self.checkpoints[bad[-1] + 1])


# ---- argument checks ----------------------------------------------------------------------
def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    return check_count(name, value, minimum=minimum)


def _check_epsilon(epsilon: Any) -> float:
    if (isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real)
            or not 0.0 <= float(epsilon) <= 1.0):
        raise ValueError(f"epsilon must be a number in [0, 1] (0: greedy, 1: uniformly "
                         f"random), got {epsilon!r}")
    return float(epsilon)


def _check_visit(visit: Any) -> str:
    return check_choice("visit", visit, ("first", "every"))


def _check_step_size(step_size: Any) -> float | None:
    if step_size is None:
        return None
    if (isinstance(step_size, bool) or not isinstance(step_size, numbers.Real)
            or not 0 < step_size <= 1):
        raise ValueError(f"step_size must be None (plain averages) or a number in (0, 1], "
                         f"got {step_size!r}")
    return float(step_size)


def _rng(seed: Any) -> np.random.Generator:
    # a seed, a Generator, or None for fresh entropy: mlbook.checks.check_seed
    return check_seed("seed", seed)


def _check_env(env: Any) -> tuple[int, int]:
    """``(S, A)`` of an environment with Discrete observation and action spaces."""
    n_s = getattr(getattr(env, "observation_space", None), "n", None)
    n_a = getattr(getattr(env, "action_space", None), "n", None)
    if n_s is None or n_a is None:
        raise ArgumentTypeError(
            "env must be a Gymnasium environment with Discrete observation and action "
            "spaces (a tabular problem, such as GridWorld), got "
            f"{type(env).__name__}" + (f" with {env.observation_space} and {env.action_space}"
                                       if hasattr(env, "observation_space") else ""))
    return int(n_s), int(n_a)


def _gamma(env, gamma: Any) -> float:
    _check_env(env)
    if gamma is None:
        gamma = getattr(getattr(env, "unwrapped", env), "gamma", None)
        if gamma is None:
            raise ValueError("this environment has no discount of its own: pass gamma, "
                             "a number in [0, 1]")
    return check_number("gamma", gamma, minimum=0.0, maximum=1.0)


def _record_every(record_every: Any, n_episodes: int) -> int:
    if record_every is None:
        return max(1, n_episodes // 100)
    return _check_int("record_every", record_every)


def _show_progress(progress: bool | None, n_steps: int) -> bool:
    return n_steps >= PROGRESS_MIN_STEPS if progress is None else check_bool("progress", progress)


# ---- epsilon-greedy policies and references -------------------------------------------------
def epsilon_greedy_policy(q: np.ndarray, epsilon: float) -> np.ndarray:
    """The epsilon-greedy policy of action values ``q`` (shape ``(S, A)``), eq. (4.7).

    In every state the greedy action ``a* = argmax_a q(s, a)`` (the lowest index on ties)
    gets probability ``1 - epsilon (A - 1) / A`` and every other action ``epsilon / A``:
    with probability ``1 - epsilon`` act greedily, otherwise pick an action uniformly at
    random. ``epsilon = 0`` is the greedy policy, ``epsilon = 1`` the uniform one. Returns
    an ``(S, A)`` array of probabilities.
    """
    epsilon = _check_epsilon(epsilon)
    greedy = greedy_policy(q)
    n_actions = greedy.shape[1]
    return (1.0 - epsilon) * greedy + epsilon / n_actions


def best_epsilon_greedy(mdp: FiniteMDP, epsilon: float, *,
                        max_iter: int = 1_000) -> tuple[np.ndarray, np.ndarray]:
    """The best epsilon-greedy policy of a known MDP, by policy iteration over such policies.

    A model-based reference for what :func:`mc_epsilon_greedy` converges to: evaluate the
    epsilon-greedy policy exactly (chapter 3's linear solve), make it epsilon-greedy in the
    resulting action values, repeat until it stops changing (Sutton & Barto 2018, sec.
    5.4). Returns ``(q, policy)``: its action values ``(S, A)`` and the policy ``(S, A)``.
    """
    check_instance("mdp", mdp, FiniteMDP)
    epsilon = _check_epsilon(epsilon)
    max_iter = _check_int("max_iter", max_iter)
    pi = epsilon_greedy_policy(np.zeros((mdp.n_states, mdp.n_actions)), epsilon)
    for _ in range(max_iter):
        q = mdp.action_values(evaluate_policy_exact(mdp, pi))
        new_pi = epsilon_greedy_policy(q, epsilon)
        if np.array_equal(new_pi, pi):
            break
        pi = new_pi
    return q, pi


def unique_optimal_states(q_star: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
    """States with exactly one optimal action: a boolean mask of shape ``(S,)``.

    An action counts as optimal if ``q_star[s, a]`` is within ``atol`` of the best.
    """
    q_star = check_array("q_star", q_star, ndim=2)
    atol = check_number("atol", atol, minimum=0.0)
    return (q_star >= q_star.max(axis=1, keepdims=True) - atol).sum(axis=1) == 1


def suboptimal_states(q: np.ndarray, q_star: np.ndarray, *, atol: float = 1e-6) -> np.ndarray:
    """States where the greedy action of ``q`` is not an optimal action of ``q_star``, ``(S,)``.

    Where the optimal action is unique this asks for exactly that action; where several
    tie, any of them will do. Both arrays have shape ``(S, A)``.
    """
    q, q_star = check_array("q", q, ndim=2), check_array("q_star", q_star, ndim=2)
    atol = check_number("atol", atol, minimum=0.0)
    if q.shape != q_star.shape or q.ndim != 2:
        raise ValueError(f"q and q_star must both have shape (S, A), got {q.shape} and "
                         f"{q_star.shape}")
    chosen = greedy_policy(q).argmax(axis=1)
    best = q_star.max(axis=1)
    return q_star[np.arange(len(q)), chosen] < best - atol


# ---- shared bookkeeping -------------------------------------------------------------------
class _Estimates:
    """Action-value estimates from returns: running averages (4.3) or a constant step size.

    With ``step_size=None`` the ``n``-th return ``g`` of a pair moves its estimate by
    ``(g - q) / n``, so ``q`` is the plain average of all its returns, eq. (4.6). With a
    step size ``alpha`` the move is ``max(1/n, alpha) (g - q)``: an average for the first
    ``1/alpha`` returns, then an exponentially weighted one that forgets old returns
    (chapter 5 studies such step sizes).
    """

    def __init__(self, n_states: int, n_actions: int, step_size: float | None):
        self.shape = (n_states, n_actions)
        self.step_size = step_size
        self.sums = np.zeros(n_states * n_actions)
        self.counts = np.zeros(n_states * n_actions, dtype=np.int64)
        self.q = np.zeros(self.shape)

    def add(self, states: np.ndarray, actions: np.ndarray, returns: np.ndarray,
            visit: str) -> None:
        """Add each visit's return (``visit="every"``) or each pair's first one, (4.6)."""
        idx = (states * self.shape[1] + actions).astype(np.intp, copy=False)  # (T,) pairs
        if visit == "first":
            # first[p] = the earliest t with idx[t] == p: written backwards, the earliest wins
            t = np.arange(len(idx))
            first = np.empty(self.sums.size, dtype=np.intp)
            first[idx[::-1]] = t[::-1]
            keep = first[idx] == t
            idx, returns = idx[keep], returns[keep]
        q = self.q.ravel()                              # a view: writes go to self.q
        if self.step_size is None:                      # averages: the order does not matter
            size = self.sums.size
            self.sums += np.bincount(idx, weights=returns, minlength=size)
            self.counts += np.bincount(idx, minlength=size)
            q[idx] = self.sums[idx] / self.counts[idx]
            return
        alpha, counts = self.step_size, self.counts
        for p, g in zip(idx[::-1].tolist(), returns[::-1].tolist()):  # backwards in time
            counts[p] += 1
            q[p] += max(1.0 / counts[p], alpha) * (g - q[p])


def _initial_policy(policy0: np.ndarray | None, default: np.ndarray, S: int, A: int):
    if policy0 is None:
        return default
    return check_policy(policy0, S, A, name="policy0").copy()


def _greedy_action(row: list[float]) -> int:
    # argmax of one row of q, ties to the lowest index: as planning.greedy_policy
    top = max(row) - _TIE_ATOL
    return next(a for a, x in enumerate(row) if x >= top)


# ---- MC Basic -----------------------------------------------------------------------------
def mc_basic(env, episode_length: int, *, episodes_per_pair: int = 1, max_iter: int = 50,
             gamma: float | None = None, policy0: np.ndarray | None = None, seed: Any = 0,
             fast: bool = True, progress: bool | None = None) -> MCResult:
    """MC Basic: policy iteration whose evaluation step averages sampled returns.

    Iteration ``k`` estimates every action value of the current policy ``pi_k`` by the
    average return of ``episodes_per_pair`` episodes that start with the pair ``(s, a)``
    and then follow ``pi_k`` for ``episode_length`` steps in all, eq. (4.4)::

        q_k(s, a) = (1 / N) sum_i g_i(s, a),   g_i = sum_{t < L} gamma^t R_{t+1},

    and improves the policy greedily, ``pi_{k+1}(s) = argmax_a q_k(s, a)``, eq. (4.5).
    It stops when the greedy policy no longer changes (``converged``) or after
    ``max_iter`` iterations. The return is truncated after ``episode_length`` steps, so a
    state more than ``L`` steps from any reward sees only zeros: short episodes limit what
    can be learned.

    Parameters
    ----------
    env
        A ``GridWorld`` or a Gymnasium environment with Discrete spaces that honours
        ``reset(options={"start": s})``.
    episode_length
        ``L``, steps per episode (at least 1).
    episodes_per_pair
        ``N``, episodes averaged per pair and iteration (1 suffices when the environment
        and the policy are deterministic, as for the grid world).
    gamma
        Discount in ``[0, 1]``; defaults to the environment's ``gamma``.
    policy0
        The first policy, ``(S, A)``; by default the first action everywhere.
    seed
        Seeds every random draw (an integer or a ``numpy.random.Generator``).
    fast
        Let the :class:`~mlbook.rl.episodes.EpisodeSampler` tabulate the environment's
        step rule when it exposes one (the same episodes, faster).

    Returns an :class:`MCResult` whose ``q_history`` holds ``q_k`` after every iteration
    (checkpoints every ``S * A * N`` episodes) and whose ``policy`` is greedy in ``q``.
    """
    L = _check_int("episode_length", episode_length)
    N = _check_int("episodes_per_pair", episodes_per_pair)
    max_iter = _check_int("max_iter", max_iter)
    gamma = _gamma(env, gamma)
    rng = _rng(seed)
    sampler = EpisodeSampler(env, seed=int(rng.integers(2**31)), fast=fast)
    S, A = sampler.n_states, sampler.n_actions
    first = np.zeros((S, A))
    first[:, 0] = 1.0
    pi = _initial_policy(policy0, first, S, A)
    # every pair N times: states 0,0,..,1,1,.. with actions 0..A-1 cycling
    starts = np.repeat(np.arange(S), A * N)
    acts = np.tile(np.repeat(np.arange(A), N), S)

    q = np.zeros((S, A))
    history, returns = [q.copy()], []
    n_steps, converged, k = 0, False, 0
    show = _show_progress(progress, max_iter * S * A * N * L)
    for k in tqdm(range(1, max_iter + 1), desc="MC Basic", disable=not show, leave=False):
        episodes = sampler.batch(pi, L, rng, starts, acts)
        g = np.array([discounted_return(r, gamma) for _, _, r in episodes])
        n_steps += sum(len(r) for _, _, r in episodes)
        returns.append(g)
        q = g.reshape(S, A, N).mean(axis=2)             # (4.4)
        history.append(q)
        new_pi = greedy_policy(q)                       # (4.5)
        if np.array_equal(new_pi, pi):
            converged = True
            break
        pi = new_pi
    n_episodes = k * S * A * N
    return MCResult(q=q, policy=greedy_policy(q), counts=np.full((S, A), N),
                    n_episodes=n_episodes, n_steps=n_steps,
                    checkpoints=np.arange(k + 1) * S * A * N, q_history=np.stack(history),
                    episode_returns=np.concatenate(returns), n_iter=k, converged=converged)


# ---- MC Exploring Starts and MC epsilon-greedy --------------------------------------------
def episodic_control(env, n_episodes: int, episode_length: int, *, exploring_starts: bool,
                     epsilon: float = 0.0, visit: str = "first",
                     step_size: float | None = None, gamma: float | None = None,
                     policy0: np.ndarray | None = None, seed: Any = 0,
                     record_every: int | None = None, fast: bool = True,
                     progress: bool | None = None) -> MCResult:
    """The loop of MC Exploring Starts and MC epsilon-greedy: sample, average, improve.

    For each of ``n_episodes`` episodes of ``episode_length`` steps: draw it under the
    current policy ``pi`` (from a uniformly random state-action pair with
    ``exploring_starts``, else from wherever ``env.reset()`` starts), compute every return
    ``G_t`` backwards, add them to the pairs' estimates (4.6), and make the policy greedy
    (4.5, ``epsilon = 0``) or epsilon-greedy (4.7) in the new estimates in the states the
    episode visited. :func:`mc_exploring_starts` and :func:`mc_epsilon_greedy` are this
    loop with the book's settings; see them for the parameters. ``policy0`` defaults to
    the first action everywhere with exploring starts, else to the uniform policy.

    Returns an :class:`MCResult`.
    """
    n_episodes = _check_int("n_episodes", n_episodes)
    L = _check_int("episode_length", episode_length)
    exploring_starts = check_bool("exploring_starts", exploring_starts)
    epsilon = _check_epsilon(epsilon)
    visit = _check_visit(visit)
    step_size = _check_step_size(step_size)
    gamma = _gamma(env, gamma)
    record_every = _record_every(record_every, n_episodes)
    rng = _rng(seed)
    sampler = EpisodeSampler(env, seed=int(rng.integers(2**31)), fast=fast)
    S, A = sampler.n_states, sampler.n_actions
    default = greedy_policy(np.zeros((S, A))) if exploring_starts else uniform_policy(S, A)
    pi = _initial_policy(policy0, default, S, A)
    desc = "MC exploring starts" if exploring_starts else "MC epsilon-greedy"
    # [mark: loop]
    avg = _Estimates(S, A, step_size)
    history, checkpoints = [avg.q.copy()], [0]
    ep_returns = np.empty(n_episodes)
    n_steps = 0
    cdf = policy_cdf(pi)                                # cdf[s]: the CDF of pi(. | s), a list
    low, high = epsilon / A, 1.0 - epsilon + epsilon / A    # eq. (4.7)
    show = _show_progress(progress, n_episodes * L)
    for i in tqdm(range(n_episodes), desc=desc, disable=not show, leave=False):
        s0 = a0 = None
        if exploring_starts:                            # a random pair, every pair possible
            s0, a0 = divmod(int(rng.integers(S * A)), A)
        states, actions, rewards = sampler.episode_cdf(cdf, L, rng, start_state=s0,
                                                       start_action=a0)
        g = discounted_returns(rewards, gamma)          # G_t for every t, backwards
        avg.add(states, actions, g, visit)              # (4.6)
        # improve the policy in the states the episode visited: greedy (4.5) or
        # epsilon-greedy (4.7) in the new estimates; a few states, so plain Python
        q = avg.q
        for s in set(states.tolist()):
            best = _greedy_action(q[s].tolist())
            pi[s] = low
            pi[s, best] = high
            row, c = [], 0.0
            for a in range(A):                          # the CDF, as np.cumsum builds it
                c += high if a == best else low
                row.append(c)
            cdf[s] = [x / c for x in row]
        n_steps += len(rewards)
        ep_returns[i] = g[0]
        if (i + 1) % record_every == 0 or i + 1 == n_episodes:
            history.append(avg.q.copy())
            checkpoints.append(i + 1)
    return MCResult(q=avg.q.copy(), policy=pi, counts=avg.counts.reshape(S, A).copy(),
                    n_episodes=n_episodes, n_steps=n_steps,
                    checkpoints=np.array(checkpoints), q_history=np.stack(history),
                    episode_returns=ep_returns)


def mc_exploring_starts(env, n_episodes: int, episode_length: int, *, visit: str = "first",
                        step_size: float | None = None, gamma: float | None = None,
                        policy0: np.ndarray | None = None, seed: Any = 0,
                        record_every: int | None = None, fast: bool = True,
                        progress: bool | None = None) -> MCResult:
    """MC Exploring Starts: one episode at a time from a random pair, greedy improvement.

    Each episode starts from a state-action pair drawn uniformly at random (the
    *exploring start*: every pair has a chance to begin an episode), then follows the
    current greedy policy for ``episode_length`` steps in all. Walking the episode
    backwards, ``g <- gamma g + R_{t+1}`` gives the return of every step, and the return
    of the first visit of each pair (``visit="first"``, as in Sutton & Barto) or of every
    visit (``visit="every"``, as in Zhao) updates the pair's estimate, eq. (4.6). After
    the episode the policy becomes greedy in the new estimates (lowest action on ties) in
    every state the episode visited. The loop is :func:`episodic_control`.

    In a continuing task such as the grid world, a visit ``t`` steps into an episode of
    ``L`` steps is followed by only ``L - t`` rewards, so late visits have truncated,
    biased returns; every-visit estimates suffer most. With plain averages
    (``step_size=None``) every return ever seen keeps its weight, including those of
    early, poor policies; a constant ``step_size`` forgets them (see :class:`_Estimates`).

    Parameters
    ----------
    env
        A ``GridWorld`` or a Gymnasium environment with Discrete spaces that honours
        ``reset(options={"start": s})``.
    n_episodes
        Episodes to sample (at least 1).
    episode_length
        Steps per episode (at least 1).
    visit
        ``"first"`` or ``"every"``: which visits of a pair in an episode count.
    step_size
        ``None`` for plain averages of the returns (4.6), or ``alpha`` in ``(0, 1]`` for
        the update ``q <- q + max(1/n, alpha) (g - q)``, which forgets old returns.
    gamma, policy0, seed, fast
        As in :func:`mc_basic` (``policy0`` defaults to the first action everywhere).
    record_every
        Snapshot ``q`` after every this many episodes (default: about 100 snapshots).

    Returns an :class:`MCResult`; ``policy`` is greedy in ``q``.
    """
    return episodic_control(env, n_episodes, episode_length, exploring_starts=True,
                            epsilon=0.0, visit=visit, step_size=step_size, gamma=gamma,
                            policy0=policy0, seed=seed, record_every=record_every, fast=fast,
                            progress=progress)


def mc_epsilon_greedy(env, epsilon: float, n_episodes: int, episode_length: int, *,
                      visit: str = "every", step_size: float | None = None,
                      gamma: float | None = None, policy0: np.ndarray | None = None, seed: Any = 0,
                      record_every: int | None = None, fast: bool = True,
                      progress: bool | None = None) -> MCResult:
    """MC epsilon-greedy: Monte Carlo control without exploring starts.

    Each episode starts wherever ``env.reset()`` puts the agent (for a grid world made
    with ``start=None``, a uniformly random cell) and follows the current epsilon-greedy
    policy, eq. (4.7), for ``episode_length`` steps. Returns update the pairs' estimates as
    in :func:`mc_exploring_starts` (every visit by default, as in Zhao's algorithm), and
    after each episode the policy becomes epsilon-greedy in the new estimates in the
    states the episode visited. Exploration comes from the policy itself:
    every action keeps probability at least ``epsilon / A`` in every state, so one long
    episode can visit every pair. The price is optimality: the estimates converge to the
    values of the best epsilon-greedy policy (:func:`best_epsilon_greedy`), which are
    lower than the optimal ones by an amount that grows with ``epsilon``. The loop is
    :func:`episodic_control`.

    Parameters
    ----------
    epsilon
        Exploration rate in ``[0, 1]``: 0 is greedy (no exploration), 1 uniformly random.
    n_episodes, episode_length, visit, step_size, gamma, seed, record_every, fast
        As in :func:`mc_exploring_starts`.
    policy0
        The first policy, ``(S, A)``; by default uniformly random.

    Returns an :class:`MCResult`; ``policy`` is the final epsilon-greedy policy and
    ``greedy`` the greedy one it is built on.
    """
    return episodic_control(env, n_episodes, episode_length, exploring_starts=False,
                            epsilon=_check_epsilon(epsilon), visit=visit, step_size=step_size,
                            gamma=gamma, policy0=policy0, seed=seed, record_every=record_every,
                            fast=fast, progress=progress)


# ---- Monte Carlo prediction and off-policy estimates ----------------------------------------
@dataclass
class ValueEstimates:
    """Average returns per state (Monte Carlo prediction), with their standard errors."""

    values: np.ndarray
    """Average return of each state, eq. (4.3), shape ``(S,)``; NaN where never visited."""
    std_errors: np.ndarray
    """Standard error ``sd / sqrt(n)`` of each average, ``(S,)``; NaN below 2 returns."""
    counts: np.ndarray
    """Returns averaged per state, ``(S,)``."""


def state_value_estimates(states: np.ndarray, returns: np.ndarray,
                          n_states: int) -> ValueEstimates:
    """Monte Carlo prediction of ``v_pi``: the average of the returns that follow each state.

    ``states[i]`` is a visited state index and ``returns[i]`` the return ``G_t`` that
    followed that visit (both shape ``(n,)``); each state's estimate is the plain average
    of its returns, eq. (4.3), and its standard error the sample standard deviation over
    ``sqrt(count)``. Pass first visits only for first-visit Monte Carlo, every visit for
    every-visit; in a task where no state repeats within an episode (Blackjack) the two
    coincide.
    """
    n_states = _check_int("n_states", n_states)
    s = check_array("states", states, integer=True, min_size=0)
    g = check_array("returns", returns, min_size=0)
    if s.ndim != 1 or s.shape != g.shape:
        raise ValueError(f"states and returns must be 1-D of the same length, got shapes "
                         f"{s.shape} and {g.shape}")
    if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0
                   or s.max() >= n_states):
        raise ValueError(f"states must be integer indices from 0 to {n_states - 1}")
    s = s.astype(np.intp, copy=False)
    counts = np.bincount(s, minlength=n_states)
    sums = np.bincount(s, weights=g, minlength=n_states)
    squares = np.bincount(s, weights=g * g, minlength=n_states)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
        var = (squares - counts * mean ** 2) / (counts - 1)
        se = np.where(counts > 1, np.sqrt(np.maximum(var, 0.0) / counts), np.nan)
    return ValueEstimates(values=mean, std_errors=se, counts=counts)


def importance_sampling_estimates(returns: np.ndarray, ratios: np.ndarray
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """Running ordinary and weighted importance-sampling estimates of ``v_pi``.

    ``returns[i]`` is the return ``G_i`` of the ``i``-th episode generated by a behaviour
    policy ``b`` and ``ratios[i]`` its importance-sampling ratio ``rho_i``, eq. (4.9), the
    product of ``pi(A_t | S_t) / b(A_t | S_t)`` over its steps (both shape ``(n,)``).
    After ``k`` episodes the ordinary estimate is ``sum_{i<=k} rho_i G_i / k``, eq.
    (4.10), unbiased but with a variance that grows with the ratios; the weighted estimate
    is ``sum rho_i G_i / sum rho_i``, eq. (4.11), biased for small ``k`` but with bounded
    terms. The weighted estimate is 0 while every ratio so far is 0.

    Returns ``(ordinary, weighted)``, each of shape ``(n,)``: the estimates after 1, 2,
    ..., n episodes.
    """
    g = check_array("returns", returns)
    rho = check_array("ratios", ratios)
    if g.ndim != 1 or g.shape != rho.shape or g.size == 0:
        raise ValueError(f"returns and ratios must be non-empty 1-D arrays of one length, "
                         f"got shapes {g.shape} and {rho.shape}")
    if np.any(rho < 0) or not np.all(np.isfinite(rho)):
        raise ValueError("ratios must be finite and non-negative (products of probability "
                         "ratios)")
    weighted_sum = np.cumsum(rho * g)
    weight = np.cumsum(rho)
    ordinary = weighted_sum / np.arange(1, len(g) + 1)                       # (4.10)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = np.where(weight > 0, weighted_sum / weight, 0.0)          # (4.11)
    return ordinary, weighted


@dataclass
class OffPolicyResult:
    """Action values of a target policy estimated from a behaviour policy's episodes."""

    q: np.ndarray
    """Estimates of ``q_pi(s, a)``, shape ``(S, A)``; 0 where no weight arrived."""
    weights: np.ndarray
    """Weighted: the cumulative weight ``C(s, a)`` of eq. (4.12); ordinary: the number
    of returns averaged. Shape ``(S, A)``."""
    weighted: bool


def mc_off_policy_prediction(episodes, target: np.ndarray, behavior: np.ndarray, *,
                             gamma: float, weighted: bool = True) -> OffPolicyResult:
    """Off-policy Monte Carlo prediction of ``q_pi`` from episodes of a behaviour policy.

    Every-visit, one backward pass per episode (Sutton & Barto 2018, sec. 5.6). Walking
    back from the end, ``G <- gamma G + R_{t+1}``, and ``W`` is the product of
    ``pi(A_k | S_k) / b(A_k | S_k)`` over the steps *after* ``t`` (the action ``A_t``
    itself is given, as ``q`` conditions on it). With ``weighted=True`` the update is the
    incremental form of the weighted average (4.11), eq. (4.12)::

        C(s, a) <- C(s, a) + W,    Q(s, a) <- Q(s, a) + (W / C(s, a)) (G - Q(s, a)),

    and the pass stops once ``W`` is 0 (no earlier step can get weight). With
    ``weighted=False`` it is the ordinary average (4.10) of ``W G``, every visit counting
    once, zeros included.

    Parameters
    ----------
    episodes
        An iterable of ``(states, actions, rewards)`` triples of one episode each, arrays
        of shape ``(T,)`` (as :meth:`EpisodeSampler.batch` or
        :meth:`~mlbook.rl.blackjack.BlackjackEpisodes.as_list` return them).
    target, behavior
        The policies ``pi`` and ``b`` as ``(S, A)`` action probabilities; ``b`` must give
        every action that ``pi`` takes a positive probability (coverage).
    gamma
        Discount in ``[0, 1]``.
    weighted
        Weighted (True) or ordinary (False) importance sampling.
    """
    pi = check_array("target", target, min_size=0, finite=False)
    b = check_array("behavior", behavior, min_size=0, finite=False)
    if pi.ndim != 2 or pi.shape != b.shape:
        raise ValueError(f"target and behavior must be (S, A) arrays of one shape, got "
                         f"{pi.shape} and {b.shape}")
    S, A = pi.shape
    pi = check_policy(pi, S, A, name="target")
    b = check_policy(b, S, A, name="behavior")
    if np.any((pi > 0) & (b == 0)):
        raise ValueError("behavior must give a positive probability to every action the "
                         "target policy can take (coverage)")
    gamma = _check_gamma(gamma)
    weighted = check_bool("weighted", weighted)
    episodes = check_list("episodes", episodes, min_len=0,
                          what="an iterable of (states, actions, rewards) triples")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(b > 0, pi / np.where(b > 0, b, 1.0), 0.0).tolist()
    q = np.zeros((S, A))
    c = np.zeros((S, A))
    for states, actions, rewards in episodes:
        s_list = np.asarray(states).tolist()
        a_list = np.asarray(actions).tolist()
        r_list = np.asarray(rewards, dtype=float).tolist()
        if not len(s_list) == len(a_list) == len(r_list):
            raise ValueError("each episode needs states, actions and rewards of one length")
        if s_list and (min(s_list) < 0 or max(s_list) >= S or min(a_list) < 0
                       or max(a_list) >= A):
            raise ValueError(f"episode states must be indices 0..{S - 1} and actions "
                             f"0..{A - 1}, matching the policies' shape (S, A)")
        g, w = 0.0, 1.0
        for s, a, r in zip(s_list[::-1], a_list[::-1], r_list[::-1]):
            g = gamma * g + r
            if weighted:
                c[s, a] += w                                    # (4.12)
                q[s, a] += w / c[s, a] * (g - q[s, a])
                w *= ratio[s][a]
                if w == 0.0:
                    break
            else:
                c[s, a] += 1
                q[s, a] += (w * g - q[s, a]) / c[s, a]          # (4.10), incrementally
                w *= ratio[s][a]
    return OffPolicyResult(q=q, weights=c, weighted=weighted)


def _check_gamma(gamma: Any) -> float:
    return check_number("gamma", gamma, minimum=0.0, maximum=1.0)
