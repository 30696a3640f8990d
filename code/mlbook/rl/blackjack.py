"""Blackjack: a genuinely episodic task for Monte Carlo methods (chapter 4).

Sutton & Barto's Example 5.1 plays Blackjack against a dealer who sticks on 17 or more,
with cards drawn from an infinite deck (each of ``A, 2, ..., 9`` with probability 1/13, a
card worth 10 with probability 4/13). Gymnasium ships the game as ``"Blackjack-v1"``; its
registered rules (``sab=True``) are Sutton & Barto's. An observation is
``(player_sum, dealer_card, usable_ace)`` and an action is 0 (stick) or 1 (hit). Every game
ends after a few cards with a reward of -1, 0 or +1 and no discount, so the return of every
step is the game's final reward: Monte Carlo estimation needs no truncation here.

This module has the two halves of the chapter's check:

* :func:`play_blackjack` plays games through the Gymnasium interface (``reset`` /
  ``step``) under a policy given as hit probabilities, and returns what a learner sees;
* :func:`evaluate_blackjack_policy` computes the exact values of the same policy from the
  rules, by dynamic programming over the player's and the dealer's hands (chapter 3's
  Bellman equation in the form of eq. (4.8), solved backwards because the card total only
  grows).

Policies are arrays ``hit_prob`` of shape ``OBS_SHAPE = (32, 11, 2)``, indexed like the
observation: ``hit_prob[player_sum, dealer_card, usable_ace]`` is the probability of
hitting. State indices (for the tabular code in :mod:`mlbook.rl.monte_carlo`) are
``np.ravel_multi_index(obs, OBS_SHAPE)``, 704 in all, most never visited.

Sources: R. S. Sutton and A. G. Barto, *Reinforcement Learning: An Introduction*, 2nd ed.,
MIT Press, 2018, Examples 5.1 and 5.4; Gymnasium's ``blackjack.py`` for the rules played.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..checks import ArgumentTypeError, check_array, check_seed

__all__ = ["BlackjackEpisodes", "BlackjackValues", "CARD_PROBS", "OBS_SHAPE", "STICK", "HIT",
           "evaluate_blackjack_policy", "play_blackjack", "stick_on_policy"]

#: ``(player_sum, dealer_card, usable_ace)``: Gymnasium's observation space,
#: ``Tuple(Discrete(32), Discrete(11), Discrete(2))``.
OBS_SHAPE = (32, 11, 2)
STICK, HIT = 0, 1
#: Probability of each card value 1 (ace) to 10 with an infinite deck; index 0 unused.
CARD_PROBS = np.array([0.0] + [1 / 13] * 9 + [4 / 13])
_CARDS = range(1, 11)
#: Probability that two cards are an ace and a ten-card (a natural).
P_NATURAL = 2 * CARD_PROBS[1] * CARD_PROBS[10]


def stick_on_policy(threshold: int = 20) -> np.ndarray:
    """The deterministic policy "stick on ``threshold`` or more, otherwise hit".

    Returns hit probabilities of shape ``OBS_SHAPE``: 1 where the player's sum is below
    ``threshold``, 0 elsewhere (whatever the dealer shows). ``threshold=20`` is Sutton &
    Barto's Example 5.1 policy, sticking only on 20 or 21.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Integral) \
            or not 2 <= threshold <= 22:
        raise ValueError(f"threshold must be an integer player sum from 2 to 22, "
                         f"got {threshold!r}")
    hit = np.zeros(OBS_SHAPE)
    hit[:threshold] = 1.0
    return hit


def _check_hit_prob(hit_prob: Any, name: str = "hit_prob") -> np.ndarray:
    hit = check_array(name, hit_prob, min_size=0, finite=False)
    if hit.shape != OBS_SHAPE:
        raise ValueError(f"{name} must have shape {OBS_SHAPE} (player sum, dealer card, "
                         f"usable ace), got {hit.shape}")
    if not np.all((hit >= 0) & (hit <= 1)):
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return hit


def _check_sab(sab: Any) -> bool:
    if not isinstance(sab, bool):
        raise TypeError(f"sab must be True (Sutton & Barto's rules, Gymnasium's default) or "
                        f"False, got {sab!r}")
    return sab


# ---- exact values by dynamic programming --------------------------------------------------
def _player_obs(raw: int, has_ace: bool) -> tuple[int, int]:
    # the observation of a hand whose cards add up to raw (aces as 1)
    if has_ace and raw + 10 <= 21:
        return raw + 10, 1
    return raw, 0


@lru_cache(maxsize=None)
def _dealer_final(raw: int, has_ace: bool) -> tuple[float, ...]:
    # distribution of the dealer's final score from a hand (raw, has_ace) that still plays
    # by the rule "hit below 17": probabilities of the scores 0 (bust), 17, 18, 19, 20, 21
    total, _ = _player_obs(raw, has_ace)
    out = np.zeros(6)
    if raw > 21:
        out[0] = 1.0
    elif total >= 17:
        out[total - 16] = 1.0
    else:
        for c in _CARDS:
            out += CARD_PROBS[c] * np.array(_dealer_final(raw + c, has_ace or c == 1))
    return tuple(out)


def _dealer_outcomes(dealer_card: int) -> tuple[np.ndarray, float]:
    """Final-score distribution ``(6,)`` (bust, 17..21) of a dealer showing ``dealer_card``,
    the hidden card drawn from the infinite deck, and the probability of a natural."""
    dist = np.zeros(6)
    for c in _CARDS:
        dist += CARD_PROBS[c] * np.array(_dealer_final(dealer_card + c,
                                                       dealer_card == 1 or c == 1))
    p_nat = CARD_PROBS[10] if dealer_card == 1 else CARD_PROBS[1] if dealer_card == 10 else 0.0
    return dist, p_nat


def _hit_outcomes(p: int, usable: int) -> list[tuple[float, tuple[int, int] | None]]:
    # (probability, next observation (sum, usable) or None for a bust) of one more card
    raw, has_ace = (p - 10, True) if usable else (p, False)
    out = []
    for c in _CARDS:
        new_raw = raw + c
        if new_raw > 21:
            out.append((CARD_PROBS[c], None))
        else:   # a hard sum below 12 has no ace in it, so has_ace is only known when usable
            out.append((CARD_PROBS[c], _player_obs(new_raw, has_ace or c == 1)))
    return out


@dataclass
class BlackjackValues:
    """The exact values of a Blackjack policy (infinite deck), from :func:`evaluate_blackjack_policy`.

    Arrays are indexed like Gymnasium's observation, ``[player_sum, dealer_card,
    usable_ace]``; entries for observations that cannot occur are NaN.
    """

    v: np.ndarray
    """``v_pi(s)``, shape ``OBS_SHAPE``: the expected final reward from a hand that is not
    a natural (the observation of a natural, 21 with a usable ace, is in ``v_natural``)."""
    q: np.ndarray
    """``q_pi(s, a)``, shape ``OBS_SHAPE + (2,)``, actions ``[stick, hit]``."""
    v_natural: np.ndarray
    """Value of being dealt a natural, shape ``(11,)`` by dealer card (index 0 NaN)."""
    reach: np.ndarray = field(repr=False)
    """Probability that a game passes through each observation (not counting a dealt
    natural), shape ``OBS_SHAPE``; summed over the dealer card, the chance of each
    player state."""
    game_value: float = 0.0
    """Expected final reward of a game from the deal, ``E[G_0]``."""
    sab: bool = True

    def observed_values(self) -> np.ndarray:
        """What averaging returns per *observation* converges to, shape ``OBS_SHAPE``.

        Equal to ``v`` except at 21 with a usable ace, which is also the observation of a
        dealt natural; there it is the average of the two values weighted by how often a
        game reaches each (under Sutton & Barto's rules a natural pays more).
        """
        out = self.v.copy()
        p_dealer = CARD_PROBS[1:]
        w_nat = p_dealer * P_NATURAL                      # (10,) P(natural, dealer shows d)
        w_hit = self.reach[21, 1:, 1]                     # (10,) P(reach soft 21 otherwise)
        out[21, 1:, 1] = ((w_nat * self.v_natural[1:] + w_hit * self.v[21, 1:, 1])
                          / (w_nat + w_hit))
        return out


def evaluate_blackjack_policy(hit_prob: np.ndarray, *, sab: bool = True) -> BlackjackValues:
    """Exact state and action values of a Blackjack policy, by dynamic programming.

    With an infinite deck the player's future depends only on the observation
    ``s = (player_sum, dealer_card, usable_ace)``, so the values solve chapter 3's Bellman
    equation with no discount and rewards only at the end, eq. (4.8)::

        q(s, stick) = sum_x P(dealer ends on x | dealer_card) * cmp(player_sum, x),
        q(s, hit)   = sum_c P(c) * (-1 if s + c busts else v(s + c)),
        v(s)        = hit_prob[s] q(s, hit) + (1 - hit_prob[s]) q(s, stick),

    where the dealer's hidden card and draws come from the same deck and a bust dealer
    scores 0. Hitting only raises the card total, so one pass from high sums to low ones
    solves the equations exactly. Under Sutton & Barto's rules (``sab=True``, Gymnasium's
    default) a dealt natural wins +1 unless the dealer also has one; with ``sab=False``
    it is compared like any 21. ``reach`` and ``game_value`` come from a forward pass over
    the deal.

    Parameters
    ----------
    hit_prob
        Probability of hitting in each observation, shape ``OBS_SHAPE`` (see
        :func:`stick_on_policy`).
    sab
        Sutton & Barto's natural rule (True) or Gymnasium's plain comparison (False).
    """
    hit = _check_hit_prob(hit_prob)
    sab = _check_sab(sab)
    v = np.full(OBS_SHAPE, np.nan)
    q = np.full(OBS_SHAPE + (2,), np.nan)
    v_natural = np.full(11, np.nan)
    # player observations, by decreasing raw card total (aces as 1): later hands first
    player_states = [(p, 0) for p in range(4, 22)] + [(p, 1) for p in range(12, 22)]
    order = sorted(player_states, key=lambda s: -(s[0] - 10 * s[1]))
    reach = np.zeros(OBS_SHAPE)
    for d in _CARDS:
        dist, dealer_nat = _dealer_outcomes(d)
        scores = np.array([0, 17, 18, 19, 20, 21])
        for p, u in order:
            q_stick = float(dist @ np.sign(p - scores))
            q_hit = sum(pr * (-1.0 if nxt is None else v[nxt[0], d, nxt[1]])
                        for pr, nxt in _hit_outcomes(p, u))
            q[p, d, u] = q_stick, q_hit
            v[p, d, u] = hit[p, d, u] * q_hit + (1 - hit[p, d, u]) * q_stick
        if sab:     # +1 unless the dealer's two cards are a natural too
            v_natural[d] = 1.0 - dealer_nat
        else:       # a plain 21: a draw against any dealer 21
            v_natural[d] = float(dist @ np.sign(21 - scores))
        # forward: the deal (two cards, not a natural), then the policy's hits
        for c1 in _CARDS:
            for c2 in _CARDS:
                if {c1, c2} == {1, 10}:
                    continue
                p, u = _player_obs(c1 + c2, c1 == 1 or c2 == 1)
                reach[p, d, u] += CARD_PROBS[d] * CARD_PROBS[c1] * CARD_PROBS[c2]
        for p, u in reversed(order):                   # increasing raw total
            go = reach[p, d, u] * hit[p, d, u]
            for pr, nxt in _hit_outcomes(p, u):
                if nxt is not None:
                    reach[nxt[0], d, nxt[1]] += go * pr
    # E[G_0]: dealer card d, then a natural or a first observation of the player
    game = 0.0
    for d in _CARDS:
        game += CARD_PROBS[d] * P_NATURAL * v_natural[d]
        for c1 in _CARDS:
            for c2 in _CARDS:
                if {c1, c2} == {1, 10}:
                    continue
                p, u = _player_obs(c1 + c2, c1 == 1 or c2 == 1)
                game += CARD_PROBS[d] * CARD_PROBS[c1] * CARD_PROBS[c2] * v[p, d, u]
    return BlackjackValues(v=v, q=q, v_natural=v_natural, reach=reach,
                           game_value=float(game), sab=sab)


# ---- playing through Gymnasium ------------------------------------------------------------
@dataclass
class BlackjackEpisodes:
    """Games played by :func:`play_blackjack`, as flat arrays over all steps.

    A game of ``T`` steps contributes ``T`` entries; ``episode[i]`` says which game step
    ``i`` belongs to. With no discount and no reward before the end, the return ``G_t`` of
    every step is the game's final reward, ``returns[episode[i]]``.
    """

    states: np.ndarray
    """Flat observation index of each step, ``(n_steps,)``
    (``np.ravel_multi_index(obs, OBS_SHAPE)``)."""
    actions: np.ndarray
    """Action of each step, 0 stick or 1 hit, ``(n_steps,)``."""
    episode: np.ndarray
    """Game of each step, ``(n_steps,)``, non-decreasing."""
    returns: np.ndarray
    """Final reward of each game, ``(n_episodes,)``: -1, 0 or +1."""
    naturals: np.ndarray
    """Whether each game was dealt a natural, ``(n_episodes,)``."""

    @property
    def n_episodes(self) -> int:
        return len(self.returns)

    @property
    def step_returns(self) -> np.ndarray:
        """``G_t`` of every step, ``(n_steps,)``."""
        return self.returns[self.episode]

    def as_list(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """One ``(states, actions, rewards)`` triple per game, rewards 0 until the last."""
        bounds = np.flatnonzero(np.diff(self.episode)) + 1
        out = []
        for i, (s, a) in enumerate(zip(np.split(self.states, bounds),
                                       np.split(self.actions, bounds))):
            r = np.zeros(len(s))
            r[-1] = self.returns[i]
            out.append((s, a, r))
        return out

    def ratios(self, target_hit: np.ndarray, behavior_hit: np.ndarray) -> np.ndarray:
        """Importance-sampling ratio of each whole game, ``(n_episodes,)``: the product
        over its steps of ``pi(A_t | S_t) / b(A_t | S_t)`` for target and behaviour
        policies given as hit probabilities (shape ``OBS_SHAPE``)."""
        t = _check_hit_prob(target_hit, "target_hit").ravel()[self.states]
        b = _check_hit_prob(behavior_hit, "behavior_hit").ravel()[self.states]
        hit = self.actions == HIT
        pt, pb = np.where(hit, t, 1 - t), np.where(hit, b, 1 - b)
        if np.any(pb == 0):
            raise ValueError("the behaviour policy gives probability 0 to an action taken")
        step = pt / pb
        out = np.ones(self.n_episodes)
        np.multiply.at(out, self.episode, step)
        return out


def play_blackjack(n_episodes: int, hit_prob: np.ndarray, *, seed: int = 0,
                   env=None, start: tuple[tuple[int, ...], int] | None = None
                   ) -> BlackjackEpisodes:
    """Play ``n_episodes`` games of Gymnasium's ``Blackjack-v1`` under a policy.

    Parameters
    ----------
    n_episodes
        Games to play (at least 1).
    hit_prob
        Probability of hitting in each observation, shape ``OBS_SHAPE``.
    seed
        Seeds the environment's cards (its first ``reset``) and, through a separate
        generator, the policy's random choices: the same seed plays the same games.
    env
        A Blackjack environment to play; by default ``gymnasium.make("Blackjack-v1")``.
        The game is played only through ``reset`` and ``step``.
    start
        ``(player_cards, dealer_card)`` to start every game from a chosen deal, e.g.
        ``((1, 2), 2)``: a soft 13 against a dealer's two (Sutton & Barto's Example 5.4).
        Gymnasium's ``reset`` cannot be asked for a deal, so after each ``reset`` the
        player's hand and the dealer's face-up card are set on the unwrapped environment
        (the dealer's hidden card stays the one ``reset`` drew); the game is then played
        through ``step`` as usual.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, numbers.Integral) \
            or n_episodes < 1:
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    hit = _check_hit_prob(hit_prob)
    if env is not None and not (hasattr(env, "reset") and hasattr(env, "step")):
        raise ArgumentTypeError(f"env must be None (a fresh Blackjack-v1) or a Gymnasium "
                                f"Blackjack environment, got {type(env).__name__}")
    if env is None:
        import gymnasium
        env = gymnasium.make("Blackjack-v1")
    if start is not None:
        try:
            cards, dealer_card = [int(c) for c in start[0]], int(start[1])
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"start must be (player_cards, dealer_card), e.g. ((1, 2), 2), "
                             f"got {start!r}") from None
        if (len(cards) < 2 or not all(1 <= c <= 10 for c in cards + [dealer_card])
                or sum(cards) > 21):
            raise ValueError(f"start must hold at least two player cards and a dealer card, "
                             f"each from 1 (ace) to 10, not bust; got {start!r}")
        start_obs = _player_obs(sum(cards), 1 in cards)
    rng = check_seed("seed", seed)      # None: fresh entropy (mlbook.checks)
    env_seed = int(rng.integers(2**31))
    hit_list = hit.tolist()
    states, actions, episode = [], [], []
    returns = np.empty(n_episodes)
    naturals = np.zeros(n_episodes, dtype=bool)
    width = OBS_SHAPE[1] * OBS_SHAPE[2]
    for i in range(n_episodes):
        (p, d, u), _ = env.reset(seed=env_seed if i == 0 else None)
        if start is not None:                           # the chosen deal, see above
            game = env.unwrapped
            game.player = list(cards)
            game.dealer[0] = dealer_card
            (p, u), d = start_obs, dealer_card
        naturals[i] = p == 21          # two cards making 21: an ace and a ten-card
        done = False
        while not done:
            a = HIT if rng.random() < hit_list[p][d][u] else STICK
            states.append(p * width + d * OBS_SHAPE[2] + u)
            actions.append(a)
            episode.append(i)
            (p, d, u), r, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
        returns[i] = r
    return BlackjackEpisodes(states=np.array(states, dtype=np.int64),
                             actions=np.array(actions, dtype=np.int64),
                             episode=np.array(episode, dtype=np.int64),
                             returns=returns, naturals=naturals)
