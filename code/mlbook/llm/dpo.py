"""Direct Preference Optimization (chapter 8): the loss, and DPO on a language model.

Follows Rafailov, Sharma, Mitchell, Ermon, Manning and Finn, *Direct Preference Optimization:
Your Language Model is Secretly a Reward Model* (NeurIPS 2023), and the RLHF pipeline it
replaces: Christiano et al. (2017), Ziegler et al. (2019), Stiennon et al. (2020) and
Ouyang et al. (InstructGPT, 2022), with the Bradley-Terry model (1952) of paired comparisons.
Equation (8.n) in the docstrings is the n-th numbered equation of the chapter:

* (8.1) Bradley-Terry: ``P(y_w > y_l | x) = sigmoid(r(x, y_w) - r(x, y_l))``;
* (8.2) the reward model's loss, ``-mean log sigmoid(r(x, y_w) - r(x, y_l))``;
* (8.3) the KL-regularised objective of RLHF,
  ``max_pi E_{y ~ pi}[r(x, y)] - beta KL(pi(.|x) || pi_ref(.|x))``;
* (8.4) its optimum, ``pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x)``;
* (8.5) the reward a policy implies, ``r(x, y) = beta log(pi(y|x) / pi_ref(y|x)) + beta log Z(x)``;
* (8.6) the DPO loss, ``-mean log sigmoid(beta [log-ratio(y_w) - log-ratio(y_l)])`` with
  ``log-ratio(y) = log pi(y|x) - log pi_ref(y|x)``;
* (8.7) its gradient, ``-beta mean sigmoid(r_hat(y_l) - r_hat(y_w)) [grad log pi(y_w|x) -
  grad log pi(y_l|x)]``, with the implicit reward ``r_hat(y) = beta log-ratio(y)``;
* (8.8) equivalent rewards, ``r'(x, y) = r(x, y) + f(x)``, and (8.9) the one implicit reward
  of each class, ``r(x, y) - beta log sum_y' pi_ref(y'|x) exp(r(x, y') / beta)``
  (Theorem 1 of the DPO paper);
* (8.10) the IPO loss of Azar et al. (2024), ``mean (log-ratio(y_w) - log-ratio(y_l) -
  1 / (2 beta))**2`` (:func:`ipo_loss`).

The module backs the sections "Every policy is a reward model: the DPO loss", "What the
gradient does", "DPO on the tiny language model" and "Reward against KL" of chapter 8, in
two parts. The bandit of the chapter, where (8.1)-(8.4) have closed forms, is
:mod:`mlbook.llm.dpo_bandit`.

1. The loss on *sequence* log-probabilities (:func:`dpo_loss`, :func:`ipo_loss`,
   :func:`implicit_rewards`, :func:`dpo_gradient_weights`, and :func:`sequence_logprobs`,
   which sums the log-probabilities of the response tokens only).
2. The language model: preference pairs from chapter 7's tasks
   (:func:`make_preference_pairs`; :func:`sample_preference_pairs` takes both responses
   from the SFT model's own samples, judged by the true answer), tokenised with response
   masks (:func:`encode_pairs`), a trainer with a frozen reference model
   (:func:`train_dpo`) that logs the implicit reward accuracy and margins, and a policy's
   true reward and KL divergence from the reference (:func:`reward_and_kl`).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import (ArgumentTypeError, check_bool, check_callable, check_choice, check_count,
                      check_instance, check_int, check_integer_seed, check_list,
                      check_positive, check_tensor, check_token_ids)
from ..progress import tqdm
from ..runtime import one_thread
from .data import _check_tokenizer
from .llama import Llama, _check_prompts_fit, generate_grouped
from .tasks import TASK_FAMILIES, Example, _check_examples, _check_rng, _check_text

__all__ = [
    # the loss
    "check_beta", "implicit_rewards", "dpo_loss", "ipo_loss", "PREFERENCE_LOSSES",
    "dpo_gradient_weights", "sequence_logprobs",
    # the language model
    "PreferencePair", "PreferenceBatch", "RESPONSE_PREFIX", "encode_pairs", "prompt_lengths",
    "batched_logprobs", "pair_logprobs",
    "preference_metrics", "DPOConfig", "DPOHistory", "train_dpo", "sample_responses",
    "reward_and_kl", "malformed_response", "wrong_response", "make_preference_pairs",
    "OnPolicyPairs", "sample_preference_pairs",
]


# ========================================================================================
# 1. The DPO loss
# ========================================================================================
def check_beta(beta: float) -> float:
    """``beta`` as a float, or ``ValueError`` unless it is a positive finite number."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)):
        raise ArgumentTypeError(f"beta must be a positive number, got {beta!r:.60} of type "
                                f"{type(beta).__name__}")
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive finite number (the strength of the KL "
                         f"penalty), got {beta!r}")
    return beta


def _as_1d(name: str, x: Any) -> torch.Tensor:
    """``(N,)`` sequence log-probabilities: a 1-D tensor (or array) of finite real numbers,
    not empty; integers are converted to floats, booleans refused."""
    what = "a 1-D tensor of sequence log-probabilities, one per pair"
    if x is None or isinstance(x, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be {what}, got {x!r:.60}")
    try:
        x = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(f"{name} must be {what}, got {x!r:.60} of type "
                                f"{type(x).__name__}") from None
    if x.dtype == torch.bool or x.is_complex():
        raise ArgumentTypeError(f"{name} must hold real numbers (log-probabilities), got "
                                f"dtype {x.dtype}")
    if not torch.is_floating_point(x):
        x = x.to(torch.get_default_dtype())
    if x.dim() != 1:
        raise ValueError(f"{name} must be {what}, got shape {tuple(x.shape)}")
    return check_tensor(name, x, layout="(N,)")


def _check_pairs(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
    names = ("policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected")
    tensors = [_as_1d(n, t) for n, t in zip(names, (policy_chosen, policy_rejected,
                                                     ref_chosen, ref_rejected))]
    sizes = {n: t.shape[0] for n, t in zip(names, tensors)}
    if len(set(sizes.values())) != 1:
        raise ValueError("chosen and rejected log-probabilities must hold one entry per pair, "
                         f"with the same batch size everywhere; got sizes {sizes}")
    return tensors


def implicit_rewards(policy_logps: torch.Tensor, ref_logps: torch.Tensor,
                     beta: float) -> torch.Tensor:
    """The implicit reward ``beta * (log pi(y|x) - log pi_ref(y|x))`` of equation (8.5).

    ``policy_logps``, ``ref_logps``: ``(N,)`` sequence log-probabilities in nats. The
    ``beta log Z(x)`` term of (8.5) is left out: it is the same for every response to a
    prompt, so it cancels in every comparison. Returns ``(N,)``, in reward units (nats times
    beta).
    """
    beta = check_beta(beta)
    policy_logps, ref_logps = _as_1d("policy_logps", policy_logps), _as_1d("ref_logps", ref_logps)
    if policy_logps.shape != ref_logps.shape:
        raise ValueError(f"policy_logps {tuple(policy_logps.shape)} and ref_logps "
                         f"{tuple(ref_logps.shape)} must have the same shape")
    return beta * (policy_logps - ref_logps)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float, *,
             reduction: str = "mean") -> torch.Tensor:
    """The DPO loss (8.6) from sequence log-probabilities.

    Each argument is ``(N,)``, one sequence log-probability (nats, summed over the response
    tokens) per preference pair: the policy's and the frozen reference's, of the chosen
    response ``y_w`` and of the rejected one ``y_l``. The loss of one pair is
    ``-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))``, computed with
    :func:`torch.nn.functional.logsigmoid` so that a margin of -1000 gives a loss of 1000
    rather than ``inf`` (``log(sigmoid(-1000))`` underflows to ``log 0``). ``reduction`` is
    ``"mean"`` (the loss of the chapter), ``"sum"`` or ``"none"`` (the ``(N,)`` per-pair losses).

    Raises ``ValueError`` for ``beta <= 0``, arguments of different sizes (a chosen batch
    that does not match its rejected batch), an empty batch or an unknown ``reduction``.
    """
    beta = check_beta(beta)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    pc, pr, rc, rr = _check_pairs(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    logits = beta * ((pc - rc) - (pr - rr))                        # (N,) reward margin
    losses = -F.logsigmoid(logits)                                 # (N,)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def ipo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float, *,
             reduction: str = "mean") -> torch.Tensor:
    """The IPO loss of Azar et al. (2024), equation (8.10): a squared loss on the log-ratio margin.

    Arguments as in :func:`dpo_loss` (``(N,)`` sequence log-probabilities). With the
    log-ratio margin ``h = (pi_c - ref_c) - (pi_r - ref_r)`` the loss of one pair is
    ``(h - 1 / (2 beta))**2``: it pulls every margin towards the finite target
    ``1 / (2 beta)`` instead of towards infinity, so a pair that always comes out the same
    way cannot drive the loser's probability to zero. ``beta`` plays the role of IPO's
    regulariser ``tau``. ``reduction`` as in :func:`dpo_loss`.
    """
    beta = check_beta(beta)
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    pc, pr, rc, rr = _check_pairs(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    losses = ((pc - rc) - (pr - rr) - 1.0 / (2.0 * beta)) ** 2          # (N,)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


PREFERENCE_LOSSES = {"dpo": dpo_loss, "ipo": ipo_loss}


def _preference_loss(name: str):
    return PREFERENCE_LOSSES[check_choice("loss", name, tuple(PREFERENCE_LOSSES))]


def dpo_gradient_weights(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
                         ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
                         beta: float) -> torch.Tensor:
    """The weight ``sigmoid(r_hat_l - r_hat_w)`` of each pair in the gradient (8.7), shape ``(N,)``.

    It is near 1 when the implicit reward orders the pair wrongly (the pair is pushed hard)
    and near 0 when it already orders it right by a wide margin (the pair is left alone).
    """
    beta = check_beta(beta)
    pc, pr, rc, rr = _check_pairs(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    return torch.sigmoid(beta * ((pr - rr) - (pc - rc)))


def _check_ids_and_mask(model: Llama, input_ids: Any, response_mask: Any) -> None:
    """Token ids ``(B, T)`` in the model's vocabulary and a boolean mask of the same shape."""
    check_token_ids("input_ids", input_ids, model.config.vocab_size, ndim=2, layout="(B, T)")
    check_tensor("response_mask", response_mask, dtype="bool", shape=tuple(input_ids.shape),
                 layout=f"{tuple(input_ids.shape)} (booleans), as input_ids")


def _check_sequences_fit(name: str, model: Llama, ids: torch.Tensor,
                         mask: torch.Tensor) -> None:
    """Padded sequences ``ids`` (response ``mask``) that ``model`` can score: every token id
    in its vocabulary, every sequence but its last token within its context."""
    top = int(ids.max()) if ids.numel() else 0
    if top >= model.config.vocab_size:
        raise ValueError(f"{name}: the sequences hold token ids up to {top}, beyond its "
                         f"vocabulary (vocab_size={model.config.vocab_size})")
    used = mask.any(dim=0).nonzero()
    width = int(used.max()) + 1 if used.numel() else 1
    if width - 1 > model.config.max_seq_len:
        raise ValueError(f"{name}: sequences of {width} tokens do not fit its context of "
                         f"{model.config.max_seq_len} (+1 for the last, predicted, token)")


def sequence_logprobs(model: Llama, input_ids: torch.Tensor,
                      response_mask: torch.Tensor) -> torch.Tensor:
    """``log pi(y|x)``: the log-probabilities of the response tokens, summed per sequence.

    ``model``: chapter 6's :class:`~mlbook.llm.llama.Llama` (``TypeError`` otherwise);
    ``input_ids``: ``(B, T)`` prompt followed by response (and padding); ``response_mask``:
    ``(B, T)`` booleans, true at the positions of response tokens (never at position 0, which
    has no prediction). The token at position ``t`` is predicted by the logits at ``t - 1``, so the
    prompt's own tokens and the padding do not count. The decoder runs on every position
    and the output layer only at those that predict a response token, a few percent of
    them. Returns ``(B,)`` in nats. Raises ``ValueError`` when a row has no response token
    (an empty response).
    """
    check_instance("model", model, Llama, what="a Llama (chapter 6's model)")
    _check_ids_and_mask(model, input_ids, response_mask)
    mask = response_mask.bool()
    if bool(mask[:, 0].any()):
        raise ValueError("response_mask must be false at position 0 (a response needs a prompt "
                         "token before it, at least <s>)")
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        rows = torch.nonzero(empty).flatten().tolist()
        raise ValueError(f"rows {rows} have an empty response (no token in response_mask); "
                         "every pair needs a non-empty chosen and rejected response")
    context = model.config.max_seq_len
    if input_ids.shape[1] - 1 > context:
        raise ValueError(f"input_ids: sequences of {input_ids.shape[1]} tokens do not fit the "
                         f"model's context of {context} (+1 for the last, predicted, token)")
    inputs, targets, target_mask = input_ids[:, :-1], input_ids[:, 1:], mask[:, 1:]  # (B, T-1)
    hidden = model.model(inputs)                                      # (B, T-1, D)
    logits = model.lm_head(hidden[target_mask])                       # (M, V), M response tokens
    logp = torch.log_softmax(logits.float(), dim=-1)
    token_logp = logp.gather(-1, targets[target_mask].unsqueeze(-1)).squeeze(-1)  # (M,)
    rows = target_mask.nonzero()[:, 0]                                # the sequence of each token
    return torch.zeros(input_ids.shape[0], dtype=token_logp.dtype,
                       device=token_logp.device).index_add(0, rows, token_logp)  # (B,)


# ========================================================================================
# 2. The language model
# ========================================================================================
@dataclass(frozen=True)
class PreferencePair:
    """One comparison: for ``prompt``, the response ``chosen`` (y_w) beat ``rejected`` (y_l).

    ``kind`` says how the rejected response was made (for example ``"wrong"`` or
    ``"malformed"``). Raises ``ValueError`` for an empty prompt, an empty (or blank)
    response, or two identical responses (a comparison with nothing to compare).
    """

    prompt: str
    chosen: str
    rejected: str
    kind: str = ""

    def __post_init__(self) -> None:
        _check_text("prompt", self.prompt)
        for name in ("chosen", "rejected"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                error = ValueError if isinstance(value, str) else ArgumentTypeError
                raise error(f"the {name} response must be a non-empty string, got "
                            f"{value!r:.60}: DPO's log-probability of an empty response is "
                            "0 for every model, so the pair would teach nothing")
        _check_text("kind", self.kind, blank=True, what="a string")
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError(f"chosen and rejected responses are identical ({self.chosen!r})")


@dataclass
class PreferenceBatch:
    """Preference pairs as padded token ids, ready for :func:`sequence_logprobs`.

    ``chosen_ids``, ``rejected_ids``: ``(N, T)``, ``<s> prompt response </s>`` then padding
    (``</s>``); ``chosen_mask``, ``rejected_mask``: ``(N, T)`` booleans, true on the
    response tokens and their closing ``</s>`` (the tokens whose log-probabilities make
    ``log pi(y|x)``), false on ``<s>``, the prompt and the padding.
    """

    chosen_ids: torch.Tensor
    chosen_mask: torch.Tensor
    rejected_ids: torch.Tensor
    rejected_mask: torch.Tensor
    pairs: list[PreferencePair]

    def __post_init__(self) -> None:
        ids = check_tensor("chosen_ids", self.chosen_ids, ndim=2, dtype="int", minimum=0,
                           layout="(N, T) token ids")
        shape = tuple(ids.shape)
        check_tensor("rejected_ids", self.rejected_ids, dtype="int", shape=shape, minimum=0,
                     layout=f"{shape}, as chosen_ids")
        for name in ("chosen_mask", "rejected_mask"):
            check_tensor(name, getattr(self, name), dtype="bool", shape=shape,
                         layout=f"{shape} (booleans), as chosen_ids")
        check_list("pairs", self.pairs, what=f"a list of {shape[0]} PreferencePair objects, "
                   "one per row", min_len=shape[0], max_len=shape[0], exclude=PreferencePair,
                   item=lambda n, v: check_instance(n, v, PreferencePair))

    def __len__(self) -> int:
        return self.chosen_ids.shape[0]

    def select(self, index: Sequence[int] | torch.Tensor) -> "PreferenceBatch":
        """The pairs at ``index``, with padding columns that no row uses cut off."""
        if index is None or isinstance(index, (str, bytes)):
            raise ArgumentTypeError(f"index must be a list or tensor of pair indices, got "
                                    f"{index!r:.60}")
        try:
            index = torch.as_tensor(index)
        except (TypeError, ValueError, RuntimeError):
            raise ArgumentTypeError(f"index must be a list or tensor of pair indices, got "
                                    f"{index!r:.60}") from None
        check_tensor("index", index, ndim=1, dtype="int", minimum=0, maximum=len(self) - 1,
                     layout=f"(n,) pair indices from 0 to {len(self) - 1}")
        index = index.long()
        cm, rm = self.chosen_mask[index], self.rejected_mask[index]
        used = (cm | rm).any(dim=0).nonzero()
        width = int(used.max()) + 1 if used.numel() else 1
        return PreferenceBatch(self.chosen_ids[index, :width], cm[:, :width],
                               self.rejected_ids[index, :width], rm[:, :width],
                               [self.pairs[i] for i in index.tolist()])


#: What separates a prompt from its response in chapter 7's training data: the response is
#: tokenised as ``" " + output`` after the prompt's closing ``"### Response:"``.
RESPONSE_PREFIX = " "


def _tokenise(tokenizer, prompt: str, response: str,
              response_prefix: str = RESPONSE_PREFIX) -> tuple[list[int], int]:
    """``<s> prompt`` and ``prefix + response </s>`` tokenised apart (an exact boundary)."""
    p = tokenizer.encode(prompt, bos=True)
    r = tokenizer.encode(response_prefix + response, eos=True)
    return p + r, len(p)


def _pad_rows(rows: Sequence[tuple[list[int], int]], pad_id: int,
              width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(token ids, response start)`` rows into ids and a response mask, ``(N, T)``.

    The mask is true from each row's response start to its end (padding excluded); ``T`` is
    ``width``, by default the longest row.
    """
    width = max(len(seq) for seq, _ in rows) if width is None else width
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for b, (seq, start) in enumerate(rows):
        ids[b, :len(seq)] = torch.tensor(seq)
        mask[b, start:len(seq)] = True
    return ids, mask


def encode_pairs(tokenizer, pairs: Sequence[PreferencePair], *, max_len: int | None = None,
                 response_prefix: str = RESPONSE_PREFIX) -> PreferenceBatch:
    """Tokenise preference pairs into a :class:`PreferenceBatch`.

    The prompt and each response are tokenised separately, exactly as chapter 7's
    :class:`~mlbook.llm.instruct.InstructionDataset` tokenises its examples
    (``<s> prompt`` then ``response_prefix + response </s>``), so the model is scored on the
    very token sequences it was fine-tuned to produce; the closing ``</s>`` counts, so
    ``log pi(y|x)`` includes the decision to stop. Raises ``ValueError`` for no pairs, an
    object that is not a :class:`PreferencePair`, or a sequence longer than ``max_len``.
    """
    _check_tokenizer("tokenizer", tokenizer, "eos_id")
    pairs = check_list("pairs", pairs, what="a list of PreferencePair objects",
                       exclude=PreferencePair,
                       item=lambda n, v: check_instance(n, v, PreferencePair))
    if max_len is not None:
        check_int("max_len", max_len, minimum=2)
    _check_text("response_prefix", response_prefix, blank=True, what="a string")
    rows = []
    for p in pairs:
        rows.append((_tokenise(tokenizer, p.prompt, p.chosen, response_prefix),
                     _tokenise(tokenizer, p.prompt, p.rejected, response_prefix)))
    width = max(len(ids) for row in rows for ids, _ in row)
    if max_len is not None and width > max_len:
        raise ValueError(f"a pair has {width} tokens, more than max_len={max_len}")
    chosen_ids, chosen_mask = _pad_rows([c for c, _ in rows], tokenizer.eos_id, width)
    rejected_ids, rejected_mask = _pad_rows([r for _, r in rows], tokenizer.eos_id, width)
    return PreferenceBatch(chosen_ids, chosen_mask, rejected_ids, rejected_mask,
                           pairs=list(pairs))


def _pair_logprobs(model: torch.nn.Module,
                   batch: PreferenceBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log pi(y_w|x), log pi(y_l|x))``, each ``(N,)``, in one forward pass of ``2N`` rows."""
    ids = torch.cat([batch.chosen_ids, batch.rejected_ids])             # (2N, T)
    mask = torch.cat([batch.chosen_mask, batch.rejected_mask])
    logps = sequence_logprobs(model, ids, mask)                         # (2N,)
    n = len(batch)
    return logps[:n], logps[n:]


def prompt_lengths(batch: PreferenceBatch) -> torch.Tensor:
    """``(N,)``: the number of prompt tokens (``<s>`` included) of each pair."""
    check_instance("batch", batch, PreferenceBatch)
    return batch.chosen_mask.int().argmax(dim=1)


@torch.no_grad()
def batched_logprobs(model: torch.nn.Module, input_ids: torch.Tensor, response_mask: torch.Tensor,
                     batch_size: int = 64) -> torch.Tensor:
    """:func:`sequence_logprobs` without gradient, ``batch_size`` rows at a time: ``(N,)`` nats.

    Padding columns that no row of a chunk uses are cut off before the forward pass.
    """
    check_instance("model", model, Llama, what="a Llama (chapter 6's model)")
    _check_ids_and_mask(model, input_ids, response_mask)
    check_count("batch_size", batch_size)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, input_ids.shape[0], batch_size):
        ids, mask = input_ids[s:s + batch_size], response_mask[s:s + batch_size]
        used = mask.any(dim=0).nonzero()
        width = int(used.max()) + 1 if used.numel() else 1
        out.append(sequence_logprobs(model, ids[:, :width], mask[:, :width]))
    model.train(was_training)
    return torch.cat(out)


def _check_batch_fits(name: str, model: Llama, batch: PreferenceBatch) -> None:
    for ids, mask in ((batch.chosen_ids, batch.chosen_mask),
                      (batch.rejected_ids, batch.rejected_mask)):
        _check_sequences_fit(name, model, ids, mask)


@torch.no_grad()
def pair_logprobs(model: torch.nn.Module, batch: PreferenceBatch,
                  batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence log-probabilities of every pair's chosen and rejected response (no gradient).

    Returns two ``(N,)`` tensors in nats; used for the frozen reference model, whose values
    are computed once, and for evaluation. Pairs are taken ``batch_size`` at a time in order
    of prompt length, so little of each chunk is padding.
    """
    check_instance("model", model, Llama, what="a Llama (chapter 6's model)")
    check_instance("batch", batch, PreferenceBatch)
    check_count("batch_size", batch_size)
    _check_batch_fits("model", model, batch)
    was_training = model.training
    model.eval()
    order = prompt_lengths(batch).argsort(stable=True)
    chosen, rejected = [], []
    for s in range(0, len(batch), batch_size):
        c, r = _pair_logprobs(model, batch.select(order[s:s + batch_size]))
        chosen.append(c)
        rejected.append(r)
    model.train(was_training)
    back = order.argsort()
    return torch.cat(chosen)[back], torch.cat(rejected)[back]


def preference_metrics(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
                       ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
                       beta: float) -> dict[str, float]:
    """How well the implicit reward (8.5) orders the pairs.

    ``accuracy``: fraction of pairs whose chosen response gets the higher implicit reward
    (a tie counts one half, so the reference model itself scores exactly 0.5);
    ``margin``: mean of ``r_hat_w - r_hat_l``; ``chosen_reward``, ``rejected_reward``: the
    means of each; ``loss``: the DPO loss (8.6).
    """
    _check_pairs(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
    rc = implicit_rewards(policy_chosen, ref_chosen, beta)
    rr = implicit_rewards(policy_rejected, ref_rejected, beta)
    diff = rc - rr
    return {"accuracy": float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean()),
            "margin": float(diff.mean()),
            "chosen_reward": float(rc.mean()), "rejected_reward": float(rr.mean()),
            "loss": float(dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected,
                                   beta))}


@dataclass(frozen=True)
class DPOConfig:
    """How to run DPO; the defaults are the chapter's tiny run, the comments the paper's
    settings (Rafailov et al., 2023, appendix B)."""

    beta: float = 0.1          # strength of the KL penalty (paper: 0.1; 0.5 for summarisation)
    steps: int = 40            # optimizer steps
    batch_size: int = 16       # pairs per step (paper: 64)
    lr: float = 3e-4           # peak learning rate (paper: 1e-6 with RMSprop)
    warmup_steps: int = 5      # linear warm-up, then constant (paper: 150 steps)
    grad_clip: float = 1.0     # clip the global gradient norm
    eval_every: int = 10       # evaluate every this many steps (and before the first)
    seed: int = 0              # order of the pairs
    loss: str = "dpo"          # "dpo" (8.6) or "ipo" (8.10)

    def __post_init__(self) -> None:
        check_beta(self.beta)
        _preference_loss(self.loss)
        for name in ("steps", "batch_size", "eval_every"):
            check_count(name, getattr(self, name))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if not self.warmup_steps < self.steps:
            raise ValueError("warmup_steps must be an integer in [0, steps), got "
                             f"{self.warmup_steps!r}")
        check_positive("lr", self.lr)
        check_positive("grad_clip", self.grad_clip)
        # seed=None: fresh randomness, drawn now so that the config records the seed used
        object.__setattr__(self, "seed", check_integer_seed("seed", self.seed,
                                                            fresh_if_none=True))


@dataclass
class DPOHistory:
    """What happened during DPO. Rewards are implicit rewards (8.5); log-probabilities in nats."""

    beta: float
    step: list[int] = field(default_factory=list)             # 1, 2, ..., steps
    loss: list[float] = field(default_factory=list)           # DPO loss of each step's batch
    accuracy: list[float] = field(default_factory=list)       # implicit reward accuracy, batch
    margin: list[float] = field(default_factory=list)         # mean r_hat_w - r_hat_l, batch
    chosen_reward: list[float] = field(default_factory=list)  # mean r_hat_w, batch
    rejected_reward: list[float] = field(default_factory=list)
    chosen_logp: list[float] = field(default_factory=list)    # mean log pi(y_w|x), batch
    rejected_logp: list[float] = field(default_factory=list)  # mean log pi(y_l|x), batch
    eval_step: list[int] = field(default_factory=list)        # steps at which we evaluated
    evals: list[dict[str, float]] = field(default_factory=list)  # preference_metrics + extras
    seconds: float = 0.0

    def eval_series(self, key: str) -> list[float]:
        """One evaluation metric across the evaluations (e.g. ``"accuracy"``, ``"kl"``)."""
        recorded = sorted({k for e in self.evals for k in e})
        if self.evals and not (isinstance(key, str) and all(key in e for e in self.evals)):
            raise ValueError(f"key must be a metric recorded at every evaluation, one of "
                             f"{recorded}; got {key!r:.60}")
        return [e[key] for e in self.evals]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _length_grouped_epoch(lengths: list[int], batch_size: int, generator: torch.Generator,
                          group: int = 8) -> list[int]:
    """One shuffled epoch whose consecutive batches hold pairs of similar prompt length.

    The shuffled epoch is cut into chunks of ``group * batch_size`` pairs, each chunk sorted
    by prompt length and cut into batches, and the batches shuffled (Hugging Face's
    ``group_by_length``): every pair is seen once per epoch, and a batch has few distinct
    prompt lengths and little padding.
    """
    perm = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = group * batch_size
    batches = []
    for s in range(0, len(perm), chunk):
        part = sorted(perm[s:s + chunk], key=lambda i: lengths[i])
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [i for b in shuffle for i in batches[b]]


def train_dpo(policy: torch.nn.Module, reference: torch.nn.Module, pairs: PreferenceBatch,
              config: DPOConfig | None = None, *, eval_pairs: PreferenceBatch | None = None,
              evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
              progress: bool = True) -> DPOHistory:
    """Fine-tune ``policy`` in place with the DPO loss (8.6) against a frozen ``reference``.

    ``reference`` (the SFT model; ``policy`` starts as a copy of it) is frozen: it is never
    given to the optimizer, and its log-probabilities of every pair are computed once,
    without gradient, before training, since they never change. Each step draws
    ``config.batch_size`` pairs (reshuffled every epoch), computes the policy's sequence
    log-probabilities of both responses in one forward pass (batches hold pairs of similar
    prompt length, so little of it is padding), and takes an AdamW step (no weight decay,
    linear warm-up, then a constant rate, gradient clipping). Before the first step and
    every ``eval_every`` steps, :func:`preference_metrics` on ``eval_pairs`` and
    ``evaluate(policy)`` (any extra metrics, e.g. :func:`reward_and_kl`) are recorded.
    """
    for name, model in (("policy", policy), ("reference", reference)):
        check_instance(name, model, Llama, what="a Llama (chapter 6's model)")
    config = DPOConfig() if config is None else config
    check_instance("config", config, DPOConfig, what="a DPOConfig or None")
    check_instance("pairs", pairs, PreferenceBatch, what="a PreferenceBatch (see encode_pairs)")
    if eval_pairs is not None:
        check_instance("eval_pairs", eval_pairs, PreferenceBatch,
                       what="a PreferenceBatch (see encode_pairs) or None")
    if evaluate is not None:
        check_callable("evaluate", evaluate, what="a callable policy -> dict of metrics, "
                                                  "or None")
    check_bool("progress", progress)
    for name, model in (("policy", policy), ("reference", reference)):
        for batch in (pairs,) if eval_pairs is None else (pairs, eval_pairs):
            _check_batch_fits(name, model, batch)
    shared = {id(p) for p in policy.parameters()} & {id(p) for p in reference.parameters()}
    if policy is reference or shared:
        raise ValueError("policy and reference must be two separate models (start the policy "
                         "as a copy of the SFT model: copy.deepcopy(sft_model)); the "
                         "reference must stay frozen")
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy has no trainable parameter (requires_grad is off everywhere)")
    beta = config.beta
    reference.eval()                          # frozen: never in the graph, never optimised
    ref_c, ref_r = pair_logprobs(reference, pairs)                      # (N,), (N,)
    if eval_pairs is not None:
        eval_ref = pair_logprobs(reference, eval_pairs)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    history = DPOHistory(beta=beta)

    def run_eval(step: int) -> None:
        record: dict[str, float] = {}
        if eval_pairs is not None:
            pc, pr = pair_logprobs(policy, eval_pairs)
            record.update(preference_metrics(pc, pr, *eval_ref, beta))
        if evaluate is not None:
            record.update(evaluate(policy))
        if record:
            history.eval_step.append(step)
            history.evals.append(record)

    start = time.perf_counter()
    run_eval(0)
    order: list[int] = []
    policy.train()
    bar = tqdm(range(config.steps), desc=f"DPO beta={beta:g}", disable=not progress,
               mininterval=1.0, leave=False)
    lengths = prompt_lengths(pairs).tolist()
    for step in bar:
        if len(order) < config.batch_size:
            order += _length_grouped_epoch(lengths, config.batch_size, generator)
        index, order = order[:config.batch_size], order[config.batch_size:]
        batch = pairs.select(index)
        lr = config.lr * min(1.0, (step + 1) / max(1, config.warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        pc, pr = _pair_logprobs(policy, batch)                          # (B,), (B,)
        rc, rr = ref_c[index], ref_r[index]
        loss = _preference_loss(config.loss)(pc, pr, rc, rr, beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()

        with torch.no_grad():
            m = preference_metrics(pc.detach(), pr.detach(), rc, rr, beta)
        history.step.append(step + 1)
        history.loss.append(float(loss.detach()))
        history.accuracy.append(m["accuracy"])
        history.margin.append(m["margin"])
        history.chosen_reward.append(m["chosen_reward"])
        history.rejected_reward.append(m["rejected_reward"])
        history.chosen_logp.append(float(pc.detach().mean()))
        history.rejected_logp.append(float(pr.detach().mean()))
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            run_eval(step + 1)
            policy.train()
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    policy.eval()
    return history


def _check_prompts(name: str, texts: Any) -> list[str]:
    return check_list(name, texts, what="a list of strings", item=lambda n, v: _check_text(
        n, v, blank=True, what="a string"))


@torch.no_grad()
def sample_responses(model: torch.nn.Module, tokenizer, prompts: Sequence[str], *,
                     max_new_tokens: int = 12, temperature: float = 1.0, seed: int = 0,
                     batch_size: int = 128) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Sample one response per prompt from ``model``; return the texts and their token ids.

    Prompts of the same token length are sampled together (no padding), with chapter 6's
    :func:`~mlbook.llm.llama.generate`; a response ends at its first ``</s>`` (kept in its
    tokens, so its log-probability includes stopping) or after ``max_new_tokens``. The token
    ids come back too, ``(N, T)`` with a ``(N, T)`` response mask, so
    :func:`batched_logprobs` scores the responses under any model.
    """
    check_instance("model", model, Llama, what="a Llama (chapter 6's model)")
    _check_tokenizer("tokenizer", tokenizer, "decode", "eos_id")
    prompts = _check_prompts("prompts", prompts)
    check_count("max_new_tokens", max_new_tokens)
    encoded = [tokenizer.encode(p, bos=True) for p in prompts]
    _check_prompts_fit(model, encoded, max_new_tokens)
    with one_thread():           # decoding is a chain of tiny operations: one thread is faster
        responses = generate_grouped(model, encoded, max_new_tokens, eos_id=tokenizer.eos_id,
                                     temperature=temperature, seed=seed, batch_size=batch_size)
    ids, mask = _pad_rows([(p + r, len(p)) for p, r in zip(encoded, responses)],
                          tokenizer.eos_id)
    texts = [tokenizer.decode([t for t in r if t != tokenizer.eos_id]).strip()
             for r in responses]
    return texts, ids, mask


def reward_and_kl(policy: torch.nn.Module, reference: torch.nn.Module, tokenizer,
                  prompts: Sequence[str], answers: Sequence[str], *, kl_prompts: int | None = None,
                  max_new_tokens: int = 12, seed: int = 0) -> dict[str, float]:
    """The true reward of ``policy`` and its KL divergence from ``reference``.

    The reward of a response is 1 when it is exactly the expected answer (chapter 7's exact
    match) and 0 otherwise, so the policy's expected reward on a prompt is the probability
    ``pi(y*|x)`` that sampling (temperature 1) writes the answer ``y*``: computed exactly,
    in one teacher-forced pass, and averaged over prompts. ``KL(pi || pi_ref)`` is estimated
    from one sampled response ``y ~ pi(.|x)`` for each of the first ``kl_prompts`` prompts
    (all of them if ``None``; sampling costs more than scoring), as the mean of
    ``log pi(y|x) - log pi_ref(y|x)`` (sequence level, in nats; unbiased, so a small
    sample can even give a slightly negative value). These are the two axes of the
    paper's reward-KL frontier (Rafailov et al., 2023, figure 2). Returns ``{"reward", "kl"}``.
    """
    for name, model in (("policy", policy), ("reference", reference)):
        check_instance(name, model, Llama, what="a Llama (chapter 6's model)")
    _check_tokenizer("tokenizer", tokenizer, "decode", "eos_id")
    prompts, answers = _check_prompts("prompts", prompts), _check_prompts("answers", answers)
    if len(prompts) != len(answers):
        raise ValueError(f"need as many answers as prompts, got {len(prompts)} prompts and "
                         f"{len(answers)} answers")
    if kl_prompts is not None:
        check_count("kl_prompts", kl_prompts)
    check_count("max_new_tokens", max_new_tokens)
    ids, mask = _pad_rows([_tokenise(tokenizer, p, a) for p, a in zip(prompts, answers)],
                          tokenizer.eos_id)
    _check_sequences_fit("policy", policy, ids, mask)
    _check_sequences_fit("reference", reference, ids, mask)
    reward = float(batched_logprobs(policy, ids, mask).exp().mean())
    _, ids, mask = sample_responses(policy, tokenizer, list(prompts)[:kl_prompts],
                                    max_new_tokens=max_new_tokens, seed=seed)
    kl = batched_logprobs(policy, ids, mask) - batched_logprobs(reference, ids, mask)
    return {"reward": reward, "kl": float(kl.mean())}


# ----------------------------------------------------------------------------------------
# Preference pairs from chapter 7's tasks
# ----------------------------------------------------------------------------------------
def malformed_response(output: str, input: str, rng: random.Random) -> str:
    """A response with the right content in the wrong form, as a careless model writes it.

    One of: the answer said twice (``"7 7"``), the answer followed by an echo of the input,
    or the input echoed alone (when the input differs from the answer). Never equal to
    ``output``.
    """
    _check_text("output", output)
    _check_text("input", input, blank=True, what="a string (empty for no input)")
    _check_rng(rng)
    choices = [f"{output} {output}"]
    if input.strip():
        choices.append(f"{output} {input}")
        if input.strip() != output.strip():
            choices.append(input.strip())
    return rng.choice(choices)


def wrong_response(example: Example, rng: random.Random, attempts: int = 50) -> str:
    """A well-formed but wrong answer: the answer to another instance of the same task.

    Draws fresh instances of ``example.family`` (chapter 7's task generator) until one has a
    different output (a different sum, the other label, other words). Falls back to a
    malformed response for a family that cannot produce a different answer.
    """
    check_instance("example", example, Example)
    if example.family not in TASK_FAMILIES:
        raise ValueError(f"example must be of one of the task families TASK_FAMILIES (their "
                         f"generators make the wrong answers), got family {example.family!r}")
    _check_rng(rng)
    check_count("attempts", attempts)
    family = TASK_FAMILIES[example.family]
    for _ in range(attempts):
        _, _, output = family.make(rng)
        if output.strip() != example.output.strip():
            return output
    return malformed_response(example.output, example.input, rng)


def make_preference_pairs(examples: Sequence[Example], *,
                          model_responses: Sequence[str] | None = None,
                          seed: int = 0) -> list[PreferencePair]:
    """One preference pair per example of chapter 7: the correct output beats a bad response.

    ``examples`` are :class:`mlbook.llm.tasks.Example` objects (instruction, input,
    output, family); the prompt is their Alpaca prompt and the chosen response their
    correct output. The rejected response is

    * ``"model"``: the SFT model's own answer ``model_responses[i]`` (e.g. sampled with
      :func:`sample_responses`) when it is wrong and not empty: the mistakes the model
      actually makes, as in RLHF, where the compared responses come from the SFT model;
    * otherwise, with equal probability, ``"wrong"`` (:func:`wrong_response`, a
      well-formed answer with the wrong content) or ``"malformed"``
      (:func:`malformed_response`, the right content in the wrong form).
    """
    examples = _check_examples("examples", examples)
    unknown = sorted({ex.family for ex in examples} - set(TASK_FAMILIES))
    if unknown:
        raise ValueError(f"examples must be of the task families TASK_FAMILIES (their "
                         f"generators make the wrong answers), got the families {unknown}")
    if model_responses is not None:
        model_responses = _check_prompts("model_responses", model_responses)
        if len(model_responses) != len(examples):
            raise ValueError(f"model_responses: {len(model_responses)} model responses for "
                             f"{len(examples)} examples")
    rng = random.Random(check_integer_seed("seed", seed))
    pairs = []
    for i, ex in enumerate(examples):
        answer = model_responses[i].strip() if model_responses is not None else ""
        if answer and answer != ex.output.strip():
            rejected, kind = answer, "model"
        elif rng.random() < 0.5:
            rejected, kind = wrong_response(ex, rng), "wrong"
        else:
            rejected, kind = malformed_response(ex.output, ex.input, rng), "malformed"
        pairs.append(PreferencePair(ex.prompt(), ex.output, rejected, kind))
    return pairs


@dataclass
class OnPolicyPairs:
    """Preference pairs from a model's own samples (:func:`sample_preference_pairs`)."""

    pairs: list[PreferencePair]
    examples: list[Example]            # the example behind each pair
    correct_share: list[float]         # per example: share of its samples that were right
    n_samples: int

    @property
    def share_mixed(self) -> float:
        """Share of prompts whose samples were neither all right nor all wrong."""
        return float(np.mean([0 < c < 1 for c in self.correct_share]))


def sample_preference_pairs(model: torch.nn.Module, tokenizer, examples: Sequence[Example], *,
                            n_samples: int = 4, temperature: float = 1.0, seed: int = 0,
                            max_new_tokens: int = 12) -> OnPolicyPairs:
    """Preference pairs from the model's own answers, judged by the task's true answer.

    For each example, ``n_samples`` responses are sampled at ``temperature`` (seeded). A
    response is right when it equals the example's output (chapter 7's exact match): a
    program plays the labeller, and it always prefers a right answer to a wrong one. A
    prompt yields a pair only if some samples are right and some wrong: the chosen
    response is a right one, the rejected one a wrong sample drawn at random, so both
    responses come from the SFT model (on-policy, as RLHF's comparisons are). Prompts whose
    samples are all right or all wrong give no comparison and are skipped.
    """
    check_instance("model", model, Llama, what="a Llama (chapter 6's model)")
    _check_tokenizer("tokenizer", tokenizer, "decode", "eos_id")
    examples = _check_examples("examples", examples)
    check_int("n_samples", n_samples, minimum=2)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    prompts = [ex.prompt() for ex in examples]
    answers = []
    for k in range(n_samples):
        texts, _, _ = sample_responses(model, tokenizer, prompts, temperature=temperature,
                                       seed=seed * 1000 + k, max_new_tokens=max_new_tokens)
        answers.append(texts)
    rng = random.Random(seed)
    pairs, used, shares = [], [], []
    for i, ex in enumerate(examples):
        samples = [answers[k][i] for k in range(n_samples)]
        right = [a for a in samples if a == ex.output.strip()]
        wrong = [a for a in samples if a != ex.output.strip() and a.strip()]
        shares.append(len(right) / n_samples)
        if right and wrong:
            pairs.append(PreferencePair(prompts[i], right[0], rng.choice(wrong), "model"))
            used.append(ex)
    return OnPolicyPairs(pairs, used, shares, n_samples)
