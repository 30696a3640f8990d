"""Large language models: the code behind chapters 6-9.

=============================  ===========================================================
module                         what it holds
=============================  ===========================================================
:mod:`mlbook.llm.llama`        :class:`LlamaConfig`, :class:`Llama` (Hugging Face parameter
                               names), RMSNorm, RoPE in both layouts, grouped-query
                               attention, :class:`KVCache`, sampling, parameter counts
:mod:`mlbook.llm.data`         the ``pydoc_data`` corpus, :class:`BPETokenizer`, a readable
                               toy BPE, batches and data-parallel shards
:mod:`mlbook.llm.train`        the training loop (AdamW, cosine schedule, DDP-ready),
                               checkpoints, :func:`pretrained_tiny_llama` (trained once,
                               cached on disk)
:mod:`mlbook.llm.scaling`      ``6ND``, the Chinchilla loss fit, LLaMA's published budgets,
                               the memory of training (16 bytes per parameter, ZeRO)
:mod:`mlbook.llm.instruct`     chapter 7: the Alpaca prompt format, ROUGE-L, self-instruct
                               with the book's task families, prompt-masked SFT, LoRA,
                               exact match, :func:`sft_tiny_llama` (fine-tuned once, cached)
:mod:`mlbook.llm.dpo`          chapter 8: the DPO loss and implicit rewards, the bandit
                               with its closed-form optimum (and the two-stage RLHF route),
                               preference pairs, :func:`train_dpo` with a frozen reference
=============================  ===========================================================

Later chapters start from the cached tiny LLaMA::

    from mlbook.llm import pretrained_tiny_llama
    tiny = pretrained_tiny_llama()          # trains once (about a minute), then loads
    tiny.model, tiny.tokenizer, tiny.data   # a Llama, a BPETokenizer, the token streams
"""

from .data import (BPETokenizer, CorpusData, apply_bpe, build_corpus, corpus_documents,
                   get_batch, learn_bpe, shard, unigram_cross_entropy)
from .llama import (LLAMA_SIZES, PUBLISHED_PARAMETERS, KVCache, Llama, LlamaConfig,
                    causal_lm_loss, count_parameters, generate, parameter_breakdown,
                    sample_next_token)
from .instruct import (ALPACA_PROMPT_NO_INPUT, ALPACA_PROMPT_WITH_INPUT, TASK_FAMILIES,
                       Example, InstructionDataset, LoRALinear, apply_lora, exact_match,
                       finetune, format_prompt, make_examples, merge_lora, rouge_l,
                       self_instruct, sft_tiny_llama)
from .dpo import (DPOConfig, DPOHistory, PreferencePair, dpo_loss, encode_pairs,
                  implicit_rewards, kl_optimal_policy, make_preference_pairs, train_dpo,
                  train_dpo_bandit)
from .train import (TINY_LLAMA, TINY_TRAIN, PretrainedTinyLlama, TrainConfig, TrainHistory,
                    load_checkpoint, pretrained_tiny_llama, save_checkpoint, train)

__all__ = [
    "BPETokenizer", "CorpusData", "apply_bpe", "build_corpus", "corpus_documents", "get_batch",
    "learn_bpe", "shard", "unigram_cross_entropy", "LLAMA_SIZES", "PUBLISHED_PARAMETERS",
    "KVCache", "Llama", "LlamaConfig", "causal_lm_loss", "count_parameters", "generate",
    "parameter_breakdown", "sample_next_token", "TINY_LLAMA", "TINY_TRAIN",
    "PretrainedTinyLlama", "TrainConfig", "TrainHistory", "load_checkpoint",
    "pretrained_tiny_llama", "save_checkpoint", "train",
    "ALPACA_PROMPT_WITH_INPUT", "ALPACA_PROMPT_NO_INPUT", "format_prompt", "Example",
    "TASK_FAMILIES", "make_examples", "self_instruct", "rouge_l", "InstructionDataset",
    "LoRALinear", "apply_lora", "merge_lora", "finetune", "exact_match", "sft_tiny_llama",
    "DPOConfig", "DPOHistory", "PreferencePair", "dpo_loss", "encode_pairs",
    "implicit_rewards", "kl_optimal_policy", "make_preference_pairs", "train_dpo",
    "train_dpo_bandit",
]
