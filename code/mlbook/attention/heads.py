"""From MHA, MQA and GQA to MLA: attention heads, KV caches and cache-size accounting.

The code behind chapter 9, *From MHA, MQA and GQA to MLA: the KV cache and multi-head
latent attention*. It follows

* A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (multi-head attention, MHA);
* N. Shazeer, "Fast Transformer Decoding: One Write-Head is All You Need", arXiv:1911.02150
  (multi-query attention, MQA);
* J. Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models from
  Multi-Head Checkpoints", EMNLP 2023 (grouped-query attention, GQA, and the mean-pooling
  conversion of an MHA checkpoint);
* DeepSeek-AI, "DeepSeek-V2: A Strong, Economical, and Efficient Mixture-of-Experts
  Language Model", arXiv:2405.04434, section 2.1 (multi-head latent attention, MLA:
  equations (9)-(19) of the paper, and Table 1, the KV cache per token);
* J. Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding" (RoPE);
* F. Meng, Z. Yao and M. Zhang, "TransMLA: Multi-Head Latent Attention Is All You Need",
  arXiv:2502.07864 (GQA can be written as MLA with the same KV cache, not conversely).

Equation numbers in the docstrings are the chapter's:

* (9.1)  KV cache of MHA per token: ``2 n_h d_h l`` numbers of ``b`` bytes over ``l`` layers;
* (9.2)  one head: ``o_t = sum_{j<=t} softmax_j(q_t . k_j / sqrt(d_h)) v_j``;
* (9.3)  MHA: ``n_h`` heads with their own ``W_i^Q, W_i^K, W_i^V`` (queries and keys rotated
  by RoPE), output ``W^O [o_1; ...; o_{n_h}]``;
* (9.4)  GQA: query head ``i`` reads key/value head ``g(i) = floor(i n_g / n_h)``;
  ``n_g = n_h`` is MHA and ``n_g = 1`` is MQA;
* (9.5)  KV cache of MHA/GQA/MQA per token per layer: ``2 n_g d_h`` elements;
* (9.6)  MLA's joint KV compression ``c_t = W^DKV h_t``, ``k_{t,i} = W_i^UK c_t``,
  ``v_{t,i} = W_i^UV c_t``;
* (9.7)  MLA's query compression ``c_t^Q = W^DQ h_t``, ``q_{t,i} = W_i^UQ c_t^Q``;
* (9.8)  absorbing ``W^UK``: ``q_{t,i} . k_{j,i} = (W_i^UK^T q_{t,i}) . c_j``;
* (9.9)  absorbing ``W^UV``: ``u_t = sum_i W_i^O W_i^UV sum_j p_{t,j,i} c_j``;
* (9.10) why RoPE breaks (9.8): ``R_t q . R_j k = q . R_{j-t} k`` puts a position-dependent
  matrix between ``W_i^UQ`` and ``W_i^UK``;
* (9.11) decoupled RoPE: ``q_{t,i} = [q^C_{t,i}; RoPE(W_i^QR c^Q_t)]``,
  ``k_{j,i} = [k^C_{j,i}; RoPE(W^KR h_j)]`` with one ``d_h^R``-wide rotary key shared by all
  heads, scores scaled by ``1 / sqrt(d_h + d_h^R)``;
* (9.12) KV cache of MLA per token per layer: ``d_c + d_h^R`` elements;
* (9.13) the longest context that fits: ``floor(M / (batch * l * bytes per token per layer))``;
* (9.14) GQA as MLA: ``c_t = [W^K_1; ..; W^K_G; W^V_1; ..; W^V_G] h_t`` (``d_c = 2 n_g d_h``) and
  up-projections ``W^UK_i = E_{g(i)}``, ``W^UV_i = E_{n_g + g(i)}`` that copy block ``g(i)``;
* (9.15) MLA after absorption as MQA: every head's query ``[W^UK_i^T q^C; q^R]`` against one
  shared key ``[c_j; k^R_j]`` (width ``d_c + d_R``) and one shared value ``c_j`` (width ``d_c``).

Parameter names are those of Hugging Face ``transformers``: ``q_proj, k_proj, v_proj,
o_proj`` for :class:`GroupedQueryAttention` (as ``LlamaAttention``), and ``q_a_proj,
q_a_layernorm, q_b_proj`` (or ``q_proj`` when the query is not compressed),
``kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj`` for
:class:`MultiHeadLatentAttention` (as ``DeepseekV2Attention``), so weights move between the
book's modules and theirs with ``load_state_dict(..., strict=True)``. As in those two
implementations, the rotary embedding of GQA rotates the two halves of each head (Hugging
Face's LLaMA layout) and that of MLA rotates interleaved pairs (DeepSeek's layout).

Shapes: ``B`` batch, ``T`` new tokens, ``S`` cached plus new tokens, ``D`` model width,
``H = n_h`` query heads, ``G = n_g`` key/value heads, ``d_h`` head width, ``d_c`` the KV
latent (``kv_lora_rank``), ``d_c'`` the query latent (``q_lora_rank``), ``d_R = d_h^R``
the rotary part of MLA's queries and keys (``qk_rope_head_dim``), ``d_v`` MLA's value head.
Cache sizes are counted in *elements*; :func:`kv_cache_bytes` converts them to bytes.

Bad input: every public function and class checks its arguments with :mod:`mlbook.checks`
(``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the argument). The
modules' forward passes and the caches check shapes and dtypes; as everywhere in PyTorch,
NaN and infinite entries of an activation propagate to the output (no scan of every
activation at every layer and step). :func:`decode_step_by_step` and :func:`mla_as_mqa`, which
a chapter calls on its own data, refuse them.

The chapter's experiments, which swap these modules into the tiny LLaMA and train it or time
MLA's decoding, are in :mod:`mlbook.attention.experiments`: this module does not import the
training loop.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import (ArgumentTypeError, check_bool, check_count, check_instance, check_int,
                      check_number, check_tensor)
from ..llm.llama import (LlamaConfig, RMSNorm, _apply_rope, _check_rope_tables, _dtype_of,
                         _repeat_kv, hf_rope_theta, rope_cos_sin)

__all__ = [
    "GQAConfig", "MLAConfig", "AttentionConfig",
    "GroupedKVCache", "LatentKVCache",
    "GroupedQueryAttention", "MultiHeadLatentAttention",
    "apply_rope_pairs", "decode_step_by_step", "mean_pool_kv_heads", "mla_from_gqa", "mla_as_mqa",
    "kv_cache_elements", "kv_cache_bytes", "longest_context", "dtype_bits",
    "DEEPSEEK_V2_MLA", "DEEPSEEK_V2_MHA", "DEEPSEEK_67B_GQA", "LLAMA2_70B_GQA", "LLAMA2_7B_MHA",
]


def _positive_int(name: str, value: Any) -> int:
    """A count >= 1 (:func:`mlbook.checks.check_count`: ``bool`` and ``3.0`` refused)."""
    return check_count(name, value)


def _check_dtype(name: str, dtype: Any) -> Any:
    """A ``torch.dtype`` (or ``None``, PyTorch's default)."""
    if dtype is not None and not isinstance(dtype, torch.dtype):
        check_instance(name, dtype, torch.dtype, what="a torch.dtype (e.g. torch.float32) "
                                                      "or None")
    return dtype


# ----------------------------------------------------------------------------------------
# Configurations
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GQAConfig:
    """Shape of an MHA / GQA / MQA attention layer: one family, set by ``n_kv_heads`` (9.4).

    ``n_kv_heads = n_heads`` is multi-head attention, ``n_kv_heads = 1`` multi-query
    attention, anything in between that divides ``n_heads`` grouped-query attention.
    """

    dim: int                        # D: model width (hidden_size)
    n_heads: int                    # n_h: query heads
    n_kv_heads: int | None = None   # n_g: key/value heads; None means n_heads (MHA), 1 is MQA
    head_dim: int | None = None     # d_h: width of one head; None means dim // n_heads
    n_layers: int = 1               # l: layers (used only to count the whole model's cache)
    rope_theta: float = 10000.0     # RoPE base
    rope: bool = True               # False: queries and keys carry no position (no RoPE)

    def __post_init__(self) -> None:
        _positive_int("dim", self.dim)
        _positive_int("n_heads", self.n_heads)
        _positive_int("n_layers", self.n_layers)
        check_bool("rope", self.rope)
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        _positive_int("n_kv_heads", self.n_kv_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be divisible by n_kv_heads ({self.n_kv_heads}): "
                "each key/value head serves a whole group of query heads; choose n_kv_heads "
                f"among the divisors of {self.n_heads}")
        if self.head_dim is None:
            if self.dim % self.n_heads:
                raise ValueError(f"dim ({self.dim}) is not divisible by n_heads ({self.n_heads}); "
                                 "give head_dim explicitly")
            object.__setattr__(self, "head_dim", self.dim // self.n_heads)
        _positive_int("head_dim", self.head_dim)
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even (RoPE rotates pairs), got {self.head_dim}")
        check_number("rope_theta", self.rope_theta, minimum=1.0, exclusive_minimum=True)

    @property
    def variant(self) -> str:
        """``"MHA"``, ``"MQA"`` or ``"GQA"``."""
        if self.n_kv_heads == self.n_heads:
            return "MHA"
        return "MQA" if self.n_kv_heads == 1 else "GQA"

    @property
    def group_size(self) -> int:
        """Query heads per key/value head, ``n_h / n_g``."""
        return self.n_heads // self.n_kv_heads

    @classmethod
    def from_llama(cls, config: Any) -> "GQAConfig":
        """The attention of a chapter-6 :class:`mlbook.llm.LlamaConfig`."""
        check_instance("config", config, LlamaConfig)
        return cls(dim=config.dim, n_heads=config.n_heads, n_kv_heads=config.n_kv_heads,
                   head_dim=config.head_dim, n_layers=config.n_layers,
                   rope_theta=config.rope_theta)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MLAConfig:
    """Shape of a multi-head latent attention layer; names follow ``DeepseekV2Config``.

    DeepSeek-V2 (:data:`DEEPSEEK_V2_MLA`) uses ``d_c = 4 d_h = 512``, ``d_h^R = d_h / 2 = 64``
    and a query latent ``d_c' = 1536``. ``qk_rope_head_dim = 0`` (no rotary part) and
    ``latent_norm = False`` (no RMSNorm on the latent) are not DeepSeek's: they describe the
    MLA layers that :func:`mla_from_gqa` builds to reproduce a position-free GQA layer (9.14).
    """

    dim: int                         # D: model width (hidden_size)
    n_heads: int                     # n_h: attention heads
    kv_lora_rank: int                # d_c: the cached KV latent c_t (9.6)
    qk_rope_head_dim: int            # d_h^R: the decoupled rotary query/key part (9.11)
    qk_nope_head_dim: int            # d_h: per-head key (and query) part without RoPE
    v_head_dim: int | None = None    # d_v: per-head value width; None means qk_nope_head_dim
    q_lora_rank: int | None = None   # d_c': query latent (9.7); None means a plain q_proj
    n_layers: int = 1                # l: layers (used only to count the whole model's cache)
    rope_theta: float = 10000.0      # RoPE base
    norm_eps: float = 1e-6           # epsilon of kv_a_layernorm and q_a_layernorm
    latent_norm: bool = True         # False: no RMSNorm on c^KV (kv_a_layernorm is the identity)

    def __post_init__(self) -> None:
        _positive_int("dim", self.dim)
        _positive_int("n_heads", self.n_heads)
        _positive_int("n_layers", self.n_layers)
        for name, symbol in (("kv_lora_rank", "d_c"), ("qk_nope_head_dim", "d_h")):
            _positive_int(f"{name} ({symbol})", getattr(self, name))
        rope_dim = self.qk_rope_head_dim
        check_int("qk_rope_head_dim (d_h^R)", rope_dim, minimum=0)
        if rope_dim % 2:
            raise ValueError(f"qk_rope_head_dim (d_h^R) must be an even integer >= 0 (RoPE "
                             f"rotates pairs; 0 means no position at all), got {rope_dim!r}")
        check_bool("latent_norm", self.latent_norm)
        if self.v_head_dim is None:
            object.__setattr__(self, "v_head_dim", self.qk_nope_head_dim)
        _positive_int("v_head_dim", self.v_head_dim)
        if self.q_lora_rank is not None:
            _positive_int("q_lora_rank (d_c')", self.q_lora_rank)
        check_number("rope_theta", self.rope_theta, minimum=1.0, exclusive_minimum=True)
        check_number("norm_eps", self.norm_eps, minimum=0.0, exclusive_minimum=True)

    variant = "MLA"

    @property
    def qk_head_dim(self) -> int:
        """Width of one query/key head, ``d_h + d_h^R``."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def to_hf_kwargs(self) -> dict[str, Any]:
        """Attention fields of ``transformers.DeepseekV2Config`` describing this layer."""
        if not self.latent_norm or self.qk_rope_head_dim == 0:
            raise ValueError("DeepseekV2Attention always normalises the latent and has a rotary "
                             "part: latent_norm must be True and qk_rope_head_dim positive")
        return dict(hidden_size=self.dim, num_attention_heads=self.n_heads,
                    num_key_value_heads=self.n_heads, kv_lora_rank=self.kv_lora_rank,
                    q_lora_rank=self.q_lora_rank, qk_rope_head_dim=self.qk_rope_head_dim,
                    qk_nope_head_dim=self.qk_nope_head_dim, v_head_dim=self.v_head_dim,
                    num_hidden_layers=self.n_layers, rms_norm_eps=self.norm_eps,
                    rope_theta=self.rope_theta, attention_bias=False)

    @classmethod
    def from_hf(cls, hf_config: Any) -> "MLAConfig":
        """The attention of a ``transformers.DeepseekV2Config`` (or anything with its fields)."""
        return cls(dim=hf_config.hidden_size, n_heads=hf_config.num_attention_heads,
                   kv_lora_rank=hf_config.kv_lora_rank,
                   qk_rope_head_dim=hf_config.qk_rope_head_dim,
                   qk_nope_head_dim=hf_config.qk_nope_head_dim,
                   v_head_dim=hf_config.v_head_dim, q_lora_rank=hf_config.q_lora_rank,
                   n_layers=hf_config.num_hidden_layers,
                   rope_theta=hf_rope_theta(hf_config),
                   norm_eps=hf_config.rms_norm_eps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


AttentionConfig = Union[GQAConfig, MLAConfig]

#: DeepSeek-V2's MLA (DeepSeek-AI 2024, section 3.1.2): n_h = 128, d_h = 128, d_c = 512,
#: d_c' = 1536, d_h^R = 64, 60 layers, hidden size 5120.
DEEPSEEK_V2_MLA = MLAConfig(dim=5120, n_heads=128, kv_lora_rank=512, qk_rope_head_dim=64,
                            qk_nope_head_dim=128, v_head_dim=128, q_lora_rank=1536, n_layers=60)
#: The MHA model of DeepSeek-V2's size that Table 1 compares MLA with: 128 heads of 128.
DEEPSEEK_V2_MHA = GQAConfig(dim=5120, n_heads=128, n_kv_heads=128, head_dim=128, n_layers=60)
#: DeepSeek LLM 67B (DeepSeek-AI 2024, "DeepSeek LLM", Table 2): GQA with 8 KV heads, 95 layers.
DEEPSEEK_67B_GQA = GQAConfig(dim=8192, n_heads=64, n_kv_heads=8, head_dim=128, n_layers=95)
#: LLaMA-2-70B (Touvron et al. 2023b): 64 query heads, 8 KV heads of width 128, 80 layers.
LLAMA2_70B_GQA = GQAConfig(dim=8192, n_heads=64, n_kv_heads=8, head_dim=128, n_layers=80)
#: LLaMA-2-7B: plain MHA, 32 heads of width 128, 32 layers.
LLAMA2_7B_MHA = GQAConfig(dim=4096, n_heads=32, n_kv_heads=32, head_dim=128, n_layers=32)


# ----------------------------------------------------------------------------------------
# Cache-size accounting (9.5), (9.12), (9.13)
# ----------------------------------------------------------------------------------------
def _as_attention_config(config: Any) -> AttentionConfig:
    if isinstance(config, (GQAConfig, MLAConfig)):
        return config
    if all(hasattr(config, a) for a in ("dim", "n_heads", "n_kv_heads", "head_dim", "rope_theta")):
        return GQAConfig.from_llama(config)           # a chapter-6 LlamaConfig
    if hasattr(config, "kv_lora_rank"):
        return MLAConfig.from_hf(config)              # a transformers DeepseekV2Config
    raise ArgumentTypeError(f"config must be a GQAConfig, an MLAConfig, a LlamaConfig or a "
                            f"DeepseekV2Config, got {type(config).__name__}")


def kv_cache_elements(config: Any) -> int:
    """KV-cache elements one token leaves in one layer: (9.5) and (9.12).

    MHA ``2 n_h d_h``, GQA ``2 n_g d_h``, MQA ``2 d_h`` (a key and a value per KV head);
    MLA ``d_c + d_h^R`` (the latent and the shared rotary key, whatever the number of heads).
    ``config``: :class:`GQAConfig`, :class:`MLAConfig`, a chapter-6 ``LlamaConfig`` or a
    ``transformers`` ``DeepseekV2Config``. DeepSeek-V2: 576 for MLA, 32,768 for MHA.
    """
    config = _as_attention_config(config)
    if isinstance(config, MLAConfig):
        return config.kv_lora_rank + config.qk_rope_head_dim
    return 2 * config.n_kv_heads * config.head_dim


def dtype_bits(dtype: torch.dtype | int | float) -> float:
    """Bits per element: of a ``torch.dtype``, or the number itself (e.g. 6 for a 6-bit cache)."""
    if isinstance(dtype, torch.dtype):
        return float(torch.finfo(dtype).bits if dtype.is_floating_point else torch.iinfo(dtype).bits)
    if isinstance(dtype, numbers.Real) and not isinstance(dtype, bool) and 0 < dtype <= 64:
        return float(dtype)
    raise ValueError(f"dtype must be a torch.dtype or a number of bits in (0, 64], got {dtype!r}")


def kv_cache_bytes(config: Any, dtype: torch.dtype | int | float = torch.bfloat16, *,
                   n_layers: int | None = None, tokens: int = 1, batch_size: int = 1) -> float:
    """Bytes of KV cache for ``batch_size`` sequences of ``tokens`` tokens over ``n_layers``.

    ``kv_cache_elements(config) * bits(dtype) / 8 * n_layers * tokens * batch_size`` (9.1); the
    default ``n_layers`` is ``config.n_layers``, so with the defaults this is the bytes one
    token costs in the whole model. ``dtype``: a ``torch.dtype`` or a number of bits.
    """
    config = _as_attention_config(config)
    n_layers = config.n_layers if n_layers is None else n_layers
    for name, value in (("n_layers", n_layers), ("tokens", tokens), ("batch_size", batch_size)):
        _positive_int(name, value)
    return kv_cache_elements(config) * dtype_bits(dtype) / 8 * n_layers * tokens * batch_size


def longest_context(config: Any, memory_bytes: float,
                    dtype: torch.dtype | int | float = torch.bfloat16, *,
                    n_layers: int | None = None, batch_size: int = 1) -> int:
    """The most tokens per sequence whose KV cache fits in ``memory_bytes`` (9.13).

    ``floor(memory_bytes / kv_cache_bytes(config, dtype, n_layers=..., batch_size=...))``.
    """
    check_number("memory_bytes", memory_bytes, minimum=0.0)
    per_token = kv_cache_bytes(config, dtype, n_layers=n_layers, batch_size=batch_size)
    return int(memory_bytes // per_token)


# ----------------------------------------------------------------------------------------
# KV caches for incremental decoding
# ----------------------------------------------------------------------------------------
class _Cache:
    """Preallocated slots for ``max_len`` positions; ``length`` of them are filled."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], batch_size: int, max_len: int,
                 dtype: torch.dtype, device: torch.device | str | None):
        _positive_int("batch_size", batch_size)
        _positive_int("max_len", max_len)
        _check_dtype("dtype", dtype)
        self.batch_size, self.max_len, self.length = batch_size, max_len, 0
        self._shapes = shapes       # name -> per-position shape after the batch axis
        self._store = {name: torch.zeros(self._full(shape), dtype=dtype, device=device)
                       for name, shape in shapes.items()}

    def _full(self, shape):         # overridden: where the time axis goes
        raise NotImplementedError

    def _check(self, name: str, x: torch.Tensor, expected: tuple[int, ...]) -> None:
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            error = ValueError if isinstance(x, torch.Tensor) else ArgumentTypeError
            raise error(f"{type(self).__name__}.update: {name} must have shape "
                        f"{expected}, got {got}")
        if not x.is_floating_point():
            raise ArgumentTypeError(f"{type(self).__name__}.update: {name} must be a "
                                    f"floating-point tensor, got dtype {x.dtype}")

    def _advance(self, t: int) -> tuple[int, int]:
        if t < 1:
            raise ValueError(f"{type(self).__name__}.update: a step must hold at least one token")
        if self.length + t > self.max_len:
            raise ValueError(f"{type(self).__name__} is full: {self.length} cached + {t} new "
                             f"tokens > max_len = {self.max_len}")
        start, self.length = self.length, self.length + t
        return start, self.length

    @property
    def nbytes(self) -> int:
        """Memory the cache holds (all ``max_len`` slots), in bytes."""
        return sum(t.nbytes for t in self._store.values())

    @property
    def elements_per_token(self) -> int:
        """Elements one token adds for one sequence: (9.5) or (9.12)."""
        return sum(math.prod(s) for s in self._shapes.values())

    def reset(self) -> None:
        """Forget every cached token (the memory stays allocated)."""
        self.length = 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(batch_size={self.batch_size}, length={self.length}, "
                f"max_len={self.max_len}, elements_per_token={self.elements_per_token})")


class GroupedKVCache(_Cache):
    """Keys and values of MHA / GQA / MQA for one layer: ``(B, G, max_len, d_h)`` each.

    ``update(k, v)`` stores a step of ``T`` new tokens, ``(B, G, T, d_h)`` each, after the
    ``length`` cached ones and returns the whole prefix ``(B, G, length, d_h)``; a step of
    any other shape, or one that would overflow ``max_len``, raises ``ValueError``.
    """

    def __init__(self, batch_size: int, n_kv_heads: int, head_dim: int, max_len: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):
        _positive_int("n_kv_heads", n_kv_heads)
        _positive_int("head_dim", head_dim)
        self.n_kv_heads, self.head_dim = n_kv_heads, head_dim
        super().__init__({"keys": (n_kv_heads, head_dim), "values": (n_kv_heads, head_dim)},
                         batch_size, max_len, dtype, device)

    def _full(self, shape):
        return (self.batch_size, shape[0], self.max_len, shape[1])      # (B, G, max_len, d_h)

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = k.shape[2] if isinstance(k, torch.Tensor) and k.dim() == 4 else -1
        expected = (self.batch_size, self.n_kv_heads, t, self.head_dim)
        self._check("k", k, expected)
        self._check("v", v, expected)
        start, end = self._advance(t)
        self._store["keys"][:, :, start:end] = k
        self._store["values"][:, :, start:end] = v
        return self._store["keys"][:, :, :end], self._store["values"][:, :, :end]


class LatentKVCache(_Cache):
    """What MLA caches for one layer: latents ``(B, max_len, d_c)`` and rotary keys ``(B, max_len, d_R)``.

    ``update(c_kv, k_rope)`` stores ``T`` new tokens, ``(B, T, d_c)`` and ``(B, T, d_R)``,
    and returns the whole prefix; a step of any other shape, or one that would overflow
    ``max_len``, raises ``ValueError``. The latents are stored after ``kv_a_layernorm`` and
    the rotary keys after RoPE, as DeepSeek's inference code stores them.
    """

    def __init__(self, batch_size: int, kv_lora_rank: int, qk_rope_head_dim: int, max_len: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):
        _positive_int("kv_lora_rank", kv_lora_rank)
        check_int("qk_rope_head_dim", qk_rope_head_dim, minimum=0)
        self.kv_lora_rank, self.qk_rope_head_dim = kv_lora_rank, qk_rope_head_dim
        super().__init__({"latents": (kv_lora_rank,), "rope_keys": (qk_rope_head_dim,)},
                         batch_size, max_len, dtype, device)

    def _full(self, shape):
        return (self.batch_size, self.max_len, shape[0])                # (B, max_len, width)

    def update(self, c_kv: torch.Tensor, k_rope: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        t = c_kv.shape[1] if isinstance(c_kv, torch.Tensor) and c_kv.dim() == 3 else -1
        self._check("c_kv", c_kv, (self.batch_size, t, self.kv_lora_rank))
        self._check("k_rope", k_rope, (self.batch_size, t, self.qk_rope_head_dim))
        start, end = self._advance(t)
        self._store["latents"][:, start:end] = c_kv
        self._store["rope_keys"][:, start:end] = k_rope
        return self._store["latents"][:, :end], self._store["rope_keys"][:, :end]


# ----------------------------------------------------------------------------------------
# Attention modules
# ----------------------------------------------------------------------------------------
def _causal_mask(t: int, s: int, device) -> torch.Tensor:
    """``(T, S)`` booleans: new token ``r`` (absolute position ``S - T + r``) sees keys ``<= S - T + r``."""
    return torch.ones(t, s, dtype=torch.bool, device=device).tril(s - t)


def _sdpa_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 scale: float | None = None) -> torch.Tensor:
    """(9.2) for ``T`` new queries after ``S - T`` cached positions (bottom-right causal)."""
    t, s = q.shape[-2], k.shape[-2]
    if t == s:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    if t == 1:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=_causal_mask(t, s, q.device),
                                          scale=scale)


class _RotaryTable:
    """Cosines and sines of chapter 6's :func:`~mlbook.llm.llama.rope_cos_sin`, computed once.

    Not a buffer (so not in the ``state_dict``): the table grows when a longer position is
    asked for and follows the device of the input.
    """

    def __init__(self, width: int, theta: float):
        self.width, self.theta = width, theta
        self.cos = self.sin = torch.empty(0, width)

    def __call__(self, start: int, t: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        end = start + t
        if self.width == 0:                                   # no rotary part: empty tables
            empty = torch.zeros(t, 0, device=device)
            return empty, empty
        if self.cos.shape[0] < end:
            n = max(end, 2 * self.cos.shape[0], 256)
            self.cos, self.sin = rope_cos_sin(torch.arange(n), self.width, self.theta)
        if self.cos.device != torch.device(device):
            self.cos, self.sin = self.cos.to(device), self.sin.to(device)
        return self.cos[start:end], self.sin[start:end]                              # (T, width)


def apply_rope_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on interleaved pairs ``(x_{2i}, x_{2i+1})``, DeepSeek's layout, with chapter 6's tables.

    Gathers the pairs into halves, applies :func:`~mlbook.llm.llama.apply_rope` (half
    layout) and scatters back: the same numbers as
    :func:`~mlbook.llm.llama.apply_rope_interleaved`, without complex arithmetic.
    ``x``: ``(..., T, d)`` with ``d`` even; ``cos``, ``sin``: ``(T, d)`` from
    ``rope_cos_sin`` (or ``(1, d)``: one position for every row). Tables of any other shape
    (a single row ``(d,)`` that would broadcast over the positions, say) raise ``ValueError``.
    """
    _check_rope_tables(x, cos, sin)
    return _apply_rope_pairs(x, cos, sin)


def _apply_rope_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """:func:`apply_rope_pairs` without the checks (the modules' forward passes call it)."""
    d = x.shape[-1]
    if d == 0:                                                                      # nothing to rotate
        return x
    halves = x.unflatten(-1, (d // 2, 2)).transpose(-1, -2).flatten(-2)             # [evens, odds]
    rotated = _apply_rope(halves, cos, sin)
    return rotated.unflatten(-1, (2, d // 2)).transpose(-1, -2).flatten(-2)         # back to pairs


def _check_input(x: Any, dim: int, cache: Any, cache_type: type,
                 dtype: torch.dtype | None = None) -> None:
    """``x`` ``(B, T >= 1, D)`` of the module's dtype, and a cache of the module's kind that
    has room for ``T`` more tokens of ``B`` sequences. Metadata only: no pass over ``x``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != dim or x.shape[1] < 1:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        error = ValueError if isinstance(x, torch.Tensor) else ArgumentTypeError
        raise error(f"x must have shape (batch, time >= 1, dim={dim}), got {got}")
    if dtype is not None and x.dtype != dtype:
        raise ArgumentTypeError(f"x must have the module's dtype {dtype}, got {x.dtype} (convert "
                                f"one of them with .to(...))")
    if cache is not None:
        if not isinstance(cache, cache_type):
            raise ArgumentTypeError(f"cache must be a {cache_type.__name__} (from new_cache) or "
                                    f"None, got {type(cache).__name__}")
        if cache.batch_size != x.shape[0]:
            raise ValueError(f"cache holds {cache.batch_size} sequences, x has "
                             f"{x.shape[0]} (batch)")
        if cache.length + x.shape[1] > cache.max_len:
            raise ValueError(f"cache is full: {cache.length} cached + {x.shape[1]} new tokens "
                             f"> max_len = {cache.max_len}")


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``n_kv_heads`` key/value heads: MHA, GQA or MQA (9.3)-(9.4).

    ``forward(x, cache)``: ``x`` is ``(B, T, D)``; returns ``(B, T, D)``. Without a cache
    the ``T`` tokens are positions ``0..T-1``; with a :class:`GroupedKVCache` (from
    :meth:`new_cache`) they continue the ``cache.length`` tokens already cached, and the
    cache grows by ``T``. Same parameters and RoPE layout as chapter 6's ``LlamaAttention``
    (Hugging Face's names), so their ``state_dict``s are interchangeable.
    """

    def __init__(self, config: GQAConfig):
        super().__init__()
        check_instance("config", config, GQAConfig)
        self.config = config
        h, g, d = config.n_heads, config.n_kv_heads, config.head_dim
        self.q_proj = nn.Linear(config.dim, h * d, bias=False)   # W^Q, all heads stacked
        self.k_proj = nn.Linear(config.dim, g * d, bias=False)   # W^K, one per KV head
        self.v_proj = nn.Linear(config.dim, g * d, bias=False)   # W^V, one per KV head
        self.o_proj = nn.Linear(h * d, config.dim, bias=False)   # W^O
        self._rotary = _RotaryTable(d, config.rope_theta)

    def new_cache(self, batch_size: int, max_len: int, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> GroupedKVCache:
        """An empty cache for ``batch_size`` sequences of up to ``max_len`` tokens."""
        w = self.q_proj.weight
        _check_dtype("dtype", dtype)
        return GroupedKVCache(batch_size, self.config.n_kv_heads, self.config.head_dim, max_len,
                              dtype or w.dtype, device or w.device)

    def forward(self, x: torch.Tensor, cache: GroupedKVCache | None = None) -> torch.Tensor:
        _check_input(x, self.config.dim, cache, GroupedKVCache, _dtype_of(self.q_proj))
        c = self.config
        b, t, _ = x.shape
        start = cache.length if cache is not None else 0
        cos, sin = self._rotary(start, t, x.device)                                 # (T, d_h)
        q = self.q_proj(x).view(b, t, c.n_heads, c.head_dim).transpose(1, 2)        # (B, H, T, d_h)
        k = self.k_proj(x).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)     # (B, G, T, d_h)
        v = self.v_proj(x).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)     # (B, G, T, d_h)
        if c.rope:
            q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(k, v)                                               # (B, G, S, d_h)
        k, v = _repeat_kv(k, c.group_size), _repeat_kv(v, c.group_size)             # (B, H, S, d_h)
        out = _sdpa_causal(q, k, v)                                                 # (B, H, T, d_h)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, c.n_heads * c.head_dim))


def mean_pool_kv_heads(module: GroupedQueryAttention, n_kv_heads: int) -> GroupedQueryAttention:
    """A GQA module with ``n_kv_heads`` heads made from ``module`` by mean-pooling (Ainslie et al.).

    The key and value projections of each group of ``n_h / n_kv_heads`` consecutive heads
    (of the original ``n_g`` heads) are averaged into one; queries and output are copied.
    Pooling to the module's own ``n_kv_heads`` returns an identical copy; pooling groups of
    identical heads loses nothing. ``n_kv_heads`` must divide the module's ``n_kv_heads``.
    """
    check_instance("module", module, GroupedQueryAttention)
    c = module.config
    _positive_int("n_kv_heads", n_kv_heads)
    if c.n_kv_heads % n_kv_heads:
        raise ValueError(f"n_kv_heads ({n_kv_heads}) must divide the module's n_kv_heads "
                         f"({c.n_kv_heads}) so that whole groups of heads are pooled")
    new = GroupedQueryAttention(dataclasses.replace(c, n_kv_heads=n_kv_heads))
    pool = c.n_kv_heads // n_kv_heads
    with torch.no_grad():
        new.q_proj.weight.copy_(module.q_proj.weight)
        new.o_proj.weight.copy_(module.o_proj.weight)
        for name in ("k_proj", "v_proj"):
            w = getattr(module, name).weight.view(n_kv_heads, pool, c.head_dim, c.dim)
            getattr(new, name).weight.copy_(w.mean(1).reshape(n_kv_heads * c.head_dim, c.dim))
    return new.to(module.q_proj.weight.dtype)


class MultiHeadLatentAttention(nn.Module):
    """DeepSeek-V2's multi-head latent attention (9.6)-(9.12), with Hugging Face's names.

    Parameters (``transformers``' ``DeepseekV2Attention``):

    * ``q_a_proj`` ``D -> d_c'`` (``W^DQ``), ``q_a_layernorm`` (RMSNorm on ``c^Q``),
      ``q_b_proj`` ``d_c' -> H (d_h + d_R)`` (``W^UQ`` and ``W^QR`` per head, interleaved by
      head); or ``q_proj`` ``D -> H (d_h + d_R)`` when ``q_lora_rank`` is ``None``;
    * ``kv_a_proj_with_mqa`` ``D -> d_c + d_R``: ``W^DKV`` and the shared rotary key
      ``W^KR`` in one matrix ("with MQA": one key for all heads);
    * ``kv_a_layernorm`` (RMSNorm on ``c^KV``), ``kv_b_proj`` ``d_c -> H (d_h + d_v)``
      (``W^UK`` and ``W^UV`` per head), ``o_proj`` ``H d_v -> D`` (``W^O``).

    ``forward(x, cache, absorb=False)``: ``x`` ``(B, T, D)`` -> ``(B, T, D)``. The cache
    (:class:`LatentKVCache`, from :meth:`new_cache`) holds only ``c^KV`` and the rotated
    shared key, ``d_c + d_R`` numbers per token (9.12). ``absorb=False`` (the *explicit*
    form) up-projects every cached latent to per-head keys and values at each step, as the
    equations are written; ``absorb=True`` runs attention on the latents themselves with
    ``W^UK`` applied to the query (9.8) and ``W^UV`` to the attention output before
    ``o_proj`` (9.9). The two give the same output up to rounding. The pieces are public,
    so each step can be run and read alone: :meth:`queries` and :meth:`latents` project,
    :meth:`explicit_attention` and :meth:`absorbed_attention` attend in the two forms.
    """

    def __init__(self, config: MLAConfig):
        super().__init__()
        check_instance("config", config, MLAConfig, what="an MLAConfig")
        self.config = config
        c = config
        q_out = c.n_heads * c.qk_head_dim
        if c.q_lora_rank is None:
            self.q_proj = nn.Linear(c.dim, q_out, bias=False)
        else:
            self.q_a_proj = nn.Linear(c.dim, c.q_lora_rank, bias=False)          # W^DQ (9.7)
            self.q_a_layernorm = RMSNorm(c.q_lora_rank, c.norm_eps)
            self.q_b_proj = nn.Linear(c.q_lora_rank, q_out, bias=False)          # W^UQ, W^QR
        self.kv_a_proj_with_mqa = nn.Linear(c.dim, c.kv_lora_rank + c.qk_rope_head_dim,
                                            bias=False)                          # W^DKV, W^KR
        self.kv_a_layernorm = (RMSNorm(c.kv_lora_rank, c.norm_eps) if c.latent_norm
                               else nn.Identity())
        self.kv_b_proj = nn.Linear(c.kv_lora_rank, c.n_heads * (c.qk_nope_head_dim + c.v_head_dim),
                                   bias=False)                                   # W^UK, W^UV
        self.o_proj = nn.Linear(c.n_heads * c.v_head_dim, c.dim, bias=False)     # W^O
        self.softmax_scale = c.qk_head_dim ** -0.5                               # 1/sqrt(d_h + d_R)
        self._rotary = _RotaryTable(c.qk_rope_head_dim, c.rope_theta)

    def new_cache(self, batch_size: int, max_len: int, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> LatentKVCache:
        """An empty latent cache for ``batch_size`` sequences of up to ``max_len`` tokens."""
        w = self.kv_b_proj.weight
        _check_dtype("dtype", dtype)
        return LatentKVCache(batch_size, self.config.kv_lora_rank, self.config.qk_rope_head_dim,
                             max_len, dtype or w.dtype, device or w.device)

    # ---- the pieces ---------------------------------------------------------------------
    def queries(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``q^C`` ``(B, H, T, d_h)`` and the rotated ``q^R`` ``(B, H, T, d_R)``: (9.7), (9.11).

        ``x``: ``(B, T, D)``; ``start``: the position of its first token (>= 0)."""
        self._check_piece(x, start)
        return self._queries(x, start)

    def _queries(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        b, t, _ = x.shape
        if c.q_lora_rank is None:
            q = self.q_proj(x)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))                 # via c^Q (B, T, d_c')
        q = q.view(b, t, c.n_heads, c.qk_head_dim).transpose(1, 2)                  # (B, H, T, d_h + d_R)
        q_nope, q_rope = q.split([c.qk_nope_head_dim, c.qk_rope_head_dim], dim=-1)
        cos, sin = self._rotary(start, t, x.device)                                 # (T, d_R)
        return q_nope, _apply_rope_pairs(q_rope, cos, sin)

    def latents(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``c^KV`` ``(B, T, d_c)`` (normalised) and the shared rotated key ``k^R`` ``(B, T, d_R)``: (9.6), (9.11).

        ``x``: ``(B, T, D)``; ``start``: the position of its first token (>= 0)."""
        self._check_piece(x, start)
        return self._latents(x, start)

    def _latents(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        c_kv, k_rope = self.kv_a_proj_with_mqa(x).split([c.kv_lora_rank, c.qk_rope_head_dim], dim=-1)
        cos, sin = self._rotary(start, x.shape[1], x.device)                        # (T, d_R)
        return self.kv_a_layernorm(c_kv), _apply_rope_pairs(k_rope, cos, sin)

    def _check_piece(self, x: Any, start: Any) -> None:
        _check_input(x, self.config.dim, None, LatentKVCache, _dtype_of(self.kv_b_proj))
        check_int("start", start, minimum=0)

    def up_projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``W^UK`` ``(H, d_h, d_c)`` and ``W^UV`` ``(H, d_v, d_c)``, views of ``kv_b_proj.weight``."""
        c = self.config
        w = self.kv_b_proj.weight.view(c.n_heads, c.qk_nope_head_dim + c.v_head_dim, c.kv_lora_rank)
        return w[:, :c.qk_nope_head_dim], w[:, c.qk_nope_head_dim:]

    # ---- attention, two ways ------------------------------------------------------------
    def _check_heads_input(self, q_nope: Any, q_rope: Any, c_kv: Any, k_rope: Any) -> None:
        """Shapes and dtypes for the two attention forms (metadata only: no pass over the data).

        ``q_nope`` ``(B, H, T, d_h)``, ``q_rope`` ``(B, H, T, d_R)`` (from :meth:`queries`),
        ``c_kv`` ``(B, S, d_c)``, ``k_rope`` ``(B, S, d_R)`` (from :meth:`latents` or the
        cache) with ``S >= T >= 1``, all of the module's dtype."""
        c = self.config
        dtype = _dtype_of(self.kv_b_proj)
        for name, t in (("q_nope", q_nope), ("q_rope", q_rope), ("c_kv", c_kv),
                        ("k_rope", k_rope)):
            check_tensor(name, t, finite=False, min_size=0)         # a floating-point tensor
            if dtype is not None and t.dtype != dtype:
                raise ArgumentTypeError(f"{name} must have the module's dtype {dtype}, got "
                                        f"{t.dtype}")
        b = q_nope.shape[0] if q_nope.dim() == 4 else None
        t_new = q_nope.shape[2] if q_nope.dim() == 4 else None
        s = c_kv.shape[1] if c_kv.dim() == 3 else None
        for name, x, want, layout in (
                ("q_nope", q_nope, (b, c.n_heads, t_new, c.qk_nope_head_dim),
                 f"(B, H={c.n_heads}, T, d_h={c.qk_nope_head_dim})"),
                ("q_rope", q_rope, (b, c.n_heads, t_new, c.qk_rope_head_dim),
                 f"(B, H={c.n_heads}, T, d_R={c.qk_rope_head_dim}) like q_nope"),
                ("c_kv", c_kv, (b, s, c.kv_lora_rank), f"(B, S, d_c={c.kv_lora_rank})"),
                ("k_rope", k_rope, (b, s, c.qk_rope_head_dim),
                 f"(B, S, d_R={c.qk_rope_head_dim}) like c_kv")):
            if x.dim() != len(want) or any(w is not None and w != g for w, g in zip(want, x.shape)):
                raise ValueError(f"{name} must have shape {layout}, got {tuple(x.shape)}")
        if t_new < 1 or s < t_new:
            raise ValueError(f"q_nope and c_kv must hold 1 <= T <= S positions (T new queries "
                             f"after S - T cached ones), got T = {t_new} and S = {s}")

    def explicit_attention(self, q_nope: torch.Tensor, q_rope: torch.Tensor,
                           c_kv: torch.Tensor, k_rope: torch.Tensor) -> torch.Tensor:
        """Up-project all ``S`` latents to keys ``(B, H, S, d_h + d_R)`` and values ``(B, H, S, d_v)``.

        ``q_nope`` ``(B, H, T, d_h)`` and ``q_rope`` ``(B, H, T, d_R)`` from :meth:`queries`,
        ``c_kv`` ``(B, S, d_c)`` and ``k_rope`` ``(B, S, d_R)`` from :meth:`latents` (or the
        cache), ``S >= T``; returns the heads' outputs ``(B, H, T, d_v)``, before ``o_proj``.
        """
        self._check_heads_input(q_nope, q_rope, c_kv, k_rope)
        c = self.config
        b, s, _ = c_kv.shape
        kv = self.kv_b_proj(c_kv).view(b, s, c.n_heads, c.qk_nope_head_dim + c.v_head_dim)
        k_nope, v = kv.transpose(1, 2).split([c.qk_nope_head_dim, c.v_head_dim], dim=-1)
        k = torch.cat([k_nope, k_rope[:, None].expand(b, c.n_heads, s, c.qk_rope_head_dim)], -1)
        q = torch.cat([q_nope, q_rope], dim=-1)                                       # (B, H, T, d_h + d_R)
        return _sdpa_causal(q, k, v, scale=self.softmax_scale)                        # (B, H, T, d_v)

    def absorbed_attention(self, q_nope: torch.Tensor, q_rope: torch.Tensor,
                           c_kv: torch.Tensor, k_rope: torch.Tensor) -> torch.Tensor:
        """Attention on the latents: (9.8) for the scores, (9.9) for the output.

        Arguments and result as :meth:`explicit_attention`, which it equals up to rounding.
        """
        self._check_heads_input(q_nope, q_rope, c_kv, k_rope)
        w_uk, w_uv = self.up_projections()                                             # (H, d_h|d_v, d_c)
        q_latent = torch.einsum("bhtd,hdc->bhtc", q_nope, w_uk)                        # W^UK^T q (B, H, T, d_c)
        scores = (torch.einsum("bhtc,bsc->bhts", q_latent, c_kv)
                  + torch.einsum("bhtr,bsr->bhts", q_rope, k_rope)) * self.softmax_scale
        t, s = scores.shape[-2:]
        if t > 1:
            scores = scores.masked_fill(~_causal_mask(t, s, scores.device), float("-inf"))
        p = torch.softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)),
                          dim=-1).to(c_kv.dtype)                                      # (B, H, T, S)
        o_latent = torch.einsum("bhts,bsc->bhtc", p, c_kv)                             # (B, H, T, d_c)
        return torch.einsum("bhtc,hvc->bhtv", o_latent, w_uv)                          # (B, H, T, d_v)

    def forward(self, x: torch.Tensor, cache: LatentKVCache | None = None, *,
                absorb: bool = False) -> torch.Tensor:
        _check_input(x, self.config.dim, cache, LatentKVCache, _dtype_of(self.kv_b_proj))
        check_bool("absorb", absorb)
        c = self.config
        b, t, _ = x.shape
        start = cache.length if cache is not None else 0
        q_nope, q_rope = self._queries(x, start)
        c_kv, k_rope = self._latents(x, start)
        if cache is not None:
            c_kv, k_rope = cache.update(c_kv, k_rope)                                   # (B, S, d_c), (B, S, d_R)
        attend = self.absorbed_attention if absorb else self.explicit_attention
        out = attend(q_nope, q_rope, c_kv, k_rope)                                      # (B, H, T, d_v)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, c.n_heads * c.v_head_dim))


# ----------------------------------------------------------------------------------------
# GQA and MQA as special cases of MLA; MLA as MQA after absorption
# ----------------------------------------------------------------------------------------
def _half_to_pairs(head_dim: int) -> torch.Tensor:
    """Row order that turns RoPE's half layout into interleaved pairs: ``[0, d/2, 1, d/2 + 1, ...]``."""
    half = head_dim // 2
    return torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()


@torch.no_grad()
def mla_from_gqa(module: GroupedQueryAttention) -> MultiHeadLatentAttention:
    """An MLA layer whose output equals ``module``'s: GQA and MQA as special cases of MLA (9.14).

    Both constructions cache exactly as many numbers per token as the GQA layer,
    ``2 n_g d_h``, and use no RMSNorm on the latent (``latent_norm=False``):

    * position-free GQA (``module.config.rope`` is False), any number of groups ``n_g``: the
      latent is the ``n_g`` keys and ``n_g`` values stacked, ``c_t = [W^K; W^V] h_t``, so
      ``W^DKV = [W^K; W^V]`` and ``d_c = 2 n_g d_h``; the up-projections of head ``i`` are
      0/1 matrices ``(d_h, d_c)`` that *copy* the blocks of its group ``g(i)`` (9.4):
      ``W^UK_i`` the key block ``g(i)``, ``W^UV_i`` the value block ``n_g + g(i)``. There is no
      rotary part (``qk_rope_head_dim = 0``); queries and output projection are copied.
    * MQA with RoPE (``n_g = 1``): the one rotated key *is* MLA's shared rotary key
      (``d_h^R = d_h``, ``W^KR = W^K`` and ``W^QR_i = W^Q_i`` with their rows reordered from
      the half layout to DeepSeek's interleaved pairs), the latent is the value
      (``d_c = d_h``, ``W^UV_i = I``), and the content part is switched off
      (``qk_nope_head_dim = 1``, ``W^UK_i = 0``); the rotary queries are multiplied by
      ``sqrt((d_h + 1) / d_h)`` to undo MLA's softmax scale ``1 / sqrt(d_h + 1)`` (9.11).

    GQA with RoPE and ``n_g > 1`` raises ``ValueError``: its ``n_g`` keys are rotated by
    their positions, while MLA's rotated key is one vector shared by all heads, so no layer
    of DeepSeek's form reproduces it exactly. The result has ``module``'s dtype and device.
    """
    if not isinstance(module, GroupedQueryAttention):
        raise TypeError(f"module must be a GroupedQueryAttention, got {type(module).__name__}")
    c = module.config
    h, g, d = c.n_heads, c.n_kv_heads, c.head_dim
    if c.rope and g > 1:
        raise ValueError(
            f"module has RoPE and n_kv_heads = {g}: its {g} rotated keys cannot be expressed "
            "through MLA's single shared rotary key; use a position-free GQA "
            "(GQAConfig(..., rope=False)) or MQA (n_kv_heads=1)")
    w_q, w_k, w_v, w_o = (getattr(module, n).weight for n in ("q_proj", "k_proj", "v_proj",
                                                               "o_proj"))
    like = dict(dtype=w_q.dtype, device=w_q.device)
    if not c.rope:                                   # c_t = [k_1 .. k_G, v_1 .. v_G]
        config = MLAConfig(c.dim, h, kv_lora_rank=2 * g * d, qk_rope_head_dim=0,
                           qk_nope_head_dim=d, v_head_dim=d, n_layers=c.n_layers,
                           rope_theta=c.rope_theta, latent_norm=False)
        up = torch.zeros(h, 2 * d, 2 * g * d, **like)                 # per head [W^UK_i; W^UV_i]
        eye = torch.eye(d, **like)
        for i in range(h):
            group = i // c.group_size                                 # g(i) of (9.4)
            up[i, :d, group * d:(group + 1) * d] = eye                # key block g(i)
            up[i, d:, (g + group) * d:(g + group + 1) * d] = eye      # value block g(i)
        q_weight, down = w_q, torch.cat([w_k, w_v])                   # (H d_h, D), (2 G d_h, D)
    else:                                            # MQA: k^R_t = RoPE(W^K h_t), c_t = W^V h_t
        config = MLAConfig(c.dim, h, kv_lora_rank=d, qk_rope_head_dim=d, qk_nope_head_dim=1,
                           v_head_dim=d, n_layers=c.n_layers, rope_theta=c.rope_theta,
                           latent_norm=False)
        pairs = _half_to_pairs(d).to(w_q.device)
        q_weight = torch.zeros(h, 1 + d, c.dim, **like)               # [q^C (off); q^R] per head
        q_weight[:, 1:] = w_q.view(h, d, c.dim)[:, pairs] * math.sqrt((d + 1) / d)
        q_weight = q_weight.view(h * (1 + d), c.dim)
        up = torch.zeros(h, 1 + d, d, **like)                         # W^UK_i = 0, W^UV_i = I
        up[:, 1:] = torch.eye(d, **like)
        down = torch.cat([w_v, w_k[pairs]])                           # [W^DKV; W^KR]
    mla = MultiHeadLatentAttention(config).to(**like)
    mla.q_proj.weight.copy_(q_weight)
    mla.kv_a_proj_with_mqa.weight.copy_(down)
    mla.kv_b_proj.weight.copy_(up.reshape(-1, config.kv_lora_rank))
    mla.o_proj.weight.copy_(w_o)
    return mla


def mla_as_mqa(module: MultiHeadLatentAttention, x: torch.Tensor
               ) -> tuple[torch.Tensor, dict[str, tuple[int, ...]]]:
    """Run ``module`` on ``x`` ``(B, T, D)`` written as multi-query attention (9.15).

    After absorption (9.8)-(9.9) every head compares its query
    ``[W^UK_i^T q^C_{t,i}; q^R_{t,i}]`` (width ``d_c + d_R``) with *one* key per position,
    ``[c_j; k^R_j]``, shared by all heads, and averages *one* value per position, ``c_j``
    (width ``d_c``): MQA with a single key/value head, keys ``d_c + d_R`` wide and values
    ``d_c`` wide, followed per head by ``W^UV_i`` and ``W^O``. Computed here with PyTorch's
    ``scaled_dot_product_attention`` on that single head. Returns the output ``(B, T, D)``,
    equal to ``module(x)`` up to rounding, and the shapes of the MQA queries, keys and values.
    """
    if not isinstance(module, MultiHeadLatentAttention):
        raise TypeError(f"module must be a MultiHeadLatentAttention, got {type(module).__name__}")
    _check_input(x, module.config.dim, None, LatentKVCache, _dtype_of(module.kv_b_proj))
    check_tensor("x", x)                                                   # no NaN or inf
    c = module.config
    b, t, _ = x.shape
    q_nope, q_rope = module._queries(x)                                    # (B, H, T, d_h|d_R)
    c_kv, k_rope = module._latents(x)                                      # (B, T, d_c|d_R)
    w_uk, w_uv = module.up_projections()                                   # (H, d_h|d_v, d_c)
    q = torch.cat([torch.einsum("bhtd,hdc->bhtc", q_nope, w_uk), q_rope], -1)  # (B, H, T, d_c + d_R)
    k = torch.cat([c_kv, k_rope], -1)[:, None]                             # (B, 1, T, d_c + d_R)
    v = c_kv[:, None]                                                      # (B, 1, T, d_c)
    o_latent = _sdpa_causal(q, k.expand(b, c.n_heads, t, -1), v.expand(b, c.n_heads, t, -1),
                            scale=module.softmax_scale)                    # (B, H, T, d_c)
    out = torch.einsum("bhtc,hvc->bhtv", o_latent, w_uv)                   # (B, H, T, d_v)
    out = module.o_proj(out.transpose(1, 2).reshape(b, t, c.n_heads * c.v_head_dim))
    return out, {"queries": tuple(q.shape), "keys": tuple(k.shape), "values": tuple(v.shape)}


# ----------------------------------------------------------------------------------------
# Incremental decoding
# ----------------------------------------------------------------------------------------
def decode_step_by_step(module: GroupedQueryAttention | MultiHeadLatentAttention,
                        x: torch.Tensor, *, prefill: int = 0, absorb: bool = False,
                        progress: bool = False) -> torch.Tensor:
    """Run ``x`` ``(B, T, D)`` through ``module`` as a decoder does: with a KV cache.

    The first ``prefill`` tokens go in one call (the prompt), then one token per call; the
    outputs are concatenated to ``(B, T, D)``, which equals ``module(x)`` up to rounding.
    ``absorb`` selects MLA's absorbed path (ignored by GQA modules).
    """
    check_instance("module", module, (GroupedQueryAttention, MultiHeadLatentAttention))
    weight = next(module.parameters())
    _check_input(x, module.config.dim, None, GroupedKVCache, weight.dtype)
    check_tensor("x", x)                                                   # no NaN or inf
    b, t, _ = x.shape
    check_int("prefill", prefill)
    if not 0 <= prefill < t:
        raise ValueError(f"prefill must be an integer in [0, T) with T = {t}, got {prefill!r}")
    check_bool("absorb", absorb)
    check_bool("progress", progress)
    cache = module.new_cache(b, t, dtype=x.dtype, device=x.device)
    kwargs = {"absorb": absorb} if isinstance(module, MultiHeadLatentAttention) else {}
    outs = [module(x[:, :prefill], cache, **kwargs)] if prefill else []
    steps = range(prefill, t)
    if progress:
        from ..progress import tqdm
        steps = tqdm(steps, desc="decoding")
    for i in steps:
        outs.append(module(x[:, i:i + 1], cache, **kwargs))
    return torch.cat(outs, dim=1)
