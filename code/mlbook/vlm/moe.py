"""A mixture-of-experts feed-forward layer as DeepSeek-V3 and Moonlight use it (chapter 11).

Kimi-VL's language model is Moonlight (Liu et al., 2025, "Muon is Scalable for LLM
Training"), a DeepSeek-V3-style model (DeepSeek-AI, 2024, arXiv:2412.19437) with 64 routed
experts of which each token uses 6, plus 2 shared experts that every token uses: about 16B
parameters in all, about 3B of them used per token. This module builds that layer from

* the sparsely-gated MoE of Shazeer et al. (2017), scaled up by GShard (Lepikhin et al.,
  2021) and the Switch Transformer (Fedus et al., 2022): a router scores the experts for each
  token, the token goes to the ``k`` best, and their outputs are mixed with the router's
  weights, equations (11.8)-(11.9);
* DeepSeekMoE's *shared experts* (Dai et al., 2024), which see every token;
* two ways of keeping the experts evenly loaded: the classic auxiliary loss on softmax scores,
  ``alpha * E * sum_i f_i P_i`` (Switch Transformer's form; equation (11.10)), and DeepSeek-V3's
  *auxiliary-loss-free* balancing (Wang et al., 2024): a per-expert bias added to sigmoid scores
  only when choosing experts, nudged after every step against the expert's load (11.11).

Parameter names follow Hugging Face ``transformers``' DeepSeek-V3 MoE block and the released
checkpoints: ``gate.weight`` and the buffer ``gate.e_score_correction_bias``,
``experts.N.{gate_proj, up_proj, down_proj}.weight``, ``shared_experts.{gate_proj, up_proj,
down_proj}.weight`` (the shared experts as one SwiGLU of width ``n_shared * F``).
(``transformers`` 5 stores the routed experts fused as ``experts.gate_up_proj`` and
``experts.down_proj``; :func:`to_transformers_state_dict` converts.) The experts are chapter 6's
SwiGLU, :class:`mlbook.llm.llama.LlamaMLP`, given their own width.

Parameter counts, equation (11.12): each expert has ``3 D F`` weights; a layer has
``E`` routed, ``S`` shared experts and an ``E x D`` router; a token *activates* ``k + S``
experts and the router. :func:`moe_lm_parameter_counts` does the whole language model, with
DeepSeek's multi-head latent attention (chapter 9), for :data:`MOONLIGHT`.

Shapes: ``N`` tokens, ``D`` width ``hidden_size``, ``E`` routed experts, ``k`` experts per
token, ``S`` shared experts, ``F`` expert width ``moe_intermediate_size``.

Bad input: arguments are checked with :mod:`mlbook.checks` (``ValueError``, or ``TypeError``
for a value of the wrong kind, naming the argument); the configurations refuse ``True`` as a
count and NaN or infinite rates. The layers' forward passes check shapes and dtypes (NaN
activations propagate, as everywhere in PyTorch); :func:`train_balancing_demo` checks its
data for NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import (ArgumentTypeError, check_array, check_bool, check_choice, check_count,
                      check_instance, check_int, check_integer_seed, check_number, check_tensor)
from ..llm.llama import LlamaMLP, _check_features, _dtype_of
from ..progress import tqdm

__all__ = [
    "MoEConfig", "SwiGLUExpert", "RouterOutput", "TopKRouter", "MoE",
    "moe_layer_parameter_counts", "MoELanguageModelSizes", "MOONLIGHT",
    "KIMI_VL_PUBLISHED", "moe_lm_parameter_counts", "to_transformers_state_dict",
    "max_violation", "MoEClassifier", "BalanceRun", "train_balancing_demo", "step_violations",
    "steps_to_balance",
]

SCORING = ("softmax", "sigmoid")
BALANCING = ("none", "aux_loss", "bias")


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (:func:`mlbook.checks.check_int`: ``bool`` refused)."""
    return check_int(name, value, minimum=minimum)


def _check_top_k(k: Any, n_experts: int, name: str = "num_experts_per_tok") -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise ArgumentTypeError(f"{name} must be an integer in [1, n_routed_experts = "
                                f"{n_experts}], got {k!r} of type {type(k).__name__}")
    if not 1 <= k <= n_experts:
        raise ValueError(f"{name} must be an integer in [1, n_routed_experts = {n_experts}], "
                         f"got {k!r}")


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoEConfig:
    """The shape and routing rule of one MoE layer; names follow ``DeepseekV3Config``.

    ``scoring_func`` is ``"softmax"`` (the classic router) or ``"sigmoid"`` (DeepSeek-V3).
    ``balancing`` is ``"none"``, ``"aux_loss"`` (adds ``aux_loss_alpha * E * sum f_i P_i`` to
    the loss, (11.10)) or ``"bias"`` (auxiliary-loss-free: a bias nudged by
    ``bias_update_speed`` after each step, (11.11)).
    """

    hidden_size: int                   # D: width of the tokens
    moe_intermediate_size: int         # F: hidden width of each expert's SwiGLU
    n_routed_experts: int = 8          # E: experts the router chooses among
    num_experts_per_tok: int = 2       # k: routed experts per token (top-k)
    n_shared_experts: int = 1          # S: experts every token uses (DeepSeekMoE)
    scoring_func: str = "sigmoid"      # "softmax" or "sigmoid" router scores (11.9)
    balancing: str = "bias"            # "none", "aux_loss" (11.10) or "bias" (11.11)
    aux_loss_alpha: float = 0.01       # alpha of the auxiliary loss
    bias_update_speed: float = 1e-3    # gamma of the loss-free bias update
    norm_topk_prob: bool = True        # renormalise the k chosen scores to sum to one
    routed_scaling_factor: float = 1.0  # multiply the routed experts' weights (Moonlight: 2.446)

    def __post_init__(self) -> None:
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("moe_intermediate_size", self.moe_intermediate_size)
        try:
            check_count("n_routed_experts", self.n_routed_experts)
        except ValueError as error:
            raise type(error)(f"{error} (an MoE layer needs at least one expert to route "
                              f"to)") from None
        _check_top_k(self.num_experts_per_tok, self.n_routed_experts, "num_experts_per_tok (top-k)")
        _positive_int("n_shared_experts", self.n_shared_experts, minimum=0)
        check_choice("scoring_func", self.scoring_func, SCORING)
        check_choice("balancing", self.balancing, BALANCING)
        check_number("aux_loss_alpha", self.aux_loss_alpha, minimum=0.0)
        check_number("bias_update_speed", self.bias_update_speed, minimum=0.0)
        check_bool("norm_topk_prob", self.norm_topk_prob)
        check_number("routed_scaling_factor", self.routed_scaling_factor, minimum=0.0,
                     exclusive_minimum=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------
# Experts and router
# ----------------------------------------------------------------------------------------
class SwiGLUExpert(LlamaMLP):
    """One expert: chapter 6's SwiGLU (6.7), ``down_proj(silu(gate_proj(x)) * up_proj(x))``.

    The forward pass is :class:`mlbook.llm.llama.LlamaMLP`'s; only the width ``F`` is given
    directly instead of derived from a ``LlamaConfig``.
    """

    def __init__(self, hidden_size: int, intermediate_size: int):
        nn.Module.__init__(self)
        _positive_int("hidden_size", hidden_size)
        _positive_int("intermediate_size", intermediate_size)
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)


@dataclass
class RouterOutput:
    """What the router decided for ``N`` tokens."""

    scores: torch.Tensor        # (N, E) softmax or sigmoid scores s_{t,i}, before any bias
    topk_indices: torch.Tensor  # (N, k) the chosen experts of each token
    topk_weights: torch.Tensor  # (N, k) their mixing weights g_{t,i}


class TopKRouter(nn.Module):
    """Scores experts per token and keeps the ``k`` best (11.9), as DeepSeek-V3's ``gate``.

    ``weight`` ``(E, D)`` holds one centroid ``e_i`` per expert; the affinity of token ``u`` is
    ``s_i = softmax_i(u . e_i)`` or ``sigmoid(u . e_i)``. The experts are chosen by
    ``s_i + b_i``, where ``e_score_correction_bias`` ``b`` (a buffer, not trained by gradient)
    is zero unless balancing is ``"bias"``; the weights use ``s_i`` alone, renormalised over
    the chosen ``k`` if ``norm_topk_prob``, times ``routed_scaling_factor``.
    """

    def __init__(self, config: MoEConfig):
        super().__init__()
        check_instance("config", config, MoEConfig)
        self.config = config
        self.weight = nn.Parameter(torch.empty(config.n_routed_experts, config.hidden_size))
        nn.init.normal_(self.weight, std=0.02)
        self.register_buffer("e_score_correction_bias", torch.zeros(config.n_routed_experts))

    def forward(self, x: torch.Tensor) -> RouterOutput:
        """``x`` ``(N, D)`` tokens -> the router's scores and choices."""
        _check_features("x", x, self.config.hidden_size)
        if x.dim() != 2:
            raise ValueError(f"x must have shape (N, D) = (N, {self.config.hidden_size}), got "
                             f"{tuple(x.shape)}")
        c = self.config
        logits = F.linear(x.float(), self.weight.float())                # (N, E)
        scores = logits.softmax(-1) if c.scoring_func == "softmax" else logits.sigmoid()
        choice = scores + self.e_score_correction_bias                    # bias: selection only
        topk_indices = choice.topk(c.num_experts_per_tok, dim=-1).indices  # (N, k)
        weights = scores.gather(1, topk_indices)
        if c.norm_topk_prob:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        return RouterOutput(scores, topk_indices, weights * c.routed_scaling_factor)


# ----------------------------------------------------------------------------------------
# The MoE layer
# ----------------------------------------------------------------------------------------
class MoE(nn.Module):
    """A DeepSeek-V3 MoE feed-forward layer (11.8): shared experts plus ``k`` of ``E`` routed ones.

    ``forward(x)``: ``(..., D) -> (..., D)``,
    ``h = sum_{shared} FFN_s(u) + sum_{i in TopK} g_i FFN_i(u)``. After each forward the layer
    keeps ``last_routing`` (:class:`RouterOutput`), ``last_load`` (``(E,)`` tokens sent to
    each expert) and ``aux_loss`` (a scalar tensor: (11.10) when training with
    ``balancing="aux_loss"``, else zero), which the training loop adds to its loss. Call
    :meth:`update_bias` after each optimiser step for ``balancing="bias"``.
    """

    def __init__(self, config: MoEConfig):
        super().__init__()
        check_instance("config", config, MoEConfig)
        self.config = config
        d, f = config.hidden_size, config.moe_intermediate_size
        self.gate = TopKRouter(config)
        self.experts = nn.ModuleList(SwiGLUExpert(d, f) for _ in range(config.n_routed_experts))
        self.shared_experts = (SwiGLUExpert(d, f * config.n_shared_experts)
                               if config.n_shared_experts > 0 else None)
        self.last_routing: RouterOutput | None = None
        self.last_load = torch.zeros(config.n_routed_experts)
        self.aux_loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        _check_features("x", x, c.hidden_size, _dtype_of(self.experts[0].gate_proj))
        shape = x.shape
        flat = x.reshape(-1, c.hidden_size)                               # (N, D)
        routing = self.gate(flat)
        k = c.num_experts_per_tok
        slots = routing.topk_indices.flatten()                            # (N k,) expert of each slot
        order = slots.argsort(stable=True)                                # slots grouped by expert
        load = torch.bincount(slots, minlength=c.n_routed_experts)
        weights = routing.topk_weights.flatten()[order].to(flat.dtype)
        out = torch.zeros_like(flat)
        for expert, chunk, w in zip(self.experts, order.split(load.tolist()),
                                    weights.split(load.tolist())):       # dispatch by expert
            if chunk.numel() == 0:
                continue
            token = chunk // k
            out.index_add_(0, token, expert(flat[token]) * w[:, None])   # combine
        if self.shared_experts is not None:
            out = out + self.shared_experts(flat)

        self.last_routing, self.last_load = routing, load.detach().float()
        if self.training and c.balancing == "aux_loss":
            self.aux_loss = self.auxiliary_loss(routing)
        else:
            self.aux_loss = flat.new_zeros(())
        return out.view(shape)

    def auxiliary_loss(self, routing: RouterOutput) -> torch.Tensor:
        """The balance loss (11.10): ``alpha * E * sum_i f_i P_i``.

        ``f_i``: the fraction of the ``N k`` routing slots that went to expert ``i``;
        ``P_i``: the mean over tokens of its score, normalised to sum to one per token. Its
        value is ``alpha`` when the load is perfectly even, and up to ``alpha E`` when
        everything goes to one expert. Gradients flow through ``P_i`` (``f_i`` is a count).
        """
        c = self.config
        check_instance("routing", routing, RouterOutput, what="a RouterOutput (the router's "
                                                               "last_routing)")
        if routing.scores.dim() != 2 or routing.scores.shape[1] != c.n_routed_experts:
            raise ValueError(f"routing must score the layer's {c.n_routed_experts} experts, got "
                             f"scores of shape {tuple(routing.scores.shape)}")
        n = routing.scores.shape[0]
        counts = torch.bincount(routing.topk_indices.flatten(), minlength=c.n_routed_experts)
        f = counts.float() / (n * c.num_experts_per_tok)
        probs = routing.scores / routing.scores.sum(-1, keepdim=True)
        p = probs.mean(0)
        return c.aux_loss_alpha * c.n_routed_experts * (f * p).sum()

    @torch.no_grad()
    def update_bias(self, load: torch.Tensor | None = None) -> None:
        """Loss-free balancing (11.11): ``b_i += gamma * sign(mean load - load_i)``.

        ``load``: ``(E,)`` tokens per expert over the last step (default: the last forward).
        Overloaded experts become less likely to be chosen, underloaded ones more.
        """
        if load is not None:
            check_tensor("load", load, dtype=None, shape=(self.config.n_routed_experts,),
                         layout=f"(E,) = ({self.config.n_routed_experts},)", minimum=0)
        load = self.last_load if load is None else load
        error = load.float().mean() - load.float()
        self.gate.e_score_correction_bias += self.config.bias_update_speed * error.sign()


# ----------------------------------------------------------------------------------------
# Parameter counts (11.12)
# ----------------------------------------------------------------------------------------
def moe_layer_parameter_counts(config: MoEConfig) -> dict[str, int]:
    """Parameters of one :class:`MoE` layer: ``total`` and ``activated`` per token (11.12).

    ``expert = 3 D F``; ``total = E expert + S expert + E D``;
    ``activated = k expert + S expert + E D`` (the router scores every expert for every token).
    """
    check_instance("config", config, MoEConfig)
    expert = 3 * config.hidden_size * config.moe_intermediate_size
    router = config.n_routed_experts * config.hidden_size
    shared = config.n_shared_experts * expert
    return {"expert": expert, "router": router,
            "total": config.n_routed_experts * expert + shared + router,
            "activated": config.num_experts_per_tok * expert + shared + router}


@dataclass(frozen=True)
class MoELanguageModelSizes:
    """The sizes of a DeepSeek-V3-style MoE language model with MLA attention (chapter 9).

    Field names follow ``transformers.DeepseekV3Config``; the first ``first_k_dense_replace``
    layers have a dense SwiGLU of width ``intermediate_size``, the others an MoE layer.
    """

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    first_k_dense_replace: int
    intermediate_size: int
    moe_intermediate_size: int
    n_routed_experts: int
    num_experts_per_tok: int
    n_shared_experts: int
    num_attention_heads: int
    kv_lora_rank: int
    q_lora_rank: int | None
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
                     "moe_intermediate_size", "n_routed_experts", "num_attention_heads",
                     "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            _positive_int(name, getattr(self, name))
        _positive_int("first_k_dense_replace", self.first_k_dense_replace, minimum=0)
        _positive_int("n_shared_experts", self.n_shared_experts, minimum=0)
        _check_top_k(self.num_experts_per_tok, self.n_routed_experts)
        if self.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(f"first_k_dense_replace ({self.first_k_dense_replace}) cannot "
                             f"exceed num_hidden_layers ({self.num_hidden_layers})")
        if self.q_lora_rank is not None:
            _positive_int("q_lora_rank", self.q_lora_rank)
        check_bool("tie_word_embeddings", self.tie_word_embeddings)

    def to_hf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``transformers.DeepseekV3Config`` for the same shapes."""
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                    num_hidden_layers=self.num_hidden_layers,
                    first_k_dense_replace=self.first_k_dense_replace,
                    intermediate_size=self.intermediate_size,
                    moe_intermediate_size=self.moe_intermediate_size,
                    n_routed_experts=self.n_routed_experts,
                    num_experts_per_tok=self.num_experts_per_tok,
                    n_shared_experts=self.n_shared_experts,
                    num_attention_heads=self.num_attention_heads,
                    num_key_value_heads=self.num_attention_heads,
                    kv_lora_rank=self.kv_lora_rank, q_lora_rank=self.q_lora_rank,
                    qk_nope_head_dim=self.qk_nope_head_dim,
                    qk_rope_head_dim=self.qk_rope_head_dim, v_head_dim=self.v_head_dim,
                    tie_word_embeddings=self.tie_word_embeddings, n_group=1, topk_group=1)

    def replace(self, **changes: Any) -> "MoELanguageModelSizes":
        from dataclasses import replace
        return replace(self, **changes)


#: Moonlight-16B-A3B, the language model of Kimi-VL-A3B (its released ``config.json``).
MOONLIGHT = MoELanguageModelSizes(
    vocab_size=163840, hidden_size=2048, num_hidden_layers=27, first_k_dense_replace=1,
    intermediate_size=11264, moe_intermediate_size=1408, n_routed_experts=64,
    num_experts_per_tok=6, n_shared_experts=2, num_attention_heads=16, kv_lora_rank=512,
    q_lora_rank=None, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)

#: The sizes the Kimi-VL report publishes (Kimi Team, 2025, section 2.1): a 400M MoonViT and a
#: language model with 16B parameters of which 2.8B are activated.
KIMI_VL_PUBLISHED = {"vision_encoder": 400e6, "language_total": 16e9,
                     "language_activated": 2.8e9}


def moe_lm_parameter_counts(sizes: MoELanguageModelSizes) -> dict[str, int]:
    """Parameters of a DeepSeek-V3-style language model, by part, total and activated (11.12).

    Attention per layer (MLA, chapter 9): ``q_proj`` (or ``q_a_proj``, its RMSNorm and
    ``q_b_proj``), ``kv_a_proj_with_mqa``, ``kv_a_layernorm``, ``kv_b_proj``, ``o_proj``.
    ``activated`` counts what one token uses: everything except the ``E - k`` routed experts
    it skips in each MoE layer, embedding table included; ``activated_non_embedding`` leaves
    out both the input embedding and the output head.
    """
    check_instance("sizes", sizes, MoELanguageModelSizes)
    s = sizes
    d, h = s.hidden_size, s.num_attention_heads
    qk = s.qk_nope_head_dim + s.qk_rope_head_dim
    if s.q_lora_rank is None:
        q = d * h * qk
    else:
        q = d * s.q_lora_rank + s.q_lora_rank + s.q_lora_rank * h * qk
    attention = (q + d * (s.kv_lora_rank + s.qk_rope_head_dim) + s.kv_lora_rank
                 + s.kv_lora_rank * h * (s.qk_nope_head_dim + s.v_head_dim) + h * s.v_head_dim * d)
    layer = MoEConfig(hidden_size=d, moe_intermediate_size=s.moe_intermediate_size,
                      n_routed_experts=s.n_routed_experts,
                      num_experts_per_tok=s.num_experts_per_tok,
                      n_shared_experts=s.n_shared_experts)
    moe = moe_layer_parameter_counts(layer)
    n_moe = s.num_hidden_layers - s.first_k_dense_replace
    parts = {
        "embed_tokens": s.vocab_size * d,
        "lm_head": 0 if s.tie_word_embeddings else s.vocab_size * d,
        "attention": s.num_hidden_layers * attention,
        "dense_mlp": s.first_k_dense_replace * 3 * d * s.intermediate_size,
        "moe_total": n_moe * moe["total"],
        "moe_activated": n_moe * moe["activated"],
        "norms": s.num_hidden_layers * 2 * d + d,
    }
    common = parts["attention"] + parts["dense_mlp"] + parts["norms"]
    embeddings = parts["embed_tokens"] + parts["lm_head"]
    parts["total"] = embeddings + common + parts["moe_total"]
    parts["activated"] = embeddings + common + parts["moe_activated"]
    parts["activated_non_embedding"] = common + parts["moe_activated"]
    return parts


def to_transformers_state_dict(moe: MoE) -> dict[str, torch.Tensor]:
    """The layer's weights in ``transformers`` 5's ``DeepseekV3MoE`` layout.

    The routed experts are stacked: ``experts.gate_up_proj`` ``(E, 2F, D)`` (gate rows, then
    up rows) and ``experts.down_proj`` ``(E, D, F)``; the router and the shared experts keep
    their names.
    """
    check_instance("moe", moe, MoE)
    state = {"gate.weight": moe.gate.weight.detach().clone(),
             "gate.e_score_correction_bias": moe.gate.e_score_correction_bias.detach().clone(),
             "experts.gate_up_proj": torch.stack([torch.cat([e.gate_proj.weight, e.up_proj.weight])
                                                  for e in moe.experts]).detach().clone(),
             "experts.down_proj": torch.stack([e.down_proj.weight for e in moe.experts]).detach().clone()}
    if moe.shared_experts is not None:
        for name in ("gate_proj", "up_proj", "down_proj"):
            state[f"shared_experts.{name}.weight"] = getattr(moe.shared_experts, name).weight.detach().clone()
    return state


# ----------------------------------------------------------------------------------------
# A small experiment: expert load with and without balancing
# ----------------------------------------------------------------------------------------
def max_violation(load: torch.Tensor | np.ndarray) -> float:
    """``max_i load_i / mean load - 1``: 0 for a perfectly even load (Wang et al., 2024's MaxVio).

    ``load``: ``(E,)`` tokens per expert (a tensor or an array), non-negative, not all zero."""
    if isinstance(load, torch.Tensor):
        load = load.detach().cpu().numpy()
    load = check_array("load", load, ndim=1, minimum=0.0)
    if not load.sum() > 0:
        raise ValueError("load must send at least one token to some expert (all zero: the "
                         "violation is undefined)")
    return float(load.max() / load.mean() - 1.0)


class MoEClassifier(nn.Module):
    """``Linear -> (x + MoE(RMS(x))) -> Linear``: one MoE layer between an input and an output map."""

    def __init__(self, n_inputs: int, n_classes: int, config: MoEConfig):
        super().__init__()
        check_count("n_inputs", n_inputs)
        check_count("n_classes", n_classes)
        check_instance("config", config, MoEConfig)
        self.embed = nn.Linear(n_inputs, config.hidden_size)
        self.norm = nn.RMSNorm(config.hidden_size)
        self.moe = MoE(config)
        self.head = nn.Linear(config.hidden_size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, n_inputs)`` -> class logits ``(N, n_classes)``."""
        _check_features("x", x, self.embed.in_features, _dtype_of(self.embed))
        if x.dim() != 2:
            raise ValueError(f"x must have shape (N, {self.embed.in_features}): one row of "
                             f"features per token, got {tuple(x.shape)}")
        h = self.embed(x)
        h = h + self.moe(self.norm(h))
        return self.head(h)


@dataclass
class BalanceRun:
    """One run of :func:`train_balancing_demo`."""

    config: MoEConfig
    load: np.ndarray                                     # (E,) tokens per expert, last steps
    load_history: list[np.ndarray] = field(default_factory=list)  # (E,) per step
    max_violation: float = 0.0                           # of ``load``
    test_accuracy: float = 0.0


def train_balancing_demo(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
                         y_test: torch.Tensor, config: MoEConfig, *, steps: int = 300,
                         batch_size: int = 256, lr: float = 3e-3, last: int = 50,
                         seed: int = 0, progress: bool = True) -> BalanceRun:
    """Train a :class:`MoEClassifier` and record how many tokens each expert received.

    Each input row is one "token". ``load`` sums the routing counts of the ``last`` steps.
    With ``balancing="bias"`` the bias is updated after every step (11.11); with
    ``"aux_loss"`` the auxiliary loss (11.10) is added to the cross-entropy. ``last`` is at
    most ``steps``. ``seed`` fixes the initial weights and the batches (``None``: fresh
    randomness); PyTorch's global generator is left as it was.
    """
    check_tensor("x_train", x_train, ndim=2, layout="(N, n_inputs)")
    check_tensor("y_train", y_train, ndim=1, dtype="int", minimum=0, layout="(N,)")
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"y_train must hold one label per row of x_train "
                         f"({x_train.shape[0]}), got {y_train.shape[0]}")
    check_tensor("x_test", x_test, ndim=2, layout=f"(M, n_inputs = {x_train.shape[1]})")
    if x_test.shape[1] != x_train.shape[1] or x_test.dtype != x_train.dtype:
        raise ValueError(f"x_test must have x_train's width {x_train.shape[1]} and dtype "
                         f"{x_train.dtype}, got {tuple(x_test.shape)}, {x_test.dtype}")
    check_tensor("y_test", y_test, ndim=1, dtype="int", minimum=0, layout="(M,)")
    if y_test.shape[0] != x_test.shape[0]:
        raise ValueError(f"y_test must hold one label per row of x_test ({x_test.shape[0]}), "
                         f"got {y_test.shape[0]}")
    check_instance("config", config, MoEConfig)
    _positive_int("steps", steps)
    _positive_int("batch_size", batch_size)
    check_number("lr", lr, minimum=0.0, exclusive_minimum=True)
    _positive_int("last", last)
    if last > steps:
        raise ValueError(f"last ({last}) must be at most steps ({steps})")
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    check_bool("progress", progress)
    with torch.random.fork_rng(devices=[]):   # seeded here; the caller's generator is untouched
        torch.manual_seed(seed)
        model = MoEClassifier(x_train.shape[1], int(y_train.max()) + 1, config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for _ in tqdm(range(steps), desc=f"MoE {config.scoring_func}/{config.balancing}",
                  disable=not progress, leave=False, mininterval=1.0):
        idx = torch.randint(0, x_train.shape[0], (batch_size,), generator=generator)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx]) + model.moe.aux_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if config.balancing == "bias":
            model.moe.update_bias()
        history.append(model.moe.last_load.numpy().copy())
    load = np.sum(history[-last:], axis=0)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(-1) == y_test).float().mean())
    return BalanceRun(config, load, history, max_violation(load), accuracy)


def step_violations(run: BalanceRun) -> np.ndarray:
    """``(steps,)``: the maximum violation of each training step's own load (one batch)."""
    if not isinstance(run, BalanceRun):
        raise TypeError(f"run must be a BalanceRun, got {type(run).__name__}")
    return np.array([max_violation(load) for load in run.load_history])


def steps_to_balance(run: BalanceRun, threshold: float = 0.5, window: int = 10) -> int | None:
    """The first step at which the ``window``-step mean of :func:`step_violations` is below ``threshold``.

    Counted from 1 (the mean over steps ``1 .. window`` is reported at step ``window``);
    ``None`` if the load never gets that even.
    """
    _positive_int("window", window)
    check_number("threshold", threshold, minimum=0.0, exclusive_minimum=True)
    vio = step_violations(run)
    if len(vio) < window:
        raise ValueError(f"the run has {len(vio)} steps, fewer than window = {window}")
    smooth = np.convolve(vio, np.ones(window) / window, mode="valid")
    below = np.flatnonzero(smooth < threshold)
    return int(below[0]) + window if len(below) else None
