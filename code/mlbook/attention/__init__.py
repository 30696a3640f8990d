"""Efficient attention: the code behind chapters 9 and 10.

==============================  ===============================================================
module                          what it holds
==============================  ===============================================================
:mod:`mlbook.attention.heads`   chapter 9: MHA / GQA / MQA (:class:`GroupedQueryAttention`) and
                                DeepSeek-V2's MLA (:class:`MultiHeadLatentAttention`, Hugging
                                Face parameter names) with KV caches and the absorbed decode
                                path, KV-cache sizes per token, GQA/MQA built as MLA and MLA
                                run as MQA, the variants inside the tiny LLaMA
:mod:`mlbook.attention.flash`   chapter 10: online softmax, FlashAttention's tiled forward and
                                backward (with an HBM traffic counter and in-kernel
                                dropout), Flash-Decoding, standard attention, IO counts and
                                bounds, peak-memory measurement
==============================  ===============================================================
"""

from .heads import (
    DEEPSEEK_67B_GQA, DEEPSEEK_V2_MHA, DEEPSEEK_V2_MLA, LLAMA2_7B_MHA, LLAMA2_70B_GQA,
    GQAConfig, GroupedKVCache, GroupedQueryAttention, LatentKVCache, LlamaSelfAttention,
    MLAConfig, MultiHeadLatentAttention, VariantRun, apply_rope_pairs, decode_step_by_step,
    dtype_bits, kv_cache_bytes, kv_cache_elements, llama_with_attention, longest_context,
    mean_pool_kv_heads, mla_as_mqa, mla_decode_seconds, mla_from_gqa, train_attention_variants)
from .flash import (
    FlashAttentionFunction, IOCounter, TileStep, attention_peak_memory, block_sizes,
    dropout_mask, flash_decoding, merge_attention_partials,
    flash_attention, flash_attention_backward, flash_attention_forward, flash_attention_io,
    flash_io_bound, naive_softmax, online_softmax, online_softmax_trace, peak_rss_increase,
    safe_softmax, sram_footprint, standard_attention, standard_attention_backward,
    standard_attention_io, standard_io_bound, tile_schedule, tile_steps)

__all__ = [
    "DEEPSEEK_67B_GQA", "DEEPSEEK_V2_MHA", "DEEPSEEK_V2_MLA", "LLAMA2_7B_MHA", "LLAMA2_70B_GQA",
    "GQAConfig", "GroupedKVCache", "GroupedQueryAttention", "LatentKVCache",
    "LlamaSelfAttention", "MLAConfig", "MultiHeadLatentAttention", "VariantRun",
    "apply_rope_pairs", "decode_step_by_step", "dtype_bits", "kv_cache_bytes",
    "kv_cache_elements", "llama_with_attention", "longest_context", "mean_pool_kv_heads",
    "mla_as_mqa", "mla_decode_seconds", "mla_from_gqa", "train_attention_variants",
    "FlashAttentionFunction", "IOCounter", "TileStep", "attention_peak_memory", "block_sizes",
    "dropout_mask", "flash_decoding", "merge_attention_partials",
    "flash_attention", "flash_attention_backward", "flash_attention_forward",
    "flash_attention_io", "flash_io_bound", "naive_softmax", "online_softmax",
    "online_softmax_trace", "peak_rss_increase", "safe_softmax", "sram_footprint",
    "standard_attention", "standard_attention_backward", "standard_attention_io",
    "standard_io_bound", "tile_schedule", "tile_steps",
]
