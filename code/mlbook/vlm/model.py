"""A tiny Kimi-VL: MoonViT, pixel shuffle + MLP projector, and chapter 6's decoder with MoE (chapter 11).

The three parts of Kimi-VL (Kimi Team, 2025, Figure 3 of the report), each at toy size:

* ``vision_tower``: :class:`mlbook.vlm.moonvit.MoonViT`, native resolution, packed images;
* ``multi_modal_projector``: :func:`mlbook.vlm.projector.pixel_shuffle` then
  :class:`mlbook.vlm.projector.MLPProjector`, into the language model's embedding space;
* ``language_model``: chapter 6's :class:`mlbook.llm.llama.Llama` (RMSNorm, RoPE,
  grouped-query attention, Hugging Face names), built as it is and then given a
  :class:`mlbook.vlm.moe.MoE` feed-forward layer in place of the dense SwiGLU in every layer
  after the first ``first_k_dense_replace`` (Moonlight keeps one dense layer). Its attention
  is LLaMA's, not the MLA of Moonlight (chapter 9): at this size the difference does not matter.

The image's tokens come first, then the question's words (as Kimi-VL puts an image before
the text that asks about it), and the model is trained to predict the answer word after the
question, with chapter 6's optimiser and learning-rate schedule
(:func:`mlbook.llm.train.make_optimizer`, :func:`mlbook.llm.train.cosine_lr`) and its
gradient clipping; the MoE layers add their balancing (auxiliary loss or bias updates).

The data are scikit-learn's handwritten digits (8 x 8 pixels, 16 grey levels; Alpaydin and
Kaynak's UCI set), scaled by 1 or 2 and placed on canvases of several sizes and aspect
ratios, one or two digits per image, with questions such as "what is the left digit ?".
Training and test images come from disjoint sets of digits.

A VLM feeds the decoder embeddings (image vectors followed by word vectors) rather than
token ids: :meth:`TinyVLM.forward` passes them to chapter 6's
:meth:`mlbook.llm.llama.LlamaModel.forward` as ``inputs_embeds`` (as Hugging Face's
``LlamaModel`` takes them) and applies the language model's ``lm_head``.

Bad input: every public function and class checks its arguments with :mod:`mlbook.checks`
(``ValueError``, or ``TypeError`` for a value of the wrong kind, naming the argument) before
any work starts: examples are :class:`VQAExample` lists (a string is never read as a list),
token ids are checked against the vocabulary, digits and canvases against each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import (ArgumentTypeError, check_array, check_bool, check_choice, check_count,
                      check_instance, check_int, check_integer_seed, check_list, check_number,
                      check_seed, check_tensor, check_token_ids)
from ..llm.llama import Llama, LlamaConfig, count_parameters
from ..llm.train import TrainConfig, cosine_lr, make_optimizer
from ..progress import tqdm
from .moe import MoE, MoEConfig, moe_layer_parameter_counts
from .moonvit import MoonViT, MoonViTConfig, PackedImages, pack_images
from .projector import MLPProjector, pixel_shuffle, projector_parameters

__all__ = [
    "VLMConfig", "TINY_VLM", "TinyVLM", "vlm_parameter_counts", "WordVocab", "VQAExample",
    "VQABatch", "QUESTIONS", "make_vocab", "digit_pools", "render_example", "make_digit_vqa",
    "collate", "VisionHistory", "pretrain_vision", "VLMHistory", "train_vlm", "evaluate_vlm", "predict_answers",
]


# ----------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VLMConfig:
    """The three parts of the tiny VLM. ``moe.hidden_size`` must equal ``text.dim``."""

    vision: MoonViTConfig            # the encoder (patch size, width, layers, ...)
    text: LlamaConfig                # chapter 6's decoder (vocabulary, width, layers, heads)
    moe: MoEConfig                   # the MoE feed-forward layer that replaces LLaMA's SwiGLU
    first_k_dense_replace: int = 0   # how many first layers keep the dense SwiGLU

    def __post_init__(self) -> None:
        check_instance("vision", self.vision, MoonViTConfig)
        check_instance("text", self.text, LlamaConfig)
        check_instance("moe", self.moe, MoEConfig)
        if self.moe.hidden_size != self.text.dim:
            raise ValueError(f"moe.hidden_size ({self.moe.hidden_size}) must equal the language "
                             f"model's width text.dim ({self.text.dim})")
        check_int("first_k_dense_replace", self.first_k_dense_replace)
        if not 0 <= self.first_k_dense_replace <= self.text.n_layers:
            raise ValueError(f"first_k_dense_replace must be in [0, n_layers = {self.text.n_layers}], "
                             f"got {self.first_k_dense_replace!r}")


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------
class TinyVLM(nn.Module):
    """Images and a question in, next-word logits out.

    ``forward(batch)``: a :class:`VQABatch` -> logits ``(B, T, V)`` over the sequence
    ``[image tokens of example b, question words, answer]``, right-padded to ``T``.
    An integer ``seed`` makes the initial weights repeatable and leaves PyTorch's global
    generator as it was; ``None`` draws them from the global generator (as
    :class:`~mlbook.llm.llama.Llama` and :class:`~mlbook.vlm.moonvit.MoonViT` do).
    """

    def __init__(self, config: VLMConfig, *, seed: int | None = 0):
        super().__init__()
        check_instance("config", config, VLMConfig)
        seed = check_integer_seed("seed", seed)
        self.config = config
        if seed is None:                      # PyTorch's global generator, as Llama(seed=None)
            self._build(config, None)
        else:                                 # seeded here; the caller's generator is untouched
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(config, seed)

    def _build(self, config: VLMConfig, seed: int | None) -> None:
        self.vision_tower = MoonViT(config.vision)
        self.multi_modal_projector = MLPProjector(config.vision.hidden_size, config.text.dim,
                                                  config.vision.merge_kernel_size)
        self.language_model = Llama(config.text, seed=seed)
        for i, layer in enumerate(self.language_model.model.layers):
            if i >= config.first_k_dense_replace:
                layer.mlp = MoE(config.moe)                   # swap the SwiGLU for an MoE layer
        for moe in self.moe_layers():                         # initialise like the rest of LLaMA
            for module in moe.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=0.02)

    def moe_layers(self) -> list[MoE]:
        return [m for m in self.language_model.modules() if isinstance(m, MoE)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def num_activated_parameters(self) -> int:
        """Parameters one token uses: all, minus the ``E - k`` routed experts it skips per MoE layer."""
        skipped = 0
        for moe in self.moe_layers():
            counts = moe_layer_parameter_counts(moe.config)
            skipped += counts["total"] - counts["activated"]
        return self.num_parameters() - skipped

    def image_embeddings(self, images: PackedImages) -> list[torch.Tensor]:
        """Encode packed images and project them: one ``(h_i w_i / k^2, D_t)`` tensor per image."""
        _check_packed(images, self.config.vision)
        k = self.config.vision.merge_kernel_size
        features = self.vision_tower(images.pixel_values, images.grid_hws)    # (L, D_v)
        tokens = pixel_shuffle(features, images.grid_hws, k)                 # (L / k^2, k^2 D_v)
        embeds = self.multi_modal_projector(tokens)                           # (L / k^2, D_t)
        return list(embeds.split([n // (k * k) for n in images.lengths]))

    def forward(self, batch: "VQABatch") -> torch.Tensor:
        check_instance("batch", batch, VQABatch, what="a VQABatch (from collate)")
        check_token_ids("batch.input_ids", batch.input_ids, self.config.text.vocab_size, ndim=2)
        if batch.input_ids.shape[0] != len(batch.images):
            raise ValueError(f"batch holds {len(batch.images)} images and "
                             f"{batch.input_ids.shape[0]} questions")
        images = self.image_embeddings(batch.images)                          # (n_b, D) each
        words = self.language_model.model.embed_tokens(batch.input_ids)      # (B, Tq, D)
        b, tq, d = words.shape
        n_image = torch.tensor([len(im) for im in images])
        length = int(n_image.max()) + tq
        # row of each vector in the flattened (B * T, D) sequence: [image; words; padding]
        image_rows = torch.cat([i * length + torch.arange(n) for i, n in enumerate(n_image.tolist())])
        word_rows = (torch.arange(b) * length + n_image)[:, None] + torch.arange(tq)[None, :]
        rows = torch.cat([image_rows, word_rows.flatten()]).to(words.device)
        x = words.new_zeros(b * length, d).index_copy(0, rows, torch.cat([*images, words.reshape(-1, d)]))
        lm = self.language_model
        return lm.lm_head(lm.model(inputs_embeds=x.view(b, length, d)))     # (B, T, V)

    def aux_loss(self) -> torch.Tensor:
        """Sum of the MoE layers' auxiliary losses from the last forward (zero unless ``aux_loss``)."""
        return sum((m.aux_loss for m in self.moe_layers()), torch.zeros(()))


def vlm_parameter_counts(config: VLMConfig) -> dict[str, int]:
    """Total and activated parameters of :class:`TinyVLM` from its configuration (11.12).

    ``vision`` (the encoder, built on PyTorch's ``meta`` device: shapes without memory),
    ``projector`` (:func:`mlbook.vlm.projector.projector_parameters`) and ``language``:
    chapter 6's count of the dense LLaMA (:func:`mlbook.llm.llama.count_parameters`) with
    the SwiGLU of each MoE layer exchanged for the layer's experts and router. ``activated``
    leaves out the ``E - k`` routed experts a token skips in each MoE layer.
    """
    check_instance("config", config, VLMConfig)
    with torch.device("meta"):
        vision = MoonViT(config.vision).num_parameters()
    projector = projector_parameters(config.vision.hidden_size, config.text.dim,
                                     config.vision.merge_kernel_size)
    moe = moe_layer_parameter_counts(config.moe)
    n_moe = config.text.n_layers - config.first_k_dense_replace
    swiglu = 3 * config.text.dim * config.text.ffn_hidden_dim
    language = count_parameters(config.text) + n_moe * (moe["total"] - swiglu)
    skipped = n_moe * (moe["total"] - moe["activated"])
    total = vision + projector + language
    return {"vision": vision, "projector": projector, "language": language, "total": total,
            "activated": total - skipped, "language_activated": language - skipped}


# ----------------------------------------------------------------------------------------
# Data: questions about digits at several sizes
# ----------------------------------------------------------------------------------------
def _check_packed(images: Any, vision: MoonViTConfig) -> None:
    """Packed images whose every patch grid the pixel shuffle can cut into ``k x k`` blocks."""
    check_instance("images", images, PackedImages, what="PackedImages (from pack_images)")
    k = vision.merge_kernel_size
    for h, w in images.grid_hws.tolist():
        if h % k or w % k:
            raise ValueError(f"images: a patch grid of {h} x {w} cannot be pixel-shuffled in "
                             f"{k} x {k} blocks; pad the image to a multiple of "
                             f"{vision.patch_size * k} pixels")


def _check_example(name: str, example: Any) -> VQAExample:
    return check_instance(name, example, VQAExample)


def _check_examples(name: str, examples: Any, *, allow_empty: bool = False) -> list:
    """A list (or tuple) of :class:`VQAExample`, returned as a list; a string or a single
    example is refused."""
    return check_list(name, examples, what="a list of VQAExample", exclude=VQAExample,
                      min_len=0 if allow_empty else 1, item=_check_example)


def _check_word(name: str, word: Any) -> str:
    if not isinstance(word, str):
        raise ArgumentTypeError(f"{name} must be a str, got {word!r:.30} of type "
                                f"{type(word).__name__}")
    return word


class WordVocab:
    """A word-level vocabulary: id 0 is ``<pad>``; words are split on spaces."""

    def __init__(self, words: Sequence[str]):
        words = check_list("words", words, what="a list of strings", min_len=0,
                           item=_check_word)
        self.itos = ["<pad>"] + [w for w in dict.fromkeys(words) if w != "<pad>"]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise ArgumentTypeError(f"text must be a str, got {type(text).__name__}")
        unknown = [w for w in text.split() if w not in self.stoi]
        if unknown:
            raise ValueError(f"text has words not in the vocabulary: {unknown}")
        return [self.stoi[w] for w in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        check_array("ids", ids, integer=True, ndim=1, min_size=0, minimum=0,
                    maximum=len(self.itos) - 1)
        return " ".join(self.itos[int(i)] for i in ids if int(i) != 0)


#: The questions, by layout: one digit, two side by side, two stacked.
QUESTIONS = {
    "single": {"which": ["what digit is shown ?"]},
    "row": {"left": ["what is the left digit ?"], "right": ["what is the right digit ?"]},
    "column": {"top": ["what is the top digit ?"], "bottom": ["what is the bottom digit ?"]},
}


def make_vocab() -> WordVocab:
    """The words of :data:`QUESTIONS` and the ten answers ``0 .. 9``."""
    words = [w for layout in QUESTIONS.values() for qs in layout.values() for q in qs
             for w in q.split()]
    return WordVocab(words + [str(d) for d in range(10)])


#: The chapter's tiny VLM: 4-pixel patches of grey images, a 2-layer encoder of width 64, and a
#: 2-layer decoder of width 64 whose feed-forward layers have 8 routed experts (2 per token)
#: and 1 shared expert, balanced without an auxiliary loss, as in Moonlight; the vocabulary is
#: :func:`make_vocab`'s.
TINY_VLM = VLMConfig(
    vision=MoonViTConfig(patch_size=4, hidden_size=64, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=128, init_pos_emb_height=4,
                         init_pos_emb_width=4, num_channels=1, merge_kernel_size=2),
    text=LlamaConfig(vocab_size=len(make_vocab()), dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                     hidden_dim=128, max_seq_len=64),
    moe=MoEConfig(hidden_size=64, moe_intermediate_size=64, n_routed_experts=8,
                  num_experts_per_tok=2, n_shared_experts=1, scoring_func="sigmoid",
                  balancing="bias", bias_update_speed=0.01),
)


@dataclass
class VQAExample:
    """One image with one question and its one-word answer."""

    image: torch.Tensor      # (1, H, W) grey levels in [0, 1]
    question: str
    answer: str
    layout: str              # "single", "row" or "column"
    scale: int               # 1: digits of 8 x 8 pixels; 2: 16 x 16


def digit_pools(test_fraction: float = 0.3, seed: int = 0):
    """scikit-learn's digits split into disjoint train and test pools.

    Returns ``(train_images, train_labels, test_images, test_labels)``, images
    ``(n, 8, 8)`` in ``[0, 1]``.
    """
    from sklearn.datasets import load_digits

    check_number("test_fraction", test_fraction, minimum=0.0, maximum=1.0,
                 exclusive_minimum=True, exclusive_maximum=True)
    seed = check_integer_seed("seed", seed, fresh_if_none=True)
    digits = load_digits()
    images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def render_example(digits: Sequence[torch.Tensor], layout: str, scale: int,
                   canvas: tuple[int, int], offset: tuple[int, int]) -> torch.Tensor:
    """Place one or two ``8 x 8`` digits, scaled by ``scale``, on a black ``canvas`` (H, W).

    ``layout``: ``"single"``, ``"row"`` (side by side) or ``"column"`` (stacked); ``offset``:
    the top-left pixel of the first digit. Returns ``(1, H, W)``. ``"single"`` takes one
    digit, ``"row"`` and ``"column"`` two.
    """
    check_choice("layout", layout, list(QUESTIONS))
    count = 1 if layout == "single" else 2
    digits = check_list("digits", digits, exclude=torch.Tensor, min_len=count, max_len=count,
                        what=f"a list of (8, 8) tensors (layout {layout!r} takes {count})")
    for i, digit in enumerate(digits):
        check_tensor(f"digits[{i}]", digit, shape=(8, 8), dtype=None, layout="(8, 8)")
    check_count("scale", scale)
    for name, pair, low in (("canvas", canvas, 1), ("offset", offset, 0)):
        for i, v in enumerate(check_list(name, pair, what="a pair of integers", min_len=2,
                                         max_len=2)):
            check_int(f"{name}[{i}]", v, minimum=low)
    side = 8 * scale
    image = torch.zeros(1, *canvas)
    r, c = offset
    for i, digit in enumerate(digits):
        big = digit.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
        dr, dc = {"single": (0, 0), "row": (0, i * side), "column": (i * side, 0)}[layout]
        if r + dr + side > canvas[0] or c + dc + side > canvas[1]:
            raise ValueError(f"digits at offset {offset} do not fit on a canvas of {canvas}")
        image[0, r + dr:r + dr + side, c + dc:c + dc + side] = big
    return image


def make_digit_vqa(images: torch.Tensor, labels: torch.Tensor, n: int, *, seed: int = 0,
                   grid: int = 8, max_margin: int = 0,
                   layouts: Sequence[str] = ("single", "row", "column")) -> list[VQAExample]:
    """``n`` random questions about digits drawn from ``images``/``labels``.

    Each example picks a layout (one digit, two in a row, two in a column) and a scale (1 or
    2), then a canvas whose sides are the digits' extent plus a margin of 0 to
    ``max_margin`` pixels, rounded up to multiples of ``grid`` (patch size times the
    pixel-shuffle factor), so images come in many sizes and aspect ratios; the digits sit at
    a random offset on that grid. ``layouts`` limits the layouts drawn. ``images``:
    ``(n, 8, 8)`` grey levels in ``[0, 1]``; ``labels``: ``(n,)`` digits ``0 .. 9``.
    """
    check_tensor("images", images, ndim=3, minimum=0.0, maximum=1.0, layout="(n, 8, 8)")
    if tuple(images.shape[1:]) != (8, 8):
        raise ValueError(f"images must have shape (n, 8, 8), got {tuple(images.shape)}")
    check_tensor("labels", labels, ndim=1, dtype="int", minimum=0, maximum=9, layout="(n,)")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels must hold one digit per image ({images.shape[0]}), got "
                         f"{labels.shape[0]}")
    check_count("n", n)
    check_count("grid", grid)
    check_int("max_margin", max_margin, minimum=0)
    layouts = check_list("layouts", layouts,
                         what=f"a list of layout names (a subset of {list(QUESTIONS)})")
    if any(not isinstance(layout, str) or layout not in QUESTIONS for layout in layouts):
        raise ValueError(f"layouts must be a non-empty subset of {list(QUESTIONS)}, got {layouts}")
    rng = check_seed("seed", seed)
    examples = []
    for _ in range(n):
        layout = layouts[rng.integers(len(layouts))]
        scale = int(rng.integers(1, 3))
        count = 1 if layout == "single" else 2
        idx = rng.integers(len(labels), size=count)
        side = 8 * scale
        extent = {"single": (side, side), "row": (side, 2 * side), "column": (2 * side, side)}[layout]
        canvas = tuple(int(-(-(e + rng.integers(0, max_margin + 1)) // grid) * grid) for e in extent)
        offset = tuple(int(rng.integers(0, (cs - e) // grid + 1)) * grid
                       for cs, e in zip(canvas, extent))
        image = render_example([images[i] for i in idx], layout, scale, canvas, offset)
        which = list(QUESTIONS[layout])
        slot = int(rng.integers(len(which)))
        question = QUESTIONS[layout][which[slot]][0]
        answer = str(int(labels[idx[slot if count == 2 else 0]]))
        examples.append(VQAExample(image, question, answer, layout, scale))
    return examples


@dataclass
class VQABatch:
    """A batch ready for :class:`TinyVLM`."""

    images: PackedImages           # the images, packed
    input_ids: torch.Tensor        # (B, Tq) question words then the answer, right-padded with 0
    answer_positions: torch.Tensor  # (B,) index in the full sequence of the last question word
    answers: torch.Tensor          # (B,) the answer's token id


def collate(examples: Sequence[VQAExample], vocab: WordVocab, patch_size: int,
            merge_kernel_size: int = 2) -> VQABatch:
    """Pack the images and tokenise ``question + answer`` for teacher forcing.

    Every image's patch grid must split into ``merge_kernel_size`` blocks (the answer
    positions count the tokens the pixel shuffle leaves)."""
    examples = _check_examples("examples", examples)
    check_instance("vocab", vocab, WordVocab)
    check_count("patch_size", patch_size)
    check_count("merge_kernel_size", merge_kernel_size)
    images = pack_images([ex.image for ex in examples], patch_size)
    for h, w in images.grid_hws.tolist():
        if h % merge_kernel_size or w % merge_kernel_size:
            raise ValueError(f"merge_kernel_size: a patch grid of {h} x {w} cannot be cut into "
                             f"{merge_kernel_size} x {merge_kernel_size} blocks (images must "
                             f"be multiples of patch_size * merge_kernel_size = "
                             f"{patch_size * merge_kernel_size} pixels)")
    k2 = merge_kernel_size ** 2
    texts = [vocab.encode(ex.question + " " + ex.answer) for ex in examples]
    width = max(len(t) for t in texts)
    ids = torch.zeros(len(texts), width, dtype=torch.long)
    for i, t in enumerate(texts):
        ids[i, :len(t)] = torch.tensor(t)
    n_image = torch.tensor(images.lengths) // k2
    q_len = torch.tensor([len(t) - 1 for t in texts])
    answers = torch.tensor([t[-1] for t in texts])
    return VQABatch(images, ids, n_image + q_len - 1, answers)


# ----------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def predict_answers(model: TinyVLM, examples: Sequence[VQAExample], vocab: WordVocab,
                    candidates: Sequence[str] | None = None, batch_size: int = 128) -> list[str]:
    """The answer word the model scores highest after each question.

    ``candidates`` restricts the choice (default: the ten digits), as a multiple-choice
    evaluation does, so an untrained model is at chance rather than below it.
    """
    check_instance("model", model, TinyVLM)
    examples = _check_examples("examples", examples, allow_empty=True)
    check_instance("vocab", vocab, WordVocab)
    check_count("batch_size", batch_size)
    if candidates is not None:
        candidates = check_list("candidates", candidates, what="a list of answer words")
        unknown = [c for c in candidates if c not in vocab.stoi]
        if unknown:
            raise ValueError(f"candidates must be words of the vocabulary, got {unknown}")
    candidates = [str(d) for d in range(10)] if candidates is None else list(candidates)
    cand_ids = torch.tensor([vocab.stoi[c] for c in candidates])
    was_training = model.training
    model.eval()
    out = []
    patch, k = model.config.vision.patch_size, model.config.vision.merge_kernel_size
    for i in range(0, len(examples), batch_size):
        batch = collate(examples[i:i + batch_size], vocab, patch, k)
        logits = model(batch)
        rows = logits[torch.arange(len(batch.answers)), batch.answer_positions]   # (B, V)
        best = rows[:, cand_ids].argmax(-1)
        out.extend(candidates[j] for j in best.tolist())
    model.train(was_training)
    return out


def evaluate_vlm(model: TinyVLM, examples: Sequence[VQAExample], vocab: WordVocab) -> float:
    """Accuracy of :func:`predict_answers` on ``examples`` (at least one)."""
    examples = _check_examples("examples", examples)
    predictions = predict_answers(model, examples, vocab)
    return float(np.mean([p == ex.answer for p, ex in zip(predictions, examples)]))


@dataclass
class VisionHistory:
    """What happened while pre-training the vision tower alone."""

    loss: list[float] = field(default_factory=list)        # digit cross-entropy, nats
    accuracy: list[float] = field(default_factory=list)    # on the batch, before the step
    seconds: float = 0.0


def pretrain_vision(model: TinyVLM, examples: Sequence[VQAExample], config: TrainConfig, *,
                    progress: bool = True) -> VisionHistory:
    """Stage 1: teach the vision tower to see before the language model talks about it.

    Kimi-VL trains MoonViT on its own first (with SigLIP's contrastive loss and a captioning
    loss) before joint training. Our stand-in: the vision tower plus a temporary linear head
    on its mean feature learns to name the digit of one-digit images, at every size they come
    in. Uses the first answer of each example as its label; returns the history and leaves
    the head behind.
    """
    check_instance("model", model, TinyVLM)
    examples = _check_examples("examples", examples)
    check_instance("config", config, TrainConfig)
    check_bool("progress", progress)
    singles = [ex for ex in examples if ex.layout == "single"]
    if len(singles) < config.batch_size:
        raise ValueError(f"examples: need at least batch_size = {config.batch_size} one-digit "
                         f"examples, got {len(singles)}")
    vit = model.vision_tower
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = nn.Linear(vit.config.hidden_size, 10)
    trained = nn.ModuleList([vit, head])
    optimizer = make_optimizer(trained, config)
    for group in optimizer.param_groups:
        group["foreach"] = True
    generator = torch.Generator().manual_seed(config.seed)
    history = VisionHistory()
    vit.train()
    start = time.perf_counter()
    for step in tqdm(range(config.steps), desc="pre-training MoonViT", disable=not progress,
                     leave=False, mininterval=1.0):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config)
        idx = torch.randint(0, len(singles), (config.batch_size,), generator=generator).tolist()
        batch = [singles[i] for i in idx]
        images = pack_images([ex.image for ex in batch], vit.config.patch_size)
        features = vit(images.pixel_values, images.grid_hws)                  # (L, D_v)
        pooled = torch.stack([f.mean(0) for f in features.split(images.lengths)])
        logits = head(pooled)
        labels = torch.tensor([int(ex.answer) for ex in batch])
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained.parameters(), config.grad_clip)
        optimizer.step()
        history.loss.append(float(loss.detach()))
        history.accuracy.append(float((logits.argmax(-1) == labels).float().mean()))
    history.seconds = time.perf_counter() - start
    vit.eval()
    return history


@dataclass
class VLMHistory:
    """What happened while training the tiny VLM."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)        # answer cross-entropy, nats
    aux_loss: list[float] = field(default_factory=list)    # sum of the MoE auxiliary losses
    load: list[np.ndarray] = field(default_factory=list)   # (layers, E) tokens per expert per step
    eval_step: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_vlm(model: TinyVLM, train_examples: Sequence[VQAExample], vocab: WordVocab,
              config: TrainConfig, val_examples: Sequence[VQAExample] | None = None, *,
              progress: bool = True) -> VLMHistory:
    """Train the whole VLM end to end on the answer word, with chapter 6's recipe.

    Each step draws ``config.batch_size`` examples (seeded by ``config.seed``), packs their
    images, and minimises the cross-entropy of the answer plus the MoE auxiliary losses;
    AdamW with weight decay on matrices (:func:`mlbook.llm.train.make_optimizer`), the
    warm-up + cosine schedule (6.12) and gradient clipping. After each step the MoE biases are
    updated when ``balancing="bias"`` (11.11). ``val_examples`` are scored every
    ``config.eval_every`` steps and at the end.
    """
    check_instance("model", model, TinyVLM)
    train_examples = _check_examples("train_examples", train_examples)
    check_instance("vocab", vocab, WordVocab)
    check_instance("config", config, TrainConfig)
    if val_examples is not None:
        val_examples = _check_examples("val_examples", val_examples)
    check_bool("progress", progress)
    if len(train_examples) < config.batch_size:
        raise ValueError(f"train_examples: need at least batch_size = {config.batch_size} "
                         f"training examples, got {len(train_examples)}")
    patch, k = model.config.vision.patch_size, model.config.vision.merge_kernel_size
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(model, config)
    for group in optimizer.param_groups:   # one fused update for the many small expert tensors
        group["foreach"] = True
    history = VLMHistory()
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(config.steps), desc="training the VLM", disable=not progress,
               leave=False, mininterval=1.0)
    for step in bar:
        lr = cosine_lr(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(train_examples), (config.batch_size,), generator=generator)
        batch = collate([train_examples[i] for i in idx.tolist()], vocab, patch, k)
        logits = model(batch)
        rows = logits[torch.arange(len(batch.answers)), batch.answer_positions]
        loss = F.cross_entropy(rows.float(), batch.answers)
        aux = model.aux_loss()
        optimizer.zero_grad(set_to_none=True)
        (loss + aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        loads = []
        for moe in model.moe_layers():
            loads.append(moe.last_load.numpy().copy())
            if moe.config.balancing == "bias":
                moe.update_bias()
        history.step.append(step + 1)
        history.loss.append(float(loss.detach()))
        history.aux_loss.append(float(aux.detach()))
        history.load.append(np.stack(loads) if loads else np.zeros((0, 0)))
        last = step + 1 == config.steps
        if val_examples is not None and ((step + 1) % config.eval_every == 0 or last):
            history.eval_step.append(step + 1)
            history.val_accuracy.append(evaluate_vlm(model, val_examples, vocab))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", val=f"{history.val_accuracy[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.eval()
    return history
