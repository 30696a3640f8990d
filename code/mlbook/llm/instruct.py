"""Supervised fine-tuning in the manner of Stanford Alpaca, and its evaluation (chapter 7).

Backs the sections "The loss counts response tokens only", "Fine-tuning the tiny LLaMA",
"Measuring instruction following" and "Sampling from the tuned model" of chapter 7, and
holds the chapter's fine-tuned model. Follows Taori et al., *Alpaca: A Strong, Replicable
Instruction-Following Model* (2023) and its release (``tatsu-lab/stanford_alpaca``'s
``train.py``), which fine-tunes LLaMA (Touvron et al., 2023) on self-instruct data. The
chapter's other ideas have modules of their own: the prompt format and the task families
in :mod:`mlbook.llm.tasks`, ROUGE-L and self-instruct in :mod:`mlbook.llm.self_instruct`,
LoRA in :mod:`mlbook.llm.lora`.

The pieces, in the order of the chapter (equation (7.n) is the n-th numbered equation of
chapter 7):

* :class:`InstructionDataset`: tokenised examples whose prompt tokens have label ``-100``,
  so the loss (7.3) counts response tokens only;
* :func:`finetune` (supervised fine-tuning, :class:`SFTConfig`, :class:`SFTHistory`), with
  :func:`sft_loss` computing the prompt prefix that a batch shares only once
  (:func:`forward_shared_prefix`);
* :func:`generate_responses`, :func:`exact_match` (decided in one teacher-forced pass,
  :func:`greedy_matches`), the probability that sampling at a temperature reproduces the
  reference (7.5), :func:`reference_log_probs`, and whether a model copies from its
  context at all, :func:`copy_losses`;
* :func:`sft_tiny_llama`, chapter 6's tiny LLaMA fine-tuned on the chapter's data
  (:func:`chapter_data`), fully or with LoRA adapters, trained once and cached on disk like
  :func:`mlbook.llm.train.pretrained_tiny_llama`.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import cache_dir, cached
from ..checks import (ArgumentTypeError, check_bool, check_choice, check_count,
                      check_instance, check_int, check_integer_seed, check_list, check_number,
                      check_positive, check_probability, check_tensor, check_token_ids)
from ..progress import tqdm
from ..runtime import one_thread
from .data import BPETokenizer, _check_tokenizer
from .llama import Llama, _check_prompts_fit, generate_grouped, repeat_kv
from .lora import apply_lora, merge_lora
from .self_instruct import SelfInstructResult, self_instruct
from .tasks import (ALPACA_PROMPT_NO_INPUT, ALPACA_PROMPT_WITH_INPUT, HELDOUT_FAMILIES,
                    TRAIN_FAMILIES, WORDS, Example, _check_examples, _check_text,
                    is_heldout_content, make_examples, make_seed_tasks)
from .train import (TrainConfig, _check_path, cosine_lr, load_checkpoint, make_optimizer,
                    pretrained_tiny_llama, save_checkpoint)

__all__ = [
    "IGNORE_INDEX", "InstructionDataset", "SFTConfig", "SFTHistory", "shared_prefix_length",
    "forward_shared_prefix", "sft_loss", "finetune", "generate_responses", "greedy_matches",
    "reference_log_probs", "copy_losses", "exact_match", "SFT_TRAIN", "SFT_LORA", "SFT_DATA",
    "LORA_SETTINGS", "CACHE_FORMAT", "SFTTinyLlama", "chapter_data", "examples_fingerprint",
    "sft_key", "sft_tiny_llama",
]

IGNORE_INDEX = -100   # label of a token that carries no loss (PyTorch's and Hugging Face's)


def _check_fits(name: str, model: Llama, dataset: "InstructionDataset") -> None:
    """The tokenised examples of ``dataset`` fit ``model``: every token id is in its
    vocabulary and every example, shifted by one, in its context."""
    config = model.config
    longest = max(dataset.lengths)
    if longest > config.max_seq_len + 1:
        raise ValueError(f"{name}: the longest example ({longest} tokens) does not fit the "
                         f"model's context of {config.max_seq_len}")
    if dataset.max_token_id >= config.vocab_size:
        raise ValueError(f"{name}: the tokenizer gives token ids up to {dataset.max_token_id}, "
                         f"beyond the model's vocabulary (vocab_size={config.vocab_size})")


# ----------------------------------------------------------------------------------------
# Tokenised examples with the prompt masked out of the loss
# ----------------------------------------------------------------------------------------
class InstructionDataset(torch.utils.data.Dataset):
    """Examples tokenised as ``<s> prompt response </s>`` with labels ``-100`` on the prompt.

    Item ``i`` is a dict of 1-D ``int64`` tensors ``input_ids`` and ``labels`` of equal
    length, in Hugging Face's convention: ``labels`` equals ``input_ids`` on the response and
    the closing ``</s>``, and :data:`IGNORE_INDEX` on ``<s>`` and the prompt, so the loss
    (7.3) counts response tokens only. The prompt and the response are tokenised apart, so
    the boundary between them is exact; the response is tokenised as ``" " + output`` (the
    space that LLaMA's SentencePiece tokenizer puts before a separately encoded text), so
    its words are the same tokens as the words of the input. :meth:`collate` pads a batch
    and shifts it into inputs and next-token targets. ``mask_prompt=False`` keeps every
    label (for comparison).
    """

    def __init__(self, examples: Sequence[Example], tokenizer: BPETokenizer, *,
                 max_len: int | None = None, mask_prompt: bool = True):
        examples = _check_examples("examples", examples)
        _check_tokenizer("tokenizer", tokenizer, "eos_id")
        if max_len is not None:
            check_int("max_len", max_len, minimum=2)
        check_bool("mask_prompt", mask_prompt)
        self.examples = list(examples)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.eos_id
        self.items = []
        #: the largest token id of any example (checked against a model's vocabulary)
        self.max_token_id = 0
        for ex in self.examples:
            prompt = tokenizer.encode(ex.prompt(), bos=True)
            response = tokenizer.encode(" " + ex.output, eos=True)
            ids = prompt + response
            labels = ([IGNORE_INDEX] * len(prompt) if mask_prompt else prompt) + response
            if max_len is not None and len(ids) > max_len:
                raise ValueError(f"an example has {len(ids)} tokens, more than max_len={max_len}")
            self.items.append({"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                               "prompt_len": len(prompt)})
            self.max_token_id = max(self.max_token_id, max(ids))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]

    @staticmethod
    def _check_item(name: str, item: Any) -> Any:
        if not (isinstance(item, Mapping) and "input_ids" in item and "labels" in item):
            raise ArgumentTypeError(f"{name} must be an item of an InstructionDataset (a dict "
                                    f"with input_ids and labels), got {item!r:.60}")
        for key in ("input_ids", "labels"):
            check_tensor(f"{name}[{key!r}]", item[key], ndim=1, dtype="int", min_size=0)
        return item

    @property
    def lengths(self) -> list[int]:
        return [len(item["input_ids"]) for item in self.items]

    def collate(self, items: Sequence[dict[str, torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest item; return inputs ``x`` and targets ``y``, ``(B, T-1)``.

        ``y[b, t]`` is the label of token ``t + 1``: the next token on the response,
        ``-100`` on the prompt and on padding (which sits after ``</s>`` and so, under the
        causal mask, never changes the logits of a real token).
        """
        items = check_list("items", items, what="a list of items of this dataset (dicts with "
                           "input_ids and labels)", item=self._check_item)
        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for b, it in enumerate(items):
            n = len(it["input_ids"])
            ids[b, :n], labels[b, :n] = it["input_ids"], it["labels"]
        return ids[:, :-1], labels[:, 1:]


# ----------------------------------------------------------------------------------------
# Supervised fine-tuning
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SFTConfig:
    """Fine-tuning settings; comments give Alpaca's values for LLaMA-7B."""

    steps: int = 600               # optimizer steps (Alpaca: 3 epochs of 52K, about 1,200)
    batch_size: int = 32           # examples per step (Alpaca: 128)
    lr: float = 3e-3               # peak learning rate (Alpaca: 2e-5)
    warmup_steps: int = 30         # linear warm-up, 5% of the steps (Alpaca: 3%)
    min_lr_ratio: float = 0.0      # cosine decays to this fraction of the peak (Alpaca: 0)
    weight_decay: float = 0.0      # AdamW weight decay (Alpaca: 0)
    grad_clip: float = 1.0         # global gradient-norm clipping
    seed: int = 0                  # order of the examples
    # [mark: checks]

    def __post_init__(self) -> None:
        # seed=None: fresh randomness, drawn now so that the config records the seed used
        object.__setattr__(self, "seed", check_integer_seed("seed", self.seed,
                                                            fresh_if_none=True))
        self.train_config()        # TrainConfig checks the numbers

    def train_config(self) -> TrainConfig:
        """The equivalent :class:`~mlbook.llm.train.TrainConfig`, for its schedule and optimizer."""
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=self.warmup_steps, min_lr_ratio=self.min_lr_ratio,
                           weight_decay=self.weight_decay, grad_clip=self.grad_clip,
                           seed=self.seed, eval_every=self.steps)


@dataclass
class SFTHistory:
    """What happened during fine-tuning; losses in nats per response token."""

    step: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0                     # tokens run through the model (prompt included)
    loss_tokens: int = 0                # of which carried a loss (response tokens)
    trainable: int = 0                  # trainable parameters
    total: int = 0                      # all parameters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shared_prefix_length(x: torch.Tensor) -> int:
    """Number of leading positions at which every row of ``x`` ``(B, T)`` holds the same token."""
    check_tensor("x", x, ndim=2, dtype="int", layout="(B, T) token ids")
    same = (x == x[:1]).all(dim=0).long()                    # (T,)
    return int(same.cumprod(0).sum())


def _check_ids(name: str, x: Any, model: Llama) -> None:
    """Token ids ``(B, T)`` that ``model`` can take: in its vocabulary, within its context."""
    check_token_ids(name, x, model.config.vocab_size, ndim=2, layout="(B, T)")
    if x.shape[1] > model.config.max_seq_len:
        raise ValueError(f"{name}: {x.shape[1]} tokens do not fit the model's context of "
                         f"{model.config.max_seq_len} (config.max_seq_len)")


def forward_shared_prefix(model: Llama, x: torch.Tensor, prefix: int = 0
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the decoder on ``x`` ``(B, T)``, computing a shared prefix only once.

    When the first ``prefix`` tokens are the same in every row (every Alpaca prompt opens
    with the same sentence), their hidden states are the same too, because attention is
    causal. They are computed for one row, ``(1, prefix, D)``, and the other positions
    ``(B, T - prefix, D)`` attend to that row's keys and values. Returns the last hidden
    states of both parts, ``(1, prefix, D)`` and ``(B, T - prefix, D)``: equal to
    ``model.model(x)`` split at ``prefix``; gradients flow into the shared part from every
    row. This is prefix caching (as inference servers do with a KV cache), used in
    training. Each layer's projections and RoPE are chapter 6's
    (:meth:`~mlbook.llm.llama.LlamaAttention.project_qkv`); only the attention mask differs.
    """
    check_instance("model", model, Llama)
    _check_ids("x", x, model)
    check_int("prefix", prefix, minimum=0, maximum=x.shape[1] - 1)
    shared = shared_prefix_length(x)
    if prefix > shared:
        raise ValueError(f"prefix must be at most {shared}, the number of leading tokens that "
                         f"every row of x shares, got {prefix} (the rows' hidden states differ "
                         f"from there on)")
    return _forward_shared_prefix(model, x, prefix)


def _forward_shared_prefix(model: Llama, x: torch.Tensor, prefix: int
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`forward_shared_prefix` without the checks (:func:`sft_loss` made them)."""
    m = model.model
    b, t = x.shape
    cos, sin = m.rotary_emb(0, t)
    h_pre, h = m.embed_tokens(x[:1, :prefix]), m.embed_tokens(x[:, prefix:])
    mask = torch.ones(t - prefix, t, dtype=torch.bool, device=x.device).tril(prefix)
    for layer in m.layers:
        att = layer.self_attn
        n_rep = att.n_heads // att.n_kv_heads
        q, k, v = att.project_qkv(layer.input_layernorm(h), cos[prefix:], sin[prefix:])
        if prefix:
            qp, kp, vp = att.project_qkv(layer.input_layernorm(h_pre), cos[:prefix],
                                         sin[:prefix])                  # (1, H|G, prefix, hd)
            out_p = F.scaled_dot_product_attention(qp, repeat_kv(kp, n_rep),
                                                   repeat_kv(vp, n_rep), is_causal=True)
            h_pre = h_pre + att.o_proj(out_p.transpose(1, 2).reshape(1, prefix, -1))
            h_pre = h_pre + layer.mlp(layer.post_attention_layernorm(h_pre))
            k = torch.cat([kp.expand(b, -1, -1, -1), k], dim=2)          # (B, G, T, hd)
            v = torch.cat([vp.expand(b, -1, -1, -1), v], dim=2)
            out = F.scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep),
                                                 attn_mask=mask)
        else:
            out = F.scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep),
                                                 is_causal=True)
        h = h + att.o_proj(out.transpose(1, 2).reshape(b, t - prefix, -1))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return m.norm(h_pre), m.norm(h)


def sft_loss(model: Llama, x: torch.Tensor, y: torch.Tensor, *,
             share_prefix: bool = True) -> torch.Tensor:
    """Mean cross-entropy over the response tokens, (7.3): ``x``, ``y`` from ``collate``.

    Equal to ``causal_lm_loss(model(x), y)`` (up to rounding), computed with less work: the
    output layer is applied only where ``y`` is not ``-100`` (the logits of prompt positions
    would be thrown away), and with ``share_prefix`` the opening tokens that every row
    shares are run once (:func:`forward_shared_prefix`). A batch of Alpaca prompts shares its first
    sentence or more, so this saves a third or more of the work.
    """
    check_instance("model", model, Llama)
    _check_ids("x", x, model)
    check_tensor("y", y, dtype="int", shape=tuple(x.shape), layout=f"{tuple(x.shape)}, as x")
    keep = y != IGNORE_INDEX                                  # (B, T)
    if bool(((y < 0) | (y >= model.config.vocab_size))[keep].any()):
        raise ValueError(f"y must hold token ids from 0 to vocab_size - 1 = "
                         f"{model.config.vocab_size - 1}, or IGNORE_INDEX = -100")
    if not bool(keep.any()):
        raise ValueError("y has no response token to compute a loss on (every label is "
                         "IGNORE_INDEX = -100)")
    check_bool("share_prefix", share_prefix)
    first = int(keep.float().argmax(dim=1).min())             # earliest position with a loss
    prefix = min(shared_prefix_length(x), first) if share_prefix else 0
    _, hidden = _forward_shared_prefix(model, x, prefix)      # (B, T - prefix, D)
    logits = model.lm_head(hidden[keep[:, prefix:]])          # (N, V)
    return F.cross_entropy(logits.float(), y[:, prefix:][keep[:, prefix:]])


def _length_grouped(perm: list[int], lengths: list[int], keys: list[int], batch_size: int,
                    group: int = 8) -> list[int]:
    """Reorder a shuffled epoch so each batch holds examples of similar length (less padding)
    and, as far as possible, the same template (a longer shared prefix).

    The epoch is cut into chunks of ``group * batch_size`` examples, each chunk sorted by
    ``(key, length)`` and cut into batches, and the batches shuffled back (deterministically,
    by the permutation itself): Hugging Face's ``group_by_length`` idea.
    """
    chunk = group * batch_size
    batches = []
    for s in range(0, len(perm), chunk):
        part = sorted(perm[s:s + chunk], key=lambda i: (keys[i], lengths[i]))
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    rng = random.Random(perm[0] if perm else 0)
    rng.shuffle(batches)
    return [i for b in batches for i in b]


def finetune(model: Llama, dataset: InstructionDataset, config: SFTConfig | None = None,
             *, progress: bool = True) -> SFTHistory:
    """Supervised fine-tuning of ``model`` in place on ``dataset`` (loss (7.3)).

    Batches of ``config.batch_size`` examples, reshuffled every epoch (seeded); AdamW and the
    warm-up + cosine schedule of chapter 6 (:func:`~mlbook.llm.train.make_optimizer`,
    :func:`~mlbook.llm.train.cosine_lr`); gradient clipping. Trains whatever parameters have
    ``requires_grad`` (all of them, or the adapters after :func:`~mlbook.llm.lora.apply_lora`).
    """
    check_instance("model", model, Llama)
    config = SFTConfig() if config is None else config
    check_instance("config", config, SFTConfig, what="an SFTConfig or None")
    check_instance("dataset", dataset, InstructionDataset)
    check_bool("progress", progress)
    _check_fits("dataset", model, dataset)
    tc = config.train_config()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    optimizer = make_optimizer(model, tc)
    generator = torch.Generator().manual_seed(config.seed)
    history = SFTHistory(trainable=sum(p.numel() for p in params),
                         total=sum(p.numel() for p in model.parameters()))
    order: list[int] = []
    lengths = dataset.lengths
    keys = [int(bool(ex.input.strip())) for ex in dataset.examples]
    model.train()
    bar = tqdm(range(config.steps), desc="fine-tuning", disable=not progress,
               mininterval=1.0, leave=False)
    start = time.perf_counter()
    for step in bar:
        if len(order) < config.batch_size:
            order += _length_grouped(torch.randperm(len(dataset), generator=generator).tolist(),
                                     lengths, keys, config.batch_size)
        batch, order = order[:config.batch_size], order[config.batch_size:]
        x, y = dataset.collate([dataset[i] for i in batch])
        lr = cosine_lr(step, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = sft_loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        history.step.append(step + 1)
        history.lr.append(lr)
        history.loss.append(float(loss.detach()))
        history.tokens += x.numel()
        history.loss_tokens += int((y != IGNORE_INDEX).sum())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


# ----------------------------------------------------------------------------------------
# Generation and exact match
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def generate_responses(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                       max_new_tokens: int = 16, greedy: bool = True, temperature: float = 1.0,
                       top_p: float = 1.0, seed: int | None = 0,
                       batch_size: int = 64) -> list[str]:
    """The model's response to each example's prompt, decoded and stripped.

    Prompts of equal token length are decoded together in batches (no padding is needed,
    so the result is what one-at-a-time decoding gives); generation stops at ``</s>``.
    ``greedy`` takes the most probable token; otherwise tokens are sampled with
    ``temperature`` and ``top_p`` (chapter 6's :func:`~mlbook.llm.llama.generate`).
    """
    check_instance("model", model, Llama)
    _check_tokenizer("tokenizer", tokenizer, "decode", "eos_id")
    examples = _check_examples("examples", examples)
    check_count("max_new_tokens", max_new_tokens)
    prompts = [tokenizer.encode(ex.prompt(), bos=True) for ex in examples]
    _check_prompts_fit(model, prompts, max_new_tokens)
    rows = generate_grouped(model, prompts, max_new_tokens, eos_id=tokenizer.eos_id,
                            greedy=greedy, temperature=temperature, top_p=top_p, seed=seed,
                            batch_size=batch_size)
    return [tokenizer.decode(row[:-1] if row[-1:] == [tokenizer.eos_id] else row).strip()
            for row in rows]


@torch.no_grad()
def greedy_matches(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                   batch_size: int = 64) -> list[bool]:
    """For each example: would greedy decoding produce exactly ``output </s>``?

    One teacher-forced forward pass answers it: greedy decoding writes the reference token
    by token if and only if, at every response position, the most probable next token given
    the prompt and the reference so far *is* the next reference token (the ``</s>``
    included). So instead of decoding step by step, feed ``<s> prompt output </s>`` and
    compare the argmax with the labels at the unmasked positions. (A different token
    sequence that decodes to the same text would count as a miss; greedy decoding of a
    model trained on the tokenizer's own segmentation practically never produces one.)
    """
    check_instance("model", model, Llama)
    check_count("batch_size", batch_size)
    dataset = InstructionDataset(examples, tokenizer)
    _check_fits("examples", model, dataset)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(dataset), batch_size):
        x, y = dataset.collate([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
        pred = model(x).argmax(-1)                                     # (B, T-1)
        ok = (pred == y) | (y == IGNORE_INDEX)
        out += ok.all(dim=1).tolist()
    model.train(was_training)
    return out


@torch.no_grad()
def reference_log_probs(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example],
                        temperatures: Sequence[float] = (1.0,), *,
                        batch_size: int = 64) -> torch.Tensor:
    """Log-probability that sampling at each temperature writes exactly ``output </s>``.

    ``log p_tau(y | prompt) = sum_t log softmax(logits_t / tau)[y_t]`` over the response
    positions, from one teacher-forced pass. Its exponential, averaged over examples, is
    the *expected* exact match of temperature sampling (7.5), with no sampling noise.
    Returns a ``(len(temperatures), len(examples))`` tensor (nats).
    """
    check_instance("model", model, Llama)
    temperatures = check_list("temperatures", temperatures, what="a list of temperatures "
                              "(positive numbers)", item=check_positive)
    check_count("batch_size", batch_size)
    dataset = InstructionDataset(examples, tokenizer)
    _check_fits("examples", model, dataset)
    taus = torch.tensor([float(t) for t in temperatures])
    out = []
    was_training = model.training
    model.eval()
    for s in range(0, len(dataset), batch_size):
        x, y = dataset.collate([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
        keep = y != IGNORE_INDEX                                        # (B, T)
        logits = model(x)[keep].float()                                 # (N, V) responses
        target = y[keep]                                                # (N,)
        row = keep.nonzero()[:, 0]                                      # example of each
        per_tau = []
        for tau in taus:
            logp = torch.log_softmax(logits / tau, dim=-1).gather(-1, target[:, None])[:, 0]
            per_tau.append(torch.zeros(x.shape[0]).index_add_(0, row, logp))   # (B,)
        out.append(torch.stack(per_tau))                                # (n_tau, B)
    model.train(was_training)
    return torch.cat(out, dim=1)


@torch.no_grad()
def copy_losses(model: Llama, tokenizer: BPETokenizer, *, n_sequences: int = 20,
                length: int = 15, seed: int = 0) -> dict[str, float]:
    """Can the model copy from its context? Its loss on a list of words shown twice.

    Each sequence is ``<s>`` and ``length`` distinct words of
    :data:`~mlbook.llm.tasks.WORDS` in random order (as the tokens ``" word"``), then the
    same words again. The words are drawn at random, so the first pass cannot be predicted
    beyond guessing a word; the second pass can be predicted exactly by a model that looks
    back for the current word and copies the one that followed it (what an *induction head*
    does). Returns the mean next-token loss in nats on the words after the first of each
    pass (the first word of either pass cannot be known): ``{"first", "repeat"}``. A model
    that copies has a repeat loss far below its first-pass loss.
    """
    check_instance("model", model, nn.Module, what="a torch.nn.Module (a Llama)")
    _check_tokenizer("tokenizer", tokenizer, "bos_id")
    n_sequences = check_count("n_sequences", n_sequences)
    length = check_int("length", length, minimum=2, maximum=len(WORDS))
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    if isinstance(model, Llama) and 2 * length > model.config.max_seq_len:
        raise ValueError(f"model: its context of {model.config.max_seq_len} tokens is shorter "
                         f"than the 2 * length = {2 * length} tokens it would have to read")
    pieces = [tokenizer.encode(" " + w) for w in WORDS]
    if any(len(p) != 1 for p in pieces):
        raise ValueError("the tokenizer must encode every ' word' of WORDS as one token "
                         "(chapter 6's tokenizer does)")
    ids = torch.tensor([p[0] for p in pieces])
    generator = torch.Generator().manual_seed(seed)
    rows = [ids[torch.randperm(len(WORDS), generator=generator)[:length]]
            for _ in range(n_sequences)]
    x = torch.stack([torch.cat([torch.tensor([tokenizer.bos_id]), r, r]) for r in rows])
    was_training = model.training
    model.eval()
    logits = model(x[:, :-1])                                          # (N, 2 L, V)
    loss = F.cross_entropy(logits.transpose(1, 2).float(), x[:, 1:], reduction="none")
    model.train(was_training)
    # loss[:, t] is the loss of token t + 1; both passes scored on their words 2..L
    return {"first": float(loss[:, 1:length].mean()),                  # (N, 2 L) losses
            "repeat": float(loss[:, length + 1:].mean())}


def exact_match(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                max_new_tokens: int = 16, responses: Sequence[str] | None = None,
                method: str = "forced") -> float:
    """Fraction of examples whose greedy response equals the expected output exactly.

    ``method="forced"`` (default) decides it in one teacher-forced pass
    (:func:`greedy_matches`); an output longer than ``max_new_tokens - 1`` tokens (plus
    ``</s>``) counts as a miss, as greedy decoding would be cut off before finishing it.
    ``method="generate"`` decodes with :func:`generate_responses` and compares the
    stripped strings. Pass ``responses`` to score ready answers.
    """
    check_instance("model", model, Llama)
    _check_tokenizer("tokenizer", tokenizer, "decode", "eos_id")
    examples = _check_examples("examples", examples)
    check_choice("method", method, ("forced", "generate"))
    check_count("max_new_tokens", max_new_tokens)
    if responses is not None:
        responses = check_list("responses", responses, what="a list of responses (strings)",
                               min_len=0, item=lambda n, v: _check_text(n, v, blank=True,
                                                                        what="a string"))
    if responses is None and method == "forced":
        hits = greedy_matches(model, tokenizer, examples)
        fits = [len(tokenizer.encode(ex.output)) + 1 <= max_new_tokens for ex in examples]
        return sum(h and f for h, f in zip(hits, fits)) / len(examples)
    if responses is None:
        responses = generate_responses(model, tokenizer, examples, max_new_tokens=max_new_tokens)
    if len(responses) != len(examples):
        raise ValueError(f"responses: {len(responses)} responses for {len(examples)} examples")
    return sum(r.strip() == ex.output.strip() for r, ex in zip(responses, examples)) / len(examples)


# ----------------------------------------------------------------------------------------
# The chapter's fine-tuned tiny LLaMA, trained once and cached
# ----------------------------------------------------------------------------------------
#: Full fine-tuning of the chapter.
SFT_TRAIN = SFTConfig()
#: LoRA fine-tuning of the chapter (a larger learning rate, as is usual for adapters).
SFT_LORA = SFTConfig(lr=6e-3)
#: How the chapter's data are made: self-instruct settings and data-set sizes.
SFT_DATA = {"seeds_per_family": 2, "rounds": 40, "per_round": 10, "rouge_threshold": 0.7,
            "n_train": 16000, "mix": {}, "heldout_share": 0.2, "n_heldout": 40, "n_heldout_families": 30,
            "seed": 0}
#: LoRA settings of the chapter.
LORA_SETTINGS = {"rank": 8, "alpha": 16.0,
                 "targets": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                             "down_proj")}
CACHE_FORMAT = 2


@dataclass
class SFTTinyLlama:
    """The fine-tuned tiny LLaMA and everything needed to evaluate or continue from it."""

    model: Llama
    tokenizer: BPETokenizer
    train_examples: list[Example]
    heldout_examples: dict[str, list[Example]]   # "instances" and "families"
    instruction_pool: SelfInstructResult          # the self-instruct run behind the data
    history: SFTHistory
    method: str                                  # "full" or "lora"
    path: Path
    from_cache: bool


def _check_data_settings(settings: Any) -> dict[str, Any]:
    """A copy of ``settings`` (the keys of :data:`SFT_DATA`, ``mix`` optional), checked."""
    check_instance("settings", settings, Mapping, what="a dict of data settings like SFT_DATA")
    s = dict(settings)
    missing = sorted(set(SFT_DATA) - set(s) - {"mix"})
    unknown = sorted(set(s) - set(SFT_DATA), key=str)
    if missing or unknown:
        raise ValueError(f"settings must have the keys of SFT_DATA ({sorted(SFT_DATA)}); "
                         f"missing {missing}, unknown {unknown}")

    def name(key: str) -> str:
        return f"settings[{key!r}]"
    for key in ("seeds_per_family", "n_train", "n_heldout", "n_heldout_families"):
        check_count(name(key), s[key])
    for key in ("rounds", "per_round", "seed"):
        check_count(name(key), s[key], minimum=0)
    check_probability(name("rouge_threshold"), s["rouge_threshold"])
    check_number(name("heldout_share"), s["heldout_share"], minimum=0.0, maximum=1.0,
                 exclusive_minimum=True, exclusive_maximum=True)
    mix = check_instance(name("mix"), s.get("mix", {}), Mapping,
                         what="a dict family -> turns per round")
    for family, turns in mix.items():
        if family not in TRAIN_FAMILIES:
            raise ValueError(f"{name('mix')}: {family!r} is not one of TRAIN_FAMILIES "
                             f"{list(TRAIN_FAMILIES)}")
        check_count(f"{name('mix')}[{family!r}]", turns)
    return s


def chapter_data(settings: Mapping[str, Any] = SFT_DATA) -> tuple[
        SelfInstructResult, list[Example], dict[str, list[Example]]]:
    """The chapter's self-instruct run, training examples and held-out examples.

    Training examples draw their contents outside the held-out share
    (:func:`~mlbook.llm.tasks.is_heldout_content`); held-out *instances*, ``n_heldout`` per
    trained family, draw theirs inside it, so each is a question never trained on (in a
    wording of the same instruction pool). Held-out *families* are tasks never trained on
    (:data:`~mlbook.llm.tasks.HELDOUT_FAMILIES`), ``n_heldout_families`` per family.
    """
    s = _check_data_settings(settings)
    seeds = make_seed_tasks(TRAIN_FAMILIES, s["seeds_per_family"], s["seed"])
    result = self_instruct(seeds, s["rounds"], per_round=s["per_round"],
                           rouge_threshold=s["rouge_threshold"], seed=s["seed"])
    pools = result.instructions()
    share = s["heldout_share"]
    mix = [name for name in TRAIN_FAMILIES for _ in range(s.get("mix", {}).get(name, 1))]
    train_examples = make_examples(mix, s["n_train"], s["seed"], instructions=pools,
                                   where=lambda e: not is_heldout_content(e, share))
    instances = make_examples(TRAIN_FAMILIES, s["n_heldout"] * len(TRAIN_FAMILIES),
                              s["seed"] + 1, instructions=pools,
                              where=lambda e: is_heldout_content(e, share))
    families = make_examples(HELDOUT_FAMILIES, s["n_heldout_families"] * len(HELDOUT_FAMILIES),
                             s["seed"] + 2)
    return result, train_examples, {"instances": instances, "families": families}


def examples_fingerprint(examples: Sequence[Example]) -> str:
    """A short SHA-256 of the examples' text (it changes whenever the task families do)."""
    examples = _check_examples("examples", examples, min_len=0)
    rows = [[e.instruction, e.input, e.output, e.family] for e in examples]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def sft_key(base_key: str, method: str, config: SFTConfig, data: Mapping[str, Any],
            lora: Mapping[str, Any] | None, fingerprint: str = "") -> str:
    """A hash of everything that determines the fine-tuned weights: the base model's key,
    the method and its settings, the data settings and the examples' fingerprint, the
    prompt templates, and :data:`CACHE_FORMAT` (bumped when the code's behaviour changes)."""
    _check_text("base_key", base_key, what="the base model's key (a string)")
    check_choice("method", method, ("full", "lora"))
    check_instance("config", config, SFTConfig)
    check_instance("data", data, Mapping, what="a dict of data settings like SFT_DATA")
    if lora is not None:
        check_instance("lora", lora, Mapping, what="a dict of LoRA settings or None")
    _check_text("fingerprint", fingerprint, blank=True, what="a string")
    for key, value in (("data", dict(data)), ("lora", lora)):
        try:
            json.dumps(value, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{key} must hold JSON values only (numbers, strings, lists, "
                             f"dicts), to be hashed: {error}") from None
    settings = {"format": CACHE_FORMAT, "base": base_key, "method": method,
                "examples": fingerprint,
                "sft": asdict(config), "data": dict(data),
                "lora": None if lora is None else {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in lora.items()},
                "prompts": [ALPACA_PROMPT_WITH_INPUT, ALPACA_PROMPT_NO_INPUT]}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def sft_tiny_llama(*, retrain: bool = False, progress: bool = True,
                   cache: str | Path | None = None, method: str = "full",
                   config: SFTConfig | None = None) -> SFTTinyLlama:
    """Chapter 6's tiny LLaMA fine-tuned on the chapter's instruction data; cached on disk.

    Starts from :func:`~mlbook.llm.train.pretrained_tiny_llama` (same ``cache``), builds the
    data with :func:`chapter_data`, and fine-tunes every weight (``method="full"``,
    :data:`SFT_TRAIN`) or LoRA adapters on every linear layer (``method="lora"``,
    :data:`SFT_LORA`, :data:`LORA_SETTINGS`; merged into the weights before saving). The
    file is ``tiny-llama-sft-<method>-<key>.pt`` in the cache directory, the key from
    :func:`sft_key`. ``retrain=True`` trains even if
    the file exists.
    """
    check_bool("retrain", retrain)
    check_bool("progress", progress)
    if cache is not None:
        _check_path("cache", cache)
    check_choice("method", method, ("full", "lora"))
    if config is None:
        config = SFT_TRAIN if method == "full" else SFT_LORA
    check_instance("config", config, SFTConfig, what="an SFTConfig or None")
    base = pretrained_tiny_llama(progress=progress, cache=cache)
    lora = LORA_SETTINGS if method == "lora" else None
    result, train_examples, heldout = chapter_data(SFT_DATA)
    key = sft_key(base.path.stem, method, config, SFT_DATA, lora,
                  examples_fingerprint(train_examples))
    folder = Path(cache).expanduser() if cache is not None else cache_dir()
    path = folder / f"tiny-llama-sft-{method}-{key}.pt"

    def load(path: Path) -> SFTTinyLlama:
        model, payload = load_checkpoint(path)
        if payload.get("key") != key:    # a file renamed or copied over: not this model
            raise ValueError(f"it holds the model of key {payload.get('key')!r}, not {key!r}")
        return SFTTinyLlama(model, base.tokenizer, train_examples, heldout, result,
                            SFTHistory(**payload["history"]), method, path, True)

    def build() -> SFTTinyLlama:
        torch.manual_seed(0)
        model = Llama(base.model.config)
        model.load_state_dict(base.model.state_dict())
        if lora is not None:
            apply_lora(model, lora["rank"], lora["alpha"], lora["targets"])
        dataset = InstructionDataset(train_examples, base.tokenizer)
        with one_thread():    # the same weights whichever chapter trains them first
            history = finetune(model, dataset, config, progress=progress)
        if lora is not None:
            merge_lora(model)
        model.eval()
        save_checkpoint(path, model, history=history.to_dict(), sft_config=asdict(config),
                        key=key)
        return SFTTinyLlama(model, base.tokenizer, train_examples, heldout, result, history,
                            method, path, False)

    return cached(path, load, build, rebuild=retrain)
