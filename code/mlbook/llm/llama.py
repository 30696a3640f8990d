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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "LlamaConfig", "RMSNorm", "RotaryEmbedding", "rope_inverse_frequencies", "rope_cos_sin",
    "rotate_half", "apply_rope", "apply_rope_interleaved", "permute_meta_to_hf",
    "permute_hf_to_meta", "repeat_kv", "KVCache", "LlamaAttention", "LlamaMLP",
    "LlamaDecoderLayer", "LlamaModel", "Llama", "causal_lm_loss", "count_parameters",
    "parameter_breakdown", "LLAMA_SIZES", "PUBLISHED_PARAMETERS", "sample_next_token",
    "generate", "saved_activation_bytes", "rope_score", "rope_score_profile",
    "kv_cache_bytes_per_token", "hf_rope_theta",
]


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------
def hf_rope_theta(hf_config: Any) -> float:
    """RoPE's base ``theta`` from a ``transformers`` config: newer versions keep it in
    ``rope_parameters["rope_theta"]``, older ones in ``rope_theta``; 10,000 if neither."""
    rope = getattr(hf_config, "rope_parameters", None) or {}
    return float(rope.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0)))


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
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if not isinstance(self.n_kv_heads, int) or self.n_kv_heads < 1:
            raise ValueError(f"n_kv_heads must be a positive integer or None, got {self.n_kv_heads!r}")
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
        if self.hidden_dim is not None and (not isinstance(self.hidden_dim, int)
                                            or self.hidden_dim < 1):
            raise ValueError(f"hidden_dim must be a positive integer or None, got {self.hidden_dim!r}")
        if self.ffn_dim_multiplier is not None and not self.ffn_dim_multiplier > 0:
            raise ValueError("ffn_dim_multiplier must be positive or None, got "
                             f"{self.ffn_dim_multiplier!r}")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be positive, got {self.norm_eps!r}")
        if not self.rope_theta > 1:
            raise ValueError(f"rope_theta must be greater than 1, got {self.rope_theta!r}")

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
    if not isinstance(config, LlamaConfig):
        raise ValueError(f"config must be a LlamaConfig, got {type(config).__name__}")
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
# RMSNorm
# ----------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """Root-mean-square normalisation (6.6): ``x / sqrt(mean(x^2) + eps) * weight``.

    Unlike LayerNorm it neither subtracts the mean nor adds a bias. Computed in float32
    whatever the input dtype, as in Hugging Face's ``LlamaRMSNorm``. Shapes: ``(..., D)``.
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
    if head_dim < 2 or head_dim % 2:
        raise ValueError(f"head_dim must be an even integer >= 2, got {head_dim}")
    if not theta > 1:
        raise ValueError(f"theta (the RoPE base) must be greater than 1, got {theta}")
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


def rope_cos_sin(positions: torch.Tensor, head_dim: int,
                 theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the angles ``m * theta_i`` in Hugging Face's half layout.

    ``positions``: integer positions ``m``, shape ``(T,)``. Returns ``cos, sin`` of shape
    ``(T, hd)``: the ``hd/2`` angles repeated twice, ``[a_0..a_{hd/2-1}, a_0..a_{hd/2-1}]``.
    """
    inv_freq = rope_inverse_frequencies(head_dim, theta)
    angles = positions.float()[:, None] * inv_freq[None, :]      # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)                  # (T, hd)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]`` on the last axis: a 90-degree turn of each pair ``(x1_i, x2_i)``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x_i, x_{i+hd/2})`` by the angle ``m * theta_i`` (6.9), half layout.

    ``x``: ``(..., T, hd)``; ``cos``, ``sin``: ``(T, hd)`` from :func:`rope_cos_sin`.
    """
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


def apply_rope_interleaved(x: torch.Tensor, positions: torch.Tensor,
                           theta: float = 10000.0) -> torch.Tensor:
    """RoPE as Meta's reference code writes it: pairs ``(x_{2i}, x_{2i+1})`` as complex numbers.

    ``x``: ``(..., T, hd)``, ``positions``: ``(T,)``. Multiplying ``x_{2i} + j x_{2i+1}`` by
    ``exp(j m theta_i)`` is the same rotation as :func:`apply_rope`, applied to a different
    pairing of the coordinates.
    """
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
    rows, cols = weight.shape
    if rows % (2 * n_heads):
        raise ValueError(f"weight has {rows} rows, not a multiple of 2 * n_heads = {2 * n_heads}")
    return (weight.view(n_heads, rows // n_heads // 2, 2, cols)
            .transpose(1, 2).reshape(rows, cols))


def permute_hf_to_meta(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of :func:`permute_meta_to_hf`: halves back to interleaved pairs."""
    rows, cols = weight.shape
    if rows % (2 * n_heads):
        raise ValueError(f"weight has {rows} rows, not a multiple of 2 * n_heads = {2 * n_heads}")
    return (weight.view(n_heads, 2, rows // n_heads // 2, cols)
            .transpose(1, 2).reshape(rows, cols))


def rope_score(q: torch.Tensor, k: torch.Tensor, m: int, n: int,
               theta: float = 10000.0) -> float:
    """Attention score ``<R_m q, R_n k>`` of a query at position ``m`` and a key at ``n`` (6.10).

    ``q``, ``k``: vectors of even length ``hd``. By (6.10) the result depends on ``m - n`` only.
    """
    if q.dim() != 1 or q.shape != k.shape:
        raise ValueError("q and k must be 1-D vectors of the same length, got "
                         f"{tuple(q.shape)} and {tuple(k.shape)}")
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
    d = np.asarray(distances, dtype=float)
    return np.cos(d[..., None] * freqs).mean(-1)


class RotaryEmbedding(nn.Module):
    """Cosine and sine tables for positions ``0 .. max_seq_len - 1`` (not saved in state_dict)."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        cos, sin = rope_cos_sin(torch.arange(config.max_seq_len), config.head_dim,
                                config.rope_theta)
        self.register_buffer("cos", cos, persistent=False)   # (max_seq_len, hd)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[start:start + length], self.sin[start:start + length]


# ----------------------------------------------------------------------------------------
# Attention with a KV cache and grouped-query attention
# ----------------------------------------------------------------------------------------
def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """``(B, G, T, hd) -> (B, G * n_rep, T, hd)``: key/value head ``g`` serves query heads
    ``g * n_rep .. g * n_rep + n_rep - 1`` (grouped-query attention)."""
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
        shape = (config.n_layers, batch_size, config.n_kv_heads, config.max_seq_len,
                 config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new ``k, v`` ``(B, G, T, hd)`` after the prefix; return the whole prefix."""
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
    return 2 * config.n_layers * config.n_kv_heads * config.head_dim * bytes_per_value


class LlamaAttention(nn.Module):
    """Causal self-attention with RoPE and ``n_kv_heads`` key/value heads (no biases).

    Uses ``torch.nn.functional.scaled_dot_product_attention``, which applies the causal mask
    without materialising a ``T x T`` matrix of masked scores when a fused kernel is
    available.
    """

    def __init__(self, config: LlamaConfig, layer_idx: int = 0):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.q_proj = nn.Linear(config.dim, config.n_heads * config.head_dim, bias=False)
        self.k_proj = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.v_proj = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.o_proj = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)     # (B, H, T, hd)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, G, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.update(self.layer_idx, k, v)                                  # (B, G, S, hd)
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)                                # (B, H, S, hd)
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
        f = config.ffn_hidden_dim
        self.gate_proj = nn.Linear(config.dim, f, bias=False)
        self.up_proj = nn.Linear(config.dim, f, bias=False)
        self.down_proj = nn.Linear(f, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """One block with pre-normalisation (6.5): normalise, transform, add back to the residual."""

    def __init__(self, config: LlamaConfig, layer_idx: int = 0):
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embeddings, the stack of decoder layers and the final RMSNorm: ``(B, T) -> (B, T, D)``."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
        self.gradient_checkpointing = False

    def forward(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        start = cache.length if cache is not None else 0
        x = self.embed_tokens(input_ids)                                  # (B, T, D)
        cos, sin = self.rotary_emb(start, input_ids.shape[1])            # (T, hd) each
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
        if not isinstance(config, LlamaConfig):
            raise ValueError(f"config must be a LlamaConfig, got {type(config).__name__}")
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
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, time), got {tuple(input_ids.shape)}")
        start = cache.length if cache is not None else 0
        t = input_ids.shape[1]
        if t < 1:
            raise ValueError("input_ids must hold at least one token")
        if start + t > self.config.max_seq_len:
            raise ValueError(
                f"sequence of {start + t} tokens ({start} cached + {t} new) is longer than the "
                f"context of {self.config.max_seq_len} tokens (config.max_seq_len)")
        logits = self.lm_head(self.model(input_ids, cache))                # (B, T, V)
        if cache is not None:
            cache.length += t
        return logits


def causal_lm_loss(logits: torch.Tensor, targets: torch.Tensor,
                   ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy of next-token prediction (6.4), in nats per token.

    ``logits``: ``(B, T, V)``; ``targets``: ``(B, T)`` token ids, with ``ignore_index``
    (Hugging Face's ``-100``) at positions that should not count.
    """
    if logits.shape[:2] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} "
                         "must agree on (batch, time)")
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                           ignore_index=ignore_index)


# ----------------------------------------------------------------------------------------
# Sampling with temperature and top-p, using the KV cache
# ----------------------------------------------------------------------------------------
def _check_sampling(temperature: float, top_p: float) -> None:
    if (not isinstance(temperature, (int, float)) or not temperature > 0
            or not math.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r} "
                         "(use greedy=True for argmax decoding)")
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token per row from ``softmax(logits / temperature)`` (6.13), within its nucleus (6.14).

    ``logits``: ``(B, V)``. The nucleus (top-p, Holtzman et al., 2020) is the smallest set
    of most probable tokens whose probabilities sum to at least ``top_p``; the rest get
    probability zero and the nucleus is renormalised. Returns ``(B,)`` token ids.
    """
    _check_sampling(temperature, top_p)
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
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
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
