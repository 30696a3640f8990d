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
:mod:`mlbook.llm.scaling`      ``6ND``, the Chinchilla loss fit, LLaMA's published budgets
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
from .train import (TINY_LLAMA, TINY_TRAIN, PretrainedTinyLlama, TrainConfig, TrainHistory,
                    load_checkpoint, pretrained_tiny_llama, save_checkpoint, train)

__all__ = [
    "BPETokenizer", "CorpusData", "apply_bpe", "build_corpus", "corpus_documents", "get_batch",
    "learn_bpe", "shard", "unigram_cross_entropy", "LLAMA_SIZES", "PUBLISHED_PARAMETERS",
    "KVCache", "Llama", "LlamaConfig", "causal_lm_loss", "count_parameters", "generate",
    "parameter_breakdown", "sample_next_token", "TINY_LLAMA", "TINY_TRAIN",
    "PretrainedTinyLlama", "TrainConfig", "TrainHistory", "load_checkpoint",
    "pretrained_tiny_llama", "save_checkpoint", "train",
]
