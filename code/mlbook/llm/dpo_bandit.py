"""The DPO bandit (chapter 8): one prompt, a few responses, everything in closed form.

Backs the sections "Preferences and the Bradley-Terry model", "RL fine-tuning with a KL
penalty", "The optimum in closed form", "An exact check on the bandit" and "What can go
wrong" of chapter 8. One prompt, a handful of responses with known rewards, comparisons
drawn from the Bradley-Terry model (1952), and a tabular softmax policy. Everything has a
closed form here (:func:`kl_optimal_policy`, (8.4)), so DPO (Rafailov et al., 2023;
:func:`train_dpo_bandit`) and the two-stage route of RLHF (Christiano et al., 2017; Ziegler
et al., 2019; Ouyang et al., 2022: :func:`fit_bradley_terry`, then
:func:`kl_policy_gradient`) can be checked against it exactly. Equation (8.n) is the n-th
numbered equation of chapter 8; the losses themselves are :mod:`mlbook.llm.dpo`'s.

* :data:`BANDIT_PROMPT`, :data:`BANDIT_RESPONSES`, :data:`BANDIT_REWARDS`,
  :data:`BANDIT_REFERENCE`: the chapter's bandit;
* :func:`bradley_terry_probability` (8.1), :func:`sample_bandit_preferences` (labelled
  comparisons, as a labeller would give them), :func:`population_preferences` (their
  infinite-data limit), :func:`fit_bradley_terry` (the reward model, (8.2));
* :func:`kl_optimal_policy` (8.4), :func:`total_variation`;
* :func:`train_dpo_bandit` (the loss (8.6), or IPO's (8.10)) and :func:`kl_policy_gradient`
  (REINFORCE on the KL-penalised reward (8.3)), with their results
  :class:`BanditDPOResult` and :class:`BanditPolicyGradientResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import (check_array, check_count, check_int, check_integer_seed,
                      check_positive, check_seed)
from ..runtime import one_thread
from .dpo import _preference_loss, check_beta

__all__ = [
    "BANDIT_PROMPT", "BANDIT_RESPONSES", "BANDIT_REWARDS", "BANDIT_REFERENCE",
    "kl_optimal_policy", "bradley_terry_probability", "total_variation",
    "sample_bandit_preferences", "population_preferences", "fit_bradley_terry",
    "BanditDPOResult", "train_dpo_bandit", "kl_policy_gradient", "BanditPolicyGradientResult",
]


#: The chapter's bandit: one prompt and five responses a model might give to it, ...
BANDIT_PROMPT = "What is 3 plus 4?"
BANDIT_RESPONSES = ("7", "The answer is 7.", "seven", "8", "I cannot answer that.")
#: ... their rewards (the labellers' hidden scores: the bare answer is best) ...
BANDIT_REWARDS = (2.0, 1.0, 0.5, 0.0, -1.0)
#: ... and the SFT model's probabilities of them, which favour the wordy answers.
BANDIT_REFERENCE = (0.10, 0.30, 0.25, 0.20, 0.15)


def _probs(name: str, p: Any) -> np.ndarray:
    """A reference policy: at least 2 probabilities, strictly positive, summing to 1."""
    p = check_array(name, p, ndim=1)
    if p.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 probabilities, "
                         f"got shape {p.shape}")
    if np.any(p <= 0) or not math.isclose(p.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name} must be strictly positive and sum to 1, got {p}")
    return p


def _distribution(name: str, p: Any, size: int | None = None) -> np.ndarray:
    """A probability vector (of ``size`` entries): non-negative, summing to 1."""
    p = check_array(name, p, ndim=1, shape=None if size is None else (size,))
    if np.any(p < 0) or not math.isclose(p.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name} must be a probability vector (non-negative, summing to 1), "
                         f"got {p}")
    return p


def _rewards(r: Any, k: int) -> np.ndarray:
    r = check_array("rewards", r, ndim=1)
    if r.shape != (k,):
        raise ValueError(f"rewards must be {k} finite numbers (one per response), got {r}")
    return r


def kl_optimal_policy(ref_probs: Sequence[float], rewards: Sequence[float],
                      beta: float) -> np.ndarray:
    """The optimum (8.4) of the KL-regularised objective (8.3): ``pi_ref exp(r / beta) / Z``.

    ``ref_probs``: ``(K,)`` reference probabilities (positive, summing to 1); ``rewards``:
    ``(K,)``. Computed in log space (a log-sum-exp), so a small ``beta`` does not overflow.
    """
    beta = check_beta(beta)
    ref = _probs("ref_probs", ref_probs)
    r = _rewards(rewards, ref.size)
    logits = np.log(ref) + r / beta
    logits -= logits.max()
    p = np.exp(logits)
    return p / p.sum()


def bradley_terry_probability(reward_a: Any, reward_b: Any) -> np.ndarray:
    """``P(a preferred to b) = sigmoid(r_a - r_b)``, the Bradley-Terry model (8.1).

    ``reward_a``, ``reward_b``: finite rewards, numbers or arrays of shapes that broadcast
    (numpy's rule); the result has the broadcast shape.
    """
    reward_a, reward_b = check_array("reward_a", reward_a), check_array("reward_b", reward_b)
    try:
        np.broadcast_shapes(reward_a.shape, reward_b.shape)
    except ValueError:
        raise ValueError(f"reward_a and reward_b must have shapes that broadcast, got "
                         f"{reward_a.shape} and {reward_b.shape}") from None
    d = reward_a - reward_b
    return 0.5 * (1.0 + np.tanh(0.5 * d))          # = sigmoid(d), without overflow


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """``TV(p, q) = 1/2 sum |p - q|``: the largest difference in probability of any event.

    ``p``, ``q``: probability vectors of the same length (non-negative, summing to 1).
    """
    p, q = _distribution("p", p), _distribution("q", q)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same length, got {p.size} and {q.size}")
    return 0.5 * float(np.abs(p - q).sum())


#: Rounds of redrawing in :func:`sample_bandit_preferences` before the rest of the second
#: responses are drawn from pi_ref conditioned on differing from the first.
_REDRAWS = 100


def sample_bandit_preferences(ref_probs: Sequence[float], rewards: Sequence[float],
                              n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_pairs`` labelled comparisons, as a human labeller would produce them.

    Two different responses are drawn from ``pi_ref`` (the SFT model proposes them); the
    labeller prefers the first with the Bradley-Terry probability (8.1). Returns
    ``(chosen, rejected)``: two ``(n_pairs,)`` integer arrays of response indices.

    The second response is redrawn until it differs from the first; after
    :data:`_REDRAWS` rounds (only a response that holds nearly all of ``pi_ref``'s
    probability gets there) the rest are drawn from ``pi_ref`` without the first response,
    renormalised: the same distribution, without waiting for it.
    """
    ref = _probs("ref_probs", ref_probs)
    r = _rewards(rewards, ref.size)
    n_pairs = check_count("n_pairs", n_pairs)
    rng = check_seed("seed", seed)
    a = rng.choice(ref.size, size=n_pairs, p=ref)
    b = rng.choice(ref.size, size=n_pairs, p=ref)
    same = a == b
    for _ in range(_REDRAWS):                       # redraw the second until they differ
        if not same.any():
            break
        b[same] = rng.choice(ref.size, size=int(same.sum()), p=ref)
        same = a == b
    for first in np.unique(a[same]):                # left after _REDRAWS rounds: draw the
        rows = np.flatnonzero(same & (a == first))  # second from pi_ref given != first
        others = ref.copy()
        others[first] = 0.0
        b[rows] = rng.choice(ref.size, size=rows.size, p=others / others.sum())
    a_wins = rng.random(n_pairs) < bradley_terry_probability(r[a], r[b])
    chosen = np.where(a_wins, a, b)
    rejected = np.where(a_wins, b, a)
    return chosen, rejected


def population_preferences(ref_probs: Sequence[float], rewards: Sequence[float]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair ``(i, j)``, ``i != j``, with its probability under the sampling above.

    The limit of :func:`sample_bandit_preferences` for infinitely many pairs: the pair ``(i
    chosen, j rejected)`` has weight ``pi_ref(i) pi_ref(j) sigmoid(r_i - r_j)`` (normalised).
    Returns ``(chosen, rejected, weights)``, each of shape ``(K (K - 1),)``.
    """
    ref = _probs("ref_probs", ref_probs)
    r = _rewards(rewards, ref.size)
    i, j = np.nonzero(~np.eye(ref.size, dtype=bool))
    w = ref[i] * ref[j] * bradley_terry_probability(r[i], r[j])
    return i, j, w / w.sum()


def _check_index_pairs(k: int, chosen: Any, rejected: Any, weights: Any):
    indices = {}
    for name, idx in (("chosen", chosen), ("rejected", rejected)):
        idx = check_array(name, idx, ndim=1, integer=True)
        if idx.min() < 0 or idx.max() >= k:
            raise ValueError(f"{name} must hold response indices in [0, {k}), got {idx}")
        indices[name] = idx
    chosen, rejected = indices["chosen"], indices["rejected"]
    if chosen.shape != rejected.shape:
        raise ValueError("chosen and rejected must be 1-D index arrays of the same length (one "
                         f"entry per pair), got shapes {chosen.shape} and {rejected.shape}")
    if weights is None:
        weights = np.full(chosen.size, 1.0 / chosen.size)
    weights = check_array("weights", weights, ndim=1, shape=chosen.shape, minimum=0.0)
    if not weights.sum() > 0:
        raise ValueError("weights must be non-negative, one per pair, and not all zero")
    # The tabular losses depend on the data only through how often each ordered pair
    # (i chosen, j rejected) occurs: add up repeated pairs, K (K - 1) at most.
    totals = np.zeros((k, k))
    np.add.at(totals, (chosen, rejected), weights)
    i, j = np.nonzero(totals)
    w = totals[i, j] / totals.sum()
    return (torch.as_tensor(i, dtype=torch.long), torch.as_tensor(j, dtype=torch.long),
            torch.as_tensor(w, dtype=torch.float64))


def _minimise(params: torch.Tensor, loss_fn: Callable[[], torch.Tensor], steps: int,
              lr: float, record: Callable[[int], None] | None = None) -> None:
    """Full-batch Adam on a small convex problem (the tabular losses of this module)."""
    opt = torch.optim.Adam([params], lr=lr)
    with one_thread():    # tiny tensors: one thread is faster
        for step in range(steps):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
            if record is not None:
                record(step)


def fit_bradley_terry(n_responses: int, chosen: Any, rejected: Any, weights: Any = None, *,
                      steps: int = 300, lr: float = 0.2) -> np.ndarray:
    """The reward model of RLHF's second stage, in tabular form: the Bradley-Terry MLE (8.2).

    Minimises ``-sum_n w_n log sigmoid(r[chosen_n] - r[rejected_n])`` over one free reward per
    response (full-batch Adam; the loss is convex). Rewards are identifiable only up to a
    constant, so the result is shifted to mean zero. Returns ``(n_responses,)``.
    """
    n_responses = check_int("n_responses", n_responses, minimum=2)
    steps = check_count("steps", steps)
    check_positive("lr", lr)
    c, rj, w = _check_index_pairs(n_responses, chosen, rejected, weights)
    r = torch.zeros(n_responses, dtype=torch.float64, requires_grad=True)
    _minimise(r, lambda: -(w * F.logsigmoid(r[c] - r[rj])).sum(), steps, lr)
    out = r.detach().numpy()
    return out - out.mean()


@dataclass
class BanditDPOResult:
    """A tabular policy trained by DPO, and how it got there."""

    policy: np.ndarray                     # (K,) the trained policy's probabilities
    logits: np.ndarray                     # (K,) its logits (mean zero)
    beta: float
    loss: list[float] = field(default_factory=list)         # DPO loss at each recorded step
    tv_to_target: list[float] = field(default_factory=list)  # TV to `target`, if one was given
    policies: list[np.ndarray] = field(default_factory=list)  # (K,) policy at each record
    recorded_steps: list[int] = field(default_factory=list)


def train_dpo_bandit(ref_probs: Sequence[float], chosen: Any, rejected: Any, beta: float,
                     weights: Any = None, *, steps: int = 300, lr: float = 0.2,
                     target: Sequence[float] | None = None,
                     record_every: int = 10, loss: str = "dpo") -> BanditDPOResult:
    """DPO on the bandit: a softmax policy over ``K`` responses trained with the loss (8.6).

    The policy is ``pi = softmax(theta)``, started at the reference (``theta = log pi_ref``);
    the loss is :func:`~mlbook.llm.dpo.dpo_loss` on the pairs' log-probabilities
    ``log pi[chosen]``, ``log pi[rejected]`` against ``log pi_ref``, weighted by ``weights``
    (uniform if ``None``; :func:`population_preferences` gives the infinite-data weights).
    Full-batch Adam, ``steps`` steps. Every ``record_every`` steps the loss and the policy
    are recorded, and with ``target`` (e.g. :func:`kl_optimal_policy`) the total-variation
    distance to it. ``loss="ipo"`` trains with :func:`~mlbook.llm.dpo.ipo_loss` (8.10)
    instead of the DPO loss.
    """
    beta = check_beta(beta)
    pair_loss = _preference_loss(loss)
    ref = _probs("ref_probs", ref_probs)
    c, rj, w = _check_index_pairs(ref.size, chosen, rejected, weights)
    steps = check_count("steps", steps)
    check_positive("lr", lr)
    record_every = check_count("record_every", record_every)
    if target is not None:
        target = _distribution("target", target, ref.size)
    log_ref = torch.as_tensor(np.log(ref), dtype=torch.float64)
    theta = log_ref.clone().requires_grad_(True)
    result = BanditDPOResult(policy=ref.copy(), logits=np.log(ref), beta=beta)

    def loss_fn() -> torch.Tensor:
        logp = torch.log_softmax(theta, dim=0)                          # (K,)
        per_pair = pair_loss(logp[c], logp[rj], log_ref[c], log_ref[rj], beta, reduction="none")
        return (w * per_pair).sum()

    def record(step: int) -> None:
        if step % record_every == 0 or step == steps - 1:
            with torch.no_grad():
                result.recorded_steps.append(step + 1)
                result.loss.append(float(loss_fn()))
                pi = torch.softmax(theta, 0).numpy()
                result.policies.append(pi)
                if target is not None:
                    result.tv_to_target.append(total_variation(pi, target))

    _minimise(theta, loss_fn, steps, lr, record)
    logits = theta.detach().numpy()
    result.logits = logits - logits.mean()
    result.policy = torch.softmax(theta.detach(), 0).numpy()
    return result


@dataclass
class BanditPolicyGradientResult:
    """A tabular policy trained by the KL-penalised policy gradient, and its history."""

    policy: np.ndarray                     # (K,) final probabilities
    beta: float
    objective: list[float] = field(default_factory=list)    # exact E[r] - beta KL per record
    tv_to_target: list[float] = field(default_factory=list)
    recorded_steps: list[int] = field(default_factory=list)


def kl_policy_gradient(ref_probs: Sequence[float], rewards: Sequence[float], beta: float, *,
                       steps: int = 1500, batch_size: int = 64, lr: float = 0.1,
                       seed: int = 0, target: Sequence[float] | None = None,
                       record_every: int = 25) -> BanditPolicyGradientResult:
    """RLHF's third stage on the bandit: REINFORCE on the KL-penalised reward (8.3).

    Each step samples ``batch_size`` responses ``y ~ pi``, scores each with the penalised
    reward ``r(y) - beta log(pi(y) / pi_ref(y))`` (the per-sample form used by Ziegler et
    al., 2019), subtracts the batch mean as a baseline, and takes an Adam step along
    ``mean[(R - baseline) grad log pi(y)]`` (Williams, 1992). ``rewards`` would be a learned
    reward model's (:func:`fit_bradley_terry`). Stochastic: the policy ends near, not at, the
    optimum (8.4); with ``target`` the TV distance to it is recorded.
    """
    beta = check_beta(beta)
    ref = _probs("ref_probs", ref_probs)
    r = _rewards(rewards, ref.size)
    steps = check_count("steps", steps)
    batch_size = check_count("batch_size", batch_size)
    record_every = check_count("record_every", record_every)
    check_positive("lr", lr)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    if target is not None:
        target = _distribution("target", target, ref.size)
    gen = torch.Generator().manual_seed(seed)
    log_ref = torch.as_tensor(np.log(ref), dtype=torch.float64)
    r_t = torch.as_tensor(r, dtype=torch.float64)
    theta = log_ref.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / math.sqrt(1.0 + s / 50.0))
    result = BanditPolicyGradientResult(policy=ref.copy(), beta=beta)
    with one_thread():    # tiny tensors: one thread is faster
        for step in range(steps):
            logp = torch.log_softmax(theta, 0)                                   # (K,)
            with torch.no_grad():
                y = torch.multinomial(logp.exp(), batch_size, replacement=True, generator=gen)
                penalised = r_t[y] - beta * (logp[y] - log_ref[y])               # (batch,)
                advantage = penalised - penalised.mean()
            loss = -(advantage * logp[y]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % record_every == 0 or step == steps - 1:
                with torch.no_grad():
                    p = torch.softmax(theta, 0)
                    kl = float((p * (torch.log(p) - log_ref)).sum())
                    result.recorded_steps.append(step + 1)
                    result.objective.append(float((p * r_t).sum()) - beta * kl)
                    if target is not None:
                        result.tv_to_target.append(total_variation(p.numpy(), target))
    result.policy = torch.softmax(theta.detach(), 0).numpy()
    return result
