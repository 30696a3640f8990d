"""Vision-language models: the code behind chapter 11 (Kimi-VL).

==============================  =============================================================
module                          what it holds
==============================  =============================================================
:mod:`mlbook.vlm.moonvit`       MoonViT at native resolution: patches, packing with attention
                                kept inside each image (mask or per-image lengths), 2D RoPE,
                                interpolated absolute position embeddings; token counts
:mod:`mlbook.vlm.projector`     2 x 2 pixel shuffle and its inverse, Kimi-VL's MLP projector
:mod:`mlbook.vlm.moe`           the DeepSeek-V3 / Moonlight MoE layer (router, top-k, shared
                                experts, auxiliary loss, loss-free bias), parameter counts of
                                a layer and of Moonlight, the load-balancing experiment
:mod:`mlbook.vlm.model`         the tiny VLM (MoonViT + projector + chapter 6's LLaMA with MoE
                                layers), questions about digits, training and evaluation
==============================  =============================================================
"""

from .model import (QUESTIONS, TINY_VLM, TinyVLM, VisionHistory, VLMConfig, VLMHistory, VQABatch,
                    VQAExample, WordVocab, collate, digit_pools, evaluate_vlm, make_digit_vqa,
                    make_vocab, predict_answers, pretrain_vision, render_example, train_vlm,
                    vlm_parameter_counts)
from .moe import (KIMI_VL_PUBLISHED, MOONLIGHT, BalanceRun, MoE, MoEClassifier, MoEConfig,
                  MoELanguageModelSizes, RouterOutput, SwiGLUExpert, TopKRouter, max_violation,
                  moe_layer_parameter_counts, moe_lm_parameter_counts, step_violations,
                  steps_to_balance, to_transformers_state_dict, train_balancing_demo)
from .moonvit import (KIMI_VL_MOONVIT, MoonViT, MoonViTConfig, PackedImages, VarlenGroups,
                      apply_rope_2d, block_diagonal_mask, cu_seqlens, grid_positions,
                      pack_images, pad_to_multiple, patch_grid, patchify, rope_2d_angles,
                      rope_2d_cos_sin, rotate_pairs, sequence_lengths, token_counts,
                      unpatchify, varlen_attention)
from .projector import (MLPProjector, merged_grid_hws, pixel_shuffle, pixel_unshuffle,
                        projector_parameters)

__all__ = [
    "QUESTIONS", "TINY_VLM", "TinyVLM", "VisionHistory", "VLMConfig", "VLMHistory", "VQABatch",
    "VQAExample", "WordVocab", "collate", "digit_pools", "evaluate_vlm", "make_digit_vqa",
    "make_vocab", "predict_answers", "pretrain_vision", "render_example", "train_vlm",
    "vlm_parameter_counts",
    "KIMI_VL_PUBLISHED", "MOONLIGHT", "BalanceRun", "MoE", "MoEClassifier", "MoEConfig",
    "MoELanguageModelSizes", "RouterOutput", "SwiGLUExpert", "TopKRouter", "max_violation",
    "moe_layer_parameter_counts", "moe_lm_parameter_counts", "to_transformers_state_dict",
    "train_balancing_demo", "step_violations", "steps_to_balance",
    "KIMI_VL_MOONVIT", "MoonViT", "MoonViTConfig", "PackedImages", "VarlenGroups",
    "apply_rope_2d", "block_diagonal_mask", "cu_seqlens", "grid_positions", "pack_images",
    "pad_to_multiple", "patch_grid", "patchify", "rope_2d_angles", "rope_2d_cos_sin",
    "rotate_pairs", "sequence_lengths",
    "token_counts", "unpatchify", "varlen_attention",
    "MLPProjector", "merged_grid_hws", "pixel_shuffle", "pixel_unshuffle",
    "projector_parameters",
]
