"""The LLaMA decoder (chapter 6), small enough to read in one sitting.

Follows Touvron et al., *LLaMA: Open and Efficient Foundation Language Models* (2023), with
grouped-query attention from the LLaMA 2 paper (Touvron et al., 2023; Ainslie et al., 2023).
The three changes LLaMA makes to the original Transformer are each one small class here:

* pre-normalisation with :class:`RMSNorm` (Zhang and Sennrich, 2019), equations (6.5)-(6.6);
* the SwiGLU feed-forward network :class:`LlamaMLP` (Shazeer, 2020), equation (6.7), with a
  hidden size of about ``2/3 * 4 * dim`` rounded up to a multiple of ``multiple_of``;
* rotary position embeddings (Su et al., 2021), equations (6.8)-(6.10): :func:`apply_rope`.

Equation (6.n) is the n-th numbered equation of chapter 6; the next-token loss is (6.4),
the parameter count (6.11), temperature and top-p sampling (6.13)-(6.14).

Parameter names are those of Hugging Face ``transformers``' ``LlamaForCausalLM``
(``model.embed_tokens.weight``, ``model.layers.0.self_attn.q_proj.weight``, ...,
``lm_head.weight``), so a ``state_dict`` loads into either model with ``strict=True``. Like
Hugging Face, the rotary embedding rotates the two *halves* of each head; Meta's release
rotates *interleaved* pairs. :func:`permute_meta_to_hf` and :func:`permute_hf_to_meta`
move ``q_proj``/``k_proj`` weights between the two layouts (section "Two layouts of RoPE").

Shapes use ``B`` batch, ``T`` sequence length, ``D`` model width ``dim``, ``H`` query heads,
``G`` key/value heads, ``hd`` head width ``dim // n_heads``, ``V`` vocabulary size.

Bad input: public functions and classes check their arguments with :mod:`mlbook.checks`
(``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the argument); token
ids are checked against the vocabulary. The modules' forward passes and the tensor helpers
inside them (:func:`apply_rope`, :func:`rotate_half`, :func:`repeat_kv`, the KV cache) check
shapes and dtypes only: as everywhere in PyTorch, NaN and infinite activations propagate to
the output instead of being looked for at every layer and step. Functions that take data
(:func:`rope_score`, :func:`sample_next_token`, :func:`rope_cos_sin`) refuse them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mlbook.checks import (ArgumentTypeError, check_array, check_bool, check_count,
                           check_instance, check_int, check_integer_seed, check_number,
                           check_tensor, check_token_ids)

__all__ = [
    "LlamaConfig", "RMSNorm", "RotaryEmbedding", "rope_inverse_frequencies", "rope_cos_sin",
    "rotate_half", "apply_rope", "apply_rope_interleaved", "permute_meta_to_hf",
    "permute_hf_to_meta", "repeat_kv", "KVCache", "LlamaAttention", "LlamaMLP",
    "LlamaDecoderLayer", "LlamaModel", "Llama", "causal_lm_loss", "count_parameters",
    "parameter_breakdown", "LLAMA_SIZES", "PUBLISHED_PARAMETERS", "sample_next_token",
    "generate", "generate_grouped", "saved_activation_bytes", "rope_score", "rope_score_profile",
    "kv_cache_bytes_per_token", "hf_rope_theta",
]


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------
def hf_rope_theta(hf_config: Any) -> float:
    """RoPE's base ``theta`` from a ``transformers`` config: newer versions keep it in
    ``rope_parameters["rope_theta"]``, older ones in ``rope_theta``; 10,000 if neither."""
    if hf_config is None or isinstance(hf_config, (str, bytes, int, float)):
        raise ArgumentTypeError(f"hf_config must be a transformers config (an object with "
                                f"rope_theta or rope_parameters), got {hf_config!r:.60}")
    rope = getattr(hf_config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0))
    return check_number("hf_config.rope_theta", theta, minimum=1.0, exclusive_minimum=True)


@dataclass(frozen=True)
class LlamaConfig:
    """The shape of a LLaMA model; field names follow Meta's ``ModelArgs``.

    Frozen, so the shared presets (:data:`LLAMA_SIZES`, ``TINY_LLAMA``) cannot be changed by
    accident; derive variants with ``dataclasses.replace(config, n_layers=2)``.

    :meth:`to_hf_kwargs` and :meth:`from_hf` translate to and from ``transformers``'
    ``LlamaConfig`` (``hidden_size``, ``num_attention_heads``, ...).
    """

    vocab_size: int = 32000          # V: number of token ids (LLaMA's SentencePiece: 32,000)
    dim: int = 4096                  # D: width of the residual stream (hidden_size)
    n_layers: int = 32               # number of decoder layers (blocks)
    n_heads: int = 32                # H: query heads; head width hd = dim // n_heads
    n_kv_heads: int | None = None    # G: key/value heads (GQA); None means n_heads (plain MHA)
    multiple_of: int = 256           # SwiGLU hidden size is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None  # optional extra factor on the hidden size
    hidden_dim: int | None = None    # explicit SwiGLU hidden size (intermediate_size); None: rule
    norm_eps: float = 1e-6           # epsilon inside RMSNorm's square root
    rope_theta: float = 10000.0      # RoPE base: wavelengths run from 2*pi to 2*pi*theta
    max_seq_len: int = 2048          # context length: the longest sequence the model accepts

    def __post_init__(self) -> None:
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "multiple_of", "max_seq_len"):
            check_count(name, getattr(self, name))
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        check_count("n_kv_heads", self.n_kv_heads)
        if self.dim % self.n_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by n_heads ({self.n_heads}); "
                             "choose n_heads among the divisors of dim")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be divisible by n_kv_heads "
                             f"({self.n_kv_heads}): each key/value head serves a whole group "
                             "of query heads")
        if self.head_dim % 2:
            raise ValueError(f"head width dim // n_heads = {self.head_dim} must be even: "
                             "RoPE rotates pairs of coordinates")
        if self.hidden_dim is not None:
            check_count("hidden_dim", self.hidden_dim)
        if self.ffn_dim_multiplier is not None:
            check_number("ffn_dim_multiplier", self.ffn_dim_multiplier, minimum=0.0,
                         exclusive_minimum=True)
        check_number("norm_eps", self.norm_eps, minimum=0.0, exclusive_minimum=True)
        check_number("rope_theta", self.rope_theta, minimum=1.0, exclusive_minimum=True)

    @property
    def head_dim(self) -> int:
        """hd: the width of one attention head."""
        return self.dim // self.n_heads

    @property
    def ffn_hidden_dim(self) -> int:
        """The SwiGLU hidden size: 2/3 * 4 * dim, times the multiplier, rounded up (6.7).

        This is Meta's rule; for LLaMA-7B it gives 4096 -> 10922 -> 11008.
        """
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_hf_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.LlamaConfig`` describing the same model."""
        return dict(
            vocab_size=self.vocab_size, hidden_size=self.dim,
            intermediate_size=self.ffn_hidden_dim, num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads, num_key_value_heads=self.n_kv_heads,
            max_position_embeddings=self.max_seq_len, rms_norm_eps=self.norm_eps,
            rope_theta=self.rope_theta, hidden_act="silu", attention_bias=False,
            mlp_bias=False, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)

    @classmethod
    def from_hf(cls, hf_config: Any) -> "LlamaConfig":
        """The config of a ``transformers.LlamaConfig`` (or anything with its attributes)."""
        missing = [a for a in ("vocab_size", "hidden_size", "num_hidden_layers",
                               "num_attention_heads", "num_key_value_heads", "intermediate_size",
                               "rms_norm_eps", "max_position_embeddings")
                   if not hasattr(hf_config, a)]
        if missing:
            raise ArgumentTypeError(f"hf_config must be a transformers LlamaConfig; it has no "
                                    f"{', '.join(missing)}")
        return cls(vocab_size=hf_config.vocab_size, dim=hf_config.hidden_size,
                   n_layers=hf_config.num_hidden_layers,
                   n_heads=hf_config.num_attention_heads,
                   n_kv_heads=hf_config.num_key_value_heads,
                   hidden_dim=hf_config.intermediate_size, norm_eps=hf_config.rms_norm_eps,
                   rope_theta=hf_rope_theta(hf_config),
                   max_seq_len=hf_config.max_position_embeddings)


#: The four sizes of the LLaMA paper (Table 2): dimension, heads, layers; vocabulary 32,000.
LLAMA_SIZES: dict[str, LlamaConfig] = {
    "7B": LlamaConfig(dim=4096, n_heads=32, n_layers=32),
    "13B": LlamaConfig(dim=5120, n_heads=40, n_layers=40),
    "33B": LlamaConfig(dim=6656, n_heads=52, n_layers=60),
    "65B": LlamaConfig(dim=8192, n_heads=64, n_layers=80),
}

#: Parameter counts of the released checkpoints (the tensors' sizes summed).
PUBLISHED_PARAMETERS: dict[str, int] = {
    "7B": 6_738_415_616,
    "13B": 13_015_864_320,
    "33B": 32_528_943_616,
    "65B": 65_285_660_672,
}


def parameter_breakdown(config: LlamaConfig) -> dict[str, int]:
    """Parameters per kind of tensor, from the configuration alone (no model is built).

    Embedding and output matrices ``V x D`` each; per layer four attention projections
    (``D x D`` for queries and output, ``D x G*hd`` for keys and values), three SwiGLU
    matrices ``D x F`` and two RMSNorm gains of size ``D``; one final RMSNorm. No biases.
    """
    check_instance("config", config, LlamaConfig)
    d, f, kv = config.dim, config.ffn_hidden_dim, config.n_kv_heads * config.head_dim
    return {
        "embed_tokens": config.vocab_size * d,
        "attention": config.n_layers * (2 * d * d + 2 * d * kv),
        "mlp": config.n_layers * 3 * d * f,
        "norms": config.n_layers * 2 * d + d,
        "lm_head": config.vocab_size * d,
    }


def count_parameters(config: LlamaConfig) -> int:
    """Total number of parameters of a LLaMA model with this configuration (6.11)."""
    return sum(parameter_breakdown(config).values())


# ----------------------------------------------------------------------------------------
# Checks shared by the modules (metadata only: shapes and dtypes, no pass over the data)
# ----------------------------------------------------------------------------------------
def _dtype_of(module: nn.Module) -> torch.dtype | None:
    """The dtype of a layer's weights (its first parameter's for a wrapped layer, such as a
    LoRA adapter around an ``nn.Linear``), ``None`` for a layer without parameters."""
    weight = module._parameters.get("weight")             # a plain layer: no __getattr__
    if weight is not None:
        return weight.dtype
    first = next(module.parameters(), None)
    return None if first is None else first.dtype


def _check_features(name: str, x: Any, width: int, dtype: torch.dtype | None = None) -> None:
    """``x`` a floating-point tensor ``(..., width)`` (of ``dtype`` if given)."""
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor (..., {width}), got "
                                f"{type(x).__name__}")
    if not x.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape (..., {width}), got {tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype:
        raise ArgumentTypeError(f"{name} must have the module's dtype {dtype}, got {x.dtype} "
                                f"(convert one of them with .to(...))")


def _check_rope_tables(x: Any, cos: Any, sin: Any, name: str = "x") -> None:
    """``x`` ``(..., T, hd)`` and tables ``cos, sin`` ``(T, hd)`` (or ``(1, hd)``: one position
    for every row). A 1-D ``x`` (one vector) takes 1-D tables ``(hd,)``. Nothing broadcasts
    silently: a table of one row ``(hd,)`` against ``T`` positions is refused."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1:
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ArgumentTypeError(f"{name} must be a floating-point tensor (..., T, hd), got {got}")
    for table_name, table in (("cos", cos), ("sin", sin)):
        if not isinstance(table, torch.Tensor) or not table.is_floating_point():
            got = f"dtype {table.dtype}" if isinstance(table, torch.Tensor) else type(table).__name__
            raise ArgumentTypeError(f"{table_name} must be a floating-point tensor (T, hd) from "
                                    f"rope_cos_sin, got {got}")
    if x.dim() == 1:
        ok = cos.shape == x.shape or tuple(cos.shape) == (1, x.shape[0])
        want = f"({x.shape[0]},)"
    else:
        t, hd = x.shape[-2:]
        ok = cos.dim() == 2 and cos.shape[-1] == hd and cos.shape[0] in (t, 1)
        want = f"(T, hd) = ({t}, {hd}) (or (1, {hd}) for one position)"
    if not ok:
        raise ValueError(f"cos must have shape {want} to rotate {name} of shape "
                         f"{tuple(x.shape)}, got {tuple(cos.shape)}")
    if sin.shape != cos.shape:
        raise ValueError(f"sin must have the shape of cos {tuple(cos.shape)}, got "
                         f"{tuple(sin.shape)}")
    if x.shape[-1] % 2:
        raise ValueError(f"{name}'s last axis must be even (RoPE rotates pairs), got "
                         f"{x.shape[-1]}")


# ----------------------------------------------------------------------------------------
# RMSNorm
# ----------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """Root-mean-square normalisation (6.6): ``x / sqrt(mean(x^2) + eps) * weight``.

    Unlike LayerNorm it neither subtracts the mean nor adds a bias. Computed in float32
    whatever the input dtype, as in Hugging Face's ``LlamaRMSNorm``. Shapes: ``(..., D)``.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        check_count("dim", dim)
        check_number("eps", eps, minimum=0.0, exclusive_minimum=True)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_features("x", x, self.weight.shape[0])
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


# ----------------------------------------------------------------------------------------
# Rotary position embeddings
# ----------------------------------------------------------------------------------------
def rope_inverse_frequencies(head_dim: int, theta: float = 10000.0) -> torch.Tensor:
    """The rotation speeds ``theta_i = theta^(-2i/hd)``, ``i = 0 .. hd/2 - 1`` (6.8).

    Radians per position, shape ``(hd/2,)``, from 1 down to nearly ``1/theta``.
    """
    check_int("head_dim", head_dim, minimum=2)
    if head_dim % 2:
        raise ValueError(f"head_dim must be an even integer >= 2, got {head_dim}")
    check_number("theta (the RoPE base)", theta, minimum=1.0, exclusive_minimum=True)
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


def rope_cos_sin(positions: torch.Tensor, head_dim: int,
                 theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the angles ``m * theta_i`` in Hugging Face's half layout.

    ``positions``: integer positions ``m``, shape ``(T,)``. Returns ``cos, sin`` of shape
    ``(T, hd)``: the ``hd/2`` angles repeated twice, ``[a_0..a_{hd/2-1}, a_0..a_{hd/2-1}]``.
    """
    check_tensor("positions", positions, ndim=1, dtype=None, layout="(T,)")
    inv_freq = rope_inverse_frequencies(head_dim, theta)
    angles = positions.float()[:, None] * inv_freq[None, :]      # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)                  # (T, hd)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` on the last axis: a 90-degree turn of each pair ``(x1_i, x2_i)``.

    ``x``: ``(..., hd)`` with ``hd`` even."""
    check_tensor("x", x, finite=False)
    if x.dim() < 1 or x.shape[-1] % 2:
        raise ValueError(f"x's last axis must be even (pairs of halves), got shape "
                         f"{tuple(x.shape)}")
    return _rotate_half(x)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x_i, x_{i+hd/2})`` by the angle ``m * theta_i`` (6.9), half layout.

    ``x``: ``(..., T, hd)``; ``cos``, ``sin``: ``(T, hd)`` from :func:`rope_cos_sin` (or
    ``(1, hd)``, one position for every row; a 1-D ``x`` takes ``(hd,)``). Other shapes of
    the tables raise ``ValueError`` rather than broadcast.
    """
    _check_rope_tables(x, cos, sin)
    return _apply_rope(x, cos, sin)


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope` without the checks: the modules' forward passes call it."""
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


def apply_rope_interleaved(x: torch.Tensor, positions: torch.Tensor,
                           theta: float = 10000.0) -> torch.Tensor:
    """RoPE as Meta's reference code writes it: pairs ``(x_{2i}, x_{2i+1})`` as complex numbers.

    ``x``: ``(..., T, hd)``, ``positions``: ``(T,)``. Multiplying ``x_{2i} + j x_{2i+1}`` by
    ``exp(j m theta_i)`` is the same rotation as :func:`apply_rope`, applied to a different
    pairing of the coordinates.
    """
    check_tensor("x", x, finite=False)
    check_tensor("positions", positions, ndim=1, dtype=None, layout="(T,)")
    if x.dim() < 2 or x.shape[-2] != positions.shape[0] or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (..., T, hd) with T = {positions.shape[0]} "
                         f"positions and hd even, got {tuple(x.shape)}")
    hd = x.shape[-1]
    angles = positions.float()[:, None] * rope_inverse_frequencies(hd, theta)[None, :]
    rotation = torch.polar(torch.ones_like(angles), angles)         # (T, hd/2) complex
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], hd // 2, 2))
    return torch.view_as_real(pairs * rotation).flatten(-2).to(x.dtype)


def permute_meta_to_hf(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder the output rows of a ``q_proj``/``k_proj`` weight from Meta's layout to HF's.

    Within each head Meta's rows come in interleaved pairs ``(0, 1), (2, 3), ...``; Hugging
    Face's in halves ``(0, hd/2), (1, hd/2 + 1), ...``. ``weight``: ``(n_heads * hd, D)``.
    This is the ``permute`` of ``transformers``' conversion script.
    """
    _check_qk_weight(weight, n_heads)
    rows, cols = weight.shape
    if rows % (2 * n_heads):
        raise ValueError(f"weight has {rows} rows, not a multiple of 2 * n_heads = {2 * n_heads}")
    return (weight.view(n_heads, rows // n_heads // 2, 2, cols)
            .transpose(1, 2).reshape(rows, cols))


def permute_hf_to_meta(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of :func:`permute_meta_to_hf`: halves back to interleaved pairs."""
    _check_qk_weight(weight, n_heads)
    rows, cols = weight.shape
    if rows % (2 * n_heads):
        raise ValueError(f"weight has {rows} rows, not a multiple of 2 * n_heads = {2 * n_heads}")
    return (weight.view(n_heads, 2, rows // n_heads // 2, cols)
            .transpose(1, 2).reshape(rows, cols))


def _check_qk_weight(weight: Any, n_heads: Any) -> None:
    check_tensor("weight", weight, ndim=2, dtype=None, finite=False, layout="(n_heads * hd, D)")
    check_count("n_heads", n_heads)


def rope_score(q: torch.Tensor, k: torch.Tensor, m: int, n: int,
               theta: float = 10000.0) -> float:
    """Attention score ``<R_m q, R_n k>`` of a query at position ``m`` and a key at ``n`` (6.10).

    ``q``, ``k``: vectors of even length ``hd``. By (6.10) the result depends on ``m - n`` only.
    """
    check_tensor("q", q, ndim=1)
    check_tensor("k", k, ndim=1)
    if q.shape != k.shape:
        raise ValueError("q and k must be 1-D vectors of the same length, got "
                         f"{tuple(q.shape)} and {tuple(k.shape)}")
    check_int("m", m, minimum=0)
    check_int("n", n, minimum=0)
    cos, sin = rope_cos_sin(torch.tensor([m, n]), q.shape[0], theta)
    return float(apply_rope(q, cos[0], sin[0]) @ apply_rope(k, cos[1], sin[1]))


def rope_score_profile(distances, head_dim: int = 128, theta: float = 10000.0):
    """Mean of ``cos(delta * theta_i)`` over the ``hd/2`` frequencies, for each distance ``delta``.

    This is the score of a query and a key with the same content (``q = k``, every pair of
    equal length), divided by its value at distance 0: how much RoPE alone lowers the score
    of two matching tokens ``delta`` positions apart. Returns a NumPy array like ``distances``.
    """
    import numpy as np

    freqs = rope_inverse_frequencies(head_dim, theta).double().numpy()
    d = check_array("distances", distances, min_size=0)
    return np.cos(d[..., None] * freqs).mean(-1)


class RotaryEmbedding(nn.Module):
    """Cosine and sine tables for positions ``0 .. max_seq_len - 1`` (not saved in state_dict)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        cos, sin = rope_cos_sin(torch.arange(config.max_seq_len), config.head_dim,
                                config.rope_theta)
        self.register_buffer("cos", cos, persistent=False)   # (max_seq_len, hd)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tables ``(length, hd)`` for positions ``start .. start + length - 1``."""
        n = self.cos.shape[0]
        check_int("start", start, minimum=0)
        check_count("length", length)
        if start + length > n:
            raise ValueError(f"positions start + length = {start + length} run past the "
                             f"context of {n} (config.max_seq_len)")
        return self.cos[start:start + length], self.sin[start:start + length]


# ----------------------------------------------------------------------------------------
# Attention with a KV cache and grouped-query attention
# ----------------------------------------------------------------------------------------
def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """``(B, G, T, hd) -> (B, G * n_rep, T, hd)``: key/value head ``g`` serves query heads
    ``g * n_rep .. g * n_rep + n_rep - 1`` (grouped-query attention)."""
    check_tensor("x", x, ndim=4, dtype=None, finite=False, layout="(B, G, T, hd)")
    check_count("n_rep", n_rep)
    return _repeat_kv(x, n_rep)


def _repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """:func:`repeat_kv` without the checks (the attention modules call it)."""
    if n_rep == 1:
        return x
    b, g, t, hd = x.shape
    return x[:, :, None].expand(b, g, n_rep, t, hd).reshape(b, g * n_rep, t, hd)


class KVCache:
    """Keys and values of the tokens seen so far, one preallocated slot per position.

    Holds ``(B, G, max_seq_len, hd)`` per layer for keys and for values, so decoding a new
    token costs attention over the cached prefix instead of re-running the whole sequence.
    ``length`` is the number of positions filled; :class:`Llama` advances it after a forward.
    """

    def __init__(self, config: LlamaConfig, batch_size: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None):
        check_instance("config", config, LlamaConfig)
        check_count("batch_size", batch_size)
        if dtype is not None:
            check_instance("dtype", dtype, torch.dtype, what="a torch.dtype or None")
        shape = (config.n_layers, batch_size, config.n_kv_heads, config.max_seq_len,
                 config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new ``k, v`` ``(B, G, T, hd)`` after the prefix; return the whole prefix."""
        n_layers, b, g, max_len, hd = self.keys.shape
        check_int("layer", layer, minimum=0, maximum=n_layers - 1)
        for name, t in (("k", k), ("v", v)):
            check_tensor(name, t, ndim=4, finite=False, layout=f"(B, G, T, hd) = ({b}, {g}, T, {hd})")
            if t.shape[0] != b or t.shape[1] != g or t.shape[3] != hd or t.shape[2] < 1:
                raise ValueError(f"{name} must have shape (B, G, T, hd) = ({b}, {g}, T >= 1, "
                                 f"{hd}), got {tuple(t.shape)}")
        if v.shape != k.shape:
            raise ValueError(f"v must have the shape of k {tuple(k.shape)}, got {tuple(v.shape)}")
        if self.length + k.shape[2] > max_len:
            raise ValueError(f"the cache is full: {self.length} cached + {k.shape[2]} new tokens "
                             f"in k > max_seq_len = {max_len}")
        return self._update(layer, k, v)

    def _update(self, layer: int, k: torch.Tensor, v: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`update` without the checks: the attention layer, which checked the cache."""
        end = self.length + k.shape[2]
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    @property
    def nbytes(self) -> int:
        """Memory of the cache when full, in bytes."""
        return self.keys.nbytes + self.values.nbytes


def kv_cache_bytes_per_token(config: LlamaConfig, bytes_per_value: int = 2) -> int:
    """Bytes the KV cache holds per token: keys and values, every layer, every KV head.

    ``2 * n_layers * n_kv_heads * hd * bytes_per_value`` (2 bytes for float16/bfloat16).
    Grouped-query attention divides it by ``n_heads / n_kv_heads``.
    """
    check_instance("config", config, LlamaConfig)
    check_count("bytes_per_value", bytes_per_value)
    return 2 * config.n_layers * config.n_kv_heads * config.head_dim * bytes_per_value


def _check_layer_input(x: Any, cos: Any, sin: Any, cache: Any, proj: nn.Linear) -> None:
    """What a decoder layer is given: ``x`` ``(B, T, D)`` of the weights' dtype, rotary tables
    ``(T, hd)`` and a :class:`KVCache` (or ``None``) with room for ``T`` more tokens."""
    _check_features("x", x, proj.in_features, _dtype_of(proj))
    if x.dim() != 3 or x.shape[1] < 1:
        raise ValueError(f"x must have shape (batch, time >= 1, {proj.in_features}), got "
                         f"{tuple(x.shape)}")
    for name, table in (("cos", cos), ("sin", sin)):
        if not isinstance(table, torch.Tensor) or not table.is_floating_point():
            check_tensor(name, table, finite=False, layout="(T, hd)")      # raises, says why
        if table.dim() != 2 or table.shape[0] != x.shape[1]:
            raise ValueError(f"{name} must be a tensor (T, hd) with T = {x.shape[1]}, the "
                             f"rotary table of x's positions, got {tuple(table.shape)}")
    if cos.shape != sin.shape:
        raise ValueError(f"sin must have the shape of cos {tuple(cos.shape)}, got "
                         f"{tuple(sin.shape)}")
    if cache is not None:
        check_instance("cache", cache, KVCache, what="a KVCache or None")
        _, b, _, max_len, _ = cache.keys.shape
        if b != x.shape[0] or cache.length + x.shape[1] > max_len:
            raise ValueError(f"cache holds {b} sequences with {cache.length} of {max_len} "
                             f"positions filled; x brings {x.shape[0]} sequences of "
                             f"{x.shape[1]} tokens")


class LlamaAttention(nn.Module):
    """Causal self-attention with RoPE and ``n_kv_heads`` key/value heads (no biases).

    Uses ``torch.nn.functional.scaled_dot_product_attention``, which applies the causal mask
    without materialising a ``T x T`` matrix of masked scores when a fused kernel is
    available.
    """

    def __init__(self, config: LlamaConfig, layer_idx: int = 0):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        check_int("layer_idx", layer_idx, minimum=0, maximum=config.n_layers - 1)
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.q_proj = nn.Linear(config.dim, config.n_heads * config.head_dim, bias=False)
        self.k_proj = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.v_proj = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.o_proj = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)

    def project_qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The queries and keys, rotated by RoPE (6.9), and the values of ``x`` ``(B, T, D)``.

        ``cos``, ``sin``: ``(T, hd)``, the rotary tables of ``x``'s positions. Returns ``q``
        ``(B, H, T, hd)``, ``k`` and ``v`` ``(B, G, T, hd)``: the first half of
        :meth:`forward`, for code that arranges the attention itself (the shared-prompt
        forward pass of chapter 7, :func:`mlbook.llm.instruct.forward_shared_prefix`).
        """
        _check_layer_input(x, cos, sin, None, self.q_proj)
        return self._project_qkv(x, cos, sin)

    def _project_qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`project_qkv` without the checks (:meth:`forward` checked its input)."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)     # (B, H, T, hd)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        return _apply_rope(q, cos, sin), _apply_rope(k, cos, sin), v

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        _check_layer_input(x, cos, sin, cache, self.q_proj)
        b, t, _ = x.shape
        q, k, v = self._project_qkv(x, cos, sin)                  # (B, H, T, hd), (B, G, T, hd) x 2
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache._update(self.layer_idx, k, v)                                 # (B, G, S, hd)
        n_rep = self.n_heads // self.n_kv_heads
        k, v = _repeat_kv(k, n_rep), _repeat_kv(v, n_rep)                              # (B, H, S, hd)
        if start == 0:            # queries and keys cover the same positions: plain causal mask
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif t == 1:              # one new token attends to every cached position
            out = F.scaled_dot_product_attention(q, k, v)
        else:                     # several new tokens after a cached prefix
            mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)          # (B, T, D)
        return self.o_proj(out)


# ----------------------------------------------------------------------------------------
# SwiGLU feed-forward network and the decoder layer
# ----------------------------------------------------------------------------------------
class LlamaMLP(nn.Module):
    """SwiGLU (6.7): ``down_proj(silu(gate_proj(x)) * up_proj(x))``, ``D -> F -> D``."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        f = config.ffn_hidden_dim
        self.gate_proj = nn.Linear(config.dim, f, bias=False)
        self.up_proj = nn.Linear(config.dim, f, bias=False)
        self.down_proj = nn.Linear(f, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(..., D)`` -> ``(..., D)``."""
        _check_features("x", x, self.gate_proj.in_features, _dtype_of(self.gate_proj))
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """One block with pre-normalisation (6.5): normalise, transform, add back to the residual."""

    def __init__(self, config: LlamaConfig, layer_idx: int = 0):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        # x, cos, sin and cache are checked by the RMSNorm and the attention they go to
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


def _check_input_ids(input_ids: Any, cache: Any, config: LlamaConfig) -> None:
    """Token ids ``(B, T)`` in ``[0, V)``, and a cache (or ``None``) they fit in."""
    check_token_ids("input_ids", input_ids, config.vocab_size, ndim=2, layout="(batch, time)",
                    min_size=0)
    _check_fits("input_ids", input_ids.shape, cache, config)


def _check_inputs_embeds(inputs_embeds: Any, cache: Any, config: LlamaConfig,
                         dtype: torch.dtype | None) -> None:
    """Embeddings ``(B, T, D)`` of the model's dtype, and a cache (or ``None``) they fit in."""
    _check_features("inputs_embeds", inputs_embeds, config.dim, dtype)
    if inputs_embeds.dim() != 3:
        raise ValueError(f"inputs_embeds must have shape (B, T >= 1, D = {config.dim}), got "
                         f"{tuple(inputs_embeds.shape)}")
    _check_fits("inputs_embeds", inputs_embeds.shape[:2], cache, config)


def _check_fits(name: str, shape: tuple[int, ...], cache: Any, config: LlamaConfig) -> None:
    """``(B, T)`` new tokens (``B, T >= 1``) after a cache (or ``None``) that they fit in."""
    if cache is not None:
        check_instance("cache", cache, KVCache, what="a KVCache or None")
    start = cache.length if cache is not None else 0
    t = shape[1]
    if t < 1 or shape[0] < 1:
        raise ValueError(f"{name} must hold at least one token, got shape {tuple(shape)}")
    if start + t > config.max_seq_len:
        raise ValueError(
            f"{name}: a sequence of {start + t} tokens ({start} cached + {t} new) is longer "
            f"than the context of {config.max_seq_len} tokens (config.max_seq_len)")
    if cache is not None:
        n_layers, b, g, _, hd = cache.keys.shape
        if (n_layers, g, hd) != (config.n_layers, config.n_kv_heads, config.head_dim):
            raise ValueError(f"cache was made for another model: {n_layers} layers of {g} "
                             f"key/value heads of width {hd}, not {config.n_layers} of "
                             f"{config.n_kv_heads} of width {config.head_dim}")
        if b != shape[0]:
            raise ValueError(f"cache holds {b} sequences, {name} has {shape[0]}")


class LlamaModel(nn.Module):
    """Embeddings, the stack of decoder layers and the final RMSNorm: ``(B, T) -> (B, T, D)``.

    ``forward(input_ids)`` embeds token ids ``(B, T)``; ``forward(inputs_embeds=x)`` starts
    from vectors ``x`` ``(B, T, D)`` instead (a vision-language model's image and word
    vectors, chapter 11), as Hugging Face's ``LlamaModel`` does. Exactly one of the two.
    """

    def __init__(self, config: LlamaConfig):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
        self.gradient_checkpointing = False

    def forward(self, input_ids: torch.Tensor | None = None, cache: KVCache | None = None, *,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states ``(B, T, D)`` after the final RMSNorm, of token ids or of embeddings.

        ``input_ids``: ``(B, T)`` integers in ``[0, V)``, embedded by ``embed_tokens``; or
        ``inputs_embeds``: ``(B, T, D)`` vectors of the model's dtype, used as they are.
        With a :class:`KVCache` the new tokens continue the ``cache.length`` cached ones (the
        caller advances ``cache.length``, as :meth:`Llama.forward` does).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids (token ids (B, T)) and "
                             "inputs_embeds (vectors (B, T, D)), got "
                             + ("neither" if input_ids is None else "both"))
        if inputs_embeds is None:
            _check_input_ids(input_ids, cache, self.config)
            x = self.embed_tokens(input_ids)                              # (B, T, D)
        else:
            _check_inputs_embeds(inputs_embeds, cache, self.config, _dtype_of(self.embed_tokens))
            x = inputs_embeds                                             # (B, T, D)
        start = cache.length if cache is not None else 0
        cos, sin = self.rotary_emb(start, x.shape[1])                    # (T, hd) each
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and cache is None:
                # keep only the layer's input; recompute its insides during backward
                x = checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x = layer(x, cos, sin, cache)
        return self.norm(x)


class Llama(nn.Module):
    """The LLaMA language model: ``input_ids (B, T) -> logits (B, T, V)``.

    Same ``state_dict`` keys and shapes as ``transformers.LlamaForCausalLM`` built from
    ``LlamaConfig(**config.to_hf_kwargs())``, so weights move both ways with
    ``load_state_dict(..., strict=True)``. Initialised like Hugging Face's model: normal
    with standard deviation 0.02, RMSNorm gains one; ``seed`` makes the weights repeatable.
    """

    def __init__(self, config: LlamaConfig, *, seed: int | None = None):
        super().__init__()
        check_instance("config", config, LlamaConfig)
        seed = check_integer_seed("seed", seed)
        self.config = config
        self.model = LlamaModel(config)
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                with torch.no_grad():
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.02)

    @property
    def gradient_checkpointing(self) -> bool:
        """Recompute each layer's activations in the backward pass instead of storing them."""
        return self.model.gradient_checkpointing

    @gradient_checkpointing.setter
    def gradient_checkpointing(self, on: bool) -> None:
        self.model.gradient_checkpointing = bool(on)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits of the next token at every position; with ``cache``, of the new tokens only.

        ``input_ids``: ``(B, T)`` integers in ``[0, V)``. With a :class:`KVCache` the tokens
        continue the ``cache.length`` tokens already seen, and the cache is advanced by ``T``.
        Raises ``ValueError`` when the sequence would run past ``config.max_seq_len``.
        """
        logits = self.lm_head(self.model(input_ids, cache))   # (B, T, V); the model checks ids
        if cache is not None:
            cache.length += input_ids.shape[1]
        return logits


def causal_lm_loss(logits: torch.Tensor, targets: torch.Tensor,
                   ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy of next-token prediction (6.4), in nats per token.

    ``logits``: ``(B, T, V)``; ``targets``: ``(B, T)`` token ids, with ``ignore_index``
    (Hugging Face's ``-100``) at positions that should not count.
    """
    check_tensor("logits", logits, ndim=3, finite=False, layout="(B, T, V)")
    check_tensor("targets", targets, dtype="int", min_size=0, layout="(B, T)")
    check_int("ignore_index", ignore_index)
    if logits.shape[:2] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} "
                         "must agree on (batch, time)")
    if targets.numel():
        v = logits.shape[-1]
        lo, hi = (int(t) for t in torch.aminmax(targets))
        if hi >= v or (lo < 0 and bool(((targets < 0) & (targets != ignore_index)).any())):
            raise ValueError(f"targets must hold token ids from 0 to V - 1 = {v - 1} (or "
                             f"ignore_index = {ignore_index}), got values from {lo} to {hi}")
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                           ignore_index=ignore_index)


# ----------------------------------------------------------------------------------------
# Sampling with temperature and top-p, using the KV cache
# ----------------------------------------------------------------------------------------
def _check_sampling(temperature: float, top_p: float) -> None:
    try:
        check_number("temperature", temperature, minimum=0.0, exclusive_minimum=True)
    except ValueError as error:
        raise type(error)(f"{error} (use greedy=True for argmax decoding)") from None
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        error = ValueError if isinstance(top_p, (int, float)) and not isinstance(top_p, bool) \
            else ArgumentTypeError
        raise error(f"top_p must be in (0, 1], got {top_p!r}")


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row from ``softmax(logits / temperature)`` (6.13), within its nucleus (6.14).

    ``logits``: ``(B, V)``. The nucleus (top-p, Holtzman et al., 2020) is the smallest set
    of most probable tokens whose probabilities sum to at least ``top_p``; the rest get
    probability zero and the nucleus is renormalised. Returns ``(B,)`` token ids.
    ``logits`` may hold ``-inf`` (a token that is never drawn), not NaN or ``+inf``.
    """
    _check_sampling(temperature, top_p)
    check_tensor("logits", logits, ndim=2, allow_inf=True, layout="(B, V)")
    if bool((logits == float("inf")).any()) or bool((logits == float("-inf")).all(-1).any()):
        raise ValueError("logits must be finite or -inf, with at least one finite logit per "
                         "row: +inf or a row of -inf has no probabilities")
    if generator is not None:
        check_instance("generator", generator, torch.Generator, what="a torch.Generator or None")
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs   # mass of the more probable tokens
        sorted_probs[before >= top_p] = 0.0                  # the first token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: Llama, input_ids: torch.Tensor, max_new_tokens: int, *,
             temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False,
             seed: int | None = None, eos_id: int | None = None,
             use_cache: bool = True) -> torch.Tensor:
    """Continue ``input_ids`` ``(B, T)`` (or ``(T,)``) by ``max_new_tokens`` sampled tokens.

    With ``use_cache`` the prompt is run once and each new token costs one position of work
    (:class:`KVCache`); without it the whole sequence is recomputed each step (same result,
    for testing). ``greedy`` takes the argmax; otherwise tokens are sampled with
    ``temperature`` and ``top_p``. Generation stops early when every row has produced
    ``eos_id``. Returns the prompt followed by the new tokens.
    """
    _check_sampling(temperature, top_p)
    check_instance("model", model, Llama)
    check_token_ids("input_ids", input_ids, model.config.vocab_size, ndim=(1, 2),
                    layout="(B, T) or (T,)")
    check_int("max_new_tokens", max_new_tokens, minimum=0)
    check_bool("greedy", greedy)
    check_bool("use_cache", use_cache)
    seed = check_integer_seed("seed", seed)
    if eos_id is not None:
        check_int("eos_id", eos_id, minimum=0, maximum=model.config.vocab_size - 1)
    ids = input_ids[None] if input_ids.dim() == 1 else input_ids
    total = ids.shape[1] + max_new_tokens
    if total > model.config.max_seq_len:
        raise ValueError(f"prompt ({ids.shape[1]}) + max_new_tokens ({max_new_tokens}) = {total} "
                         f"tokens is longer than the context of {model.config.max_seq_len}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    param = next(model.parameters())
    cache = KVCache(model.config, ids.shape[0], param.dtype, param.device) if use_cache else None
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    new = ids
    for _ in range(max_new_tokens):
        logits = model(new if use_cache else ids, cache)[:, -1]          # (B, V)
        if greedy:
            token = logits.argmax(dim=-1)
        else:
            token = sample_next_token(logits, temperature, top_p, generator)
        if eos_id is not None:
            token = torch.where(finished, torch.full_like(token, eos_id), token)
            finished |= token == eos_id
        ids = torch.cat([ids, token[:, None]], dim=1)
        new = token[:, None]
        if eos_id is not None and bool(finished.all()):
            break
    model.train(was_training)
    return ids if input_ids.dim() == 2 else ids[0]


@torch.no_grad()
def generate_grouped(model: Llama, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
                     eos_id: int, greedy: bool = False, temperature: float = 1.0,
                     top_p: float = 1.0, seed: int | None = 0,
                     batch_size: int = 64) -> list[list[int]]:
    """The new tokens after each tokenised prompt, up to and including the first ``eos_id``.

    ``prompts``: a list of token-id lists, of any lengths. Prompts of equal token length are
    continued together, ``batch_size`` at a time, with :func:`generate` (no padding is
    needed, so the result is what one-at-a-time decoding gives); group ``g`` (by length) and
    chunk offset ``s`` are seeded with ``seed + 1000 g + s``. Returns one list of token ids
    per prompt. Chapters 7 and 8 answer many prompts with it.
    """
    _check_sampling(temperature, top_p)
    check_instance("model", model, Llama)
    if not isinstance(prompts, Sequence) or isinstance(prompts, (str, bytes)):
        raise ArgumentTypeError(f"prompts must be a list of token-id lists, got "
                                f"{type(prompts).__name__}")
    if not prompts:
        raise ValueError("prompts must hold at least one prompt, got none")
    vocab = model.config.vocab_size
    rows = [check_array(f"prompts[{i}]", p, ndim=1, integer=True, minimum=0,
                        maximum=vocab - 1).tolist() for i, p in enumerate(prompts)]
    check_int("max_new_tokens", max_new_tokens, minimum=0)
    _check_prompts_fit(model, rows, max_new_tokens, name="prompts")
    check_int("eos_id", eos_id, minimum=0, maximum=vocab - 1)
    check_bool("greedy", greedy)
    seed = check_integer_seed("seed", seed)
    check_count("batch_size", batch_size)
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(rows):
        groups.setdefault(len(p), []).append(i)
    out: list[list[int]] = [[] for _ in rows]
    for g, (length, idx) in enumerate(sorted(groups.items())):
        for s in range(0, len(idx), batch_size):
            chunk = idx[s:s + batch_size]
            ids = torch.tensor([rows[i] for i in chunk])                  # (b, length)
            new = generate(model, ids, max_new_tokens, greedy=greedy, temperature=temperature,
                           top_p=top_p, eos_id=eos_id,
                           seed=None if seed is None else seed + 1000 * g + s)[:, length:]
            for row, i in zip(new.tolist(), chunk):
                out[i] = row[:row.index(eos_id) + 1] if eos_id in row else row
    return out


def _check_prompts_fit(model: Llama, prompts: Sequence[Sequence[int]],
                       max_new_tokens: int, *, name: str = "model") -> None:
    """Tokenised prompts that ``model`` can continue by ``max_new_tokens`` tokens: every
    token id in its vocabulary, every prompt and its continuation within its context.
    ``name`` is the argument a message blames (the model, or the prompts themselves)."""
    config = model.config
    top = max((max(p) for p in prompts if p), default=0)
    if top >= config.vocab_size:
        raise ValueError(f"{name}: the prompts hold token ids up to {top}, beyond the model's "
                         f"vocabulary (vocab_size={config.vocab_size}): a model of the "
                         f"tokenizer's vocabulary is needed")
    longest = max(len(p) for p in prompts)
    if longest + max_new_tokens > config.max_seq_len:
        raise ValueError(f"{name}: the longest prompt ({longest} tokens) + max_new_tokens "
                         f"({max_new_tokens}) is longer than the context of "
                         f"{config.max_seq_len} tokens")


# ----------------------------------------------------------------------------------------
# Activation memory (for the activation-checkpointing experiment)
# ----------------------------------------------------------------------------------------
def saved_activation_bytes(model: nn.Module, input_ids: torch.Tensor,
                           targets: torch.Tensor | None = None) -> int:
    """Bytes of tensors autograd keeps for the backward pass of one training forward.

    Counts each saved tensor's storage once (parameters excluded), using
    ``torch.autograd.graph.saved_tensors_hooks``; this is the activation memory that
    activation checkpointing trades for recomputation.
    """
    check_instance("model", model, nn.Module, what="a torch.nn.Module (a Llama)")
    check_tensor("input_ids", input_ids, dtype="int", layout="(B, T)")
    if targets is not None:
        check_tensor("targets", targets, dtype="int", layout="(B, T)")
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    was_training = model.training
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(input_ids)
        if targets is not None:
            causal_lm_loss(logits, targets)
    model.train(was_training)
    return sum(seen.values())
