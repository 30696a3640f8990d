"""Training the tiny LLaMA (chapter 6), the recipe of the LLaMA paper at toy scale.

Touvron et al. (2023), section 2.3: AdamW (Loshchilov and Hutter, 2019) with
``beta1 = 0.9, beta2 = 0.95``, a cosine learning-rate schedule (equation (6.12)) that ends
at 10% of its peak after a linear warm-up, weight decay 0.1 and gradient clipping at 1.0.
What the paper does not specify is ours, and chapter 6 lists it: no weight decay on the
RMSNorm gains, AdamW ``eps = 1e-5`` (the LLaMA 2 paper's value), random windows drawn with
replacement, float32 throughout, and toy sizes (warm-up, batch, peak learning rate).

The loop is ``torch.distributed``-ready: started by ``torchrun --nproc_per_node=2`` it runs
data-parallel (DDP, gloo backend on CPU). Every process draws the *same* global batch from
the same seeded generator and keeps its own slice (:func:`mlbook.llm.data.shard`); DDP
averages the gradients, so two processes compute the update one process would compute on
the whole batch. Run it from the command line (:func:`main`)::

    python -m mlbook.llm --steps 20 --out run.pt
    torchrun --standalone --nproc_per_node=2 -m mlbook.llm --steps 20 --out run.pt

:func:`pretrained_tiny_llama` trains the chapter's model once and caches it on disk
(``$MLBOOK_CACHE``, default ``~/.cache/mlbook``), keyed by a hash of the model
configuration, the training settings, the tokenizer's size and the corpus text, so chapters
7-9 load it in a second; a chapter opened on its own trains it.

Bad input: every public function checks its arguments with :mod:`mlbook.checks` before any
work starts (``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the
argument); token streams are checked against the model's vocabulary, and
:class:`TrainConfig` refuses ``True`` as a count and NaN or infinite rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from ..cache import atomic_write, cache_dir, cached
from ..checks import (ArgumentTypeError, check_bool, check_count, check_instance, check_int,
                      check_integer_seed, check_number, check_token_ids)
from ..progress import tqdm
from ..runtime import one_thread

from .data import BPETokenizer, CorpusData, build_corpus, get_batch, shard
from .llama import Llama, LlamaConfig, causal_lm_loss

__all__ = [
    "TrainConfig", "TrainHistory", "cosine_lr", "make_optimizer", "evaluate", "train",
    "save_checkpoint", "load_checkpoint", "TINY_LLAMA", "TINY_TRAIN", "TINY_VOCAB",
    "tiny_llama_key", "PretrainedTinyLlama", "pretrained_tiny_llama",
]


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults are the chapter's tiny run, the values in comments the paper's."""

    steps: int = 1400             # optimizer steps (LLaMA-7B: about 250,000)
    batch_size: int = 2           # sequences per step, all processes together (global batch)
    seq_len: int = 128            # tokens per sequence (LLaMA: 2,048)
    lr: float = 3e-3              # peak learning rate (LLaMA-7B: 3e-4)
    min_lr_ratio: float = 0.1     # final learning rate as a fraction of the peak (LLaMA: 10%)
    warmup_steps: int = 20        # linear warm-up steps (LLaMA: 2,000)
    weight_decay: float = 0.1     # AdamW decoupled weight decay on matrices (LLaMA: 0.1)
    beta1: float = 0.9            # AdamW first-moment decay (LLaMA: 0.9)
    beta2: float = 0.95           # AdamW second-moment decay (LLaMA: 0.95)
    eps: float = 1e-5             # AdamW epsilon (LLaMA 2: 1e-5)
    grad_clip: float = 1.0        # clip the global gradient norm to this (LLaMA: 1.0)
    eval_every: int = 200         # evaluate on the validation stream every this many steps
    seed: int = 0                 # seeds the batches (the model has its own seed)
    gradient_checkpointing: bool = False  # recompute activations in backward to save memory

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_every"):
            check_count(name, getattr(self, name))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if not self.warmup_steps < self.steps:
            raise ValueError(f"warmup_steps must be an integer in [0, steps), got {self.warmup_steps!r}")
        check_number("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_number("min_lr_ratio", self.min_lr_ratio, minimum=0.0, maximum=1.0)
        for name in ("beta1", "beta2"):
            check_number(name, getattr(self, name), minimum=0.0, maximum=1.0,
                         exclusive_maximum=True)
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        check_number("eps", self.eps, minimum=0.0, exclusive_minimum=True)
        check_number("grad_clip", self.grad_clip, minimum=0.0, exclusive_minimum=True)
        # seed=None: fresh randomness, drawn now so that the config records the seed used
        object.__setattr__(self, "seed", check_integer_seed("seed", self.seed,
                                                            fresh_if_none=True))
        check_bool("gradient_checkpointing", self.gradient_checkpointing)


@dataclass
class TrainHistory:
    """What happened during training; losses in nats per token."""

    step: list[int] = field(default_factory=list)          # 1, 2, ..., steps
    lr: list[float] = field(default_factory=list)          # learning rate used at each step
    train_loss: list[float] = field(default_factory=list)  # loss of each step's global batch
    grad_norm: list[float] = field(default_factory=list)   # gradient norm before clipping
    eval_step: list[int] = field(default_factory=list)     # steps at which we evaluated
    val_loss: list[float] = field(default_factory=list)    # validation loss at those steps
    seconds: float = 0.0                                   # wall-clock time of the loop
    eval_seconds: float = 0.0                              # ... of which spent on validation
    tokens: int = 0                                        # training tokens processed
    world_size: int = 1                                    # processes that shared the work

    @property
    def tokens_per_second(self) -> float:
        """Training throughput: tokens per second of the loop, validation time excluded."""
        busy = self.seconds - self.eval_seconds
        return self.tokens / busy if busy > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cosine_lr(step: int, config: TrainConfig) -> float:
    """Learning rate at ``step`` (0-based), equation (6.12).

    Linear warm-up from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps`` steps, then a
    half cosine from ``lr`` down to ``min_lr_ratio * lr`` at the last step.
    """
    check_int("step", step, minimum=0)
    check_instance("config", config, TrainConfig)
    peak, floor = config.lr, config.lr * config.min_lr_ratio
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    span = max(1, config.steps - 1 - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the weight matrices and embeddings, none on RMSNorm gains."""
    check_instance("model", model, torch.nn.Module, what="a torch.nn.Module")
    check_instance("config", config, TrainConfig)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                             eps=config.eps)


@torch.no_grad()
def evaluate(model: Llama, ids: torch.Tensor, seq_len: int, batch_size: int = 32) -> float:
    """Mean next-token loss over the whole stream ``ids``, cut into windows of ``seq_len``.

    Deterministic (no sampling of windows), so the validation curve has no batch noise.
    """
    check_instance("model", model, Llama)
    check_count("seq_len", seq_len)
    check_count("batch_size", batch_size)
    if seq_len > model.config.max_seq_len:
        raise ValueError(f"seq_len ({seq_len}) is longer than the model's context "
                         f"({model.config.max_seq_len})")
    _check_stream("ids", ids, model.config.vocab_size, seq_len)
    n = (ids.numel() - 1) // seq_len
    x = ids[:n * seq_len].view(n, seq_len)
    y = ids[1:n * seq_len + 1].view(n, seq_len)
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, n, batch_size):
        logits = model(x[i:i + batch_size])
        total += float(causal_lm_loss(logits, y[i:i + batch_size])) * x[i:i + batch_size].shape[0]
    model.train(was_training)
    return total / n


def _check_stream(name: str, ids: Any, vocab_size: int, seq_len: int) -> None:
    """A 1-D stream of token ids in ``[0, vocab_size)`` holding at least ``seq_len + 1``."""
    check_token_ids(name, ids, vocab_size, ndim=1, layout="(N,)", min_size=0)
    if ids.numel() < seq_len + 1:
        raise ValueError(f"{name}: the stream has {ids.numel()} tokens, fewer than "
                         f"seq_len + 1 = {seq_len + 1}")


def _check_path(name: str, path: Any) -> Path:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a file path (a str or pathlib.Path), got "
                                f"{path!r:.60} of type {type(path).__name__}")
    return Path(path)


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(model: Llama, train_ids: torch.Tensor, val_ids: torch.Tensor | None,
          config: TrainConfig, *, progress: bool = True) -> TrainHistory:
    """Train ``model`` in place on random windows of ``train_ids``; return the history.

    Works unchanged in one process and under ``torchrun`` (any number of processes, gloo
    or NCCL): if ``torch.distributed`` is initialised, the model is wrapped in
    ``DistributedDataParallel`` and each process computes the gradient of its slice of the
    global batch. ``val_ids`` (may be ``None``) is evaluated every ``eval_every`` steps and
    at the end. The progress bar shows on the first process only.
    """
    check_instance("model", model, Llama)
    check_instance("config", config, TrainConfig)
    if config.seq_len > model.config.max_seq_len:
        raise ValueError(f"config.seq_len ({config.seq_len}) is longer than the model's context "
                         f"({model.config.max_seq_len})")
    _check_stream("train_ids", train_ids, model.config.vocab_size, config.seq_len)
    if val_ids is not None:
        _check_stream("val_ids", val_ids, model.config.vocab_size, config.seq_len)
    check_bool("progress", progress)
    rank, world = _dist_info()
    if config.batch_size % world:
        raise ValueError(f"batch_size ({config.batch_size}) must be divisible by the number "
                         f"of processes ({world})")
    generator = torch.Generator().manual_seed(config.seed)   # same on every process
    model.train()
    model.gradient_checkpointing = config.gradient_checkpointing
    net = DistributedDataParallel(model) if world > 1 else model
    optimizer = make_optimizer(model, config)
    history = TrainHistory(world_size=world)
    bar = tqdm(range(config.steps), desc="training", disable=not progress or rank != 0,
               mininterval=1.0, leave=False)
    start = time.perf_counter()
    for step in bar:
        lr = cosine_lr(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, config.batch_size, config.seq_len, generator)  # global batch
        x, y = shard(x, rank, world), shard(y, rank, world)                       # my slice
        loss = causal_lm_loss(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()                      # under DDP: gradients are averaged across processes
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()

        logged = loss.detach().clone()
        if world > 1:
            dist.all_reduce(logged)
            logged /= world
        history.step.append(step + 1)
        history.lr.append(lr)
        history.train_loss.append(float(logged))
        history.grad_norm.append(float(grad_norm))
        history.tokens += config.batch_size * config.seq_len
        last = step + 1 == config.steps
        if val_ids is not None and ((step + 1) % config.eval_every == 0 or last):
            tic = time.perf_counter()
            history.eval_step.append(step + 1)
            history.val_loss.append(evaluate(model, val_ids, config.seq_len))
            history.eval_seconds += time.perf_counter() - tic
            bar.set_postfix(train=f"{history.train_loss[-1]:.3f}", val=f"{history.val_loss[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.gradient_checkpointing = False
    model.eval()
    return history


# ----------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, model: Llama, **extra: Any) -> Path:
    """Write the model's config and weights, plus any ``extra`` plain data, to ``path``.

    The file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    path = _check_path("path", path)
    check_instance("model", model, Llama)
    payload = {"model_config": model.config.to_dict(), "model": model.state_dict(), **extra}
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path) -> tuple[Llama, dict[str, Any]]:
    """The model saved by :func:`save_checkpoint` (in eval mode) and the whole payload.

    A missing file raises ``FileNotFoundError`` (Python's convention)."""
    payload = torch.load(_check_path("path", path), map_location="cpu", weights_only=True)
    model = Llama(LlamaConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"], strict=True)
    model.eval()
    return model, payload


# ----------------------------------------------------------------------------------------
# The chapter's tiny LLaMA, trained once and cached
# ----------------------------------------------------------------------------------------
#: Tokenizer size of the tiny LLaMA.
TINY_VOCAB = 2048
#: The tiny LLaMA: LLaMA's architecture at about a millionth of LLaMA-7B's size.
TINY_LLAMA = LlamaConfig(vocab_size=TINY_VOCAB, dim=128, n_layers=4, n_heads=4, n_kv_heads=2,
                         multiple_of=32, max_seq_len=256)
#: How the tiny LLaMA is trained (about a minute on two CPU cores).
TINY_TRAIN = TrainConfig()

CACHE_FORMAT = 1   # bump when the cached file's layout changes


def tiny_llama_key(model_config: LlamaConfig, train_config: TrainConfig, vocab_size: int,
                   fingerprint: str, model_seed: int) -> str:
    """A hash of everything that determines the trained weights."""
    check_instance("model_config", model_config, LlamaConfig)
    check_instance("train_config", train_config, TrainConfig)
    check_count("vocab_size", vocab_size)
    if not isinstance(fingerprint, str):
        raise ArgumentTypeError(f"fingerprint must be a str (corpus_fingerprint()), got "
                                f"{type(fingerprint).__name__}")
    check_int("model_seed", model_seed, minimum=0)
    settings = {"format": CACHE_FORMAT, "model": model_config.to_dict(),
                "train": asdict(train_config), "vocab_size": vocab_size,
                "corpus": fingerprint, "model_seed": model_seed}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PretrainedTinyLlama:
    """The trained tiny LLaMA with everything needed to use it or continue from it."""

    model: Llama
    tokenizer: BPETokenizer
    data: CorpusData
    history: TrainHistory
    train_config: TrainConfig
    path: Path
    from_cache: bool           # True when loaded from disk, False when trained just now


def pretrained_tiny_llama(*, retrain: bool = False, progress: bool = True,
                          model_config: LlamaConfig = TINY_LLAMA,
                          train_config: TrainConfig = TINY_TRAIN,
                          model_seed: int = 0,
                          cache: str | Path | None = None) -> PretrainedTinyLlama:
    """The chapter's tiny LLaMA: loaded from the cache, or trained (and cached) if absent.

    ``retrain=True`` trains even if a cached copy exists (and overwrites it). ``cache``
    overrides :func:`~mlbook.cache.cache_dir`. The file is ``tiny-llama-<key>.pt`` with the
    key from :func:`tiny_llama_key`; it holds the weights, the tokenizer and the training
    history. Chapters that run at once and all need it train it once (the others wait), and
    a damaged file, or one whose stored key is not ``<key>`` (a file copied or renamed over
    it), is trained again with a warning (:func:`mlbook.cache.cached`).
    """
    check_bool("retrain", retrain)
    check_bool("progress", progress)
    check_instance("model_config", model_config, LlamaConfig)
    check_instance("train_config", train_config, TrainConfig)
    if model_config.vocab_size < 260:
        raise ValueError(f"model_config.vocab_size must be >= 260 (the tokenizer's 256 bytes, "
                         f"3 special tokens and a merge), got {model_config.vocab_size}")
    if train_config.seq_len > model_config.max_seq_len:
        raise ValueError(f"train_config.seq_len ({train_config.seq_len}) is longer than the "
                         f"context model_config.max_seq_len ({model_config.max_seq_len})")
    model_seed = check_integer_seed("model_seed", model_seed, fresh_if_none=True)
    if cache is not None:
        _check_path("cache", cache)
    data = build_corpus(model_config.vocab_size)
    key = tiny_llama_key(model_config, train_config, model_config.vocab_size,
                         data.fingerprint, model_seed)
    path = Path(cache).expanduser() if cache is not None else cache_dir()
    path = path / f"tiny-llama-{key}.pt"

    def load(path: Path) -> PretrainedTinyLlama:
        model, payload = load_checkpoint(path)
        if payload.get("key") != key:    # a file renamed or copied over: not this model
            raise ValueError(f"it holds the model of key {payload.get('key')!r}, not {key!r}")
        tokenizer = BPETokenizer.from_str(payload["tokenizer"])
        history = TrainHistory(**payload["history"])
        return PretrainedTinyLlama(model, tokenizer, build_corpus(tokenizer=tokenizer), history,
                                   train_config, path, True)

    def build() -> PretrainedTinyLlama:
        torch.manual_seed(model_seed)
        model = Llama(model_config, seed=model_seed)
        with one_thread():    # the same weights whichever chapter trains them first
            history = train(model, data.train_ids, data.val_ids, train_config,
                            progress=progress)
        save_checkpoint(path, model, tokenizer=data.tokenizer.to_str(),
                        history=history.to_dict(), train_config=asdict(train_config), key=key)
        return PretrainedTinyLlama(model, data.tokenizer, data, history, train_config, path,
                                   False)

    return cached(path, load, build, rebuild=retrain)


# ----------------------------------------------------------------------------------------
# Command line: python -m mlbook.llm, or under torchrun
# ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Train a tiny LLaMA; data-parallel when started by ``torchrun`` (gloo backend).

    Options: the model's ``--dim --n-layers --n-heads --n-kv-heads --vocab-size
    --model-seed`` (defaults: :data:`TINY_LLAMA`), every number of :class:`TrainConfig`
    (``--steps --batch-size --lr ...``, defaults: :data:`TINY_TRAIN`), and ``--out`` for a
    checkpoint; ``--no-eval`` skips the validation loss. Prints one JSON line with the final
    losses on the first process.
    """
    parser = argparse.ArgumentParser(prog="python -m mlbook.llm",
                                     description="Train a tiny LLaMA on the pydoc_data corpus "
                                     "(runs data-parallel under torchrun).")
    tiny = TINY_LLAMA
    for name, default in [("dim", tiny.dim), ("n_layers", tiny.n_layers),
                          ("n_heads", tiny.n_heads), ("n_kv_heads", tiny.n_kv_heads),
                          ("vocab_size", tiny.vocab_size), ("model_seed", 0)]:
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    numeric = {"int": int, "float": float}
    for f in dataclasses.fields(TrainConfig):
        if f.type in numeric:
            parser.add_argument("--" + f.name.replace("_", "-"), type=numeric[f.type],
                                default=getattr(TINY_TRAIN, f.name))
    parser.add_argument("--out", type=Path, default=None, help="checkpoint to write")
    parser.add_argument("--no-eval", action="store_true", help="skip the validation loss")
    args = parser.parse_args(argv)

    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group("gloo")          # torchrun sets RANK, WORLD_SIZE, MASTER_*
    rank, world = _dist_info()
    config = LlamaConfig(vocab_size=args.vocab_size, dim=args.dim, n_layers=args.n_layers,
                         n_heads=args.n_heads, n_kv_heads=args.n_kv_heads,
                         multiple_of=tiny.multiple_of, max_seq_len=tiny.max_seq_len)
    tc = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                        if f.type in ("int", "float")})
    data = build_corpus(config.vocab_size)
    model = Llama(config, seed=args.model_seed)
    history = train(model, data.train_ids, None if args.no_eval else data.val_ids, tc)
    if rank == 0:
        print(json.dumps({"world_size": world, "final_train_loss": history.train_loss[-1],
                          "final_val_loss": history.val_loss[-1] if history.val_loss else None,
                          "seconds": round(history.seconds, 2),
                          "tokens_per_second": round(history.tokens_per_second)}))
        if args.out is not None:
            save_checkpoint(args.out, model, history=history.to_dict(),
                            train_config=asdict(tc))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()

