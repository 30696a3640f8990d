"""Efficient attention: the code behind chapters 9 and 10.

==============================  ===============================================================
module                          what it holds
==============================  ===============================================================
:mod:`mlbook.attention.flash`   chapter 10: online softmax, FlashAttention's tiled forward and
                                backward (with an HBM traffic counter), standard attention,
                                IO counts and bounds, peak-memory measurement
==============================  ===============================================================
"""

from .flash import (
    FlashAttentionFunction, IOCounter, TileStep, attention_peak_memory, block_sizes,
    flash_attention, flash_attention_backward, flash_attention_forward, flash_attention_io,
    flash_io_bound, naive_softmax, online_softmax, online_softmax_trace, peak_rss_increase,
    safe_softmax, sram_footprint, standard_attention, standard_attention_backward,
    standard_attention_io, standard_io_bound, tile_schedule, tile_steps)

__all__ = [
    "FlashAttentionFunction", "IOCounter", "TileStep", "attention_peak_memory", "block_sizes",
    "flash_attention", "flash_attention_backward", "flash_attention_forward",
    "flash_attention_io", "flash_io_bound", "naive_softmax", "online_softmax",
    "online_softmax_trace", "peak_rss_increase", "safe_softmax", "sram_footprint",
    "standard_attention", "standard_attention_backward", "standard_attention_io",
    "standard_io_bound", "tile_schedule", "tile_steps",
]
