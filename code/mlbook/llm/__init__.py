"""Large language models: the code behind chapters 6-9.

==================================  ======================================================
module                              what it holds
==================================  ======================================================
:mod:`mlbook.llm.llama`             :class:`LlamaConfig`, :class:`Llama` (Hugging Face
                                    parameter names), RMSNorm, RoPE in both layouts,
                                    grouped-query attention, :class:`KVCache`, sampling
                                    (:func:`generate`, :func:`generate_grouped`),
                                    parameter counts
:mod:`mlbook.llm.data`              the ``pydoc_data`` corpus, :class:`BPETokenizer`, a
                                    readable toy BPE, batches and data-parallel shards
:mod:`mlbook.llm.train`             the training loop (AdamW, cosine schedule, DDP-ready),
                                    checkpoints, :func:`pretrained_tiny_llama` (trained
                                    once, cached on disk)
:mod:`mlbook.llm.scaling`           ``6ND``, the Chinchilla loss fit, LLaMA's published
                                    budgets, the memory of training (16 bytes per
                                    parameter, ZeRO)
:mod:`mlbook.llm.tasks`             chapter 7: the Alpaca prompt format, the book's task
                                    families (the "teacher" program), held-out contents
:mod:`mlbook.llm.self_instruct`     chapter 7: ROUGE-L, Alpaca's instruction filters,
                                    self-instruct
:mod:`mlbook.llm.lora`              chapter 7: LoRA adapters for any ``nn.Linear``, merging,
                                    parameter counts
:mod:`mlbook.llm.instruct`          chapter 7: prompt-masked SFT (sharing the prompt prefix
                                    of a batch), exact match and its evaluation,
                                    :func:`sft_tiny_llama` (fine-tuned once, cached)
:mod:`mlbook.llm.dpo`               chapter 8: the DPO and IPO losses, implicit rewards,
                                    preference pairs, :func:`train_dpo` with a frozen
                                    reference
:mod:`mlbook.llm.dpo_bandit`        chapter 8: the bandit with its closed-form optimum,
                                    Bradley-Terry, and the two-stage RLHF route
==================================  ======================================================

Each name is defined in one module and re-exported here; a submodule is never hidden by a
re-exported function of the same name (``mlbook.llm.train`` is the module, its training
loop is ``mlbook.llm.train.train``; ``mlbook.llm.self_instruct`` is the module, its
function ``mlbook.llm.self_instruct.self_instruct``).

Later chapters start from the cached tiny LLaMA::

    from mlbook.llm import pretrained_tiny_llama
    tiny = pretrained_tiny_llama()          # trains once (about a minute), then loads
    tiny.model, tiny.tokenizer, tiny.data   # a Llama, a BPETokenizer, the token streams
"""

from .data import (BPETokenizer, CorpusData, apply_bpe, build_corpus, corpus_documents,
                   get_batch, learn_bpe, shard, unigram_cross_entropy)
from .llama import (LLAMA_SIZES, PUBLISHED_PARAMETERS, KVCache, Llama, LlamaConfig,
                    causal_lm_loss, count_parameters, generate, generate_grouped,
                    parameter_breakdown, sample_next_token)
from .train import (TINY_LLAMA, TINY_TRAIN, PretrainedTinyLlama, TrainConfig, TrainHistory,
                    load_checkpoint, pretrained_tiny_llama, save_checkpoint)
from .tasks import (ALPACA_PROMPT_NO_INPUT, ALPACA_PROMPT_WITH_INPUT, TASK_FAMILIES, Example,
                    format_prompt, make_examples)
from .self_instruct import rouge_l
from .lora import LoRALinear, apply_lora, merge_lora
from .instruct import InstructionDataset, exact_match, finetune, sft_tiny_llama
from .dpo import (DPOConfig, DPOHistory, PreferencePair, dpo_loss, encode_pairs,
                  implicit_rewards, make_preference_pairs, train_dpo)
from .dpo_bandit import kl_optimal_policy, train_dpo_bandit

__all__ = [
    "BPETokenizer", "CorpusData", "apply_bpe", "build_corpus", "corpus_documents", "get_batch",
    "learn_bpe", "shard", "unigram_cross_entropy", "LLAMA_SIZES", "PUBLISHED_PARAMETERS",
    "KVCache", "Llama", "LlamaConfig", "causal_lm_loss", "count_parameters", "generate",
    "generate_grouped", "parameter_breakdown", "sample_next_token", "TINY_LLAMA", "TINY_TRAIN",
    "PretrainedTinyLlama", "TrainConfig", "TrainHistory", "load_checkpoint",
    "pretrained_tiny_llama", "save_checkpoint",
    "ALPACA_PROMPT_WITH_INPUT", "ALPACA_PROMPT_NO_INPUT", "format_prompt", "Example",
    "TASK_FAMILIES", "make_examples", "rouge_l", "LoRALinear", "apply_lora", "merge_lora",
    "InstructionDataset", "finetune", "exact_match", "sft_tiny_llama",
    "DPOConfig", "DPOHistory", "PreferencePair", "dpo_loss", "encode_pairs",
    "implicit_rewards", "make_preference_pairs", "train_dpo", "kl_optimal_policy",
    "train_dpo_bandit",
]
