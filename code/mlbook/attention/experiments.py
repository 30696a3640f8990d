"""Chapter 9's experiments: the attention variants trained inside chapter 6's tiny LLaMA, and
MLA's decoding speed.

The heads themselves (:class:`~mlbook.attention.heads.GroupedQueryAttention`,
:class:`~mlbook.attention.heads.MultiHeadLatentAttention`, their caches and the cache-size
accounting) are in :mod:`mlbook.attention.heads`; this module puts them to work, so that
:mod:`mlbook.attention.heads` does not depend on the training loop. It holds

* :class:`SwappedAttention`, an adapter that lets a chapter-9 module stand where
  :class:`mlbook.llm.llama.LlamaDecoderLayer` calls its ``self_attn`` (it is *not* LLaMA's
  own attention, which is :class:`mlbook.llm.llama.LlamaAttention`);
* :func:`llama_with_attention`, the tiny LLaMA with every layer's attention replaced, and
  :func:`train_attention_variants` (with its record :class:`VariantRun`), which trains one
  such model per variant with chapter 6's :func:`mlbook.llm.train.train` on the same budget and
  data, comparing validation loss against KV-cache size (equations (9.5) and (9.12));
* :func:`mla_decode_seconds`, the wall-clock time of one decoding step of MLA with and
  without absorbing the up-projections (equations (9.8)-(9.9)).

Shapes as in :mod:`mlbook.attention.heads`: ``B`` batch, ``T`` tokens, ``D`` model width.
Bad input: every public function and class checks its arguments with :mod:`mlbook.checks`
(``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the argument).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..checks import (ArgumentTypeError, check_bool, check_instance, check_integer_seed,
                      check_list)
from ..llm.llama import LlamaConfig
from .heads import (AttentionConfig, GQAConfig, GroupedQueryAttention, MLAConfig,
                    MultiHeadLatentAttention, _positive_int, kv_cache_elements)

__all__ = [
    "SwappedAttention", "llama_with_attention", "VariantRun", "train_attention_variants",
    "mla_decode_seconds",
]


# ----------------------------------------------------------------------------------------
# The four variants inside chapter 6's tiny LLaMA
# ----------------------------------------------------------------------------------------
class SwappedAttention(nn.Module):
    """A chapter-9 attention module standing where chapter 6's decoder layer calls ``self_attn``.

    ``LlamaDecoderLayer`` calls ``self_attn(x, cos, sin, cache)`` with rotary tables of the
    model's head width; the modules of :mod:`mlbook.attention.heads` make their own (MLA's
    rotary part is only ``d_R`` wide), so ``cos`` and ``sin`` are not used. Training and
    full-sequence evaluation only: incremental decoding goes through the wrapped module's own
    cache. (Not LLaMA's own attention, which is :class:`mlbook.llm.llama.LlamaAttention`.)
    """

    def __init__(self, attention: GroupedQueryAttention | MultiHeadLatentAttention):
        super().__init__()
        check_instance("attention", attention, (GroupedQueryAttention, MultiHeadLatentAttention))
        self.attention = attention

    def forward(self, x: torch.Tensor, cos: torch.Tensor | None = None,
                sin: torch.Tensor | None = None, cache: Any = None) -> torch.Tensor:
        if cache is not None:
            raise ValueError("cache must be None: a swapped-in attention layer does not use the "
                             "LLaMA KVCache; decode with the module's own cache "
                             "(decode_step_by_step)")
        return self.attention(x)


def llama_with_attention(llama_config: Any, attention: AttentionConfig, *,
                         seed: int = 0) -> nn.Module:
    """Chapter 6's :class:`mlbook.llm.Llama` with every layer's attention replaced.

    Builds ``Llama(llama_config, seed=seed)`` and puts a freshly initialised
    :class:`GroupedQueryAttention` or :class:`MultiHeadLatentAttention` (weights normal with
    standard deviation 0.02 like the rest of the model, RMSNorm gains one, seeded) in each
    layer's ``self_attn``. The embeddings, SwiGLU blocks and norms are those of the plain
    model with the same seed, so variants differ only in their attention.
    ``attention.dim`` must equal ``llama_config.dim``.
    """
    from mlbook.llm import Llama

    check_instance("llama_config", llama_config, LlamaConfig)
    check_instance("attention", attention, (GQAConfig, MLAConfig))
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    if attention.dim != llama_config.dim:
        raise ValueError(f"attention.dim ({attention.dim}) must equal the model's dim "
                         f"({llama_config.dim})")
    model = Llama(llama_config, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    make: Callable[[], nn.Module] = (
        (lambda: MultiHeadLatentAttention(attention)) if isinstance(attention, MLAConfig)
        else (lambda: GroupedQueryAttention(attention)))
    for layer in model.model.layers:
        module = make()
        with torch.no_grad():
            for p in module.parameters():
                if p.dim() >= 2:
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
        layer.self_attn = SwappedAttention(module)
    return model


@dataclass
class VariantRun:
    """One attention variant trained inside the tiny LLaMA: what it caches and how it did."""

    name: str                     # e.g. "MHA", "GQA", "MQA", "MLA"
    config: AttentionConfig       # the attention of every layer
    kv_elements: int              # KV-cache elements per token per layer (9.5) / (9.12)
    n_parameters: int             # parameters of the whole model
    attention_parameters: int     # parameters of its attention layers
    history: Any                  # mlbook.llm.TrainHistory (losses in nats per token)

    @property
    def val_loss(self) -> float:
        """Validation loss at the end of training, nats per token."""
        return self.history.val_loss[-1]


def train_attention_variants(variants: dict[str, AttentionConfig], llama_config: Any,
                             train_ids: torch.Tensor, val_ids: torch.Tensor,
                             train_config: Any, *, seed: int = 0,
                             progress: bool = True) -> list[VariantRun]:
    """Train one :func:`llama_with_attention` model per variant with the same budget and data.

    Every model starts from the same seed (same embeddings and SwiGLU blocks) and sees the
    same batches in the same order (``train_config.seed``), so the runs differ only in
    their attention. Uses chapter 6's training loop :func:`mlbook.llm.train.train` (AdamW, cosine
    schedule, tqdm progress).
    """
    from mlbook.llm.train import train
    from mlbook.llm.train import TrainConfig, _check_stream

    check_instance("llama_config", llama_config, LlamaConfig)
    check_instance("variants", variants, dict, what="a dict {name: GQAConfig or MLAConfig}")
    if not variants:
        raise ValueError("variants must name at least one attention configuration")
    for name, config in variants.items():
        if not isinstance(config, (GQAConfig, MLAConfig)):
            raise ArgumentTypeError(f"variants[{name!r}]: expected a GQAConfig or MLAConfig, "
                                    f"got {type(config).__name__}")
        if config.dim != llama_config.dim:
            raise ValueError(f"variants[{name!r}].dim ({config.dim}) must equal the model's "
                             f"dim llama_config.dim ({llama_config.dim})")
    check_instance("train_config", train_config, TrainConfig)
    _check_stream("train_ids", train_ids, llama_config.vocab_size, train_config.seq_len)
    if val_ids is not None:
        _check_stream("val_ids", val_ids, llama_config.vocab_size, train_config.seq_len)
    if train_config.seq_len > llama_config.max_seq_len:
        raise ValueError(f"train_config.seq_len ({train_config.seq_len}) is longer than the "
                         f"model's context llama_config.max_seq_len ({llama_config.max_seq_len})")
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    check_bool("progress", progress)
    runs = []
    for name, config in variants.items():
        model = llama_with_attention(llama_config, config, seed=seed)
        attn = sum(p.numel() for layer in model.model.layers for p in layer.self_attn.parameters())
        if progress:
            print(f"{name}: {kv_cache_elements(config)} cached elements per token per layer")
        history = train(model, train_ids, val_ids, train_config, progress=progress)
        runs.append(VariantRun(name, config, kv_cache_elements(config),
                               sum(p.numel() for p in model.parameters()), attn, history))
    return runs


# ----------------------------------------------------------------------------------------
# Decoding speed: absorbed against explicit MLA
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def mla_decode_seconds(config: MLAConfig, context_lengths: list[int], *, repeats: int = 5,
                       batch_size: int = 1, seed: int = 0,
                       progress: bool = True) -> dict[str, list[float]]:
    """Median wall-clock seconds of one decoding step after ``n`` cached tokens, both ways.

    For each ``n`` in ``context_lengths`` a :class:`LatentKVCache` is filled with ``n``
    random (seeded) latents and rotary keys, then one new token is decoded ``repeats``
    times with ``absorb=False`` and with ``absorb=True`` (the cache is rewound after each
    step); one untimed step of each warms up. Returns ``{"context": [...], "explicit":
    [...], "absorbed": [...]}``, seconds per step (medians). Time is measured, never
    asserted: it depends on the machine and on what else runs on it.
    """
    import statistics
    import time

    from ..progress import tqdm

    check_instance("config", config, MLAConfig, what="an MLAConfig")
    _positive_int("repeats", repeats)
    _positive_int("batch_size", batch_size)
    context_lengths = check_list("context_lengths", context_lengths,
                                 what="a list of positive integers", item=_positive_int)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    check_bool("progress", progress)
    gen = torch.Generator().manual_seed(seed)
    module = MultiHeadLatentAttention(config).eval()
    for p in module.parameters():
        if p.dim() >= 2:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    out: dict[str, list[float]] = {"context": [], "explicit": [], "absorbed": []}
    for n in tqdm(context_lengths, desc="contexts", disable=not progress):
        cache = module.new_cache(batch_size, n + 1)
        cache.update(torch.randn(batch_size, n, config.kv_lora_rank, generator=gen),
                     torch.randn(batch_size, n, config.qk_rope_head_dim, generator=gen))
        x = torch.randn(batch_size, 1, config.dim, generator=gen)
        out["context"].append(n)
        for absorb in (False, True):
            times = []
            for r in range(repeats + 1):
                start = time.perf_counter()
                module(x, cache, absorb=absorb)
                elapsed = time.perf_counter() - start
                cache.length = n                      # rewind: the next repeat sees the same n
                if r:                                 # the first step warms up
                    times.append(elapsed)
            out["absorbed" if absorb else "explicit"].append(statistics.median(times))
    return out
