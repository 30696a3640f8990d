"""Text, tokenizer and batches for the tiny LLaMA (chapter 6; reused by chapters 7-9).

* The corpus is the documentation Python ships inside its standard library:
  ``pydoc_data.topics``, the text ``help("if")`` prints (79 topics, about 0.5 MB). Nothing is
  downloaded. The text differs a little between Python versions, so anything cached from
  it is keyed by :func:`corpus_fingerprint`.
* :class:`BPETokenizer` is a byte-level BPE tokenizer (Sennrich et al., 2016; the byte-level
  variant of GPT-2) trained with Hugging Face ``tokenizers``. Like LLaMA's tokenizer it can
  encode any string (every byte is in the vocabulary, the job byte-fallback does in
  SentencePiece) and it splits numbers into single digits.
* :func:`learn_bpe` is a slow, readable BPE on a toy string, to watch the merges happen
  (equation (6.3) of the chapter: merge the most frequent adjacent pair).
* :func:`get_batch` draws random windows for next-token prediction, and :func:`shard`
  gives each process of a distributed run its slice of the same global batch.

Bad input: public functions check their arguments with :mod:`mlbook.checks` (``ValueError``, or
``TypeError`` for a value of the wrong kind, naming the argument). A string is never read as
a list of texts or of merges, and token ids are checked against the vocabulary.
"""

from __future__ import annotations

import collections
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import (ArgumentTypeError, check_array, check_bool, check_count, check_instance,
                      check_int, check_integer_seed, check_list, check_number, check_tensor,
                      check_token_ids)

__all__ = [
    "corpus_documents", "corpus_fingerprint", "split_documents", "BPETokenizer",
    "encode_documents", "CorpusData", "build_corpus", "get_batch", "shard",
    "unigram_cross_entropy", "BPEStep", "learn_bpe", "apply_bpe",
]

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]   # ids 0, 1, 2 as in LLaMA's tokenizer


# ----------------------------------------------------------------------------------------
# The corpus
# ----------------------------------------------------------------------------------------
def corpus_documents() -> dict[str, str]:
    """The ``pydoc_data`` help topics, ``{topic name: text}``, sorted by name.

    Each text is what ``help(topic)`` prints: the Python Language Reference's section on
    that topic (statements, operators, data model, ...), plain text with reST underlines.
    """
    from pydoc_data import topics

    return {name: topics.topics[name].strip() + "\n" for name in sorted(topics.topics)}


def _check_documents(documents: Any) -> dict[str, str]:
    """A dict ``{name: text}`` of strings."""
    check_instance("documents", documents, dict, what="a dict {name: text}")
    for name, text in documents.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ArgumentTypeError(f"documents must map names (str) to texts (str), got "
                                    f"{name!r:.30}: {type(text).__name__}")
    return documents


def _check_text(name: str, text: Any) -> str:
    if not isinstance(text, str):
        raise ArgumentTypeError(f"{name} must be a str, got {text!r:.60} of type "
                                f"{type(text).__name__}")
    return text


def _check_merge(name: str, pair: Any) -> tuple[str, str]:
    """One learnt merge: a pair (tuple or list) of two strings, returned as a tuple."""
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(x, str) for x in pair)):
        raise ArgumentTypeError(f"{name} must be a pair of strings, got {pair!r:.40}")
    return tuple(pair)


def corpus_fingerprint(documents: dict[str, str] | None = None) -> str:
    """A short SHA-256 of the corpus text (it changes with the Python version)."""
    documents = corpus_documents() if documents is None else _check_documents(documents)
    h = hashlib.sha256()
    for name, text in documents.items():
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:16]


def split_documents(documents: dict[str, str], val_fraction: float = 0.1,
                    seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Hold out whole topics for validation: about ``val_fraction`` of the characters.

    Topics are shuffled with ``seed`` and taken for validation until their characters reach
    ``val_fraction`` of the total; the rest are for training. Whole documents, not a cut in
    the middle of one, so validation text is text the model has never seen.
    ``seed``: a non-negative integer, or ``None`` for fresh randomness.
    """
    _check_documents(documents)
    check_number("val_fraction", val_fraction, minimum=0.0, maximum=1.0,
                 exclusive_minimum=True, exclusive_maximum=True)
    seed = check_integer_seed("seed", seed)
    if len(documents) < 2:
        raise ValueError("need at least two documents to split into training and validation")
    names = list(documents)
    random.Random(seed).shuffle(names)
    total = sum(len(t) for t in documents.values())
    val, size = [], 0
    for name in names[:-1]:
        if size >= val_fraction * total:
            break
        val.append(name)
        size += len(documents[name])
    train = {n: t for n, t in documents.items() if n not in val}
    return train, {n: documents[n] for n in documents if n in val}


# ----------------------------------------------------------------------------------------
# Byte-level BPE tokenizer (Hugging Face tokenizers)
# ----------------------------------------------------------------------------------------
class BPETokenizer:
    """A byte-level BPE tokenizer: ``encode(str) -> list[int]``, ``decode(list[int]) -> str``.

    Ids 0, 1, 2 are ``<unk>``, ``<s>`` (beginning of sequence) and ``</s>`` (end of
    sequence), as in LLaMA. Train one with :meth:`train`; save and restore it with
    :meth:`to_str` / :meth:`from_str`. The underlying ``tokenizers.Tokenizer`` is ``.hf``.
    """

    def __init__(self, hf_tokenizer):
        from tokenizers import Tokenizer

        check_instance("hf_tokenizer", hf_tokenizer, Tokenizer, what="a tokenizers.Tokenizer")
        self.hf = hf_tokenizer
        self.unk_id, self.bos_id, self.eos_id = (hf_tokenizer.token_to_id(t) for t in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: list[str], vocab_size: int = 2048) -> "BPETokenizer":
        """Learn ``vocab_size - 259`` merges on ``texts`` (256 bytes + 3 special tokens first)."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        _check_vocab_size(vocab_size)
        texts = check_list("texts", texts, what="a list of texts to train the tokenizer on",
                           item=_check_text)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),           # 2023 -> 2 0 2 3
            pre_tokenizers.ByteLevel(add_prefix_space=False),        # bytes, GPT-2 word split
        ])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``, optionally framed by ``<s>`` and ``</s>``."""
        _check_text("text", text)
        check_bool("bos", bos)
        check_bool("eos", eos)
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids, *, skip_special_tokens: bool = True) -> str:
        """The text of ``ids`` (a list or a 1-D tensor of token ids in ``[0, vocab_size)``)."""
        check_bool("skip_special_tokens", skip_special_tokens)
        if isinstance(ids, torch.Tensor):
            check_token_ids("ids", ids, self.vocab_size, ndim=1, min_size=0)
            ids = ids.tolist()
        else:
            check_array("ids", ids, integer=True, ndim=1, min_size=0, minimum=0,
                        maximum=self.vocab_size - 1)
        return self.hf.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def pieces(self, text: str) -> list[str]:
        """The text each token of ``text`` stands for (readable, unlike the byte symbols)."""
        _check_text("text", text)
        return [self.decode([i], skip_special_tokens=False) for i in self.encode(text)]

    def to_str(self) -> str:
        return self.hf.to_str()

    @classmethod
    def from_str(cls, text: str) -> "BPETokenizer":
        from tokenizers import Tokenizer

        _check_text("text", text)
        try:
            hf = Tokenizer.from_str(text)
        except Exception as error:   # tokenizers raises its own Exception subclass
            raise ValueError(f"text is not a serialised tokenizer (BPETokenizer.to_str()): "
                             f"{error}") from None
        return cls(hf)


def _check_vocab_size(vocab_size: Any) -> int:
    check_int("vocab_size", vocab_size)
    if vocab_size < 260:
        raise ValueError(f"vocab_size must be an integer >= 260 (256 bytes, 3 special "
                         f"tokens and at least one merge), got {vocab_size!r}")
    return vocab_size


def encode_documents(tokenizer: BPETokenizer, documents: dict[str, str]) -> torch.Tensor:
    """One long 1-D ``int64`` tensor: ``<s> doc </s> <s> doc </s> ...`` in the given order."""
    check_instance("tokenizer", tokenizer, BPETokenizer)
    _check_documents(documents)
    ids: list[int] = []
    for text in documents.values():
        ids += tokenizer.encode(text, bos=True, eos=True)
    return torch.tensor(ids, dtype=torch.long)


@dataclass
class CorpusData:
    """The tokenizer and the token streams the tiny LLaMA trains and is validated on."""

    tokenizer: BPETokenizer
    train_ids: torch.Tensor                      # (N_train,) int64
    val_ids: torch.Tensor                        # (N_val,) int64
    train_docs: dict[str, str] = field(repr=False)
    val_docs: dict[str, str] = field(repr=False)
    fingerprint: str = ""                        # corpus_fingerprint() of the text

    def __repr__(self) -> str:
        return (f"CorpusData(vocab_size={self.tokenizer.vocab_size}, "
                f"train={len(self.train_docs)} topics / {self.train_ids.numel():,} tokens, "
                f"val={len(self.val_docs)} topics / {self.val_ids.numel():,} tokens)")


def build_corpus(vocab_size: int = 2048, val_fraction: float = 0.1, seed: int = 0,
                 tokenizer: BPETokenizer | None = None) -> CorpusData:
    """Split the ``pydoc_data`` topics, train the tokenizer on the training topics only,
    and encode both sides. Pass ``tokenizer`` to reuse one (``vocab_size`` is then ignored)."""
    _check_vocab_size(vocab_size)
    check_number("val_fraction", val_fraction, minimum=0.0, maximum=1.0,
                 exclusive_minimum=True, exclusive_maximum=True)
    check_integer_seed("seed", seed)
    if tokenizer is not None:
        check_instance("tokenizer", tokenizer, BPETokenizer, what="a BPETokenizer or None")
    documents = corpus_documents()
    train_docs, val_docs = split_documents(documents, val_fraction, seed)
    if tokenizer is None:
        tokenizer = BPETokenizer.train(list(train_docs.values()), vocab_size)
    return CorpusData(tokenizer, encode_documents(tokenizer, train_docs),
                      encode_documents(tokenizer, val_docs), train_docs, val_docs,
                      corpus_fingerprint(documents))


# ----------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------
def get_batch(ids: torch.Tensor, batch_size: int, seq_len: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of a token stream: inputs ``x`` and targets ``y`` shifted by one.

    ``ids``: ``(N,)``. Returns ``x, y`` of shape ``(batch_size, seq_len)`` with
    ``y[b, t] = x[b, t + 1]`` in the stream.
    """
    check_tensor("ids", ids, ndim=1, dtype="int", min_size=0, layout="(N,)")
    check_count("batch_size", batch_size)
    check_count("seq_len", seq_len)
    if generator is not None:
        check_instance("generator", generator, torch.Generator, what="a torch.Generator or None")
    if ids.numel() < seq_len + 1:
        raise ValueError(f"ids: the stream has {ids.numel()} tokens, fewer than seq_len + 1 = "
                         f"{seq_len + 1}")
    starts = torch.randint(0, ids.numel() - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len + 1)
    windows = ids[starts[:, None] + offsets[None, :]]                  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rows ``rank * B/W .. (rank + 1) * B/W - 1`` of a global batch ``(B, ...)``.

    Every process draws the same global batch (same seed) and keeps its own slice, so a
    run on ``W`` processes sees exactly the examples a one-process run would.
    """
    check_tensor("batch", batch, dtype=None, finite=False, layout="(B, ...)")
    if batch.dim() < 1:
        raise ValueError(f"batch must have a batch axis (B, ...), got a 0-D tensor")
    check_count("world_size", world_size)
    check_int("rank", rank)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    if batch.shape[0] % world_size:
        raise ValueError(f"batch: a global batch of {batch.shape[0]} rows does not split "
                         f"evenly over world_size = {world_size} processes")
    per = batch.shape[0] // world_size
    return batch[rank * per:(rank + 1) * per]


def unigram_cross_entropy(train_ids: torch.Tensor, val_ids: torch.Tensor,
                          vocab_size: int) -> float:
    """Validation cross-entropy (nats/token) of the best context-free model: token
    frequencies counted on the training stream, add-one smoothed.

    A language model that has learnt anything about context must beat this number.
    """
    check_count("vocab_size", vocab_size)
    check_token_ids("train_ids", train_ids, vocab_size, ndim=1)
    check_token_ids("val_ids", val_ids, vocab_size, ndim=1)
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1.0
    log_probs = counts.log() - counts.sum().log()
    return float(-log_probs[val_ids].mean())


# ----------------------------------------------------------------------------------------
# A readable BPE, for watching merges on a toy string
# ----------------------------------------------------------------------------------------
@dataclass
class BPEStep:
    """One merge: the pair that was most frequent, how often it occurred, and the result."""

    pair: tuple[str, str]
    count: int
    tokens: list[str]           # the whole toy text, segmented after this merge


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def _words(text: str) -> list[str]:
    """Split into words, each keeping the space in front of it (as GPT-2 and LLaMA do)."""
    words, current = [], ""
    for ch in text:
        if ch == " " and current.strip():
            words.append(current)
            current = ch
        else:
            current += ch
    if current:
        words.append(current)
    return words


def learn_bpe(text: str, num_merges: int) -> list[BPEStep]:
    """Byte-pair encoding in its textbook form (6.3), on characters.

    Start from single characters; ``num_merges`` times, count every adjacent pair of
    symbols inside words and merge the most frequent one everywhere (ties go to the pair
    seen first). Stops early when no pair occurs twice.
    """
    _check_text("text", text)
    check_int("num_merges", num_merges, minimum=0)
    words = [tuple(w) for w in _words(text)]
    steps = []
    for _ in range(num_merges):
        pairs: collections.Counter = collections.Counter()
        for w in words:
            pairs.update(zip(w, w[1:]))
        if not pairs:
            break
        pair, count = max(pairs.items(), key=lambda kv: kv[1])   # first seen wins ties
        if count < 2:
            break
        words = [_merge(w, pair) for w in words]
        steps.append(BPEStep(pair, count, [s for w in words for s in w]))
    return steps


def apply_bpe(text: str, merges: list[tuple[str, str]]) -> list[str]:
    """Segment new text with learnt merges, applied in the order they were learnt."""
    _check_text("text", text)
    merges = check_list("merges", merges, min_len=0, item=_check_merge,
                        what="a list of pairs of strings (the learn_bpe steps' pairs)")
    out = []
    for word in _words(text):
        symbols = tuple(word)
        for pair in merges:
            symbols = _merge(symbols, pair)
        out += symbols
    return out


def _check_tokenizer(name: str, tokenizer: Any, *attributes: str) -> Any:
    """A tokenizer: chapter 6's :class:`~mlbook.llm.data.BPETokenizer`, or any object with an
    ``encode`` method and the other ``attributes`` the caller uses (``"decode"``,
    ``"eos_id"``, ...), such as the small stand-ins of the tests."""
    needed = ("encode",) + attributes
    missing = [a for a in needed if not hasattr(tokenizer, a)]
    if (isinstance(tokenizer, (str, bytes)) or missing
            or not callable(getattr(tokenizer, "encode", None))):
        raise ArgumentTypeError(f"{name} must be a tokenizer (a BPETokenizer, or an object "
                                f"with {', '.join(needed)}), got {tokenizer!r:.60} of type "
                                f"{type(tokenizer).__name__}")
    return tokenizer
