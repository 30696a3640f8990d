"""Efficient attention: the code behind chapters 9 and 10.

=====================================  ========================================================
module                                 what it holds
=====================================  ========================================================
:mod:`mlbook.attention.heads`          chapter 9: MHA / GQA / MQA (:class:`GroupedQueryAttention`)
                                       and DeepSeek-V2's MLA (:class:`MultiHeadLatentAttention`,
                                       Hugging Face parameter names) with KV caches and the
                                       absorbed decode path, KV-cache sizes per token, GQA/MQA
                                       built as MLA and MLA run as MQA
:mod:`mlbook.attention.experiments`    chapter 9's experiments: the variants swapped into the
                                       tiny LLaMA (:class:`SwappedAttention`) and trained,
                                       MLA's decoding time with and without absorption
:mod:`mlbook.attention.flash`          chapter 10: online softmax, FlashAttention's tiled
                                       forward and backward (with in-kernel dropout),
                                       Flash-Decoding, standard attention, the peak-memory
                                       experiment
:mod:`mlbook.attention.io`             chapter 10: the HBM traffic counter (:class:`IOCounter`),
                                       block sizes and tile order, IO counts without running
                                       and the bounds of Theorem 2
=====================================  ========================================================

Every public name of these modules is re-exported here, and chapters import it from here;
:func:`peak_rss_increase` lives in :mod:`mlbook.memory` (not attention-specific) and is
re-exported here too, for chapter 10.
"""

from .heads import (
    DEEPSEEK_67B_GQA, DEEPSEEK_V2_MHA, DEEPSEEK_V2_MLA, LLAMA2_7B_MHA, LLAMA2_70B_GQA,
    GQAConfig, GroupedKVCache, GroupedQueryAttention, LatentKVCache, MLAConfig,
    MultiHeadLatentAttention, apply_rope_pairs, decode_step_by_step, dtype_bits,
    kv_cache_bytes, kv_cache_elements, longest_context, mean_pool_kv_heads, mla_as_mqa,
    mla_from_gqa)
from .experiments import (
    SwappedAttention, VariantRun, llama_with_attention, mla_decode_seconds,
    train_attention_variants)
from .flash import (
    FlashAttentionFunction, attention_peak_memory, dropout_mask, flash_decoding,
    merge_attention_partials, flash_attention, flash_attention_backward,
    flash_attention_forward, forward_kv_outer, forward_q_outer, naive_softmax, online_softmax,
    online_softmax_trace, safe_softmax, standard_attention, standard_attention_backward)
from .io import (
    IOCounter, TileStep, block_sizes, flash_attention_io, flash_io_bound, sram_footprint,
    standard_attention_io, standard_io_bound, tile_schedule, tile_steps)
from ..memory import peak_rss_increase

__all__ = [
    "DEEPSEEK_67B_GQA", "DEEPSEEK_V2_MHA", "DEEPSEEK_V2_MLA", "LLAMA2_7B_MHA", "LLAMA2_70B_GQA",
    "GQAConfig", "GroupedKVCache", "GroupedQueryAttention", "LatentKVCache",
    "SwappedAttention", "MLAConfig", "MultiHeadLatentAttention", "VariantRun",
    "apply_rope_pairs", "decode_step_by_step", "dtype_bits", "kv_cache_bytes",
    "kv_cache_elements", "llama_with_attention", "longest_context", "mean_pool_kv_heads",
    "mla_as_mqa", "mla_decode_seconds", "mla_from_gqa", "train_attention_variants",
    "FlashAttentionFunction", "IOCounter", "TileStep", "attention_peak_memory", "block_sizes",
    "dropout_mask", "flash_decoding", "merge_attention_partials",
    "flash_attention", "flash_attention_backward", "flash_attention_forward",
    "forward_kv_outer", "forward_q_outer",
    "flash_attention_io", "flash_io_bound", "naive_softmax", "online_softmax",
    "online_softmax_trace", "peak_rss_increase", "safe_softmax", "sram_footprint",
    "standard_attention", "standard_attention_backward", "standard_attention_io",
    "standard_io_bound", "tile_schedule", "tile_steps",
]
